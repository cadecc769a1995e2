//! What the terminal shows: progress while the run goes, and a summary a developer reads in
//! ten seconds when it ends.
//!
//! Colour is chosen by `--color auto|always|never` ([`ColorChoice`]). `auto` follows the
//! NO_COLOR convention (<https://no-color.org>: none when `NO_COLOR` is set to anything but the
//! empty string) and CLICOLOR_FORCE (<https://bixense.com/clicolors/>: colour even into a pipe
//! when set to anything but `0`), and otherwise colours a terminal only (not CI logs).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::events::{EventSink, RunEvent};
use super::model::{count, Counts, RunReport, ScenarioResult, Severity, Verdict};
use super::redact::Secrets;
use super::{evidence_line, first_line, ReportPaths, Written};
use crate::journal::{Actor, Exchange};

/// Evidence lines shown per failure; the rest are in the reports.
const EVIDENCE_LINES: usize = 3;

/// `--color`: whether the console output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour a terminal, unless `NO_COLOR` says otherwise; `CLICOLOR_FORCE` colours a pipe too.
    #[default]
    Auto,
    /// Always, whatever the stream and the environment.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream that is (or is not) a terminal, in golive's environment.
    pub fn for_stream(self, terminal: bool) -> bool {
        self.decide(
            terminal,
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("CLICOLOR_FORCE").as_deref(),
        )
    }

    /// Whether stdout (the summary) is coloured.
    pub fn stdout(self) -> bool {
        self.for_stream(std::io::stdout().is_terminal())
    }

    /// Whether stderr (progress, `--verbose` lines, diagnostics) is coloured.
    pub fn stderr(self) -> bool {
        self.for_stream(std::io::stderr().is_terminal())
    }

    /// The decision itself, from the stream and the two variables: an explicit choice wins;
    /// for `auto`, a non-empty NO_COLOR turns colour off, then a CLICOLOR_FORCE other than
    /// empty or `0` turns it on, and otherwise only a terminal is coloured.
    pub fn decide(
        self,
        terminal: bool,
        no_color: Option<&std::ffi::OsStr>,
        clicolor_force: Option<&std::ffi::OsStr>,
    ) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                if no_color.is_some_and(|v| !v.is_empty()) {
                    false
                } else if clicolor_force.is_some_and(|v| !v.is_empty() && v != "0") {
                    true
                } else {
                    terminal
                }
            }
        }
    }
}

/// Whether the summary (printed to stdout) should be coloured, by the environment alone
/// (`--color auto`).
pub fn use_color() -> bool {
    ColorChoice::Auto.stdout()
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
    fn dim(&self, t: &str) -> String {
        self.wrap("2", t)
    }
    fn red(&self, t: &str) -> String {
        self.wrap("1;31", t)
    }
    fn green(&self, t: &str) -> String {
        self.wrap("1;32", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.wrap("1;33", t)
    }
    fn severity(&self, s: Severity) -> String {
        let word = format!("{:<8}", s.as_str());
        match s {
            Severity::Critical => self.red(&word),
            Severity::Major => self.yellow(&word),
            Severity::Minor => self.dim(&word),
        }
    }
}

/// The end-of-run summary: verdict, counts, each failure with its first evidence, each
/// scenario with its checks' verdicts, and where the reports are. `color` adds ANSI colours
/// (see [`use_color`]).
pub fn summary(report: &RunReport, reports_dir: &Path, color: bool) -> String {
    summary_with(
        report,
        Some(&ReportPaths::default().resolve(reports_dir)),
        color,
    )
}

/// [`summary`] of reports written where `written` says (`--junit PATH`...).
pub fn summary_written(report: &RunReport, written: &Written, color: bool) -> String {
    summary_with(report, Some(written), color)
}

/// The summary of a run whose reports could not be written: it lists no report file, since
/// none is there to open.
pub fn summary_unwritten(report: &RunReport, color: bool) -> String {
    summary_with(report, None, color)
}

fn summary_with(report: &RunReport, written: Option<&Written>, color: bool) -> String {
    let p = Paint(color);
    let c = &report.counts;
    let verdict = match report.verdict {
        Verdict::Passed => p.green("PASSED"),
        Verdict::Failed => p.red("FAILED"),
        Verdict::Error => p.yellow("ERROR"),
        Verdict::Incomplete => p.yellow("INCOMPLETE"),
        Verdict::Interrupted => p.yellow("INTERRUPTED"),
    };
    let mut out = format!(
        "golive {verdict}  {} → {}\n",
        p.bold(&report.suite.title),
        report.target.name
    );
    let not_judged = if c.errors > 0 {
        format!(" · {} not judged", c.errors)
    } else {
        String::new()
    };
    out.push_str(&format!(
        "  {} failed · {} passed · {} skipped{not_judged} of {} checks · {} scenarios in {:.1} s\n",
        c.failed,
        c.passed,
        c.skipped,
        c.total,
        report.scenarios.len(),
        report.duration_ms / 1000.0
    ));
    // What the run cost beyond the waits the suite scripted itself.
    if let Some(waits) = report.scripted_wait_ms.filter(|w| *w > 0.0) {
        out.push_str(&format!(
            "  {:.1} s of it scripted waits, {:.1} s the rest (exchanges, the integration, golive)\n",
            waits / 1000.0,
            (report.duration_ms - waits).max(0.0) / 1000.0
        ));
    }
    if let Some(filter) = &report.filter {
        out.push_str(&format!(
            "  {} {}\n",
            p.yellow("Filtered:"),
            filter.describe()
        ));
    }
    if let Some(error) = &report.run_error {
        out.push_str(&format!(
            "\n{} {}\n",
            p.yellow("Run error:"),
            error.trim_end()
        ));
    }
    if let Some(why) = &report.bailed {
        out.push_str(&format!(
            "\n{} {why}; the scenarios after it were not run\n",
            p.yellow("Stopped by --bail:")
        ));
    }
    if let Some(signal) = &report.interrupted {
        out.push_str(&format!(
            "\n{} by {signal}: these are partial results, judging only what ran\n",
            p.yellow("Interrupted")
        ));
    }
    if !report.not_run.is_empty() {
        out.push_str(&format!(
            "{} {}\n",
            p.yellow("Scenarios not run:"),
            report.not_run.join(", ")
        ));
    }
    if !report.incomplete.is_empty() {
        out.push_str(&format!(
            "\n{}\n",
            p.yellow("Incomplete: not everything the suite asked for was judged")
        ));
        for line in &report.incomplete {
            out.push_str(&format!("  {} {}\n", p.yellow("!"), first_line(line)));
        }
    }
    let failures: Vec<_> = report.failures().collect();
    if !failures.is_empty() {
        out.push_str(&format!("\n{}\n", p.bold("Failures:")));
        for f in failures {
            out.push_str(&format!(
                "  {} {} {}\n",
                p.red("✗"),
                p.severity(f.severity),
                p.bold(&f.name())
            ));
            out.push_str(&format!("      {}\n", first_line(&f.message)));
            for seq in f.evidence.iter().take(EVIDENCE_LINES) {
                out.push_str(&format!("      {}\n", p.dim(&evidence_line(report, *seq))));
            }
            if f.evidence.len() > EVIDENCE_LINES {
                out.push_str(&format!(
                    "      {}\n",
                    p.dim(&format!(
                        "… {} more in the report",
                        f.evidence.len() - EVIDENCE_LINES
                    ))
                ));
            }
        }
    }
    if !report.scenarios.is_empty() {
        out.push_str(&format!("\n{}\n", p.bold("Scenarios:")));
        let width = report
            .scenarios
            .iter()
            .map(|s| s.id.len())
            .max()
            .unwrap_or(0);
        for s in &report.scenarios {
            if let Some(reason) = &s.not_applicable {
                out.push_str(&format!(
                    "  {} {:<width$}  {}\n",
                    p.dim("-"),
                    s.id,
                    // The reason reads "not applicable: the shop does not offer …".
                    p.dim(reason)
                ));
                continue;
            }
            let tally = scenario_tally(report, s);
            let mark = if s.error.is_some() || tally.errors > 0 {
                p.yellow("!")
            } else if tally.failed > 0 {
                p.red("✗")
            } else {
                p.green("✓")
            };
            let mut parts = Vec::new();
            if tally.passed > 0 {
                parts.push(p.green(&format!("✓ {} passed", tally.passed)));
            }
            if tally.failed > 0 {
                parts.push(p.red(&format!("✗ {} failed", tally.failed)));
            }
            if tally.skipped > 0 {
                parts.push(p.dim(&format!("– {} skipped", tally.skipped)));
            }
            if tally.errors > 0 {
                parts.push(p.yellow(&format!("! {} not judged", tally.errors)));
            }
            if parts.is_empty() {
                parts.push(p.dim("no check judged it"));
            }
            out.push_str(&format!("  {mark} {:<width$}  {}\n", s.id, parts.join(" ")));
            if let Some(e) = &s.error {
                out.push_str(&format!(
                    "      {} {}\n",
                    p.yellow("incomplete:"),
                    first_line(e)
                ));
            }
        }
    }
    match written {
        Some(w) => out.push_str(&format!(
            "\nReports: {}\n         {}\n         {}\n",
            w.html.display(),
            w.junit.display(),
            w.json.display()
        )),
        None => out.push_str("\nNo report was written (see the error below).\n"),
    }
    out
}

/// The verdicts that judged one scenario: those given for it, and whole-run verdicts whose
/// evidence lies in its traffic.
fn scenario_tally(report: &RunReport, scenario: &ScenarioResult) -> Counts {
    let mine: Vec<_> = report
        .checks
        .iter()
        .filter(|c| match &c.scenario {
            Some(id) => *id == scenario.id,
            None => c.evidence.iter().any(|e| scenario.exchanges.contains(e)),
        })
        .cloned()
        .collect();
    count(&mine)
}

enum Display {
    /// An indicatif bar over the scenarios (a terminal that takes colour).
    Bar(ProgressBar),
    /// One line per finished scenario (CI logs, NO_COLOR), coloured when `color`.
    Lines {
        out: Box<dyn Write + Send>,
        color: bool,
    },
}

struct State {
    display: Display,
    total: usize,
    done: usize,
    current: Option<String>,
    /// How many lanes the run drives at once (`--jobs N`): more than one, and each exchange
    /// line says its lane.
    lanes: usize,
    /// The run's secrets, and those learned from the exchanges shown so far (`--verbose`),
    /// as the reports learn them.
    secrets: Secrets,
}

/// Shows the run's progress on stderr: a progress bar on a terminal, plain lines elsewhere
/// (`[2/9] purchase_captured … driven to its end (1.2 s)`: the checks judge it when the run
/// ends, so the line says only that the journey was made; the summary gives the verdicts
/// per scenario). Scenario errors are masked with the run's
/// secrets before they are shown, like everything else that leaves the run.
pub struct Progress {
    state: Mutex<State>,
}

impl Progress {
    /// A bar when stderr is a terminal and coloured (`color`, see [`ColorChoice::stderr`]),
    /// lines otherwise (coloured when `color`).
    pub fn new(secrets: Secrets, color: bool) -> Self {
        if std::io::stderr().is_terminal() && color {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            Self::with_display(Display::Bar(bar), secrets)
        } else {
            Self::colored_lines(Box::new(std::io::stderr()), secrets, color)
        }
    }

    /// Plain lines to any writer.
    pub fn lines(out: Box<dyn Write + Send>, secrets: Secrets) -> Self {
        Self::colored_lines(out, secrets, false)
    }

    /// Lines to any writer, coloured or not.
    pub fn colored_lines(out: Box<dyn Write + Send>, secrets: Secrets, color: bool) -> Self {
        Self::with_display(Display::Lines { out, color }, secrets)
    }

    fn with_display(display: Display, secrets: Secrets) -> Self {
        if let Display::Bar(bar) = &display {
            let style = ProgressStyle::with_template(
                "{spinner:.cyan} [{pos}/{len}] {wide_msg} {elapsed:.dim}",
            )
            .expect("valid progress template");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Progress {
            state: Mutex::new(State {
                display,
                total: 0,
                done: 0,
                current: None,
                lanes: 1,
                secrets,
            }),
        }
    }

    fn say(state: &mut State, line: &str, colored: Option<&str>) {
        match &mut state.display {
            Display::Bar(bar) => bar.println(colored.unwrap_or(line)),
            Display::Lines { out, color } => {
                let line = if *color {
                    colored.unwrap_or(line)
                } else {
                    line
                };
                // A progress line that cannot be written is not worth failing the run for.
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
    }
}

/// One exchange as `--verbose` shows it, masked as the reports mask it:
/// `#12 integration POST /user/u1/issue → 200 (45 ms) [issue_token]` (the operation, else the
/// exchange's role: `[trigger:start_payment]`, `[callback]`). `secrets` learns from
/// the exchange first (a token issued here is masked here and in every later line).
pub fn exchange_line(exchange: &Exchange, secrets: &mut Secrets) -> String {
    secrets.learn_from(exchange);
    let mut ex = exchange.clone();
    secrets.mask_exchange(&mut ex);
    let actor = match ex.actor {
        Actor::Integration => "integration",
        Actor::Browser => "browser",
        Actor::Provider => "provider",
        Actor::Harness => "harness",
    };
    let outcome = match (&ex.response, &ex.error) {
        (Some(r), _) => r.status.to_string(),
        (None, Some(e)) => format!("error: {}", first_line(e)),
        (None, None) => "no answer".to_string(),
    };
    // The provider's operation; else what the exchange is in the journey (a trigger, the
    // callback, the order probe).
    let what = ex
        .operation()
        .or(Some(ex.role.as_str()).filter(|r| !r.is_empty() && *r != "api"));
    let operation = what.map(|o| format!(" [{o}]")).unwrap_or_default();
    format!(
        "#{} {actor} {} {} → {outcome} ({:.0} ms){operation}",
        ex.seq,
        ex.request.method,
        ex.path(),
        ex.duration_ms
    )
}

impl EventSink for Progress {
    fn event(&self, event: &RunEvent) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            RunEvent::Starting {
                suite,
                target,
                sandbox_url,
                scenarios,
                lane,
                lanes,
            } => {
                state.total = *scenarios;
                state.lanes = *lanes;
                if let Display::Bar(bar) = &state.display {
                    bar.set_length(*scenarios as u64);
                    bar.set_message("starting the target");
                }
                let line = match (lane, lanes) {
                    (_, 0 | 1) => format!(
                        "golive: {suite} against {target}, {scenarios} scenarios (sandbox at {sandbox_url})"
                    ),
                    // Each lane says where its sandbox is; the first also what runs.
                    (0, n) => format!(
                        "golive: {suite} against {target}, {scenarios} scenarios in {n} lanes (lane 1: sandbox at {sandbox_url})"
                    ),
                    (k, _) => format!("        lane {}: sandbox at {sandbox_url}", k + 1),
                };
                Self::say(&mut state, &line, None);
            }
            RunEvent::TargetReady {
                base_url,
                after_ms,
                lane,
            } => {
                let whose = match state.lanes {
                    0 | 1 => String::new(),
                    _ => format!("lane {}: ", lane + 1),
                };
                let line = format!(
                    "{whose}target ready at {} after {:.1} s",
                    state.secrets.mask_text(base_url),
                    after_ms / 1000.0
                );
                Self::say(&mut state, &line, None);
            }
            RunEvent::ScenarioStarted { id, title, .. } => {
                state.current = Some(id.clone());
                if let Display::Bar(bar) = &state.display {
                    bar.set_message(format!("{id}: {title}"));
                }
            }
            RunEvent::StepFinished { scenario, step, ok } => {
                if !ok {
                    let line = format!("      {scenario}: step {step} did not succeed");
                    Self::say(&mut state, &line, None);
                }
            }
            RunEvent::ScenarioFinished {
                id,
                error,
                duration_ms,
            } => {
                state.done += 1;
                state.current = None;
                let total = state.total.max(state.done);
                let took = format!("({:.1} s)", duration_ms / 1000.0);
                let (plain, colored) = match error {
                    None => (
                        format!("[{}/{total}] {id} … driven to its end {took}", state.done),
                        format!(
                            "[{}/{total}] {id} … \u{1b}[32mdriven to its end\u{1b}[0m {took}",
                            state.done
                        ),
                    ),
                    Some(e) => {
                        let e = state.secrets.mask_text(first_line(e));
                        (
                            format!("[{}/{total}] {id} … incomplete: {e} {took}", state.done),
                            format!(
                                "[{}/{total}] {id} … \u{1b}[33mincomplete\u{1b}[0m: {e} {took}",
                                state.done
                            ),
                        )
                    }
                };
                Self::say(&mut state, &plain, Some(&colored));
                if let Display::Bar(bar) = &state.display {
                    bar.inc(1);
                }
            }
            RunEvent::Exchange(exchange) => {
                let mut line = exchange_line(exchange, &mut state.secrets);
                if state.lanes > 1 {
                    line.push_str(&format!(" · lane {}", exchange.facts.lane + 1));
                }
                let dim = format!("\u{1b}[2m{line}\u{1b}[0m");
                Self::say(&mut state, &line, Some(&dim));
            }
            RunEvent::ExchangesUnseen { first, last } => {
                let line = if first == last {
                    format!("#{first} went by unseen (the journal has it)")
                } else {
                    format!("#{first}–#{last} went by unseen (the journal has them)")
                };
                Self::say(&mut state, &line, None);
            }
            RunEvent::Judging { checks } => {
                if let Display::Bar(bar) = &state.display {
                    bar.finish_and_clear();
                }
                let line = format!("judging {checks} checks …");
                Self::say(&mut state, &line, None);
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Display::Bar(bar) = &state.display {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests;
