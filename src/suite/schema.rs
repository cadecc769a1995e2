//! The suite schema an editor reads and the one golive validates with.
//!
//! `schemas/suite.schema.json` is written by hand except its per-kind part, which is generated
//! from the kinds (`checks::schema`): `$defs/check/properties/kind` (an enum of the real kinds),
//! `$defs/check/allOf` (for each kind, `if kind is K then params is $defs/params.K`, and
//! `params` required when K has a param without a default) and the `$defs/params.K`
//! themselves. A unit test regenerates the file and fails when it differs;
//! `GOLIVE_WRITE_SCHEMAS=1 cargo test --lib suite::schema` rewrites it.
//!
//! golive itself validates with the file less its per-kind part: it reads kinds and params
//! with the kinds' own types right after (`validate::suite_problems`, the same types the
//! schema is generated from), and says more there than a schema can (the check's id, the
//! closest kind or param, a locator that does not parse).

use serde_json::{json, Value};

/// The schemas as `golive suites export` writes them, beside `suites/` and `targets/`: the
/// bundled files' modelines (`$schema=../schemas/suite.schema.json`) resolve there as in the
/// repository.
pub const FILES: [(&str, &str); 2] = [
    ("schemas/suite.schema.json", super::load::SUITE_SCHEMA),
    ("schemas/target.schema.json", super::load::TARGET_SCHEMA),
];

/// The prefix of the `$defs` holding each kind's params.
pub const PARAMS_DEF: &str = "params.";

/// The suite schema with its per-kind part generated from the kinds known now, the rest as in
/// `base` (the committed file).
pub fn generated(base: &Value) -> Value {
    let mut schema = base.clone();
    let kinds = crate::checks::kinds();
    let params = crate::checks::schema::params_schemas();
    let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) else {
        return schema;
    };
    defs.retain(|k, _| !k.starts_with(PARAMS_DEF));
    if let Some(check) = defs.get_mut("check").and_then(Value::as_object_mut) {
        if let Some(props) = check.get_mut("properties").and_then(Value::as_object_mut) {
            let names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
            props.insert(
                "kind".into(),
                json!({
                    "description": "The check kind: what the rule judges and which params it takes (`golive kinds KIND` describes one).",
                    "enum": names,
                    "markdownEnumDescriptions": kinds.iter().map(|k| k.summary).collect::<Vec<_>>(),
                }),
            );
        }
        let branches: Vec<Value> = params
            .iter()
            .map(|(name, p)| {
                let mut then = json!({
                    "properties": { "params": { "$ref": format!("#/$defs/{PARAMS_DEF}{name}") } }
                });
                let required = p
                    .get("required")
                    .and_then(Value::as_array)
                    .is_some_and(|r| !r.is_empty());
                if required {
                    then["required"] = json!(["params"]);
                }
                json!({
                    "if": { "properties": { "kind": { "const": name } }, "required": ["kind"] },
                    "then": then,
                })
            })
            .collect();
        check.insert("allOf".into(), Value::Array(branches));
    }
    for (name, p) in params {
        defs.insert(format!("{PARAMS_DEF}{name}"), p);
    }
    schema
}

/// The schema golive validates a suite with: `full` less its per-kind part.
pub fn runtime(full: &Value) -> Value {
    let mut schema = full.clone();
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.retain(|k, _| !k.starts_with(PARAMS_DEF));
        if let Some(check) = defs.get_mut("check").and_then(Value::as_object_mut) {
            check.remove("allOf");
            if let Some(kind) = check.get_mut("properties").and_then(|p| p.get_mut("kind")) {
                *kind = json!({ "type": "string", "minLength": 1 });
            }
        }
    }
    schema
}

/// A schema as the committed files write it: a value on one line when it fits in 100
/// columns, else one member per line, indented by two.
pub fn render(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, 0, 0, &mut out);
    out.push('\n');
    out
}

const WIDTH: usize = 100;

fn inline(value: &Value) -> String {
    match value {
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Object(m) => {
            let members: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), inline(v)))
                .collect();
            format!("{{ {} }}", members.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

/// Writes `value` at `indent`, `used` columns of its line being taken already (its key).
fn write_value(value: &Value, indent: usize, used: usize, out: &mut String) {
    let one = inline(value);
    if used + one.chars().count() <= WIDTH {
        out.push_str(&one);
        return;
    }
    let pad = " ".repeat(indent + 2);
    match value {
        Value::Object(m) => {
            out.push_str("{\n");
            let last = m.len().saturating_sub(1);
            for (i, (k, v)) in m.iter().enumerate() {
                let key = format!("{pad}{}: ", Value::from(k.as_str()));
                out.push_str(&key);
                // A member that is not last is followed by a comma.
                write_value(v, indent + 2, key.chars().count() + 1, out);
                out.push_str(if i == last { "\n" } else { ",\n" });
            }
            out.push_str(&" ".repeat(indent));
            out.push('}');
        }
        Value::Array(a) => {
            out.push_str("[\n");
            let last = a.len().saturating_sub(1);
            for (i, v) in a.iter().enumerate() {
                out.push_str(&pad);
                write_value(v, indent + 2, indent + 3, out);
                out.push_str(if i == last { "\n" } else { ",\n" });
            }
            out.push_str(&" ".repeat(indent));
            out.push(']');
        }
        // A long string or number stays on its line.
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Every `properties` entry of a schema without a description (its own, or the one of the
/// definition it refers to), as JSON pointers into the schema.
pub fn undescribed(schema: &Value) -> Vec<String> {
    fn walk(root: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Object(props)) = m.get("properties") {
                    for (k, p) in props {
                        if !described(root, p) {
                            out.push(format!("{at}/properties/{k}"));
                        }
                    }
                }
                for (k, child) in m {
                    walk(root, child, &format!("{at}/{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(root, child, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    fn described(root: &Value, p: &Value) -> bool {
        if p.get("description").is_some() {
            return true;
        }
        match p.get("$ref").and_then(Value::as_str) {
            Some(r) => r
                .strip_prefix('#')
                .and_then(|ptr| root.pointer(ptr))
                .is_some_and(|d| described(root, d)),
            None => false,
        }
    }
    let mut out = Vec::new();
    walk(schema, schema, "", &mut out);
    // Inside the `if` of the per-kind branches `kind` is a condition, not a property.
    out.retain(|p| !p.contains("/if/properties/"));
    out
}

/// The committed suite schema, parsed.
pub fn committed() -> Value {
    serde_json::from_str(super::load::SUITE_SCHEMA).expect("bundled schema is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suite_schema_is_generated_from_the_kinds() {
        let want = render(&generated(&committed()));
        if std::env::var_os("GOLIVE_WRITE_SCHEMAS").is_some() {
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/suite.schema.json");
            std::fs::write(path, &want).unwrap();
            return;
        }
        assert!(
            super::super::load::SUITE_SCHEMA == want,
            "schemas/suite.schema.json is not what the kinds' Params types say; \
             `GOLIVE_WRITE_SCHEMAS=1 cargo test --lib suite::schema` rewrites it"
        );
    }

    #[test]
    fn every_property_has_a_description() {
        let suite = undescribed(&committed());
        assert!(suite.is_empty(), "suite schema: {suite:#?}");
        let target: Value = serde_json::from_str(super::super::load::TARGET_SCHEMA).unwrap();
        let target = undescribed(&target);
        assert!(target.is_empty(), "target schema: {target:#?}");
    }

    fn editor_validator() -> jsonschema::Validator {
        jsonschema::validator_for(&committed()).unwrap()
    }

    /// The suites in the repository's `suites/` (those the binary bundles), as JSON.
    fn bundled() -> Vec<(String, Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("suites");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        assert!(!files.is_empty());
        files
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path).unwrap();
                let node = crate::suite::yaml::parse(&text, &path).unwrap();
                (path.display().to_string(), node.to_json())
            })
            .collect()
    }

    /// What an editor checks a bundled suite with finds nothing wrong in it.
    #[test]
    fn the_bundled_suites_are_valid_as_an_editor_sees_them() {
        let v = editor_validator();
        for (file, json) in bundled() {
            let errors: Vec<String> = v
                .iter_errors(&json)
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{file}: {errors:#?}");
        }
    }

    /// The schema takes exactly the params each kind reads (`golive kinds` reads them from the
    /// kind's source, and its own test holds that to what serde accepts), requires exactly
    /// those without a default, and refuses a misspelt one.
    #[test]
    fn each_kinds_params_schema_is_what_the_kind_reads() {
        let schema = committed();
        let v = editor_validator();
        let (file, suite) = bundled().remove(0);
        for k in crate::checks::kinds() {
            let def = &schema["$defs"][format!("{PARAMS_DEF}{}", k.name)];
            let mut props: Vec<&str> = def["properties"]
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let mut required: Vec<&str> = def["required"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let doc = crate::checks::docs::describe(k.name, &[]).unwrap();
            let mut read: Vec<&str> = doc.params.iter().map(|p| p.name.as_str()).collect();
            let mut without_default: Vec<&str> = doc
                .params
                .iter()
                .filter(|p| p.default == "required")
                .map(|p| p.name.as_str())
                .collect();
            props.sort_unstable();
            read.sort_unstable();
            required.sort_unstable();
            without_default.sort_unstable();
            assert_eq!(props, read, "params of {}", k.name);
            assert_eq!(required, without_default, "required params of {}", k.name);
            assert_eq!(
                def["additionalProperties"],
                Value::Bool(false),
                "{}",
                k.name
            );

            // In a suite, a misspelt param of this kind is flagged at the check's params.
            let mut s = suite.clone();
            s["checks"][0]["kind"] = k.name.into();
            s["checks"][0]["params"] = serde_json::json!({ "zz_misspelt": 1 });
            // (For a kind without params the schema library words it "False schema does not
            // allow 1" at `params`; an editor names the key.)
            let flagged = v.iter_errors(&s).any(|e| {
                e.instance_path()
                    .to_string()
                    .starts_with("/checks/0/params")
            });
            assert!(
                flagged,
                "{file}: a misspelt param of {} is not flagged",
                k.name
            );
        }
    }

    /// golive's own validation leaves kinds and params to the kinds' types (better words),
    /// so the schema it validates with has no per-kind part.
    #[test]
    fn golive_validates_without_the_per_kind_part() {
        let runtime = runtime(&committed());
        let defs = runtime["$defs"].as_object().unwrap();
        assert!(!defs.keys().any(|k| k.starts_with(PARAMS_DEF)), "{defs:?}");
        assert!(runtime["$defs"]["check"].get("allOf").is_none());
        assert_eq!(
            runtime["$defs"]["check"]["properties"]["kind"],
            serde_json::json!({ "type": "string", "minLength": 1 })
        );
    }

    /// The target schema is written the way `render` writes (one style for both files).
    #[test]
    fn the_target_schema_is_rendered_alike() {
        let text = super::super::load::TARGET_SCHEMA;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(render(&value), text);
    }
}
