//! Completing a run's report from its journal: the one place where redaction happens.
//!
//! The runner hands over a [`RunReport`] with everything but the traffic; [`complete`] reads the
//! journal once, picks the exchanges worth showing (each scenario's, up to a cap, and every
//! piece of evidence), masks them and every free text with the run's [`Secrets`], and sorts the
//! checks. Every reporter reads only the completed report, so none of them can leak what
//! another one hides.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::journal::{Body, Entry, Exchange, Index, JournalError};

use super::model::{count, sort_checks, CheckResult, RunReport};
use super::redact::Secrets;

/// Exchanges of one scenario shown in the report; the rest are counted as omitted (the journal
/// keeps them all). Evidence is always kept, over the cap.
pub const MAX_EXCHANGES_PER_SCENARIO: usize = 300;

/// Exchanges of evidence shown per check, the first ones in the order they were journaled; the
/// check's message says how many more the journal holds. A rule broken on every one of 45,000
/// calls needs a few examples, not 45,000: reports scale with the checks, not the traffic.
pub const MAX_EVIDENCE_PER_CHECK: usize = 50;

/// How much of a body the report keeps. The journal keeps up to 64 KiB; hundreds of those
/// would make a report nobody can open.
pub const REPORT_BODY_KEEP_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Fills `scenarios[].exchanges`, `scenarios[].exchanges_omitted` and `exchanges` from the
/// journal, cites sources by the provider's public documents ([`cite_sources`]), masks every exchange and free text (check messages, scenario and run errors, the
/// target's URL), sorts the checks (failures first) and recounts them.
pub fn complete(
    report: &mut RunReport,
    journal: &Path,
    index: Option<&Index>,
    secrets: &Secrets,
) -> Result<(), BuildError> {
    complete_learning(report, journal, index, secrets).map(|_| ())
}

/// [`complete`], returning the secrets it learned from the traffic as well (to mask the
/// target's own log with them).
/// `index` is where the journal's exchanges are, as the judging pass found them (it is read
/// for the index when there is none): only the exchanges shown are read back, so the time a
/// report takes does not grow with the journal.
pub fn complete_learning(
    report: &mut RunReport,
    journal: &Path,
    index: Option<&Index>,
    secrets: &Secrets,
) -> Result<Secrets, BuildError> {
    cite_sources(report);
    for c in &mut report.checks {
        cap_evidence(c);
    }
    let evidence: BTreeSet<u64> = report
        .checks
        .iter()
        .flat_map(|c| c.evidence.iter().copied())
        .collect();
    let scenario_index: HashMap<String, usize> = report
        .scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), i))
        .collect();
    for s in &mut report.scenarios {
        s.exchanges.clear();
        s.exchanges_omitted = 0;
    }
    let mut shown_per_scenario = vec![0usize; report.scenarios.len()];
    let read_for_index;
    let index = match index {
        Some(index) => index,
        None => {
            read_for_index = Index::of(journal)?;
            &read_for_index
        }
    };
    let mut shown = Vec::new();
    for ex in index.exchanges() {
        let is_evidence = evidence.contains(&ex.seq);
        let keep = match scenario_index.get(index.scenario_of(ex)) {
            Some(&i) => {
                let scenario = &mut report.scenarios[i];
                if shown_per_scenario[i] < MAX_EXCHANGES_PER_SCENARIO || is_evidence {
                    shown_per_scenario[i] += 1;
                    scenario.exchanges.push(ex.seq);
                    true
                } else {
                    scenario.exchanges_omitted += 1;
                    false
                }
            }
            // Outside any scenario (start-up, readiness) or of a scenario the runner did not
            // list: shown only when a check points at it.
            None => is_evidence,
        };
        if keep {
            shown.push(ex);
        }
    }
    let mut kept: Vec<Exchange> = index
        .read(journal, shown)?
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::Exchange(ex) => Some(*ex),
            _ => None,
        })
        .collect();

    // Learn every secret the kept traffic reveals before masking any of it, so a token issued
    // in exchange 12 is masked in the URL of exchange 3 as well.
    let mut secrets = secrets.clone();
    for ex in &kept {
        secrets.learn_from(ex);
    }
    for ex in &mut kept {
        secrets.mask_exchange(ex);
        cut_body(&mut ex.request.body);
        if let Some(r) = &mut ex.response {
            cut_body(&mut r.body);
        }
    }
    kept.sort_by_key(|e| e.seq);
    kept.dedup_by_key(|e| e.seq);
    // Exchanges are numbered as they end; a callback that waits for the shop's status query
    // ends after it. Scenarios and evidence read in the order things began, as a reviewer
    // follows a journey: who called whom, when.
    let began: HashMap<u64, f64> = kept.iter().map(|e| (e.seq, e.at_ms)).collect();
    let by_start = |seqs: &mut Vec<u64>| {
        seqs.sort_by(|a, b| {
            let ka = (began.get(a).copied().unwrap_or(f64::MAX), *a);
            let kb = (began.get(b).copied().unwrap_or(f64::MAX), *b);
            ka.partial_cmp(&kb).unwrap_or(std::cmp::Ordering::Equal)
        });
        seqs.dedup();
    };
    for c in &mut report.checks {
        by_start(&mut c.evidence);
    }
    for s in &mut report.scenarios {
        by_start(&mut s.exchanges);
        if let Some(e) = &mut s.error {
            *e = secrets.mask_text(e);
        }
    }

    report.exchanges = kept;
    for c in &mut report.checks {
        c.message = secrets.mask_text(&c.message);
    }
    if let Some(e) = &mut report.run_error {
        *e = secrets.mask_text(e);
    }
    report.target.base_url = secrets.mask_text(&report.target.base_url);
    sort_checks(&mut report.checks);
    report.counts = count(&report.checks);
    Ok(secrets)
}

/// Names the provider's public documents where the suite wrote golive's own references
/// (`seed 003`, `providers.md`): reviewers outside golive must be able to follow a source.
pub fn cite_sources(report: &mut RunReport) {
    let provider = report.suite.provider.clone();
    for c in &mut report.checks {
        c.source = super::cite::cite(&provider, &c.source);
        c.description = super::cite::cite(&provider, &c.description);
        c.title = super::cite::cite(&provider, &c.title);
    }
}

/// Keeps a check's first [`MAX_EVIDENCE_PER_CHECK`] exchanges of evidence and says in its
/// message how many more there are.
fn cap_evidence(check: &mut CheckResult) {
    check.evidence.sort_unstable();
    check.evidence.dedup();
    if check.evidence.len() <= MAX_EVIDENCE_PER_CHECK {
        return;
    }
    let rest = check.evidence.len() - MAX_EVIDENCE_PER_CHECK;
    let last = check.evidence[check.evidence.len() - 1];
    check.evidence.truncate(MAX_EVIDENCE_PER_CHECK);
    check.message.push_str(&format!(
        "\n({rest} more exchanges of evidence, up to #{last}, are in the journal; the first {MAX_EVIDENCE_PER_CHECK} are shown)"
    ));
}

/// Cuts a (masked) body to [`REPORT_BODY_KEEP_BYTES`] at a character boundary. Masking comes
/// first so a card number or token cut in half cannot slip past the rules.
fn cut_body(body: &mut Body) {
    if body.text().len() <= REPORT_BODY_KEEP_BYTES {
        return;
    }
    let mut end = REPORT_BODY_KEEP_BYTES;
    while !body.text().is_char_boundary(end) {
        end -= 1;
    }
    body.text_mut().truncate(end);
    body.truncated = true;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::journal::{fingerprint, Journal, ScenarioEnd, ScenarioStart};
    use crate::report::model::*;

    pub(crate) fn exchange(method: &str, url: &str, status: u16, body: &str) -> Exchange {
        let mut ex = Exchange::test_call(method, url, body, "");
        ex.seq = 0;
        ex.scenario = String::new();
        ex.duration_ms = 3.0;
        if let Some(answer) = ex.response.as_mut() {
            answer.status = status;
        }
        ex
    }

    pub(crate) fn check(
        id: &str,
        outcome: Outcome,
        severity: Severity,
        evidence: &[u64],
    ) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: format!("{id} title"),
            description: format!("{id} rule"),
            severity,
            source: "KontoCloud API reference (Issue Token)".into(),
            kind: "token_reuse".into(),
            scenario: None,
            outcome,
            message: format!("{id} message"),
            evidence: evidence.to_vec(),
        }
    }

    /// A report as [`RunReport::begin`] makes it, with a fixed suite, target, start time and
    /// golive version (for snapshots), a failed verdict, these scenarios and these checks.
    pub(crate) fn empty_report(scenarios: &[&str], checks: Vec<CheckResult>) -> RunReport {
        let mut r = RunReport::begin(
            SuiteInfo {
                id: "kontocloud".into(),
                title: "KontoCloud go-live".into(),
                provider: "kontocloud".into(),
                source: "built-in:kontocloud".into(),
            },
            TargetInfo {
                name: "demo-shop".into(),
                source: "target.yaml".into(),
                base_url: "http://127.0.0.1:8080".into(),
            },
        );
        r.tool.version = "0.1.0".into();
        r.started_at = "2024-06-11T12:00:00Z".into();
        r.duration_ms = 1000.0;
        r.verdict = Verdict::Failed;
        r.scenarios = scenarios
            .iter()
            .map(|id| ScenarioResult {
                id: id.to_string(),
                title: id.to_string(),
                started_ms: 0.0,
                ended_ms: 10.0,
                error: None,
                not_applicable: None,
                exchanges: vec![],
                exchanges_omitted: 0,
            })
            .collect();
        r.checks = checks;
        r
    }

    /// `r` made incomplete for one reason, as a run that could not judge everything ends.
    pub(crate) fn incomplete(mut r: RunReport, reason: &str) -> RunReport {
        r.verdict = Verdict::Incomplete;
        r.incomplete = vec![reason.into()];
        r
    }

    /// A journal in a folder of its own, which lives as long as the `TempDir`.
    fn journal() -> (tempfile::TempDir, std::path::PathBuf, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let j = Journal::create(&path).unwrap();
        (dir, path, j)
    }

    fn start(j: &Journal, id: &str) {
        j.start_scenario(ScenarioStart {
            lane: 0,
            scenario: id.into(),
            title: id.into(),
            at_ms: 0.0,
            token_lifetime_s: None,
        });
    }

    fn end(j: &Journal, id: &str) {
        j.end_scenario(ScenarioEnd {
            scenario: id.into(),
            at_ms: 0.0,
            error: None,
        });
    }

    #[test]
    fn scenarios_are_capped_but_evidence_and_outside_evidence_kept() {
        let (_dir, path, j) = journal();
        // 1: readiness probe outside any scenario, used as evidence.
        j.record(exchange("GET", "/health", 200, ""));
        // 2: outside, not evidence: left out.
        j.record(exchange("GET", "/health", 200, ""));
        start(&j, "flood");
        let first = j.last_seq() + 1;
        for _ in 0..MAX_EXCHANGES_PER_SCENARIO + 20 {
            j.record(exchange("GET", "/payment/P1/status", 200, ""));
        }
        let last = j.last_seq();
        end(&j, "flood");
        start(&j, "small");
        let small = j.record(exchange("POST", "/checkout", 200, ""));
        end(&j, "small");
        j.flush().unwrap();

        let mut report = empty_report(
            &["flood", "small"],
            vec![
                check("A", Outcome::Passed, Severity::Minor, &[1]),
                check("B", Outcome::Failed, Severity::Major, &[last]),
            ],
        );
        complete(&mut report, &path, None, &Secrets::new()).unwrap();

        let flood = &report.scenarios[0];
        assert_eq!(flood.exchanges.len(), MAX_EXCHANGES_PER_SCENARIO + 1);
        assert_eq!(flood.exchanges_omitted, 19);
        assert_eq!(flood.exchanges[0], first);
        assert_eq!(*flood.exchanges.last().unwrap(), last);
        assert_eq!(report.scenarios[1].exchanges, vec![small]);
        assert!(
            report.exchange(1).is_some(),
            "evidence outside scenarios shown"
        );
        assert!(report.exchange(2).is_none());
        assert!(report.exchange(last).is_some());
        assert!(report.exchange(last - 1).is_none());
        let seqs: Vec<u64> = report.exchanges.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        // Failures first, and counts match the checks.
        assert_eq!(report.checks[0].id, "B");
        assert_eq!(report.counts.failed, 1);
        assert_eq!(report.counts.passed, 1);
    }

    #[test]
    fn traffic_and_texts_are_masked_and_bodies_cut() {
        let (_dir, path, j) = journal();
        start(&j, "s");
        let token = "tok-0123456789abcdef";
        let mut issue = exchange(
            "POST",
            "/user/u1/issue",
            200,
            r#"{"password":"hunter2hunter2"}"#,
        );
        issue.response.as_mut().unwrap().body =
            Body::from_bytes(format!(r#"{{"token":"{token}"}}"#).as_bytes());
        j.record(issue);
        let big = format!(
            "{{\"pan\":\"4111111111111111\",\"pad\":\"{}\"}}",
            "x".repeat(40_000)
        );
        let mut status = exchange("GET", &format!("/payment/U1/status?t={token}"), 200, &big);
        status.request.headers.push("X-Auth-Token", token);
        j.record(status);
        end(&j, "s");
        j.flush().unwrap();

        let mut report = empty_report(
            &["s"],
            vec![check("A", Outcome::Failed, Severity::Critical, &[2])],
        );
        report.checks[0].message = format!("token {token} sent with card 4111111111111111");
        report.run_error = Some("merchantKey=mk-secret-1 rejected".into());
        report.scenarios[0].error = Some("login with S3cr3tMerchant failed".into());
        complete(&mut report, &path, None, &Secrets::with(["S3cr3tMerchant"])).unwrap();

        let text = serde_json::to_string(&report).unwrap();
        for secret in [
            token,
            "hunter2hunter2",
            "4111111111111111",
            "mk-secret-1",
            "S3cr3tMerchant",
        ] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
        assert!(text.contains(&fingerprint(token)));
        let body = &report.exchange(2).unwrap().request.body;
        assert!(body.truncated);
        assert!(body.text().len() <= REPORT_BODY_KEEP_BYTES);
        assert_eq!(body.size, big.len());
        assert!(body.text().contains("411111******1111"));
    }

    #[test]
    fn a_missing_journal_is_an_error() {
        let mut report = empty_report(&[], vec![]);
        let err = complete(
            &mut report,
            Path::new("/nonexistent/journal.jsonl"),
            None,
            &Secrets::new(),
        );
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/journal.jsonl"));
    }

    #[test]
    fn evidence_is_capped_per_check_with_a_count_of_the_rest() {
        let (_dir, path, j) = journal();
        start(&j, "load");
        let seqs: Vec<u64> = (0..2_000)
            .map(|_| j.record(exchange("POST", "/user/u1/issue", 200, "")))
            .collect();
        end(&j, "load");
        j.flush().unwrap();
        let mut report = empty_report(
            &["load"],
            vec![check("A", Outcome::Failed, Severity::Major, &seqs)],
        );
        complete(&mut report, &path, None, &Secrets::new()).unwrap();
        let c = &report.checks[0];
        assert_eq!(c.evidence, seqs[..MAX_EVIDENCE_PER_CHECK].to_vec());
        assert!(
            c.message.contains(&format!(
                "{} more exchanges of evidence",
                2_000 - MAX_EVIDENCE_PER_CHECK
            )),
            "{}",
            c.message
        );
        // What the report holds is bounded by the caps, not by the 2,000 exchanges.
        assert_eq!(report.exchanges.len(), MAX_EXCHANGES_PER_SCENARIO);
        assert_eq!(
            report.scenarios[0].exchanges_omitted,
            2_000 - MAX_EXCHANGES_PER_SCENARIO
        );
    }
}
