//! Which scenario an exchange belongs to: the one whose payment it is about, not merely the one
//! running when it arrived.
//!
//! An integration works on its own clock: it sends a PENDING event right after answering the
//! webhook, verifies in a background thread, retries with a back-off. Some of that traffic
//! arrives after its scenario ended, while the next one runs. Cut by time, it would be judged in
//! the wrong scenario ("never asked about", "no terminal event") and counted by the next
//! scenario's waits. The sandbox knows which payment each exchange is about (`facts.payment`,
//! an id the sandbox itself issued or was handed by the scenario), so the journal follows the
//! payment: the first scenario an id appears in owns it, and a later call of the integration
//! about that payment is tagged with its owner.
//!
//! Two things are deliberately not moved:
//! - a call whose *request* does not name the payment (an initiate answered "already active"
//!   with an earlier scenario's payment): the running scenario's trigger caused it;
//! - a payment the running scenario's own actors used (a callback forged with another order's
//!   captured payment): the integration's status query about it answers this scenario's forgery.
//!
//! Ids only the merchant chose (order references) are not followed: a shop with a constant
//! reference (a real mistake) would drag every later scenario's traffic into the first.

use std::collections::{HashMap, HashSet};

use super::record::{percent_decoded, Actor, Exchange};

/// How many payment ids are remembered; past this the oldest half is forgotten (a load run of
/// a million checkouts keeps bounded memory, and only recent payments have late traffic).
const REMEMBERED: usize = 200_000;

#[derive(Default)]
pub(super) struct Attribution {
    owners: HashMap<String, (String, u64)>,
    /// Payments of other scenarios the running scenario's own actors used.
    borrowed: HashSet<String>,
    counter: u64,
}

impl Attribution {
    /// A scenario begins: what the last one borrowed is its own business.
    pub(super) fn start_scenario(&mut self) {
        self.borrowed.clear();
    }

    /// The scenario `exchange` belongs to, with `running` the one now running ("" between
    /// scenarios).
    pub(super) fn scenario_of(&mut self, exchange: &Exchange, running: &str) -> String {
        let Some(payment) = exchange.facts.payment.as_deref().filter(|p| !p.is_empty()) else {
            return running.to_owned();
        };
        let owner = match self.owners.get(payment) {
            Some((owner, _)) => owner.clone(),
            None => {
                if !running.is_empty() {
                    self.own(payment, running);
                }
                return running.to_owned();
            }
        };
        if owner == running {
            return owner;
        }
        if exchange.actor != Actor::Integration {
            // The scenario's own actors (the browser, the provider's callback, the harness)
            // only do what its steps say: the payment is this scenario's to use now.
            self.used(payment, running);
            return running.to_owned();
        }
        if self.borrowed.contains(payment) || !names(exchange, payment) {
            return running.to_owned();
        }
        owner
    }

    /// The running scenario's own actors are about to use `payment` (a forged callback names
    /// another order's payment): said before the request goes out, so that the integration's
    /// calls about it while it answers stay in this scenario.
    pub(super) fn used(&mut self, payment: &str, running: &str) {
        if running.is_empty() || payment.is_empty() {
            return;
        }
        match self.owners.get(payment) {
            None => self.own(payment, running),
            Some((owner, _)) if owner != running => {
                self.borrowed.insert(payment.to_owned());
            }
            Some(_) => {}
        }
    }

    fn own(&mut self, payment: &str, scenario: &str) {
        if self.owners.len() >= REMEMBERED {
            let mut ages: Vec<u64> = self.owners.values().map(|(_, n)| *n).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            self.owners.retain(|_, (_, n)| *n > cut);
        }
        self.counter += 1;
        self.owners
            .insert(payment.to_owned(), (scenario.to_owned(), self.counter));
    }
}

/// Whether the request itself names the payment (in its path, query or body).
fn names(exchange: &Exchange, payment: &str) -> bool {
    let url = &exchange.request.url;
    url.contains(payment)
        || percent_decoded(url).contains(payment)
        || exchange.request.body.text().contains(payment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(actor: Actor, url: &str, payment: Option<&str>) -> Exchange {
        let mut ex = Exchange::test_call("GET", url, "", "{}");
        ex.actor = actor;
        ex.facts.payment = payment.map(str::to_owned);
        ex
    }

    /// What the integration's call to `url`, creating `payment` in scenario `first`, left.
    fn created_in_first(url: &str, payment: &str) -> Attribution {
        let mut a = Attribution::default();
        a.scenario_of(&call(Actor::Integration, url, Some(payment)), "first");
        a
    }

    #[test]
    fn a_late_call_about_an_earlier_payment_goes_to_its_scenario() {
        let mut a = Attribution::default();
        let created = call(Actor::Integration, "/payments", Some("P1"));
        assert_eq!(a.scenario_of(&created, "first"), "first");
        a.start_scenario();
        // The first scenario's background status check lands while the second runs, and
        // between scenarios.
        let late = call(Actor::Integration, "/payment/P1/status", Some("P1"));
        assert_eq!(a.scenario_of(&late, "second"), "first");
        assert_eq!(a.scenario_of(&late, ""), "first");
        // The second scenario's own payment stays with it; traffic about no payment too.
        let own = call(Actor::Integration, "/payment/P2/status", Some("P2"));
        assert_eq!(a.scenario_of(&own, "second"), "second");
        let token = call(Actor::Integration, "/token", None);
        assert_eq!(a.scenario_of(&token, "second"), "second");
    }

    #[test]
    fn a_call_that_does_not_name_the_payment_stays_where_it_was_caused() {
        let mut a = created_in_first("/payments", "P1");
        // Initiate, answered "already active" with the first scenario's payment.
        let conflict = call(Actor::Integration, "/payments", Some("P1"));
        assert_eq!(a.scenario_of(&conflict, "second"), "second");
    }

    #[test]
    fn a_payment_the_scenario_forged_with_is_its_own() {
        let mut a = created_in_first("/payments", "P1");
        a.start_scenario();
        let forged = call(Actor::Browser, "/shop/return?tx=P1", Some("P1"));
        assert_eq!(a.scenario_of(&forged, "forged_other"), "forged_other");
        let status = call(Actor::Integration, "/payment/P1/status", Some("P1"));
        assert_eq!(a.scenario_of(&status, "forged_other"), "forged_other");
        // The next scenario borrows nothing.
        a.start_scenario();
        assert_eq!(a.scenario_of(&status, "third"), "first");
    }

    #[test]
    fn percent_encoded_ids_are_named_too() {
        let mut a = created_in_first("/p", "a/b");
        let late = call(Actor::Integration, "/payment/a%2Fb/status", Some("a/b"));
        assert_eq!(a.scenario_of(&late, "second"), "first");
    }

    #[test]
    fn memory_stays_bounded() {
        let mut a = Attribution::default();
        for i in 0..(REMEMBERED + 10) {
            a.own(&format!("P{i}"), "s");
        }
        assert!(a.owners.len() <= REMEMBERED);
        assert!(a.owners.contains_key(&format!("P{}", REMEMBERED + 9)));
    }
}
