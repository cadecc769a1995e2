//! The command line: raw arguments are turned into a validated run before anything starts.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

/// Prints a line to stdout. A reader that went away (`golive kinds | head`) is not an error
/// worth a panic: what it did not read is simply not written.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Prints a line to stderr, ignoring a closed stream likewise.
macro_rules! err {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use out;

use crate::exit;
use crate::reference::ShopConfig;
use crate::report::{self, console, EventSink, Secrets};
use crate::run::{self, RunConfig, TargetSpec};
use crate::suite::{self, Problems};

#[derive(Parser)]
#[command(
    name = "golive",
    version,
    about = "Pass a payment provider's Go-Live Assessment before the reviewer looks",
    long_about = "golive plays a payment provider's sandbox, drives your integration through real payment journeys, records every exchange, judges the traffic against the provider's go-live checklist, and writes JUnit (for CI) and an HTML report a reviewer can read.\n\nExit codes: 0 every check passed and everything the suite asked for was judged; 1 a check failed; 2 the run could not be made or was incomplete (a bad suite or target, a target that did not start or exited during the run, a port already taken, a scenario not driven to its end, a check nothing could judge); 130 interrupted by SIGINT or SIGTERM (the target is stopped and partial reports marked interrupted are written; a second Ctrl-C stops at once)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a suite against your integration (a target file) or a built-in reference shop.
    Run(RunArgs),
    /// Run bundled suites against the built-in reference shops: needs nothing but golive.
    Demo(DemoArgs),
    /// Check suite and target files against the schemas and each other, without running.
    Validate(ValidateArgs),
    /// Serve a built-in reference shop (what `targets/*-reference.yaml` starts).
    Reference(ReferenceArgs),
    /// List the check kinds a suite can use, or describe one: its params with types and
    /// defaults, and an example (`golive kinds token_reuse`).
    Kinds {
        /// The kind to describe.
        kind: Option<String>,
    },
    /// List the suites bundled in golive, or write them and the reference targets out
    /// (`golive suites export my-suites`). A bundled suite is usable by name without a file:
    /// `golive run --suite kontocloud --reference`.
    Suites(SuitesArgs),
    /// List the built-in reference shops, their styles and flaws.
    References,
    /// Measure golive's sandbox against a bare axum handler side by side, then memory, judging
    /// and reporting over a large journal, and print the figures.
    Bench {
        /// Interleaved rounds per workload (bare, golive, bare, golive...).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Seconds each server is driven per round.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Connections (requests in flight at once).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Requests of the volume phase (memory after them, judging, reports); 0 skips it.
        #[arg(long, default_value_t = 200_000)]
        volume: usize,
        /// Where to write the bench's journals and reports.
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
    },
    /// The bench's baseline: a bare axum handler (used by `golive bench`).
    #[command(hide = true)]
    BenchServer,
    /// Serve a provider's simulated sandbox on its own, for developing against it, until Ctrl-C.
    Sandbox(SandboxArgs),
    /// Judge a journal recorded earlier with a suite, and write the reports.
    Judge(JudgeArgs),
    /// Measure golive's accuracy: every reference shop (each style, each flaw) and every example
    /// integration through the bundled suites; prints `caught N/M mistakes, F false alarms on C
    /// compliant runs` and exits 0 only if every mistake was caught and nothing else failed.
    Accuracy(AccuracyArgs),
    /// Merge several golive JUnit files (e.g. one per provider) into one.
    JunitMerge {
        /// Where to write the merged file.
        #[arg(short, long)]
        output: PathBuf,
        /// The JUnit files to merge.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct SuitesArgs {
    #[command(subcommand)]
    action: Option<SuitesAction>,
}

#[derive(Subcommand)]
enum SuitesAction {
    /// Write the bundled suites (DIR/suites/) and reference targets (DIR/targets/) as files.
    Export {
        /// The folder to write into (created if missing).
        dir: PathBuf,
        /// Overwrite files that already exist.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The suite file (a provider's go-live checklist), or a bundled suite by provider or name
    /// (`kontocloud`; `golive suites` lists them) when no such file exists.
    #[arg(long)]
    suite: PathBuf,
    /// Your target file: how to start and drive your integration.
    #[arg(long, conflicts_with = "reference")]
    target: Option<PathBuf>,
    /// Instead of a target, drive the built-in reference shop of the suite's provider.
    #[arg(long)]
    reference: bool,
    /// The reference shop's style (with --reference).
    #[arg(long, requires = "reference")]
    style: Option<String>,
    /// Switch on a reference shop mistake (with --reference); repeatable.
    #[arg(long = "flaw", requires = "reference")]
    flaws: Vec<String>,
    /// Run only slice K of N of the scenarios (CI sharding; `golive junit-merge` recombines).
    #[arg(long, value_name = "K/N")]
    partition: Option<crate::partition::Partition>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct Common {
    /// Where to write junit.xml, report.html, report.json and the journal.
    #[arg(long, default_value = "reports")]
    reports: PathBuf,
    /// Run the provider's clocks faster (0.01 turns "3 minutes" into 1.8 s). Assessments use 1.
    /// Above 0, at most 10.
    #[arg(long, value_parser = crate::suite::bounds::parse_time_scale_arg)]
    time_scale: Option<f64>,
    /// How long to wait for a call the integration should make (overrides the suite's
    /// `wait_timeout_s`). Above 0, at most 86400 (one day).
    #[arg(long, value_parser = crate::suite::bounds::parse_duration_arg)]
    wait_timeout: Option<f64>,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct AccuracyArgs {
    /// The example integrations' cases (e.g. tests/examples/accuracy.yaml).
    #[arg(long)]
    examples: Option<PathBuf>,
    /// Runs at once (each is independent: its own sandbox, shop and port).
    #[arg(long, default_value_t = crate::accuracy::DEFAULT_JOBS, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Overrides every case's provider time scale.
    #[arg(long, value_parser = crate::suite::bounds::parse_time_scale_arg)]
    time_scale: Option<f64>,
    /// Only this provider's cases.
    #[arg(long)]
    provider: Option<String>,
    /// Only the reference shops' cases, or only the examples'.
    #[arg(long, value_enum)]
    only: Option<crate::accuracy::Only>,
    /// Where each run's reports go (one folder per case).
    #[arg(long, default_value = "reports/accuracy")]
    reports: PathBuf,
}

#[derive(Args)]
struct DemoArgs {
    /// The provider whose suite and reference shop to run, or `all`.
    #[arg(long, default_value = "kontocloud")]
    provider: String,
    /// The reference shop's style.
    #[arg(long)]
    style: Option<String>,
    /// Switch on a mistake in the reference shop; repeatable.
    #[arg(long = "flaw")]
    flaws: Vec<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct ValidateArgs {
    /// Suite files to check (or bundled suites by name, as for `run`).
    #[arg(long = "suite")]
    suites: Vec<PathBuf>,
    /// Target files to check (against every suite given).
    #[arg(long = "target")]
    targets: Vec<PathBuf>,
}

#[derive(Args)]
struct SandboxArgs {
    /// The provider to play (`kontocloud`, `smartpay`, `mobilepay`, `ppaas`).
    #[arg(long)]
    provider: String,
    /// The port to listen on (127.0.0.1); a free one if not given.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to append every exchange.
    #[arg(long, default_value = "reports/journal.jsonl")]
    journal: PathBuf,
    /// The suite whose sandbox settings apply (the provider's bundled suite if not given).
    #[arg(long)]
    suite: Option<PathBuf>,
    /// A `sandbox:` step's settings as JSON, e.g. '{"inject":[{"operation":"payment_status","status":500}]}'.
    #[arg(long)]
    settings: Option<String>,
}

#[derive(Args)]
struct JudgeArgs {
    /// The suite to judge with.
    #[arg(long)]
    suite: PathBuf,
    /// The recorded journal (`journal.jsonl` of a run or of `golive sandbox`).
    #[arg(long)]
    journal: PathBuf,
    /// Where to write junit.xml, report.html and report.json.
    #[arg(long, default_value = "reports")]
    reports: PathBuf,
}

#[derive(Args)]
struct ReferenceArgs {
    /// The provider (`kontocloud`...).
    provider: String,
    /// The port to listen on (127.0.0.1).
    #[arg(long)]
    port: u16,
    #[arg(long)]
    style: Option<String>,
    #[arg(long = "flaw")]
    flaws: Vec<String>,
}

/// Parses the arguments, runs, and returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            err!("golive: cannot start: {e}");
            return exit::RUN_FAILED;
        }
    };
    runtime.block_on(dispatch(cli.command))
}

/// golive's own diagnostics (a sandbox server or reference shop that stopped, a payment left
/// pending) go to stderr through `tracing`. `RUST_LOG` chooses how much (`RUST_LOG=golive=debug`);
/// by default only warnings and errors, so the console summary stays what a team reads.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .try_init();
}

async fn dispatch(command: Command) -> i32 {
    match command {
        Command::Run(args) => run_command(args, interruptible()).await,
        Command::Demo(args) => demo(args, interruptible()).await,
        Command::Validate(args) => validate(args),
        Command::Reference(args) => serve_reference(args).await,
        Command::Sandbox(args) => sandbox_command(args).await,
        Command::Judge(args) => judge_command(args),
        Command::Kinds { kind } => kinds_command(kind.as_deref()),
        Command::Suites(args) => suites_command(args),
        Command::Accuracy(args) => accuracy(args).await,
        Command::References => {
            for r in crate::providers::references() {
                out!("{} (styles: {})", r.provider, r.styles.join(", "));
                for (style, note) in r.styles.iter().zip(r.style_notes) {
                    out!("  --style {style}: {note}");
                }
                for f in r.flaws {
                    out!(
                        "  --flaw {:<28} {} (caught by {})",
                        f.name,
                        f.description,
                        f.caught_by.join(", ")
                    );
                }
            }
            exit::PASSED
        }
        Command::Bench {
            rounds,
            seconds,
            concurrency,
            volume,
            dir,
        } => match crate::bench::run(crate::bench::BenchConfig {
            rounds,
            seconds,
            concurrency,
            volume,
            dir,
        })
        .await
        {
            Ok(()) => exit::PASSED,
            Err(e) => fail(&e),
        },
        Command::BenchServer => match crate::bench::serve_bare().await {
            Ok(()) => exit::PASSED,
            Err(e) => fail(&e),
        },
        Command::JunitMerge { output, files } => match report::junit::merge(&files) {
            Ok(xml) => match std::fs::write(&output, xml) {
                Ok(()) => exit::PASSED,
                Err(e) => fail(&format!("cannot write {}: {e}", output.display())),
            },
            Err(e) => fail(&e.to_string()),
        },
    }
}

fn fail(message: &str) -> i32 {
    err!("golive: {message}");
    exit::RUN_FAILED
}

fn problems(p: &Problems) -> i32 {
    // In file order, as an editor would list them.
    let mut sorted = p.clone();
    sorted.0.sort_by(|a, b| {
        (&a.file, a.pos.line, a.pos.column).cmp(&(&b.file, b.pos.line, b.pos.column))
    });
    err!("{sorted}");
    err!("golive: {} problem(s); nothing was run", p.0.len());
    exit::RUN_FAILED
}

/// Loads a suite and checks everything that can be checked before a run.
fn load_suite(path: &Path) -> Result<suite::Loaded<suite::Suite>, Problems> {
    let s = run::load_suite_arg(path)?;
    let p = crate::validate::suite_problems(&s);
    if p.is_empty() {
        Ok(s)
    } else {
        Err(Problems(p))
    }
}

/// Takes over SIGINT and SIGTERM for a run: the first one asks the run to stop (it stops the
/// target, flushes the journal and writes partial reports); a second one kills every target
/// process group at once and exits with [`exit::INTERRUPTED`]. Also makes golive the reaper
/// of what its targets leave behind, so a target that detaches is still stopped.
fn interruptible() -> run::StopSignal {
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

async fn run_command(args: RunArgs, stop: run::StopSignal) -> i32 {
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

async fn execute(
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

async fn accuracy(args: AccuracyArgs) -> i32 {
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
const DEMO_TIME_SCALE: f64 = 0.1;

async fn demo(args: DemoArgs, stop: run::StopSignal) -> i32 {
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
fn demo_providers_known(providers: &[&str]) -> Result<(), String> {
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
fn remove_stale_demo_reports(reports: &Path) {
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

/// `golive kinds` (one line per kind) and `golive kinds KIND` (the kind in full).
fn kinds_command(kind: Option<&str>) -> i32 {
    let Some(name) = kind else {
        for k in crate::checks::kinds() {
            out!("{:<24} {}", k.name, k.summary);
        }
        out!("\n`golive kinds KIND` shows a kind's params, defaults and an example.");
        return exit::PASSED;
    };
    let suites: Vec<(&str, &str)> = run::bundled_suites()
        .into_iter()
        .map(|(_, file, text)| (file, text))
        .collect();
    match crate::checks::docs::describe(name, &suites) {
        Some(doc) => {
            let _ = write!(std::io::stdout(), "{doc}");
            exit::PASSED
        }
        None => fail(&crate::checks::unknown_kind(name)),
    }
}

/// `golive suites` and `golive suites export DIR`.
fn suites_command(args: SuitesArgs) -> i32 {
    match args.action {
        None => {
            for (provider, file, _) in run::bundled_suites() {
                let suite = match run::load_bundled_suite(provider) {
                    Ok(s) => s.value,
                    Err(e) => return fail(&e),
                };
                out!(
                    "{provider:<11} {file:<32} {} ({} scenarios, {} checks)",
                    suite.title,
                    suite.scenarios.len(),
                    suite.checks.len()
                );
            }
            out!("\nUse one by name: golive run --suite kontocloud --reference");
            out!("Write them out as files: golive suites export DIR");
            exit::PASSED
        }
        Some(SuitesAction::Export { dir, force }) => export_suites(&dir, force),
    }
}

/// The bundled suites and reference targets as (path under the export folder, text).
fn bundled_files() -> Vec<(String, &'static str)> {
    let mut files: Vec<(String, &'static str)> = run::bundled_suites()
        .iter()
        .map(|(_, name, text)| ((*name).to_owned(), *text))
        .collect();
    for r in crate::providers::references() {
        files.push((
            format!("targets/{}-reference.yaml", r.provider),
            r.target_yaml,
        ));
    }
    files
}

fn export_suites(dir: &Path, force: bool) -> i32 {
    let files = bundled_files();
    // All or nothing: a refused export leaves no half-written set behind.
    let existing: Vec<String> = files
        .iter()
        .map(|(name, _)| dir.join(name))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        return fail(&format!(
            "not overwriting {} (give --force to replace them)",
            existing.join(", ")
        ));
    }
    for (name, text) in &files {
        let path = dir.join(name);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        if let Err(e) = written {
            return fail(&format!("cannot write {}: {e}", path.display()));
        }
        out!("wrote {}", path.display());
    }
    exit::PASSED
}

fn validate(args: ValidateArgs) -> i32 {
    if args.suites.is_empty() && args.targets.is_empty() {
        return fail("give at least one --suite or --target file");
    }
    let mut all = Vec::new();
    let mut suites = Vec::new();
    for path in &args.suites {
        // Schema problems stop a file; golive's own rules and the pairing with targets are
        // still checked on a suite that got past the schema, so one run names every mistake.
        match run::load_suite_arg(path) {
            Ok(s) => {
                all.extend(crate::validate::suite_problems(&s));
                suites.push(s);
            }
            Err(p) => all.extend(p.0),
        }
    }
    for path in &args.targets {
        match suite::load_target(path) {
            Ok(t) => {
                for s in &suites {
                    all.extend(suite::cross_rules(s, &t));
                }
            }
            Err(p) => all.extend(p.0),
        }
    }
    if all.is_empty() {
        out!(
            "ok: {} suite(s) and {} target(s) are valid",
            args.suites.len(),
            args.targets.len()
        );
        exit::PASSED
    } else {
        problems(&Problems(all))
    }
}

async fn sandbox_command(args: SandboxArgs) -> i32 {
    if crate::providers::provider(&args.provider).is_none() {
        let known = crate::providers::ids();
        return fail(&format!(
            "golive cannot play provider `{}`; expected one of: {}",
            args.provider,
            known.join(", ")
        ));
    }
    let suite = match &args.suite {
        Some(path) => match load_suite(path) {
            Ok(s) => s,
            Err(p) => return problems(&p),
        },
        None => match run::load_bundled_suite(&args.provider) {
            Ok(s) => s,
            Err(e) => return fail(&e),
        },
    };
    let settings = match args.settings.as_deref().map(serde_json::from_str) {
        None => serde_json::Map::new(),
        Some(Ok(serde_json::Value::Object(m))) => m,
        Some(Ok(_)) => return fail("--settings must be a JSON object"),
        Some(Err(e)) => return fail(&format!("--settings is not JSON: {e}")),
    };
    crate::standalone::serve_sandbox(crate::standalone::SandboxConfig {
        provider: args.provider,
        port: args.port,
        journal: args.journal,
        suite,
        settings,
    })
    .await
}

fn judge_command(args: JudgeArgs) -> i32 {
    let suite = match load_suite(&args.suite) {
        Ok(s) => s,
        Err(p) => return problems(&p),
    };
    let judged = crate::standalone::judge(&suite, &args.journal, &args.reports);
    let summary = console::summary(&judged.report, &args.reports, console::use_color());
    out!("{summary}");
    judged.exit_code
}

async fn serve_reference(args: ReferenceArgs) -> i32 {
    let Some(r) = crate::providers::reference(&args.provider) else {
        return fail(&format!(
            "no reference shop for `{}`; expected one of: {}",
            args.provider,
            crate::providers::references()
                .iter()
                .map(|r| r.provider)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let style = args.style.unwrap_or_else(|| r.styles[0].to_owned());
    let flaws: BTreeSet<String> = args.flaws.into_iter().collect();
    if let Err(e) = r.validate(&style, &flaws) {
        return fail(&e);
    }
    let prefix = r.env_prefix;
    let sandbox_url = match std::env::var(format!("{prefix}_BASE_URL")) {
        Ok(v) => v,
        Err(_) => return fail(&format!("set {prefix}_BASE_URL to the sandbox's URL")),
    };
    // Every `<PREFIX>_<NAME>` variable is a credential (`KONTOCLOUD_USER_ID` → `user_id`).
    let credentials = std::env::vars()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(&format!("{prefix}_"))?;
            (name != "BASE_URL").then(|| (name.to_ascii_lowercase(), v))
        })
        .collect();
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot listen on 127.0.0.1:{}: {e}", args.port)),
    };
    let config = ShopConfig {
        sandbox_url,
        credentials,
        style,
        flaws,
        public_url: format!("http://127.0.0.1:{}", args.port),
    };
    err!(
        "golive: {} reference shop on {}",
        r.provider,
        config.public_url
    );
    (r.serve)(config, listener).await;
    exit::PASSED
}
