//! The pipeline, end to end: sandbox → target → scenarios → checks → reports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::checks;
use crate::driver::Actors;
use crate::driver::{self, process, Recorder};
use crate::exit;
use crate::journal::{self, Journal};
use crate::providers;
use crate::reference::{Reference, RunningShop, ShopConfig};
use crate::report::{
    self, count, CheckResult, EventSink, Outcome, RunEvent, RunReport, ScenarioResult, Secrets,
    SuiteInfo, TargetInfo, Tool, Verdict, Written,
};
use crate::sandbox::Sandbox;
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
        let reference = crate::providers::reference(provider).ok_or_else(|| {
            format!(
                "there is no reference shop for provider `{provider}`; expected one of: {}",
                crate::providers::references()
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
    config: RunConfig,
    make_sink: &(dyn Fn(Secrets) -> Box<dyn EventSink> + Sync),
) -> RunOutcome {
    // Nobody sends: the run is never interrupted.
    let (_never, stop) = tokio::sync::watch::channel(None);
    run_until(config, make_sink, stop).await
}

/// What interrupts a run: the name of the signal (`SIGINT`) once one arrived. The CLI sets it
/// from its signal handler; [`run`] passes one that never fires.
pub type StopSignal = tokio::sync::watch::Receiver<Option<String>>;

/// Waits until the run is to stop, and says why; never returns if the sender is gone without
/// having sent.
async fn stopped(stop: &mut StopSignal) -> String {
    // The guard `wait_for` returns must be gone before any await.
    let signal = stop
        .wait_for(Option::is_some)
        .await
        .ok()
        .map(|v| v.clone().unwrap_or_default());
    match signal {
        Some(s) => s,
        None => std::future::pending().await,
    }
}

/// The journal of the running run, so [`hard_stop`] can flush it.
static ACTIVE_JOURNAL: std::sync::Mutex<Option<Journal>> = std::sync::Mutex::new(None);

/// Ends everything at once (a second Ctrl-C): kills every target process group, flushes the
/// journal. The caller exits right after.
pub fn hard_stop() {
    process::kill_everything();
    let journal = ACTIVE_JOURNAL
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(j) = journal {
        let _ = j.flush();
    }
}

/// [`run`], stopped early when `stop` fires: the target is stopped, the journal flushed and
/// partial reports marked `interrupted` are written, listing the scenarios not run.
pub async fn run_until(
    mut config: RunConfig,
    make_sink: &(dyn Fn(Secrets) -> Box<dyn EventSink> + Sync),
    mut stop: StopSignal,
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
    let provider = providers::provider(&suite.provider);
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
        incomplete: Vec::new(),
        interrupted: None,
        not_run: Vec::new(),
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
    *ACTIVE_JOURNAL.lock().unwrap_or_else(|p| p.into_inner()) = Some(journal.clone());
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

    // Every provider step read once, before anything runs (validation usually did it).
    if let Err(e) = providers::parse_steps(provider, &suite) {
        report.run_error = Some(e);
        return finish(
            report,
            Some(&journal_path),
            &config.reports_dir,
            Secrets::new(),
            started,
        );
    }

    let (sandbox, actors) = match providers::start(provider, journal.clone(), 0).await {
        Ok(started) => started,
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
        actors.as_ref(),
        &journal,
        &mut report,
        sink.as_ref(),
        &mut stop,
    )
    .await;
    sandbox.stop().await;
    if let Err(e) = result {
        report.run_error = Some(e);
    }
    if let Err(e) = journal.flush() {
        report.run_error.get_or_insert(e.to_string());
    }
    // Scenarios the run never reached (a run error, an interruption): none of them ran.
    let reached: BTreeSet<&str> = report.scenarios.iter().map(|s| s.id.as_str()).collect();
    report.not_run = suite
        .scenarios
        .iter()
        .filter(|s| !reached.contains(s.id.as_str()))
        .map(|s| s.id.clone())
        .collect();
    if report.run_error.is_none() {
        sink.event(&RunEvent::Judging {
            checks: suite.checks.len(),
        });
        match judge(&suite, &journal_path) {
            Ok(mut checks) => {
                driver::skip_not_applicable(&mut checks, &suite, &report.scenarios);
                let mut checks = crate::partition::mark_elsewhere(&suite, checks);
                checks.extend(not_judged(&suite, &report, &checks));
                report.incomplete = incompleteness(&suite, &report, &checks);
                report.checks = checks;
            }
            Err(e) => report.run_error = Some(e),
        }
    }
    *ACTIVE_JOURNAL.lock().unwrap_or_else(|p| p.into_inner()) = None;
    finish(
        report,
        Some(&journal_path),
        &config.reports_dir,
        secrets,
        started,
    )
}

/// Starts the target, waits for it, runs every scenario, stops the target. An interruption
/// (`stop`) ends it early with `report.interrupted` set; a target that exits during the run
/// ends it with an error naming the scenario and step.
#[allow(clippy::too_many_arguments)]
async fn drive(
    config: &RunConfig,
    suite: &Suite,
    sandbox: &Sandbox,
    actors: &dyn Actors,
    journal: &Journal,
    report: &mut RunReport,
    sink: &dyn EventSink,
    stop: &mut StopSignal,
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
                // What answers there now is not the integration golive is about to start.
                if let Some(addr) = process::already_answering(&base_url).await {
                    return Err(format!(
                        "something already answers at {addr} ({base_url}) before golive started your integration: \
                         another process holds the port, and golive would grade it instead of yours. \
                         Stop it, or let your integration listen on `{{{{ port }}}}` (a free port golive picks)"
                    ));
                }
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
    let ready = tokio::select! {
        signal = stopped(stop) => Err(Cut::Interrupted(signal)),
        ready = process::wait_ready(&base_url, &target.value.ready, child.as_mut()) => ready.map_err(Cut::Error),
    };
    let result = match ready {
        Err(Cut::Interrupted(signal)) => {
            report.interrupted = Some(signal);
            Ok(())
        }
        // Readiness reports a target that died before it was ready as its own error.
        Err(Cut::Error(e) | Cut::Died(e)) => Err(e),
        Ok(after) => {
            sink.event(&RunEvent::TargetReady {
                base_url: base_url.clone(),
                after_ms: after.as_secs_f64() * 1000.0,
            });
            let recorder = Recorder::new(journal.clone());
            let target = Arc::new(target.value.clone());
            let tracker = StepTracker {
                inner: sink,
                finished: AtomicUsize::new(0),
                failed_at: AtomicUsize::new(0),
            };
            let mut result = Ok(());
            for (i, scenario) in suite.scenarios.iter().enumerate() {
                if let Some(reason) = driver::not_applicable(scenario, &target) {
                    report
                        .scenarios
                        .push(driver::record_not_applicable(scenario, &reason, journal));
                    continue;
                }
                let started = journal.now_ms();
                tracker.reset();
                let cut = tokio::select! {
                    // An interruption or a dead target wins over a scenario that happens to
                    // end in the same instant: either makes what follows meaningless.
                    biased;
                    signal = stopped(stop) => Some(Cut::Interrupted(signal)),
                    status = target_exit(child.as_mut()) => Some(Cut::Died(status)),
                    error = driver::run_scenario(
                        i,
                        scenario,
                        suite,
                        target.clone(),
                        &base_url,
                        sandbox,
                        actors,
                        &recorder,
                        &tracker,
                    ) => {
                        // The target may have died during the scenario's last step: the
                        // scenario broke off because of it, not because of the integration's code.
                        match child.as_mut().and_then(|c| c.exited()) {
                            Some(status) => Some(Cut::Died(status)),
                            None => {
                                report.scenarios.push(ScenarioResult {
                                    id: scenario.id.clone(),
                                    title: scenario.title.clone(),
                                    started_ms: started,
                                    ended_ms: journal.now_ms(),
                                    error,
                                    not_applicable: None,
                                    exchanges: Vec::new(),
                                    exchanges_omitted: 0,
                                });
                                None
                            }
                        }
                    }
                };
                let Some(cut) = cut else { continue };
                // The scenario was cut short: where it stood.
                let step = tracker.standing_at().min(scenario.steps.len().max(1));
                let label = scenario
                    .steps
                    .get(step - 1)
                    .map(driver::step_label)
                    .unwrap_or_default();
                let at = format!("scenario {}, step {step} ({label})", scenario.id);
                let (error, run_error) = match cut {
                    Cut::Interrupted(signal) => {
                        let e = format!("interrupted by {signal} at step {step} ({label})");
                        report.interrupted = Some(signal);
                        (e, None)
                    }
                    Cut::Died(status) => {
                        let (tail, log) = child
                            .as_ref()
                            .map(|c| (c.log_tail(15), c.log.display().to_string()))
                            .unwrap_or_default();
                        let message = format!(
                            "your integration exited ({status}) during {at}; golive stopped the run{}",
                            if tail.is_empty() {
                                format!("; it printed nothing ({log} is empty)")
                            } else {
                                format!("; its last output ({log}):\n{tail}")
                            }
                        );
                        (
                            format!("the integration exited ({status}) at step {step} ({label})"),
                            Some(message),
                        )
                    }
                    Cut::Error(e) => (e.clone(), Some(e)),
                };
                let ended = journal.now_ms();
                // run_scenario was dropped mid-way: close the scenario in the journal and on
                // the display, as it would have.
                journal.end_scenario(crate::journal::ScenarioEnd {
                    scenario: scenario.id.clone(),
                    at_ms: ended,
                    error: Some(error.clone()),
                });
                sink.event(&RunEvent::ScenarioFinished {
                    id: scenario.id.clone(),
                    error: Some(error.clone()),
                    duration_ms: ended - started,
                });
                report.scenarios.push(ScenarioResult {
                    id: scenario.id.clone(),
                    title: scenario.title.clone(),
                    started_ms: started,
                    ended_ms: ended,
                    error: Some(error),
                    not_applicable: None,
                    exchanges: Vec::new(),
                    exchanges_omitted: 0,
                });
                if let Some(e) = run_error {
                    result = Err(e);
                }
                break;
            }
            result
        }
    };
    let mut result = result;
    if let Some(c) = child {
        let detached = c.stop().await;
        if !detached.is_empty() {
            let note = format!(
                "the target left {} process(es) running outside its process group (detached): {}; golive stopped them",
                detached.len(),
                detached.join(", ")
            );
            result = Err(match result {
                Err(e) => format!("{e}\n{note}"),
                Ok(()) => note,
            });
        }
    }
    if let Some(s) = shop {
        s.stop().await;
    }
    result
}

/// Why a run stopped before its end.
enum Cut {
    /// A signal (its name).
    Interrupted(String),
    /// The target's process exited (how).
    Died(String),
    /// Anything else, as the run's error.
    Error(String),
}

/// Resolves when the target's process exits (never, when golive started none).
async fn target_exit(child: Option<&mut process::TargetProcess>) -> String {
    match child {
        Some(c) => c.wait_exit().await,
        None => std::future::pending().await,
    }
}

/// Passes events on, counting the running scenario's finished steps, so a scenario cut short
/// can say which step it stood at.
struct StepTracker<'a> {
    inner: &'a dyn EventSink,
    finished: AtomicUsize,
    /// The (1-based) step that did not succeed, 0 if none: the scenario breaks off there.
    failed_at: AtomicUsize,
}

impl StepTracker<'_> {
    fn reset(&self) {
        self.finished.store(0, Ordering::SeqCst);
        self.failed_at.store(0, Ordering::SeqCst);
    }

    /// The 1-based step the scenario stood at: the one that failed (a dying target makes its
    /// step fail a moment before its exit is seen), else the one after the last finished.
    fn standing_at(&self) -> usize {
        match self.failed_at.load(Ordering::SeqCst) {
            0 => self.finished.load(Ordering::SeqCst) + 1,
            n => n,
        }
    }
}

impl EventSink for StepTracker<'_> {
    fn event(&self, event: &RunEvent) {
        if let RunEvent::StepFinished { ok, .. } = event {
            let n = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
            if !ok {
                let _ = self
                    .failed_at
                    .compare_exchange(0, n, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
        self.inner.event(event);
    }
}

/// Which scenarios a check owes a verdict for: those it is scoped to, or every scenario.
fn owes(check: &crate::suite::CheckSpec, scenario: &str) -> bool {
    match &check.scenarios {
        Some(list) => list.iter().any(|s| s == scenario),
        None => true,
    }
}

/// The verdicts owed but not given: for each scenario not driven to its end (or not run,
/// after an interruption), each check that judges scenario by scenario and covers it, but
/// has no verdict for it, is an `error` ("not judged") — rather than vanishing from the
/// reports. A check judges per scenario when it is scoped to scenarios or gave a verdict for
/// some scenario in this run.
pub(crate) fn not_judged(
    suite: &Suite,
    report: &RunReport,
    checks: &[CheckResult],
) -> Vec<CheckResult> {
    let unfinished: Vec<(&str, String)> = report
        .scenarios
        .iter()
        .filter_map(|s| {
            s.error.as_ref().map(|e| {
                (
                    s.id.as_str(),
                    format!("scenario {} was not driven to its end ({e})", s.id),
                )
            })
        })
        .chain(report.not_run.iter().map(|id| {
            (
                id.as_str(),
                format!("scenario {id} was not run (the run was interrupted)"),
            )
        }))
        .collect();
    let mut owed = Vec::new();
    for spec in &suite.checks {
        let per_scenario = spec.scenarios.is_some()
            || checks
                .iter()
                .any(|c| c.id == spec.id && c.scenario.is_some());
        if !per_scenario {
            continue;
        }
        for (scenario, why) in &unfinished {
            let judged = checks
                .iter()
                .any(|c| c.id == spec.id && c.scenario.as_deref() == Some(*scenario));
            if owes(spec, scenario) && !judged {
                owed.push(CheckResult {
                    id: spec.id.clone(),
                    title: spec.title.clone(),
                    description: spec.description.clone(),
                    severity: spec.severity,
                    source: spec.source.clone(),
                    kind: spec.kind.clone(),
                    scenario: Some(scenario.to_string()),
                    outcome: Outcome::Error,
                    message: format!("not judged: {why}"),
                    evidence: Vec::new(),
                });
            }
        }
    }
    owed
}

/// Why the assessment is not complete: scenarios not driven to their end, checks the suite
/// scoped to scenarios that were skipped in every one, and a run in which no check judged
/// anything at all (a suite whose journeys produced no traffic for its rules must not pass).
pub(crate) fn incompleteness(
    suite: &Suite,
    report: &RunReport,
    checks: &[CheckResult],
) -> Vec<String> {
    let mut why: Vec<String> = report
        .scenarios
        .iter()
        .filter_map(|s| {
            s.error
                .as_ref()
                .map(|e| format!("scenario {} was not driven to its end: {e}", s.id))
        })
        .collect();
    if !report.not_run.is_empty() {
        why.push(format!(
            "{} scenario(s) not run: {}",
            report.not_run.len(),
            report.not_run.join(", ")
        ));
    }
    let not_applicable: BTreeSet<&str> = report
        .scenarios
        .iter()
        .filter(|s| s.not_applicable.is_some())
        .map(|s| s.id.as_str())
        .collect();
    let here: BTreeSet<&str> = report.scenarios.iter().map(|s| s.id.as_str()).collect();
    for spec in &suite.checks {
        // Only checks the suite pointed at given scenarios: an unscoped check may rightly have
        // nothing to judge (token reuse under Basic authentication, where no token is issued).
        let Some(scoped) = &spec.scenarios else {
            continue;
        };
        // A scenario the shop cannot take part in (a trigger it does not offer) is rightly not
        // judged: only the applicable ones count.
        // Nor do scenarios this run or journal does not hold (another partition's).
        let judgeable = |s: &str| !not_applicable.contains(s) && here.contains(s);
        if !scoped.iter().any(|s| judgeable(s)) {
            continue;
        }
        let mine: Vec<&CheckResult> = checks
            .iter()
            .filter(|c| c.id == spec.id)
            .filter(|c| c.scenario.as_deref().is_none_or(judgeable))
            .collect();
        if !mine.is_empty() && mine.iter().all(|c| c.outcome == Outcome::Skipped) {
            why.push(format!(
                "check {} was skipped in every scenario it was asked for ({}): {}",
                spec.id,
                scoped.join(", "),
                crate::report::first_line(&mine[0].message)
            ));
        }
    }
    if !checks.is_empty()
        && checks
            .iter()
            .all(|c| matches!(c.outcome, Outcome::Skipped | Outcome::Error))
    {
        why.push(format!(
            "no check judged anything: none of the {} verdicts is a pass or a failure (the run's traffic gave the checks nothing to judge)",
            checks.len()
        ));
    }
    why
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
    // A failed check is a finding and outranks an incomplete assessment (see exit.rs); an
    // interruption or a run error outranks both: what was judged is partial.
    report.verdict = if report.run_error.is_some() {
        Verdict::Error
    } else if report.interrupted.is_some() {
        Verdict::Interrupted
    } else if report.checks.iter().any(|c| c.outcome == Outcome::Failed) {
        Verdict::Failed
    } else if !report.incomplete.is_empty() {
        Verdict::Incomplete
    } else {
        Verdict::Passed
    };
    let mut report_error = None;
    let mut secrets = secrets;
    if let Some(j) = journal {
        match report::build::complete_learning(&mut report, j, &secrets) {
            Ok(learned) => secrets = learned,
            Err(e) => report_error = Some(e.to_string()),
        }
    }
    if let Err(e) = mask_target_log(dir, &secrets) {
        report_error.get_or_insert(e);
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
        Verdict::Error | Verdict::Incomplete => exit::RUN_FAILED,
        Verdict::Interrupted => exit::INTERRUPTED,
    };
    RunOutcome {
        report,
        written,
        report_error,
        exit_code,
        secrets,
    }
}

/// The target's own output (`target.log`) goes out with the reports, so it is masked like them
/// once the target has stopped. The raw output is not kept: the journal holds every exchange.
fn mask_target_log(dir: &Path, secrets: &Secrets) -> Result<(), String> {
    let log = dir.join("target.log");
    if !log.exists() {
        return Ok(());
    }
    report::redact::mask_file(&log, secrets)
        .map_err(|e| format!("cannot mask {}: {e}", log.display()))
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
    bundled_suites()
        .into_iter()
        .find(|(p, _, _)| p.eq_ignore_ascii_case(provider))
        .map(|(_, name, text)| (name, text))
}

/// (provider, file name, text) of every bundled suite, in registry order.
pub fn bundled_suites() -> Vec<(&'static str, &'static str, &'static str)> {
    crate::providers::all()
        .map(|p| (p.id(), p.suite().file, p.suite().text))
        .collect()
}

/// The bundled suite a `--suite` argument names when no such file exists: a provider id
/// (`kontocloud`) or a bundled suite's file name, with or without `suites/` and `.yaml`
/// (`kontocloud-go-live`). A file that exists always wins, so a team's own
/// `kontocloud` file is never shadowed. This is what makes the suites usable from an
/// installed binary, outside the checkout.
pub fn bundled_suite_named(arg: &Path) -> Option<(&'static str, &'static str)> {
    if arg.exists() {
        return None;
    }
    let given = arg.to_str()?;
    bundled_suites()
        .into_iter()
        .find(|(provider, name, _)| {
            let file = name.strip_prefix("suites/").unwrap_or(name);
            let stem = file.strip_suffix(".yaml").unwrap_or(file);
            [*provider, *name, file, stem]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(given))
        })
        .map(|(_, name, text)| (name, text))
}

/// Loads the suite a `--suite` argument names: the file, or else the bundled suite of that
/// name ([`bundled_suite_named`]), or else the file's own read error.
pub fn load_suite_arg(arg: &Path) -> Result<Loaded<Suite>, crate::suite::Problems> {
    match bundled_suite_named(arg) {
        Some((name, text)) => {
            crate::suite::parse_suite(text, Path::new(&format!("built-in:{name}")))
        }
        None => crate::suite::load_suite(arg).map_err(|mut problems| {
            // A name that is neither a file nor a bundled suite: say which names would do.
            if !arg.exists() && arg.components().count() == 1 {
                let names: Vec<&str> = bundled_suites().iter().map(|(p, _, _)| *p).collect();
                for p in problems.0.iter_mut() {
                    p.message.push_str(&format!(
                        "; nor is it a bundled suite (by name: {}; `golive suites` lists them)",
                        names.join(", ")
                    ));
                }
            }
            problems
        }),
    }
}

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
    fn a_suite_argument_names_a_bundled_suite_when_no_such_file_exists() {
        for arg in [
            "kontocloud",
            "KontoCloud",
            "kontocloud-go-live",
            "kontocloud-go-live.yaml",
        ] {
            let (name, _) = bundled_suite_named(Path::new(arg)).expect(arg);
            assert_eq!(name, "suites/kontocloud-go-live.yaml");
        }
        assert!(bundled_suite_named(Path::new("nosuch")).is_none());
        let missing = load_suite_arg(Path::new("kontocloude")).err().unwrap();
        assert!(
            missing.0[0]
                .message
                .contains("nor is it a bundled suite (by name: kontocloud, smartpay"),
            "{missing}"
        );
        // A file that exists is read, not shadowed by the bundled suite of that name.
        assert!(bundled_suite_named(Path::new("Cargo.toml")).is_none());
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("kontocloud");
        std::fs::write(&own, "not a suite").unwrap();
        assert!(bundled_suite_named(&own).is_none());
        let loaded = load_suite_arg(Path::new("ppaas")).unwrap();
        assert_eq!(loaded.value.provider, "ppaas");
        assert_eq!(loaded.file, Path::new("built-in:suites/ppaas-go-live.yaml"));
    }

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

#[cfg(test)]
mod lifecycle_tests {
    use super::*;
    use crate::report::build::tests::{check, empty_report};
    use crate::report::Severity;

    const SUITE: &str = r#"golive: 1
id: s
title: S
provider: kontocloud
scenarios:
  - id: pay
    title: Pay
    steps: [{ trigger: { name: start_payment } }]
  - id: pay_again
    title: Pay again
    steps: [{ trigger: { name: start_payment } }]
checks:
  - id: SCOPED
    title: t
    description: d
    severity: critical
    source: inferred
    kind: order_outcome
    scenarios: [pay, pay_again]
    params: { expect: paid }
  - id: WHOLE
    title: t
    description: d
    severity: major
    source: inferred
    kind: token_reuse
  - id: PER
    title: t
    description: d
    severity: minor
    source: inferred
    kind: status_verified
"#;

    fn suite() -> Suite {
        crate::suite::parse_suite(SUITE, Path::new("s.yaml"))
            .expect("the test suite loads")
            .value
    }

    fn in_scenario(mut c: CheckResult, s: &str) -> CheckResult {
        c.scenario = Some(s.into());
        c
    }

    #[test]
    fn a_scenario_not_driven_to_its_end_owes_an_error_per_check_that_judges_it() {
        let suite = suite();
        let mut report = empty_report(&["pay", "pay_again"], vec![]);
        report.scenarios[0].error = Some("step 1 (trigger start_payment): refused".into());
        let checks = vec![
            in_scenario(
                check("SCOPED", Outcome::Passed, Severity::Critical, &[]),
                "pay_again",
            ),
            check("WHOLE", Outcome::Passed, Severity::Major, &[]),
            in_scenario(
                check("PER", Outcome::Passed, Severity::Minor, &[]),
                "pay_again",
            ),
        ];
        let owed = not_judged(&suite, &report, &checks);
        let names: Vec<String> = owed.iter().map(|c| c.name()).collect();
        // The whole-run check gave its one verdict; the two that judge per scenario owe one
        // for `pay`.
        assert_eq!(names, ["SCOPED [pay]", "PER [pay]"]);
        assert!(owed.iter().all(|c| c.outcome == Outcome::Error));
        assert!(
            owed[0].message.contains("not driven to its end"),
            "{owed:?}"
        );
        // A verdict given for the broken scenario stands: nothing is owed for it.
        let mut judged = checks.clone();
        judged.push(in_scenario(
            check("SCOPED", Outcome::Failed, Severity::Critical, &[]),
            "pay",
        ));
        let names: Vec<String> = not_judged(&suite, &report, &judged)
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(names, ["PER [pay]"]);
    }

    #[test]
    fn scenarios_not_run_owe_their_verdicts_too() {
        let suite = suite();
        let mut report = empty_report(&["pay"], vec![]);
        report.not_run = vec!["pay_again".into()];
        let checks = vec![in_scenario(
            check("SCOPED", Outcome::Passed, Severity::Critical, &[]),
            "pay",
        )];
        let owed = not_judged(&suite, &report, &checks);
        assert_eq!(owed.len(), 1);
        assert_eq!(owed[0].name(), "SCOPED [pay_again]");
        assert!(owed[0].message.contains("was not run"));
    }

    #[test]
    fn an_assessment_that_judged_nothing_is_incomplete() {
        let suite = suite();
        let report = empty_report(&["pay", "pay_again"], vec![]);
        let all_skipped = vec![
            check("SCOPED", Outcome::Skipped, Severity::Critical, &[]),
            check("WHOLE", Outcome::Skipped, Severity::Major, &[]),
        ];
        let why = incompleteness(&suite, &report, &all_skipped);
        assert!(
            why.iter().any(|w| w.contains("no check judged anything")),
            "{why:?}"
        );
        assert!(
            why.iter()
                .any(|w| w.contains("check SCOPED was skipped in every scenario")),
            "{why:?}"
        );
        // An unscoped check with nothing to judge (token reuse under Basic authentication)
        // does not make a run incomplete when the others judged.
        let fine = vec![
            check("SCOPED", Outcome::Passed, Severity::Critical, &[]),
            check("WHOLE", Outcome::Skipped, Severity::Major, &[]),
        ];
        assert_eq!(incompleteness(&suite, &report, &fine), Vec::<String>::new());
    }

    fn finished(report: RunReport) -> RunOutcome {
        let dir = tempfile::tempdir().unwrap();
        finish(report, None, dir.path(), Secrets::new(), Instant::now())
    }

    #[test]
    fn exit_codes_tell_the_truth() {
        let passed = vec![check("SCOPED", Outcome::Passed, Severity::Critical, &[])];
        let outcome = finished(empty_report(&["pay"], passed.clone()));
        assert_eq!(
            (outcome.report.verdict, outcome.exit_code),
            (Verdict::Passed, exit::PASSED)
        );

        let mut incomplete = empty_report(&["pay"], passed.clone());
        incomplete.incomplete = vec!["scenario pay was not driven to its end".into()];
        let outcome = finished(incomplete.clone());
        assert_eq!(
            (outcome.report.verdict, outcome.exit_code),
            (Verdict::Incomplete, exit::RUN_FAILED)
        );

        // A failure is a finding and outranks incompleteness.
        incomplete
            .checks
            .push(check("PER", Outcome::Failed, Severity::Minor, &[]));
        let outcome = finished(incomplete.clone());
        assert_eq!(
            (outcome.report.verdict, outcome.exit_code),
            (Verdict::Failed, exit::CHECKS_FAILED)
        );

        incomplete.interrupted = Some("SIGTERM".into());
        let outcome = finished(incomplete.clone());
        assert_eq!(
            (outcome.report.verdict, outcome.exit_code),
            (Verdict::Interrupted, exit::INTERRUPTED)
        );

        incomplete.run_error = Some("your integration exited".into());
        let outcome = finished(incomplete);
        assert_eq!(
            (outcome.report.verdict, outcome.exit_code),
            (Verdict::Error, exit::RUN_FAILED)
        );
    }
}
