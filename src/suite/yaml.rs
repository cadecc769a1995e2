//! YAML with positions: a suite or target file is read into a tree that remembers where each
//! key and value stood, so a schema error found later still names its line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

/// A place in a file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A mistake in an input file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub pos: Pos,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.pos, self.message)
        }
    }
}

/// Every mistake found in one or more files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// A YAML value with the position of the value and, inside mappings, of each key.
#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Node>),
    /// Keys in file order, each with its position.
    Map(Vec<(String, Pos, Node)>),
}

fn pos_of(loc: &serde_saphyr::Location) -> Pos {
    Pos {
        line: loc.line() as u32,
        column: loc.column() as u32,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The value's own deserializer gives its kind; the span wrapped around it, its place.
        let spanned = Spanned::<NodeKind>::deserialize(d)?;
        Ok(Node {
            pos: pos_of(&spanned.referenced),
            kind: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_none<E>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<NodeKind, E> {
        Ok(NodeKind::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeKind, E> {
        serde_json::Number::from_f64(v)
            .map(NodeKind::Number)
            .ok_or_else(|| E::custom("a number that JSON can hold (not NaN or infinity)"))
    }
    fn visit_str<E>(self, v: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<NodeKind, E> {
        Ok(NodeKind::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(NodeKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyString>>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key.value.0, pos_of(&key.referenced), value));
        }
        Ok(NodeKind::Map(entries))
    }
}

/// A mapping key: suites and targets only use scalar keys, read as text.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text or number key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<KeyString, E> {
                Ok(KeyString(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Node {
    /// The plain JSON value, for schema validation and typed deserialization.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Number(n) => Value::Number(n.clone()),
            NodeKind::String(s) => Value::String(s.clone()),
            NodeKind::Seq(v) => Value::Array(v.iter().map(Node::to_json).collect()),
            NodeKind::Map(m) => {
                Value::Object(m.iter().map(|(k, _, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// The node at a JSON pointer (`/scenarios/2/steps/0`), if there is one.
    pub fn at(&self, pointer: &str) -> Option<&Node> {
        let mut node = self;
        for token in pointer.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            node = match &node.kind {
                NodeKind::Seq(v) => v.get(token.parse::<usize>().ok()?)?,
                NodeKind::Map(m) => &m.iter().find(|(k, _, _)| *k == token)?.2,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Where a mapping's key stands (for "unknown key" errors, which point at the key).
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        match &self.kind {
            NodeKind::Map(m) => m.iter().find(|(k, _, _)| k == key).map(|(_, p, _)| *p),
            _ => None,
        }
    }

    /// The closest position for a pointer: the node itself, or its nearest existing parent.
    pub fn pos_for(&self, pointer: &str) -> Pos {
        let mut p = pointer.to_owned();
        loop {
            if let Some(n) = self.at(&p) {
                return n.pos;
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => return self.pos,
            }
        }
    }
}

/// Reads YAML text into a positioned tree. Duplicate keys and syntax errors are problems with
/// their position.
pub fn parse(text: &str, file: &Path) -> Result<Node, Problems> {
    // Duplicate keys are an error (serde-saphyr's default): a suite where a check is defined
    // twice under one key must not silently keep one of them.
    serde_saphyr::from_str::<Node>(text).map_err(|e| {
        let pos = e.location().map(|l| pos_of(&l)).unwrap_or_default();
        let message = e.without_snippet().to_string();
        // The library's message may end with its own " at line X column Y"; we print ours first.
        let message = strip_location_suffix(&message).replace(
            ", set DuplicateKeyPolicy in Options if acceptable",
            "; a key may appear only once in a mapping",
        );
        let message = cut_quoted(&plain_library_message(&message));
        Problems(vec![Problem {
            file: file.to_owned(),
            pos,
            message,
        }])
    })
}

/// The longest value an error message quotes whole; longer ones are cut with "…".
pub const MAX_QUOTED: usize = 80;

/// `text` cut to `max` characters with "…", so an 8 MB value is never echoed whole.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// Cuts every run of more than [`MAX_QUOTED`] characters between quotes or backticks in a
/// message (the values a library echoes), and the message itself to a few lines' worth.
pub fn cut_quoted(message: &str) -> String {
    let re = regex::Regex::new(&format!(
        r#""[^"]{{{n},}}"|`[^`]{{{n},}}`"#,
        n = MAX_QUOTED + 1
    ))
    .expect("valid regex");
    let cut_runs = re.replace_all(message, |c: &regex::Captures| {
        let whole = &c[0];
        let quote = &whole[..1];
        format!(
            "{quote}{}{quote}",
            cut(&whole[1..whole.len() - 1], MAX_QUOTED)
        )
    });
    // A value echoed without quotes (a step's label) is one long word: cut it too.
    let word =
        regex::Regex::new(&format!(r#"[^\s`"]{{{},}}"#, MAX_QUOTED * 3 / 2)).expect("valid regex");
    let cut_words = word.replace_all(&cut_runs, |c: &regex::Captures| cut(&c[0], MAX_QUOTED));
    cut(&cut_words, 2_000)
}

/// The YAML library's wording for limits and documents, in a suite author's words.
fn plain_library_message(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("budget breached: ") {
        let what = rest.split([' ', '{']).next().unwrap_or_default();
        let limit = match what {
            "nodes" | "events" => {
                "it has too many values (more than a suite or target can sensibly hold)"
            }
            "depth" => "it nests too deeply",
            "aliases" | "anchors" | "aliasanchorratio" | "mergekeys" => {
                "it uses too many YAML aliases or anchors"
            }
            "scalarbytes" | "inputbytes" => "it is too large",
            "documents" => "it holds too many YAML documents",
            _ => "it is larger or more complex than a suite or target can be",
        };
        return format!(
            "the file cannot be read: {limit}; a suite or target is one small YAML document"
        );
    }
    if lower.contains("from_str_multiple") || lower.contains("multiple documents") {
        return "the file holds more than one YAML document (`---` separates documents); a suite or target is one document".into();
    }
    message.to_owned()
}

/// Where the first byte that is not UTF-8 stands, as a problem.
pub fn not_utf8(bytes: &[u8], file: &Path) -> Option<Problem> {
    let e = std::str::from_utf8(bytes).err()?;
    let good = &bytes[..e.valid_up_to()];
    let line = good.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
    Some(Problem {
        file: file.to_owned(),
        pos: Pos {
            line: line as u32,
            column: column as u32,
        },
        message: format!(
            "the file is not UTF-8 text (byte 0x{:02x} here); save it as UTF-8",
            bytes[e.valid_up_to()]
        ),
    })
}

fn strip_location_suffix(message: &str) -> String {
    let re = regex::Regex::new(r"(?i)\s*(,\s*)?at line \d+,? column \d+\s*$").expect("valid regex");
    let first_line = message.lines().next().unwrap_or(message);
    re.replace(first_line, "").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        parse(text, Path::new("t.yaml")).expect("parses")
    }

    #[test]
    fn positions_of_keys_and_values() {
        let node = parse_ok("id: demo\nscenarios:\n  - id: a\n    steps: [1, 2]\n");
        assert_eq!(node.key_pos("scenarios"), Some(Pos { line: 2, column: 1 }));
        assert_eq!(
            node.at("/scenarios/0/id").unwrap().pos,
            Pos { line: 3, column: 9 }
        );
        assert_eq!(node.at("/scenarios/0/steps/1").unwrap().pos.line, 4);
        assert_eq!(
            node.to_json(),
            serde_json::json!({"id": "demo", "scenarios": [{"id": "a", "steps": [1, 2]}]})
        );
        assert_eq!(node.pos_for("/scenarios/0/nothing/here").line, 3);
    }

    #[test]
    fn duplicate_keys_are_rejected_with_their_place() {
        let err = parse("id: a\nchecks: []\nid: b\n", Path::new("s.yaml")).unwrap_err();
        let p = &err.0[0];
        assert_eq!(p.pos.line, 3, "{p}");
        assert!(p.message.to_lowercase().contains("duplicate"), "{p}");
    }

    #[test]
    fn library_wording_is_translated() {
        let err = parse("a: 1\n---\nb: 2\n", Path::new("s.yaml")).unwrap_err();
        let m = &err.0[0].message;
        assert!(m.contains("more than one YAML document"), "{m}");
        assert!(!m.contains("from_str"), "{m}");
        let many = format!("[{}]", vec!["1"; 300_000].join(","));
        let err = parse(&many, Path::new("s.yaml")).unwrap_err();
        let m = &err.0[0].message;
        assert!(!m.contains("budget") && !m.contains("Nodes"), "{m}");
        assert!(m.contains("too many values"), "{m}");
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(10_000);
        let m = cut_quoted(&format!("invalid value: `{long}`, expected a number"));
        assert!(m.len() < 200, "{m}");
        assert!(m.contains("…`, expected a number"), "{m}");
    }

    #[test]
    fn a_bad_byte_is_located() {
        let p = not_utf8(b"id: a\ntitle: caf\xe9\n", Path::new("s.yaml")).unwrap();
        assert_eq!((p.pos.line, p.pos.column), (2, 11), "{p}");
        assert!(not_utf8("id: café".as_bytes(), Path::new("s.yaml")).is_none());
    }

    #[test]
    fn syntax_errors_have_a_place() {
        let err = parse("id: a\nchecks: [1, 2\n", Path::new("s.yaml")).unwrap_err();
        assert!(err.0[0].pos.line >= 2, "{}", err);
    }
}
