//! What one journal line holds.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Body, Headers};

/// One line of the journal.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// A scenario begins; everything until its `ScenarioEnd` is tagged with its id.
    ScenarioStart(ScenarioStart),
    Exchange(Box<Exchange>),
    ScenarioEnd(ScenarioEnd),
}

/// Read through a tree, its tag taken out first: serde's own way with an internally tagged
/// enum buffers the entry in a form a body's literal cannot be read from ([`Body`] keeps the
/// literal a line holds). The journal reader reads an exchange's line directly instead.
impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut tree = serde_json::Map::<String, Value>::deserialize(d)?;
        let tag = match tree.remove("type") {
            Some(Value::String(tag)) => tag,
            Some(_) => return Err(D::Error::custom("`type` is not a string")),
            None => return Err(D::Error::missing_field("type")),
        };
        let tree = Value::Object(tree);
        let entry = match tag.as_str() {
            "scenario_start" => serde_json::from_value(tree).map(Entry::ScenarioStart),
            "exchange" => serde_json::from_value(tree).map(|e| Entry::Exchange(Box::new(e))),
            "scenario_end" => serde_json::from_value(tree).map(Entry::ScenarioEnd),
            other => {
                return Err(D::Error::unknown_variant(
                    other,
                    &["scenario_start", "exchange", "scenario_end"],
                ))
            }
        };
        entry.map_err(D::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioStart {
    pub scenario: String,
    pub title: String,
    /// Milliseconds since the run started.
    pub at_ms: f64,
    /// Whether the token lifetime of this scenario is realistic (minutes): token reuse is
    /// judged only there (see "Judging fairly").
    #[serde(default)]
    pub token_lifetime_s: Option<f64>,
    /// The lane that ran it, in a run with `--jobs N` (0: the first, or the only one). The
    /// journal sets it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lane: u32,
}

/// A piece of a URL as the client meant it: percent escapes decoded (`%2D` is `-`), a `+` kept
/// as a plus (it means a space only in a form).
pub fn percent_decoded(s: &str) -> String {
    form_urlencoded::parse(format!("s={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioEnd {
    pub scenario: String,
    pub at_ms: f64,
    /// Why the scenario could not be driven to its end, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Which way an exchange went.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The integration (or the shopper's browser) called the simulated provider.
    ToSandbox,
    /// The harness called the integration: a trigger, a callback, a webhook, a probe.
    ToTarget,
    /// The simulated provider called out on its own (e.g. a notification).
    FromSandbox,
}

/// Who sent a request, in the payment journey's words.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The integration's server, calling the provider's API.
    Integration,
    /// The shopper's browser (played by the harness).
    Browser,
    /// The harness in the provider's role (a webhook call, an event acknowledgement).
    Provider,
    /// The harness itself: triggers, order probes, readiness probes.
    Harness,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Request {
    pub method: String,
    /// Path and query as sent (`/payment/ABC/status?partnerReference=...`).
    pub url: String,
    pub headers: Headers,
    pub body: Body,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub body: Body,
}

/// A token as the sandbox saw it: a fingerprint, never the value, so reports can show reuse.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IssuedToken {
    pub fingerprint: String,
    pub lifetime_s: f64,
    /// Milliseconds since the run started at which the token stops being valid.
    pub expires_at_ms: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Valid,
    Expired,
    /// A token the sandbox never issued.
    Unknown,
    Missing,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenUse {
    pub fingerprint: Option<String>,
    pub state: TokenState,
    /// How long the token had left when used (negative once expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_s: Option<f64>,
}

/// What the sandbox (or the driver) knew about an exchange in the payment domain. Checks read
/// these instead of re-parsing each provider's wire format, so one check kind serves every
/// provider whose profile fills them in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Facts {
    /// The lane (its own sandbox and copy of the integration) the exchange went through, in a
    /// run with `--jobs N` (0: the first, or the only one). The journal sets it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lane: u32,
    /// The provider operation this request was (`issue_token`, `payment_status`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_issued: Option<IssuedToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_used: Option<TokenUse>,
    /// Request fields the operation does not know, as the provider would list them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrecognized_fields: Vec<String>,
    /// Where the request broke the operation's request schema.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_errors: Vec<String>,
    /// A fault the sandbox injected instead of answering normally (`500/0099`, `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injected: Option<String>,
    /// The payment this exchange is about (uniqueReference, transactionId, paymentId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<String>,
    /// The shop's order this exchange is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// What the order probe said: does the shop consider the order paid?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_paid: Option<bool>,
    /// The payment state the provider reported in this exchange (CAPTURED, Reserved, ...), or
    /// the result a callback carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_state: Option<String>,
    /// Whether a callback was forged by the harness (no payment behind it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forged: bool,
    /// The amount the provider holds for the payment (or refund) this exchange is about, as
    /// its answer gave it (MobilePay's polls and captures: the reserved amount). Read by
    /// `capture_after_reserved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// What the exchange polls or acts on when `payment` alone does not tell it apart
    /// (`payment:ID`, `refund:ID`); checks fall back on `payment`. Read by `poll_interval`
    /// and `capture_after_reserved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The claims of the access token the call used (or the token endpoint issued) that
    /// change what the call needs (`merchant_vat`). Read by `header_unless_claim`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_claims: Vec<String>,
    /// How long the provider asked the integration to wait before polling again, in
    /// milliseconds as on the wire (MobilePay's `pollDelayInMs`). Read by `poll_interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_delay_ms: Option<f64>,
    /// What the provider found wrong with the body the integration answered its call with
    /// (judged against the provider's answer schema); empty when nothing was. Read by
    /// `webhook_response`, `event_sequence` and `final_event`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer_errors: Vec<String>,
    /// The id of the event the integration sent (PPaaS's `eventId`). Read by
    /// `event_sequence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// A call the sandbox does not serve: what it serves instead, as sentences ("the PPaaS
    /// events operation here is POST ..."), so a check can name both without knowing the
    /// provider. Read by `unknown_operation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unserved: Option<Vec<String>>,
    /// A request the sandbox refused before any operation saw it, and why: `uri_too_long`
    /// (414), `headers_too_large` (431), `malformed` (400), `head_cut_short` (the client
    /// closed inside the request head), `body_cut_short` (400: less than Content-Length
    /// arrived), `body_too_large` (413).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// The client left before the answer; the sandbox finished the request all the same, as
    /// the real API does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub abandoned: bool,
    /// What a provider notes for the reader (the auth scheme, an idempotency key, a replay,
    /// a session...); no check reads it. A fact a check needs is a field above.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub notes: serde_json::Map<String, Value>,
}

impl Facts {
    /// The facts of an exchange of `operation`, nothing else known yet.
    pub fn of(operation: &str) -> Facts {
        Facts {
            operation: Some(operation.into()),
            ..Facts::default()
        }
    }
}

/// One HTTP exchange, whoever made it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exchange {
    /// Position in the journal, from 1: evidence refers to exchanges by it.
    pub seq: u64,
    /// The scenario that was running, or "" outside any (start-up, readiness).
    pub scenario: String,
    pub direction: Direction,
    pub actor: Actor,
    /// What the exchange is in the journey: `api`, `trigger:start_payment`, `ewallet`,
    /// `callback`, `forged_callback`, `order_probe`, `ready_probe`, `webhook`, `event`...
    pub role: String,
    /// Milliseconds since the run started.
    pub at_ms: f64,
    /// Wall-clock time, RFC 3339 UTC.
    pub at: String,
    pub duration_ms: f64,
    pub request: Request,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// A transport failure instead of a response (refused, reset, timed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub facts: Facts,
}

impl Exchange {
    pub fn operation(&self) -> Option<&str> {
        self.facts.operation.as_deref()
    }

    pub fn status(&self) -> Option<u16> {
        self.response.as_ref().map(|r| r.status)
    }

    /// The path without the query (and without scheme and host, for the absolute URLs of
    /// requests the harness sent to the target).
    pub fn path(&self) -> &str {
        let url = self.request.url.as_str();
        let url = match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
            None => url,
        };
        url.split('?').next().unwrap_or("")
    }

    /// A query parameter's first value, percent-decoded as a form would be (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_value(name).map(Cow::into_owned)
    }

    /// [`Exchange::query_param`], lent where nothing needed decoding: several checks read the
    /// query of every request, and decoding (and copying) all of it each time was most of
    /// their cost.
    pub fn query_value(&self, name: &str) -> Option<Cow<'_, str>> {
        let url = self.request.url.as_str();
        let query = &url[memchr::memchr(b'?', url.as_bytes())? + 1..];
        // A byte loop, not `split('&')` and `split_once('=')`: a query is a few dozen bytes,
        // and the searches' set-up was most of what reading a parameter cost.
        let escaped = |s: &str| s.bytes().any(|b| b == b'%' || b == b'+');
        let mut rest = query;
        while !rest.is_empty() {
            let end = rest.bytes().position(|b| b == b'&').unwrap_or(rest.len());
            let pair = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            if pair.is_empty() {
                continue;
            }
            let key_end = pair.bytes().position(|b| b == b'=').unwrap_or(pair.len());
            let (key, value) = (&pair[..key_end], pair.get(key_end + 1..).unwrap_or(""));
            if !escaped(key) {
                if key != name {
                    continue;
                }
                if !escaped(value) {
                    return Some(Cow::Borrowed(value));
                }
            }
            if let Some((key, value)) = form_urlencoded::parse(pair.as_bytes()).next() {
                if key == name {
                    return Some(Cow::Owned(value.into_owned()));
                }
            }
        }
        None
    }

    /// Every value of a request header (names compare case-insensitively).
    pub fn request_headers<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.request.headers.values(name)
    }

    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request.headers.values(name).next()
    }

    pub fn request_json(&self) -> Option<&Value> {
        self.request.body.json()
    }

    pub fn response_json(&self) -> Option<&Value> {
        self.response.as_ref().and_then(|r| r.body.json())
    }

    /// Whether the exchange ended in a 2xx answer.
    pub fn succeeded(&self) -> bool {
        matches!(self.status(), Some(200..=299))
    }

    /// A one-line description for failure messages: `#12 POST /user/u1/issue → 200`.
    pub fn brief(&self) -> String {
        let outcome = match (&self.response, &self.error) {
            (Some(r), _) => r.status.to_string(),
            (None, Some(e)) => format!("error: {e}"),
            (None, None) => "no answer".to_string(),
        };
        format!(
            "#{} {} {} → {}",
            self.seq,
            self.request.method,
            self.path(),
            outcome
        )
    }
}

/// Whether two strings are equal, an empty one compared without a call to `memcmp`: two
/// empty strings (the scenario of every exchange outside one) point nowhere, and glibc's
/// `memcmp` on this AMD machine compares them with a masked load of that address, which the
/// processor turns down only through a slow assist. perf put 6% of judging a million
/// exchanges there, in two comparisons of `""` with `""`.
pub fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// A short, stable stand-in for a secret (a token, a key): the same secret always gives the same
/// fingerprint, so reports can show reuse without showing the value.
pub fn fingerprint(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(secret.as_bytes());
    fingerprint_of([digest[0], digest[1], digest[2], digest[3]])
}

/// `fp:` and the first four bytes of a secret's SHA-256 in hex, written in place: the sandbox
/// fingerprints the token of every call it answers, and keeps only those bytes of a live one.
pub fn fingerprint_of(first_bytes: [u8; 4]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(11);
    out.push_str("fp:");
    for b in first_bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Every value of a header in a list of them (names compare case-insensitively).
pub fn header_values<'a, 'n>(
    headers: &'a [(String, String)],
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    super::headers::named(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), name)
}

#[cfg(test)]
impl Exchange {
    /// A call of the integration to the sandbox, answered 200 with `answer`: what the tests of
    /// every stage start from, changing what they are about.
    pub(crate) fn test_call(method: &str, url: &str, body: &str, answer: &str) -> Exchange {
        Exchange {
            seq: 1,
            scenario: "s".into(),
            direction: Direction::ToSandbox,
            actor: Actor::Integration,
            role: "api".into(),
            at_ms: 0.0,
            at: String::new(),
            duration_ms: 0.0,
            request: Request {
                method: method.into(),
                url: url.into(),
                headers: Headers::new(),
                body: Body::from_bytes(body.as_bytes()),
            },
            response: Some(Response {
                status: 200,
                headers: Headers::new(),
                body: Body::from_bytes(answer.as_bytes()),
            }),
            error: None,
            facts: Facts::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_short_and_stable() {
        assert_eq!(fingerprint("abc"), fingerprint("abc"));
        assert_ne!(fingerprint("abc"), fingerprint("abd"));
        assert_eq!(fingerprint("abc").len(), 11);
        // SHA-256("abc") begins ba7816bf: journals written by earlier builds read the same.
        assert_eq!(fingerprint("abc"), "fp:ba7816bf");
    }

    #[test]
    fn query_and_headers_are_read_case_insensitively() {
        let mut ex = Exchange::test_call(
            "GET",
            "/payment/X/status?partnerReference=a%20b&localDate=2024-01-01",
            "",
            "",
        );
        ex.request.headers = [("x-auth-token", "t")].into_iter().collect();
        ex.response = None;
        assert_eq!(ex.path(), "/payment/X/status");
        let mut shop = ex.clone();
        shop.request.url = "http://127.0.0.1:8080/orders/o-1?x=1".into();
        assert_eq!(shop.path(), "/orders/o-1");
        assert_eq!(ex.query_param("partnerReference").as_deref(), Some("a b"));
        assert_eq!(ex.request_header("X-Auth-Token"), Some("t"));
        assert_eq!(ex.brief(), "#1 GET /payment/X/status → no answer");
    }

    proptest::proptest! {
        /// The fast path reads every query as a form decoder does, escapes and `+` included.
        #[test]
        fn query_param_reads_as_a_form_decoder(
            query in "[a-c=&%+2-4A-F]{0,24}",
            name in "[a-c+%2]{1,3}",
        ) {
            let ex = Exchange::test_call("GET", &format!("/p?{query}"), "", "");
            let name: String = form_urlencoded::parse(format!("{name}=").as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            let expected = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.into_owned());
            proptest::prop_assert_eq!(ex.query_param(&name), expected);
        }
    }
}
