//! Learning the integration's own ids from its traffic.
//!
//! Real shops choose their order ids (`ORD` + hex) instead of taking golive's `order_id`.
//! golive plays the provider, so it sees the ids the integration sends it: each provider
//! declares, per operation, which field of the request or answer carries the merchant's order
//! reference and which the provider's payment id. The sandbox reads them off every exchange of
//! the running scenario, and templates name them `{{ order.reference }}` and `{{ payment.id }}`.

use serde_json::Value;

use super::Operation;
use crate::checks::field::{as_text, Field};
use crate::journal::{Actor, Exchange};

/// Where an id travels in one operation's exchange. Written as text so a table reads like the
/// provider's documentation:
///
/// - `body:/pointer`, `form:name`, `query:name`, `header:Name`: the request (as in checks);
/// - `answer:/pointer`: the sandbox's JSON answer;
/// - `segment:N`: the Nth segment of the request path (`/payment/{id}/status` → 2);
/// - `issued`: the payment id the sandbox itself issued in this exchange (its own answer
///   carries it in a page or redirect, not in JSON).
#[derive(Debug, Clone, PartialEq)]
pub enum Locator {
    Request(Field),
    Answer(String),
    Segment(usize),
    Issued,
}

impl Locator {
    pub fn parse(s: &str) -> Result<Locator, String> {
        if s == "issued" {
            return Ok(Locator::Issued);
        }
        if let Some(p) = s.strip_prefix("answer:") {
            return if p.starts_with('/') {
                Ok(Locator::Answer(p.to_owned()))
            } else {
                Err(format!(
                    "`{s}`: an answer locator is a JSON pointer (`answer:/id`)"
                ))
            };
        }
        if let Some(n) = s.strip_prefix("segment:") {
            return n
                .parse()
                .map(Locator::Segment)
                .map_err(|_| format!("`{s}`: a segment locator is a number (`segment:2`)"));
        }
        Field::parse(s).map(Locator::Request)
    }

    /// The id in this exchange, if it is there.
    pub fn get(&self, ex: &Exchange) -> Option<String> {
        let v = match self {
            Locator::Request(f) => f.get(ex),
            Locator::Answer(p) => ex.response_json()?.pointer(p).map(as_text),
            Locator::Segment(n) => ex
                .path()
                .split('/')
                .filter(|s| !s.is_empty())
                .nth(*n)
                .map(crate::journal::percent_decoded),
            Locator::Issued => ex.facts.payment.clone(),
        }?;
        let v = v.trim().to_owned();
        (!v.is_empty()).then_some(v)
    }
}

/// What the sandbox learned in the running scenario: the latest order reference and payment id
/// (a scenario that pays twice probes the second order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Learned {
    pub order_reference: Option<String>,
    pub payment_id: Option<String>,
    /// Every order reference seen, in order, without repeats.
    pub order_references: Vec<String>,
    pub payment_ids: Vec<String>,
}

impl Learned {
    pub fn note_order_reference(&mut self, v: String) {
        if !self.order_references.contains(&v) {
            self.order_references.push(v.clone());
        }
        self.order_reference = Some(v);
    }

    pub fn note_payment_id(&mut self, v: String) {
        if !self.payment_ids.contains(&v) {
            self.payment_ids.push(v.clone());
        }
        self.payment_id = Some(v);
    }

    /// Reads the ids off one exchange by the provider's table. The harness's own requests
    /// (the order probe) carry golive's guesses, not the integration's ids, so they teach
    /// nothing.
    pub fn learn(&mut self, table: &[Operation], ex: &Exchange) {
        if ex.actor == Actor::Harness {
            return;
        }
        let Some(op) = ex.operation() else { return };
        for row in table.iter().filter(|r| r.name == op) {
            if let Some(v) = first(row.order_reference, ex) {
                self.note_order_reference(v);
            }
            if let Some(v) = first(row.payment_id, ex) {
                self.note_payment_id(v);
            }
        }
    }

    /// For templates: `order.reference` (the shop's id once known, golive's `order_id` until
    /// then) and `order.id` (golive's), `payment.id` only once known.
    pub fn template_vars(&self, order_id: Option<&str>) -> (Value, Value) {
        let mut order = serde_json::Map::new();
        if let Some(id) = order_id {
            order.insert("id".into(), Value::String(id.to_owned()));
        }
        if let Some(r) = self.order_reference.as_deref().or(order_id) {
            order.insert("reference".into(), Value::String(r.to_owned()));
        }
        let mut payment = serde_json::Map::new();
        if let Some(p) = &self.payment_id {
            payment.insert("id".into(), Value::String(p.clone()));
        }
        (Value::Object(order), Value::Object(payment))
    }
}

fn first(locators: &[&str], ex: &Exchange) -> Option<String> {
    locators
        .iter()
        .find_map(|l| Locator::parse(l).ok()?.get(ex))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn exchange(
        op: &str,
        method: &str,
        url: &str,
        body: &str,
        answer: &str,
    ) -> Exchange {
        let mut ex = Exchange::test_call(method, url, body, answer);
        ex.facts.operation = Some(op.into());
        ex
    }

    use crate::sandbox::operation::{check_table, Caller};

    const TABLE: &[Operation] = &[
        Operation::new("initiate", Caller::Integration, "POST", "/payments", "I")
            .with_order_reference(&["body:/orderId"])
            .with_payment_id(&["answer:/paymentId"]),
        Operation::new("form", Caller::Shopper, "POST", "/ewallet", "F")
            .with_order_reference(&["form:merchantTransactionId"]),
        Operation::new(
            "status",
            Caller::Integration,
            "GET",
            "/payment/{id}/status",
            "S",
        )
        .with_payment_id(&["segment:1"]),
    ];

    #[test]
    fn ids_come_from_requests_answers_and_paths() {
        check_table(TABLE).unwrap();
        let mut l = Learned::default();
        l.learn(
            TABLE,
            &exchange(
                "initiate",
                "POST",
                "/payments",
                r#"{"orderId":"ORD1a"}"#,
                r#"{"paymentId":"p-1"}"#,
            ),
        );
        assert_eq!(l.order_reference.as_deref(), Some("ORD1a"));
        assert_eq!(l.payment_id.as_deref(), Some("p-1"));
        l.learn(
            TABLE,
            &exchange(
                "form",
                "POST",
                "/ewallet",
                "merchantTransactionId=ORD2b&x=1",
                "",
            ),
        );
        l.learn(
            TABLE,
            &exchange("status", "GET", "/payment/p%2D2/status?x=1", "", ""),
        );
        assert_eq!(l.order_reference.as_deref(), Some("ORD2b"));
        assert_eq!(l.payment_id.as_deref(), Some("p-2"));
        assert_eq!(l.order_references, vec!["ORD1a", "ORD2b"]);
        // Another operation, or the harness's own probe, teaches nothing.
        l.learn(
            TABLE,
            &exchange("other", "POST", "/x", r#"{"orderId":"no"}"#, ""),
        );
        let mut probe = exchange("initiate", "POST", "/p", r#"{"orderId":"golive"}"#, "");
        probe.actor = Actor::Harness;
        l.learn(TABLE, &probe);
        assert_eq!(l.order_reference.as_deref(), Some("ORD2b"));
    }

    #[test]
    fn templates_fall_back_to_golive_order_id() {
        let l = Learned::default();
        let (order, payment) = l.template_vars(Some("s-1"));
        assert_eq!(order, serde_json::json!({"id": "s-1", "reference": "s-1"}));
        assert_eq!(payment, serde_json::json!({}));
        let mut l = Learned::default();
        l.note_order_reference("ORD9".into());
        l.note_payment_id("P9".into());
        let (order, payment) = l.template_vars(Some("s-1"));
        assert_eq!(order["reference"], "ORD9");
        assert_eq!(payment["id"], "P9");
    }

    #[test]
    fn bad_locators_are_named() {
        assert!(Locator::parse("answer:id").is_err());
        assert!(Locator::parse("segment:x").is_err());
        assert!(Locator::parse("nope").is_err());
        assert_eq!(Locator::parse("issued").unwrap(), Locator::Issued);
    }
}
