//! Each kind's params as a JSON Schema, generated from its `Params` type (schemars): the field
//! names, types, defaults, `///` comments (descriptions) and `deny_unknown_fields` (so an editor
//! flags a misspelt param) are the ones serde reads, so the suite schema's per-kind part cannot
//! drift from what a kind accepts. `suite::schema` puts them into `schemas/suite.schema.json`.
//!
//! The types params share with the journal (`Actor`, `Direction`, `TokenState`) and the field
//! locator (`Field`, read from text by hand) say their schemas here.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use super::field::Field;
use crate::journal::{Actor, Direction, TokenState};

/// What a field locator (`Field::parse`) reads, as a regex.
pub const FIELD_PATTERN: &str = "^(path|(body|query|header|form):.+)$";

/// Every kind's params schema, in registry order: (kind name, schema). Each is whole (no
/// `$ref` to shared definitions: the same type name means different things in different
/// kinds), titled with the kind and described by its summary.
pub fn params_schemas() -> Vec<(&'static str, Value)> {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    super::PARAMS_SCHEMAS
        .iter()
        .map(|(name, schema_of)| {
            let mut value = schema_of(&mut generator).to_value();
            tidy(&mut value);
            if let Value::Object(m) = &mut value {
                m.remove("$schema");
                let summary = super::kind(name).map_or("", |k| k.summary);
                m.insert("title".into(), format!("params of kind `{name}`").into());
                // The kind's summary, not a doc comment of a struct its params flatten.
                m.insert(
                    "description".into(),
                    format!("{summary} (`golive kinds {name}` has more).").into(),
                );
            }
            (*name, value)
        })
        .collect()
}

/// A generated schema as an editor shows it: doc comments' line breaks are spaces (a blank
/// line stays a paragraph break), and the Rust number formats (`uint16`, `double`), which
/// say nothing a YAML writer needs beyond `minimum`/`maximum`, are left out.
fn tidy(value: &mut Value) {
    match value {
        Value::Object(m) => {
            if m.get("format").is_some_and(Value::is_string) && m.contains_key("type") {
                m.remove("format");
            }
            // An externally tagged enum's variant (`- status_in: [200]`): its doc also on its
            // one key, where an editor's hover and completion look.
            if let (Some(d), Some(Value::Object(props))) =
                (m.get("description").cloned(), m.get_mut("properties"))
            {
                if let [(_, Value::Object(only))] = &mut props.iter_mut().collect::<Vec<_>>()[..] {
                    only.entry("description").or_insert(d);
                }
            }
            if let Some(Value::String(d)) = m.get_mut("description") {
                *d = d
                    .split("\n\n")
                    .map(|para| para.split_whitespace().collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
            for (k, v) in m.iter_mut() {
                if k != "description" {
                    tidy(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// The values of an enum the journal also writes (`snake_case`), each with what it means.
fn one_of_words(description: &str, values: &[(&str, &str)]) -> Schema {
    let list: Vec<String> = values
        .iter()
        .map(|(v, what)| format!("`{v}`: {what}"))
        .collect();
    json_schema!({
        "description": format!("{description}: {}.", list.join("; ")),
        "enum": values.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
    })
}

const ACTORS: &[(&str, &str)] = &[
    (
        "integration",
        "the integration's server, calling the provider's API",
    ),
    ("browser", "the shopper's browser (played by golive)"),
    (
        "provider",
        "golive in the provider's role (a webhook call, an event acknowledgement)",
    ),
    (
        "harness",
        "golive itself: triggers, order probes, readiness probes",
    ),
];

const DIRECTIONS: &[(&str, &str)] = &[
    (
        "to_sandbox",
        "the integration (or the shopper's browser) called the simulated provider",
    ),
    (
        "to_target",
        "golive called the integration: a trigger, a callback, a webhook, a probe",
    ),
    (
        "from_sandbox",
        "the simulated provider called out on its own",
    ),
];

const TOKEN_STATES: &[(&str, &str)] = &[
    ("valid", "a token the sandbox issued, still valid"),
    ("expired", "a token the sandbox issued, expired"),
    ("unknown", "a token the sandbox never issued"),
    ("missing", "no token"),
];

/// A journal enum's schema: its words, each with what it means, under one description.
macro_rules! schema_of_words {
    ($($ty:ident: $description:literal, $values:ident;)*) => {$(
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                one_of_words($description, $values)
            }
        }
    )*};
}

schema_of_words! {
    Actor: "Who sent the request", ACTORS;
    Direction: "Which way the exchange went", DIRECTIONS;
    TokenState: "A token's state when it was used", TOKEN_STATES;
}

impl JsonSchema for Field {
    fn schema_name() -> Cow<'static, str> {
        "Field".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": FIELD_PATTERN,
            "description": "A field locator: `body:/pointer` (a JSON pointer into a JSON body, or a form field in a form body), `query:name`, `header:Name`, `form:name`, or `path` (the URL path).",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value the schemas list is one serde reads, and every variant is listed (the match
    /// stops compiling when a variant is added).
    #[test]
    fn journal_enums_list_exactly_their_variants() {
        fn listed<T: serde::de::DeserializeOwned + serde::Serialize>(
            values: &[(&str, &str)],
            all: &[T],
        ) {
            for (v, _) in values {
                serde_json::from_value::<T>(Value::String((*v).into()))
                    .unwrap_or_else(|e| panic!("`{v}`: {e}"));
            }
            let names: Vec<Value> = all
                .iter()
                .map(|t| serde_json::to_value(t).unwrap())
                .collect();
            let want: Vec<Value> = values.iter().map(|(v, _)| Value::from(*v)).collect();
            assert_eq!(names, want);
        }
        // Each enum's variants, listed once: the match stops compiling when one is added.
        macro_rules! every {
            ($($variant:path),+ $(,)?) => {{
                let all = [$($variant),+];
                for v in all {
                    match v {
                        $($variant)|+ => {}
                    }
                }
                all
            }};
        }
        listed(
            ACTORS,
            &every![
                Actor::Integration,
                Actor::Browser,
                Actor::Provider,
                Actor::Harness,
            ],
        );
        listed(
            DIRECTIONS,
            &every![
                Direction::ToSandbox,
                Direction::ToTarget,
                Direction::FromSandbox,
            ],
        );
        listed(
            TOKEN_STATES,
            &every![
                TokenState::Valid,
                TokenState::Expired,
                TokenState::Unknown,
                TokenState::Missing,
            ],
        );
    }

    /// The locator pattern accepts what `Field::parse` does and refuses what it refuses.
    #[test]
    fn the_field_pattern_is_the_parsers() {
        let re = regex::Regex::new(FIELD_PATTERN).unwrap();
        for s in [
            "path",
            "body:/a",
            "body:a",
            "query:x",
            "header:X-Y",
            "form:f",
            "body:",
            "paths",
            "cookie:x",
            "header",
            "",
        ] {
            assert_eq!(re.is_match(s), Field::parse(s).is_ok(), "{s}");
        }
    }
}
