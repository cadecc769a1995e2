//! Checks: pure functions of the journal. Each kind reads the entries once, in order, keeps
//! only the state its rule needs, and yields verdicts with the exchanges that prove them.
//! One file per kind; every kind is usable from any provider's suite.

mod assertion;
mod auth_scheme;
mod bounded_retries;
mod capture_after_reserved;
pub mod docs;
mod event_sequence;
pub mod field;
mod final_event;
mod header_unless_claim;
mod idempotency_keys;
mod idempotent_retry;
mod lanes;
mod local_time;
mod matches_origin;
mod no_unrecognized_fields;
mod order_outcome;
mod pattern;
mod pending_rechecks;
mod poll_interval;
mod preceded_by;
mod recovery_sequence;
mod redelivery;
mod request_schema;
mod required_headers;
pub mod schema;
pub mod scope;
mod secret_stays_server_side;
mod status_verified;
mod token_reuse;
mod token_valid;
mod unique_field;
mod unknown_operation;
mod webhook_response;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::journal::{Actor, Entry, Exchange};
use crate::report::{CheckResult, Outcome};
use crate::suite::{CheckSpec, Suite};

/// One verdict of a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The scenario judged, for checks judged per scenario.
    pub scenario: Option<String>,
    pub outcome: Outcome,
    pub message: String,
    /// Sequence numbers of the exchanges that prove it, in order.
    pub evidence: Vec<u64>,
}

impl Finding {
    pub fn pass(message: impl Into<String>, evidence: Vec<u64>) -> Self {
        Finding {
            scenario: None,
            outcome: Outcome::Passed,
            message: message.into(),
            evidence,
        }
    }
    pub fn fail(message: impl Into<String>, evidence: Vec<u64>) -> Self {
        Finding {
            scenario: None,
            outcome: Outcome::Failed,
            message: message.into(),
            evidence,
        }
    }
    pub fn skip(message: impl Into<String>) -> Self {
        Finding {
            scenario: None,
            outcome: Outcome::Skipped,
            message: message.into(),
            evidence: Vec::new(),
        }
    }
    pub fn in_scenario(mut self, scenario: &str) -> Self {
        self.scenario = Some(scenario.to_owned());
        self
    }
}

/// A rule being evaluated over one pass of the journal.
pub trait Rule: Send {
    /// Whether each lane of a `--jobs N` run is judged apart (its own sandbox and copy of the
    /// integration, a run of its own: token reuse, retries, uniqueness), or the whole journal
    /// at once (a count of matching exchanges over the run).
    fn lanes_apart(&self) -> bool {
        true
    }
    /// Sees every entry, in order; by default hands each exchange to [`Rule::exchange`].
    fn observe(&mut self, entry: &Entry) {
        if let Entry::Exchange(ex) = entry {
            self.exchange(ex);
        }
    }
    /// Sees every exchange; by default hands each call of the integration to a provider
    /// operation to [`Rule::call`].
    fn exchange(&mut self, ex: &Exchange) {
        if ex.actor == Actor::Integration {
            if let Some(op) = ex.operation() {
                self.call(ex, op);
            }
        }
    }
    /// A call of the integration to a provider operation: what most rules judge.
    fn call(&mut self, _ex: &Exchange, _op: &str) {}
    fn finish(self: Box<Self>) -> Vec<Finding>;
}

/// What a kind is given to build its rule.
pub struct BuildContext<'a> {
    pub spec: &'a CheckSpec,
    pub suite: &'a Suite,
    /// Where in `params` reading them failed (a JSON pointer below `params`), for validation
    /// to name the line of the wrong param, not the check's.
    failed_at: std::cell::RefCell<Option<String>>,
}

impl BuildContext<'_> {
    /// The check's `params` as the kind's typed parameters (absent params are `{}`).
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, String> {
        let value = match &self.spec.params {
            Value::Null => Value::Object(Default::default()),
            v => v.clone(),
        };
        serde_path_to_error::deserialize(value).map_err(|e| {
            let pointer = crate::suite::load::model_pointer(e.path());
            let inner = e.inner().to_string();
            let message = missing_param(&inner, &self.spec.kind)
                .unwrap_or_else(|| plain_params_error(&inner, &self.spec.kind));
            let place = if pointer.is_empty() {
                String::new()
            } else {
                format!(" at `params{}`", pointer.replace('/', "."))
            };
            *self.failed_at.borrow_mut() = Some(pointer);
            format!("params of kind `{}`{place}: {message}", self.spec.kind)
        })
    }

    /// The time scale of the run: rule windows in provider time are multiplied by it.
    pub fn time_scale(&self) -> f64 {
        self.suite.settings.time_scale
    }
}

/// A check kind golive knows.
pub struct Kind {
    pub name: &'static str,
    /// One line for `golive kinds` and the docs.
    pub summary: &'static str,
    pub build: fn(&BuildContext) -> Result<Box<dyn Rule>, String>,
}

/// The registry of kinds: `kinds()`, in the order `golive kinds` lists them, `SOURCES`,
/// each kind's source file by name (its module's), which `golive kinds KIND` reads, and
/// `PARAMS_SCHEMAS`, each kind's `Params` as a JSON Schema (the suite schema's per-kind part).
macro_rules! registry {
    ($($kind:ident),* $(,)?) => {
        /// Every check kind.
        pub fn kinds() -> &'static [Kind] {
            &[$($kind::KIND),*]
        }

        /// Each kind's source file, by kind name.
        const SOURCES: &[(&str, &str)] = &[$(
            (stringify!($kind), include_str!(concat!(stringify!($kind), ".rs")))
        ),*];

        /// Each kind's params as a JSON Schema, generated from its `Params` type, by kind name.
        const PARAMS_SCHEMAS: &[(&str, fn(&mut schemars::SchemaGenerator) -> schemars::Schema)] = &[$(
            (stringify!($kind), |g| g.subschema_for::<$kind::Params>())
        ),*];
    };
}

registry![
    token_reuse,
    token_valid,
    unique_field,
    status_verified,
    order_outcome,
    no_unrecognized_fields,
    request_schema,
    required_headers,
    local_time,
    bounded_retries,
    assertion,
    pending_rechecks,
    idempotent_retry,
    auth_scheme,
    secret_stays_server_side,
    idempotency_keys,
    poll_interval,
    capture_after_reserved,
    recovery_sequence,
    preceded_by,
    header_unless_claim,
    webhook_response,
    event_sequence,
    final_event,
    redelivery,
    matches_origin,
    unknown_operation,
];

/// A 64-bit hash of a value a rule remembers in place of the value itself (a request's
/// partnerReference, a payment id): a journal of a million requests would otherwise keep a
/// million strings. foldhash rather than SipHash: it runs for every exchange judged, and no
/// integration chooses its values to collide on purpose.
pub(super) fn hash_of(value: impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(0).hash_one(value)
}

pub fn kind(name: &str) -> Option<&'static Kind> {
    kinds().iter().find(|k| k.name == name)
}

/// Problems building checks: the check's index in the suite and what was wrong.
pub type BuildErrors = Vec<(usize, String)>;

/// "unknown check kind" with the closest known kind, if one is close: the full list is long
/// (`golive kinds` prints it).
pub fn unknown_kind(name: &str) -> String {
    let len = name.chars().count();
    let closest = kinds()
        .iter()
        .filter(|k| k.name.len().abs_diff(len) <= 3)
        .map(|k| (edit_distance(name, k.name), k.name))
        .min()
        .filter(|(d, _)| *d <= 3);
    match closest {
        Some((_, k)) => format!(
            "unknown check kind `{name}`; did you mean `{k}`? (`golive kinds` lists them all)"
        ),
        None => {
            format!("unknown check kind `{name}`; `golive kinds` lists the kinds a suite can use")
        }
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Builds every check of a suite; the errors name the check (index, id) and what was wrong.
pub fn build_all(suite: &Suite) -> Result<Vec<Box<dyn Rule>>, BuildErrors> {
    let all: Vec<usize> = (0..suite.checks.len()).collect();
    build_some(suite, &all)
}

/// Builds the checks at these places of the suite, in that order.
fn build_some(suite: &Suite, checks: &[usize]) -> Result<Vec<Box<dyn Rule>>, BuildErrors> {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for &i in checks {
        let spec = &suite.checks[i];
        match build(spec, suite) {
            Ok(r) => rules.push(r),
            Err(e) => errors.push((i, e)),
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

pub fn build(spec: &CheckSpec, suite: &Suite) -> Result<Box<dyn Rule>, String> {
    build_located(spec, suite).map_err(|(_, e)| e)
}

/// Like [`build`], and on a params mistake also where below `params` it is (a JSON pointer,
/// `""` for `params` itself), when the params' reading found it.
pub fn build_located(
    spec: &CheckSpec,
    suite: &Suite,
) -> Result<Box<dyn Rule>, (Option<String>, String)> {
    let kind = kind(&spec.kind).ok_or_else(|| (None, unknown_kind(&spec.kind)))?;
    let ctx = BuildContext {
        spec,
        suite,
        failed_at: Default::default(),
    };
    let rule = (kind.build)(&ctx).map_err(|e| (ctx.failed_at.borrow_mut().take(), e))?;
    Ok(match &spec.scenarios {
        Some(list) => Box::new(scope::Scoped::new(rule, list.clone())),
        None => rule,
    })
}

/// serde's wording for a params mistake, in the suite author's words: "param" for "field",
/// type names a YAML writer knows, and the closest known name for a misspelt one.
pub fn plain_params_error(message: &str, kind: &str) -> String {
    let re = regex::Regex::new(
        r"^unknown (field|variant) `([^`]*)`(?:, (?:expected|there are no) ?(.*))?$",
    )
    .expect("valid regex");
    if let Some(c) = re.captures(message) {
        let what = if &c[1] == "field" { "param" } else { "value" };
        let name = &c[2];
        let Some(list) = c.get(3) else {
            return format!("unknown {what} `{name}` for kind `{kind}`");
        };
        let expected: Vec<&str> = list
            .as_str()
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| s)
            .collect();
        if expected.is_empty() {
            return format!("unknown {what} `{name}`; kind `{kind}` takes none here");
        }
        let hint = closest(name, expected.iter().copied())
            .map(|k| format!("did you mean `{k}`? "))
            .unwrap_or_default();
        return format!(
            "unknown {what} `{name}`; {hint}expected one of: {}",
            expected.join(", ")
        );
    }
    plain_serde(message)
}

/// serde's "missing field" for a kind's param, in the suite author's words. Kinds carry no
/// provider's defaults: a param that names a provider's operation, state, role or format has
/// none, and the suite states it.
fn missing_param(message: &str, kind: &str) -> Option<String> {
    let name = message.strip_prefix("missing field `")?.strip_suffix('`')?;
    Some(format!(
        "missing param `{name}`, which has no default: the suite states it (see `golive kinds {kind}`)"
    ))
}

/// Rust type names in serde's messages, in words.
pub fn plain_serde(message: &str) -> String {
    let mut m = message.to_owned();
    for (from, to) in [
        (
            "expected usize",
            "expected a whole number (no decimal point)",
        ),
        ("expected u64", "expected a whole number (no decimal point)"),
        ("expected u32", "expected a whole number (no decimal point)"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a mapping"),
        ("invalid type: floating point", "invalid type: the number"),
        ("invalid type: sequence", "invalid type: a list"),
        ("invalid type: map", "invalid type: a mapping"),
        (
            "data did not match any variant of untagged enum OneOrMany",
            "expected an operation or a list of operations",
        ),
    ] {
        m = m.replace(from, to);
    }
    let re = regex::Regex::new(r"expected (struct|enum) \w+").expect("valid regex");
    re.replace_all(&m, "expected a mapping").into_owned()
}

/// The candidate closest to `name` by edit distance, when it is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = name.chars().count();
    let limit = (len / 3).clamp(1, 3);
    candidates
        .into_iter()
        // Lengths further apart than the limit cannot be close (and an 8 MB name is not
        // compared letter by letter with every candidate).
        .filter(|c| c.chars().count().abs_diff(len) <= limit)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Evaluates every check over the journal in one pass.
pub fn evaluate(
    suite: &Suite,
    entries: impl Iterator<Item = Entry>,
) -> Result<Vec<CheckResult>, BuildErrors> {
    let mut evaluation = Evaluation::new(suite)?;
    for entry in entries {
        evaluation.observe(&entry)?;
    }
    Ok(evaluation.finish())
}

/// Every check of a suite, fed the journal one entry at a time (by a reader that hands out
/// entries rather than an iterator of them).
pub struct Evaluation<'s> {
    suite: &'s Suite,
    groups: Vec<Group<'s>>,
}

/// Some of a suite's checks, judged apart from the others: each group can read the journal on
/// its own core ([`crate::journal::reader::for_each_staged`]).
pub struct Group<'s> {
    /// The checks' places in the suite.
    checks: Vec<usize>,
    // One set of rules per lane of a `--jobs N` run (one set for a run one after another).
    lanes: lanes::Lanes<BuildRules<'s>>,
}

impl Group<'_> {
    pub fn observe(&mut self, entry: &Entry) -> Result<(), BuildErrors> {
        self.lanes.observe(entry)
    }
}

/// How a lane's set of rules is built.
type BuildRules<'s> = Box<dyn FnMut() -> Result<Vec<Box<dyn Rule>>, BuildErrors> + Send + 's>;

impl<'s> Evaluation<'s> {
    pub fn new(suite: &'s Suite) -> Result<Self, BuildErrors> {
        Evaluation::in_groups(suite, 1)
    }

    /// The checks dealt into `groups` groups (check 1 to the first, check 2 to the second...),
    /// to be fed apart ([`Evaluation::groups_mut`]). The verdicts are the same whatever the
    /// groups: each check sees every entry, in order, either way.
    pub fn in_groups(suite: &'s Suite, groups: usize) -> Result<Self, BuildErrors> {
        let n = groups.clamp(1, suite.checks.len().max(1));
        let mut built = Vec::new();
        let mut errors = BuildErrors::new();
        for g in 0..n {
            let checks: Vec<usize> = (g..suite.checks.len()).step_by(n).collect();
            let these = checks.clone();
            let build: BuildRules<'s> = Box::new(move || build_some(suite, &these));
            match lanes::Lanes::new(build) {
                Ok(lanes) => built.push(Group { checks, lanes }),
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|(i, _)| *i);
            return Err(errors);
        }
        Ok(Evaluation {
            suite,
            groups: built,
        })
    }

    pub fn observe(&mut self, entry: &Entry) -> Result<(), BuildErrors> {
        self.groups.iter_mut().try_for_each(|g| g.observe(entry))
    }

    /// The groups, to feed each on its own.
    pub fn groups_mut(&mut self) -> &mut [Group<'s>] {
        &mut self.groups
    }

    /// The verdicts, check by check in the suite's order; a check the traffic gave nothing to
    /// judge is skipped with that reason.
    pub fn finish(self) -> Vec<CheckResult> {
        let mut results = Vec::new();
        let mut by_check: Vec<Vec<Finding>> = vec![Vec::new(); self.suite.checks.len()];
        for group in self.groups {
            let findings = group.lanes.finish(group.checks.len());
            for (&i, findings) in group.checks.iter().zip(findings) {
                by_check[i] = findings;
            }
        }
        for (spec, mut findings) in self.suite.checks.iter().zip(by_check) {
            if findings.is_empty() {
                findings.push(Finding::skip(
                    "nothing in the traffic for this rule to judge",
                ));
            }
            for f in findings {
                results.push(verdict_of(spec, f));
            }
        }
        results
    }
}

/// A request's identity when nothing else tells two requests apart: its method, path and
/// body.
pub(crate) fn request_identity(ex: &Exchange) -> String {
    format!(
        "{} {} {}",
        ex.request.method,
        ex.path(),
        ex.request.body.text()
    )
}

/// Whether an operation is among those a check's params name (`None`: every operation).
pub(crate) fn in_scope(operations: &Option<Vec<String>>, op: &str) -> bool {
    operations
        .as_ref()
        .is_none_or(|ops| ops.iter().any(|o| o == op))
}

/// A `pattern` param as a regex.
pub(crate) fn pattern(p: &Option<String>) -> Result<Option<regex::Regex>, String> {
    p.as_deref()
        .map(|p| regex::Regex::new(p).map_err(|e| format!("`pattern` is not a regex: {e}")))
        .transpose()
}

/// What is wrong with a value whose form params bound (its longest length, a pattern):
/// "{long} of N characters (at most M)", "{named} `value`, which does not match `pattern`".
pub(crate) fn malformed(
    value: &str,
    (max_length, pattern): (Option<usize>, Option<&regex::Regex>),
    long: &dyn std::fmt::Display,
    named: &dyn std::fmt::Display,
) -> Vec<String> {
    let mut out = Vec::new();
    let length = value.chars().count();
    if let Some(max) = max_length.filter(|max| length > *max) {
        out.push(format!("{long} of {length} characters (at most {max})"));
    }
    if let Some(re) = pattern.filter(|re| !re.is_match(value)) {
        out.push(format!(
            "{named} `{value}`, which does not match `{}`",
            re.as_str()
        ));
    }
    out
}

/// The verdict of a rule judged over the whole run: skipped when nothing was in scope, else
/// its failure, if it found one, or what `passed` says.
pub(crate) fn verdict(
    judged: usize,
    none_in_scope: &str,
    failed: Option<Finding>,
    passed: impl FnOnce() -> Finding,
) -> Vec<Finding> {
    if judged == 0 {
        return vec![Finding::skip(none_in_scope)];
    }
    vec![failed.unwrap_or_else(passed)]
}

/// What a rule judged request by request found: how many requests it judged, how many broke
/// it, and the first of those (what was wrong, the exchange).
#[derive(Default)]
pub(crate) struct Requests {
    pub checked: usize,
    bad: Vec<(String, u64)>,
    broke: usize,
}

/// How many offending requests a rule keeps whole; the rest are counted. A rule broken on
/// each of a million calls keeps a few examples, not a million messages (reports show at most
/// [`crate::report::build::MAX_EVIDENCE_PER_CHECK`] exchanges of a check anyway).
pub(crate) const KEPT_OFFENDERS: usize = 50;

/// A rule judged request by request that keeps only its params and what it found.
pub(crate) struct ByRequest<P> {
    pub params: P,
    pub requests: Requests,
}

impl<P> ByRequest<P> {
    pub fn new(params: P) -> Self {
        ByRequest {
            params,
            requests: Requests::default(),
        }
    }
}

impl Requests {
    /// Notes a request that broke the rule: what was wrong is put into words only for the
    /// first [`KEPT_OFFENDERS`].
    pub fn broke(&mut self, seq: u64, what: impl FnOnce() -> String) {
        self.broke += 1;
        if self.bad.len() < KEPT_OFFENDERS {
            self.bad.push((what(), seq));
        }
    }

    /// Skipped when no request was in scope, passed when none broke the rule, failed naming
    /// the first offenders (their exchanges as evidence).
    pub fn verdict(&self, none_in_scope: &str, passed: String, failed: &str) -> Vec<Finding> {
        let failure =
            (self.broke > 0).then(|| fail_counted(&self.bad, self.broke, self.checked, failed));
        verdict(self.checked, none_in_scope, failure, || {
            Finding::pass(passed, vec![])
        })
    }
}

/// "N of M {what}: first three …", with the exchanges of the first ten offenders.
pub(crate) fn fail_requests(bad: &[(String, u64)], judged: usize, what: &str) -> Finding {
    fail_counted(bad, bad.len(), judged, what)
}

/// [`fail_requests`] when only the first of `broke` offenders were kept.
fn fail_counted(bad: &[(String, u64)], broke: usize, judged: usize, what: &str) -> Finding {
    let messages: Vec<&str> = bad.iter().map(|(m, _)| m.as_str()).collect();
    let listing = list_counted(&messages, 3, broke);
    Finding::fail(
        format!("{broke} of {judged} {what}: {listing}"),
        bad.iter().take(10).map(|(_, seq)| *seq).collect(),
    )
}

/// The failure naming the first three offenders, with the exchanges of the first ten.
pub(crate) fn fail_listing(bad: &[(String, u64)]) -> Finding {
    Finding::fail(
        listed(bad),
        bad.iter().take(10).map(|(_, seq)| *seq).collect(),
    )
}

/// The failure of a rule whose problems each carry their own evidence (several exchanges
/// each): "N of M {what}: first three …", with the exchanges of the first `first` problems.
pub(crate) fn fail_with_problems(
    problems: &[(String, Vec<u64>)],
    judged: usize,
    what: &str,
    first: usize,
) -> Finding {
    Finding::fail(
        format!(
            "{} of {judged} {what}: {}",
            problems.len(),
            listed(problems)
        ),
        evidence_of(problems, first, usize::MAX),
    )
}

/// The failure naming the first three problems, with the exchanges of them all (at most
/// `most`).
pub(crate) fn fail_problems(problems: &[(String, Vec<u64>)], most: usize) -> Finding {
    Finding::fail(listed(problems), evidence_of(problems, usize::MAX, most))
}

/// Passed as `passed` says unless there are problems, else failed with them all; the same
/// evidence either way.
pub(crate) fn pass_unless(
    problems: &[String],
    evidence: Vec<u64>,
    passed: impl FnOnce() -> String,
) -> Finding {
    if problems.is_empty() {
        Finding::pass(passed(), evidence)
    } else {
        Finding::fail(problems.join("; "), evidence)
    }
}

/// The messages of the first three problems, then "and N more".
pub(crate) fn listed<E>(problems: &[(String, E)]) -> String {
    let messages: Vec<&str> = problems.iter().map(|(m, _)| m.as_str()).collect();
    list_some(&messages, 3)
}

/// The exchanges proving the first `first` problems, in order and each once, at most `most`.
pub(crate) fn evidence_of(problems: &[(String, Vec<u64>)], first: usize, most: usize) -> Vec<u64> {
    let mut evidence: Vec<u64> = problems
        .iter()
        .take(first)
        .flat_map(|(_, e)| e.iter().copied())
        .collect();
    evidence.sort_unstable();
    evidence.dedup();
    evidence.truncate(most);
    evidence
}

/// Lists at most `n` items, then "and N more".
pub(crate) fn list_some<T: std::fmt::Display>(items: &[T], n: usize) -> String {
    list_counted(items, n, items.len())
}

/// Lists at most `n` of the first `items` of `total`, then "and N more".
fn list_counted<T: std::fmt::Display>(items: &[T], n: usize, total: usize) -> String {
    let mut s = items
        .iter()
        .take(n)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let shown = n.min(items.len());
    if total > shown {
        s.push_str(&format!("; and {} more", total - shown));
    }
    s
}

/// A check's verdict as reports carry it: the check as the suite states it, and one finding.
pub fn verdict_of(spec: &CheckSpec, finding: Finding) -> CheckResult {
    CheckResult {
        id: spec.id.clone(),
        title: spec.title.clone(),
        description: spec.description.clone(),
        severity: spec.severity,
        source: spec.source.clone(),
        kind: spec.kind.clone(),
        scenario: finding.scenario,
        outcome: finding.outcome,
        message: finding.message,
        evidence: finding.evidence,
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_broken_on_every_call_keeps_a_few_offenders_and_counts_the_rest() {
        let mut requests = Requests::default();
        let mut worded = 0;
        for seq in 1..=1000u64 {
            requests.checked += 1;
            requests.broke(seq, || {
                worded += 1;
                format!("#{seq} bad")
            });
        }
        assert_eq!(worded, KEPT_OFFENDERS);
        let found = requests.verdict("none", "fine".into(), "requests were bad");
        assert_eq!(found[0].outcome, Outcome::Failed);
        assert_eq!(
            found[0].message,
            "1000 of 1000 requests were bad: #1 bad; #2 bad; #3 bad; and 997 more"
        );
        assert_eq!(found[0].evidence, (1..=10).collect::<Vec<u64>>());
    }

    #[test]
    fn params_mistakes_are_in_plain_words() {
        assert_eq!(
            plain_params_error("unknown field `operatons`, expected `operations` or `except`", "k"),
            "unknown param `operatons`; did you mean `operations`? expected one of: operations, except"
        );
        assert_eq!(
            plain_params_error("unknown field `x`", "event_sequence"),
            "unknown param `x` for kind `event_sequence`"
        );
        assert_eq!(
            missing_param("missing field `status_operation`", "status_verified").as_deref(),
            Some("missing param `status_operation`, which has no default: the suite states it (see `golive kinds status_verified`)")
        );
        assert_eq!(
            plain_params_error("invalid type: floating point `3.5`, expected u16", "k"),
            "invalid type: the number `3.5`, expected a whole number from 0 to 65535"
        );
        assert_eq!(
            closest("payment_stauts", ["issue_token", "payment_status"]),
            Some("payment_status")
        );
        assert_eq!(closest("refund", ["issue_token", "payment_status"]), None);
    }

    #[test]
    fn an_unknown_kind_suggests_the_closest() {
        assert!(unknown_kind("token_reuze").contains("did you mean `token_reuse`?"));
        assert!(!unknown_kind("completely_else").contains("did you mean"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
