//! The commands that assess an integration: `run`, `demo`, `accuracy`; and the signal handling
//! that lets a run stop cleanly.

use std::io::Write;
use std::path::Path;

use crate::exit;
use crate::report::{self, console, EventSink, Secrets};
use crate::run::{self, RunConfig, TargetSpec};
use crate::suite::{self, Problems};

use super::*;

/// Takes over SIGINT and SIGTERM for a run: the first one asks the run to stop (it stops the
/// target, flushes the journal and writes partial reports); a second one kills every target
/// process group at once and exits with [`exit::INTERRUPTED`]. Also makes golive the reaper
/// of what its targets leave behind, so a target that detaches is still stopped.
pub(super) fn interruptible() -> run::StopSignal {
    use tokio::signal::unix::{signal, SignalKind};
    crate::driver::process::adopt_orphans();
    let (tx, rx) = tokio::sync::watch::channel(None);
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without handlers the default stays: the signal ends golive, its targets' groups are
        // killed by nobody. Say so rather than pretend.
        err!("golive: cannot watch for SIGINT/SIGTERM; an interrupted run will leave no reports");
        return rx;
    };
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            if first {
                first = false;
                err!("golive: {name}: stopping the target and writing partial reports (again to stop at once)");
                let _ = tx.send(Some(name.to_string()));
            } else {
                err!("golive: {name} again: stopping now");
                run::hard_stop();
                std::process::exit(exit::code(&Ok(Verdict::Interrupted)));
            }
        }
    });
    rx
}

pub(super) async fn run_command(args: RunArgs, stop: run::StopSignal) -> Ended {
    let mut suite = load_suite_with(args.suite(), &args.common.vars)?;
    // After validation, which sees the whole suite (a check naming a scenario the filter or
    // another partition leaves out is not a mistake); the filter first, so a partition slices
    // what the filter kept.
    let filter = run::filter::select(&selection(&args.common), &mut suite.value)?;
    if let Some(partition) = args.partition {
        partition.apply(&mut suite.value);
    }
    let target = if args.reference {
        TargetSpec::reference(&suite.value.provider, args.style.as_deref(), &args.flaws)?
    } else {
        let Some(path) = &args.target else {
            return Err(Error::Usage(
                "give --target <file> (your integration) or --reference (the built-in reference shop)".into(),
            ));
        };
        let target = suite::load_target(path)?;
        let p = suite::cross_rules(&suite, &target);
        if !p.is_empty() {
            return Err(Error::Input(Problems(p)));
        }
        TargetSpec::File(Box::new(target))
    };
    let options = run_options(&args.common, filter, args.common.paths());
    execute(suite, target, &args.common, &options, stop).await
}

/// The `--scenario` and `--check` globs.
fn selection(common: &Common) -> run::filter::Selection {
    run::filter::Selection::new(&common.scenarios, &common.checks)
}

/// The run's options from the command line, the filter already applied to the suite.
fn run_options(
    common: &Common,
    filter: Option<crate::report::Filter>,
    paths: report::ReportPaths,
) -> run::RunOptions {
    run::RunOptions {
        bail: common.bail,
        verbose: common.verbose,
        filter,
        paths,
    }
}

impl Common {
    /// Where each report goes (`--junit`, `--html`, `--json`; the rest into `--reports`).
    pub(super) fn paths(&self) -> report::ReportPaths {
        report::ReportPaths {
            junit: self.junit.clone(),
            html: self.html.clone(),
            json: self.json.clone(),
        }
    }
}

pub(super) async fn execute(
    suite: suite::Loaded<suite::Suite>,
    target: TargetSpec,
    common: &Common,
    options: &run::RunOptions,
    stop: run::StopSignal,
) -> Ended {
    let quiet = common.quiet;
    let color = console::ColorChoice::from(common.color);
    let progress_color = color.stderr();
    let make_sink = move |secrets: Secrets| -> Box<dyn EventSink> {
        if quiet {
            Box::new(report::Silent)
        } else {
            Box::new(console::Progress::new(secrets, progress_color))
        }
    };
    let outcome = run::run_with(
        RunConfig {
            suite,
            target,
            reports_dir: common.reports.clone(),
            time_scale: common.time_scale,
            wait_timeout_s: common.wait_timeout,
            jobs: common.jobs.into(),
        },
        options,
        &make_sink,
        stop,
    )
    .await;
    // Report files are listed only when they were written: a path to nothing misleads.
    let summary = match &outcome.written {
        Some(written) if outcome.report_error.is_none() => {
            console::summary_written(&outcome.report, written, color.stdout())
        }
        _ => console::summary_unwritten(&outcome.report, color.stdout()),
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{summary}");
    if let Some(e) = &outcome.report_error {
        let message = format!("the reports could not be written: {e}");
        // An interrupted run stays interrupted; anything else could not be made.
        return Err(match outcome.report.verdict {
            Verdict::Interrupted => Error::Interrupted(message),
            _ => Error::Run(message),
        });
    }
    Ok(outcome.report.verdict)
}

pub(super) async fn accuracy(args: AccuracyArgs) -> Ended {
    let config = crate::accuracy::AccuracyConfig {
        examples: args.examples,
        jobs: usize::from(args.jobs),
        time_scale: args.time_scale,
        provider: args.provider,
        only: args.only,
        reports: args.reports,
    };
    let results = crate::accuracy::run_all(&config, &mut |r| out!("{}", r.line())).await?;
    let tally = crate::accuracy::Tally::of(&results);
    out!("{tally}");
    // Every mistake caught and nothing else failed, or else a finding against golive.
    Ok(if tally.perfect() {
        Verdict::Passed
    } else {
        Verdict::Failed
    })
}

/// How fast provider clocks run in `golive demo` unless `--time-scale` says otherwise.
pub(super) const DEMO_TIME_SCALE: f64 = 0.1;

pub(super) async fn demo(args: DemoArgs, stop: run::StopSignal) -> Ended {
    if args.common.time_scale.is_none() && !args.common.quiet {
        err!(
            "golive demo: provider clocks run at {DEMO_TIME_SCALE}× real time (--time-scale 1 for real pacing)"
        );
    }
    let providers: Vec<&str> = if args.provider == "all" {
        crate::providers::references()
            .iter()
            .map(|r| r.provider)
            .filter(|p| run::bundled_suite(p).is_some())
            .collect()
    } else {
        vec![args.provider.as_str()]
    };
    demo_providers_known(&providers)?;
    let several = providers.len() > 1;
    if several && (args.common.html.is_some() || args.common.json.is_some()) {
        return Err(Error::Usage(
            "--html and --json name one report's file; with --provider all each provider's reports go to --reports DIR/<provider>/ (--junit names the merged JUnit file)".into(),
        ));
    }
    // Every suite prepared before anything runs: a --var or filter that fits none is a usage
    // error now, not after the first provider's run.
    let mut runs = Vec::new();
    let mut refused = Vec::new();
    for provider in &providers {
        let mut suite = run::load_bundled_suite(provider)?;
        run::vars::apply(&mut suite.value, &args.common.vars)?;
        let target = TargetSpec::reference(provider, args.style.as_deref(), &args.flaws)?;
        let selection = selection(&args.common);
        if several {
            // Across providers a filter names one provider's ids: the others are left out.
            if let Some(why) = selection.problem(&suite.value) {
                refused.push(why);
                continue;
            }
        }
        let filter = run::filter::select(&selection, &mut suite.value)?;
        runs.push((*provider, suite, target, filter));
    }
    if runs.is_empty() {
        return Err(Error::Usage(refused.join("\n")));
    }
    if several && !refused.is_empty() && !args.common.quiet {
        let left: Vec<&str> = providers
            .iter()
            .filter(|p| !runs.iter().any(|(r, ..)| r == *p))
            .copied()
            .collect();
        err!(
            "golive demo: --scenario/--check select nothing in {}'s suite; not run",
            left.join(", ")
        );
    }
    if !several {
        remove_stale_demo_reports(&args.common.reports);
    }
    let mut worst = Verdict::Passed;
    let mut junits = Vec::new();
    let count = runs.len();
    for (provider, suite, target, filter) in runs {
        let mut common = Common {
            reports: args.common.reports.clone(),
            // The demo shows the journeys, not the waiting: provider clocks ("three re-checks
            // within 3 minutes") run at a tenth unless asked otherwise. Assessments with
            // `golive run` keep real time.
            time_scale: Some(args.common.time_scale.unwrap_or(DEMO_TIME_SCALE)),
            wait_timeout: args.common.wait_timeout,
            quiet: args.common.quiet,
            jobs: args.common.jobs,
            junit: None,
            html: None,
            json: None,
            scenarios: args.common.scenarios.clone(),
            checks: args.common.checks.clone(),
            bail: args.common.bail,
            vars: args.common.vars.clone(),
            verbose: args.common.verbose,
            color: args.common.color,
        };
        let paths = if several {
            common.reports = args.common.reports.join(provider);
            report::ReportPaths::default()
        } else {
            args.common.paths()
        };
        let options = run_options(&common, filter, paths);
        let ended = execute(suite, target, &common, &options, stop.clone()).await;
        junits.push(options.paths.resolve(&common.reports).junit);
        // One provider's reports that could not be written do not stop the others: said now,
        // it counts as that run's error.
        let verdict = match ended {
            Ok(v) => v,
            Err(e) => {
                say(&e);
                match e {
                    Error::Interrupted(_) => Verdict::Interrupted,
                    _ => Verdict::Error,
                }
            }
        };
        if exit::code(&Ok(verdict)) > exit::code(&Ok(worst)) {
            worst = verdict;
        }
        // After an interruption the other providers are not started.
        if verdict == Verdict::Interrupted {
            break;
        }
    }
    if several && count > 0 {
        let merged = args
            .common
            .junit
            .clone()
            .unwrap_or_else(|| args.common.reports.join("junit.xml"));
        let xml = report::junit::merge(&junits).map_err(|e| Error::Run(e.to_string()))?;
        if let Some(dir) = merged.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Run(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(&merged, xml)
            .map_err(|e| Error::Run(format!("cannot write {}: {e}", merged.display())))?;
        out!("All providers' results: {}", merged.display());
    }
    Ok(worst)
}

/// Every provider a demo names has a bundled suite and a reference shop; otherwise the error
/// lists the providers it can run.
pub(super) fn demo_providers_known(providers: &[&str]) -> Result<(), Error> {
    for p in providers {
        if run::bundled_suite(p).is_none() || crate::providers::reference(p).is_none() {
            let known: Vec<&str> = crate::providers::references()
                .iter()
                .map(|r| r.provider)
                .filter(|p| run::bundled_suite(p).is_some())
                .collect();
            return Err(Error::Usage(format!(
                "no demo for provider `{p}`; expected one of: {}, or all",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// A single-provider demo after `demo --provider all` would leave the per-provider reports of
/// that earlier run next to its own, read as current. Only what golive wrote is removed: a
/// subfolder named after a provider that holds a golive `report.json`.
pub(super) fn remove_stale_demo_reports(reports: &Path) {
    for r in crate::providers::references() {
        let dir = reports.join(r.provider);
        let json = dir.join("report.json");
        let ours = std::fs::read_to_string(&json)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["tool"]["name"] == "golive");
        if ours {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                err!(
                    "golive: cannot remove the earlier demo's {}: {e}",
                    dir.display()
                );
            }
        }
    }
}
