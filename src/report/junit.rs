//! JUnit XML for CI: one `<testsuite>` per suite run, one `<testcase>` per check verdict.
//!
//! The output must validate against the Jenkins junit-10 XSD (`schemas/junit-10.xsd`), which is
//! stricter than what quick-junit writes by default:
//! - `<testsuites>` allows only `name`, `time`, `tests`, `failures` and `errors`: quick-junit
//!   always adds `skipped`, so it is taken out again ([`conform`]); the skipped count stays on
//!   each `<testsuite>`, where the XSD allows it;
//! - `<testcase>` has no `<properties>` and no `timestamp`/`assertions` attributes, so each
//!   check's properties (id, severity, source, kind, scenario) are written as `key: value`
//!   lines at the top of its `<system-out>`, and the run's as `<properties>` of the testsuite;
//! - `<testsuite>` needs `name`, `tests`, `failures` and `errors`; its `time` must have at
//!   most three decimals (quick-junit writes `{:.3}`) and `timestamp` is a free string (set as
//!   an extra attribute, so no date library is needed here);
//! - `<skipped>`, `<failure>` and `<error>` take `message` and `type` attributes and text.
//!
//! Times: the root `<testsuites>` and the `<testsuite>` carry the run's duration; a check's
//! `<testcase>` carries none (see `test_suite`): verdicts are judged from shared traffic,
//! so testcase times would overlap and a converter that sums them would mislead.
//!
//! Control characters and ANSI escapes are removed by quick-junit's `XmlString`; the
//! non-characters U+FFFE/U+FFFF (not allowed in XML either) are removed here; `<`, `>` and `&`
//! are escaped as entities, so `]]>` in a body comes out as `]]&gt;`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite, XmlString,
};
use regex::Regex;

use super::model::{CheckResult, Outcome, RunReport, Verdict};
use super::{evidence_line, exchange_text, first_line, EVIDENCE_BODY_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error("cannot write JUnit XML: {0}")]
    Serialize(#[from] quick_junit::SerializeError),
    #[error("cannot read the JUnit file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a JUnit file golive can merge: {source}")]
    Parse {
        path: PathBuf,
        source: quick_junit::DeserializeError,
    },
}

/// The report as JUnit XML.
pub fn to_string(report: &RunReport) -> Result<String, JunitError> {
    let mut junit = Report::new("golive");
    // The root's time too: tools that show only the root (or sum testcase times, which
    // overlap) otherwise show no run time or a wrong one.
    junit.set_time(Duration::from_secs_f64(
        report.duration_ms.max(0.0) / 1000.0,
    ));
    junit.add_test_suite(test_suite(report));
    serialize(&junit)
}

/// Several golive JUnit files (e.g. one per provider) as one, under one `<testsuites>` whose
/// counts are the sums of theirs.
pub fn merge(files: &[PathBuf]) -> Result<String, JunitError> {
    let mut merged = Report::new("golive");
    let mut suites = Vec::new();
    for path in files {
        let xml = std::fs::read_to_string(path).map_err(|source| JunitError::Read {
            path: path.clone(),
            source,
        })?;
        let parsed = Report::deserialize_from_str(&xml).map_err(|source| JunitError::Parse {
            path: path.clone(),
            source,
        })?;
        suites.extend(parsed.test_suites);
    }
    // Re-adding each suite sums the counts from the suites themselves rather than trusting
    // each file's root totals.
    merged.add_test_suites(combine_partitions(suites));
    // The runs merged ran one after the other (a demo of every provider) or side by side
    // (partitions); their sum is what the merged file can honestly say it took at most.
    let time: Duration = merged.test_suites.iter().filter_map(|s| s.time).sum();
    merged.set_time(time);
    serialize(&merged)
}

/// Testsuites of one suite against one target (the same name and `target` property) are the
/// partitions of one assessment (`golive run --partition K/N`), or runs of it again: they
/// become one testsuite with one verdict per testcase. The verdict kept is the most telling:
/// an error, else a failure, else a pass, else a real skip, and a not-in-this-partition skip
/// only when no partition judged the check.
fn combine_partitions(suites: Vec<TestSuite>) -> Vec<TestSuite> {
    fn target(suite: &TestSuite) -> Option<String> {
        suite
            .properties
            .iter()
            .find(|p| p.name.as_str() == "target")
            .map(|p| p.value.as_str().to_owned())
    }
    fn rank(case: &TestCase) -> u8 {
        match &case.status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Error,
                ..
            } => 4,
            TestCaseStatus::NonSuccess { .. } => 3,
            TestCaseStatus::Success { .. } => 2,
            TestCaseStatus::Skipped { message, .. } => {
                // Not judged here (another partition's scenarios, or the filter's choice):
                // any verdict another file has for the check says more.
                let elsewhere = message.as_ref().is_some_and(|m| {
                    m.as_str().starts_with(crate::partition::NOT_IN_PARTITION)
                        || m.as_str().starts_with(LEFT_OUT_BY_FILTER)
                });
                u8::from(!elsewhere)
            }
        }
    }
    /// A testsuite's name and target: what makes two testsuites one assessment.
    type Assessment = (String, Option<String>);
    let mut groups: Vec<(Assessment, Vec<TestSuite>)> = Vec::new();
    for suite in suites {
        let key = (suite.name.as_str().to_owned(), target(&suite));
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(suite),
            None => groups.push((key, vec![suite])),
        }
    }
    groups
        .into_iter()
        .map(|(_, mut group)| {
            if group.len() == 1 {
                return group.pop().expect("one suite");
            }
            let time: Duration = group.iter().filter_map(|s| s.time).sum();
            let mut cases: Vec<TestCase> = Vec::new();
            let mut first = None;
            for suite in group {
                let mut suite = suite;
                for case in std::mem::take(&mut suite.test_cases) {
                    let same = cases
                        .iter()
                        .position(|c| c.classname == case.classname && c.name == case.name);
                    match same {
                        Some(i) if rank(&case) > rank(&cases[i]) => cases[i] = case,
                        Some(_) => {}
                        None => cases.push(case),
                    }
                }
                first.get_or_insert(suite);
            }
            // A check judged per scenario has one testcase per scenario where it was judged;
            // the partition that ran none of its scenarios wrote one skip under the check's
            // bare name. Where another partition judged it, that skip says nothing more.
            let judged: HashSet<Option<XmlString>> = cases
                .iter()
                .filter(|c| rank(c) > 0)
                .map(|c| c.classname.clone())
                .collect();
            cases.retain(|c| rank(c) > 0 || !judged.contains(&c.classname));
            let mut combined = first.expect("a group has a suite");
            combined.tests = 0;
            combined.failures = 0;
            combined.errors = 0;
            combined.skipped = 0;
            combined.set_time(time);
            combined.add_test_cases(cases);
            let verdict = if combined.errors > 0 {
                "error"
            } else if combined.failures > 0 {
                "failed"
            } else {
                "passed"
            };
            for p in combined.properties.iter_mut() {
                if p.name.as_str() == "verdict" {
                    p.value = XmlString::new(verdict);
                }
            }
            combined
        })
        .collect()
}

fn serialize(junit: &Report) -> Result<String, JunitError> {
    Ok(conform(junit.to_string()?))
}

/// Takes out what quick-junit writes but the junit-10 XSD does not allow: the `skipped`
/// attribute of the root `<testsuites>`.
fn conform(xml: String) -> String {
    static ROOT_SKIPPED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(<testsuites\b[^>]*?) skipped="[0-9]+""#).expect("valid regex")
    });
    ROOT_SKIPPED.replacen(&xml, 1, "$1").into_owned()
}

/// Text as XML can carry it (see the module comment).
fn xml_text(text: &str) -> XmlString {
    XmlString::new(text.replace(['\u{fffe}', '\u{ffff}'], ""))
}

fn test_suite(report: &RunReport) -> TestSuite {
    let suite_id = &report.suite.id;
    let mut suite = TestSuite::new(xml_text(suite_id));
    suite.set_time(Duration::from_secs_f64(
        report.duration_ms.max(0.0) / 1000.0,
    ));
    suite
        .extra
        .insert(XmlString::new("timestamp"), xml_text(&report.started_at));
    // GitHub's annotation tools read `file` to place a failure; the junit-10 XSD allows it on
    // `<testsuite>` only (not on `<testcase>`). A bundled suite is named by its file in the
    // golive sources (`suites/…`), which `golive suites export` writes under that name.
    suite.extra.insert(
        XmlString::new("file"),
        xml_text(suite_file(&report.suite.source)),
    );
    suite.add_properties([
        Property::new("provider", xml_text(&report.suite.provider)),
        Property::new("suite", xml_text(&report.suite.title)),
        Property::new("suite.source", xml_text(&report.suite.source)),
        Property::new("target", xml_text(&report.target.name)),
        Property::new("target.base_url", xml_text(&report.target.base_url)),
        Property::new(
            "tool",
            xml_text(&format!("{} {}", report.tool.name, report.tool.version)),
        ),
        Property::new("verdict", verdict_word(report.verdict)),
    ]);
    if let Some(journal) = &report.journal {
        suite.add_property(Property::new("journal", xml_text(journal)));
    }
    // A filtered run judged part of the suite, and a bailed one stopped early: CI says so.
    if let Some(filter) = &report.filter {
        suite.add_property(Property::new("filter", xml_text(&filter.describe())));
    }
    if let Some(why) = &report.bailed {
        suite.add_property(Property::new("bailed", xml_text(why)));
    }

    // A run that was not a full assessment says so in a testcase of its own, so a CI page
    // that only lists testcases cannot show it as green.
    if let Some((kind, text)) = run_problem(report) {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status
            .set_message(xml_text(first_line(&text)))
            .set_type(kind)
            .set_description(xml_text(&text));
        let mut case = TestCase::new("run", status);
        case.set_classname(xml_text(&format!("golive.{suite_id}.run")));
        suite.add_test_case(case);
    }

    let mut seen = HashSet::new();
    for check in &report.checks {
        let classname = format!("golive.{suite_id}.{}", check.id);
        // Two verdicts with one name would make CI tools merge or drop one; number the extras.
        let mut name = check.name();
        let mut n = 2;
        while !seen.insert((classname.clone(), name.clone())) {
            name = format!("{} #{n}", check.name());
            n += 1;
        }
        let mut case = TestCase::new(xml_text(&name), status(report, check));
        case.set_classname(xml_text(&classname));
        // No `time` on a check's testcase: every verdict is judged from the same traffic,
        // after it, in one pass, so per-check times would overlap, and converters that add
        // testcase times up (junit2html shows a suite's time as the larger of its own and
        // that sum) would show a run several times longer than it was. The run's time is on
        // the testsuite and the root; how long a check's evidence spans is in its system-out.
        case.set_system_out(xml_text(&system_out(report, check)));
        suite.add_test_case(case);
    }
    if let Some(filter) = &report.filter {
        suite.add_test_cases(left_out_cases(suite_id, filter));
    }
    suite
}

/// The start of the skip message of a check `--scenario`/`--check` left out; the merge
/// recognises such skips by it (a partition's run with another filter may have judged it).
pub const LEFT_OUT_BY_FILTER: &str = "not run: left out by";

/// One skipped testcase per check the filter left out, saying which flag left it out: a CI
/// page lists testcases, not the testsuite's properties, and a filtered run whose page shows
/// only what it judged would read as the whole assessment passed. Skipped is no verdict: the
/// run's verdict and exit code are unchanged (the filter is not the integration's fault).
fn left_out_cases(suite_id: &str, filter: &super::model::Filter) -> Vec<TestCase> {
    let by_check = |id: &str| {
        !filter.checks.is_empty()
            && !filter
                .checks
                .iter()
                .any(|g| crate::run::filter::Glob::new(g).matches(id))
    };
    let flags = |flag: &str, globs: &[String]| {
        globs
            .iter()
            .map(|g| format!("{flag} '{g}'"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    filter
        .checks_left_out
        .iter()
        .map(|id| {
            let why = if by_check(id) {
                format!(
                    "{LEFT_OUT_BY_FILTER} {}, which does not select this check",
                    flags("--check", &filter.checks)
                )
            } else {
                format!(
                    "{LEFT_OUT_BY_FILTER} {}: the suite asks for this check only in scenarios it leaves out",
                    flags("--scenario", &filter.scenarios)
                )
            };
            let mut status = TestCaseStatus::skipped();
            status.set_message(xml_text(&why));
            let mut case = TestCase::new(xml_text(id), status);
            case.set_classname(xml_text(&format!("golive.{suite_id}.{id}")));
            case.set_system_out(xml_text(&format!("check: {id}\noutcome: left out\n\n{why}\n")));
            case
        })
        .collect()
}

fn verdict_word(v: Verdict) -> &'static str {
    v.as_str()
}

/// What kept the run from being a full assessment, as (type, text): the run error, the
/// interruption with the scenarios it left out, or why the assessment is incomplete.
fn run_problem(report: &RunReport) -> Option<(&'static str, String)> {
    let not_run = if report.not_run.is_empty() {
        String::new()
    } else {
        format!("\nScenarios not run: {}", report.not_run.join(", "))
    };
    match report.verdict {
        Verdict::Passed | Verdict::Failed => None,
        Verdict::Error => Some((
            "run_error",
            format!(
                "{}{not_run}",
                report
                    .run_error
                    .as_deref()
                    .unwrap_or("the run could not be made")
            ),
        )),
        Verdict::Interrupted => Some((
            "interrupted",
            format!(
                "the run was interrupted by {} before it ended: the verdicts below judge only what ran{not_run}",
                report.interrupted.as_deref().unwrap_or("a signal")
            ),
        )),
        Verdict::Incomplete => Some((
            "incomplete",
            format!(
                "the assessment is incomplete: no check failed, but not everything the suite asked for was judged\n{}",
                report.incomplete.join("\n")
            ),
        )),
    }
}

/// The suite's file as `file` names it: a bundled suite's `built-in:` prefix taken off.
fn suite_file(source: &str) -> &str {
    source.strip_prefix("built-in:").unwrap_or(source)
}

/// The first line of a failure's body, `[critical] KC-TOKEN-REUSE: a new token per call`:
/// GitLab shows only the body, so the severity and the check must open it.
fn body_headline(check: &CheckResult) -> String {
    format!(
        "[{}] {}: {}",
        check.severity.as_str(),
        check.id,
        first_line(&check.message)
    )
}

/// `[critical] KC-TOKEN-REUSE: Tokens are reused: a new token per call (#4, #7)`.
pub fn failure_message(check: &CheckResult) -> String {
    format!(
        "[{}] {}: {}: {}",
        check.severity.as_str(),
        check.id,
        check.title,
        first_line(&check.message)
    )
}

fn status(report: &RunReport, check: &CheckResult) -> TestCaseStatus {
    match check.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(xml_text(first_line(&check.message)));
            s
        }
        Outcome::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(xml_text(&failure_message(check)))
                .set_type("not_judged")
                .set_description(xml_text(&format!(
                    "{}\n\n{}",
                    body_headline(check),
                    check.message
                )));
            s
        }
        Outcome::Failed => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(xml_text(&failure_message(check)))
                .set_type(xml_text(&check.kind))
                .set_description(xml_text(&failure_text(report, check)));
            s
        }
    }
}

/// The failure's body: the rule, where it comes from, what was wrong, and the evidence in
/// order, each exchange in full (masked, bodies cut).
fn failure_text(report: &RunReport, check: &CheckResult) -> String {
    let mut out = format!(
        "{}\n\nRule: {}\nSource: {}\n\n{}\n",
        body_headline(check),
        check.description,
        check.source,
        check.message
    );
    if !check.evidence.is_empty() {
        out.push_str("\nEvidence:\n");
        for seq in &check.evidence {
            match report.exchange(*seq) {
                Some(ex) => out.push_str(&exchange_text(ex, EVIDENCE_BODY_BYTES)),
                None => out.push_str(&format!("#{seq} (not in the journal)\n")),
            }
        }
    }
    out
}

/// What a CI page shows next to the verdict: the check's properties (the XSD has no
/// `<properties>` in a testcase) and the evidence, one line each.
fn system_out(report: &RunReport, check: &CheckResult) -> String {
    let mut out = format!(
        "check: {}\nseverity: {}\nsource: {}\nkind: {}\nscenario: {}\noutcome: {}\n",
        check.id,
        check.severity.as_str(),
        check.source,
        check.kind,
        check.scenario.as_deref().unwrap_or("(whole run)"),
        check.outcome.as_str()
    );
    out.push_str(&format!("\n{}\n", check.message));
    if !check.evidence.is_empty() {
        match evidence_span(report, check) {
            Some(span) => out.push_str(&format!(
                "\nEvidence (spanning {}):\n",
                super::secs(span.as_secs_f64() * 1000.0)
            )),
            None => out.push_str("\nEvidence:\n"),
        }
        for seq in &check.evidence {
            out.push_str(&format!("  {}\n", evidence_line(report, *seq)));
        }
    }
    out
}

/// From the first piece of evidence to the end of the last: how long the judged traffic took.
fn evidence_span(report: &RunReport, check: &CheckResult) -> Option<Duration> {
    let exchanges: Vec<_> = check
        .evidence
        .iter()
        .filter_map(|s| report.exchange(*s))
        .collect();
    let start = exchanges.iter().map(|e| e.at_ms).reduce(f64::min)?;
    let end = exchanges
        .iter()
        .map(|e| e.at_ms + e.duration_ms)
        .reduce(f64::max)?;
    Some(Duration::from_secs_f64(((end - start) / 1000.0).max(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::build::tests::{check, empty_report, exchange, incomplete};
    use crate::report::model::Severity;

    fn report() -> RunReport {
        let mut r = empty_report(
            &["purchase_captured"],
            vec![
                check(
                    "KC-TOKEN-REUSE",
                    Outcome::Failed,
                    Severity::Critical,
                    &[1, 2],
                ),
                check("KC-PARTNER-REF", Outcome::Passed, Severity::Major, &[1]),
                check("KC-POLL-DELAY", Outcome::Skipped, Severity::Minor, &[]),
            ],
        );
        r.checks[0].message = "a new token per call\nsecond line".into();
        r.checks[2].message = "no polling in this run".into();
        let mut a = exchange(
            "POST",
            "/user/u1/issue",
            200,
            "{\"a\":\"\u{1b}[31mred\u{1b}[0m ]]> \u{7}\"}",
        );
        a.seq = 1;
        a.at_ms = 1000.0;
        let mut b = exchange("POST", "/user/u1/issue", 200, "");
        b.seq = 2;
        b.at_ms = 2000.0;
        r.exchanges = vec![a, b];
        r.counts = crate::report::count(&r.checks);
        r
    }

    #[test]
    fn root_has_no_skipped_attribute_but_suite_does() {
        let xml = to_string(&report()).unwrap();
        let root = xml.lines().find(|l| l.contains("<testsuites")).unwrap();
        assert!(!root.contains("skipped="), "{root}");
        let suite = xml.lines().find(|l| l.contains("<testsuite ")).unwrap();
        assert!(suite.contains(r#"skipped="1""#), "{suite}");
        assert!(
            suite.contains(r#"timestamp="2024-06-11T12:00:00Z""#),
            "{suite}"
        );
    }

    #[test]
    fn failures_name_the_rule_and_carry_the_evidence() {
        let xml = to_string(&report()).unwrap();
        assert!(xml.contains(
            r#"<failure message="[critical] KC-TOKEN-REUSE: KC-TOKEN-REUSE title: a new token per call" type="token_reuse">"#
        ), "{xml}");
        assert!(xml.contains("#1 POST /user/u1/issue"));
        assert!(xml.contains(r#"classname="golive.kontocloud.KC-TOKEN-REUSE""#));
        assert!(
            xml.contains(r#"<skipped message="no polling in this run"/>"#),
            "{xml}"
        );
        // Control characters and ANSI escapes are gone, `]]>` escaped.
        assert!(!xml.contains('\u{1b}') && !xml.contains('\u{7}'));
        assert!(xml.contains("red ]]&gt;"), "{xml}");
        assert!(!xml.contains("<properties>\n            <property name=\"check\""));
    }

    #[test]
    fn a_failure_body_opens_with_severity_and_check_and_the_suite_names_its_file() {
        let xml = to_string(&report()).unwrap();
        // The whole file, reviewed: GitLab shows the body, GitHub reads `file`, the root
        // carries the run's time.
        insta::assert_snapshot!("junit_of_a_small_report", xml);
        let root = xml.lines().find(|l| l.contains("<testsuites")).unwrap();
        assert!(root.contains(r#"time=""#), "{root}");
        let suite = xml.lines().find(|l| l.contains("<testsuite ")).unwrap();
        assert!(suite.contains(r#"file=""#), "{suite}");
    }

    #[test]
    fn only_the_run_has_a_time_so_summed_testcase_times_cannot_mislead() {
        let mut r = report();
        r.duration_ms = 43_500.0;
        let xml = to_string(&r).unwrap();
        let root = xml.lines().find(|l| l.contains("<testsuites")).unwrap();
        assert!(root.contains(r#"time="43.500""#), "{root}");
        let suite = xml.lines().find(|l| l.contains("<testsuite ")).unwrap();
        assert!(suite.contains(r#"time="43.500""#), "{suite}");
        for case in xml.lines().filter(|l| l.contains("<testcase ")) {
            assert!(!case.contains("time="), "{case}");
        }
        // How long the evidence spans is still said, where a reader of the testcase looks.
        assert!(xml.contains("Evidence (spanning 1.003 s):"), "{xml}");
    }

    #[test]
    fn checks_the_filter_left_out_are_skipped_testcases_naming_the_flag() {
        let mut r = report();
        r.filter = Some(crate::report::Filter {
            scenarios: vec!["purchase_*".into()],
            checks: vec!["KC-TOKEN-*".into(), "KC-PARTNER-*".into()],
            scenarios_left_out: vec!["status_flaky".into()],
            checks_left_out: vec!["KC-HEADERS".into(), "KC-TOKEN-RETRY".into()],
        });
        let xml = to_string(&r).unwrap();
        assert!(
            xml.contains(
                r#"<testcase name="KC-HEADERS" classname="golive.kontocloud.KC-HEADERS">
            <skipped message="not run: left out by --check &apos;KC-TOKEN-*&apos; --check &apos;KC-PARTNER-*&apos;, which does not select this check"/>"#
            ),
            "{xml}"
        );
        // Selected by --check, but asked for only in scenarios --scenario left out.
        assert!(
            xml.contains(r#"<skipped message="not run: left out by --scenario &apos;purchase_*&apos;: the suite asks for this check only in scenarios it leaves out"/>"#),
            "{xml}"
        );
        let suite = xml.lines().find(|l| l.contains("<testsuite ")).unwrap();
        assert!(
            suite.contains(r#"tests="5""#) && suite.contains(r#"skipped="3""#),
            "{suite}"
        );
        // A skip is no verdict: the run's stays what the judged checks made it.
        let verdict = r#"<property name="verdict" value="failed"/>"#;
        assert!(xml.contains(verdict), "{xml}");
    }

    #[test]
    fn a_merge_keeps_a_verdict_over_the_filters_skip() {
        let dir = tempfile::tempdir().unwrap();
        let mut filtered = report();
        let judged = filtered.checks.remove(1);
        filtered.filter = Some(crate::report::Filter {
            checks: vec!["KC-TOKEN-*".into(), "KC-POLL-*".into()],
            checks_left_out: vec![judged.id.clone()],
            ..Default::default()
        });
        let a = dir.path().join("a.xml");
        let b = dir.path().join("b.xml");
        std::fs::write(&a, to_string(&filtered).unwrap()).unwrap();
        std::fs::write(&b, to_string(&report()).unwrap()).unwrap();
        for files in [[a.clone(), b.clone()], [b, a]] {
            let merged = merge(&files).unwrap();
            assert!(!merged.contains(LEFT_OUT_BY_FILTER), "{merged}");
            assert_eq!(merged.matches("<testcase ").count(), 3, "{merged}");
        }
    }

    #[test]
    fn duplicate_names_are_numbered() {
        let mut r = report();
        r.checks.push(r.checks[1].clone());
        let xml = to_string(&r).unwrap();
        assert!(xml.contains(r#"name="KC-PARTNER-REF #2""#), "{xml}");
    }

    #[test]
    fn a_run_error_is_one_error_testcase() {
        let mut r = empty_report(&[], vec![]);
        r.verdict = Verdict::Error;
        r.run_error = Some("the target did not start: exit 1\nlog tail".into());
        let xml = to_string(&r).unwrap();
        assert!(
            xml.contains(r#"<testcase name="run" classname="golive.kontocloud.run">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<error message="the target did not start: exit 1" type="run_error">"#),
            "{xml}"
        );
        assert!(xml.contains(r#"errors="1""#));
    }

    #[test]
    fn a_verdict_not_given_is_an_error_testcase_and_an_interruption_says_so() {
        let mut r = report();
        let mut owed = check("KC-PAID", Outcome::Error, Severity::Critical, &[]);
        owed.scenario = Some("status_flaky".into());
        owed.message = "not judged: scenario status_flaky was not run".into();
        r.checks.push(owed);
        r.verdict = Verdict::Interrupted;
        r.interrupted = Some("SIGINT".into());
        r.not_run = vec!["status_flaky".into()];
        r.counts = crate::report::count(&r.checks);
        let xml = to_string(&r).unwrap();
        assert!(
            xml.contains(
                r#"<testcase name="KC-PAID [status_flaky]" classname="golive.kontocloud.KC-PAID">"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"type="not_judged">["#)
                && xml.contains(
                    "KC-PAID: not judged: scenario status_flaky was not run\n\nnot judged"
                ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<error message="the run was interrupted by SIGINT before it ended"#),
            "{xml}"
        );
        assert!(xml.contains("Scenarios not run: status_flaky"), "{xml}");
        // The owed verdict and the interruption are both errors; nothing vanished.
        assert!(xml.contains(r#"errors="2""#), "{xml}");
        assert!(xml.contains(r#"tests="5""#), "{xml}");
    }

    #[test]
    fn an_incomplete_run_is_an_error_testcase_with_its_reasons() {
        let r = incomplete(report(), "no check judged anything: all 15 were skipped");
        let xml = to_string(&r).unwrap();
        assert!(xml.contains(r#"type="incomplete""#), "{xml}");
        assert!(xml.contains("no check judged anything"), "{xml}");
        assert!(
            xml.contains(r#"<property name="verdict" value="incomplete"/>"#),
            "{xml}"
        );
    }

    #[test]
    fn merge_sums_counts() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.xml");
        let b = dir.path().join("b.xml");
        std::fs::write(&a, to_string(&report()).unwrap()).unwrap();
        let mut other = report();
        other.suite.id = "paynow".into();
        other.checks.truncate(2);
        std::fs::write(&b, to_string(&other).unwrap()).unwrap();
        let merged = merge(&[a, b]).unwrap();
        let root = merged.lines().find(|l| l.contains("<testsuites")).unwrap();
        assert!(
            root.contains(r#"tests="5""#) && root.contains(r#"failures="2""#),
            "{root}"
        );
        assert!(!root.contains("skipped="));
        assert_eq!(merged.matches("<testsuite ").count(), 2);
        assert!(merged.contains("golive.paynow.KC-TOKEN-REUSE"));
    }

    #[test]
    fn merge_names_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.xml");
        std::fs::write(&bad, "<html>").unwrap();
        let err = merge(&[bad]).unwrap_err().to_string();
        assert!(err.contains("bad.xml"), "{err}");
    }
}
