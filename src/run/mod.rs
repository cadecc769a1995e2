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
    self, count, CheckResult, EventSink, Filter, Outcome, ReportPaths, RunEvent, RunReport,
    ScenarioResult, Secrets, SuiteInfo, TargetInfo, Verdict, Written,
};
use crate::sandbox::Sandbox;
use crate::suite::{Loaded, Suite, Target};
use crate::Error;

mod bundled;
mod drive;
pub mod filter;
mod finish;
mod judging;
mod lanes;
pub mod vars;
mod watch;

use drive::drive;

pub use bundled::{
    bundled_suite, bundled_suite_named, bundled_suites, load_bundled_suite, load_suite_arg,
};
pub(crate) use finish::{finish, finish_to};
pub use judging::{failing_ids, judge, judge_indexed};
pub(crate) use judging::{incompleteness, not_judged};

/// The providers golive has a built-in reference shop for, as a usage error lists them
/// (`kontocloud, smartpay, …`).
pub(crate) fn reference_providers() -> String {
    let providers: Vec<&str> = providers::references().iter().map(|r| r.provider).collect();
    providers.join(", ")
}

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
    pub fn reference(provider: &str, style: Option<&str>, flaws: &[String]) -> Result<Self, Error> {
        let reference = crate::providers::reference(provider).ok_or_else(|| {
            Error::Usage(format!(
                "there is no reference shop for provider `{provider}`; expected one of: {}",
                reference_providers()
            ))
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
    /// How many lanes of scenarios run at once (`--jobs N`; 1: one after another). See
    /// [`lanes`].
    pub jobs: usize,
}

/// How a run is made beyond its suite and target: the command line's habits.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after the first scenario with a failed check, or not driven to its end (`--bail`);
    /// the scenarios after it are listed as not run.
    pub bail: bool,
    /// Send every exchange to the event sink as it is journaled (`--verbose`).
    pub verbose: bool,
    /// The `--scenario`/`--check` filter already applied to the suite, for the reports to say.
    pub filter: Option<Filter>,
    /// Where each report goes when not in the reports folder.
    pub paths: ReportPaths,
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
    config: RunConfig,
    make_sink: &(dyn Fn(Secrets) -> Box<dyn EventSink> + Sync),
    stop: StopSignal,
) -> RunOutcome {
    run_with(config, &RunOptions::default(), make_sink, stop).await
}

/// [`run_until`] with the command line's options.
pub async fn run_with(
    mut config: RunConfig,
    options: &RunOptions,
    make_sink: &(dyn Fn(Secrets) -> Box<dyn EventSink> + Sync),
    stop: StopSignal,
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
    let mut report = RunReport::begin(
        SuiteInfo::of(&config.suite),
        TargetInfo {
            name: target_name,
            source: target_source,
            base_url: String::new(),
        },
    );
    report.filter = options.filter.clone();
    let journal_path = config.reports_dir.join("journal.jsonl");
    // Beside the reports it is named as their neighbour; a report written elsewhere names it
    // by its path.
    report.journal = Some(if options.paths.elsewhere(&config.reports_dir) {
        journal_path.display().to_string()
    } else {
        "journal.jsonl".into()
    });
    let paths = &options.paths;
    let journal = match Journal::create(&journal_path) {
        Ok(j) => j,
        Err(e) => {
            report.run_error = Some(e.to_string());
            report.journal = None;
            return finish_to(
                report,
                None,
                None,
                &config.reports_dir,
                paths,
                Secrets::new(),
                started,
            );
        }
    };
    report.started_at = journal.wall(0.0);
    *ACTIVE_JOURNAL.lock().unwrap_or_else(|p| p.into_inner()) = Some(journal.clone());
    // What stops a run before the sandbox serves: the reports say why, nothing was driven.
    let broke_off = |mut report: RunReport, why: String| {
        report.run_error = Some(why);
        finish_to(
            report,
            Some(&journal_path),
            None,
            &config.reports_dir,
            paths,
            Secrets::new(),
            started,
        )
    };
    let Some(provider) = provider else {
        let why = format!(
            "the suite's provider `{}` is not one golive can play",
            suite.provider
        );
        return broke_off(report, why);
    };
    // Every provider step read once, before anything runs (validation usually did it).
    if let Err(e) = providers::parse_steps(provider, &suite) {
        return broke_off(report, e);
    }
    // One lane, or `--jobs N`: each lane its own sandbox, all in the one journal.
    let plan = match config.jobs {
        0 | 1 => vec![(0..suite.scenarios.len()).collect()],
        jobs => lanes::plan(&suite, jobs, provider),
    };
    if plan.len() > 1 {
        if let Some(why) = lanes::refuse(&config.target, config.jobs) {
            return broke_off(report, why);
        }
    }
    let mut lanes = Vec::new();
    for (k, positions) in plan.iter().enumerate() {
        let lane_journal = if k == 0 {
            journal.clone()
        } else {
            journal.lane()
        };
        match providers::start(provider, lane_journal.clone(), 0).await {
            Ok((sandbox, actors)) => lanes.push((
                lanes::lane_suite(&suite, positions),
                sandbox,
                actors,
                lane_journal,
            )),
            Err(e) => {
                for (_, sandbox, _, _) in lanes {
                    sandbox.stop().await;
                }
                return broke_off(report, e.to_string());
            }
        }
    }
    let secrets = Secrets::with(
        lanes
            .iter()
            .flat_map(|(_, sandbox, _, _)| sandbox.profile.secrets()),
    );
    let sink = make_sink(secrets.clone());
    let lane_count = lanes.len();
    // Watched from before the first exchange, so `--verbose` misses none.
    let watched = options.verbose.then(|| journal.watch());
    // One lane or N, one way: each lane drives its slice into a report of its own, and the
    // lanes' reports are put back together in the suite's order.
    let driving = async {
        let driven =
            lanes
                .iter()
                .enumerate()
                .map(|(k, (lane_suite, sandbox, actors, lane_journal))| {
                    let mut lane_report = report.clone();
                    let mut stop = stop.clone();
                    let (config, sink) = (&config, sink.as_ref());
                    async move {
                        let result = drive(
                            config,
                            options,
                            lane_suite,
                            sandbox,
                            actors.as_ref(),
                            lane_journal,
                            &mut lane_report,
                            sink,
                            &mut stop,
                            drive::LaneOf {
                                number: k,
                                lanes: lane_count,
                            },
                        )
                        .await;
                        (lane_report, result)
                    }
                });
        let driven = futures_util::future::join_all(driven).await;
        lanes::merge(&mut report, &suite, driven)
    };
    let result = if let Some(mut watched) = watched {
        let mut shown = 0;
        let result = tokio::select! {
            result = driving => result,
            never = watch::exchanges(&mut watched, sink.as_ref(), &mut shown) => match never {},
        };
        watch::rest(&journal, &mut watched, sink.as_ref(), &mut shown);
        result
    } else {
        driving.await
    };
    futures_util::future::join_all(lanes.into_iter().map(|(_, sandbox, _, _)| sandbox.stop()))
        .await;
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
    let mut index = None;
    if report.run_error.is_none() {
        sink.event(&RunEvent::Judging {
            checks: suite.checks.len(),
        });
        match judge_indexed(&suite, &journal_path) {
            Ok((mut checks, journal_index)) => {
                index = Some(journal_index);
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
    finish_to(
        report,
        Some(&journal_path),
        index.as_ref(),
        &config.reports_dir,
        paths,
        secrets,
        started,
    )
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod lifecycle_tests;
