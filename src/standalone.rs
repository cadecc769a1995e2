//! The commands that use one half of a run on its own: `golive sandbox` (the simulated
//! provider, for a team developing against it) and `golive judge` (the checks and reports over
//! a journal recorded earlier).

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cli::out;
use crate::exit;
use crate::journal::{self, Entry, Journal};
use crate::providers;
use crate::report::{self, CheckResult, Outcome, RunReport, ScenarioResult, Secrets};
use crate::sandbox;
use crate::suite::{Loaded, Suite};
use crate::Error;

/// What `golive sandbox` serves.
pub struct SandboxConfig {
    pub provider: String,
    /// 0: a free port.
    pub port: u16,
    pub journal: PathBuf,
    /// The suite whose sandbox settings (token lifetime, time scale, profile defaults) apply;
    /// the provider's bundled suite unless given.
    pub suite: Loaded<Suite>,
    /// A `sandbox:` step's settings (`{"inject": [...], "token_lifetime_s": 60, ...}`), applied
    /// on top of the suite's, as a scenario would.
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// Serves the simulated provider until SIGINT or SIGTERM, then flushes the journal.
pub async fn serve_sandbox(config: SandboxConfig) -> Result<(), Error> {
    let Some(provider) = providers::provider(&config.provider) else {
        return Err(Error::Usage(format!(
            "golive cannot play provider `{}`; expected one of: {}",
            config.provider,
            providers::ids().join(", ")
        )));
    };
    // Nothing drives scenarios here, so nothing waits on the traffic: no live window.
    let journal = Journal::create(&config.journal)
        .map_err(|e| Error::Run(e.to_string()))?
        .without_live_window();
    let sb = match providers::start(provider, journal.clone(), config.port).await {
        Ok((sandbox, _actors)) => sandbox,
        Err(e) => return Err(Error::Run(format!("{e} (port {})", config.port))),
    };
    // The same start as every scenario of a run: the suite's defaults, then the extra settings.
    let settings = &config.suite.value.settings;
    sb.core.set_settings(sandbox::ScenarioSettings {
        token_lifetime_s: settings.token_lifetime_s,
        time_scale: settings.time_scale,
    });
    let configured = sb
        .profile
        .begin_scenario(&settings.sandbox)
        .and_then(|()| sb.core.configure_generic(&config.settings))
        .and_then(|rest| sb.profile.configure(&rest));
    if let Err(e) = configured {
        sb.stop().await;
        return Err(Error::Usage(format!(
            "the sandbox refused the settings: {e}"
        )));
    }

    let mut signals = match StopSignals::install() {
        Ok(s) => s,
        Err(e) => {
            sb.stop().await;
            return Err(Error::Run(format!("cannot listen for Ctrl-C: {e}")));
        }
    };
    let url = sb.base_url();
    let prefix = providers::reference(provider.id())
        .map(|r| r.env_prefix())
        .unwrap_or_else(|| provider.id().to_ascii_uppercase());
    out!("golive sandbox: {} on {url}", provider.title());
    out!("journal: {}", config.journal.display());
    out!("test credentials (as environment variables for your integration):");
    out!("{prefix}_BASE_URL={url}");
    for (name, value) in sb.profile.credentials() {
        out!("{prefix}_{}={value}", name.to_ascii_uppercase());
    }
    out!("Ctrl-C stops it.");

    let signal = signals.wait().await;
    sb.stop().await;
    journal.flush().map_err(|e| Error::Run(e.to_string()))?;
    let _ = writeln!(
        std::io::stderr(),
        "golive sandbox: stopped ({signal}); {} exchanges in {}",
        journal.last_seq(),
        config.journal.display()
    );
    Ok(())
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from creation on: the handlers are installed
/// before the sandbox says it is ready, so a signal sent right after is never the default
/// (a kill that would leave the journal unflushed).
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for either; returns its name.
    async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// The outcome of judging a journal offline.
pub struct Judged {
    pub report: RunReport,
    /// Why the reports could not be written, if they could not (the exit code is then
    /// [`exit::RUN_FAILED`]).
    pub report_error: Option<Error>,
    pub exit_code: i32,
}

/// Judges a recorded journal with a suite and writes the reports into `reports_dir`.
///
/// The checks read nothing but the journal, in a run as here, so the verdicts are the run's.
/// What the journal cannot tell is said: a check limited to scenarios the journal does not hold
/// is skipped with that reason rather than "nothing to judge".
pub fn judge(suite: &Loaded<Suite>, journal_path: &Path, reports_dir: &Path) -> Judged {
    let started = Instant::now();
    let mut report = RunReport::begin(
        report::SuiteInfo::of(suite),
        report::TargetInfo {
            name: format!("journal {}", journal_path.display()),
            source: journal_path.display().to_string(),
            base_url: String::new(),
        },
    );
    let mut index = None;
    match crate::run::judge_indexed(&suite.value, journal_path) {
        Ok((checks, journal_index)) => {
            let (scenarios, first_at) = recorded_scenarios(&journal_index);
            report.scenarios = scenarios;
            report.started_at = first_at;
            let present: BTreeSet<String> = report.scenarios.iter().map(|s| s.id.clone()).collect();
            let mut checks = mark_absent_scenarios(&suite.value, checks, &present, |missing| {
                format!("the journal holds none of this check's scenarios ({missing})")
            });
            // As in a run: a scenario the journal shows broken off owes its checks a
            // "not judged", and an assessment that judged nothing is not a pass.
            checks.extend(crate::run::not_judged(&suite.value, &report, &checks));
            report.incomplete = crate::run::incompleteness(&suite.value, &report, &checks);
            report.checks = checks;
            index = Some(journal_index);
        }
        Err(e) => report.run_error = Some(e),
    }
    // The journal stays where it is: the reports refer to it by its path.
    report.journal = Some(journal_path.display().to_string());
    let outcome = crate::run::finish(
        report,
        Some(journal_path),
        index.as_ref(),
        reports_dir,
        Secrets::new(),
        started,
    );
    let report_error = outcome
        .report_error
        .map(|e| Error::Run(format!("the reports could not be written: {e}")));
    let exit_code = exit::code(&match &report_error {
        Some(e) => Err(e.clone()),
        None => Ok(outcome.report.verdict),
    });
    Judged {
        report: outcome.report,
        report_error,
        exit_code,
    }
}

/// The scenarios a journal records, in order, and the wall time of its first exchange.
fn recorded_scenarios(journal: &journal::Index) -> (Vec<ScenarioResult>, String) {
    let mut scenarios: Vec<ScenarioResult> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for entry in journal.scenario_marks() {
        match entry {
            Entry::ScenarioStart(s) => {
                index.insert(s.scenario.clone(), scenarios.len());
                scenarios.push(ScenarioResult {
                    id: s.scenario.clone(),
                    title: s.title.clone(),
                    started_ms: s.at_ms,
                    ended_ms: s.at_ms,
                    error: None,
                    not_applicable: None,
                    exchanges: Vec::new(),
                    exchanges_omitted: 0,
                });
            }
            Entry::ScenarioEnd(e) => {
                if let Some(&i) = index.get(&e.scenario) {
                    scenarios[i].ended_ms = e.at_ms;
                    scenarios[i].error = e.error.clone();
                }
            }
            Entry::Exchange(_) => {}
        }
    }
    (scenarios, journal.first_at().unwrap_or_default().to_owned())
}

/// Replaces the verdict of every check limited to scenarios none of which ran (in this journal,
/// in this partition) by a skip saying so: "nothing in the traffic" would hide why.
pub fn mark_absent_scenarios(
    suite: &Suite,
    checks: Vec<CheckResult>,
    present: &BTreeSet<String>,
    reason: impl Fn(&str) -> String,
) -> Vec<CheckResult> {
    let absent: HashMap<&str, String> = suite
        .checks
        .iter()
        .filter_map(|c| {
            let list = c.scenarios.as_ref()?;
            (!list.iter().any(|s| present.contains(s))).then(|| (c.id.as_str(), list.join(", ")))
        })
        .collect();
    checks
        .into_iter()
        .map(|mut c| {
            if let Some(missing) = absent.get(c.id.as_str()) {
                c.outcome = Outcome::Skipped;
                c.message = reason(missing);
                c.evidence.clear();
            }
            c
        })
        .collect()
}
