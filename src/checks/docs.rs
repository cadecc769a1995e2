//! `golive kinds KIND`: a kind's rule, params (types, defaults, what each means) and an
//! example, read from the kind's own source and the bundled suites, so the help cannot drift
//! from what the kind accepts. The kind files are carried in the binary as text; their
//! `Params` struct (field names, `///` comments, serde defaults) is what is printed, with the
//! types, defaults and nested keys the kind's params schema (generated from the same types,
//! `checks::schema`) states. A unit test checks, for every kind, that the fields read here
//! are exactly the params serde accepts.

use serde_json::Value;

use super::SOURCES;

/// One param of a kind, as its `Params` struct declares it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Param {
    pub name: String,
    /// The type in a YAML writer's words (`number`, `list of text`...).
    pub ty: String,
    /// `required`, or the default as the source gives it.
    pub default: String,
    /// The field's `///` comment, joined into one paragraph (may be empty).
    pub doc: String,
    /// A param that is a mapping (or a list of them): its own keys, from the kind's params
    /// schema (`select.actor`, `expect[].status_in`).
    pub members: Vec<Param>,
}

/// What `golive kinds KIND` prints about a kind.
#[derive(Debug, Clone)]
pub struct KindDoc {
    pub name: &'static str,
    pub summary: &'static str,
    /// The kind file's `//!` comment: what the rule judges and how.
    pub about: String,
    pub params: Vec<Param>,
    /// A check of this kind in a bundled suite: (suite file, check id, its `kind:`/`params:`
    /// lines as written there).
    pub example: Option<(&'static str, String, String)>,
}

fn source(kind: &str) -> Option<&'static str> {
    SOURCES.iter().find(|(k, _)| *k == kind).map(|(_, s)| *s)
}

/// The documentation of a known kind, its example taken from the first of `suites` (file,
/// text) that uses it (the caller passes the bundled suites: checks know no provider).
pub fn describe(kind: &str, suites: &[(&'static str, &'static str)]) -> Option<KindDoc> {
    let k = super::kind(kind)?;
    let text = source(kind)?;
    let schema = super::schema::params_schemas()
        .into_iter()
        .find(|(n, _)| *n == kind)
        .map(|(_, s)| s)
        .unwrap_or_default();
    let mut params = params(text);
    for p in &mut params {
        if let Some(s) = schema.get("properties").and_then(|m| m.get(&p.name)) {
            from_schema(p, s);
        }
    }
    Some(KindDoc {
        name: k.name,
        summary: k.summary,
        about: module_doc(text),
        params,
        example: example(kind, suites),
    })
}

/// A param's type (and default, where the source's is Rust) as the kind's params schema says
/// it, and the keys of a param that is a mapping: the schema is generated from the same types
/// serde reads, so nested types (`Select`, `Predicate`, `Field`) read as what a suite writes.
fn from_schema(p: &mut Param, s: &Value) {
    p.ty = schema_words(s);
    if let Some(d) = s.get("default") {
        if !d.is_null() {
            p.default = yaml_value(d);
        }
    }
    p.members = members(s, "");
}

/// The keys of a mapping schema (under a list, a nullable or a one-key variant), each with
/// its type, default and description, named from the param on (`.actor`, `[].field`).
fn members(s: &Value, prefix: &str) -> Vec<Param> {
    let s = non_null(s);
    if let Some(items) = s.get("items") {
        return members(items, &format!("{prefix}[]"));
    }
    // One mapping with one key of several (`- status_in: [200]`): each key is a choice.
    let (variants, choice) = match s.get("oneOf").and_then(Value::as_array) {
        Some(v) => (v.iter().collect::<Vec<_>>(), true),
        None => (vec![s], false),
    };
    let mut out = Vec::new();
    for v in variants {
        let Some(props) = v.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let required: Vec<&str> = v
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, schema) in props {
            let default = match schema.get("default") {
                Some(d) if !d.is_null() => yaml_value(d),
                _ if !choice && required.contains(&name.as_str()) => "required".to_owned(),
                _ => "none".to_owned(),
            };
            let name = format!("{prefix}.{name}");
            out.push(Param {
                name: name.clone(),
                ty: schema_words(schema),
                default,
                doc: schema
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                members: Vec::new(),
            });
            out.extend(members(schema, &name));
        }
    }
    out
}

/// A default as a suite writes it: lists in flow style, plain words unquoted inside them.
fn yaml_value(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let each: Vec<String> = items
                .iter()
                .map(|i| match i.as_str() {
                    Some(w) if w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                        w.to_owned()
                    }
                    _ => yaml_value(i),
                })
                .collect();
            format!("[{}]", each.join(", "))
        }
        other => other.to_string(),
    }
}

/// A schema without its `null` alternative (an `Option`).
fn non_null(s: &Value) -> &Value {
    match s.get("anyOf").and_then(Value::as_array).map(Vec::as_slice) {
        Some([a, b]) if b.get("type") == Some(&Value::from("null")) => a,
        Some([a, b]) if a.get("type") == Some(&Value::from("null")) => b,
        _ => s,
    }
}

/// A params schema in a YAML writer's words (the vocabulary of [`words`]).
fn schema_words(s: &Value) -> String {
    let optional = |w: String| format!("{w} (optional)");
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let named: Vec<String> = values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
            .collect();
        let w = format!("one of {}", named.join(", "));
        return if values.iter().any(Value::is_null) {
            optional(w)
        } else {
            w
        };
    }
    if let Some(alts) = s.get("anyOf").and_then(Value::as_array) {
        if non_null(s) != s {
            return optional(schema_words(non_null(s)));
        }
        if let [one, list] = alts.as_slice() {
            if list.get("items") == Some(one) {
                return format!("{} or a list of them", schema_words(one));
            }
        }
        let each: Vec<String> = alts.iter().map(schema_words).collect();
        return each.join(" or ");
    }
    if let Some(variants) = s.get("oneOf").and_then(Value::as_array) {
        let keys: Vec<String> = variants
            .iter()
            .filter_map(|v| v.get("properties")?.as_object()?.keys().next().cloned())
            .collect();
        return format!("a mapping with one key of: {}", keys.join(", "));
    }
    let ty = match s.get("type") {
        Some(Value::Array(types)) => {
            let one: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
            if let [t] = one.as_slice() {
                let mut plain = s.clone();
                plain["type"] = (*t).clone();
                return optional(schema_words(&plain));
            }
            return "any YAML value".into();
        }
        Some(Value::String(t)) => t.as_str(),
        _ => return "any YAML value".into(),
    };
    let max = s.get("maximum").and_then(Value::as_u64);
    match ty {
        "string" if s.get("pattern").and_then(Value::as_str) == Some(FIELD_PATTERN) => {
            "field locator".into()
        }
        "string" => "text".into(),
        "number" => "number".into(),
        "integer" => match (s.get("minimum").and_then(Value::as_i64), max) {
            (Some(0), Some(65535)) => "whole number (0-65535)".into(),
            (Some(0), Some(255)) => "whole number (0-255)".into(),
            (Some(m), _) if m >= 0 => "whole number".into(),
            _ => "whole number (may be negative)".into(),
        },
        "boolean" => "true/false".into(),
        "array" => match s.get("items") {
            Some(items) => format!("list of {}", schema_words(items)),
            None => "list".into(),
        },
        "object" => match s.get("additionalProperties") {
            Some(v) if v.is_object() => format!("mapping of text to {}", schema_words(v)),
            _ => "mapping".into(),
        },
        _ => "any YAML value".into(),
    }
}

/// The field locator's pattern in the params schemas.
const FIELD_PATTERN: &str = super::schema::FIELD_PATTERN;

/// The `//!` lines at the top of a file, as paragraphs.
fn module_doc(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("//!") else {
            break;
        };
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        out.push_str(rest);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// The fields of `struct Params` with their comments, types and defaults.
fn params(text: &str) -> Vec<Param> {
    fields_of(text, "Params")
}

/// The source declaring `struct NAME`: this kind's file, else another kind's (a struct shared
/// between kinds, like `event_sequence`'s `Locate`).
fn declaring<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let decl = |t: &str| {
        t.lines().any(|l| {
            let l = l
                .trim_start_matches("pub(super) ")
                .trim_start_matches("pub ");
            l.starts_with(&format!("struct {name} ")) || l == format!("struct {name} {{}}")
        })
    };
    if decl(text) {
        return Some(text);
    }
    SOURCES.iter().map(|(_, t)| *t).find(|t| decl(t))
}

/// The fields of a struct; a `#[serde(flatten)]` field's own fields in its place.
fn fields_of(text: &str, name: &str) -> Vec<Param> {
    let Some(text) = declaring(text, name) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| {
        let l = l
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ");
        l.starts_with(&format!("struct {name} ")) || l == format!("struct {name} {{}}")
    }) else {
        return Vec::new();
    };
    // `#[serde(default)]` on the struct: absent params take `impl Default for NAME`.
    let struct_default = lines[..start]
        .iter()
        .rev()
        .take_while(|l| l.starts_with("#[") || l.starts_with("///"))
        .any(|l| l.starts_with("#[serde(") && has_default(l));
    let defaults = if struct_default {
        default_impl(text, name)
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    if lines[start].trim_end().ends_with("{}") {
        return out;
    }
    let mut doc: Vec<String> = Vec::new();
    let mut field_default: Option<Option<String>> = None;
    let mut flatten = false;
    for line in &lines[start + 1..] {
        if line.starts_with('}') {
            break;
        }
        let l = line.trim();
        if let Some(d) = l.strip_prefix("///") {
            doc.push(d.trim().to_owned());
        } else if l.starts_with("#[serde(") {
            flatten |= l.contains("flatten");
            if let Some(f) = default_fn(l) {
                field_default = Some(Some(f));
            } else if has_default(l) {
                field_default = Some(None);
            }
        } else if let Some((field, ty)) = l.trim_end_matches(',').split_once(": ") {
            let field = field
                .trim_start_matches("pub(super) ")
                .trim_start_matches("pub ")
                .trim()
                .to_owned();
            let ty = ty.trim();
            if std::mem::take(&mut flatten) {
                out.extend(fields_of(text, ty));
                doc.clear();
                field_default = None;
                continue;
            }
            let default = match field_default.take() {
                Some(Some(f)) => fn_body(text, &f).unwrap_or_else(|| format!("{f}()")),
                Some(None) => empty_value(ty),
                None if struct_default => defaults
                    .iter()
                    .find(|(n, _)| *n == field)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| empty_value(ty)),
                None if ty.starts_with("Option<") => "none".to_owned(),
                None => "required".to_owned(),
            };
            out.push(Param {
                name: field,
                ty: words(ty),
                default: plain_value(&default),
                doc: doc.join(" "),
                members: Vec::new(),
            });
            doc.clear();
        }
    }
    out
}

fn has_default(attr: &str) -> bool {
    attr.split(['(', ',', ')'])
        .any(|part| part.trim() == "default")
}

/// `#[serde(default = "yes")]` → `yes`.
fn default_fn(attr: &str) -> Option<String> {
    let (_, rest) = attr.split_once("default = \"")?;
    let (name, _) = rest.split_once('"')?;
    Some(name.to_owned())
}

/// The expression a `fn name() -> T { … }` returns.
fn fn_body(text: &str, name: &str) -> Option<String> {
    let at = text.find(&format!("fn {name}()"))?;
    let rest = &text[at..];
    let open = rest.find('{')?;
    let close = matching(rest, open)?;
    Some(squash(&rest[open + 1..close]))
}

/// The index of the bracket closing the one at `open`.
fn matching(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `name: value` pairs of `impl Default for NAME`.
fn default_impl(text: &str, name: &str) -> Vec<(String, String)> {
    let Some(at) = text.find(&format!("impl Default for {name} ")) else {
        return Vec::new();
    };
    // The struct literal inside `fn default()`, not the impl's own brace.
    let Some(body) = text[at..].find("fn default()") else {
        return Vec::new();
    };
    // Past the function's own brace (`fn default() -> Self {`).
    let fn_start = at + body;
    let Some(brace) = text[fn_start..].find('{') else {
        return Vec::new();
    };
    let rest = &text[fn_start + brace + 1..];
    let Some(lit) = [format!("{name} {{"), "Self {".to_owned()]
        .iter()
        .filter_map(|l| rest.find(l.as_str()).map(|i| i + l.len() - 1))
        .min()
    else {
        return Vec::new();
    };
    let open = lit;
    let Some(close) = matching(rest, open) else {
        return Vec::new();
    };
    let body = &rest[open + 1..close];
    // Split on the commas between fields, not those inside `vec![…]`.
    let mut fields = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in body.chars() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                fields.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    fields.push(current);
    fields
        .iter()
        .filter_map(|f| {
            let (name, value) = f.split_once(':')?;
            Some((name.trim().to_owned(), squash(value)))
        })
        .collect()
}

/// A Rust default expression as a YAML writer would write the value.
fn plain_value(expr: &str) -> String {
    // `OneOrMore::One("request")` is `"request"`; `Actor::Integration` is `integration`.
    let one = regex::Regex::new(r"^\w+::(?:One|Many|More)\((.*)\)$").expect("valid regex");
    let expr = one.replace(expr.trim(), "$1");
    let variant = regex::Regex::new(r"\b[A-Z]\w*::([A-Z]\w*)\b").expect("valid regex");
    let expr = variant.replace_all(&expr, |c: &regex::Captures| snake(&c[1]));
    let mut v = expr.into_owned();
    for (from, to) in [
        (".into()", ""),
        (".to_owned()", ""),
        (".to_string()", ""),
        ("vec![", "["),
        ("Vec::new()", "[]"),
        ("String::new()", "\"\""),
        ("None", "none"),
        ("Some(", "("),
    ] {
        v = v.replace(from, to);
    }
    v
}

/// `ToSandbox` → `to_sandbox`, as serde's `rename_all = "snake_case"` writes a variant.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// What a param absent under `#[serde(default)]` is: its type's empty value.
fn empty_value(ty: &str) -> String {
    if ty.starts_with("Option<") {
        "none"
    } else if ty.starts_with("Vec<") {
        "[]"
    } else if ty == "bool" {
        "false"
    } else if ty == "String" {
        "\"\""
    } else if ["f64", "u64", "usize", "u32", "u16", "u8", "i64"].contains(&ty) {
        "0"
    } else {
        "empty"
    }
    .to_owned()
}

/// A Rust type in a YAML writer's words.
fn words(ty: &str) -> String {
    let ty = ty.trim();
    if let Some(inner) = generic(ty, "Option") {
        return format!("{} (optional)", words(inner));
    }
    if let Some(inner) = generic(ty, "Vec") {
        return format!("list of {}", words(inner));
    }
    if let Some(inner) = generic(ty, "OneOrMany").or_else(|| generic(ty, "OneOrMore")) {
        return format!("{} or a list of them", words(inner));
    }
    for map in ["BTreeMap", "HashMap"] {
        if let Some(inner) = generic(ty, map) {
            let value = inner.split_once(',').map_or(inner, |(_, v)| v);
            return format!("mapping of text to {}", words(value));
        }
    }
    match ty {
        "String" | "&str" => "text".into(),
        "f64" | "f32" => "number".into(),
        "u64" | "usize" | "u32" => "whole number".into(),
        "u16" => "whole number (0-65535)".into(),
        "u8" => "whole number (0-255)".into(),
        "i64" | "i32" => "whole number (may be negative)".into(),
        "bool" => "true/false".into(),
        "Value" | "serde_json::Value" => "any YAML value".into(),
        other => format!("`{other}` (see the rule above)"),
    }
}

fn generic<'a>(ty: &'a str, name: &str) -> Option<&'a str> {
    ty.strip_prefix(name)?.strip_prefix('<')?.strip_suffix('>')
}

/// The first check of this kind in the bundled suites, as written there.
fn example(
    kind: &str,
    suites: &[(&'static str, &'static str)],
) -> Option<(&'static str, String, String)> {
    for &(file, text) in suites {
        let lines: Vec<&str> = text.lines().collect();
        let Some(at) = lines
            .iter()
            .position(|l| l.trim() == format!("kind: {kind}"))
        else {
            continue;
        };
        let indent = lines[at].len() - lines[at].trim_start().len();
        let id = lines[..at]
            .iter()
            .rev()
            .find_map(|l| l.trim().strip_prefix("- id:"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let mut block = vec![lines[at].trim().to_owned()];
        for l in &lines[at + 1..] {
            let own = l.len() - l.trim_start().len();
            let params_line = own == indent && l.trim_start().starts_with("params:");
            if l.trim().is_empty() || !(own > indent || params_line) {
                break;
            }
            block.push(l[indent.min(l.len())..].to_owned());
        }
        return Some((file, id, block.join("\n")));
    }
    None
}

/// " (required)", " (default: …)", or nothing for an optional param without a default.
fn shown_default(p: &Param) -> String {
    match p.default.as_str() {
        "required" => " (required)".to_owned(),
        "none" => String::new(),
        d => format!(" (default: {d})"),
    }
}

impl std::fmt::Display for KindDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}: {}", self.name, self.summary)?;
        writeln!(f)?;
        for line in self.about.lines() {
            writeln!(f, "  {line}")?;
        }
        writeln!(f)?;
        if self.params.is_empty() {
            writeln!(f, "Params: none")?;
        } else {
            writeln!(f, "Params:")?;
            for p in &self.params {
                writeln!(f, "  {}: {}{}", p.name, p.ty, shown_default(p))?;
                if !p.doc.is_empty() {
                    writeln!(f, "      {}", p.doc)?;
                }
                for m in &p.members {
                    writeln!(f, "    {}{}: {}{}", p.name, m.name, m.ty, shown_default(m))?;
                    if !m.doc.is_empty() {
                        writeln!(f, "        {}", m.doc)?;
                    }
                }
            }
        }
        writeln!(f)?;
        match &self.example {
            Some((file, id, block)) => {
                writeln!(f, "Example ({id} in {file}):")?;
                for line in block.lines() {
                    writeln!(f, "  {line}")?;
                }
            }
            None => writeln!(f, "Example: no bundled suite uses this kind yet")?,
        }
        Ok(())
    }
}

/// Every kind's name, for a did-you-mean.
pub fn names() -> impl Iterator<Item = &'static str> {
    super::kinds().iter().map(|k| k.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{build, kinds};
    use crate::suite::CheckSpec;

    const SUITE: &str = "golive: 1\nid: s\ntitle: S\nprovider: p\nscenarios:\n  - id: a\n    title: A\n    steps:\n      - sleep: { seconds: 1 }\nchecks:\n  - id: T-REUSE\n    title: t\n    description: d\n    severity: major\n    source: s\n    kind: token_reuse\n    params:\n      min_lifetime_s: 60\n";

    fn describe(kind: &str) -> Option<KindDoc> {
        super::describe(kind, &[("suites/s.yaml", SUITE)])
    }

    fn try_params(kind: &str, params: serde_json::Value) -> Result<(), String> {
        let suite = crate::suite::parse_suite(SUITE, std::path::Path::new("s.yaml"))
            .unwrap()
            .value;
        let mut spec: CheckSpec = suite.checks[0].clone();
        spec.kind = kind.to_owned();
        spec.scenarios = None;
        spec.params = params;
        build(&spec, &suite).map(|_| ())
    }

    /// The params serde accepts for a kind, from its own "unknown param" message; `None`
    /// when the kind does not name them (a `#[serde(flatten)]` struct cannot deny unknown
    /// fields, so serde never lists them).
    fn accepted(kind: &str) -> Option<Vec<String>> {
        let err = try_params(kind, serde_json::json!({ "zz_not_a_param": 0 })).err()?;
        if err.contains("takes none here") {
            return Some(Vec::new());
        }
        let list = err.split("expected one of: ").nth(1)?;
        Some(list.split(", ").map(str::to_owned).collect())
    }

    #[test]
    fn every_kind_is_described_with_exactly_the_params_it_accepts() {
        assert_eq!(SOURCES.len(), kinds().len());
        for k in kinds() {
            // The source carried is the kind's own file.
            let source = source(k.name).unwrap_or_else(|| panic!("{} has no source", k.name));
            assert!(
                source.contains(&format!("    name: \"{}\",", k.name)),
                "{}",
                k.name
            );
        }
        let mut unlisted = Vec::new();
        for k in kinds() {
            let doc = describe(k.name).unwrap_or_else(|| panic!("{} has no source", k.name));
            assert!(!doc.about.is_empty(), "{} has no module comment", k.name);
            let mut read: Vec<String> = doc.params.iter().map(|p| p.name.clone()).collect();
            // Every param read from the source is one serde takes (not an unknown param).
            for name in &read {
                let mut one = serde_json::Map::new();
                one.insert(name.clone(), serde_json::json!({ "zz": [] }));
                if let Err(e) = try_params(k.name, serde_json::Value::Object(one)) {
                    assert!(
                        !e.contains(&format!("unknown param `{name}`")),
                        "{}: {name}: {e}",
                        k.name
                    );
                }
            }
            // And every param serde takes is read.
            match accepted(k.name) {
                Some(mut serde) => {
                    read.sort();
                    serde.sort();
                    assert_eq!(read, serde, "params of {}", k.name);
                }
                None => unlisted.push(k.name),
            }
        }
        // Only the kinds whose params are a flattened struct do not list theirs; their fields
        // are read from that struct.
        assert_eq!(unlisted, ["event_sequence", "final_event"]);
        let flat = describe("final_event").unwrap();
        assert!(flat.params.iter().any(|p| p.name == "terminal_events"));
    }

    /// The param (or member of one) a kind's description lists by this name.
    fn named<'a>(params: &'a [Param], name: &str) -> &'a Param {
        params
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no param `{name}`"))
    }

    #[test]
    fn types_and_defaults_read_as_a_suite_author_writes_them() {
        let doc = describe("token_reuse").unwrap();
        assert_eq!(
            doc.params[0],
            Param {
                name: "min_lifetime_s".into(),
                ty: "number".into(),
                default: "60.0".into(),
                doc: "Tokens with a shorter lifetime are not judged.".into(),
                members: vec![],
            }
        );
        let doc = describe("webhook_response").unwrap();
        let deadline = named(&doc.params, "deadline_s");
        assert_eq!(deadline.default, "required");
        let status = named(&doc.params, "status_in");
        assert_eq!(status.ty, "list of whole number (0-65535) (optional)");
        assert_eq!(status.default, "none");
        let (file, id, block) = describe("token_reuse").unwrap().example.unwrap();
        assert_eq!(file, "suites/s.yaml");
        assert_eq!(id, "T-REUSE");
        assert!(block.starts_with("kind: token_reuse\nparams:"), "{block}");
    }

    /// Types and defaults come out in a suite's words for every kind (no Rust type or path
    /// left), and the keys of nested params are listed with theirs.
    #[test]
    fn nested_params_and_types_read_from_the_schema() {
        for k in kinds() {
            let text = describe(k.name).unwrap().to_string();
            let params = text.split("\nParams").nth(1).unwrap_or_default();
            let params = params.split("\nExample").next().unwrap_or_default();
            for bad in ["see the rule above", "::", "vec!", "Some("] {
                assert!(!params.contains(bad), "{}: {bad} in {params}", k.name);
            }
        }
        let doc = describe("assertion").unwrap();
        let expect = named(&doc.params, "expect");
        let status = named(&expect.members, "[].status_in");
        assert_eq!(status.ty, "list of whole number (0-65535)");
        let header = named(&expect.members, "[].header.present");
        assert_eq!(header.default, "true");
        let select = named(&doc.params, "select");
        assert!(select.members.iter().any(|m| m.name == ".actor"
            && m.ty == "one of `integration`, `browser`, `provider`, `harness` (optional)"));
        let doc = describe("token_valid").unwrap();
        assert_eq!(doc.params[0].default, "[expired, unknown, missing]");
    }
}
