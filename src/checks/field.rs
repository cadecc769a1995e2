//! Field locators: where in a request a value lives, written the same way in every suite.
//!
//! `body:/partnerReference` (JSON pointer into a JSON body, or a form field name in a form
//! body), `query:localDate`, `header:X-Auth-Token`, `form:grant_type`, `path` (the URL path).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use crate::journal::Exchange;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Body(String),
    Query(String),
    Header(String),
    Form(String),
    Path,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Field::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Field {
    pub fn parse(s: &str) -> Result<Field, String> {
        let bad = || {
            format!(
                "`{s}` is not a field locator; expected `body:/pointer`, `query:name`, `header:Name`, `form:name` or `path`"
            )
        };
        if s == "path" {
            return Ok(Field::Path);
        }
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        Ok(match kind {
            "body" => Field::Body(rest.to_owned()),
            "query" => Field::Query(rest.to_owned()),
            "header" => Field::Header(rest.to_owned()),
            "form" => Field::Form(rest.to_owned()),
            _ => return Err(bad()),
        })
    }

    /// The field's value in a request, as text (numbers and booleans as written in JSON).
    pub fn get(&self, ex: &Exchange) -> Option<String> {
        self.read(ex).map(Cow::into_owned)
    }

    /// [`Field::get`], lent from the exchange where it is there as it is (a query parameter
    /// or header with nothing to decode): checks read fields of every request.
    pub fn read<'e>(&self, ex: &'e Exchange) -> Option<Cow<'e, str>> {
        match self {
            Field::Body(pointer) => {
                if let Some(json) = ex.request_json() {
                    let found = if pointer.starts_with('/') {
                        json.pointer(pointer)
                    } else {
                        json.pointer(&format!("/{pointer}"))
                    };
                    return found.map(lent_text);
                }
                // A form body: the pointer's last segment is the field name.
                let name = pointer.trim_start_matches('/');
                form_field(ex.request.body.text(), name).map(Cow::Owned)
            }
            Field::Form(name) => form_field(ex.request.body.text(), name).map(Cow::Owned),
            Field::Query(name) => ex.query_value(name),
            Field::Header(name) => ex.request_header(name).map(Cow::Borrowed),
            Field::Path => Some(Cow::Borrowed(ex.path())),
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Body(p) => write!(f, "body:{p}"),
            Field::Query(n) => write!(f, "query:{n}"),
            Field::Header(n) => write!(f, "header:{n}"),
            Field::Form(n) => write!(f, "form:{n}"),
            Field::Path => write!(f, "path"),
        }
    }
}

fn form_field(body: &str, name: &str) -> Option<String> {
    if body.is_empty() || body.trim_start().starts_with('{') {
        return None;
    }
    form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn as_text(v: &Value) -> String {
    lent_text(v).into_owned()
}

/// [`as_text`], lent when the value is a string.
fn lent_text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// The first of several locators that has a value.
pub fn first_of<'f, 'e>(
    fields: &'f [Field],
    ex: &'e Exchange,
) -> Option<(Cow<'e, str>, &'f Field)> {
    fields.iter().find_map(|f| f.read(ex).map(|v| (v, f)))
}

/// One locator or a list of them, in params.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Fields {
    One(Field),
    Many(Vec<Field>),
}

impl Fields {
    pub fn list(&self) -> &[Field] {
        match self {
            Fields::One(f) => std::slice::from_ref(f),
            Fields::Many(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::api;

    #[test]
    fn locators_read_body_query_header_and_form() {
        let ex = api(
            "issue_token",
            "POST",
            "/user/u/issue?x=1",
            r#"{"partnerReference":"p-1","n":2}"#,
        )
        .header("X-Auth-Token", "t")
        .build();
        assert_eq!(
            Field::parse("body:/partnerReference")
                .unwrap()
                .get(&ex)
                .as_deref(),
            Some("p-1")
        );
        assert_eq!(
            Field::parse("body:/n").unwrap().get(&ex).as_deref(),
            Some("2")
        );
        assert_eq!(
            Field::parse("query:x").unwrap().get(&ex).as_deref(),
            Some("1")
        );
        assert_eq!(
            Field::parse("header:x-auth-token")
                .unwrap()
                .get(&ex)
                .as_deref(),
            Some("t")
        );
        let form = api("token", "POST", "/t", "grant_type=client_credentials&a=b").build();
        assert_eq!(
            Field::parse("form:grant_type")
                .unwrap()
                .get(&form)
                .as_deref(),
            Some("client_credentials")
        );
        assert!(Field::parse("nope").is_err());
    }
}
