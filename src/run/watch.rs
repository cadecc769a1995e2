//! `--verbose`: every exchange handed to the event sink as it is journaled, in order.
//!
//! The journal hands a watcher every exchange of every lane (late traffic of an earlier
//! scenario too) in journal order ([`Journal::watch`]). A watcher that fell too far behind
//! misses the newest; that is not lost silently: the sink hears which numbers went by unseen,
//! and the journal has them.

use std::convert::Infallible;
use std::sync::Arc;

use tokio::sync::mpsc::Receiver;

use super::*;
use crate::journal::Exchange;

/// Hands every new exchange to the sink, forever (the run's end drops it; [`rest`] then shows
/// what came last). `shown` is the last sequence number handed on.
pub(super) async fn exchanges(
    watched: &mut Receiver<Arc<Exchange>>,
    sink: &dyn EventSink,
    shown: &mut u64,
) -> Infallible {
    loop {
        match watched.recv().await {
            Some(exchange) => hand_on(&exchange, sink, shown),
            // The journal is gone before the run's end: nothing more will come.
            None => std::future::pending::<()>().await,
        }
    }
}

/// Hands on what is waiting, then says which numbers up to the last journaled one went by
/// unseen.
pub(super) fn rest(
    journal: &Journal,
    watched: &mut Receiver<Arc<Exchange>>,
    sink: &dyn EventSink,
    shown: &mut u64,
) {
    while let Ok(exchange) = watched.try_recv() {
        hand_on(&exchange, sink, shown);
    }
    let last = journal.last_seq();
    if last > *shown {
        sink.event(&RunEvent::ExchangesUnseen {
            first: *shown + 1,
            last,
        });
        *shown = last;
    }
}

fn hand_on(exchange: &Arc<Exchange>, sink: &dyn EventSink, shown: &mut u64) {
    if exchange.seq <= *shown {
        return;
    }
    if exchange.seq > *shown + 1 {
        sink.event(&RunEvent::ExchangesUnseen {
            first: *shown + 1,
            last: exchange.seq - 1,
        });
    }
    *shown = exchange.seq;
    sink.event(&RunEvent::Exchange(exchange.clone()));
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::journal::{Actor, Direction, Exchange};

    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    impl EventSink for Heard {
        fn event(&self, event: &RunEvent) {
            let line = match event {
                RunEvent::Exchange(e) => format!("#{}", e.seq),
                RunEvent::ExchangesUnseen { first, last } => format!("unseen {first}-{last}"),
                _ => return,
            };
            self.0.lock().unwrap().push(line);
        }
    }

    fn exchange() -> Exchange {
        let mut e = Exchange::test_call("GET", "http://127.0.0.1:1/a", "", "{}");
        e.direction = Direction::ToSandbox;
        e.actor = Actor::Integration;
        // Tagged by the journal with the running scenario, as the sandbox's exchanges are
        // (only the running scenario's enter the live window the watcher reads).
        e.scenario = String::new();
        e
    }

    #[tokio::test]
    async fn every_lanes_exchanges_are_heard_in_order_late_ones_too() {
        let journal = Journal::in_memory();
        let other_lane = journal.lane();
        let mut watched = journal.watch();
        let heard = Heard::default();
        let mut shown = 0;
        {
            let watching = exchanges(&mut watched, &heard, &mut shown);
            let recording = async {
                for k in 0..4 {
                    if k % 2 == 0 {
                        journal.record(exchange());
                    } else {
                        other_lane.record(exchange());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            };
            tokio::select! {
                never = watching => match never {},
                () = recording => {}
            }
        }
        // A scenario starts; the exchange before it belongs to the one before (late traffic)
        // and is shown all the same.
        journal.record(exchange());
        journal.start_scenario(crate::journal::ScenarioStart {
            lane: 0,
            scenario: "s".into(),
            title: "S".into(),
            at_ms: 0.0,
            token_lifetime_s: None,
        });
        journal.record(exchange());
        rest(&journal, &mut watched, &heard, &mut shown);
        assert_eq!(
            heard.0.lock().unwrap().as_slice(),
            ["#1", "#2", "#3", "#4", "#5", "#6"]
        );
        assert_eq!(shown, 6);
    }

    #[test]
    fn a_watcher_far_behind_hears_which_exchanges_went_by_unseen() {
        let journal = Journal::in_memory();
        let mut watched = journal.watch();
        for _ in 0..WATCH_BEYOND {
            journal.record(exchange());
        }
        let heard = Heard::default();
        let mut shown = 0;
        rest(&journal, &mut watched, &heard, &mut shown);
        let heard = heard.0.lock().unwrap();
        assert_eq!(
            heard.len(),
            WATCH_BEYOND - 10 + 1,
            "every exchange kept, one line for the rest"
        );
        assert_eq!(heard[0], "#1");
        assert_eq!(
            heard.last().unwrap(),
            &format!("unseen {}-{}", WATCH_BEYOND - 9, WATCH_BEYOND)
        );
    }

    /// Ten more exchanges than a watcher may fall behind.
    const WATCH_BEYOND: usize = 4096 + 10;
}
