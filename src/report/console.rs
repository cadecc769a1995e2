//! What the terminal shows: progress while the run goes, and a summary a developer reads in
//! ten seconds when it ends.
//!
//! Colour follows the NO_COLOR convention (<https://no-color.org>): none when `NO_COLOR` is set
//! to anything but the empty string, nor when the output is not a terminal (CI logs).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::events::{EventSink, RunEvent};
use super::model::{RunReport, Severity, Verdict};
use super::redact::Secrets;
use super::{evidence_line, first_line};

/// Evidence lines shown per failure; the rest are in the reports.
const EVIDENCE_LINES: usize = 3;

fn no_color_set() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether the summary (printed to stdout) should be coloured.
pub fn use_color() -> bool {
    std::io::stdout().is_terminal() && !no_color_set()
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

/// The end-of-run summary: verdict, counts, each failure with its first evidence, and where
/// the reports are. `color` adds ANSI colours (see [`use_color`]).
pub fn summary(report: &RunReport, reports_dir: &Path, color: bool) -> String {
    let p = Paint(color);
    let c = &report.counts;
    let verdict = match report.verdict {
        Verdict::Passed => p.green("PASSED"),
        Verdict::Failed => p.red("FAILED"),
        Verdict::Error => p.yellow("ERROR"),
    };
    let mut out = format!(
        "golive {verdict}  {} → {}\n",
        p.bold(&report.suite.title),
        report.target.name
    );
    out.push_str(&format!(
        "  {} failed · {} passed · {} skipped of {} checks · {} scenarios in {:.1} s\n",
        c.failed,
        c.passed,
        c.skipped,
        c.total,
        report.scenarios.len(),
        report.duration_ms / 1000.0
    ));
    if let Some(error) = &report.run_error {
        out.push_str(&format!(
            "\n{} {}\n",
            p.yellow("Run error:"),
            error.trim_end()
        ));
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
    let not_applicable: Vec<_> = report
        .scenarios
        .iter()
        .filter_map(|s| s.not_applicable.as_ref().map(|r| (s, r)))
        .collect();
    if !not_applicable.is_empty() {
        out.push_str(&format!(
            "\n{}\n",
            p.bold("Scenarios not applicable (their checks are skipped):")
        ));
        for (s, r) in not_applicable {
            out.push_str(&format!("  {} {}: {}\n", p.yellow("-"), s.id, r));
        }
    }
    let scenario_errors: Vec<_> = report
        .scenarios
        .iter()
        .filter_map(|s| s.error.as_ref().map(|e| (s, e)))
        .collect();
    if !scenario_errors.is_empty() {
        out.push_str(&format!(
            "\n{}\n",
            p.bold("Scenarios not driven to their end:")
        ));
        for (s, e) in scenario_errors {
            out.push_str(&format!(
                "  {} {}: {}\n",
                p.yellow("!"),
                s.id,
                first_line(e)
            ));
        }
    }
    out.push_str(&format!(
        "\nReports: {}\n         {}\n         {}\n",
        reports_dir.join("report.html").display(),
        reports_dir.join("junit.xml").display(),
        reports_dir.join("report.json").display()
    ));
    out
}

enum Display {
    /// An indicatif bar over the scenarios (a terminal that takes colour).
    Bar(ProgressBar),
    /// One plain line per finished scenario (CI logs, NO_COLOR).
    Lines(Box<dyn Write + Send>),
}

struct State {
    display: Display,
    total: usize,
    done: usize,
    current: Option<String>,
}

/// Shows the run's progress on stderr: a progress bar on a terminal, plain lines elsewhere
/// (`[2/9] purchase_captured … ok (1.2 s)`). Scenario errors are masked with the run's
/// secrets before they are shown, like everything else that leaves the run.
pub struct Progress {
    state: Mutex<State>,
    secrets: Secrets,
}

impl Progress {
    /// A bar when stderr is a terminal and NO_COLOR is unset, plain lines otherwise.
    pub fn new(secrets: Secrets) -> Self {
        if std::io::stderr().is_terminal() && !no_color_set() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            Self::with_display(Display::Bar(bar), secrets)
        } else {
            Self::lines(Box::new(std::io::stderr()), secrets)
        }
    }

    /// Plain lines to any writer.
    pub fn lines(out: Box<dyn Write + Send>, secrets: Secrets) -> Self {
        Self::with_display(Display::Lines(out), secrets)
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
            }),
            secrets,
        }
    }

    fn say(state: &mut State, line: &str, colored: Option<&str>) {
        match &mut state.display {
            Display::Bar(bar) => bar.println(colored.unwrap_or(line)),
            Display::Lines(out) => {
                // A progress line that cannot be written is not worth failing the run for.
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
    }
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
            } => {
                state.total = *scenarios;
                if let Display::Bar(bar) = &state.display {
                    bar.set_length(*scenarios as u64);
                    bar.set_message("starting the target");
                }
                let line = format!(
                    "golive: {suite} against {target}, {scenarios} scenarios (sandbox at {sandbox_url})"
                );
                Self::say(&mut state, &line, None);
            }
            RunEvent::TargetReady { base_url, after_ms } => {
                let line = format!(
                    "target ready at {} after {:.1} s",
                    self.secrets.mask_text(base_url),
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
                        format!("[{}/{total}] {id} … ok {took}", state.done),
                        format!(
                            "[{}/{total}] {id} … \u{1b}[32mok\u{1b}[0m {took}",
                            state.done
                        ),
                    ),
                    Some(e) => {
                        let e = self.secrets.mask_text(first_line(e));
                        (
                            format!("[{}/{total}] {id} … error: {e} {took}", state.done),
                            format!(
                                "[{}/{total}] {id} … \u{1b}[33merror\u{1b}[0m: {e} {took}",
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
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::report::build::tests::{check, empty_report, exchange};
    use crate::report::model::Outcome;

    fn report() -> RunReport {
        let mut r = empty_report(
            &["purchase_captured", "token_expiry"],
            vec![
                check(
                    "KC-TOKEN-REUSE",
                    Outcome::Failed,
                    Severity::Critical,
                    &[1, 2, 3, 4, 5],
                ),
                check("KC-PARTNER-REF", Outcome::Failed, Severity::Minor, &[9]),
                check("KC-STATUS", Outcome::Passed, Severity::Critical, &[1]),
                check("KC-POLL", Outcome::Skipped, Severity::Minor, &[]),
            ],
        );
        r.checks[0].message =
            "a new token for each of 5 calls, each with most of its 300 s left\nmore".into();
        r.checks[0].scenario = Some("purchase_captured".into());
        r.checks[1].message = "partnerReference ref-1 sent twice".into();
        for seq in 1..=5 {
            let mut ex = exchange("POST", "/user/u1/issue", 200, "");
            ex.seq = seq;
            ex.at_ms = 1000.0 * seq as f64 + 203.0;
            ex.duration_ms = 45.0;
            r.exchanges.push(ex);
        }
        r.scenarios[1].error = Some("the integration never called payment_status".into());
        r.duration_ms = 12_345.0;
        r.counts = crate::report::count(&r.checks);
        r
    }

    #[test]
    fn summary_reads_in_ten_seconds() {
        insta::assert_snapshot!(summary(&report(), Path::new("reports"), false));
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = summary(&report(), Path::new("reports"), false);
        let colored = summary(&report(), Path::new("reports"), true);
        assert!(!plain.contains('\u{1b}'));
        assert!(colored.contains("\u{1b}[1;31mFAILED\u{1b}[0m"));
    }

    #[test]
    fn a_run_error_is_shown() {
        let mut r = empty_report(&[], vec![]);
        r.verdict = Verdict::Error;
        r.run_error = Some("the target did not start: exit status 1".into());
        let text = summary(&r, Path::new("out"), false);
        assert!(text.starts_with("golive ERROR"), "{text}");
        assert!(text.contains("Run error: the target did not start: exit status 1"));
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_progress_lines_without_ansi_and_masked() {
        let buffer = Buffer::default();
        let progress = Progress::lines(Box::new(buffer.clone()), Secrets::with(["S3cretPass"]));
        let events = [
            RunEvent::Starting {
                suite: "kontocloud".into(),
                target: "demo-shop".into(),
                sandbox_url: "http://127.0.0.1:4010".into(),
                scenarios: 2,
            },
            RunEvent::ScenarioStarted {
                index: 0,
                id: "purchase_captured".into(),
                title: "A captured purchase".into(),
            },
            RunEvent::ScenarioFinished {
                id: "purchase_captured".into(),
                error: None,
                duration_ms: 1234.0,
            },
            RunEvent::ScenarioStarted {
                index: 1,
                id: "declined".into(),
                title: "A declined payment".into(),
            },
            RunEvent::StepFinished {
                scenario: "declined".into(),
                step: "wait for payment_status".into(),
                ok: false,
            },
            RunEvent::ScenarioFinished {
                id: "declined".into(),
                error: Some("login with S3cretPass refused\ndetails".into()),
                duration_ms: 30_000.0,
            },
            RunEvent::Judging { checks: 14 },
        ];
        for e in &events {
            progress.event(e);
        }
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(
            !text.contains('\u{1b}') && !text.contains("S3cretPass"),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "golive: kontocloud against demo-shop, 2 scenarios (sandbox at http://127.0.0.1:4010)",
                "[1/2] purchase_captured … ok (1.2 s)",
                "      declined: step wait for payment_status did not succeed",
                &format!("[2/2] declined … error: login with {} refused (30.0 s)", crate::journal::fingerprint("S3cretPass")),
                "judging 14 checks …",
            ]
        );
    }

    #[test]
    fn the_bar_takes_every_event() {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        let progress = Progress::with_display(Display::Bar(bar), Secrets::new());
        progress.event(&RunEvent::Starting {
            suite: "s".into(),
            target: "t".into(),
            sandbox_url: "u".into(),
            scenarios: 1,
        });
        progress.event(&RunEvent::ScenarioFinished {
            id: "a".into(),
            error: None,
            duration_ms: 1.0,
        });
        let state = progress.state.lock().unwrap();
        let Display::Bar(bar) = &state.display else {
            panic!("a bar")
        };
        assert_eq!(bar.position(), 1);
        assert_eq!(bar.length(), Some(1));
    }
}
