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
                std::process::exit(exit::INTERRUPTED);
            }
        }
    });
    rx
}

pub(super) async fn run_command(args: RunArgs, stop: run::StopSignal) -> i32 {
    let mut suite = match load_suite(&args.suite) {
        Ok(s) => s,
        Err(p) => return problems(&p),
    };
    // After validation, which sees the whole suite (a check naming a scenario of another
    // partition is not a mistake).
    if let Some(partition) = args.partition {
        partition.apply(&mut suite.value);
    }
    let target = if args.reference {
        match TargetSpec::reference(&suite.value.provider, args.style.as_deref(), &args.flaws) {
            Ok(t) => t,
            Err(e) => return fail(&e),
        }
    } else {
        let Some(path) = &args.target else {
            return fail("give --target <file> (your integration) or --reference (the built-in reference shop)");
        };
        let target = match suite::load_target(path) {
            Ok(t) => t,
            Err(p) => return problems(&p),
        };
        let p = suite::cross_rules(&suite, &target);
        if !p.is_empty() {
            return problems(&Problems(p));
        }
        TargetSpec::File(Box::new(target))
    };
    execute(suite, target, &args.common, stop).await
}

pub(super) async fn execute(
    suite: suite::Loaded<suite::Suite>,
    target: TargetSpec,
    common: &Common,
    stop: run::StopSignal,
) -> i32 {
    let quiet = common.quiet;
    let make_sink = move |secrets: Secrets| -> Box<dyn EventSink> {
        if quiet {
            Box::new(report::Silent)
        } else {
            Box::new(console::Progress::new(secrets))
        }
    };
    let outcome = run::run_until(
        RunConfig {
            suite,
            target,
            reports_dir: common.reports.clone(),
            time_scale: common.time_scale,
            wait_timeout_s: common.wait_timeout,
        },
        &make_sink,
        stop,
    )
    .await;
    // Report files are listed only when they were written: a path to nothing misleads.
    let summary = match &outcome.report_error {
        None => console::summary(&outcome.report, &common.reports, console::use_color()),
        Some(_) => console::summary_unwritten(&outcome.report, console::use_color()),
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{summary}");
    if let Some(e) = &outcome.report_error {
        err!("golive: the reports could not be written: {e}");
        // An interrupted run stays interrupted; anything else could not be made.
        return outcome.exit_code.max(exit::RUN_FAILED);
    }
    outcome.exit_code
}

pub(super) async fn accuracy(args: AccuracyArgs) -> i32 {
    let config = crate::accuracy::AccuracyConfig {
        examples: args.examples,
        jobs: usize::from(args.jobs),
        time_scale: args.time_scale,
        provider: args.provider,
        only: args.only,
        reports: args.reports,
    };
    match crate::accuracy::run_all(&config, &mut |r| out!("{}", r.line())).await {
        Err(p) => problems(&p),
        Ok(results) => {
            let tally = crate::accuracy::Tally::of(&results);
            out!("{tally}");
            if tally.perfect() {
                exit::PASSED
            } else {
                exit::CHECKS_FAILED
            }
        }
    }
}

/// How fast provider clocks run in `golive demo` unless `--time-scale` says otherwise.
pub(super) const DEMO_TIME_SCALE: f64 = 0.1;

pub(super) async fn demo(args: DemoArgs, stop: run::StopSignal) -> i32 {
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
    if let Err(e) = demo_providers_known(&providers) {
        return fail(&e);
    }
    if providers.len() == 1 {
        remove_stale_demo_reports(&args.common.reports);
    }
    let mut worst = exit::PASSED;
    let mut junits = Vec::new();
    for provider in &providers {
        let suite = match run::load_bundled_suite(provider) {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
        let target = match TargetSpec::reference(provider, args.style.as_deref(), &args.flaws) {
            Ok(t) => t,
            Err(e) => return fail(&e),
        };
        let mut common = Common {
            reports: args.common.reports.clone(),
            // The demo shows the journeys, not the waiting: provider clocks ("three re-checks
            // within 3 minutes") run at a tenth unless asked otherwise. Assessments with
            // `golive run` keep real time.
            time_scale: Some(args.common.time_scale.unwrap_or(DEMO_TIME_SCALE)),
            wait_timeout: args.common.wait_timeout,
            quiet: args.common.quiet,
        };
        if providers.len() > 1 {
            common.reports = args.common.reports.join(provider);
        }
        let code = execute(suite, target, &common, stop.clone()).await;
        junits.push(common.reports.join("junit.xml"));
        worst = worst.max(code);
        // After an interruption the other providers are not started.
        if code == exit::INTERRUPTED {
            break;
        }
    }
    if providers.len() > 1 {
        let merged = args.common.reports.join("junit.xml");
        match report::junit::merge(&junits) {
            Ok(xml) => {
                if let Err(e) = std::fs::write(&merged, xml) {
                    return fail(&format!("cannot write {}: {e}", merged.display()));
                }
                out!("All providers' results: {}", merged.display());
            }
            Err(e) => return fail(&e.to_string()),
        }
    }
    worst
}

/// Every provider a demo names has a bundled suite and a reference shop; otherwise the error
/// lists the providers it can run.
pub(super) fn demo_providers_known(providers: &[&str]) -> Result<(), String> {
    for p in providers {
        if run::bundled_suite(p).is_none() || crate::providers::reference(p).is_none() {
            let known: Vec<&str> = crate::providers::references()
                .iter()
                .map(|r| r.provider)
                .filter(|p| run::bundled_suite(p).is_some())
                .collect();
            return Err(format!(
                "no demo for provider `{p}`; expected one of: {}, or all",
                known.join(", ")
            ));
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
