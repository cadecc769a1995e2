//! The pipeline, end to end: sandbox → target → scenarios → checks → reports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::checks;
use crate::driver::{self, process, Recorder};
use crate::exit;
use crate::journal::{self, Journal};
use crate::reference::{self, Reference, RunningShop, ShopConfig};
use crate::report::{
    self, count, CheckResult, EventSink, Outcome, RunEvent, RunReport, ScenarioResult, Secrets,
    SuiteInfo, TargetInfo, Tool, Verdict, Written,
};
use crate::sandbox::{self, Sandbox};
use crate::suite::{Loaded, Suite, Target};

/// How the integration under test is reached.
pub enum TargetSpec {
    /// A team's target file: start its command (or attach to its base URL).
    File(Box<Loaded<Target>>),
    /// A built-in reference shop, run inside this process.
    Reference {
        reference: &'static Reference,
        style: String,
        flaws: BTreeSet<String>,
    },
}

impl TargetSpec {
    /// A reference shop by provider, style and flaws, checked.
    pub fn reference(
        provider: &str,
        style: Option<&str>,
        flaws: &[String],
    ) -> Result<Self, String> {
        let reference = reference::reference(provider).ok_or_else(|| {
            format!(
                "there is no reference shop for provider `{provider}`; expected one of: {}",
                reference::references()
                    .iter()
                    .map(|r| r.provider)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let style = style.unwrap_or(reference.styles[0]).to_owned();
        let flaws: BTreeSet<String> = flaws.iter().cloned().collect();
        reference.validate(&style, &flaws)?;
        Ok(TargetSpec::Reference {
            reference,
            style,
            flaws,
        })
    }

    /// The target model: the file's, or the reference's bundled target file.
    pub fn target(&self) -> Result<Loaded<Target>, String> {
        match self {
            TargetSpec::File(t) => Ok((**t).clone()),
            TargetSpec::Reference { reference, .. } => crate::suite::parse_target(
                reference.target_yaml,
                Path::new(&format!("built-in:{}-reference.yaml", reference.provider)),
            )
            .map_err(|e| e.to_string()),
        }
    }

    fn label(&self) -> (String, String) {
        match self {
            TargetSpec::File(t) => (t.value.name.clone(), t.file.display().to_string()),
            TargetSpec::Reference {
                reference,
                style,
                flaws,
            } => {
                let flaws = if flaws.is_empty() {
                    "compliant".to_string()
                } else {
                    format!(
                        "flaws: {}",
                        flaws.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                (
                    format!(
                        "{} reference shop (style {style}, {flaws})",
                        reference.provider
                    ),
                    format!("built-in:{}", reference.provider),
                )
            }
        }
    }
}

pub struct RunConfig {
    pub suite: Loaded<Suite>,
    pub target: TargetSpec,
    pub reports_dir: PathBuf,
    /// Overrides the suite's `time_scale` (tests run provider time faster).
    pub time_scale: Option<f64>,
    /// Overrides the suite's `wait_timeout_s`: how long to wait for a call the integration
    /// should make. A flawed integration that never makes it costs this much per wait.
    pub wait_timeout_s: Option<f64>,
}

/// The folder a target file's relative paths (its `start.cwd`) are read from. A bare file
/// name (`my-shop.yaml`) has the empty path as its parent, which is no directory at all: the
/// command would fail to start with "No such file or directory". It means the current folder.
pub fn target_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// What a run produced.
pub struct RunOutcome {
    pub report: RunReport,
    pub written: Option<Written>,
    /// Why the reports could not be written, if they could not.
    pub report_error: Option<String>,
    pub exit_code: i32,
    pub secrets: Secrets,
}

/// Runs a suite against a target and writes the reports. Never panics on a misbehaving
/// target: what goes wrong becomes a failed check or the run's error.
pub async fn run(
    mut config: RunConfig,
    make_sink: &(dyn Fn(Secrets) -> Box<dyn EventSink> + Sync),
) -> RunOutcome {
    if let Some(scale) = config.time_scale {
        config.suite.value.settings.time_scale = scale;
    }
    if let Some(wait) = config.wait_timeout_s {
        config.suite.value.settings.wait_timeout_s = wait;
    }
    let started = Instant::now();
    let suite = config.suite.value.clone();
    let (target_name, target_source) = config.target.label();
    let provider = sandbox::provider(&suite.provider);
    let mut report = RunReport {
        format_version: report::REPORT_FORMAT_VERSION.into(),
        tool: Tool {
            name: "golive".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        suite: SuiteInfo {
            id: suite.id.clone(),
            title: suite.title.clone(),
            provider: suite.provider.clone(),
            source: config.suite.file.display().to_string(),
        },
        target: TargetInfo {
            name: target_name,
            source: target_source,
            base_url: String::new(),
        },
        started_at: String::new(),
        duration_ms: 0.0,
        verdict: Verdict::Error,
        counts: Default::default(),
        run_error: None,
        scenarios: Vec::new(),
        checks: Vec::new(),
        exchanges: Vec::new(),
        journal: Some("journal.jsonl".into()),
    };
    let journal_path = config.reports_dir.join("journal.jsonl");
    let journal = match Journal::create(&journal_path) {
        Ok(j) => j,
        Err(e) => {
            report.run_error = Some(e.to_string());
            report.journal = None;
            return finish(report, None, &config.reports_dir, Secrets::new(), started);
        }
    };
    report.started_at = journal.wall(0.0);
    let Some(provider) = provider else {
        report.run_error = Some(format!(
            "the suite's provider `{}` is not one golive can play",
            suite.provider
        ));
        return finish(
            report,
            Some(&journal_path),
            &config.reports_dir,
            Secrets::new(),
            started,
        );
    };

    let sandbox = match Sandbox::start(provider, journal.clone()).await {
        Ok(s) => s,
        Err(e) => {
            report.run_error = Some(e.to_string());
            return finish(
                report,
                Some(&journal_path),
                &config.reports_dir,
                Secrets::new(),
                started,
            );
        }
    };
    let secrets = Secrets::with(sandbox.profile.secrets());
    let sink = make_sink(secrets.clone());
    let result = drive(
        &config,
        &suite,
        &sandbox,
        &journal,
        &mut report,
        sink.as_ref(),
    )
    .await;
    sandbox.stop().await;
    if let Err(e) = result {
        report.run_error = Some(e);
    }
    if let Err(e) = journal.flush() {
        report.run_error.get_or_insert(e.to_string());
    }
    if report.run_error.is_none() {
        sink.event(&RunEvent::Judging {
            checks: suite.checks.len(),
        });
        match judge(&suite, &journal_path) {
            Ok(checks) => report.checks = crate::partition::mark_elsewhere(&suite, checks),
            Err(e) => report.run_error = Some(e),
        }
    }
    finish(
        report,
        Some(&journal_path),
        &config.reports_dir,
        secrets,
        started,
    )
}

/// Starts the target, waits for it, runs every scenario, stops the target.
async fn drive(
    config: &RunConfig,
    suite: &Suite,
    sandbox: &Sandbox,
    journal: &Journal,
    report: &mut RunReport,
    sink: &dyn EventSink,
) -> Result<(), String> {
    let target = config.target.target()?;
    let problems = crate::suite::cross_rules(&config.suite, &target);
    if !problems.is_empty() {
        return Err(crate::suite::Problems(problems).to_string());
    }
    let credentials = sandbox.profile.credentials();
    let port = process::free_port().map_err(|e| format!("no free port for the target: {e}"))?;
    let golive = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "golive".into());
    let vars = json!({
        "sandbox": { "url": sandbox.base_url() },
        "credentials": credentials,
        "port": port,
        "golive": golive,
    });
    let base_url = driver::template::render(&target.value.base_url, &vars)?;

    // Start (or attach to) the integration.
    let mut shop: Option<RunningShop> = None;
    let mut child: Option<process::TargetProcess> = None;
    let base_url = match &config.target {
        TargetSpec::Reference {
            reference,
            style,
            flaws,
        } => {
            let running = RunningShop::start(
                reference,
                ShopConfig {
                    sandbox_url: sandbox.base_url(),
                    credentials: credentials.clone(),
                    style: style.clone(),
                    flaws: flaws.clone(),
                    public_url: String::new(),
                },
            )
            .await
            .map_err(|e| format!("cannot start the reference shop: {e}"))?;
            let url = running.base_url.clone();
            shop = Some(running);
            url
        }
        TargetSpec::File(t) => {
            if let Some(start) = &t.value.start {
                let dir = target_dir(&t.file);
                let log = config.reports_dir.join("target.log");
                child = Some(process::start(start, &vars, &dir, &log).map_err(|e| e.to_string())?);
            }
            base_url
        }
    };
    report.target.base_url = base_url.clone();
    sink.event(&RunEvent::Starting {
        suite: suite.id.clone(),
        target: report.target.name.clone(),
        sandbox_url: sandbox.base_url(),
        scenarios: suite.scenarios.len(),
    });
    let ready = process::wait_ready(&base_url, &target.value.ready, child.as_mut()).await;
    let result = match ready {
        Err(e) => Err(e),
        Ok(after) => {
            sink.event(&RunEvent::TargetReady {
                base_url: base_url.clone(),
                after_ms: after.as_secs_f64() * 1000.0,
            });
            let recorder = Recorder::new(journal.clone());
            let target = Arc::new(target.value.clone());
            for (i, scenario) in suite.scenarios.iter().enumerate() {
                let started = journal.now_ms();
                let error = driver::run_scenario(
                    i,
                    scenario,
                    suite,
                    target.clone(),
                    &base_url,
                    sandbox,
                    &recorder,
                    sink,
                )
                .await;
                report.scenarios.push(ScenarioResult {
                    id: scenario.id.clone(),
                    title: scenario.title.clone(),
                    started_ms: started,
                    ended_ms: journal.now_ms(),
                    error,
                    exchanges: Vec::new(),
                    exchanges_omitted: 0,
                });
            }
            Ok(())
        }
    };
    if let Some(c) = child {
        c.stop().await;
    }
    if let Some(s) = shop {
        s.stop().await;
    }
    result
}

/// Evaluates every check over the journal, read back in one pass.
pub fn judge(suite: &Suite, journal_path: &Path) -> Result<Vec<CheckResult>, String> {
    let entries = journal::read_path(journal_path).map_err(|e| e.to_string())?;
    let mut read_error = None;
    let iter = entries.map_while(|e| match e {
        Ok(entry) => Some(entry),
        Err(err) => {
            read_error = Some(err.to_string());
            None
        }
    });
    let results = checks::evaluate(suite, iter).map_err(|errors| {
        errors
            .into_iter()
            .map(|(i, e)| format!("check {} (`{}`): {e}", i + 1, suite.checks[i].id))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    match read_error {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

/// Completes the report from the journal, writes it, and says how the run ends.
pub(crate) fn finish(
    mut report: RunReport,
    journal: Option<&Path>,
    dir: &Path,
    secrets: Secrets,
    started: Instant,
) -> RunOutcome {
    report.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    report.counts = count(&report.checks);
    report.verdict = if report.run_error.is_some() {
        Verdict::Error
    } else if report.checks.iter().any(|c| c.outcome == Outcome::Failed) {
        Verdict::Failed
    } else {
        Verdict::Passed
    };
    let mut report_error = None;
    if let Some(j) = journal {
        if let Err(e) = report::build::complete(&mut report, j, &secrets) {
            report_error = Some(e.to_string());
        }
    }
    let written = match report::write_all(&report, dir) {
        Ok(w) => Some(w),
        Err(e) => {
            report_error.get_or_insert(e.to_string());
            None
        }
    };
    let exit_code = match report.verdict {
        Verdict::Passed => exit::PASSED,
        Verdict::Failed => exit::CHECKS_FAILED,
        Verdict::Error => exit::RUN_FAILED,
    };
    RunOutcome {
        report,
        written,
        report_error,
        exit_code,
        secrets,
    }
}

/// The failing checks of a report, by id (each id once).
pub fn failing_ids(report: &RunReport) -> BTreeSet<String> {
    report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
        .map(|c| c.id.clone())
        .collect()
}

/// A suite bundled in the binary, by provider.
pub fn bundled_suite(provider: &str) -> Option<(&'static str, &'static str)> {
    BUNDLED_SUITES
        .iter()
        .find(|(p, _, _)| p.eq_ignore_ascii_case(provider))
        .map(|(_, name, text)| (*name, *text))
}

/// (provider, file name, text) of every bundled suite.
pub const BUNDLED_SUITES: &[(&str, &str, &str)] = &[
    (
        "kontocloud",
        "suites/kontocloud-go-live.yaml",
        include_str!("../suites/kontocloud-go-live.yaml"),
    ),
    (
        "smartpay",
        "suites/smartpay-go-live.yaml",
        include_str!("../suites/smartpay-go-live.yaml"),
    ),
    (
        "mobilepay",
        "suites/mobilepay-go-live.yaml",
        include_str!("../suites/mobilepay-go-live.yaml"),
    ),
    (
        "ppaas",
        "suites/ppaas-go-live.yaml",
        include_str!("../suites/ppaas-go-live.yaml"),
    ),
];

/// Loads a bundled suite (they are tested to load; a failure here is a bug).
pub fn load_bundled_suite(provider: &str) -> Result<Loaded<Suite>, String> {
    let (name, text) = bundled_suite(provider)
        .ok_or_else(|| format!("no bundled suite for provider `{provider}`"))?;
    crate::suite::parse_suite(text, Path::new(&format!("built-in:{name}")))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_target_file_name_means_the_current_folder() {
        assert_eq!(target_dir(Path::new("my-shop.yaml")), PathBuf::from("."));
        assert_eq!(target_dir(Path::new("./my-shop.yaml")), PathBuf::from("."));
        assert_eq!(
            target_dir(Path::new("targets/my-shop.yaml")),
            PathBuf::from("targets")
        );
        assert_eq!(target_dir(Path::new("/a/b.yaml")), PathBuf::from("/a"));
    }
}
