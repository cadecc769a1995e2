//! Starting (or attaching to) the target, waiting until it is ready, driving every scenario and
//! stopping the target.

use super::*;

/// Which lane of the run [`drive`] drives.
pub(super) struct LaneOf {
    /// From 0.
    pub number: usize,
    /// How many the run has (1 without `--jobs`).
    pub lanes: usize,
}

/// Starts the target, waits for it, runs every scenario, stops the target. An interruption
/// (`stop`) ends it early with `report.interrupted` set; a target that exits during the run
/// ends it with an error naming the scenario and step.
#[allow(clippy::too_many_arguments)]
pub(super) async fn drive(
    config: &RunConfig,
    options: &RunOptions,
    suite: &Suite,
    sandbox: &Sandbox,
    actors: &dyn Actors,
    journal: &Journal,
    report: &mut RunReport,
    sink: &dyn EventSink,
    stop: &mut StopSignal,
    lane: LaneOf,
) -> Result<(), String> {
    let LaneOf {
        number: lane,
        lanes,
    } = lane;
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
        // A shop that paces itself in provider time (re-checks "within 3 minutes") learns
        // the run's scale at start-up, not only from a trigger.
        "time_scale": suite.settings.time_scale,
        "env": driver::template::environment(),
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
                // One log per copy of the integration (`--jobs N` starts N).
                let log = config.reports_dir.join(match lane {
                    0 => "target.log".to_owned(),
                    k => format!("target-{}.log", k + 1),
                });
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
        // The whole run's (`suite` is this lane's share of it).
        scenarios: config.suite.value.scenarios.len(),
        lane,
        lanes,
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
                lane,
            });
            let recorder = Recorder::new(journal.clone());
            let waited = driver::Waited::default();
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
                        // Its place in the whole suite, whichever lane runs it.
                        config.suite.value.scenarios.iter().position(|s| s.id == scenario.id).unwrap_or(i),
                        scenario,
                        suite,
                        target.clone(),
                        &base_url,
                        sandbox,
                        actors,
                        &recorder,
                        &tracker,
                        &waited,
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
                let Some(cut) = cut else {
                    if options.bail {
                        if let Some(why) = bail_reason(suite, journal, report.scenarios.last()) {
                            report.bailed = Some(why);
                            break;
                        }
                    }
                    continue;
                };
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
            if result.is_ok() && report.interrupted.is_none() {
                driver::settle_late_traffic(journal).await;
            }
            report.scripted_wait_ms = Some(waited.ms());
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

/// Why `--bail` stops the run after `finished` (the scenario just driven), if it does: the
/// scenario was not driven to its end, or a check judged over the journal so far failed (for
/// this scenario, or over the whole run). Judging reads the journal as it stands, so the
/// traffic of the scenarios still to come cannot be blamed.
fn bail_reason(
    suite: &Suite,
    journal: &Journal,
    finished: Option<&ScenarioResult>,
) -> Option<String> {
    let finished = finished?;
    if let Some(e) = &finished.error {
        return Some(format!(
            "scenario {} was not driven to its end ({})",
            finished.id,
            crate::report::first_line(e)
        ));
    }
    // A journal that cannot be read back now is the run's end to report, not --bail's.
    journal.flush().ok()?;
    let checks = judge(suite, journal.path()?).ok()?;
    let failed: Vec<&CheckResult> = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
        .collect();
    let here = failed
        .iter()
        .find(|c| c.scenario.as_deref() == Some(finished.id.as_str()))
        .or_else(|| failed.first())?;
    Some(match &here.scenario {
        Some(scenario) => format!("{} failed in scenario {scenario}", here.id),
        None => format!(
            "{} failed (judged over the run) after scenario {}",
            here.id, finished.id
        ),
    })
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
