//! The result of a run, as every reporter sees it.
//!
//! It is built once from the journal and the check findings (see `report::build`), with every
//! secret already masked, so no reporter can leak what another one hides.

use serde::{Deserialize, Serialize};

use crate::journal::Exchange;

/// Version of the JSON report's layout (`schemas/report.schema.json`).
pub const REPORT_FORMAT_VERSION: &str = "1";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Blocks go-live.
    Critical,
    /// Must be fixed before go-live, but a reviewer may accept a plan.
    Major,
    /// Good practice.
    Minor,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// Nothing in the traffic for the rule to judge (the reason says why).
    Skipped,
    /// Not judged: the scenario the check owed a verdict for was not driven to its end, or
    /// not run at all (the message says which and why). The assessment is incomplete.
    Error,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check passed (some may have been skipped).
    Passed,
    /// At least one check failed.
    Failed,
    /// The run could not be made (the target did not start, ...): no verdict on the rules.
    Error,
    /// No check failed, but the assessment was not fully made: a scenario was not driven to
    /// its end, or a check the suite asked for could not be judged anywhere
    /// (`RunReport::incomplete` says what).
    Incomplete,
    /// The run was stopped by a signal (SIGINT, SIGTERM) before it ended: the report holds
    /// what was done until then (`RunReport::interrupted`, `RunReport::not_run`).
    Interrupted,
}

impl Verdict {
    /// The verdict as the reports write it (`passed`, `incomplete`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Error => "error",
            Verdict::Incomplete => "incomplete",
            Verdict::Interrupted => "interrupted",
        }
    }
}

impl Outcome {
    /// The outcome as the reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuiteInfo {
    pub id: String,
    pub title: String,
    pub provider: String,
    /// Where the suite was read from (a path, or `built-in:<name>`).
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetInfo {
    pub name: String,
    pub source: String,
    /// Where the integration was reached.
    pub base_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Counts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Verdicts owed but not given (`Outcome::Error`): their scenario was not driven to its end.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub errors: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub started_ms: f64,
    pub ended_ms: f64,
    /// Why the scenario could not be driven to its end (the checks still judge what happened).
    pub error: Option<String>,
    /// Why the scenario was not run at all: it needs a trigger the shop does not offer (the
    /// target's `not_offered` reason). Its checks are skipped with this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_applicable: Option<String>,
    /// Every exchange of the scenario, in order, by sequence number (see `RunReport::exchanges`).
    pub exchanges: Vec<u64>,
    /// Exchanges of the scenario left out of the report because there were too many.
    pub exchanges_omitted: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    /// The check's id in the suite (`KC-TOKEN-REUSE`).
    pub id: String,
    pub title: String,
    /// The rule in words.
    pub description: String,
    pub severity: Severity,
    /// Where the rule comes from: the provider's public document and its section
    /// (`KontoCloud e-wallet integration guide, Complete Order`), or "inferred".
    pub source: String,
    pub kind: String,
    /// The scenario this verdict is for, when the check is judged per scenario.
    pub scenario: Option<String>,
    pub outcome: Outcome,
    /// Why: for a failure, what was wrong and where; for a pass, what was seen.
    pub message: String,
    /// The exchanges that prove the verdict, in order, by sequence number.
    pub evidence: Vec<u64>,
}

impl CheckResult {
    /// The name that identifies this verdict among the run's: `id` or `id [scenario]`.
    pub fn name(&self) -> String {
        match &self.scenario {
            Some(s) => format!("{} [{}]", self.id, s),
            None => self.id.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    pub format_version: String,
    pub tool: Tool,
    pub suite: SuiteInfo,
    pub target: TargetInfo,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub duration_ms: f64,
    /// How much of `duration_ms` the suite itself asked to wait (`sleep` steps at the run's
    /// time scale; with `--jobs N` the lane that waits longest): the rest is golive's overhead
    /// and the integration's own time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scripted_wait_ms: Option<f64>,
    pub verdict: Verdict,
    pub counts: Counts,
    /// Why the run could not be made, when the verdict is `error`.
    pub run_error: Option<String>,
    pub scenarios: Vec<ScenarioResult>,
    /// Failures first, by severity, then passes, then skips (see `sort_checks`).
    pub checks: Vec<CheckResult>,
    /// The exchanges referred to by scenarios and evidence, masked, ordered by sequence number.
    pub exchanges: Vec<Exchange>,
    /// The journal file, relative to the reports folder when it is inside it.
    pub journal: Option<String>,
    /// Why the assessment is incomplete (verdict `incomplete`, or alongside failures): each
    /// scenario not driven to its end, each check the suite asked for that nothing judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<String>,
    /// The signal that interrupted the run (`SIGINT`, `SIGTERM`), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// The suite's scenarios that were not run (after an interruption, a run error or
    /// `--bail`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<String>,
    /// The `--scenario`/`--check` filter the run was made with, when it was filtered: such a
    /// run judges part of the suite, and every report says which part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Why `--bail` stopped the run before its end (the scenario and what failed in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bailed: Option<String>,
}

/// The part of a suite a filtered run (`--scenario GLOB`, `--check GLOB`) judged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Filter {
    /// The `--scenario` globs, as given (empty: every scenario).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<String>,
    /// The `--check` globs, as given (empty: every check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// The suite's scenarios the filter left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios_left_out: Vec<String>,
    /// The suite's checks the filter left out: not matching `--check`, or asked for only in
    /// scenarios `--scenario` left out. They were neither judged nor reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks_left_out: Vec<String>,
}

impl Filter {
    /// `--scenario 'purchase_*' --check 'KC-*'`: the filter as it was typed.
    pub fn flags(&self) -> String {
        self.scenarios
            .iter()
            .map(|g| format!("--scenario '{g}'"))
            .chain(self.checks.iter().map(|g| format!("--check '{g}'")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// One line for every report: the flags and what they left out.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.flags()];
        if !self.scenarios_left_out.is_empty() {
            parts.push(format!(
                "{} scenario(s) left out: {}",
                self.scenarios_left_out.len(),
                self.scenarios_left_out.join(", ")
            ));
        }
        if !self.checks_left_out.is_empty() {
            parts.push(format!(
                "{} check(s) left out: {}",
                self.checks_left_out.len(),
                self.checks_left_out.join(", ")
            ));
        }
        parts.join("; ")
    }
}

impl SuiteInfo {
    /// The suite as the report names it: its id, title, provider and the file it came from.
    pub fn of(suite: &crate::suite::Loaded<crate::suite::Suite>) -> SuiteInfo {
        SuiteInfo {
            id: suite.value.id.clone(),
            title: suite.value.title.clone(),
            provider: suite.value.provider.clone(),
            source: suite.file.display().to_string(),
        }
    }
}

impl RunReport {
    /// A report about to be filled: this golive, the suite and the target, nothing run yet
    /// (verdict `error` until a verdict is reached).
    pub fn begin(suite: SuiteInfo, target: TargetInfo) -> RunReport {
        RunReport {
            format_version: super::REPORT_FORMAT_VERSION.into(),
            tool: Tool {
                name: "golive".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            suite,
            target,
            started_at: String::new(),
            duration_ms: 0.0,
            scripted_wait_ms: None,
            verdict: Verdict::Error,
            counts: Default::default(),
            run_error: None,
            scenarios: Vec::new(),
            checks: Vec::new(),
            exchanges: Vec::new(),
            journal: None,
            incomplete: Vec::new(),
            interrupted: None,
            not_run: Vec::new(),
            filter: None,
            bailed: None,
        }
    }

    pub fn exchange(&self, seq: u64) -> Option<&Exchange> {
        self.exchanges
            .binary_search_by_key(&seq, |e| e.seq)
            .ok()
            .map(|i| &self.exchanges[i])
    }

    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Failed)
    }

    /// The ids of the scenarios not run because the target does not offer what they need
    /// (their checks' skips read "not applicable", not "skipped").
    pub fn not_applicable_scenarios(&self) -> impl Iterator<Item = &str> {
        self.scenarios
            .iter()
            .filter(|s| s.not_applicable.is_some())
            .map(|s| s.id.as_str())
    }
}

/// Failures first (critical before major before minor), then verdicts not given (errors),
/// then passes, then skips; within a
/// group, the suite's order is kept (the sort is stable).
pub fn sort_checks(checks: &mut [CheckResult]) {
    checks.sort_by_key(|c| match c.outcome {
        Outcome::Failed => (0, c.severity),
        Outcome::Error => (1, c.severity),
        Outcome::Passed => (2, Severity::Critical),
        Outcome::Skipped => (3, Severity::Critical),
    });
}

pub fn count(checks: &[CheckResult]) -> Counts {
    let mut counts = Counts {
        total: checks.len(),
        ..Counts::default()
    };
    for c in checks {
        match c.outcome {
            Outcome::Passed => counts.passed += 1,
            Outcome::Failed => counts.failed += 1,
            Outcome::Skipped => counts.skipped += 1,
            Outcome::Error => counts.errors += 1,
        }
    }
    counts
}
