use super::*;
use crate::journal::{Actor, Direction};
use crate::report::build::tests::{check, empty_report, exchange, incomplete};
use crate::report::model::Severity;

/// A small, deterministic report: a failed and an inferred passed check, one scenario of
/// four exchanges (trigger, token, status after the callback, order probe).
pub(crate) fn small_report() -> RunReport {
    let mut r = empty_report(
        &["purchase_captured"],
        vec![
            check(
                "KC-STATUS-AFTER-CALLBACK",
                Outcome::Failed,
                Severity::Critical,
                &[3, 4],
            ),
            check("KC-PARTNER-REF", Outcome::Passed, Severity::Minor, &[2]),
        ],
    );
    r.checks[0].message = "the order was marked paid before any status query".into();
    r.checks[0].scenario = Some("purchase_captured".into());
    r.checks[1].source = "inferred".into();
    let mut trigger = exchange("POST", "/checkout", 303, r#"{"amount":1000}"#);
    trigger.direction = Direction::ToTarget;
    trigger.actor = Actor::Harness;
    trigger.role = "trigger:start_payment".into();
    let mut issue = exchange("POST", "/user/u1/issue", 200, "<script>alert(1)</script>");
    issue.facts.operation = Some("issue_token".into());
    let mut callback = exchange("POST", "/return?paymentResult=OK", 302, "");
    callback.direction = Direction::ToTarget;
    callback.actor = Actor::Browser;
    callback.role = "callback".into();
    let mut probe = exchange("GET", "/orders/o-1", 200, r#"{"paid":true}"#);
    probe.direction = Direction::ToTarget;
    probe.actor = Actor::Harness;
    probe.role = "order_probe".into();
    probe.facts.order_paid = Some(true);
    for (i, mut ex) in [trigger, issue, callback, probe].into_iter().enumerate() {
        ex.seq = i as u64 + 1;
        ex.scenario = "purchase_captured".into();
        ex.at_ms = 12_030.0 + i as f64 * 20.0;
        r.exchanges.push(ex);
    }
    r.scenarios[0].exchanges = vec![1, 2, 3, 4];
    r.scenarios[0].ended_ms = 12_200.0;
    r.counts = crate::report::count(&r.checks);
    r
}

/// The page with minijinja's escaped slashes read back, so assertions stay legible.
fn page(r: &RunReport) -> String {
    to_string(r).unwrap().replace("&#x2f;", "/")
}

fn body(html: &str) -> &str {
    &html[html.find("<body").unwrap()..]
}

#[test]
fn snapshot_of_a_small_report() {
    let html = to_string(&small_report()).unwrap();
    insta::assert_snapshot!(body(&html));
}

#[test]
fn bodies_are_text_not_markup() {
    let html = page(&small_report());
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The only scripts are the page's own.
    assert_eq!(html.matches("<script").count(), 1);
}

#[test]
fn self_contained() {
    let html = to_string(&small_report()).unwrap();
    for external in ["http://", "https://", "src=", "<link"] {
        let hits: Vec<&str> = html.matches(external).collect();
        // The target's own URL is shown as text.
        assert!(
            hits.is_empty() || (external == "http://" && !html.contains("src=\"http")),
            "{external}"
        );
    }
}

#[test]
fn the_timeline_tells_the_journey() {
    let html = page(&small_report());
    assert!(html.contains(
        r#"trigger start_payment: POST /checkout <tspan class="result redirect">→ 303</tspan>"#
    ));
    assert!(html.contains(r#"callback: POST /return <tspan class="result redirect">→ 302</tspan>"#));
    assert!(
        html.contains(r#"order probe: GET /orders/o-1 <tspan class="result paid">→ paid</tspan>"#)
    );
    for lane in ["Browser", "Harness", "Integration", "Sandbox"] {
        assert!(html.contains(&format!(">{lane}</text>")), "{lane}");
    }
}

#[test]
fn a_long_timeline_label_cuts_the_request_never_the_result() {
    let mut r = small_report();
    r.exchanges[3].request.url = format!("/orders/{}", "o".repeat(80));
    r.exchanges[1].response.as_mut().unwrap().status = 503;
    r.exchanges[1].request.url = format!("/user/{}/issue", "u".repeat(80));
    let html = page(&r);
    assert!(
        html.contains(r#"…<tspan class="result paid">→ paid</tspan></text>"#)
            || html.contains(r#"… <tspan class="result paid">→ paid</tspan></text>"#),
        "{html}"
    );
    assert!(html.contains(r#"<tspan class="result server-error">→ 503</tspan>"#));
    // The tooltip keeps the whole line.
    assert!(html.contains(&format!("GET /orders/{} → paid at", "o".repeat(80))));
}

/// A rule judged per scenario failing in two of three scenarios, next to a skipped rule
/// and one not applicable in a scenario the shop does not offer.
fn report_with_a_rule_failed_twice() -> RunReport {
    let mut r = small_report();
    r.scenarios.push(r.scenarios[0].clone());
    r.scenarios[1].id = "forged_callback".into();
    r.scenarios[1].exchanges = vec![];
    r.scenarios.push(r.scenarios[1].clone());
    r.scenarios[2].id = "refund".into();
    r.scenarios[2].not_applicable = Some("the shop does not offer refunds (not_offered)".into());
    let mut again = r.checks[0].clone();
    again.scenario = Some("forged_callback".into());
    again.message = "the forged callback made the order paid".into();
    again.evidence = vec![4];
    let mut passed = r.checks[0].clone();
    passed.scenario = Some("declined".into());
    passed.outcome = Outcome::Passed;
    passed.message = "status checked first".into();
    let mut skipped = check("KC-RETRY", Outcome::Skipped, Severity::Major, &[]);
    skipped.message = "no 0099 was answered in this run".into();
    let mut not_offered = check("KC-REFUND", Outcome::Skipped, Severity::Major, &[]);
    not_offered.scenario = Some("refund".into());
    not_offered.message = "not applicable: the shop does not offer refunds".into();
    r.checks.insert(1, again);
    r.checks.push(passed);
    r.checks.push(skipped);
    r.checks.push(not_offered);
    r.counts = crate::report::count(&r.checks);
    r
}

#[test]
fn failures_at_a_glance_give_one_card_per_failed_rule_with_its_scenarios() {
    let html = page(&report_with_a_rule_failed_twice());
    let glance =
        &html[html.find(r#"id="failures""#).unwrap()..html.find(r#"id="checks""#).unwrap()];
    insta::assert_snapshot!("failures_at_a_glance", glance);
    assert_eq!(
        glance.matches("<article class=\"failure").count(),
        1,
        "{glance}"
    );
    assert!(glance.contains("1 rule failed, in 2 verdicts"), "{glance}");
    assert!(
        glance.contains(
            r##"Failed in 2 of 3 scenarios: <a href="#check-0">purchase_captured</a>, <a href="#check-1">forged_callback</a>"##
        ),
        "{glance}"
    );
    // Why, from the first failing verdict, and its first exchanges, open when printed.
    assert!(glance
        .contains("<b>purchase_captured:</b> the order was marked paid before any status query"));
    assert!(glance.contains(r#"<details class="exchange print-open" id="failure-0-ex-3">"#));
    assert!(glance.contains(r#"<details class="exchange print-open" id="failure-0-ex-4">"#));
    assert!(
        glance.contains("(order paid)"),
        "the probe says what the shop answered"
    );
    // It comes before every other section.
    assert!(html.find(r#"id="failures""#) < html.find(r#"id="checks""#));
    assert!(html.find(r#"id="failures""#) < html.find(r#"id="scenarios""#));
}

#[test]
fn a_rule_is_listed_once_with_all_its_verdicts() {
    let html = page(&report_with_a_rule_failed_twice());
    assert_eq!(
        html.matches(r#"<details class="rule outcome-failed print-open" id="rule-0" open>"#)
            .count(),
        1
    );
    assert!(
        html.contains(r#"<span class="tally">2 failed · 1 passed</span>"#),
        "{html}"
    );
    for anchor in ["check-0", "check-1", "check-3"] {
        assert!(html.contains(&format!(r#"id="{anchor}""#)), "{anchor}");
    }
}

#[test]
fn skip_and_not_applicable_reasons_show_without_opening_the_check() {
    let html = page(&report_with_a_rule_failed_twice());
    let summary_of = |id: &str| {
        let at = html.find(&format!("<b>{id}</b>")).unwrap();
        let end = at + html[at..].find("</summary>").unwrap();
        html[at..end].to_string()
    };
    assert!(
        summary_of("KC-RETRY").contains("— no 0099 was answered in this run"),
        "{}",
        summary_of("KC-RETRY")
    );
    let refund = summary_of("KC-REFUND");
    assert!(
        refund.contains(r#"<span class="badge not-applicable">not applicable</span> in refund: not applicable: the shop does not offer refunds"#),
        "{refund}"
    );
    assert!(html.contains(r#"<span class="meta">refund</span> <span class="badge not-applicable">not applicable</span></h3>"#));
    assert!(html.contains(r#"<p class="not-applicable">the shop does not offer refunds (not_offered); its checks are skipped.</p>"#));
}

#[test]
fn a_passing_run_says_no_rule_failed() {
    let mut r = small_report();
    r.checks.remove(0);
    r.verdict = Verdict::Passed;
    r.counts = crate::report::count(&r.checks);
    let html = page(&r);
    assert!(html.contains(r#"<p class="all-passed">No rule failed.</p>"#));
    assert!(!html.contains("<article class=\"failure"));
}

#[test]
fn start_and_duration_read_as_people_say_them() {
    assert_eq!(
        human_time("2024-06-11T12:00:00Z"),
        "Tue 11 Jun 2024, 12:00:00 UTC"
    );
    assert_eq!(
        human_time("2026-12-01T17:40:55.188389466+01:00"),
        "Tue 1 Dec 2026, 16:40:55 UTC"
    );
    assert_eq!(human_time("not a time"), "not a time");
    assert_eq!(human_duration(850.0), "850 ms");
    assert_eq!(human_duration(4321.0), "4.32 s");
    assert_eq!(human_duration(45_252.0), "45.3 s");
    assert_eq!(human_duration(125_400.0), "2 min 05 s");
    assert_eq!(human_duration(3_725_000.0), "1 h 02 min");
    let html = page(&small_report());
    assert!(html.contains(
        r#"<time datetime="2024-06-11T12:00:00Z">Tue 11 Jun 2024, 12:00:00 UTC</time>, took 1.00 s"#
    ), "{html}");
}

#[test]
fn an_exchange_summary_shows_the_path_and_a_long_query_cut() {
    assert_eq!(short_target("http://127.0.0.1:1/orders/7"), "/orders/7");
    let long = format!(
        "http://h/return?paymentResult=OK&merchantTransactionId={}",
        "x".repeat(80)
    );
    let short = short_target(&long);
    assert_eq!(short.chars().count(), SUMMARY_TARGET_CHARS);
    assert!(short.starts_with("/return?paymentResult=OK&") && short.ends_with('…'));
}

#[test]
fn verdicts_have_their_own_banner() {
    let mut r = small_report();
    assert!(to_string(&r)
        .unwrap()
        .contains(r#"class="banner verdict-failed""#));
    r.verdict = Verdict::Passed;
    assert!(to_string(&r)
        .unwrap()
        .contains(r#"class="banner verdict-passed""#));
    r.verdict = Verdict::Error;
    r.run_error = Some("target did not start".into());
    let html = to_string(&r).unwrap();
    assert!(html.contains(r#"class="banner verdict-error""#));
    assert!(html.contains("target did not start"));
}

#[test]
fn an_incomplete_or_interrupted_run_says_so_in_the_banner() {
    let mut r = incomplete(
        small_report(),
        "scenario pay was not driven to its end: refused",
    );
    let html = to_string(&r).unwrap();
    assert!(html.contains(r#"class="banner verdict-incomplete""#));
    assert!(html.contains("Incomplete: 1 not judged"), "{html}");
    assert!(html.contains("scenario pay was not driven to its end: refused"));
    r.verdict = Verdict::Interrupted;
    r.interrupted = Some("SIGINT".into());
    r.not_run = vec!["status_flaky".into()];
    let html = to_string(&r).unwrap();
    assert!(html.contains(r#"class="banner verdict-interrupted""#));
    assert!(html.contains("Interrupted by SIGINT: partial results, 1 scenario(s) not run"));
    assert!(
        html.contains("<b>Scenarios not run:</b> <code>status_flaky</code>"),
        "{html}"
    );
}

#[test]
fn long_bodies_are_cut_with_a_note() {
    let mut r = small_report();
    let big = "y".repeat(EVIDENCE_BODY_BYTES * 3);
    r.exchanges[2].request.body = crate::journal::Body::from_bytes(big.as_bytes());
    let html = page(&r);
    assert!(html.contains(&format!("of {} bytes shown", big.len())));
    assert!(!html.contains(&"y".repeat(EVIDENCE_BODY_BYTES + 1)));
}
