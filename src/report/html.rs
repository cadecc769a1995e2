//! The reviewer's report: one self-contained HTML file (`report.html`).
//!
//! No CDN, no external file: inline CSS, a sequence diagram per scenario drawn as inline SVG
//! on this side, `<details>` for everything expandable (so it reads with JavaScript off), and a
//! few lines of inline JS only for "expand all"/"collapse all" and opening everything before
//! printing. The template is named `report.html`, so minijinja escapes every value: a body
//! holding `<script>` shows as text.

use std::path::Path;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::journal::Exchange;

use super::model::{CheckResult, Outcome, RunReport, Verdict};
use super::{lanes, secs, show_body, Lane, EVIDENCE_BODY_BYTES};

const TEMPLATE: &str = include_str!("templates/report.html");

/// Bodies in the per-scenario exchange lists are cut shorter than evidence: a scenario may
/// show hundreds of exchanges.
const SCENARIO_BODY_BYTES: usize = 2 * 1024;

/// Timeline labels longer than this are cut (the full line is in the arrow's tooltip).
const LABEL_CHARS: usize = 46;

/// The report as one HTML page.
pub fn to_string(report: &RunReport) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_formatter(html_formatter);
    env.add_template("report.html", TEMPLATE)?;
    env.get_template("report.html")?.render(view(report))
}

/// Writes the report's HTML to `path`.
pub fn write(report: &RunReport, path: &Path) -> Result<(), super::ReportError> {
    let html = to_string(report).map_err(super::ReportError::Html)?;
    super::write_file(path, html.as_bytes())
}

/// minijinja's HTML escaping plus nothing more: `&`, `<`, `>`, `"` and `'` become entities (every
/// attribute in the template is quoted), while `/` stays a slash, so URLs and paths in the
/// page's source read as they are and can be searched for.
fn html_formatter(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(text) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            let mut escaped = String::with_capacity(text.len());
            for ch in text.chars() {
                match ch {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#x27;"),
                    c => escaped.push(c),
                }
            }
            out.write_str(&escaped).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

#[derive(Serialize)]
struct View {
    verdict: &'static str,
    headline: String,
    provider: String,
    suite_id: String,
    suite_title: String,
    suite_source: String,
    target_name: String,
    target_url: String,
    target_source: String,
    started_at: String,
    duration: String,
    tool: String,
    journal: Option<String>,
    counts: super::model::Counts,
    run_error: Option<String>,
    interrupted: Option<String>,
    incomplete: Vec<String>,
    not_run: Vec<String>,
    /// `--scenario`/`--check`, and what they left out.
    filter: Option<String>,
    bailed: Option<String>,
    checks: Vec<CheckView>,
    scenarios: Vec<ScenarioView>,
}

#[derive(Serialize)]
struct CheckView {
    anchor: String,
    id: String,
    scenario: Option<String>,
    title: String,
    rule: String,
    severity: &'static str,
    source: String,
    inferred: bool,
    kind: String,
    outcome: &'static str,
    message: String,
    evidence: Vec<ExchangeView>,
}

#[derive(Serialize)]
struct ExchangeView {
    anchor: String,
    seq: u64,
    found: bool,
    method: String,
    url: String,
    from: &'static str,
    to: &'static str,
    role: String,
    at: String,
    duration: String,
    status: Option<u16>,
    status_class: &'static str,
    error: Option<String>,
    request_headers: Vec<(String, String)>,
    request_body: Option<String>,
    response_headers: Vec<(String, String)>,
    response_body: Option<String>,
    facts: Option<String>,
}

#[derive(Serialize)]
struct ScenarioView {
    anchor: String,
    id: String,
    title: String,
    window: String,
    error: Option<String>,
    not_applicable: Option<String>,
    failed_checks: Vec<(String, String)>,
    shown: usize,
    omitted: usize,
    timeline: Timeline,
    timeline_open: bool,
    exchanges: Vec<ExchangeView>,
}

#[derive(Serialize)]
struct Timeline {
    width: u32,
    height: u32,
    lanes: Vec<LaneView>,
    arrows: Vec<Arrow>,
}

#[derive(Serialize)]
struct LaneView {
    name: &'static str,
    x: u32,
}

#[derive(Serialize)]
struct Arrow {
    href: String,
    y: u32,
    x1: u32,
    x2: u32,
    label_x: u32,
    label: String,
    tooltip: String,
    time: String,
    evidence: bool,
    failed: bool,
}

fn verdict_word(v: Verdict) -> &'static str {
    v.as_str()
}

fn outcome_word(o: Outcome) -> &'static str {
    o.as_str()
}

fn view(report: &RunReport) -> View {
    let c = &report.counts;
    let headline = match report.verdict {
        Verdict::Passed => {
            format!("Passed: all {} checks passed", c.passed)
                + &if c.skipped > 0 {
                    format!(", {} skipped", c.skipped)
                } else {
                    String::new()
                }
        }
        Verdict::Failed => {
            format!("Failed: {} of {} checks failed", c.failed, c.total)
                + &if report.incomplete.is_empty() {
                    String::new()
                } else {
                    format!(" (and incomplete: {} not judged)", report.incomplete.len())
                }
        }
        Verdict::Error => "Error: the run could not be made".to_string(),
        Verdict::Incomplete => format!(
            "Incomplete: {} not judged, so no pass ({} passed, {} skipped)",
            report.incomplete.len(),
            c.passed,
            c.skipped
        ),
        Verdict::Interrupted => format!(
            "Interrupted by {}: partial results, {} scenario(s) not run",
            report.interrupted.as_deref().unwrap_or("a signal"),
            report.not_run.len()
        ),
    };
    let failing: Vec<u64> = report
        .failures()
        .flat_map(|c| c.evidence.iter().copied())
        .collect();
    View {
        verdict: verdict_word(report.verdict),
        headline,
        provider: report.suite.provider.clone(),
        suite_id: report.suite.id.clone(),
        suite_title: report.suite.title.clone(),
        suite_source: report.suite.source.clone(),
        target_name: report.target.name.clone(),
        target_url: report.target.base_url.clone(),
        target_source: report.target.source.clone(),
        started_at: report.started_at.clone(),
        duration: secs(report.duration_ms),
        tool: format!("{} {}", report.tool.name, report.tool.version),
        journal: report.journal.clone(),
        counts: report.counts.clone(),
        run_error: report.run_error.clone(),
        interrupted: report.interrupted.clone(),
        incomplete: report.incomplete.clone(),
        not_run: report.not_run.clone(),
        filter: report.filter.as_ref().map(|f| f.describe()),
        bailed: report.bailed.clone(),
        checks: report
            .checks
            .iter()
            .enumerate()
            .map(|(i, c)| check_view(report, i, c))
            .collect(),
        scenarios: report
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let exchanges: Vec<&Exchange> = s
                    .exchanges
                    .iter()
                    .filter_map(|q| report.exchange(*q))
                    .collect();
                let failed_checks = report
                    .failures()
                    .filter(|c| {
                        c.scenario.as_deref() == Some(s.id.as_str())
                            || c.evidence.iter().any(|e| s.exchanges.contains(e))
                    })
                    .map(|c| (check_anchor(report, c), c.name()))
                    .collect();
                ScenarioView {
                    anchor: format!("scenario-{i}"),
                    id: s.id.clone(),
                    title: s.title.clone(),
                    window: format!(
                        "{} → {} ({})",
                        secs(s.started_ms),
                        secs(s.ended_ms),
                        secs(s.ended_ms - s.started_ms)
                    ),
                    error: s.error.clone(),
                    not_applicable: s.not_applicable.clone(),
                    failed_checks,
                    shown: exchanges.len(),
                    omitted: s.exchanges_omitted,
                    timeline_open: exchanges.len() <= 60,
                    timeline: timeline(&exchanges, &failing),
                    exchanges: exchanges
                        .iter()
                        .map(|e| {
                            exchange_view(
                                Some(e),
                                e.seq,
                                format!("ex-{}", e.seq),
                                SCENARIO_BODY_BYTES,
                            )
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

fn check_anchor(report: &RunReport, check: &CheckResult) -> String {
    let i = report
        .checks
        .iter()
        .position(|c| std::ptr::eq(c, check))
        .unwrap_or(0);
    format!("check-{i}")
}

fn check_view(report: &RunReport, index: usize, c: &CheckResult) -> CheckView {
    CheckView {
        anchor: format!("check-{index}"),
        id: c.id.clone(),
        scenario: c.scenario.clone(),
        title: c.title.clone(),
        rule: c.description.clone(),
        severity: c.severity.as_str(),
        inferred: c.source.trim().eq_ignore_ascii_case("inferred"),
        source: c.source.clone(),
        kind: c.kind.clone(),
        outcome: outcome_word(c.outcome),
        message: c.message.clone(),
        evidence: c
            .evidence
            .iter()
            .map(|seq| {
                exchange_view(
                    report.exchange(*seq),
                    *seq,
                    format!("check-{index}-ex-{seq}"),
                    EVIDENCE_BODY_BYTES,
                )
            })
            .collect(),
    }
}

fn exchange_view(ex: Option<&Exchange>, seq: u64, anchor: String, limit: usize) -> ExchangeView {
    let Some(ex) = ex else {
        return ExchangeView {
            anchor,
            seq,
            found: false,
            method: String::new(),
            url: String::new(),
            from: "",
            to: "",
            role: String::new(),
            at: String::new(),
            duration: String::new(),
            status: None,
            status_class: "none",
            error: None,
            request_headers: vec![],
            request_body: None,
            response_headers: vec![],
            response_body: None,
            facts: None,
        };
    };
    let (from, to) = lanes(ex);
    let status = ex.status();
    let facts = serde_json::to_value(&ex.facts)
        .ok()
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    ExchangeView {
        anchor,
        seq,
        found: true,
        method: ex.request.method.clone(),
        url: ex.request.url.clone(),
        from: from.name(),
        to: to.name(),
        role: ex.role.clone(),
        at: secs(ex.at_ms),
        duration: format!("{:.0} ms", ex.duration_ms),
        status,
        status_class: match status {
            Some(200..=299) => "ok",
            Some(300..=399) => "redirect",
            Some(400..=499) => "client-error",
            Some(_) => "server-error",
            None => "none",
        },
        error: ex.error.clone(),
        request_headers: ex.request.headers.clone(),
        request_body: (ex.request.body.size > 0).then(|| show_body(&ex.request.body, limit)),
        response_headers: ex
            .response
            .as_ref()
            .map(|r| r.headers.clone())
            .unwrap_or_default(),
        response_body: ex
            .response
            .as_ref()
            .filter(|r| r.body.size > 0)
            .map(|r| show_body(&r.body, limit)),
        facts,
    }
}

/// What an arrow of the sequence diagram says: the step in the journey's words, then the
/// request and its answer (`callback: POST /return → 302`, `order probe: GET /orders/7 → paid`).
fn arrow_label(ex: &Exchange) -> String {
    let what = if ex.role == "order_probe" {
        "order probe".to_string()
    } else if let Some(trigger) = ex.role.strip_prefix("trigger:") {
        format!("trigger {trigger}")
    } else if let Some(op) = ex.operation() {
        op.replace('_', " ")
    } else {
        ex.role.replace('_', " ")
    };
    let outcome = match (ex.status(), &ex.error) {
        // What the shop said about the order matters more than the probe's status code.
        (Some(_), _) if ex.facts.order_paid == Some(true) => "paid".to_string(),
        (Some(_), _) if ex.facts.order_paid == Some(false) => "not paid".to_string(),
        (Some(s), _) => s.to_string(),
        (None, Some(_)) => "error".to_string(),
        (None, None) => "no answer".to_string(),
    };
    format!("{what}: {} {} → {outcome}", ex.request.method, ex.path())
}

const LANE_GAP: u32 = 210;
const TIME_COLUMN: u32 = 90;
const ROW: u32 = 34;
const HEAD: u32 = 40;

fn lane_x(lane: Lane) -> u32 {
    TIME_COLUMN + LANE_GAP / 2 + lane as u32 * LANE_GAP
}

/// A sequence diagram of a scenario's exchanges, laid out here so the page needs no script.
fn timeline(exchanges: &[&Exchange], failing_evidence: &[u64]) -> Timeline {
    let arrows: Vec<Arrow> = exchanges
        .iter()
        .enumerate()
        .map(|(row, ex)| {
            let (from, to) = lanes(ex);
            let (x1, x2) = (lane_x(from), lane_x(to));
            let label = arrow_label(ex);
            let short = if label.chars().count() > LABEL_CHARS {
                label.chars().take(LABEL_CHARS - 1).collect::<String>() + "…"
            } else {
                label.clone()
            };
            Arrow {
                href: format!("#ex-{}", ex.seq),
                y: HEAD + ROW * (row as u32 + 1),
                x1,
                x2,
                label_x: (x1 + x2) / 2,
                tooltip: format!("#{} {} at {}", ex.seq, label, secs(ex.at_ms)),
                label: short,
                time: secs(ex.at_ms),
                evidence: failing_evidence.contains(&ex.seq),
                failed: ex.error.is_some() || ex.status().is_none_or(|s| s >= 500),
            }
        })
        .collect();
    Timeline {
        width: TIME_COLUMN + LANE_GAP * Lane::ALL.len() as u32,
        height: HEAD + ROW * (arrows.len() as u32 + 1),
        lanes: Lane::ALL
            .iter()
            .map(|l| LaneView {
                name: l.name(),
                x: lane_x(*l),
            })
            .collect(),
        arrows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Actor, Direction};
    use crate::report::build::tests::{check, empty_report, exchange};
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
        assert!(html.contains("trigger start_payment: POST /checkout → 303"));
        assert!(html.contains("callback: POST /return → 302"));
        assert!(html.contains("order probe: GET /orders/o-1 → paid"));
        for lane in ["Browser", "Harness", "Integration", "Sandbox"] {
            assert!(html.contains(&format!(">{lane}</text>")), "{lane}");
        }
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
        let mut r = small_report();
        r.verdict = Verdict::Incomplete;
        r.incomplete = vec!["scenario pay was not driven to its end: refused".into()];
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
}
