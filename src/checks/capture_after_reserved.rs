//! `capture_after_reserved`: a payment (or refund) is captured only after a poll of it
//! returned the reserved state, and never for more than the reserved amount.
//!
//! The sandbox notes each poll's state (`facts.payment_state`) and amount (`facts.amount`)
//! and the resource (`facts.resource`, else `facts.payment`). A partial capture (less than
//! reserved) is allowed. Reservations are remembered over the whole run (ids are unique);
//! verdicts are given per scenario.

use std::collections::HashMap;

use serde::Deserialize;

use super::field::Field;
use super::poll_interval::resource;
use super::scope::PerScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "capture_after_reserved",
    summary:
        "capture only after a poll returned the reserved state, and never above the reserved amount",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The operations whose answers tell the state of a payment or refund (MobilePay:
    /// `payment_poll`, `refund_poll`).
    poll_operations: Vec<String>,
    /// The capture operations judged (MobilePay: `payment_capture`, `refund_capture`).
    capture_operations: Vec<String>,
    /// The payment state a poll answers once the amount is reserved (MobilePay: `Reserved`).
    reserved_state: String,
    /// Where the capture request carries its amount: a field (`body:/POINTER`,
    /// `query:NAME`, `header:NAME`...; MobilePay: `body:/amount`).
    amount: Field,
    /// Capture operations whose amount may be left out: without one the whole reserved
    /// amount is captured (MobilePay's refund capture takes an empty body).
    #[serde(default)]
    amount_optional: Vec<String>,
}

#[derive(Default)]
struct Scenario {
    captures: usize,
    problems: Vec<(String, Vec<u64>)>,
    evidence: Vec<u64>,
}

struct CaptureAfterReserved {
    params: Params,
    /// resource → (reserved amount, the poll that showed it)
    reserved: HashMap<String, (Option<f64>, u64)>,
    scenarios: PerScenario<Scenario>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    Ok(Box::new(CaptureAfterReserved {
        params: ctx.params()?,
        reserved: HashMap::new(),
        scenarios: PerScenario::default(),
    }))
}

impl Rule for CaptureAfterReserved {
    fn call(&mut self, ex: &Exchange, op: &str) {
        let Some(res) = resource(ex) else { return };
        if self.params.poll_operations.iter().any(|o| o == op) && ex.succeeded() {
            if ex.facts.payment_state.as_deref() == Some(self.params.reserved_state.as_str()) {
                let amount = ex.facts.amount;
                self.reserved.insert(res, (amount, ex.seq));
            }
            return;
        }
        if !self.params.capture_operations.iter().any(|o| o == op) {
            return;
        }
        let s = self.scenarios.get(&ex.scenario);
        s.captures += 1;
        let Some((reserved_amount, poll)) = self.reserved.get(&res) else {
            s.problems.push((
                format!(
                    "{} captures {res} before any poll returned {}",
                    ex.brief(),
                    self.params.reserved_state
                ),
                vec![ex.seq],
            ));
            return;
        };
        let amount = self
            .params
            .amount
            .get(ex)
            .and_then(|v| v.parse::<f64>().ok());
        match (amount, reserved_amount) {
            (Some(a), Some(r)) if (a * 100.0).round() > (r * 100.0).round() => s.problems.push((
                format!(
                    "{} captures {a} of {res}, but #{poll} showed {r} reserved",
                    ex.brief()
                ),
                vec![*poll, ex.seq],
            )),
            (None, _) if self.params.amount_optional.iter().any(|o| o == op) => {
                s.evidence.extend([*poll, ex.seq])
            }
            (None, _) => s.problems.push((
                format!("{} has no amount at {}", ex.brief(), self.params.amount),
                vec![ex.seq],
            )),
            _ => s.evidence.extend([*poll, ex.seq]),
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        self.scenarios.verdicts(|_, s| {
            if s.captures == 0 {
                return None;
            }
            Some(if s.problems.is_empty() {
                Finding::pass(format!("{} capture(s), each after a poll showed it reserved and within the reserved amount", s.captures), s.evidence)
            } else {
                super::fail_problems(&s.problems, usize::MAX)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use serde_json::json;

    fn params() -> serde_json::Value {
        json!({"poll_operations": ["payment_poll"], "capture_operations": ["payment_capture"], "reserved_state": "Reserved", "amount": "body:/amount"})
    }

    #[test]
    fn the_reserved_state_is_named_by_the_suite() {
        let mut bare = params();
        bare.as_object_mut().unwrap().remove("reserved_state");
        let err = check("capture_after_reserved", bare).refused();
        assert!(err.contains("missing param `reserved_state`"), "{err}");
    }
    fn poll(state: &str, amount: f64) -> ExchangeBuilder {
        api("payment_poll", "GET", "/pos/v10/payments/p", "")
            .payment("p")
            .state(state)
            .facts(move |f| f.amount = Some(amount))
    }
    fn capture(amount: &str) -> ExchangeBuilder {
        api(
            "payment_capture",
            "POST",
            "/pos/v10/payments/p/capture",
            &format!(r#"{{"amount":{amount}}}"#),
        )
        .payment("p")
    }

    #[test]
    fn full_and_partial_captures_after_reserved_pass() {
        let k = check("capture_after_reserved", params());
        k.on(vec![
            poll("IssuedToUser", 100.0),
            poll("Reserved", 100.0),
            capture("100.00"),
        ])
        .passed();
        k.on(vec![poll("Reserved", 100.0), capture("60.5")])
            .passed();
    }

    #[test]
    fn capture_before_reserved_or_above_it_fails() {
        let k = check("capture_after_reserved", params());
        k.on(vec![poll("IssuedToUser", 100.0), capture("100")])
            .failed()
            .says("before any poll");
        k.on(vec![poll("Reserved", 100.0), capture("105")])
            .failed()
            .evidence(&[1, 2]);
    }

    #[test]
    fn a_capture_without_amount_passes_only_where_the_api_allows_it() {
        let bare =
            || api("payment_capture", "POST", "/pos/v10/payments/p/capture", "").payment("p");
        check("capture_after_reserved", params())
            .on(vec![poll("Reserved", 100.0), bare()])
            .failed()
            .says("has no amount");
        let optional = check("capture_after_reserved", params())
            .param("amount_optional", json!(["payment_capture"]));
        optional.on(vec![poll("Reserved", 100.0), bare()]).passed();
        // Leaving the amount out does not excuse capturing before the reservation.
        optional
            .on(vec![poll("IssuedToUser", 100.0), bare()])
            .failed();
    }

    #[test]
    fn no_capture_is_not_judged() {
        check("capture_after_reserved", params())
            .on(vec![poll("Reserved", 100.0)])
            .none();
    }
}
