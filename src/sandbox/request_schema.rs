//! Each operation's request schema: the sandbox validates what the integration sends against
//! it, and lists the fields the schema does not know the way the real API does
//! (`additionalInformation.unrecognizedFields`).

use std::collections::BTreeMap;

use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde_json::Value;

/// An operation's request schema, compiled once.
pub struct RequestSchema {
    schema: Value,
    validator: Validator,
    /// The top level's properties, looked up by a scan of their names: a request's fields
    /// were each a SipHash lookup in the schema's map, and the request's own (1.5% of a Get
    /// Payment Status's instructions with the validator's). `None` where the top level has
    /// none.
    top: Option<Vec<(String, Value)>>,
}

/// What the sandbox found in one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RequestFindings {
    /// Fields the operation does not know, as dotted paths (`payment.foo`).
    pub unrecognized: Vec<String>,
    /// Everything else the schema rejects (missing fields, wrong types, too long...).
    pub errors: Vec<String>,
}

impl RequestSchema {
    /// Compiles a bundled schema; a broken bundled schema is a bug in golive, so it panics at
    /// start-up (tests compile every one).
    pub fn bundled(text: &str) -> Self {
        let schema: Value = serde_json::from_str(text).expect("bundled request schema is JSON");
        let validator =
            jsonschema::validator_for(&schema).expect("bundled request schema compiles");
        let top = resolve(&schema, &schema)
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        RequestSchema {
            schema,
            validator,
            top,
        }
    }

    pub fn check(&self, instance: &Value) -> RequestFindings {
        let mut findings = RequestFindings::default();
        let out = &mut findings.unrecognized;
        match (&self.top, instance) {
            // The top level as `unknown_fields` walks it, its properties at hand.
            (Some(properties), Value::Object(map)) => {
                let property = |k: &str| {
                    properties
                        .iter()
                        .find(|(name, _)| name == k)
                        .map(|(_, s)| s)
                };
                unknown_in_object(&self.schema, map, property, "", out)
            }
            _ => unknown_fields(&self.schema, &self.schema, instance, "", out),
        }
        // Most requests are valid: one quick pass says so, and only an invalid one pays for the
        // error iterator (which builds a located error per failing keyword).
        if self.validator.is_valid(instance) {
            return findings;
        }
        for e in self.validator.iter_errors(instance) {
            // Unknown fields are reported on their own, as the provider does.
            if matches!(e.kind(), ValidationErrorKind::AdditionalProperties { .. }) {
                continue;
            }
            let path = e.instance_path().to_string();
            let at = if path.is_empty() {
                "body".to_string()
            } else {
                path.trim_start_matches('/').replace('/', ".")
            };
            findings.errors.push(format!("{at}: {e}"));
        }
        findings
    }
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with("#/") => root.pointer(&r[1..]).unwrap_or(schema),
        _ => schema,
    }
}

/// Walks the instance beside the schema's `properties` and collects keys no schema level knows.
fn unknown_fields(root: &Value, schema: &Value, instance: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(root, schema);
    match instance {
        Value::Object(map) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            unknown_in_object(root, map, |k| props.get(k), at, out)
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(root, item_schema, v, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// An object's keys that `property` (the schema's properties at this level) does not know,
/// and, below the known ones, what their own schemas do not know.
fn unknown_in_object<'s>(
    root: &Value,
    map: &serde_json::Map<String, Value>,
    property: impl Fn(&str) -> Option<&'s Value>,
    at: &str,
    out: &mut Vec<String>,
) {
    // A field's dotted path is written only when it is needed: for an unknown field, or to
    // descend into an object or array (most fields are known scalars).
    let path = |k: &str| {
        if at.is_empty() {
            k.to_owned()
        } else {
            format!("{at}.{k}")
        }
    };
    for (k, v) in map {
        match property(k) {
            Some(s) if v.is_object() || v.is_array() => unknown_fields(root, s, v, &path(k), out),
            Some(_) => {}
            None => out.push(path(k)),
        }
    }
}

/// A set of operation schemas by operation id: a handful, found by a scan of their names
/// (a SipHash lookup on every request was more).
#[derive(Default)]
pub struct OperationSchemas {
    by_operation: Vec<(&'static str, RequestSchema)>,
}

impl OperationSchemas {
    /// The request schemas of a provider's operation table.
    pub fn of(table: &[super::Operation]) -> Self {
        table
            .iter()
            .filter_map(|o| Some((o.name, o.request_schema?)))
            .fold(OperationSchemas::default(), |s, (name, text)| {
                s.with(name, text)
            })
    }

    pub fn with(mut self, operation: &'static str, text: &str) -> Self {
        let schema = RequestSchema::bundled(text);
        match self
            .by_operation
            .iter_mut()
            .find(|(name, _)| *name == operation)
        {
            Some((_, known)) => *known = schema,
            None => self.by_operation.push((operation, schema)),
        }
        self
    }

    pub fn check(&self, operation: &str, instance: &Value) -> RequestFindings {
        self.by_operation
            .iter()
            .find(|(name, _)| *name == operation)
            .map(|(_, s)| s.check(instance))
            .unwrap_or_default()
    }
}

/// A query string as a JSON object, for checking query parameters against a schema. Every
/// value is a string, as on the wire.
pub fn query_object(query: Option<&str>) -> Value {
    let mut map = serde_json::Map::new();
    // A pair with nothing escaped is split and copied as it is, as `Exchange::query_value`
    // reads one: `form_urlencoded` decodes every byte, and a status poll's query went through
    // it on every request (3% of the sandbox's CPU samples under load).
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        if pair.bytes().any(|b| b == b'%' || b == b'+') {
            if let Some((key, value)) = form_urlencoded::parse(pair.as_bytes()).next() {
                map.insert(key.into_owned(), Value::String(value.into_owned()));
            }
        } else {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }
    Value::Object(map)
}

/// A form's fields (a repeated name: its last value), and the same as a JSON object for
/// checking them against a schema.
pub fn form_fields(form: &str) -> (BTreeMap<String, String>, Value) {
    let fields: BTreeMap<String, String> = form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    let as_json = fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    (fields, Value::Object(as_json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &str = r##"{
        "type": "object",
        "additionalProperties": false,
        "required": ["password"],
        "properties": {
            "password": {"type": "string"},
            "payment": {"$ref": "#/$defs/payment"}
        },
        "$defs": {"payment": {"type": "object", "additionalProperties": false,
            "properties": {"amount": {"type": "number"}}}}
    }"##;

    #[test]
    fn unknown_fields_are_listed_at_every_depth_and_not_doubled_as_errors() {
        let s = RequestSchema::bundled(SCHEMA);
        let f = s.check(&json!({"password": "p", "note": 1, "payment": {"amount": 1, "tip": 2}}));
        assert_eq!(f.unrecognized, vec!["note", "payment.tip"]);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
    }

    #[test]
    fn a_top_level_given_by_reference_lists_unknown_fields_as_one_given_in_place() {
        let by_reference = RequestSchema::bundled(
            r##"{"$ref": "#/$defs/request", "$defs": {"request": {"type": "object",
                "properties": {"a": {"type": "string"}, "b": {"$ref": "#/$defs/b"}}},
                "b": {"type": "object", "properties": {"c": {"type": "number"}}}}}"##,
        );
        let f = by_reference.check(&json!({"a": "x", "z": 1, "b": {"c": 1, "d": 2}}));
        assert_eq!(f.unrecognized, vec!["z", "b.d"]);
        // Not an object at the top: nothing to list, as before.
        let f = by_reference.check(&json!(["a", "z"]));
        assert!(f.unrecognized.is_empty());
    }

    #[test]
    fn schema_errors_name_the_field() {
        let s = RequestSchema::bundled(SCHEMA);
        let f = s.check(&json!({"payment": {"amount": "ten"}}));
        assert_eq!(f.errors.len(), 2, "{:?}", f.errors);
        assert!(f.errors.iter().any(|e| e.starts_with("payment.amount")));
        assert!(f.errors.iter().any(|e| e.contains("password")));
    }

    proptest::proptest! {
        /// Read as `form_urlencoded` reads a query, whatever it holds: escapes, pluses, pieces
        /// without `=`, empty pairs, a name given twice.
        #[test]
        fn a_query_reads_as_form_urlencoded_reads_it(q in "([a-c=&+%]|%[0-9A-Fa-f]{2}|%C3%A9|é)*") {
            let mut want = serde_json::Map::new();
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                want.insert(k.into_owned(), Value::String(v.into_owned()));
            }
            proptest::prop_assert_eq!(query_object(Some(&q)), Value::Object(want));
        }
    }

    #[test]
    fn query_strings_become_objects() {
        assert_eq!(
            query_object(Some("a=1&b=x%20y")),
            json!({"a": "1", "b": "x y"})
        );
    }
}
