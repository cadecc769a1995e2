//! A request's or answer's headers as the journal keeps them: in the order they came, names as
//! sent, every name and value in one buffer. Judging reads a million exchanges' headers back;
//! two strings each (ten allocations an exchange, and ten frees) were a good part of that.

use std::fmt;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    text: String,
    /// Where each header's name and its value end in `text`; a name starts where the header
    /// before it ended.
    ends: Vec<(u32, u32)>,
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Room for `headers` headers of `bytes` bytes of names and values in all.
    pub fn with_capacity(bytes: usize, headers: usize) -> Headers {
        Headers {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(headers),
        }
    }

    pub fn push(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        let name_end = self.text.len() as u32;
        self.text.push_str(value);
        self.ends.push((name_end, self.text.len() as u32));
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every header, name and value, in the order they came.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.ends.iter().enumerate().map(|(i, &(name_end, end))| {
            let start = if i == 0 { 0 } else { self.ends[i - 1].1 };
            (
                &self.text[start as usize..name_end as usize],
                &self.text[name_end as usize..end as usize],
            )
        })
    }

    /// Every value of a header (names compare case-insensitively).
    pub fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        named(self.iter(), name)
    }

    /// The headers with each value replaced by what `f` makes of it (a report masks them).
    pub fn map_values(&mut self, mut f: impl FnMut(&str, &str) -> String) {
        let mut out = Headers::new();
        for (name, value) in self.iter() {
            out.push(name, &f(name, value));
        }
        *self = out;
    }
}

/// The values of the headers named `name` (compared case-insensitively) among `pairs`: for the
/// journal's headers and for those the driver keeps as a list.
pub(super) fn named<'a, 'n, P: Iterator<Item = (&'a str, &'a str)>>(
    pairs: P,
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n, P> {
    pairs
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

impl From<Vec<(String, String)>> for Headers {
    fn from(pairs: Vec<(String, String)>) -> Headers {
        pairs.into_iter().collect()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Headers {
        let mut headers = Headers::new();
        for (k, v) in pairs {
            headers.push(k.as_ref(), v.as_ref());
        }
        headers
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// `[["name","value"],...]`, as the journal has always written them.
impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for pair in self.iter() {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Headers, D::Error> {
        deserializer.deserialize_seq(HeadersVisitor)
    }
}

struct HeadersVisitor;

impl<'de> Visitor<'de> for HeadersVisitor {
    type Value = Headers;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of [name, value] pairs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Headers, A::Error> {
        let mut headers = Headers::new();
        while seq.next_element_seed(PairInto(&mut headers))?.is_some() {}
        Ok(headers)
    }
}

/// One `[name, value]` pair, read straight into the buffer.
struct PairInto<'h>(&'h mut Headers);

impl<'de> DeserializeSeed<'de> for PairInto<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_tuple(2, self)
    }
}

impl<'de> Visitor<'de> for PairInto<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a [name, value] pair")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        use serde::de::Error;
        let headers = self.0;
        let start = headers.text.len();
        if seq
            .next_element_seed(TextInto(&mut headers.text))?
            .is_none()
        {
            headers.text.truncate(start);
            return Err(A::Error::invalid_length(0, &"a [name, value] pair"));
        }
        let name_end = headers.text.len() as u32;
        if seq
            .next_element_seed(TextInto(&mut headers.text))?
            .is_none()
        {
            headers.text.truncate(start);
            return Err(A::Error::invalid_length(1, &"a [name, value] pair"));
        }
        let end = headers.text.len() as u32;
        if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            return Err(A::Error::invalid_length(3, &"a [name, value] pair"));
        }
        headers.ends.push((name_end, end));
        Ok(())
    }
}

/// A string, appended to the buffer instead of allocated on its own.
struct TextInto<'t>(&'t mut String);

impl<'de> DeserializeSeed<'de> for TextInto<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TextInto<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        self.0.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_their_order_and_read_back_as_written() {
        let mut h: Headers = [("Content-Type", "application/json"), ("x-a", "1")]
            .into_iter()
            .collect();
        h.push("X-A", "");
        h.push("", "no name");
        assert_eq!(h.len(), 4);
        assert_eq!(h.values("x-A").collect::<Vec<_>>(), ["1", ""]);
        let line = serde_json::to_string(&h).unwrap();
        assert_eq!(
            line,
            r#"[["Content-Type","application/json"],["x-a","1"],["X-A",""],["","no name"]]"#
        );
        let back: Headers = serde_json::from_str(&line).unwrap();
        assert_eq!(back, h);
        let through_a_tree: Headers =
            serde_json::from_value(serde_json::from_str(&line).unwrap()).unwrap();
        assert_eq!(through_a_tree, h);
        let escaped: Headers = serde_json::from_str(r#"[["a\"b","\u00e9"]]"#).unwrap();
        assert_eq!(escaped.iter().collect::<Vec<_>>(), [("a\"b", "é")]);
        h.map_values(|name, value| format!("{name}={value}"));
        assert_eq!(
            h.values("content-type").next(),
            Some("Content-Type=application/json")
        );
    }

    #[test]
    fn a_pair_of_another_shape_is_an_error() {
        for bad in [
            r#"[["a"]]"#,
            r#"[["a","b","c"]]"#,
            r#"[[1,"b"]]"#,
            r#"{"a":"b"}"#,
        ] {
            assert!(serde_json::from_str::<Headers>(bad).is_err(), "{bad}");
        }
    }
}
