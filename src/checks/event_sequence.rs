//! `event_sequence`: the events an integration sends the provider about a transaction (PPaaS
//! QR code payments: the service provider's asynchronous events) are about a transaction the
//! provider asked about, and come in a valid order: at most one terminal event, none before
//! the webhook was answered, and nothing after it.
//!
//! A redelivery of an event (the same event id, after the provider did not acknowledge it) is
//! the same event: it neither counts as a second terminal event nor as "after" it. Non-terminal
//! events are not judged against the webhook's answer time: a service provider may send its
//! first event as it answers, and which arrives first is a race, not a mistake. Judged per
//! scenario, once the scenario is over (an event may be recorded before the webhook exchange
//! whose answer it follows).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::scope::ByScenario;
use super::webhook_response::answer_usable;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Direction, Exchange};

pub const KIND: Kind = Kind {
    name: "event_sequence",
    summary: "events are about a transaction the provider asked about, at most one terminal event, none before the webhook's answer, nothing after it",
    build,
};

/// Where to find the webhook calls and the events (shared with `final_event`).
#[derive(Deserialize, Clone, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Locate {
    /// The role of the provider's webhook calls (their `payment` fact is the transaction;
    /// PPaaS: `webhook`).
    pub webhook_role: String,
    /// The sandbox operation of the events (their `payment` fact is the transaction, their
    /// `payment_state` the event type, `event_id` the event id; PPaaS: `transaction_event`).
    pub event_operation: String,
    /// Event types that end a transaction.
    pub terminal_events: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    #[serde(flatten)]
    locate: Locate,
}

pub(super) struct Asked {
    pub seq: u64,
    /// When the answer was complete (run milliseconds), if one came.
    pub answered_at_ms: Option<f64>,
    /// Whether the provider could use the answer (a 2xx, well-formed).
    pub usable: bool,
}

pub(super) struct Event {
    pub seq: u64,
    pub at_ms: f64,
    pub transaction: Option<String>,
    pub id: String,
    pub kind: String,
    /// The provider refused it as invalid (a 4xx): it never became part of the journey.
    pub refused: bool,
    pub brief: String,
}

/// One scenario's webhook calls and events.
#[derive(Default)]
pub(super) struct Journey {
    pub asked: BTreeMap<String, Asked>,
    pub events: Vec<Event>,
}

impl Journey {
    pub fn observe(&mut self, locate: &Locate, ex: &Exchange) {
        if ex.direction == Direction::ToTarget
            && ex.actor == Actor::Provider
            && ex.role.starts_with(locate.webhook_role.as_str())
        {
            if let Some(t) = &ex.facts.payment {
                self.asked.insert(
                    t.clone(),
                    Asked {
                        seq: ex.seq,
                        answered_at_ms: ex.response.as_ref().map(|_| ex.at_ms + ex.duration_ms),
                        usable: answer_usable(ex),
                    },
                );
            }
        }
        if ex.direction == Direction::ToSandbox
            && ex.actor == Actor::Integration
            && ex.operation() == Some(locate.event_operation.as_str())
        {
            self.events.push(Event {
                seq: ex.seq,
                at_ms: ex.at_ms,
                transaction: ex.facts.payment.clone(),
                id: ex
                    .facts
                    .event_id
                    .clone()
                    .unwrap_or_else(|| format!("#{}", ex.seq)),
                kind: ex.facts.payment_state.clone().unwrap_or_default(),
                refused: matches!(ex.status(), Some(400..=499)),
                brief: ex.brief(),
            });
        }
    }
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    if params.locate.terminal_events.is_empty() {
        return Err("`terminal_events` must name at least one event type".into());
    }
    Ok(Box::new(ByScenario::<_, Journey>::new(params)))
}

impl Rule for ByScenario<Params, Journey> {
    fn exchange(&mut self, ex: &Exchange) {
        // Outside a scenario nothing was asked: stray traffic there cannot be judged fairly.
        if ex.scenario.is_empty() {
            return;
        }
        self.scenarios
            .get(&ex.scenario)
            .observe(&self.params.locate, ex);
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let locate = &self.params.locate;
        self.scenarios.verdicts(|_, j| {
            if j.events.is_empty() {
                return None;
            }
            let mut problems: Vec<(String, Vec<u64>)> = Vec::new();
            // The terminal event of each transaction: (event id, seq, type).
            let mut terminal: HashMap<String, (String, u64, String)> = HashMap::new();
            for e in &j.events {
                let asked = e
                    .transaction
                    .as_ref()
                    .and_then(|t| j.asked.get(t).map(|a| (t, a)));
                let Some((t, asked)) = asked else {
                    problems.push((
                        format!(
                            "{} is about transaction `{}`, which the provider never asked about in this scenario",
                            e.brief,
                            e.transaction.as_deref().unwrap_or("(none)")
                        ),
                        vec![e.seq],
                    ));
                    continue;
                };
                if e.refused {
                    continue;
                }
                let is_terminal = locate.terminal_events.contains(&e.kind);
                match terminal.get(t) {
                    Some((id, seq, kind)) if *id != e.id => {
                        let what = if is_terminal {
                            "a second terminal event"
                        } else {
                            "an event"
                        };
                        problems.push((
                            format!(
                                "{} sends {what} ({}) after the terminal event {kind} of #{seq}",
                                e.brief, e.kind
                            ),
                            vec![*seq, e.seq],
                        ));
                    }
                    Some(_) => {}
                    None if is_terminal => {
                        if let Some(answered) = asked.answered_at_ms {
                            if e.at_ms < answered {
                                problems.push((
                                    format!(
                                        "{} sends the terminal event {} before the webhook call #{} was answered",
                                        e.brief, e.kind, asked.seq
                                    ),
                                    vec![asked.seq, e.seq],
                                ));
                            }
                        }
                        terminal.insert(t.clone(), (e.id.clone(), e.seq, e.kind.clone()));
                    }
                    None => {}
                }
            }
            Some(if problems.is_empty() {
                Finding::pass(
                    format!(
                        "{} event(s) about {} transaction(s) the provider asked about, in order: at most one terminal event each, nothing after it",
                        j.events.len(),
                        j.events.iter().filter_map(|e| e.transaction.as_ref()).collect::<std::collections::BTreeSet<_>>().len()
                    ),
                    j.events.iter().map(|e| e.seq).take(10).collect(),
                )
            } else {
                super::fail_problems(&problems, 12)
            })
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use crate::checks::testing::*;
    use crate::report::Outcome;
    use serde_json::json;

    pub fn webhook(transaction: &str, at: f64, ms: f64, status: u16) -> ExchangeBuilder {
        provider("webhook", "POST", "/webhook")
            .status(status)
            .at(at)
            .taking(ms)
            .payment(transaction)
    }

    pub fn event(transaction: &str, id: &str, kind: &str, at: f64, status: u16) -> ExchangeBuilder {
        let id = id.to_owned();
        api(
            "transaction_event",
            "POST",
            &format!("/qrcode-payment/v1/transactions/{transaction}/events"),
            "{}",
        )
        .status(status)
        .at(at)
        .payment(transaction)
        .state(kind)
        .facts(move |f| f.event_id = Some(id))
    }

    /// The webhook call about `t1`, answered (200) after 10 ms, then `events`.
    fn answered_then(events: impl IntoIterator<Item = ExchangeBuilder>) -> Vec<ExchangeBuilder> {
        let mut journal = vec![webhook("t1", 0.0, 10.0, 200)];
        journal.extend(events);
        journal
    }

    fn sequence() -> Check {
        check(
            "event_sequence",
            json!({
                "webhook_role": "webhook",
                "event_operation": "transaction_event",
                "terminal_events": ["PAYMENT_SUCCEEDED", "PAYMENT_FAILED", "PAYMENT_EXPIRED"]
            }),
        )
    }

    #[test]
    fn in_order_events_pass_even_with_redeliveries_and_an_early_first_event() {
        // The first event lands while the webhook's answer is still on its way (recorded
        // before the webhook exchange), the terminal event is redelivered after a 500.
        sequence()
            .on(vec![
                event("t1", "e1", "QR_CODE_SCANNED", 5.0, 200),
                webhook("t1", 0.0, 10.0, 200),
                event("t1", "e2", "PAYMENT_SUCCEEDED", 50.0, 500),
                event("t1", "e2", "PAYMENT_SUCCEEDED", 60.0, 200),
                event("t1", "e2", "PAYMENT_SUCCEEDED", 70.0, 500),
            ])
            .passed();
    }

    #[test]
    fn events_after_the_terminal_one_fail() {
        sequence()
            .on(answered_then([
                event("t1", "e2", "PAYMENT_SUCCEEDED", 50.0, 200),
                event("t1", "e1", "QR_CODE_SCANNED", 60.0, 200),
            ]))
            .failed()
            .says("after the terminal event PAYMENT_SUCCEEDED of #2")
            .evidence(&[2, 3]);
        sequence()
            .on(answered_then([
                event("t1", "e2", "PAYMENT_FAILED", 50.0, 200),
                event("t1", "e3", "PAYMENT_SUCCEEDED", 60.0, 200),
            ]))
            .says("a second terminal event");
    }

    #[test]
    fn a_terminal_event_before_the_answer_or_about_another_transaction_fails() {
        sequence()
            .on(vec![
                webhook("t1", 0.0, 100.0, 200),
                event("t1", "e1", "PAYMENT_SUCCEEDED", 50.0, 200),
            ])
            .says("before the webhook call #1 was answered");
        sequence()
            .on(answered_then([event(
                "own-id",
                "e1",
                "PAYMENT_SUCCEEDED",
                50.0,
                404,
            )]))
            .failed()
            .says("never asked about");
    }

    #[test]
    fn scenarios_are_apart_and_stray_traffic_outside_them_is_not_judged() {
        let f = sequence().on(answered_then([
            event("t1", "e1", "PAYMENT_SUCCEEDED", 50.0, 200).scenario("s1"),
            event("t1", "e9", "PAYMENT_SUCCEEDED", 60.0, 200).scenario("s2"),
            event("t1", "e1", "PAYMENT_SUCCEEDED", 70.0, 500).scenario(""),
        ]));
        f.expect(&[Outcome::Passed, Outcome::Failed]);
        assert_eq!(f[1].scenario.as_deref(), Some("s2"));
    }
}
