//! `poll_interval`: the integration waits at least the last `pollDelayInMs` the provider
//! answered before it polls the same payment (or refund) again.
//!
//! The sandbox notes the delay it answered in `facts.poll_delay_ms` and the polled
//! resource in `facts.resource` (else `facts.payment`). Only a poll's answer sets the
//! wait: the rule (wait before polling the same endpoint again) is between polls of one
//! resource, so the first poll may follow the answer that created the payment at once, even
//! when that answer carries a `pollDelayInMs` too. The wait is measured from the
//! end of the poll answer that set the delay to the start of the next poll, with a small
//! tolerance. The delay on the wire is already in the run's time scale, so the rule needs no
//! scaling of its own. Scenarios are judged apart.

use std::collections::HashMap;

use serde::Deserialize;

use super::scope::ByScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Exchange};

pub const KIND: Kind = Kind {
    name: "poll_interval",
    summary: "polls of one payment are no closer together than the pollDelayInMs last answered",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The polling operations.
    operations: Vec<String>,
    /// Absolute slack in milliseconds.
    #[serde(default = "default_tolerance_ms")]
    tolerance_ms: f64,
    /// Relative slack (0.05 = a poll may come 5% early).
    #[serde(default = "default_tolerance_share")]
    tolerance_share: f64,
}

fn default_tolerance_ms() -> f64 {
    5.0
}
fn default_tolerance_share() -> f64 {
    0.05
}

#[derive(Default)]
struct Scenario {
    /// resource → (earliest next poll, the delay, the exchange that set it)
    next_allowed: HashMap<String, (f64, f64, u64)>,
    polls: usize,
    problems: Vec<(String, Vec<u64>)>,
    evidence: Vec<u64>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    if !(0.0..1.0).contains(&params.tolerance_share) || params.tolerance_ms < 0.0 {
        return Err("`tolerance_share` must be in [0, 1) and `tolerance_ms` at least 0".into());
    }
    Ok(Box::new(ByScenario::<_, Scenario>::new(params)))
}

pub(crate) fn resource(ex: &Exchange) -> Option<String> {
    ex.facts
        .resource
        .clone()
        .or_else(|| ex.facts.payment.clone())
}

impl Rule for ByScenario<Params, Scenario> {
    fn exchange(&mut self, ex: &Exchange) {
        if ex.actor != Actor::Integration {
            return;
        }
        let Some(res) = resource(ex) else { return };
        let is_poll = ex
            .operation()
            .is_some_and(|op| self.params.operations.iter().any(|o| o == op));
        let (tol_ms, tol_share) = (self.params.tolerance_ms, self.params.tolerance_share);
        let s = self.scenarios.get(&ex.scenario);
        if is_poll {
            s.polls += 1;
            if let Some((allowed, delay, set_by)) = s.next_allowed.get(&res) {
                let started_after = delay - (allowed - ex.at_ms);
                if ex.at_ms + tol_ms + delay * tol_share < *allowed {
                    s.problems.push((
                        format!("{} came {:.0} ms after the answer of #{set_by}, which asked for {:.0} ms", ex.brief(), started_after.max(0.0), delay),
                        vec![*set_by, ex.seq],
                    ));
                } else if s.evidence.len() < 10 {
                    s.evidence.push(ex.seq);
                }
            }
        }
        if let Some(delay) = ex.facts.poll_delay_ms {
            if is_poll && ex.succeeded() {
                s.next_allowed
                    .insert(res, (ex.at_ms + ex.duration_ms + delay, delay, ex.seq));
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        self.scenarios.verdicts(|_, s| {
            if s.polls == 0 {
                return None;
            }
            Some(if s.problems.is_empty() {
                Finding::pass(
                    format!(
                        "{} poll(s), none sooner than the pollDelayInMs answered before it",
                        s.polls
                    ),
                    s.evidence,
                )
            } else {
                super::fail_with_problems(&s.problems, s.polls, "poll(s) too soon", 8)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use crate::report::Outcome;
    use serde_json::json;

    fn polls() -> Check {
        check("poll_interval", json!({"operations": ["payment_poll"]}))
    }
    fn with_delay(op: &str, at: f64, delay: f64, payment: &str) -> ExchangeBuilder {
        api(op, "GET", "/pos/v10/payments/p", "")
            .at(at)
            .payment(payment)
            .facts(move |f| f.poll_delay_ms = Some(delay))
    }

    #[test]
    fn polls_at_the_delay_or_slower_pass() {
        // duration_ms is 1 in the hand-made journal: the answer ends 1 ms after it starts.
        polls()
            .on(vec![
                with_delay("payment_initiate", 0.0, 1000.0, "p"),
                with_delay("payment_poll", 1001.0, 1000.0, "p"),
                with_delay("payment_poll", 2600.0, 500.0, "p"),
                with_delay("payment_poll", 3101.0, 500.0, "p"),
            ])
            .passed();
    }

    #[test]
    fn a_poll_sooner_than_asked_fails() {
        polls()
            .on(vec![
                with_delay("payment_initiate", 0.0, 1000.0, "p"),
                with_delay("payment_poll", 1001.0, 1000.0, "p"),
                with_delay("payment_poll", 1300.0, 1000.0, "p"),
            ])
            .failed()
            .evidence(&[2, 3]);
    }

    #[test]
    fn the_first_poll_may_follow_the_initiate_answer_at_once() {
        // The initiate answer's pollDelayInMs is about polling again, not about the first poll.
        polls()
            .on(vec![
                with_delay("payment_initiate", 0.0, 1000.0, "p"),
                with_delay("payment_poll", 5.0, 1000.0, "p"),
                with_delay("payment_poll", 1010.0, 1000.0, "p"),
            ])
            .passed();
    }

    #[test]
    fn payments_and_scenarios_are_apart() {
        polls()
            .on(vec![
                with_delay("payment_poll", 0.0, 1000.0, "p1"),
                with_delay("payment_poll", 10.0, 1000.0, "p2"),
                with_delay("payment_poll", 20.0, 1000.0, "p1").scenario("s2"),
            ])
            .expect(&[Outcome::Passed, Outcome::Passed]);
    }
}
