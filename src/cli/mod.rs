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
use crate::report::{self};
use crate::run::{self};
use crate::suite::{self, Problems};

mod args;
mod assess;
mod serve;
mod suites;

pub use args::Cli;
use args::*;
use assess::*;
use serve::*;
use suites::*;

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
