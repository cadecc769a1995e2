//! The payment providers golive can play, one folder each: its simulated API (answered by the
//! provider-agnostic sandbox core), its actors (the shopper's browser or app, the provider
//! calling the shop), its reference integration, and a pointer to its schemas and its bundled
//! suite. [`ALL`] is the one registry: adding a provider is its folder plus one line there.
//!
//! Dependencies point one way: a provider uses `sandbox`, `driver`, `journal` and `reference`;
//! none of those knows any provider.

pub mod docs;
pub mod kontocloud;
pub mod mobilepay;
pub mod ppaas;
pub mod smartpay;
pub mod starter;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod toy;

use std::sync::Arc;

use serde_json::Value;

use crate::driver::Actors;
use crate::journal::Journal;
use crate::reference::Reference;
use crate::sandbox::{Operation, ProviderSandbox, Sandbox, SandboxCore, SandboxError};
use crate::suite::{ParsedStep, Step, Suite};

/// Every provider golive can play, in the order `golive suites` and `demo` list them.
pub static ALL: &[&dyn Provider] = &[
    &kontocloud::KontoCloud,
    &smartpay::SmartPay,
    &mobilepay::MobilePay,
    &ppaas::PPaaS,
];

/// Providers that exist only in golive's own tests: `toy` proves a provider is its folder.
#[cfg(test)]
static TEST_ONLY: &[&dyn Provider] = &[&toy::Toy];
#[cfg(not(test))]
static TEST_ONLY: &[&dyn Provider] = &[];

/// Every provider this build plays: [`ALL`], and in golive's own tests the test-only ones.
pub fn all() -> impl Iterator<Item = &'static dyn Provider> {
    ALL.iter().chain(TEST_ONLY).copied()
}

/// What a provider is, as data: its id and title, its API, its test account, its reference
/// integration and its bundled suite. Each provider has one, as a `static`.
pub struct About {
    /// The id suites name (`kontocloud`).
    pub id: &'static str,
    pub title: &'static str,
    /// The provider's API as data: every operation the sandbox journals (the calls it answers
    /// and the calls the provider makes to the integration), what `wait_for`, `inject` and
    /// check params may name, with its path, auth, request schema and where the merchant's
    /// order reference and the provider's payment id travel.
    pub operations: &'static [Operation],
    /// The names of the test account's credentials (`credentials.<name>` in a target).
    pub credential_names: &'static [&'static str],
    /// The built-in reference integration: compliant styles and planted flaws.
    pub reference: &'static Reference,
    /// The bundled go-live suite.
    pub suite: BundledSuite,
    /// A fresh sandbox profile and its actors for one run ([`Provider::open`]).
    pub open: fn(Arc<SandboxCore>) -> Opened,
    /// Reads the provider-specific part of a step ([`Provider::parse_step`]).
    pub parse_step: fn(StepKind, &Value) -> Result<ParsedStep, String>,
    /// What the provider's actors read in the answer of a trigger (by trigger name), where
    /// they read more than its status: the shopper's browser following the shop's page.
    /// `golive init` and `golive provider` say it beside the trigger.
    pub trigger_answers: &'static [(&'static str, &'static str)],
}

/// What every trigger's answer must be, whoever reads it further.
pub const TRIGGER_ANSWER: &str = "2xx once your shop has done it (any other status fails the step, unless the suite says `expect_success: false`); it may come only once the payment is done (golive waits for it while the journey goes on)";

impl About {
    /// What the answer of trigger `name` must be or carry.
    pub fn trigger_answer(&self, name: &str) -> Option<&'static str> {
        self.trigger_answers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, what)| *what)
    }
}

/// A provider: what it is ([`About`]), its simulated API, what a step in its suites may say
/// and its actors.
pub trait Provider: Send + Sync {
    /// The provider as data.
    fn about(&self) -> &'static About;
    /// A fresh sandbox profile and its actors for one run (usually one value playing both:
    /// the shopper's app approves the payment the sandbox holds).
    fn open(&self, core: Arc<SandboxCore>) -> Opened {
        (self.about().open)(core)
    }
    /// Reads the provider-specific part of a step into the provider's own type before anything
    /// runs (the actors get it as read); the error says what was expected. A `sandbox:` step is
    /// only checked here: its settings are applied by the sandbox profile.
    fn parse_step(&self, kind: StepKind, params: &Value) -> Result<ParsedStep, String> {
        (self.about().parse_step)(kind, params)
    }
    /// What a valid provider-specific step needs from the target (triggers it fires, webhooks
    /// it calls), so a target that lacks them is named before anything runs.
    fn step_needs(&self, _act: StepKind, _params: &Value) -> StepNeeds {
        StepNeeds::default()
    }
    /// Whether a valid provider-specific step uses what an earlier scenario left in the sandbox
    /// (a success forged with another order's captured payment). With `--jobs N` such a
    /// scenario runs in the lane that runs the suite's first scenarios, after them.
    fn step_uses_earlier_scenarios(&self, _act: StepKind, _params: &Value) -> bool {
        false
    }

    /// [`About::id`].
    fn id(&self) -> &'static str {
        self.about().id
    }
    /// [`About::title`].
    fn title(&self) -> &'static str {
        self.about().title
    }
    /// [`About::operations`].
    fn operations(&self) -> &'static [Operation] {
        self.about().operations
    }
    /// [`About::credential_names`].
    fn credential_names(&self) -> &'static [&'static str] {
        self.about().credential_names
    }
    /// [`About::reference`].
    fn reference(&self) -> &'static Reference {
        self.about().reference
    }
    /// [`About::suite`].
    fn suite(&self) -> BundledSuite {
        self.about().suite
    }
}

/// The bundled suite `suites/<file>`, compiled in: `bundled_suite!("kontocloud-go-live.yaml")`.
macro_rules! bundled_suite {
    ($file:literal) => {
        $crate::providers::BundledSuite {
            file: concat!("suites/", $file),
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/suites/", $file)),
        }
    };
}
pub(crate) use bundled_suite;

/// A suite compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct BundledSuite {
    /// Its file in the checkout (`suites/kontocloud-go-live.yaml`), as reports and `golive
    /// suites export` name it.
    pub file: &'static str,
    pub text: &'static str,
}

impl BundledSuite {
    /// The suite, loaded, named `built-in:<file>` in messages and reports (bundled suites are
    /// tested to load: a failure is a bug in golive).
    pub fn load(&self) -> Result<crate::suite::Loaded<Suite>, crate::suite::Problems> {
        crate::suite::parse_suite(
            self.text,
            std::path::Path::new(&format!("built-in:{}", self.file)),
        )
    }
}

/// One run's provider: the profile the sandbox serves and the actors the driver plays.
pub struct Opened {
    pub sandbox: Arc<dyn ProviderSandbox>,
    pub actors: Arc<dyn Actors>,
}

impl Opened {
    /// A profile that is its own actors.
    pub fn of<T: ProviderSandbox + Actors + 'static>(profile: Arc<T>) -> Opened {
        Opened {
            sandbox: profile.clone(),
            actors: profile,
        }
    }
}

/// What one provider-specific step needs the target to map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepNeeds {
    /// Triggers the step fires, each with the variables the step hands it (its templates may
    /// use them).
    pub triggers: Vec<(&'static str, &'static [&'static str])>,
    /// Webhooks (`webhooks.<name>` in the target) the step calls.
    pub webhooks: Vec<&'static str>,
}

/// The provider-specific step kinds a suite may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Shopper,
    Provider,
    Sandbox,
}

/// The provider a suite names.
pub fn provider(id: &str) -> Option<&'static dyn Provider> {
    all().find(|p| p.id().eq_ignore_ascii_case(id))
}

/// Every provider's id, for messages that list them.
pub fn ids() -> Vec<&'static str> {
    all().map(|p| p.id()).collect()
}

/// Every reference integration, in registry order.
pub fn references() -> Vec<&'static Reference> {
    all().map(|p| p.reference()).collect()
}

/// The reference integration of a provider.
pub fn reference(provider_id: &str) -> Option<&'static Reference> {
    provider(provider_id).map(|p| p.reference())
}

/// Parses every provider step of a suite that validation did not parse already (a library
/// caller may run a suite it never validated); the first step the provider cannot read.
pub fn parse_steps(provider: &dyn Provider, suite: &Suite) -> Result<(), String> {
    for scenario in &suite.scenarios {
        for step in &scenario.steps {
            let (kind, step) = match step {
                Step::Shopper(s) => (StepKind::Shopper, s),
                Step::Provider(s) => (StepKind::Provider, s),
                _ => continue,
            };
            step.parse_with(|params| provider.parse_step(kind, params))
                .map_err(|e| format!("scenario `{}`: {e}", scenario.id))?;
        }
    }
    Ok(())
}

/// Starts a provider's sandbox for one run on 127.0.0.1 at `port` (0: a free one); the
/// running server and the actors the driver plays.
pub async fn start(
    provider: &dyn Provider,
    journal: Journal,
    port: u16,
) -> Result<(Sandbox, Arc<dyn Actors>), SandboxError> {
    let core = SandboxCore::new(journal);
    core.set_operations(provider.operations());
    let opened = provider.open(core.clone());
    let sandbox = Sandbox::serve(core, opened.sandbox, port).await?;
    Ok((sandbox, opened.actors))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What validation accepts as credential names is what each sandbox hands out.
    #[test]
    fn credential_names_are_the_sandboxes_credentials() {
        for p in all() {
            let dir = tempfile::tempdir().unwrap();
            let journal = Journal::create(&dir.path().join("j.jsonl")).unwrap();
            let opened = p.open(SandboxCore::new(journal));
            let mut handed: Vec<String> = opened.sandbox.credentials().into_keys().collect();
            let mut named: Vec<String> =
                p.credential_names().iter().map(|s| s.to_string()).collect();
            handed.sort();
            named.sort();
            assert_eq!(handed, named, "{}", p.id());
            assert!(!p.operations().is_empty(), "{}", p.id());
            crate::sandbox::operation::check_table(p.operations())
                .unwrap_or_else(|e| panic!("{}: {e}", p.id()));
        }
    }

    /// Each provider answers exactly the operations its table says the sandbox serves, at the
    /// table's methods and paths (a handler missing, or one for a name the table lacks, is a
    /// bug caught here rather than at a user's run).
    #[test]
    fn each_provider_answers_its_operation_table() {
        for p in all() {
            let opened = p.open(SandboxCore::new(Journal::in_memory()));
            opened
                .sandbox
                .dispatch()
                .check()
                .unwrap_or_else(|e| panic!("{}: {e}", p.id()));
        }
    }

    /// Each provider's reference and suite are its own.
    #[test]
    fn each_provider_owns_its_reference_and_suite() {
        for p in all() {
            assert_eq!(p.reference().provider, p.id());
            let suite = p.suite().load().unwrap();
            assert_eq!(suite.value.provider, p.id());
        }
    }

    /// Dependencies point one way: the core stages know no provider (a provider is its folder
    /// plus the registry line, not edits across the tree).
    #[test]
    fn the_core_imports_nothing_from_the_providers() {
        fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for stage in ["sandbox", "driver", "checks", "journal", "suite"] {
            sources(&src.join(stage), &mut files);
        }
        assert!(files.len() > 40, "found only {} files", files.len());
        let offending: Vec<String> = files
            .iter()
            .flat_map(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                let lines: Vec<String> = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim_start().starts_with("//"))
                    .filter(|(_, l)| l.contains("crate::providers") || l.contains("crate::run"))
                    .map(|(n, l)| format!("{}:{}: {}", f.display(), n + 1, l.trim()))
                    .collect();
                lines
            })
            .collect();
        assert!(offending.is_empty(), "{offending:#?}");
    }
}
