use std::sync::Arc;

use super::*;
use crate::report::build::tests::{check, empty_report, exchange, incomplete};
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
fn color_follows_the_flag_then_no_color_then_clicolor_force_then_the_terminal() {
    use std::ffi::OsStr;
    let set = |v: &'static str| Some(OsStr::new(v));
    let cases = [
        // (choice, terminal, NO_COLOR, CLICOLOR_FORCE) → colour
        (ColorChoice::Auto, true, None, None, true),
        (ColorChoice::Auto, false, None, None, false),
        (ColorChoice::Auto, true, set("1"), None, false),
        // An empty NO_COLOR is as good as unset (no-color.org).
        (ColorChoice::Auto, true, set(""), None, true),
        (ColorChoice::Auto, false, None, set("1"), true),
        (ColorChoice::Auto, false, None, set("0"), false),
        (ColorChoice::Auto, false, None, set(""), false),
        (ColorChoice::Auto, false, set("1"), set("1"), false),
        (ColorChoice::Always, false, set("1"), None, true),
        (ColorChoice::Never, true, None, set("1"), false),
    ];
    for (choice, terminal, no_color, force, expected) in cases {
        assert_eq!(
            choice.decide(terminal, no_color, force),
            expected,
            "{choice:?} terminal={terminal} NO_COLOR={no_color:?} CLICOLOR_FORCE={force:?}"
        );
    }
}

#[test]
fn a_filtered_or_bailed_run_says_so_and_lists_the_files_written() {
    let mut r = report();
    r.filter = Some(crate::report::Filter {
        scenarios: vec!["purchase_*".into()],
        checks: vec![],
        scenarios_left_out: vec!["token_expiry".into()],
        checks_left_out: vec!["KC-BLOCK".into()],
    });
    r.bailed = Some("KC-TOKEN-REUSE failed in scenario purchase_captured".into());
    let written = Written {
        junit: "ci/junit.xml".into(),
        html: "public/golive.html".into(),
        json: "reports/report.json".into(),
    };
    let text = summary_written(&r, &written, false);
    assert!(
        text.contains("  Filtered: --scenario 'purchase_*'; 1 scenario(s) left out: token_expiry; 1 check(s) left out: KC-BLOCK\n"),
        "{text}"
    );
    assert!(
        text.contains("Stopped by --bail: KC-TOKEN-REUSE failed in scenario purchase_captured; the scenarios after it were not run"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "Reports: public/golive.html\n         ci/junit.xml\n         reports/report.json\n"
        ),
        "{text}"
    );
    // Unfiltered, nothing is said.
    assert!(!summary(&report(), Path::new("reports"), false).contains("Filtered"));
}

#[test]
fn verbose_lines_are_masked_as_the_reports_are() {
    let mut secrets = Secrets::with(["S3cretPass"]);
    // An exchange that issues a token, then one that sends it in its path.
    let mut issue = exchange(
        "POST",
        "http://127.0.0.1:1/user/u1/issue?password=S3cretPass",
        200,
        "",
    );
    issue.seq = 7;
    issue.duration_ms = 44.6;
    issue.facts.operation = Some("issue_token".into());
    let token = "tok_ABCDEFGHIJKLMNOPQRSTUVWXYZ123456";
    if let Some(r) = issue.response.as_mut() {
        r.body = crate::journal::Body::from_bytes(
            format!(r#"{{"token":"{token}","validUntil":"2030-01-01T00:00:00Z"}}"#).as_bytes(),
        );
    }
    let line = exchange_line(&issue, &mut secrets);
    assert_eq!(
        line,
        "#7 integration POST /user/u1/issue → 200 (45 ms) [issue_token]"
    );
    let mut later = exchange(
        "GET",
        &format!("http://127.0.0.1:1/payments/{token}"),
        401,
        "",
    );
    later.seq = 8;
    later.actor = Actor::Browser;
    later.role = "callback".into();
    let line = exchange_line(&later, &mut secrets);
    assert!(!line.contains(token), "{line}");
    assert!(line.starts_with("#8 browser GET /payments/fp:"), "{line}");
    assert!(line.ends_with(" → 401 (3 ms) [callback]"), "{line}");
    let mut failed = exchange("POST", "http://127.0.0.1:1/checkout", 200, "");
    failed.response = None;
    failed.error = Some("connection refused (S3cretPass)\nmore".into());
    failed.actor = Actor::Harness;
    failed.role = "trigger:start_payment".into();
    let line = exchange_line(&failed, &mut secrets);
    assert!(!line.contains("S3cretPass"), "{line}");
    assert!(line.contains("→ error: connection refused ("), "{line}");
    assert!(line.ends_with("[trigger:start_payment]"), "{line}");
}

#[test]
fn verbose_events_become_lines_and_gaps_are_said() {
    let buffer = Buffer::default();
    let progress = Progress::lines(Box::new(buffer.clone()), Secrets::new());
    let mut ex = exchange("GET", "http://127.0.0.1:1/status", 200, "");
    ex.seq = 3;
    progress.event(&RunEvent::ExchangesUnseen { first: 1, last: 2 });
    progress.event(&RunEvent::Exchange(Arc::new(ex)));
    progress.event(&RunEvent::ExchangesUnseen { first: 4, last: 4 });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "#1–#2 went by unseen (the journal has them)",
            "#3 integration GET /status → 200 (3 ms)",
            "#4 went by unseen (the journal has it)",
        ]
    );
}

#[test]
fn coloured_lines_when_asked() {
    let buffer = Buffer::default();
    let progress = Progress::colored_lines(Box::new(buffer.clone()), Secrets::new(), true);
    progress.event(&RunEvent::ScenarioFinished {
        id: "a".into(),
        error: None,
        duration_ms: 1.0,
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("\u{1b}[32mdriven to its end"), "{text}");
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

#[test]
fn each_scenario_shows_its_verdicts_and_an_incomplete_one_says_so() {
    let r = incomplete(report(), "scenario token_expiry was not driven to its end");
    let text = summary(&r, Path::new("reports"), false);
    assert!(text.starts_with("golive INCOMPLETE"), "{text}");
    assert!(
        text.contains("  ✗ purchase_captured  ✗ 1 failed\n"),
        "{text}"
    );
    assert!(text.contains("  ! token_expiry"), "{text}");
    assert!(
        text.contains("incomplete: the integration never called payment_status"),
        "{text}"
    );
    assert!(!text.contains(" ok"), "{text}");
}

#[test]
fn an_interrupted_run_lists_what_did_not_run() {
    let mut r = report();
    r.verdict = Verdict::Interrupted;
    r.interrupted = Some("SIGTERM".into());
    r.not_run = vec!["status_flaky".into(), "status_unavailable".into()];
    let text = summary(&r, Path::new("reports"), false);
    assert!(text.starts_with("golive INTERRUPTED"), "{text}");
    assert!(text.contains("Interrupted by SIGTERM"), "{text}");
    assert!(
        text.contains("Scenarios not run: status_flaky, status_unavailable"),
        "{text}"
    );
}

#[test]
fn unwritten_reports_are_not_listed() {
    let text = summary_unwritten(&report(), false);
    assert!(!text.contains("report.html"), "{text}");
    assert!(!text.contains("Reports:"), "{text}");
    assert!(text.contains("No report was written"), "{text}");
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
            lane: 0,
            lanes: 1,
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
            "[1/2] purchase_captured … driven to its end (1.2 s)",
            "      declined: step wait for payment_status did not succeed",
            &format!(
                "[2/2] declined … incomplete: login with {} refused (30.0 s)",
                crate::journal::fingerprint("S3cretPass")
            ),
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
        lane: 0,
        lanes: 1,
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
