//! The argument model: every command and its flags, as clap reads them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "golive",
    version,
    about = "Pass a payment provider's Go-Live Assessment before the reviewer looks",
    long_about = "golive plays a payment provider's sandbox, drives your integration through real payment journeys, records every exchange, judges the traffic against the provider's go-live checklist, and writes JUnit (for CI) and an HTML report a reviewer can read.\n\nExit codes: 0 every check passed and everything the suite asked for was judged; 1 a check failed; 2 the run could not be made or was incomplete (a bad suite or target, a target that did not start or exited during the run, a port already taken, a scenario not driven to its end, a check nothing could judge); 130 interrupted by SIGINT or SIGTERM (the target is stopped and partial reports marked interrupted are written; a second Ctrl-C stops at once)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Run a suite against your integration (a target file) or a built-in reference shop.
    #[command(
        after_help = "Examples:\n  golive run --suite kontocloud --target my-shop.yaml\n  golive run --suite kontocloud --reference --flaw trust_callback\n  golive run --suite suites/smartpay-go-live.yaml --target shop.yaml --partition 1/2 --reports reports/1\n  golive run kontocloud --reference --scenario 'purchase_*' --check 'KC-TOKEN-*'\n  golive run kontocloud --target my-shop.yaml --bail --verbose --color never\n  golive run kontocloud --target my-shop.yaml --var currency=EUR --var shop_id=42\n  golive run kontocloud --target my-shop.yaml --junit ci/junit.xml --html public/golive.html"
    )]
    Run(RunArgs),
    /// Run bundled suites against the built-in reference shops: needs nothing but golive.
    #[command(
        after_help = "Examples:\n  golive demo\n  golive demo --provider ppaas\n  golive demo --flaw trust_callback --scenario 'purchase_*' --bail\n  golive demo -v --check KC-STATUS-VERIFIED"
    )]
    Demo(DemoArgs),
    /// Check suite and target files against the schemas and each other, without running.
    #[command(
        after_help = "Examples:\n  golive validate --suite kontocloud --target my-shop.yaml\n  golive validate --suite kontocloud --target my-shop.yaml --var shop_id=42"
    )]
    Validate(ValidateArgs),
    /// Serve a built-in reference shop (what `targets/*-reference.yaml` starts).
    #[command(
        after_help = "Examples:\n  golive reference kontocloud --port 8080 --flaw token_per_call"
    )]
    Reference(ReferenceArgs),
    /// List the check kinds a suite can use, or describe one: its params with types and
    /// defaults, and an example (`golive kinds token_reuse`).
    #[command(after_help = "Examples:\n  golive kinds\n  golive kinds token_reuse")]
    Kinds {
        /// The kind to describe.
        kind: Option<String>,
    },
    /// List the suites bundled in golive, or write them and the reference targets out
    /// (`golive suites export my-suites`). A bundled suite is usable by name without a file:
    /// `golive run --suite kontocloud --reference`.
    #[command(after_help = "Examples:\n  golive suites\n  golive suites export my-golive")]
    Suites(SuitesArgs),
    /// List the built-in reference shops, their styles and flaws.
    #[command(after_help = "Examples:\n  golive references")]
    References,
    /// What a team needs to write a target for a provider: the sandbox's operations (paths,
    /// auth, where your ids are read), the credentials, the triggers and webhooks the bundled
    /// suite uses with the variables each is handed (`golive provider smartpay`).
    #[command(after_help = "Examples:\n  golive provider smartpay")]
    Provider {
        /// The provider (`golive suites` lists them).
        provider: String,
    },
    /// Write a starter target for your own integration: every trigger, webhook and credential
    /// the provider's bundled suite needs, `TODO` where your values go
    /// (`golive init --provider ppaas --out my-service.yaml`; then `golive validate`).
    #[command(
        after_help = "Examples:\n  golive init --provider ppaas --out my-service.yaml\n  golive validate --suite ppaas --target my-service.yaml"
    )]
    Init(InitArgs),
    /// Measure golive's sandbox against a bare axum handler side by side, then memory, judging
    /// and reporting over a large journal, and print the figures.
    #[command(after_help = "Examples:\n  golive bench --rounds 3 --seconds 4 --volume 200000")]
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
    #[command(
        after_help = "Examples:\n  golive sandbox --provider kontocloud --port 4010 --journal journal.jsonl"
    )]
    Sandbox(SandboxArgs),
    /// Judge a journal recorded earlier with a suite, and write the reports.
    #[command(
        after_help = "Examples:\n  golive judge --suite kontocloud --journal journal.jsonl --reports reports"
    )]
    Judge(JudgeArgs),
    /// Measure golive's accuracy: every reference shop (each style, each flaw) and every example
    /// integration through the bundled suites; prints `caught N/M mistakes, F false alarms on C
    /// compliant runs` and exits 0 only if every mistake was caught and nothing else failed.
    #[command(
        after_help = "Examples:\n  golive accuracy --jobs 8\n  golive accuracy --only examples --examples tests/examples/accuracy.yaml"
    )]
    Accuracy(AccuracyArgs),
    /// Merge several golive JUnit files (e.g. one per provider) into one.
    #[command(
        after_help = "Examples:\n  golive junit-merge --output junit.xml reports/1/junit.xml reports/2/junit.xml"
    )]
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
pub(super) struct SuitesArgs {
    #[command(subcommand)]
    pub(super) action: Option<SuitesAction>,
}

#[derive(Subcommand)]
pub(super) enum SuitesAction {
    /// Write the bundled suites (DIR/suites/) and reference targets (DIR/targets/) as files.
    #[command(
        after_help = "Examples:\n  golive suites export my-golive\n  golive suites export my-golive --force"
    )]
    Export {
        /// The folder to write into (created if missing).
        dir: PathBuf,
        /// Overwrite files that already exist.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
pub(super) struct RunArgs {
    /// The suite file (a provider's go-live checklist), or a bundled suite by provider or name
    /// (`kontocloud`; `golive suites` lists them) when no such file exists; as `--suite SUITE`
    /// or first (`golive run kontocloud --target my-shop.yaml`).
    #[arg(
        value_name = "SUITE",
        required_unless_present = "suite_flag",
        conflicts_with = "suite_flag"
    )]
    suite_arg: Option<PathBuf>,
    #[arg(long = "suite", value_name = "SUITE", hide_short_help = true)]
    suite_flag: Option<PathBuf>,
    /// Your target file: how to start and drive your integration.
    #[arg(long, conflicts_with = "reference")]
    pub(super) target: Option<PathBuf>,
    /// Instead of a target, drive the built-in reference shop of the suite's provider.
    #[arg(long)]
    pub(super) reference: bool,
    /// The reference shop's style (with --reference).
    #[arg(long, requires = "reference")]
    pub(super) style: Option<String>,
    /// Switch on a reference shop mistake (with --reference); repeatable.
    #[arg(long = "flaw", requires = "reference")]
    pub(super) flaws: Vec<String>,
    /// Run only slice K of N of the scenarios (CI sharding; `golive junit-merge` recombines).
    #[arg(long, value_name = "K/N")]
    pub(super) partition: Option<crate::partition::Partition>,
    #[command(flatten)]
    pub(super) common: Common,
}

#[derive(Args)]
pub(super) struct Common {
    /// Where to write junit.xml, report.html, report.json and the journal (`--junit`,
    /// `--html` and `--json` send one format elsewhere; the journal stays here).
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub(super) reports: PathBuf,
    /// Write the JUnit report to this file instead of DIR/junit.xml.
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub(super) junit: Option<PathBuf>,
    /// Write the HTML report to this file instead of DIR/report.html.
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub(super) html: Option<PathBuf>,
    /// Write the JSON report to this file instead of DIR/report.json.
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub(super) json: Option<PathBuf>,
    /// Run only the scenarios whose id matches (`*` any characters, `?` one: `purchase_*`);
    /// repeatable. Checks asked for only in the others are left out; the reports say so.
    #[arg(long = "scenario", value_name = "GLOB", help_heading = "Selection")]
    pub(super) scenarios: Vec<String>,
    /// Judge and report only the checks whose id matches (`KC-TOKEN-*`); repeatable.
    #[arg(long = "check", value_name = "GLOB", help_heading = "Selection")]
    pub(super) checks: Vec<String>,
    /// Stop after the first scenario with a failed check (or not driven to its end); the
    /// reports are written and list the scenarios after it as not run.
    #[arg(long, help_heading = "Selection")]
    pub(super) bail: bool,
    /// Set a scenario variable in every scenario for the target's templates (`{{ KEY }}`),
    /// overriding the suite's; repeatable. A number in the suite stays a number.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub(super) vars: Vec<crate::run::vars::VarOverride>,
    /// Print every exchange as one masked line as it happens:
    /// `#seq actor METHOD path → status (ms) [operation]`.
    #[arg(long, short, conflicts_with = "quiet", help_heading = "Output")]
    pub(super) verbose: bool,
    /// Colour the console: auto (a terminal, unless NO_COLOR is set; CLICOLOR_FORCE forces
    /// it), always or never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Color::Auto, help_heading = "Output")]
    pub(super) color: Color,
    /// Run the provider's clocks faster (0.01 turns "3 minutes" into 1.8 s). Assessments use 1.
    /// Above 0, at most 10.
    #[arg(long, value_parser = crate::suite::bounds::parse_time_scale_arg)]
    pub(super) time_scale: Option<f64>,
    /// How long to wait for a call the integration should make (overrides the suite's
    /// `wait_timeout_s`). Above 0, at most 86400 (one day).
    #[arg(long, value_parser = crate::suite::bounds::parse_duration_arg)]
    pub(super) wait_timeout: Option<f64>,
    /// No progress display.
    #[arg(long, short, help_heading = "Output")]
    pub(super) quiet: bool,
    /// Run the scenarios in N lanes at once, each with its own sandbox and its own copy of the
    /// integration (the target needs a `start` command); the verdicts are those of a run one
    /// after another. 1 to 64.
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(super) jobs: u16,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Color {
    Auto,
    Always,
    Never,
}

impl From<Color> for crate::report::console::ColorChoice {
    fn from(c: Color) -> Self {
        match c {
            Color::Auto => Self::Auto,
            Color::Always => Self::Always,
            Color::Never => Self::Never,
        }
    }
}

#[derive(Args)]
pub(super) struct AccuracyArgs {
    /// The example integrations' cases (e.g. tests/examples/accuracy.yaml).
    #[arg(long)]
    pub(super) examples: Option<PathBuf>,
    /// Runs at once (each is independent: its own sandbox, shop and port).
    #[arg(long, default_value_t = crate::accuracy::DEFAULT_JOBS, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(super) jobs: u16,
    /// Overrides every case's provider time scale.
    #[arg(long, value_parser = crate::suite::bounds::parse_time_scale_arg)]
    pub(super) time_scale: Option<f64>,
    /// Only this provider's cases.
    #[arg(long)]
    pub(super) provider: Option<String>,
    /// Only the reference shops' cases, or only the examples'.
    #[arg(long, value_enum)]
    pub(super) only: Option<crate::accuracy::Only>,
    /// Where each run's reports go (one folder per case).
    #[arg(long, default_value = "reports/accuracy")]
    pub(super) reports: PathBuf,
}

#[derive(Args)]
pub(super) struct DemoArgs {
    /// The provider whose suite and reference shop to run, or `all`.
    #[arg(long, default_value = "kontocloud")]
    pub(super) provider: String,
    /// The reference shop's style.
    #[arg(long)]
    pub(super) style: Option<String>,
    /// Switch on a mistake in the reference shop; repeatable.
    #[arg(long = "flaw")]
    pub(super) flaws: Vec<String>,
    #[command(flatten)]
    pub(super) common: Common,
}

impl RunArgs {
    /// The suite, however it was given (clap requires one of the two).
    pub(super) fn suite(&self) -> &std::path::Path {
        self.suite_arg
            .as_deref()
            .or(self.suite_flag.as_deref())
            .unwrap_or(std::path::Path::new(""))
    }
}

#[derive(Args)]
pub(super) struct ValidateArgs {
    /// Suite files to check (or bundled suites by name, as for `run`).
    #[arg(long = "suite")]
    pub(super) suites: Vec<PathBuf>,
    /// Target files to check (against every suite given).
    #[arg(long = "target")]
    pub(super) targets: Vec<PathBuf>,
    /// A scenario variable the run will be given (`--var` of `run`), so templates may use it.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub(super) vars: Vec<crate::run::vars::VarOverride>,
}

#[derive(Args)]
pub(super) struct SandboxArgs {
    /// The provider to play (`kontocloud`, `smartpay`, `mobilepay`, `ppaas`).
    #[arg(long)]
    pub(super) provider: String,
    /// The port to listen on (127.0.0.1); a free one if not given.
    #[arg(long, default_value_t = 0)]
    pub(super) port: u16,
    /// Where to append every exchange.
    #[arg(long, default_value = "reports/journal.jsonl")]
    pub(super) journal: PathBuf,
    /// The suite whose sandbox settings apply (the provider's bundled suite if not given).
    #[arg(long)]
    pub(super) suite: Option<PathBuf>,
    /// A `sandbox:` step's settings as JSON, e.g. '{"inject":[{"operation":"payment_status","status":500}]}'.
    #[arg(long)]
    pub(super) settings: Option<String>,
}

#[derive(Args)]
pub(super) struct JudgeArgs {
    /// The suite to judge with.
    #[arg(long)]
    pub(super) suite: PathBuf,
    /// The recorded journal (`journal.jsonl` of a run or of `golive sandbox`).
    #[arg(long)]
    pub(super) journal: PathBuf,
    /// Where to write junit.xml, report.html and report.json.
    #[arg(long, default_value = "reports")]
    pub(super) reports: PathBuf,
}

#[derive(Args)]
pub(super) struct ReferenceArgs {
    /// The provider (`kontocloud`...).
    pub(super) provider: String,
    /// The port to listen on (127.0.0.1).
    #[arg(long)]
    pub(super) port: u16,
    #[arg(long)]
    pub(super) style: Option<String>,
    #[arg(long = "flaw")]
    pub(super) flaws: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub(super) struct InitArgs {
    /// The provider your integration talks to.
    #[arg(long)]
    pub provider: String,
    /// Where to write the target.
    #[arg(long, default_value = "my-shop.yaml")]
    pub out: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// Every command's help ends with examples, and each example is a command line golive
    /// accepts as written (a renamed flag breaks this test, not a reader's copy-paste).
    #[test]
    fn every_command_has_examples_that_parse() {
        let cli = Cli::command();
        let mut checked = 0;
        // Subcommands of subcommands too (`golive suites export`): each is a command a
        // team reads the help of.
        let nested: Vec<&clap::Command> = cli
            .get_subcommands()
            .flat_map(|s| std::iter::once(s).chain(s.get_subcommands()))
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .collect();
        for sub in nested {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let examples: Vec<&str> = help
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("golive "))
                .collect();
            assert!(
                !examples.is_empty(),
                "`golive {}` has no example",
                sub.get_name()
            );
            for example in examples {
                let cli = match Cli::try_parse_from(shell_words(example)) {
                    Ok(cli) => cli,
                    Err(e) => panic!("`{example}` does not parse: {e}"),
                };
                selection_applies(example, &cli.command);
                checked += 1;
            }
        }
        assert!(checked >= 24, "{checked}");
    }

    /// The README's command lines (in its `sh` blocks) parse as golive reads them, and their
    /// filters select something: a flag renamed or a glob gone stale breaks this test.
    #[test]
    fn the_readmes_command_lines_parse() {
        let readme = include_str!("../../README.md");
        let mut in_sh = false;
        let mut checked = 0;
        for line in readme.lines() {
            if line.starts_with("```") {
                in_sh = line == "```sh";
                continue;
            }
            let command = line.split(" #").next().unwrap_or("").trim();
            let command = command
                .strip_prefix("cargo run -- ")
                .map(|c| format!("golive {c}"));
            let command =
                command.unwrap_or_else(|| line.split(" #").next().unwrap_or("").trim().to_owned());
            if !in_sh || !command.starts_with("golive ") {
                continue;
            }
            let cli = match Cli::try_parse_from(shell_words(&command)) {
                Ok(cli) => cli,
                Err(e) => panic!("README: `{command}` does not parse: {e}"),
            };
            selection_applies(&command, &cli.command);
            checked += 1;
        }
        assert!(checked >= 20, "{checked}");
    }

    /// The words a shell makes of an example: split at spaces, single quotes taken off.
    fn shell_words(example: &str) -> Vec<String> {
        example
            .split_whitespace()
            .map(|w| w.trim_matches('\'').to_owned())
            .collect()
    }

    /// An example's `--scenario`/`--check` select something in the bundled suite it runs, and
    /// its `--var`s apply to it: an example that would stop at a usage error is no example.
    fn selection_applies(example: &str, command: &super::Command) {
        let (suite, common) = match command {
            super::Command::Run(run) => (run.suite().display().to_string(), &run.common),
            super::Command::Demo(demo) => (demo.provider.clone(), &demo.common),
            _ => return,
        };
        let Some((_, text)) = crate::run::bundled_suite_named(std::path::Path::new(&suite)) else {
            return;
        };
        let mut suite = crate::suite::parse_suite(text, std::path::Path::new("bundled"))
            .expect("a bundled suite")
            .value;
        crate::run::vars::apply(&mut suite, &common.vars)
            .unwrap_or_else(|e| panic!("`{example}`: {e}"));
        let selection = crate::run::filter::Selection::new(&common.scenarios, &common.checks);
        if let Err(e) = crate::run::filter::select(&selection, &mut suite) {
            panic!("`{example}`: {e}");
        }
    }

    #[test]
    fn the_new_habits_parse_into_their_model() {
        let cli = Cli::try_parse_from([
            "golive",
            "run",
            "kontocloud",
            "--reference",
            "--scenario",
            "purchase_*",
            "--scenario",
            "forged_*",
            "--check",
            "KC-*",
            "--bail",
            "-v",
            "--color",
            "always",
            "--var",
            "currency=SEK",
            "--junit",
            "j.xml",
            "--html",
            "h.html",
            "--json",
            "r.json",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let super::Command::Run(run) = cli.command else {
            panic!("a run")
        };
        let c = &run.common;
        assert_eq!(c.scenarios, ["purchase_*", "forged_*"]);
        assert_eq!(c.checks, ["KC-*"]);
        assert!(c.bail && c.verbose && !c.quiet);
        assert_eq!(c.color, super::Color::Always);
        assert_eq!(c.vars[0].key, "currency");
        assert_eq!(c.junit.as_deref(), Some(std::path::Path::new("j.xml")));
        let err = |args: &[&str]| Cli::try_parse_from(args).err().map(|e| e.kind());
        use clap::error::ErrorKind;
        assert_eq!(
            err(&["golive", "demo", "-v", "-q"]),
            Some(ErrorKind::ArgumentConflict)
        );
        assert_eq!(
            err(&["golive", "demo", "--color", "sometimes"]),
            Some(ErrorKind::InvalidValue)
        );
        assert_eq!(
            err(&["golive", "demo", "--var", "order_id=1"]),
            Some(ErrorKind::ValueValidation)
        );
    }

    #[test]
    fn the_suite_is_given_first_or_as_a_flag_but_not_both() {
        let suite = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(super::Command::Run(run)) => Ok(run.suite().to_path_buf()),
            Ok(_) => panic!("not a run"),
            Err(e) => Err(e.kind()),
        };
        let given = ["golive", "run", "kontocloud", "--reference"];
        assert_eq!(suite(&given), Ok("kontocloud".into()));
        let flag = ["golive", "run", "--suite", "s.yaml", "--reference"];
        assert_eq!(suite(&flag), Ok("s.yaml".into()));
        let both = ["golive", "run", "a", "--suite", "b", "--reference"];
        assert_eq!(suite(&both), Err(clap::error::ErrorKind::ArgumentConflict));
        let none = ["golive", "run", "--reference"];
        assert_eq!(
            suite(&none),
            Err(clap::error::ErrorKind::MissingRequiredArgument)
        );
    }
}
