//! The answer envelope every KontoCloud response shares: the operation's own fields (none of
//! them an envelope field), then the envelope's (`partnerReference` echoed, `sysDate`,
//! `sysTime`, `responseCode`, `responseDescription`, `additionalInformation`).
//!
//! Written byte by byte, as serde_json would write the same fields: every answer carries one,
//! and serde's derive (through `#[serde(flatten)]`, a map serializer writing one token at a
//! time) was a quarter of what the sandbox spent in a Get Payment Status handler (perf). The
//! tests hold the two writers together.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::date_and_time;
use crate::journal::json_string;

/// What an envelope says besides the operation's own fields.
pub(super) struct Envelope<'a> {
    pub partner_reference: Option<&'a str>,
    pub sys_date: &'a str,
    pub sys_time: &'a str,
    pub response_code: &'a str,
    pub response_description: &'a str,
    pub request_id: &'a str,
    pub unrecognized_fields: &'a [String],
}

/// An answer now: the sandbox's date and time, a new request id.
pub(super) fn answer(
    status: StatusCode,
    partner_reference: Option<&str>,
    code: &str,
    description: &str,
    unrecognized: &[String],
    body: &Map<String, Value>,
) -> Response {
    let (sys_date, sys_time) = date_and_time(0);
    let mut request_id = [0u8; uuid::fmt::Simple::LENGTH];
    let request_id = crate::sandbox::random_uuid()
        .simple()
        .encode_lower(&mut request_id);
    let envelope = Envelope {
        partner_reference,
        sys_date: &sys_date,
        sys_time: &sys_time,
        response_code: code,
        response_description: description,
        request_id,
        unrecognized_fields: unrecognized,
    };
    crate::sandbox::json_bytes_answer(status, write(body, &envelope))
}

/// The answer's JSON: `body`'s fields in their order, then the envelope's.
pub(super) fn write(body: &Map<String, Value>, e: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    for (name, value) in body {
        json_string(&mut out, name);
        out.push(b':');
        match value {
            Value::String(s) => json_string(&mut out, s),
            // Numbers and the rare nested value: serde_json's own forms (writing into a Vec
            // cannot fail).
            other => {
                let _ = serde_json::to_writer(&mut out, other);
            }
        }
        out.push(b',');
    }
    if let Some(reference) = e.partner_reference {
        field(&mut out, "partnerReference", reference);
    }
    field(&mut out, "sysDate", e.sys_date);
    field(&mut out, "sysTime", e.sys_time);
    field(&mut out, "responseCode", e.response_code);
    field(&mut out, "responseDescription", e.response_description);
    out.extend_from_slice(br#""additionalInformation":{"requestId":"#);
    json_string(&mut out, e.request_id);
    if !e.unrecognized_fields.is_empty() {
        out.extend_from_slice(br#","unrecognizedFields":["#);
        for (i, f) in e.unrecognized_fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(&mut out, f);
        }
        out.push(b']');
    }
    out.extend_from_slice(b"}}");
    out
}

/// `"name":"value",` for a name that needs no escaping.
fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    json_string(out, value);
    out.push(b',');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;

    /// The envelope as serde's derive writes it: what `write` must match byte for byte.
    fn by_serde(body: &Map<String, Value>, e: &Envelope) -> Vec<u8> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Whole<'a> {
            #[serde(flatten)]
            body: &'a Map<String, Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            partner_reference: Option<&'a str>,
            sys_date: &'a str,
            sys_time: &'a str,
            response_code: &'a str,
            response_description: &'a str,
            additional_information: Information<'a>,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Information<'a> {
            request_id: &'a str,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            unrecognized_fields: &'a [String],
        }
        serde_json::to_vec(&Whole {
            body,
            partner_reference: e.partner_reference,
            sys_date: e.sys_date,
            sys_time: e.sys_time,
            response_code: e.response_code,
            response_description: e.response_description,
            additional_information: Information {
                request_id: e.request_id,
                unrecognized_fields: e.unrecognized_fields,
            },
        })
        .unwrap()
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<String>().prop_map(Value::String),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{1,4}", inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn an_envelope_is_written_as_serde_writes_it(
            body in prop::collection::vec((any::<String>(), any_value()), 0..5),
            partner_reference in proptest::option::of(any::<String>()),
            description in any::<String>(),
            unrecognized in prop::collection::vec(any::<String>(), 0..3),
        ) {
            let body: Map<String, Value> = body.into_iter().collect();
            let e = Envelope {
                partner_reference: partner_reference.as_deref(),
                sys_date: "2026-12-03",
                sys_time: "134401",
                response_code: "0002",
                response_description: &description,
                request_id: "9f1c0e7a5b6d4c3e8a2f1b0c9d8e7f6a",
                unrecognized_fields: &unrecognized,
            };
            let written = String::from_utf8(write(&body, &e)).unwrap();
            let expected = String::from_utf8(by_serde(&body, &e)).unwrap();
            prop_assert_eq!(written, expected);
        }
    }

    #[test]
    fn a_status_answer_reads_back_with_its_fields_in_order() {
        let body = serde_json::json!({"uniqueReference": "U1", "presentationAmount": 12.5, "statusCode": "CAPTURED"});
        let Value::Object(body) = body else {
            unreachable!()
        };
        let e = Envelope {
            partner_reference: Some("p-\"1\""),
            sys_date: "2026-12-03",
            sys_time: "134401",
            response_code: "0000",
            response_description: "Successful execution",
            request_id: "abc",
            unrecognized_fields: &["foo.bar".to_owned()],
        };
        let text = String::from_utf8(write(&body, &e)).unwrap();
        assert_eq!(
            text,
            r#"{"uniqueReference":"U1","presentationAmount":12.5,"statusCode":"CAPTURED","partnerReference":"p-\"1\"","sysDate":"2026-12-03","sysTime":"134401","responseCode":"0000","responseDescription":"Successful execution","additionalInformation":{"requestId":"abc","unrecognizedFields":["foo.bar"]}}"#
        );
    }
}
