//! The command line: raw arguments are turned into a validated run before anything starts.

use std::io::Write;
use std::path::Path;

use clap::Parser;

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
use crate::report::Verdict;
use crate::report::{self};
use crate::run::{self};
use crate::suite::{self, Problems};
use crate::Error;

mod args;
mod assess;
mod serve;
mod starter;
mod suites;

pub use args::Cli;
use args::*;
use assess::*;
use serve::*;
use suites::*;

/// Parses the arguments, runs, and returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let color = match &cli.command {
        Command::Run(a) => a.common.color,
        Command::Demo(a) => a.common.color,
        _ => Color::Auto,
    };
    init_tracing(report::console::ColorChoice::from(color).stderr());
    let ended = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(dispatch(cli.command)),
        Err(e) => Err(Error::Run(format!("cannot start: {e}"))),
    };
    if let Err(e) = &ended {
        say(e);
    }
    exit::code(&ended)
}

/// golive's own diagnostics (a sandbox server or reference shop that stopped, a payment left
/// pending) go to stderr through `tracing`. `RUST_LOG` chooses how much (`RUST_LOG=golive=debug`);
/// by default only warnings and errors, so the console summary stays what a team reads.
/// Coloured as `--color` says for stderr.
fn init_tracing(color: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .try_init();
}

/// What a command ends with: a verdict (`passed` for a command that did its work), or the
/// error that stopped it. [`exit::code`] turns it into the exit code.
type Ended = Result<Verdict, Error>;

async fn dispatch(command: Command) -> Ended {
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
        Command::Provider { provider } => starter::provider_command(&provider),
        Command::Init(args) => starter::init_command(args),
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
            Ok(Verdict::Passed)
        }
        Command::Bench {
            rounds,
            seconds,
            concurrency,
            volume,
            dir,
        } => {
            crate::bench::run(crate::bench::BenchConfig {
                rounds,
                seconds,
                concurrency,
                volume,
                dir,
            })
            .await?;
            Ok(Verdict::Passed)
        }
        Command::BenchServer => {
            crate::bench::serve_bare().await?;
            Ok(Verdict::Passed)
        }
        Command::JunitMerge { output, files } => {
            let xml = report::junit::merge(&files).map_err(|e| Error::Run(e.to_string()))?;
            std::fs::write(&output, xml)
                .map_err(|e| Error::Run(format!("cannot write {}: {e}", output.display())))?;
            Ok(Verdict::Passed)
        }
    }
}

/// Says on stderr what stopped a command: a file's problems in file order, as an editor would
/// list them, and how many; anything else on one line.
fn say(error: &Error) {
    match error {
        Error::Input(p) => {
            let mut sorted = p.clone();
            sorted.0.sort_by(|a, b| {
                (&a.file, a.pos.line, a.pos.column).cmp(&(&b.file, b.pos.line, b.pos.column))
            });
            err!("{sorted}");
            err!("golive: {} problem(s); nothing was run", p.0.len());
        }
        Error::Usage(m) | Error::Run(m) | Error::Interrupted(m) | Error::Bug(m) => {
            err!("golive: {m}");
        }
    }
}

/// Loads a suite and checks everything that can be checked before a run.
fn load_suite(path: &Path) -> Result<suite::Loaded<suite::Suite>, Error> {
    load_suite_with(path, &[])
}

/// [`load_suite`] with `--var`s set in every scenario first, so validation knows them.
fn load_suite_with(
    path: &Path,
    vars: &[run::vars::VarOverride],
) -> Result<suite::Loaded<suite::Suite>, Error> {
    let mut s = run::load_suite_arg(path)?;
    run::vars::apply(&mut s.value, vars)?;
    let p = crate::validate::suite_problems(&s);
    if p.is_empty() {
        Ok(s)
    } else {
        Err(Error::Input(Problems(p)))
    }
}
