//! The reviewer's report: one self-contained HTML file (`report.html`).
//!
//! No CDN, no external file: inline CSS, a sequence diagram per scenario drawn as inline SVG
//! on this side, `<details>` for everything expandable (so it reads with JavaScript off), and a
//! few lines of inline JS only for "expand all"/"collapse all" and opening everything before
//! printing. The template is named `report.html`, so minijinja escapes every value: a body
//! holding `<script>` shows as text.

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::journal::{Exchange, Headers};

use super::model::{CheckResult, Outcome, RunReport, Verdict};
use super::{first_line, lanes, secs, show_body, Lane, EVIDENCE_BODY_BYTES};

const TEMPLATE: &str = include_str!("templates/report.html");

/// Bodies in the per-scenario exchange lists are cut shorter than evidence: a scenario may
/// show hundreds of exchanges.
const SCENARIO_BODY_BYTES: usize = 2 * 1024;

/// Timeline labels longer than this have their request cut, never their result (the full
/// line is in the arrow's tooltip).
const LABEL_CHARS: usize = 46;

/// The report as one HTML page.
pub fn to_string(report: &RunReport) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_formatter(html_formatter);
    env.add_template("report.html", TEMPLATE)?;
    env.get_template("report.html")?.render(view(report))
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
    /// RFC 3339, for `<time datetime>`.
    started_at: String,
    /// `Tue 11 Jun 2024, 12:00:00 UTC`.
    started: String,
    /// `45.3 s`, `2 min 05 s`.
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
    /// Failures at a glance: one card per failed rule, most severe first.
    failed_rules: Vec<FailedRuleView>,
    /// How many verdicts the failed rules gave (a rule judged per scenario gives several).
    failed_verdicts: usize,
    /// Every rule with its verdicts, in the report's order (failures first).
    rules: Vec<RuleView>,
    scenarios: Vec<ScenarioView>,
}

/// A failed rule at the top of the page: what it asks, where it failed, why (the first
/// failing verdict's message) and the first exchanges that prove it.
#[derive(Serialize)]
struct FailedRuleView {
    anchor: String,
    #[serde(flatten)]
    head: RuleHead,
    /// Where it failed: (verdict anchor, scenario or "the whole run").
    failed_in: Vec<(String, String)>,
    /// How many verdicts the rule gave in all (`8 of 9 scenarios`).
    verdicts: usize,
    per_scenario: bool,
    /// The scenario of the first failing verdict, whose message and evidence are shown.
    first_scenario: Option<String>,
    message: String,
    evidence: Vec<ExchangeView>,
    /// Evidence of the first failing verdict not shown in the card.
    more_evidence: usize,
    first_anchor: String,
}

/// What heads a rule wherever the page shows it (its failure card, its place among all the
/// checks), from its first verdict: one id, title, severity and source badge, and the rule's
/// anchor (`rule-N`), which the failure card links to.
#[derive(Serialize)]
struct RuleHead {
    rule_anchor: String,
    id: String,
    title: String,
    severity: &'static str,
    source: String,
    inferred: bool,
}

impl RuleHead {
    fn of(n: usize, first: &CheckResult) -> Self {
        RuleHead {
            rule_anchor: format!("rule-{n}"),
            id: first.id.clone(),
            title: first.title.clone(),
            severity: first.severity.as_str(),
            source: first.source.clone(),
            inferred: is_inferred(&first.source),
        }
    }
}

/// A rule of the suite and every verdict it gave.
#[derive(Serialize)]
struct RuleView {
    #[serde(flatten)]
    head: RuleHead,
    rule: String,
    kind: String,
    /// The most telling of its verdicts: failed, else not judged, else passed, else skipped.
    outcome: &'static str,
    /// `8 failed · 1 passed`, when the rule gave more than one verdict.
    tally: Option<String>,
    /// Why verdicts were skipped, not applicable or not judged, shown next to the rule
    /// without opening it.
    reasons: Vec<ReasonView>,
    verdicts: Vec<VerdictView>,
}

#[derive(Serialize)]
struct ReasonView {
    /// `skipped`, `not applicable`, `not judged`.
    what: &'static str,
    class: &'static str,
    /// The scenarios it applies to, or empty for the whole run.
    scenarios: Vec<String>,
    text: String,
}

#[derive(Serialize)]
struct VerdictView {
    anchor: String,
    scenario: Option<String>,
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
    /// The URL without scheme and host, for the one-line summary.
    target: String,
    from: &'static str,
    to: &'static str,
    role: String,
    at: String,
    duration: String,
    status: Option<u16>,
    status_class: &'static str,
    /// What the shop said about the order (`order paid`), for the order probe.
    note: Option<&'static str>,
    error: Option<String>,
    request_headers: Headers,
    request_body: Option<String>,
    response_headers: Headers,
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
    /// The step and the request, cut to fit; the result is never cut.
    label: String,
    /// `200`, `paid`, `error`: what came back.
    result: String,
    result_class: &'static str,
    tooltip: String,
    time: String,
    evidence: bool,
    failed: bool,
}

/// Exchanges of evidence each failure card shows (the rest are in the rule's verdicts).
const FIRST_EVIDENCE: usize = 3;

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
    let groups = rule_groups(report);
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
        started: human_time(&report.started_at),
        duration: human_duration(report.duration_ms),
        tool: format!("{} {}", report.tool.name, report.tool.version),
        journal: report.journal.clone(),
        counts: report.counts.clone(),
        run_error: report.run_error.clone(),
        interrupted: report.interrupted.clone(),
        incomplete: report.incomplete.clone(),
        not_run: report.not_run.clone(),
        filter: report.filter.as_ref().map(|f| f.describe()),
        bailed: report.bailed.clone(),
        failed_rules: groups
            .iter()
            .enumerate()
            .filter_map(|(n, g)| failed_rule_view(report, n, g))
            .enumerate()
            .map(|(i, mut f)| {
                f.anchor = format!("failure-{i}");
                for ex in &mut f.evidence {
                    ex.anchor = format!("failure-{i}-ex-{}", ex.seq);
                }
                f
            })
            .collect(),
        failed_verdicts: report.failures().count(),
        rules: groups
            .iter()
            .enumerate()
            .map(|(n, g)| rule_view(report, n, g))
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
                        human_duration(s.ended_ms - s.started_ms)
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

/// The report's verdicts by rule (check id), each rule where its first verdict is in the
/// report's order (failures first, most severe first), its verdicts as (index, verdict).
fn rule_groups(report: &RunReport) -> Vec<Vec<(usize, &CheckResult)>> {
    let mut groups: Vec<Vec<(usize, &CheckResult)>> = Vec::new();
    for (i, c) in report.checks.iter().enumerate() {
        match groups.iter_mut().find(|g| g[0].1.id == c.id) {
            Some(g) => g.push((i, c)),
            None => groups.push(vec![(i, c)]),
        }
    }
    groups
}

fn check_anchor(report: &RunReport, check: &CheckResult) -> String {
    let i = report
        .checks
        .iter()
        .position(|c| std::ptr::eq(c, check))
        .unwrap_or(0);
    format!("check-{i}")
}

/// Where a verdict was given, in words.
fn scenario_label(c: &CheckResult) -> String {
    c.scenario
        .clone()
        .unwrap_or_else(|| "the whole run".to_string())
}

fn failed_rule_view(
    report: &RunReport,
    n: usize,
    group: &[(usize, &CheckResult)],
) -> Option<FailedRuleView> {
    let failed: Vec<&(usize, &CheckResult)> = group
        .iter()
        .filter(|(_, c)| c.outcome == Outcome::Failed)
        .collect();
    let &&(first_index, first) = failed.first()?;
    let evidence = first
        .evidence
        .iter()
        .take(FIRST_EVIDENCE)
        .map(|seq| {
            exchange_view(
                report.exchange(*seq),
                *seq,
                String::new(),
                EVIDENCE_BODY_BYTES,
            )
        })
        .collect();
    Some(FailedRuleView {
        anchor: String::new(),
        head: RuleHead::of(n, first),
        failed_in: failed
            .iter()
            .map(|(i, c)| (format!("check-{i}"), scenario_label(c)))
            .collect(),
        verdicts: group.len(),
        per_scenario: group.iter().any(|(_, c)| c.scenario.is_some()),
        first_scenario: first.scenario.clone(),
        message: first.message.clone(),
        evidence,
        more_evidence: first.evidence.len().saturating_sub(FIRST_EVIDENCE),
        first_anchor: format!("check-{first_index}"),
    })
}

fn is_inferred(source: &str) -> bool {
    source.trim().eq_ignore_ascii_case("inferred")
}

fn rule_view(report: &RunReport, n: usize, group: &[(usize, &CheckResult)]) -> RuleView {
    let (_, first) = group[0];
    let not_applicable: Vec<&str> = report.not_applicable_scenarios().collect();
    let has = |o: Outcome| group.iter().any(|(_, c)| c.outcome == o);
    let outcome = [
        Outcome::Failed,
        Outcome::Error,
        Outcome::Passed,
        Outcome::Skipped,
    ]
    .into_iter()
    .find(|o| has(*o))
    .unwrap_or(Outcome::Skipped);
    let tally = (group.len() > 1).then(|| {
        [
            (Outcome::Failed, "failed"),
            (Outcome::Error, "not judged"),
            (Outcome::Passed, "passed"),
            (Outcome::Skipped, "skipped"),
        ]
        .iter()
        .filter_map(|(o, word)| {
            let n = group.iter().filter(|(_, c)| c.outcome == *o).count();
            (n > 0).then(|| format!("{n} {word}"))
        })
        .collect::<Vec<_>>()
        .join(" · ")
    });
    // One line per reason, with the scenarios it was given for, in the order first seen.
    let mut reasons: Vec<ReasonView> = Vec::new();
    for (_, c) in group {
        let (what, class) = match c.outcome {
            Outcome::Skipped
                if c.scenario
                    .as_deref()
                    .is_some_and(|s| not_applicable.contains(&s)) =>
            {
                ("not applicable", "not-applicable")
            }
            Outcome::Skipped => ("skipped", "skipped"),
            Outcome::Error => ("not judged", "error"),
            Outcome::Passed | Outcome::Failed => continue,
        };
        let text = first_line(&c.message).to_string();
        match reasons
            .iter_mut()
            .find(|r| r.what == what && r.text == text)
        {
            Some(r) => r.scenarios.extend(c.scenario.clone()),
            None => reasons.push(ReasonView {
                what,
                class,
                scenarios: c.scenario.iter().cloned().collect(),
                text,
            }),
        }
    }
    RuleView {
        head: RuleHead::of(n, first),
        rule: first.description.clone(),
        kind: first.kind.clone(),
        outcome: outcome_word(outcome),
        tally,
        reasons,
        verdicts: group
            .iter()
            .map(|(i, c)| VerdictView {
                anchor: format!("check-{i}"),
                scenario: c.scenario.clone(),
                outcome: outcome_word(c.outcome),
                message: c.message.clone(),
                evidence: c
                    .evidence
                    .iter()
                    .map(|seq| {
                        exchange_view(
                            report.exchange(*seq),
                            *seq,
                            format!("check-{i}-ex-{seq}"),
                            EVIDENCE_BODY_BYTES,
                        )
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// `Tue 11 Jun 2024, 12:00:00 UTC` from RFC 3339 (the text as it is when it is not).
fn human_time(rfc3339: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let format = time::macros::format_description!(
        "[weekday repr:short] [day padding:none] [month repr:short] [year], [hour]:[minute]:[second] UTC"
    );
    time::OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&format).ok())
        .unwrap_or_else(|| rfc3339.to_string())
}

/// `850 ms`, `4.32 s`, `45.3 s`, `2 min 05 s`, `1 h 02 min`: a run's length as people say it.
fn human_duration(ms: f64) -> String {
    let ms = ms.max(0.0);
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 10_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms < 3_600_000.0 {
        let s = (ms / 1000.0).round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        let m = (ms / 60_000.0).round() as u64;
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

/// A URL without its scheme and host: what the summary of an exchange shows.
fn path_and_query(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => url,
    }
}

/// How much of a request's path and query an exchange's one-line summary shows (the full URL
/// is in its detail).
const SUMMARY_TARGET_CHARS: usize = 72;

/// The path and query for a one-line summary: the query cut when it is long.
fn short_target(url: &str) -> String {
    let target = path_and_query(url);
    if target.chars().count() <= SUMMARY_TARGET_CHARS {
        return target.to_string();
    }
    let path_len = target
        .find('?')
        .unwrap_or(target.len())
        .min(SUMMARY_TARGET_CHARS);
    let keep = SUMMARY_TARGET_CHARS.max(path_len) - 1;
    target.chars().take(keep).collect::<String>() + "…"
}

fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=299) => "ok",
        Some(300..=399) => "redirect",
        Some(400..=499) => "client-error",
        Some(_) => "server-error",
        None => "none",
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
            target: String::new(),
            from: "",
            to: "",
            role: String::new(),
            at: String::new(),
            duration: String::new(),
            status: None,
            status_class: "none",
            note: None,
            error: None,
            request_headers: Headers::new(),
            request_body: None,
            response_headers: Headers::new(),
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
        target: short_target(&ex.request.url),
        from: from.name(),
        to: to.name(),
        role: ex.role.clone(),
        at: secs(ex.at_ms),
        duration: format!("{:.0} ms", ex.duration_ms),
        status,
        status_class: status_class(status),
        note: match ex.facts.order_paid {
            Some(true) => Some("order paid"),
            Some(false) => Some("order not paid"),
            None => None,
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

/// What an arrow of the sequence diagram says: the step in the journey's words and the
/// request (`callback: POST /return`, `order probe: GET /orders/7`), and what came back
/// (`302`, `paid`).
fn arrow_label(ex: &Exchange) -> (String, String, &'static str) {
    let what = if ex.role == "order_probe" {
        "order probe".to_string()
    } else if let Some(trigger) = ex.role.strip_prefix("trigger:") {
        format!("trigger {trigger}")
    } else if let Some(op) = ex.operation() {
        op.replace('_', " ")
    } else {
        ex.role.replace('_', " ")
    };
    let (outcome, class) = match (ex.status(), &ex.error) {
        // What the shop said about the order matters more than the probe's status code.
        (Some(_), _) if ex.facts.order_paid == Some(true) => ("paid".to_string(), "paid"),
        (Some(_), _) if ex.facts.order_paid == Some(false) => ("not paid".to_string(), "not-paid"),
        (Some(s), _) => (s.to_string(), status_class(Some(s))),
        (None, Some(_)) => ("error".to_string(), "none"),
        (None, None) => ("no answer".to_string(), "none"),
    };
    (
        format!("{what}: {} {}", ex.request.method, ex.path()),
        outcome,
        class,
    )
}

const LANE_GAP: u32 = 210;
const TIME_COLUMN: u32 = 90;
const ROW: u32 = 28;
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
            let (label, result, result_class) = arrow_label(ex);
            // The request is cut to fit; what came back never is.
            let room = LABEL_CHARS
                .saturating_sub(result.chars().count() + 3)
                .max(12);
            let short = if label.chars().count() > room {
                label.chars().take(room - 1).collect::<String>() + "…"
            } else {
                label.clone()
            };
            Arrow {
                href: format!("#ex-{}", ex.seq),
                y: HEAD + ROW * (row as u32 + 1),
                x1,
                x2,
                label_x: (x1 + x2) / 2,
                tooltip: format!("#{} {label} → {result} at {}", ex.seq, secs(ex.at_ms)),
                label: short,
                result,
                result_class,
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
mod tests;
