//! Everything that can be known wrong about a suite (and a target) before anything runs:
//! the schemas (in `suite::load`), then what only golive knows: the provider, its operations,
//! the check kinds and their parameters, the provider-specific steps, and between a suite and
//! a target: the triggers and webhooks the steps need and the variables the templates use.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::checks;
use crate::providers::{self, Provider, StepKind};
use crate::suite::bounds;
use crate::suite::yaml::NodeKind;
use crate::suite::{Loaded, Problem, Step, Suite, Target};

/// Problems in a loaded suite, each with its place.
pub fn suite_problems(suite: &Loaded<Suite>) -> Vec<Problem> {
    let s = &suite.value;
    let mut problems = Vec::new();
    let provider = providers::provider(&s.provider);
    if provider.is_none() {
        let ids = providers::ids();
        problems.push(suite.problem_at(
            "/provider",
            format!(
                "unknown provider `{}`; {}expected one of: {}",
                s.provider,
                did_you_mean(&s.provider, ids.iter().copied()),
                ids.join(", ")
            ),
        ));
    }
    for (i, spec) in s.checks.iter().enumerate() {
        match checks::kind(&spec.kind) {
            None => problems.push(suite.problem_at(
                &format!("/checks/{i}/kind"),
                checks::unknown_kind(&spec.kind),
            )),
            Some(_) => {
                if let Err((at, e)) = checks::build_located(spec, s) {
                    let at = match at {
                        _ if spec.params.is_null() => format!("/checks/{i}"),
                        Some(below) => {
                            unknown_key_or_value(suite, &format!("/checks/{i}/params{below}"), &e)
                        }
                        None => format!("/checks/{i}/params"),
                    };
                    problems.push(suite.problem_at(&at, format!("check `{}`: {e}", spec.id)));
                }
            }
        }
        if let Some(p) = provider {
            for (pointer, name) in operation_params(&spec.kind, &spec.params, "") {
                if let Some(message) = unknown_operation(p, &name) {
                    problems.push(suite.problem_at(
                        &format!("/checks/{i}/params{pointer}"),
                        format!("check `{}`: {message}", spec.id),
                    ));
                }
            }
        }
    }
    if let Some(p) = provider {
        let sandbox_defaults = Value::Object(s.settings.sandbox.clone());
        if let Err(e) = p.parse_step(StepKind::Sandbox, &sandbox_defaults) {
            problems.push(suite.problem_at("/settings/sandbox", format!("sandbox settings: {e}")));
        }
        for (i, sc) in s.scenarios.iter().enumerate() {
            for (j, step) in sc.steps.iter().enumerate() {
                let at = format!("/scenarios/{i}/steps/{j}");
                let result = match step {
                    Step::Shopper(v) => v
                        .parse_with(|params| p.parse_step(StepKind::Shopper, params))
                        .map(|_| ())
                        .map_err(|e| (format!("{at}/shopper"), e)),
                    Step::Provider(v) => v
                        .parse_with(|params| p.parse_step(StepKind::Provider, params))
                        .map(|_| ())
                        .map_err(|e| (format!("{at}/provider"), e)),
                    Step::Sandbox(m) => {
                        let mut rest = m.clone();
                        let generic = generic_sandbox_keys(p, &mut rest, &format!("{at}/sandbox"));
                        generic.and_then(|_| {
                            p.parse_step(StepKind::Sandbox, &Value::Object(rest))
                                .map(|_| ())
                                .map_err(|e| (format!("{at}/sandbox"), e))
                        })
                    }
                    Step::WaitFor(w) => match unknown_operation(p, &w.operation) {
                        Some(e) => Err((format!("{at}/wait_for/operation"), e)),
                        None => Ok(()),
                    },
                    _ => Ok(()),
                };
                if let Err((pointer, e)) = result {
                    problems.push(suite.problem_at(
                        &pointer,
                        format!(
                            "{} step of scenario `{}`: {e}",
                            crate::driver::step_label(step),
                            sc.id
                        ),
                    ));
                }
            }
        }
    }
    problems
}

/// For an unknown param, the pointer to its key (so the message lands on its line).
fn unknown_key_or_value(suite: &Loaded<Suite>, pointer: &str, message: &str) -> String {
    let re = regex::Regex::new(r"unknown param `([^`]*)`").expect("valid regex");
    if let Some(key) = re.captures(message).map(|c| c[1].to_owned()) {
        let child = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
        if suite.node.at(&child).is_some() {
            return child;
        }
    }
    pointer.to_owned()
}

/// "did you mean `x`? " when a candidate is close, else nothing.
fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    checks::closest(name, candidates)
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default()
}

/// Why `name` is not one of the provider's operations, if it is not.
fn unknown_operation(p: &dyn Provider, name: &str) -> Option<String> {
    let ops = crate::sandbox::operation::names(p.operations());
    if ops.contains(&name) {
        return None;
    }
    Some(format!(
        "unknown operation `{name}` for {}; {}expected one of: {}",
        p.id(),
        did_you_mean(name, ops.iter().copied()),
        ops.join(", ")
    ))
}

/// The operation names a check's params hold, each with its pointer below `params`: every
/// `operation`, `operations`, `*_operation` and `*_operations` param, and the kinds' own
/// operation lists (`preceded_by`'s `by`, `recovery_sequence`'s `then`, the `except` of the
/// header and authorization kinds).
fn operation_params(kind: &str, params: &Value, at: &str) -> Vec<(String, String)> {
    fn names(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) => out.push((at.to_owned(), s.clone())),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    names(item, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    match params {
        Value::Object(m) => {
            for (k, v) in m {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                let names_operations = k == "operation"
                    || k == "operations"
                    || k.ends_with("_operation")
                    || k.ends_with("_operations")
                    || (kind == "preceded_by" && k == "by")
                    || (kind == "recovery_sequence" && k == "then")
                    || (k == "except"
                        && matches!(
                            kind,
                            "auth_scheme" | "header_unless_claim" | "required_headers"
                        ));
                if names_operations {
                    names(v, &here, &mut out);
                } else {
                    out.extend(operation_params(kind, v, &here));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                out.extend(operation_params(kind, item, &format!("{at}/{i}")));
            }
        }
        _ => {}
    }
    out
}

/// Checks and removes the keys every sandbox understands; an error comes with its pointer.
fn generic_sandbox_keys(
    p: &dyn Provider,
    m: &mut serde_json::Map<String, Value>,
    at: &str,
) -> Result<(), (String, String)> {
    if let Some(v) = m.remove("token_lifetime_s") {
        let checked = v
            .as_f64()
            .ok_or_else(|| "not a number".to_string())
            .and_then(|s| bounds::check_duration_s(s, false));
        if let Err(e) = checked {
            return Err((
                format!("{at}/token_lifetime_s"),
                format!("`token_lifetime_s`: {e}"),
            ));
        }
    }
    if let Some(v) = m.remove("inject") {
        let faults: Vec<crate::sandbox::Fault> = serde_path_to_error::deserialize(v).map_err(|e| {
            let below = e.path().to_string().replace('[', "/").replace(']', "").replace('.', "/");
            (
                format!("{at}/inject/{}", below.trim_start_matches('/')),
                format!(
                    "`inject` must be a list of faults ({{operation, status, code, times, delay_ms, then_succeed}}): {}",
                    checks::plain_params_error(&e.inner().to_string(), "inject")
                        .replace("param", "key")
                ),
            )
        })?;
        for (k, f) in faults.iter().enumerate() {
            let here = format!("{at}/inject/{k}");
            if let Some(e) = unknown_operation(p, &f.operation) {
                return Err((format!("{here}/operation"), e));
            }
            if !(100..=599).contains(&f.status) {
                return Err((
                    format!("{here}/status"),
                    format!("`status` {} is not an HTTP status (100 to 599)", f.status),
                ));
            }
            if f.times
                .is_some_and(|t| t == 0 || u64::from(t) > bounds::MAX_COUNT)
            {
                return Err((
                    format!("{here}/times"),
                    format!("`times` must be 1 to {}", bounds::MAX_COUNT),
                ));
            }
            if f.delay_ms.is_some_and(|d| d > bounds::MAX_DELAY_MS) {
                return Err((
                    format!("{here}/delay_ms"),
                    format!(
                        "`delay_ms` must be at most {} (one day)",
                        bounds::MAX_DELAY_MS
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Problems between a suite and a target that need the provider's knowledge: the triggers
/// and webhooks the provider's own steps use, and every template variable the target's
/// templates name.
pub fn pair_problems(suite: &Loaded<Suite>, target: &Loaded<Target>) -> Vec<Problem> {
    let mut problems = placeholders(target);
    let Some(p) = providers::provider(&suite.value.provider) else {
        return problems;
    };
    let t = &target.value;
    let suite_place =
        |pointer: &str| format!("{}:{}", suite.file.display(), suite.node.pos_for(pointer));
    // "the suite's shopper step (at s.yaml:12:9) makes ppaas": what a step makes the
    // provider do with the target, in a problem about the target.
    let step_makes = |step: &Step, pointer: &str| {
        format!(
            "the suite's {} step (at {}) makes {}",
            crate::driver::step_label(step),
            suite_place(pointer),
            p.id()
        )
    };
    let mut reported: BTreeSet<String> = BTreeSet::new();

    // The start command, its environment and the base URL see the run's facts.
    let credentials: Vec<&str> = p.credential_names().to_vec();
    let run_vars: BTreeSet<String> = [
        "sandbox",
        "credentials",
        "port",
        "golive",
        "time_scale",
        "env",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (pointer, text) in template_strings(target, &["/base_url", "/start"]) {
        check_template(
            target,
            &pointer,
            &text,
            &run_vars,
            &credentials,
            "in the target's start and base URL",
            &mut reported,
            &mut problems,
        );
    }

    // Triggers and the order probe see the scenario's variables as they stand when they fire.
    for (i, sc) in suite.value.scenarios.iter().enumerate() {
        // `order` and `payment` are the integration's own ids learned from its traffic
        // (`{{ order.reference }}`, `{{ payment.id }}`): always defined names; whether the
        // payment id is known yet is for the run to wait for.
        let mut defined: BTreeSet<String> = [
            "order_id",
            "scenario",
            "sandbox",
            "time_scale",
            "order",
            "payment",
            "env",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        defined.extend(sc.vars.keys().cloned());
        for (j, step) in sc.steps.iter().enumerate() {
            let at = format!("/scenarios/{i}/steps/{j}");
            let mut fires: Vec<(String, Vec<String>, String)> = Vec::new();
            match step {
                Step::Trigger(tr) => fires.push((
                    tr.name.clone(),
                    tr.with.keys().cloned().collect(),
                    format!("{at}/trigger/name"),
                )),
                Step::Shopper(v) | Step::Provider(v) => {
                    let kind = if matches!(step, Step::Shopper(_)) {
                        StepKind::Shopper
                    } else {
                        StepKind::Provider
                    };
                    let needs = p.step_needs(kind, &v.params);
                    for (name, vars) in needs.triggers {
                        fires.push((
                            name.to_owned(),
                            vars.iter().map(|s| s.to_string()).collect(),
                            at.clone(),
                        ));
                    }
                    for hook in needs.webhooks {
                        if !t.webhooks.contains_key(hook)
                            && reported.insert(format!("webhook {hook}"))
                        {
                            let makes = step_makes(step, &at);
                            problems.push(unmapped(target, Section::Webhooks, hook, makes));
                        }
                    }
                }
                Step::ProbeOrder(_) => {
                    for (pointer, text) in template_strings(target, &["/order_probe"]) {
                        check_template(
                            target,
                            &pointer,
                            &text,
                            &defined,
                            &credentials,
                            &format!(
                                "when scenario `{}` probes the order (at {})",
                                sc.id,
                                suite_place(&at)
                            ),
                            &mut reported,
                            &mut problems,
                        );
                    }
                }
                _ => {}
            }
            for (name, with, pointer) in fires {
                defined.extend(with);
                let Some(call) = t.triggers.get(&name) else {
                    // A trigger the suite names itself is reported by `cross_rules`.
                    if !matches!(step, Step::Trigger(_))
                        && reported.insert(format!("trigger {name}"))
                    {
                        let makes = step_makes(step, &pointer);
                        problems.push(unmapped(target, Section::Triggers, &name, makes));
                    }
                    continue;
                };
                let key = name.replace('~', "~0").replace('/', "~1");
                for (tp, text) in template_strings(target, &[&format!("/triggers/{key}")]) {
                    if tp.starts_with(&format!("/triggers/{key}/capture")) {
                        continue;
                    }
                    check_template(
                        target,
                        &tp,
                        &text,
                        &defined,
                        &credentials,
                        &format!(
                            "when scenario `{}` fires it (at {})",
                            sc.id,
                            suite_place(&pointer)
                        ),
                        &mut reported,
                        &mut problems,
                    );
                }
                defined.extend(call.capture.keys().cloned());
            }
        }
    }
    problems
}

/// " (the target maps: a, b)" with a did-you-mean in front, or nothing when the map is empty.
/// A part of the target where a provider's step may need an entry.
#[derive(Clone, Copy)]
enum Section {
    /// `webhooks`: the paths the provider calls.
    Webhooks,
    /// `triggers`: the endpoints golive fires for the shopper or the provider.
    Triggers,
}

/// A step needs an entry `name` in a section the target does not map: named at the section,
/// with what the step (`makes`: "the suite's … step (at …) makes ppaas") would do with it and
/// the closest name the target does map.
fn unmapped(target: &Loaded<Target>, section: Section, name: &str, makes: String) -> Problem {
    let t = &target.value;
    let (key, mapped, does, entry): (&str, Vec<&String>, String, &str) = match section {
        Section::Webhooks => (
            "webhooks",
            t.webhooks.keys().collect(),
            format!("call the target's `{name}` webhook"),
            "path",
        ),
        Section::Triggers => (
            "triggers",
            t.triggers.keys().collect(),
            format!("fire the target's trigger `{name}`"),
            "entry",
        ),
    };
    let hint = did_you_mean(name, mapped.iter().map(|k| k.as_str()));
    let mut problem = target.problem_at(
        &format!("/{key}"),
        format!(
            "{makes} {does}, but the target does not map it; expected a `{key}.{name}` {entry}{}",
            known(mapped.into_iter(), hint)
        ),
    );
    if let Some(pos) = target.node.key_pos(key) {
        problem.pos = pos;
    }
    problem
}

fn known<'a>(keys: impl Iterator<Item = &'a String>, hint: String) -> String {
    let list: Vec<&str> = keys.map(String::as_str).collect();
    if list.is_empty() {
        String::new()
    } else {
        format!("; {hint}the target maps: {}", list.join(", "))
    }
}

/// Every string under the given roots of a target that may be a template, with its pointer.
fn template_strings(target: &Loaded<Target>, roots: &[&str]) -> Vec<(String, String)> {
    strings_where(target, roots, |s| s.contains("{{") || s.contains("{%"))
}

/// Every string below `roots` that `keep` accepts, with its pointer.
fn strings_where(
    target: &Loaded<Target>,
    roots: &[&str],
    keep: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    fn walk(
        node: &crate::suite::yaml::Node,
        at: &str,
        keep: &dyn Fn(&str) -> bool,
        out: &mut Vec<(String, String)>,
    ) {
        match &node.kind {
            NodeKind::String(s) if keep(s) => out.push((at.to_owned(), s.clone())),
            NodeKind::Seq(items) => {
                for (i, n) in items.iter().enumerate() {
                    walk(n, &format!("{at}/{i}"), keep, out);
                }
            }
            NodeKind::Map(m) => {
                for (k, _, n) in m {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    walk(n, &format!("{at}/{key}"), keep, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for root in roots {
        if let Some(n) = target.node.at(root) {
            walk(n, root, &keep, &mut out);
        }
    }
    out
}

/// The values `golive init` left for the team to fill in (`TODO...`): a target that still has
/// one would run against a command, path or name that is not the team's.
fn placeholders(target: &Loaded<Target>) -> Vec<Problem> {
    let marker = crate::providers::starter::PLACEHOLDER;
    strings_where(target, &[""], |s| s.contains(marker))
        .into_iter()
        .map(|(pointer, value)| {
            target.problem_at(
                &pointer,
                format!(
                    "`{}` is still golive init's placeholder ({value:?}): put your integration's value here",
                    pointer.trim_start_matches('/').replace('/', ".")
                ),
            )
        })
        .collect()
}

/// Names minijinja itself provides (functions, tests): not variables a run must define.
const TEMPLATE_GLOBALS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "cycler",
    "joiner",
    "loop",
    "true",
    "false",
    "none",
];

/// Checks one template of the target: it parses, and every variable it uses is defined.
#[allow(clippy::too_many_arguments)]
fn check_template(
    target: &Loaded<Target>,
    pointer: &str,
    text: &str,
    defined: &BTreeSet<String>,
    credentials: &[&str],
    when: &str,
    reported: &mut BTreeSet<String>,
    problems: &mut Vec<Problem>,
) {
    let place = pointer.trim_start_matches('/').replace('/', ".");
    let used = match crate::driver::template::variables(text) {
        Ok(v) => v,
        Err(e) => {
            if reported.insert(format!("syntax {pointer}")) {
                problems.push(target.problem_at(pointer, format!("`{place}`: {e}")));
            }
            return;
        }
    };
    for var in used {
        let mut parts = var.splitn(3, '.');
        let top = parts.next().unwrap_or_default().to_owned();
        let sub = parts.next();
        if TEMPLATE_GLOBALS.contains(&top.as_str()) {
            continue;
        }
        let problem = if !defined.contains(&top) {
            let close = did_you_mean(&top, defined.iter().map(String::as_str));
            // Where the scenario's variables are seen, a `--var` can define one that is not a
            // typo of another.
            let by_var = if close.is_empty() && defined.contains("scenario") {
                format!(" (or give --var {top}=VALUE)")
            } else {
                String::new()
            };
            Some(format!(
                "`{{{{ {var} }}}}` in `{place}`: `{top}` is not defined {when}; {close}defined are: {}{by_var}",
                defined
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else if top == "credentials" {
            match sub {
                Some(name) if !credentials.contains(&name) => Some(format!(
                    "`{{{{ {var} }}}}` in `{place}`: the test account has no credential `{name}`; {}expected one of: {}",
                    did_you_mean(name, credentials.iter().copied()),
                    credentials.join(", ")
                )),
                _ => None,
            }
        } else if top == "env" {
            match sub {
                Some(name) if crate::driver::template::environment().get(name).is_none() => {
                    Some(format!(
                        "`{{{{ {var} }}}}` in `{place}`: golive was started without the environment variable `{name}`; set it, or leave the template out"
                    ))
                }
                _ => None,
            }
        } else if top == "sandbox" {
            match sub {
                Some(name) if name != "url" => Some(format!(
                    "`{{{{ {var} }}}}` in `{place}`: the sandbox has no `{name}`; expected `sandbox.url`"
                )),
                _ => None,
            }
        } else {
            None
        };
        if let Some(message) = problem {
            if reported.insert(format!("{pointer} {var}")) {
                problems.push(target.problem_at(pointer, message));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SUITE: &str = r#"golive: 1
id: mini
title: Mini
provider: ppaas
scenarios:
  - id: pay
    title: Pay
    vars: { amount: 20 }
    steps:
      - provider: { qrcode_payment: {} }
      - shopper: { consumer: pays }
      - wait_for: { operation: transaction_evnt }
      - sandbox: { inject: [{ operation: token, times: 0 }] }
checks:
  - id: C1
    title: t
    description: d
    severity: critical
    source: inferred
    kind: recovery_sequence
    params:
      after: { operations: [token], status: 500 }
      then: [tokn, [countries, transaction_event]]
"#;

    const TARGET: &str = r#"golive: 1
name: shop
base_url: "http://127.0.0.1:{{ prt }}"
triggers:
  consumer:
    path: "/tx/{{ client_transaction_id }}/{{ consumer_action }}/{{ amount }}/{{ ammount }}"
    capture: { id: /id }
webhooks:
  qr_payment: /qr
"#;

    fn loaded() -> (Loaded<Suite>, Loaded<Target>) {
        (
            crate::suite::parse_suite(SUITE, Path::new("s.yaml")).unwrap(),
            crate::suite::parse_target(TARGET, Path::new("t.yaml")).unwrap(),
        )
    }

    /// The problems as a reader sees them, in file order.
    fn in_file_order(mut problems: Vec<Problem>) -> Vec<String> {
        problems.sort_by_key(|p| (p.pos.line, p.pos.column));
        problems.iter().map(|p| p.to_string()).collect()
    }

    /// A problem is named at its place (`file:line:column:`) and says each of `says`.
    fn assert_at(problem: &str, place: &str, says: &[&str]) {
        assert!(
            problem.starts_with(place) && says.iter().all(|s| problem.contains(s)),
            "{problem}"
        );
    }

    #[test]
    fn operations_are_checked_wherever_a_suite_names_them() {
        let (suite, _) = loaded();
        let text = in_file_order(suite_problems(&suite));
        assert_eq!(text.len(), 3, "{text:#?}");
        assert_at(
            &text[0],
            "s.yaml:12:32:",
            &["did you mean `transaction_event`?"],
        );
        assert_at(&text[1], "s.yaml:13:56:", &["`times` must be 1 to 10000"]);
        assert_at(&text[2], "s.yaml:23:14:", &["unknown operation `tokn`"]);
    }

    #[test]
    fn what_provider_steps_need_and_templates_name_is_checked() {
        let (suite, target) = loaded();
        let text = in_file_order(pair_problems(&suite, &target));
        assert_eq!(text.len(), 3, "{text:#?}");
        assert_at(
            &text[0],
            "t.yaml:3:11:",
            &["`prt` is not defined", "did you mean `port`?"],
        );
        // `amount` is the scenario's, `client_transaction_id` and `consumer_action` the
        // consumer step's: only the misspelt one is named.
        assert_at(
            &text[1],
            "t.yaml:6:11:",
            &["`ammount` is not defined", "did you mean `amount`?"],
        );
        assert_at(&text[2], "t.yaml:8:1:", &["`qrcode_payment` webhook"]);
    }

    #[test]
    fn operation_params_are_found_by_name_and_kind() {
        let found = operation_params(
            "preceded_by",
            &serde_json::json!({"operation": "a", "by": ["b"], "field": {"operation": "c"}, "other": "d"}),
            "",
        );
        let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(found[1].0, "/by/0");
        let found = operation_params(
            "auth_scheme",
            &serde_json::json!({"except": ["oauth_tokn"], "schemes": ["Basic"]}),
            "",
        );
        assert_eq!(found, [("/except/0".to_string(), "oauth_tokn".to_string())]);
    }
}
