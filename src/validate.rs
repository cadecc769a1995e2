//! Everything that can be known wrong about a suite (and a target) before anything runs:
//! the schemas (in `suite::load`), then what only golive knows: the provider, the check kinds
//! and their parameters, the provider-specific steps.

use serde_json::Value;

use crate::checks;
use crate::sandbox::{self, StepKind};
use crate::suite::{Loaded, Problem, Step, Suite};

/// Problems in a loaded suite, each with its place.
pub fn suite_problems(suite: &Loaded<Suite>) -> Vec<Problem> {
    let s = &suite.value;
    let mut problems = Vec::new();
    let provider = sandbox::provider(&s.provider);
    if provider.is_none() {
        problems.push(suite.problem_at(
            "/provider",
            format!(
                "unknown provider `{}`; expected one of: {}",
                s.provider,
                sandbox::providers().iter().map(|p| p.id()).collect::<Vec<_>>().join(", ")
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
                if let Err(e) = checks::build(spec, s) {
                    let at = if spec.params.is_null() {
                        format!("/checks/{i}")
                    } else {
                        format!("/checks/{i}/params")
                    };
                    problems.push(suite.problem_at(&at, format!("check `{}`: {e}", spec.id)));
                }
            }
        }
    }
    if let Some(p) = provider {
        let sandbox_defaults = Value::Object(s.settings.sandbox.clone());
        if let Err(e) = p.validate_step(StepKind::Sandbox, &sandbox_defaults) {
            problems.push(suite.problem_at("/settings/sandbox", format!("sandbox settings: {e}")));
        }
        for (i, sc) in s.scenarios.iter().enumerate() {
            for (j, step) in sc.steps.iter().enumerate() {
                let at = format!("/scenarios/{i}/steps/{j}");
                let result = match step {
                    Step::Shopper(v) => p
                        .validate_step(StepKind::Shopper, v)
                        .map_err(|e| (format!("{at}/shopper"), e)),
                    Step::Provider(v) => p
                        .validate_step(StepKind::Provider, v)
                        .map_err(|e| (format!("{at}/provider"), e)),
                    Step::Sandbox(m) => {
                        let mut rest = m.clone();
                        let generic = generic_sandbox_keys(&mut rest);
                        generic
                            .and_then(|_| p.validate_step(StepKind::Sandbox, &Value::Object(rest)))
                            .map_err(|e| (format!("{at}/sandbox"), e))
                    }
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

/// Checks and removes the keys every sandbox understands.
fn generic_sandbox_keys(m: &mut serde_json::Map<String, Value>) -> Result<(), String> {
    if let Some(v) = m.remove("token_lifetime_s") {
        if v.as_f64().is_none_or(|s| s <= 0.0) {
            return Err("`token_lifetime_s` must be a number of seconds above 0".into());
        }
    }
    if let Some(v) = m.remove("inject") {
        serde_json::from_value::<Vec<sandbox::Fault>>(v).map_err(|e| format!("`inject` must be a list of faults ({{operation, status, code, times, delay_ms}}): {e}"))?;
    }
    Ok(())
}
