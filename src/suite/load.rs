//! Reading suites and targets: YAML → positioned tree → JSON Schema → typed model → the
//! cross-file rules no schema can say (a trigger the suite uses must exist in the target).
//! Every mistake found is reported, each with file:line:column, not just the first.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::model::{Step, Suite, Target};
use super::yaml::{self, Node, Pos, Problem, Problems};

pub const SUITE_SCHEMA: &str = include_str!("../../schemas/suite.schema.json");
pub const TARGET_SCHEMA: &str = include_str!("../../schemas/target.schema.json");

/// A file read and validated, with its positioned tree kept for later messages.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    pub file: PathBuf,
    pub node: Node,
    pub value: T,
}

impl<T> Loaded<T> {
    /// A problem at the place a JSON pointer names in this file. Long values quoted in the
    /// message are cut (an 8 MB value is never echoed whole).
    pub fn problem_at(&self, pointer: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.clone(),
            pos: self.node.pos_for(pointer),
            message: yaml::cut_quoted(&message.into()),
        }
    }
}

fn compiled(
    cell: &'static OnceLock<Validator>,
    text: &str,
    adapt: fn(&Value) -> Value,
) -> &'static Validator {
    cell.get_or_init(|| {
        let schema: Value = serde_json::from_str(text).expect("bundled schema is JSON");
        jsonschema::validator_for(&adapt(&schema)).expect("bundled schema compiles")
    })
}

/// The suite schema less its per-kind part (see `suite::schema`): golive reads a check's kind
/// and params with the kind's own types, in better words than a schema's.
pub fn suite_validator() -> &'static Validator {
    static CELL: OnceLock<Validator> = OnceLock::new();
    compiled(&CELL, SUITE_SCHEMA, super::schema::runtime)
}

pub fn target_validator() -> &'static Validator {
    static CELL: OnceLock<Validator> = OnceLock::new();
    compiled(&CELL, TARGET_SCHEMA, Value::clone)
}

fn read(path: &Path) -> Result<String, Problems> {
    let bytes = std::fs::read(path).map_err(|e| {
        Problems(vec![Problem {
            file: path.to_owned(),
            pos: Pos::default(),
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    if let Some(p) = yaml::not_utf8(&bytes, path) {
        return Err(Problems(vec![p]));
    }
    Ok(String::from_utf8(bytes).unwrap_or_default())
}

pub fn load_suite(path: &Path) -> Result<Loaded<Suite>, Problems> {
    parse_suite(&read(path)?, path)
}

pub fn load_target(path: &Path) -> Result<Loaded<Target>, Problems> {
    parse_target(&read(path)?, path)
}

pub fn parse_suite(text: &str, file: &Path) -> Result<Loaded<Suite>, Problems> {
    let loaded: Loaded<Suite> =
        parse_document(text, file, suite_validator(), SUITE_SCHEMA, "suite")?;
    let problems = suite_rules(&loaded);
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(Problems(problems))
    }
}

pub fn parse_target(text: &str, file: &Path) -> Result<Loaded<Target>, Problems> {
    let loaded: Loaded<Target> =
        parse_document(text, file, target_validator(), TARGET_SCHEMA, "target")?;
    // Captures (CSS selectors, regexes) and `not_offered` triggers, checked before any run.
    let problems = crate::driver::capture::target_problems(&loaded);
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(Problems(problems))
    }
}

/// YAML, then schema, then the typed model.
pub fn parse_document<T: DeserializeOwned>(
    text: &str,
    file: &Path,
    validator: &Validator,
    schema_text: &str,
    what: &str,
) -> Result<Loaded<T>, Problems> {
    if text.trim().is_empty() {
        return Err(Problems(vec![Problem {
            file: file.to_owned(),
            pos: Pos { line: 1, column: 1 },
            message: format!(
                "the file is empty; expected a {what} (see schemas/{what}.schema.json)"
            ),
        }]));
    }
    let node = yaml::parse(text, file)?;
    let json = node.to_json();
    let mut problems: Vec<Problem> = validator
        .iter_errors(&json)
        .map(|e| schema_problem(&node, file, schema_text, &e))
        .collect();
    if problems.is_empty() {
        match serde_path_to_error::deserialize::<_, T>(json) {
            Ok(value) => {
                return Ok(Loaded {
                    file: file.to_owned(),
                    node,
                    value,
                })
            }
            // The schema and the model rarely disagree (a whole number written `3.0`): say
            // what the model wanted, at the value's own place.
            Err(e) => {
                let pointer = model_pointer(e.path());
                let place = if pointer.is_empty() {
                    String::new()
                } else {
                    format!(
                        " at `{}`",
                        pointer.trim_start_matches('/').replace('/', ".")
                    )
                };
                problems.push(Problem {
                    file: file.to_owned(),
                    pos: node.pos_for(&pointer),
                    message: yaml::cut_quoted(&format!(
                        "not a valid {what}{place}: {}",
                        crate::checks::plain_serde(&e.inner().to_string())
                    )),
                })
            }
        }
    }
    problems.sort_by_key(|p| (p.pos.line, p.pos.column));
    problems.dedup();
    Err(Problems(problems))
}

/// A serde path through the model as a JSON pointer into the file. A step's action is an
/// enum variant, which the file writes as a key (`wait_for:`).
pub(crate) fn model_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn schema_problem(
    node: &Node,
    file: &Path,
    schema_text: &str,
    e: &jsonschema::ValidationError<'_>,
) -> Problem {
    let pointer = e.instance_path().to_string();
    let place = if pointer.is_empty() {
        "the document".to_string()
    } else {
        format!("`{}`", pointer.trim_start_matches('/').replace('/', "."))
    };
    let (pos, message) = match e.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            // Point at the unknown key itself, not at the mapping that holds it.
            let key = unexpected.first().cloned().unwrap_or_default();
            let at = node.at(&pointer);
            let pos = at
                .and_then(|n| n.key_pos(&key))
                .unwrap_or_else(|| node.pos_for(&pointer));
            let allowed = expected_keys(e, schema_text);
            let list = unexpected
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            (pos, format!("unknown key {list} in {place}{allowed}"))
        }
        ValidationErrorKind::MaxProperties { limit } => {
            let keys = match node.at(&pointer).map(|n| &n.kind) {
                Some(super::yaml::NodeKind::Map(m)) => m
                    .iter()
                    .map(|(k, _, _)| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            let hint = if pointer.contains("/steps/") {
                " (a step does one thing: write two steps)"
            } else {
                ""
            };
            (
                node.pos_for(&pointer),
                format!("{place} has the keys {keys}; expected at most {limit}{hint}"),
            )
        }
        ValidationErrorKind::Type { .. } => (
            node.pos_for(&pointer),
            format!("wrong type at {place}: {}", e),
        ),
        _ => (node.pos_for(&pointer), format!("{place}: {e}")),
    };
    Problem {
        file: file.to_owned(),
        pos,
        message: yaml::cut_quoted(&cut_instance(&message, e)),
    }
}

/// The schema library quotes the offending value whole: cut it, however it was written.
fn cut_instance(message: &str, e: &jsonschema::ValidationError<'_>) -> String {
    let whole = e.instance().to_string();
    if whole.chars().count() <= yaml::MAX_QUOTED {
        return message.to_owned();
    }
    let short = match e.instance().as_ref() {
        Value::String(s) => format!("\"{}\"", yaml::cut(s, yaml::MAX_QUOTED)),
        _ => yaml::cut(&whole, yaml::MAX_QUOTED),
    };
    message.replace(&whole, &short)
}

/// The keys the schema allows where an unknown key was found, as "; expected one of: a, b".
fn expected_keys(e: &jsonschema::ValidationError<'_>, schema_text: &str) -> String {
    let schema_path = e.schema_path().to_string();
    // The schema path ends in /additionalProperties; its parent holds "properties".
    let parent = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(&schema_path);
    let lookup = |text: &str| -> Option<Vec<String>> {
        let schema: Value = serde_json::from_str(text).ok()?;
        let props = schema
            .pointer(&format!("{parent}/properties"))?
            .as_object()?;
        Some(props.keys().cloned().collect())
    };
    match lookup(schema_text) {
        Some(k) if !k.is_empty() => format!("; expected one of: {}", k.join(", ")),
        _ => String::new(),
    }
}

/// Each id of a suite's `scenarios` or `checks` (`what`: `scenario`, `check`) used a second
/// time, at its line: reports, filters and a check's `scenarios` name things by id.
fn ids_used_twice<'a>(
    loaded: &Loaded<Suite>,
    what: &str,
    ids: impl Iterator<Item = &'a str>,
) -> Vec<Problem> {
    let mut seen = std::collections::HashSet::new();
    ids.enumerate()
        .filter(|(_, id)| !seen.insert(*id))
        .map(|(i, id)| {
            loaded.problem_at(
                &format!("/{what}s/{i}/id"),
                format!("{what} id `{id}` is used twice; ids must be unique"),
            )
        })
        .collect()
}

/// Rules within a suite that the schema cannot say.
fn suite_rules(loaded: &Loaded<Suite>) -> Vec<Problem> {
    let suite = &loaded.value;
    let scenario_ids = suite.scenarios.iter().map(|s| s.id.as_str());
    let mut problems = ids_used_twice(loaded, "scenario", scenario_ids.clone());
    problems.extend(ids_used_twice(
        loaded,
        "check",
        suite.checks.iter().map(|c| c.id.as_str()),
    ));
    for (i, s) in suite.scenarios.iter().enumerate() {
        problems.extend(load_rules(loaded, i, s));
    }
    let scenarios: std::collections::HashSet<&str> = scenario_ids.collect();
    for (i, c) in suite.checks.iter().enumerate() {
        for (j, s) in c.scenarios.iter().flatten().enumerate() {
            if !scenarios.contains(s.as_str()) {
                problems.push(loaded.problem_at(
                    &format!("/checks/{i}/scenarios/{j}"),
                    format!(
                        "check `{}` names scenario `{s}`, which the suite does not have; expected one of: {}",
                        c.id,
                        suite.scenarios.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    problems
}

/// A load scenario's own rules, beyond the schema's bounds: no more at once than there are
/// repetitions, and no step that changes the sandbox every repetition shares (a fault
/// injected for one concurrent checkout would hit the others).
fn load_rules(loaded: &Loaded<Suite>, i: usize, s: &super::Scenario) -> Vec<Problem> {
    let mut problems = Vec::new();
    let repeat = s.repeat.unwrap_or(1);
    if let Some(c) = s.concurrency.filter(|c| *c > repeat) {
        problems.push(loaded.problem_at(
            &format!("/scenarios/{i}/concurrency"),
            format!(
                "scenario `{}`: concurrency {c} is more than its {repeat} repetition(s); expected at most `repeat`{}",
                s.id,
                if s.repeat.is_none() { " (add `repeat: N`)" } else { "" }
            ),
        ));
    }
    if s.repeat.is_some() {
        for (j, step) in s.steps.iter().enumerate() {
            if matches!(step, super::Step::Sandbox(_)) {
                problems.push(loaded.problem_at(
                    &format!("/scenarios/{i}/steps/{j}"),
                    format!(
                        "scenario `{}` repeats: a `sandbox:` step would change the sandbox all its repetitions share; expected none (use `settings.sandbox`)",
                        s.id
                    ),
                ));
            }
        }
    }
    problems
}

/// The triggers a suite fires, each with where it is fired first.
pub fn triggers_used(suite: &Loaded<Suite>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, s) in suite.value.scenarios.iter().enumerate() {
        for (j, step) in s.steps.iter().enumerate() {
            if let Step::Trigger(t) = step {
                if !out.iter().any(|(n, _)| *n == t.name) {
                    out.push((
                        t.name.clone(),
                        format!("/scenarios/{i}/steps/{j}/trigger/name"),
                    ));
                }
            }
        }
    }
    out
}

/// Rules between a suite and a target: every trigger the suite fires must be mapped, the
/// target's provider (if it names one) must be the suite's, and an order probe must exist
/// when the suite probes orders.
pub fn cross_rules(suite: &Loaded<Suite>, target: &Loaded<Target>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let t = &target.value;
    for (name, pointer) in triggers_used(suite) {
        if !t.triggers.contains_key(&name) {
            let known = t.triggers.keys().cloned().collect::<Vec<_>>().join(", ");
            let mut p = target.problem_at(
                "/triggers",
                format!(
                    "the suite fires trigger `{name}` (at {}:{}), but the target does not map it; expected a `triggers.{name}` entry{}",
                    suite.file.display(),
                    suite.node.pos_for(&pointer),
                    if known.is_empty() { String::new() } else { format!(" (the target maps: {known})") }
                ),
            );
            if let Some(pos) = target.node.key_pos("triggers") {
                p.pos = pos;
            }
            problems.push(p);
        }
    }
    if let Some(p) = &t.provider {
        if !p.eq_ignore_ascii_case(&suite.value.provider) {
            problems.push(target.problem_at(
                "/provider",
                format!(
                    "the target is for provider `{p}`, but the suite is for `{}`",
                    suite.value.provider
                ),
            ));
        }
    }
    let probes = suite
        .value
        .scenarios
        .iter()
        .flat_map(|s| s.steps.iter())
        .any(|s| matches!(s, Step::ProbeOrder(_)));
    if probes && t.order_probe.is_none() {
        problems.push(target.problem_at(
            "",
            "the suite probes orders (probe_order steps), but the target has no `order_probe`; expected an `order_probe` with `path` and `paid_when`",
        ));
    }
    // What the provider's own steps need and what the templates name.
    problems.extend(crate::validate::pair_problems(suite, target));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUITE: &str = r#"golive: 1
id: mini
title: Mini
provider: kontocloud
scenarios:
  - id: pay
    title: Pay
    steps:
      - trigger: { name: start_payment }
      - probe_order: {}
checks:
  - id: C1
    title: t
    description: d
    severity: critical
    source: inferred
    kind: assertion
"#;

    #[test]
    fn an_empty_file_says_so() {
        let err = parse_target("\n  \n", Path::new("t.yaml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.yaml:1:1: the file is empty; expected a target (see schemas/target.schema.json)"
        );
    }

    #[test]
    fn a_good_suite_loads() {
        let s = parse_suite(SUITE, Path::new("s.yaml")).unwrap();
        assert_eq!(s.value.scenarios[0].steps.len(), 2);
    }

    #[test]
    fn unknown_key_points_at_the_key() {
        let text = SUITE.replace("    title: Pay\n", "    title: Pay\n    stepz: []\n");
        let err = parse_suite(&text, Path::new("s.yaml")).unwrap_err();
        let p = &err.0[0];
        assert_eq!((p.pos.line, p.pos.column), (8, 5), "{err}");
        assert!(p.message.contains("unknown key `stepz`"), "{err}");
        assert!(p.message.contains("expected one of"), "{err}");
    }

    #[test]
    fn a_step_with_two_actions_names_them() {
        let text = SUITE.replace(
            "      - probe_order: {}\n",
            "      - probe_order: {}\n        sleep: { seconds: 1 }\n",
        );
        let err = parse_suite(&text, Path::new("s.yaml")).unwrap_err();
        let p = &err.0[0];
        assert_eq!(p.pos.line, 10, "{err}");
        assert!(p.message.contains("`probe_order`, `sleep`"), "{err}");
        assert!(p.message.contains("a step does one thing"), "{err}");
    }

    #[test]
    fn wrong_type_has_a_place() {
        let text = SUITE.replace("severity: critical", "severity: 3");
        let err = parse_suite(&text, Path::new("s.yaml")).unwrap_err();
        assert_eq!(err.0[0].pos.line, 15, "{err}");
        assert!(err.0[0].message.contains("critical"), "{err}");
    }

    #[test]
    fn every_problem_is_reported() {
        let text = SUITE
            .replace("severity: critical", "severity: urgent")
            .replace("title: Pay", "titel: Pay");
        let err = parse_suite(&text, Path::new("s.yaml")).unwrap_err();
        assert!(err.0.len() >= 2, "{err}");
    }

    #[test]
    fn missing_trigger_in_target_is_named() {
        let suite = parse_suite(SUITE, Path::new("s.yaml")).unwrap();
        let target = parse_target(
            "golive: 1\nname: shop\nbase_url: http://127.0.0.1:1\ntriggers:\n  other: { path: /x }\n",
            Path::new("t.yaml"),
        )
        .unwrap();
        let problems = cross_rules(&suite, &target);
        assert!(
            problems[0].message.contains("`start_payment`"),
            "{problems:?}"
        );
        assert_eq!(problems[0].pos.line, 4);
        assert!(problems[1].message.contains("order_probe"));
    }
}
