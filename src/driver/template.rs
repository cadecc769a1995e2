//! Templating of target files: `{{ sandbox.url }}`, `{{ credentials.user_id }}`,
//! `{{ port }}`, `{{ env.NAME }}` (golive's own environment), and a scenario's variables
//! (`{{ order_id }}`, `{{ amount }}`, `{{ time_scale }}`).

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// The environment golive was started with, as `{{ env.NAME }}` reads it: taken once, so every
/// template of a run sees the same values (variables that are not UTF-8 are left out).
pub fn environment() -> &'static Value {
    static ENV: OnceLock<Value> = OnceLock::new();
    ENV.get_or_init(|| {
        Value::Object(
            std::env::vars_os()
                .filter_map(|(k, v)| {
                    Some((k.into_string().ok()?, Value::String(v.into_string().ok()?)))
                })
                .collect(),
        )
    })
}

/// The `NAME`s of `{{ env.NAME }}` a template reads that golive's environment does not have.
pub fn missing_env(template: &str) -> Vec<String> {
    let env = environment();
    variables(template)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.strip_prefix("env."))
        .map(|name| name.split('.').next().unwrap_or(name))
        .filter(|name| env.get(name).is_none())
        .map(str::to_owned)
        .collect()
}

/// The error of a template that reads an environment variable golive was not given, naming it.
fn missing_env_error(template: &str) -> Option<String> {
    let missing = missing_env(template);
    let name = missing.first()?;
    Some(format!(
        "cannot fill in `{template}`: `{{{{ env.{name} }}}}`: golive was started without the environment variable `{name}`"
    ))
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt variable must be an error, not an empty string sent to the shop.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Renders a string template.
pub fn render(template: &str, vars: &Value) -> Result<String, String> {
    if !template.contains("{{") && !template.contains("{%") {
        return Ok(template.to_owned());
    }
    env().render_str(template, vars).map_err(|e| {
        missing_env_error(template)
            .unwrap_or_else(|| format!("cannot fill in `{template}`: {}", describe(&e)))
    })
}

/// The variables a template uses, dotted where it reads into one (`sandbox.url`), for
/// validation to name a misspelt one before anything runs. A template that does not parse is
/// an error saying why.
pub fn variables(template: &str) -> Result<Vec<String>, String> {
    let env = env();
    let t = env
        .template_from_str(template)
        .map_err(|e| format!("cannot read the template `{template}`: {}", describe(&e)))?;
    let mut names: Vec<String> = t.undeclared_variables(true).into_iter().collect();
    names.sort();
    Ok(names)
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{} ({d})", e.kind()),
        None => e.kind().to_string(),
    }
}

/// Renders every string in a JSON value. A string that is exactly one `{{ expr }}` takes the
/// variable's own JSON type, so `amount: "{{ amount }}"` stays a number when `amount` is one.
pub fn render_value(value: &Value, vars: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => {
            let t = s.trim();
            if let Some(expr) = t
                .strip_prefix("{{")
                .and_then(|r| r.strip_suffix("}}"))
                .filter(|e| !e.contains("{{") && !e.contains("}}"))
            {
                let expr = expr.trim();
                let compiled = env();
                let e = compiled
                    .compile_expression(expr)
                    .map_err(|e| format!("cannot fill in `{s}`: {}", describe(&e)))?;
                let v = e.eval(vars).map_err(|e| {
                    missing_env_error(s)
                        .unwrap_or_else(|| format!("cannot fill in `{s}`: {}", describe(&e)))
                })?;
                if v.is_undefined() {
                    return Err(missing_env_error(s).unwrap_or_else(|| {
                        format!("cannot fill in `{s}`: `{expr}` is not defined")
                    }));
                }
                serde_json::to_value(&v).map_err(|e| format!("cannot fill in `{s}`: {e}"))?
            } else {
                Value::String(render(s, vars)?)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_and_typed_values() {
        let vars = json!({"order_id": "o-1", "amount": 80.5, "sandbox": {"url": "http://x"}});
        assert_eq!(render("{{ sandbox.url }}/a", &vars).unwrap(), "http://x/a");
        let v = render_value(
            &json!({"id": "{{ order_id }}", "amount": "{{ amount }}", "note": "n {{ amount }}"}),
            &vars,
        )
        .unwrap();
        assert_eq!(v, json!({"id": "o-1", "amount": 80.5, "note": "n 80.5"}));
    }

    #[test]
    fn variables_are_listed_dotted() {
        assert_eq!(
            variables("{{ sandbox.url }}/{{ oder_id }}{{ amount | string }}").unwrap(),
            vec!["amount", "oder_id", "sandbox.url"]
        );
        assert!(variables("{{ order_id").is_err());
    }

    #[test]
    fn the_environment_is_read_and_a_missing_name_is_named() {
        // PATH is in every test's environment; this one is in none.
        let vars = json!({ "env": environment() });
        let path = std::env::var("PATH").unwrap();
        assert_eq!(render("{{ env.PATH }}", &vars).unwrap(), path);
        assert_eq!(
            render_value(&json!("{{ env.PATH }}"), &vars).unwrap(),
            json!(path)
        );
        let missing = "GOLIVE_TEST_SURELY_UNSET_3F9A";
        let template = format!("{{{{ env.{missing} }}}}");
        assert_eq!(missing_env(&template), vec![missing.to_string()]);
        for err in [
            render(&format!("x {template}"), &vars).unwrap_err(),
            render_value(&json!(template), &vars).unwrap_err(),
        ] {
            assert!(
                err.contains(&format!("without the environment variable `{missing}`")),
                "{err}"
            );
        }
        assert!(missing_env("{{ env.PATH }} {{ amount }}").is_empty());
    }

    #[test]
    fn an_unknown_variable_is_an_error() {
        let err = render("{{ ammount }}", &json!({"amount": 1})).unwrap_err();
        assert!(err.contains("{{ ammount }}"), "{err}");
        assert!(render_value(&json!("{{ nope }}"), &json!({})).is_err());
    }
}
