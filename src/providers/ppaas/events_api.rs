//! golive's reading of PPaaS's events API, which no public page describes: the method, the
//! path (where the transaction's id goes), the event's field names and its event types. The
//! bundled suite states golive's reading ([`inferred`]'s) under `settings.sandbox.events_api`;
//! a suite may state another. [`EventsEndpoint`] is that reading as the sandbox serves it.

use axum::http::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::inferred;
use crate::sandbox::request_schema::RequestSchema;

/// golive's reading of PPaaS's events API, which no public page describes (INFERRED): the
/// suite states it under `settings.sandbox.events_api` (`suites/ppaas-go-live.yaml`), and a
/// suite that reads the silence differently overrides it there, without Rust. The defaults
/// are [`inferred`]'s. Only the names change; the event's meaning (an id kept on redelivery,
/// a type, the transaction it is about, a zoned timestamp) is the bundled schema's.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(super) struct EventsApi {
    pub(super) method: String,
    /// The path; `{client_transaction_id}` where the transaction's id goes. Without it, the id
    /// is read from the body's transaction id field.
    pub(super) path: String,
    fields: EventFields,
    event_types: EventTypes,
}

/// The names of an event's fields.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct EventFields {
    event_id: String,
    event_type: String,
    client_transaction_id: String,
    timestamp: String,
}

/// The values of the event type field.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct EventTypes {
    in_progress: Vec<String>,
    /// Types that end a transaction (the suite's checks name the same list).
    terminal: Vec<String>,
}

impl Default for EventsApi {
    fn default() -> Self {
        EventsApi {
            method: "POST".into(),
            path: inferred::EVENTS_PATH.into(),
            fields: EventFields::default(),
            event_types: EventTypes::default(),
        }
    }
}

impl Default for EventFields {
    fn default() -> Self {
        let [event_id, event_type, client_transaction_id, timestamp] = inferred::EVENT_FIELDS;
        EventFields {
            event_id: event_id.into(),
            event_type: event_type.into(),
            client_transaction_id: client_transaction_id.into(),
            timestamp: timestamp.into(),
        }
    }
}

impl Default for EventTypes {
    fn default() -> Self {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        EventTypes {
            in_progress: owned(inferred::NON_TERMINAL_EVENTS),
            terminal: owned(inferred::TERMINAL_EVENTS),
        }
    }
}

impl EventFields {
    /// The suite's names, in the order of [`inferred::EVENT_FIELDS`].
    fn names(&self) -> [&str; 4] {
        [
            &self.event_id,
            &self.event_type,
            &self.client_transaction_id,
            &self.timestamp,
        ]
    }
}

impl EventTypes {
    /// Every event type, the ones in progress first.
    fn all(&self) -> Vec<&String> {
        self.in_progress.iter().chain(&self.terminal).collect()
    }
}

/// Where the transaction's id goes in the events path.
const ID_PLACEHOLDER: &str = "{client_transaction_id}";

/// One segment of the events path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    TransactionId,
}

/// The events API as the sandbox serves it: the suite's reading, its path split for matching
/// and the event schema with the suite's names.
pub(super) struct EventsEndpoint {
    pub(super) api: EventsApi,
    method: Method,
    segments: Vec<Segment>,
    pub(super) schema: RequestSchema,
}

impl EventsEndpoint {
    /// golive's own reading ([`inferred`]); it is bundled, so a failure is a bug (tested).
    pub(super) fn inferred() -> Self {
        EventsEndpoint::new(EventsApi::default()).expect("golive's inferred events API is valid")
    }

    /// Checks a suite's reading and builds the endpoint; the error says what is wrong with it.
    pub(super) fn new(api: EventsApi) -> Result<Self, String> {
        let method = match api.method.to_ascii_uppercase().as_str() {
            m @ ("POST" | "PUT" | "PATCH") => {
                Method::from_bytes(m.as_bytes()).map_err(|e| e.to_string())?
            }
            other => {
                return Err(format!(
                    "events_api.method: `{other}` is not POST, PUT or PATCH"
                ))
            }
        };
        if !api.path.starts_with('/') || api.path.contains(['?', '#']) {
            return Err(format!(
                "events_api.path: `{}` must be a path starting with `/` (no query)",
                api.path
            ));
        }
        let segments: Vec<Segment> = api
            .path
            .trim_matches('/')
            .split('/')
            .map(|seg| {
                if seg == ID_PLACEHOLDER {
                    Ok(Segment::TransactionId)
                } else if seg.contains(['{', '}']) || seg.is_empty() {
                    Err(format!(
                        "events_api.path: segment `{seg}` is neither a name nor `{ID_PLACEHOLDER}`"
                    ))
                } else {
                    Ok(Segment::Literal(seg.to_owned()))
                }
            })
            .collect::<Result<_, _>>()?;
        if segments
            .iter()
            .filter(|s| **s == Segment::TransactionId)
            .count()
            > 1
        {
            return Err(format!(
                "events_api.path: `{ID_PLACEHOLDER}` appears more than once"
            ));
        }
        if api.fields.names().iter().any(|n| n.trim().is_empty()) {
            return Err("events_api.fields: every field name must be given".into());
        }
        let types = api.event_types.all();
        if api.event_types.terminal.is_empty() {
            return Err(
                "events_api.event_types.terminal: at least one event type ends a transaction"
                    .into(),
            );
        }
        if types
            .iter()
            .enumerate()
            .any(|(i, t)| types[..i].contains(t))
        {
            return Err("events_api.event_types: an event type is listed twice".into());
        }
        let schema = Self::schema(&api)?;
        Ok(EventsEndpoint {
            api,
            method,
            segments,
            schema,
        })
    }

    /// The bundled event schema with the suite's field names and event types.
    fn schema(api: &EventsApi) -> Result<RequestSchema, String> {
        let mut schema: Value = serde_json::from_str(include_str!(
            "../../../schemas/ppaas/transaction_event.request.json"
        ))
        .map_err(|e| format!("the bundled event schema: {e}"))?;
        let f = &api.fields;
        let renames: Vec<(&str, &str)> = inferred::EVENT_FIELDS
            .iter()
            .copied()
            .zip(f.names())
            .collect();
        let props = schema["properties"]
            .as_object_mut()
            .ok_or("the bundled event schema has no properties")?;
        let before = props.len();
        let mut moved = Vec::new();
        for (from, _) in &renames {
            moved.push(props.remove(*from).unwrap_or(Value::Null));
        }
        for ((_, to), definition) in renames.iter().zip(moved) {
            props.insert((*to).to_owned(), definition);
        }
        if props.len() != before {
            return Err("events_api.fields: two fields have the same name (or one takes the name of an optional event field)".into());
        }
        props[f.event_type.as_str()] = json!({ "enum": api.event_types.all() });
        if let Some(required) = schema["required"].as_array_mut() {
            for r in required.iter_mut() {
                if let Some((_, to)) = renames.iter().find(|(from, _)| r == from) {
                    *r = json!(to);
                }
            }
        }
        schema["title"] = json!(format!("PPaaS QR code payment: an asynchronous event from the service provider ({} {}), as the suite reads it", api.method, api.path));
        Ok(RequestSchema::bundled(&schema.to_string()))
    }

    /// Whether a call is an event: `Some(the transaction id in the path, if the path has one)`.
    pub(super) fn matches(&self, method: &Method, path: &str) -> Option<Option<String>> {
        if method != self.method {
            return None;
        }
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut id = None;
        for (seg, part) in self.segments.iter().zip(parts) {
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::TransactionId if !part.is_empty() => {
                    id = Some(crate::journal::percent_decoded(part))
                }
                _ => return None,
            }
        }
        Some(id)
    }
}

/// An event call read with the suite's names: what the journal's facts and the answer need.
pub(super) struct EventCall {
    /// The body, when it is JSON.
    pub(super) json: Option<Value>,
    /// The transaction: the path's id, else the body's; empty when neither names one.
    pub(super) client_transaction_id: String,
    pub(super) event_type: Option<String>,
    pub(super) event_id: Option<String>,
    /// The schema error when the body names another transaction than the path.
    pub(super) id_mismatch: Option<String>,
}

impl EventsEndpoint {
    /// Reads an event call (`id_in_path`: what [`Self::matches`] found in its path).
    pub(super) fn read(&self, id_in_path: Option<String>, body: &[u8]) -> EventCall {
        let names = &self.api.fields;
        let json = serde_json::from_slice::<Value>(body).ok();
        let text = |name: &str| {
            json.as_ref()
                .and_then(|j| j.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let id_in_body = text(&names.client_transaction_id);
        let id_mismatch = match (&id_in_body, &id_in_path) {
            (Some(in_body), Some(in_path)) if in_body != in_path => Some(format!(
                "{}: `{in_body}` in the body, `{in_path}` in the path",
                names.client_transaction_id
            )),
            _ => None,
        };
        let event_type = text(&names.event_type);
        let event_id = text(&names.event_id);
        EventCall {
            json,
            client_transaction_id: id_in_path.or(id_in_body).unwrap_or_default(),
            event_type,
            event_id,
            id_mismatch,
        }
    }

    /// PPaaS's acknowledgement of an event, in the suite's names.
    pub(super) fn acknowledgement(&self, event: &Value, client_transaction_id: &str) -> Value {
        let names = &self.api.fields;
        json!({
            names.event_id.as_str(): event.get(&names.event_id).cloned().unwrap_or(Value::Null),
            names.client_transaction_id.as_str(): client_transaction_id,
            "status": "ACKNOWLEDGED",
            "receivedAt": crate::sandbox::now_rfc3339(),
        })
    }
}
