//! A load scenario (`repeat: N`, `concurrency: C`): N checkouts of one journey, C at a time,
//! against the one integration and the one sandbox.
//!
//! Every repetition is the scenario's: the journal tags all of its exchanges with the
//! scenario's id, so the checks judge every repetition and a flaw in any one fails them. What
//! tells the repetitions apart is the payment correlation: each repetition has its own
//! `order_id` (`<scenario>-r<N>-<hex>`), and whatever the integration's traffic names along
//! with it (the shop's order reference, the provider's payment id) becomes that repetition's
//! too. Its templates (`{{ order.reference }}`, `{{ payment.id }}`) and its `wait_for` steps
//! read only what is its own, so a repetition never waits on another's status check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::journal::{Actor, Direction, Exchange, Journal};
use crate::sandbox::{Learned, Operation};

/// The running repetitions of one load scenario: whose each id is, what each learned.
pub struct Repetitions {
    table: &'static [Operation],
    state: Mutex<Routed>,
    /// Woken whenever an exchange is routed to a repetition.
    notify: Notify,
}

#[derive(Default)]
struct Routed {
    /// Order references and payment ids → the repetition (index) whose they are.
    owner: HashMap<String, usize>,
    repetitions: Vec<Own>,
    /// The integration's calls about an id no repetition owns yet, by that id: a shop that
    /// asks for the status while it answers the callback does so before the browser's
    /// callback (journaled once answered) names the payment as its repetition's.
    unclaimed: HashMap<String, Vec<(u64, String)>>,
}

/// How many ids' unclaimed calls are kept; past this they are forgotten (traffic about
/// payments no repetition ever names must not grow memory).
const UNCLAIMED: usize = 50_000;

impl Routed {
    /// Makes `id` repetition `number`'s, with the calls about it that came before.
    fn claim(&mut self, id: &str, number: usize) {
        self.owner.entry(id.to_owned()).or_insert(number);
        if let Some(calls) = self.unclaimed.remove(id) {
            let own = &mut self.repetitions[number].calls;
            for call in calls {
                if !own.contains(&call) {
                    own.push(call);
                }
            }
            own.sort_unstable();
        }
    }
}

/// One repetition's share of the traffic.
#[derive(Default)]
struct Own {
    learned: Learned,
    /// The integration's calls to the sandbox about this repetition: (seq, operation).
    calls: Vec<(u64, String)>,
}

/// One repetition's handle, kept in its step context.
#[derive(Clone)]
pub struct Repetition {
    pub(super) number: usize,
    pub(super) all: Arc<Repetitions>,
}

impl Repetitions {
    pub fn new(table: &'static [Operation], count: usize) -> Arc<Self> {
        let mut routed = Routed::default();
        routed.repetitions.resize_with(count, Own::default);
        Arc::new(Repetitions {
            table,
            state: Mutex::new(routed),
            notify: Notify::new(),
        })
    }

    /// Repetition `number` (from 0) begins with golive's `order_id` as its first id.
    pub fn begin(self: &Arc<Self>, number: usize, order_id: &str) -> Repetition {
        self.lock().owner.insert(order_id.to_owned(), number);
        Repetition {
            number,
            all: self.clone(),
        }
    }

    /// Follows the running scenario's traffic in the journal after `after`, routing each
    /// exchange to the repetition it is about. Never returns: it is dropped when the
    /// repetitions are done.
    pub async fn follow(&self, journal: &Journal, mut after: u64) -> std::convert::Infallible {
        // Far enough that the loop never times out; the caller drops it.
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(86_400 * 365);
        loop {
            if let Some(ex) = journal.wait_for(after, far, |_| true).await {
                after = ex.seq;
                self.route(&ex);
            }
        }
    }

    /// Gives an exchange to the repetition one of its ids belongs to, and makes every id it
    /// names that repetition's (the payment the e-wallet issued for this repetition's order).
    pub fn route(&self, ex: &Exchange) {
        let mut named = Learned::default();
        named.learn(self.table, ex);
        let mut ids: Vec<String> = named.order_references.clone();
        ids.extend(named.payment_ids.iter().cloned());
        // The harness's own calls carry its repetition's order; a browser's callback the
        // payment it came back with.
        ids.extend(ex.facts.order.iter().cloned());
        if ex.actor != Actor::Harness {
            ids.extend(ex.facts.payment.iter().cloned());
        }
        let call = (ex.direction == Direction::ToSandbox && ex.actor == Actor::Integration)
            .then(|| ex.operation())
            .flatten()
            .map(|op| (ex.seq, op.to_owned()));
        let mut state = self.lock();
        let Some(number) = ids.iter().find_map(|id| state.owner.get(id).copied()) else {
            if let Some(call) = call {
                if state.unclaimed.len() >= UNCLAIMED {
                    state.unclaimed.clear();
                }
                for id in ids {
                    state.unclaimed.entry(id).or_default().push(call.clone());
                }
            }
            return;
        };
        for id in &ids {
            state.claim(id, number);
        }
        let own = &mut state.repetitions[number];
        for r in named.order_references {
            own.learned.note_order_reference(r);
        }
        for p in named.payment_ids {
            own.learned.note_payment_id(p);
        }
        if ex.actor != Actor::Harness {
            if let Some(p) = &ex.facts.payment {
                if !own.learned.payment_ids.contains(p) {
                    own.learned.note_payment_id(p.clone());
                }
            }
        }
        if let Some(call) = call {
            own.calls.push(call);
        }
        drop(state);
        self.notify.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Routed> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Repetition {
    /// What this repetition's traffic taught so far.
    pub fn learned(&self) -> Learned {
        self.all.lock().repetitions[self.number].learned.clone()
    }

    /// Ids the harness found for this repetition (a trigger's capture); they are its own from
    /// now on.
    pub fn note(&self, f: impl FnOnce(&mut Learned)) {
        let mut state = self.all.lock();
        let own = &mut state.repetitions[self.number].learned;
        f(own);
        let ids: Vec<String> = own
            .order_references
            .iter()
            .chain(own.payment_ids.iter())
            .cloned()
            .collect();
        for id in ids {
            state.claim(&id, self.number);
        }
        drop(state);
        self.all.notify.notify_waiters();
    }

    /// Waits until the integration makes an `operation` call about this repetition (after
    /// `after`); its sequence number, or `None` at the deadline.
    pub async fn wait_for_call(
        &self,
        operation: &str,
        after: u64,
        deadline: tokio::time::Instant,
    ) -> Option<u64> {
        loop {
            let notified = self.all.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let found = self.all.lock().repetitions[self.number]
                .calls
                .iter()
                .find(|(seq, op)| *seq > after && op == operation)
                .map(|(seq, _)| *seq);
            if found.is_some() {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// The repetition is over: what it kept for its waits is no longer needed (its ids stay
    /// its own, so its late traffic is not taken for another's).
    pub fn done(&self) {
        let mut state = self.all.lock();
        let own = &mut state.repetitions[self.number];
        own.calls = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::operation::Caller;

    const TABLE: &[Operation] = &[
        Operation::new("ewallet", Caller::Shopper, "POST", "/ewallet", "E")
            .with_order_reference(&["form:merchantTransactionId"])
            .with_payment_id(&["issued"]),
        Operation::new(
            "payment_status",
            Caller::Integration,
            "GET",
            "/payment/{id}/status",
            "S",
        )
        .with_payment_id(&["segment:1"]),
    ];

    /// A call journaled as `seq`, about `payment` (and naming it where the table looks).
    fn call(seq: u64, actor: Actor, op: &str, url: &str, body: &str, payment: &str) -> Exchange {
        let mut ex = Exchange::test_call("POST", url, body, "{}");
        ex.seq = seq;
        ex.actor = actor;
        ex.direction = Direction::ToSandbox;
        ex.facts.operation = Some(op.into());
        ex.facts.payment = (!payment.is_empty()).then(|| payment.to_owned());
        ex
    }

    /// The e-wallet issuing `payment` for `order`.
    fn ewallet(seq: u64, order: &str, payment: &str) -> Exchange {
        let form = format!("merchantTransactionId={order}");
        call(seq, Actor::Browser, "ewallet", "/ewallet", &form, payment)
    }

    /// The integration asking for `payment`'s status.
    fn status(seq: u64, payment: &str) -> Exchange {
        let url = format!("/payment/{payment}/status");
        call(seq, Actor::Integration, "payment_status", &url, "", payment)
    }

    fn soon() -> tokio::time::Instant {
        tokio::time::Instant::now() + std::time::Duration::from_millis(50)
    }

    #[tokio::test]
    async fn each_repetition_learns_and_waits_for_its_own_payment_only() {
        let all = Repetitions::new(TABLE, 2);
        let first = all.begin(0, "load-r1-aa");
        let second = all.begin(1, "load-r2-bb");
        // The e-wallet issues P2 for the second order, then P1 for the first.
        all.route(&ewallet(1, "load-r2-bb", "P2"));
        all.route(&ewallet(2, "load-r1-aa", "P1"));
        assert_eq!(first.learned().payment_id.as_deref(), Some("P1"));
        assert_eq!(second.learned().payment_id.as_deref(), Some("P2"));
        // The integration asks about P2: the second repetition's wait sees it, the first's
        // does not.
        all.route(&status(3, "P2"));
        let paid = "payment_status";
        assert_eq!(second.wait_for_call(paid, 0, soon()).await, Some(3));
        assert_eq!(first.wait_for_call(paid, 0, soon()).await, None);
        // Traffic about no repetition's ids (a token fetch) is nobody's.
        all.route(&call(4, Actor::Integration, paid, "/token", "", ""));
        assert_eq!(first.wait_for_call(paid, 0, soon()).await, None);
        // The shop asks about P7 while it answers the callback, before the browser's
        // callback (journaled once answered) names P7 with the first repetition's order.
        all.route(&status(6, "P7"));
        let mut callback = call(7, Actor::Browser, "callback", "/return", "", "P7");
        callback.direction = Direction::ToTarget;
        callback.facts.order = Some("load-r1-aa".into());
        all.route(&callback);
        assert_eq!(first.wait_for_call(paid, 0, soon()).await, Some(6));
        // A capture the harness made is the repetition's own id from then on.
        first.note(|l| l.note_order_reference("ORD-1".into()));
        all.route(&ewallet(8, "ORD-1", "P9"));
        assert_eq!(first.learned().payment_id.as_deref(), Some("P9"));
        assert_eq!(second.learned().payment_id.as_deref(), Some("P2"));
    }
}
