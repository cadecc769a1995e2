//! A request's or answer's body as the journal keeps it.
//!
//! A body read back from a journal line stays as the line wrote it (a JSON string literal,
//! escapes and all) until something asks for its text: judging a journal reads the bodies of
//! few exchanges, and decoding every body of every line was a fifth of what reading a journal
//! cost. A body without escapes is its literal minus the quotes, so it is never copied again.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// How much of a body the journal keeps. Larger bodies are cut (their full size is kept), so a
/// 10 MB body from a misbehaving integration cannot blow up the journal or the reports.
pub const BODY_KEEP_BYTES: usize = 64 * 1024;

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(from = "Wire")]
pub struct Body {
    /// The body as text (lossy UTF-8), cut at [`BODY_KEEP_BYTES`]: see [`Body::text`].
    #[serde(serialize_with = "text_as_string")]
    text: Text,
    /// The full size in bytes as received.
    pub size: usize,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Boxed: held in line, a `Value` (an ordered map's worth) made an exchange too large
    /// for the allocator's small sizes (1 KiB), and every move of one longer.
    #[serde(skip)]
    parsed: OnceLock<Option<Box<Value>>>,
}

/// A body's text: decoded (built in this process), or still the JSON string literal a journal
/// line held, decoded when first asked for if it has escapes. Decoded text is held as it is,
/// not in a set once-cell: setting one is a `Once` call, twice an exchange on the request path.
#[derive(Clone)]
enum Text {
    Decoded(String),
    Literal {
        /// JSON as the line held it, checked by the line's reader: a string literal, quotes
        /// and escapes as written (or, in a line written by hand, any other value).
        literal: Box<str>,
        decoded: OnceLock<String>,
    },
}

impl Default for Text {
    fn default() -> Self {
        Text::Decoded(String::new())
    }
}

/// How a body is written in a journal line: `text` read as the line has it.
#[derive(Deserialize)]
struct Wire {
    text: Box<RawValue>,
    size: usize,
    #[serde(default)]
    truncated: bool,
}

impl From<Wire> for Body {
    fn from(wire: Wire) -> Body {
        Body::of_literal(wire.text.into(), wire.size, wire.truncated)
    }
}

fn text_as_string<S: serde::Serializer>(text: &Text, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(text.get())
}

impl Text {
    fn get(&self) -> &str {
        let (literal, decoded) = match self {
            Text::Decoded(text) => return text,
            Text::Literal { literal, decoded } => (&**literal, decoded),
        };
        if let Some(text) = decoded.get() {
            return text;
        }
        let inner = literal.strip_prefix('"').and_then(|l| l.strip_suffix('"'));
        match inner {
            // Nothing escaped: the literal's inside is the text.
            Some(inner) if !inner.contains('\\') => inner,
            _ => decoded.get_or_init(|| {
                // The line's parser checked the literal; one it cannot decode (a lone
                // surrogate a hand-written journal may hold) is shown as written.
                serde_json::from_str::<String>(literal)
                    .unwrap_or_else(|_| inner.unwrap_or(literal).to_owned())
            }),
        }
    }
}

/// Bytes as text, invalid UTF-8 replaced: checked whole first, for the valid text nearly every
/// body and header is (`from_utf8_lossy` walks valid text chunk by chunk, slower; its
/// `Utf8Chunks` was 1.1% of the sandbox's CPU samples under load).
pub fn text_of(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

impl Body {
    /// A body as a journal line holds it: `literal` is its text's JSON string literal, quotes
    /// and escapes as written, checked by the line's reader.
    pub(super) fn from_literal(literal: &str, size: usize, truncated: bool) -> Body {
        // The empty text (every GET's body) held without allocating.
        if literal == r#""""# {
            return Body {
                text: Text::default(),
                size,
                truncated,
                parsed: OnceLock::new(),
            };
        }
        Body::of_literal(Box::from(literal), size, truncated)
    }

    fn of_literal(literal: Box<str>, size: usize, truncated: bool) -> Body {
        Body {
            text: Text::Literal {
                literal,
                decoded: OnceLock::new(),
            },
            size,
            truncated,
            parsed: OnceLock::new(),
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let keep = bytes.len().min(BODY_KEEP_BYTES);
        Body {
            text: Text::Decoded(text_of(&bytes[..keep]).into_owned()),
            size: bytes.len(),
            truncated: bytes.len() > keep,
            parsed: OnceLock::new(),
        }
    }

    /// The body as text (lossy UTF-8), cut at [`BODY_KEEP_BYTES`].
    pub fn text(&self) -> &str {
        self.text.get()
    }

    /// The text, to change (a report masks secrets in it, cuts it shorter).
    pub fn text_mut(&mut self) -> &mut String {
        if let Text::Literal { .. } = self.text {
            self.text = Text::Decoded(self.text.get().to_owned());
        }
        self.parsed = OnceLock::new();
        match &mut self.text {
            Text::Decoded(text) => text,
            Text::Literal { .. } => unreachable!("decoded above"),
        }
    }

    /// The body as JSON, when it is whole and JSON. Parsed the first time it is asked for:
    /// several checks read the same body of the same exchange.
    pub fn json(&self) -> Option<&Value> {
        // An empty body (most of a journal's requests) without the once-cell: setting it was
        // 2% of judging a million exchanges.
        if self.text().is_empty() {
            return None;
        }
        self.parsed
            .get_or_init(|| {
                let text = self.text();
                if self.truncated || text.trim().is_empty() {
                    return None;
                }
                serde_json::from_str(text).ok().map(Box::new)
            })
            .as_deref()
    }
}

/// A body read back equals the body written: the text is compared, not how it is held.
impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        self.size == other.size && self.truncated == other.truncated && self.text() == other.text()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("text", &self.text())
            .field("size", &self.size)
            .field("truncated", &self.truncated)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_cut_but_its_size_kept() {
        let big = vec![b'a'; BODY_KEEP_BYTES + 10];
        let body = Body::from_bytes(&big);
        assert_eq!(body.size, BODY_KEEP_BYTES + 10);
        assert!(body.truncated);
        assert_eq!(body.text().len(), BODY_KEEP_BYTES);
        assert_eq!(body.json(), None);
    }

    #[test]
    fn a_body_read_back_is_the_body_written() {
        for text in [
            "",
            "plain",
            r#"{"token":"kc.1","n":2}"#,
            "line\nbreak \u{7f} \u{2028} tab\t é 😀 \\",
        ] {
            let body = Body::from_bytes(text.as_bytes());
            let line = serde_json::to_string(&body).unwrap();
            let back: Body = serde_json::from_str(&line).unwrap();
            assert_eq!(back.text(), text);
            assert_eq!(back, body);
            assert_eq!(serde_json::to_string(&back).unwrap(), line);
            // Through a tree too (the general way a line is read).
            let tree: Value = serde_json::from_str(&line).unwrap();
            let back: Body = serde_json::from_value(tree).unwrap();
            assert_eq!(back.text(), text);
        }
    }

    #[test]
    fn a_read_back_body_parses_and_changes_as_json() {
        let mut body: Body =
            serde_json::from_str(r#"{"text":"{\"a\":\"x\\u0041\"}","size":14}"#).unwrap();
        assert_eq!(body.text(), r#"{"a":"x\u0041"}"#);
        assert_eq!(body.json().unwrap()["a"], "xA");
        body.text_mut().replace_range(.., r#"{"a":1}"#);
        assert_eq!(body.json().unwrap()["a"], 1);
        let line = serde_json::to_string(&body).unwrap();
        assert_eq!(line, r#"{"text":"{\"a\":1}","size":14}"#);
    }

    #[test]
    fn a_lone_surrogate_is_shown_as_written() {
        let body: Body = serde_json::from_str(r#"{"text":"a\ud800b","size":3}"#).unwrap();
        assert_eq!(body.text(), r"a\ud800b");
    }
}
