//! `--verbose`: every exchange handed to the event sink as it is journaled, in order.
//!
//! The journal wakes its waiters on every exchange and keeps the running scenario's last ones
//! in its live window; the watcher reads what is new there. An exchange that left the window
//! before it was read (the window is emptied when a scenario starts) is not lost silently: the
//! sink hears which numbers went by unseen, and the journal has them.

use std::convert::Infallible;
use std::time::Duration;

use super::*;

/// Hands every new exchange to the sink, forever (the run's end drops it; [`rest`] then shows
/// what came last). `shown` is the last sequence number handed on.
pub(super) async fn exchanges(
    journal: &Journal,
    sink: &dyn EventSink,
    shown: &mut u64,
) -> Infallible {
    loop {
        // Woken by the next exchange; an hour is only a bound, the loop waits again.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
        let _ = journal.wait_for(*shown, deadline, |_| true).await;
        hand_on(journal, sink, shown);
    }
}

/// Hands on what the live window holds past `shown`, then says which numbers up to the last
/// journaled one went by unseen.
pub(super) fn rest(journal: &Journal, sink: &dyn EventSink, shown: &mut u64) {
    hand_on(journal, sink, shown);
    let last = journal.last_seq();
    if last > *shown {
        sink.event(&RunEvent::ExchangesUnseen {
            first: *shown + 1,
            last,
        });
        *shown = last;
    }
}

fn hand_on(journal: &Journal, sink: &dyn EventSink, shown: &mut u64) {
    for exchange in journal.live() {
        if exchange.seq <= *shown {
            continue;
        }
        if exchange.seq > *shown + 1 {
            sink.event(&RunEvent::ExchangesUnseen {
                first: *shown + 1,
                last: exchange.seq - 1,
            });
        }
        *shown = exchange.seq;
        sink.event(&RunEvent::Exchange(exchange));
    }
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
        e
    }

    #[tokio::test]
    async fn every_exchange_is_heard_in_order_and_gaps_are_said() {
        let journal = Journal::in_memory();
        let heard = Heard::default();
        let mut shown = 0;
        {
            let watching = exchanges(&journal, &heard, &mut shown);
            let recording = async {
                for _ in 0..3 {
                    journal.record(exchange());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            tokio::select! {
                never = watching => match never {},
                () = recording => {}
            }
        }
        // A scenario starts and empties the window before the watcher looked again.
        journal.record(exchange());
        journal.start_scenario(crate::journal::ScenarioStart {
            lane: 0,
            scenario: "s".into(),
            title: "S".into(),
            at_ms: 0.0,
            token_lifetime_s: None,
        });
        journal.record(exchange());
        rest(&journal, &heard, &mut shown);
        assert_eq!(
            heard.0.lock().unwrap().as_slice(),
            ["#1", "#2", "#3", "unseen 4-4", "#5"]
        );
        assert_eq!(shown, 5);
    }
}
