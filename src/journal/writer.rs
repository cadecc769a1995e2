//! Appending to the journal, and reading it back.
//!
//! The request path never waits on the disk: [`Journal::record`] numbers the exchange, keeps
//! it in the live window and appends its line to the buffer a writer thread takes every tick
//! ([`super::pipe`]). The line is written (serialized) on the recording thread, before any
//! lock but for its number and scenario. The file is at most a tick (2 ms) behind while
//! traffic flows, so a killed run leaves a journal well inside 100 ms of its end; a full
//! buffer makes recorders wait (back-pressure), so no entry is ever dropped.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::Notify;

use super::attribution::Attribution;
use super::line_writer::{write_exchange_head, write_exchange_rest};
use super::pipe::Pipe;
use super::record::{Entry, Exchange, ScenarioEnd, ScenarioStart};

/// How many exchanges of the running scenario stay in memory for the driver's waits. An
/// integration that floods the sandbox cannot grow memory past this; the file keeps everything.
const LIVE_WINDOW: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write the journal {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the journal {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a journal entry: {source}")]
    Parse {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
}

/// One journal line, borrowed: serializes exactly as [`Entry`] does.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum EntryRef<'a> {
    ScenarioStart(&'a ScenarioStart),
    #[cfg_attr(not(test), allow(dead_code))]
    Exchange(&'a Exchange),
    ScenarioEnd(&'a ScenarioEnd),
}

thread_local! {
    /// The line a recording thread writes an exchange's line into before it takes the
    /// journal's locks: reused, so a line costs no allocation.
    static LINE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// What every lane shares: the file and the numbering.
struct Inner {
    pipe: Pipe,
    next_seq: u64,
    lanes: u32,
    /// Every lane's exchanges in journal order, for `--verbose` ([`Journal::watch`]).
    watch: Option<tokio::sync::mpsc::Sender<Arc<Exchange>>>,
}

/// How many exchanges a watcher may fall behind before the newest go by unseen (it learns
/// which from the numbers; the journal has them all).
const WATCH_CAPACITY: usize = 4096;

/// One lane of scenarios run one after another against one sandbox (a run with `--jobs N`
/// has N): the scenario it runs now, the exchanges its waits read, whose payment is whose.
#[derive(Default)]
struct Lane {
    number: u32,
    /// The number of the lane's last exchange (0 before its first).
    last_seq: u64,
    scenario: String,
    live: VecDeque<Arc<Exchange>>,
    /// How many exchanges `live` keeps: [`LIVE_WINDOW`], or 0 where nothing waits on them.
    live_capacity: usize,
    attribution: Attribution,
}

/// The run's journal. Cheap to clone; every clone appends to the same file, in the same lane
/// ([`Journal::lane`] opens another).
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Mutex<Inner>>,
    lane: Arc<Mutex<Lane>>,
    notify: Arc<Notify>,
    started: Instant,
    started_wall: time::OffsetDateTime,
    path: Option<PathBuf>,
    /// The lane's number, as its exchanges' facts carry it (fixed when the lane opens).
    lane_number: u32,
    /// Whether lines go to a file (not in a journal kept only in memory).
    writes: bool,
}

impl Journal {
    /// A journal written to `path` (created or truncated).
    pub fn create(path: &Path) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| JournalError::Write {
                path: path.to_owned(),
                source,
            })?;
        }
        let file = File::create(path).map_err(|source| JournalError::Write {
            path: path.to_owned(),
            source,
        })?;
        let pipe = Pipe::to_file(file).map_err(|source| JournalError::Write {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::new(pipe, Some(path.to_owned())))
    }

    /// A journal kept nowhere but the live window: for unit tests of the sandbox.
    pub fn in_memory() -> Self {
        Self::new(Pipe::nowhere(), None)
    }

    fn new(pipe: Pipe, path: Option<PathBuf>) -> Self {
        let writes = pipe.writes();
        Journal {
            inner: Arc::new(Mutex::new(Inner {
                pipe,
                next_seq: 1,
                lanes: 1,
                watch: None,
            })),
            lane: Arc::new(Mutex::new(Lane {
                live_capacity: LIVE_WINDOW,
                ..Lane::default()
            })),
            notify: Arc::new(Notify::new()),
            started: Instant::now(),
            started_wall: time::OffsetDateTime::now_utc(),
            path,
            lane_number: 0,
            writes,
        }
    }

    /// Another lane in the same file, with the same clock and numbering: scenarios that run
    /// at the same time as this lane's, against a sandbox of their own.
    pub fn lane(&self) -> Journal {
        let number = {
            let mut inner = self.lock();
            inner.lanes += 1;
            inner.lanes - 1
        };
        let live_capacity = self.lane_lock().live_capacity;
        Journal {
            inner: self.inner.clone(),
            lane: Arc::new(Mutex::new(Lane {
                number,
                live_capacity,
                ..Lane::default()
            })),
            notify: Arc::new(Notify::new()),
            started: self.started,
            started_wall: self.started_wall,
            path: self.path.clone(),
            lane_number: number,
            writes: self.writes,
        }
    }

    /// This journal keeps no exchange in memory: for `golive sandbox`, where no driver waits on
    /// the traffic. Each exchange then lives only until its line is written; in a window
    /// of [`LIVE_WINDOW`], the one evicted for each new exchange was freed cold, on whichever
    /// worker recorded the new one (4% of the standalone sandbox's CPU samples under load).
    pub fn without_live_window(self) -> Self {
        {
            let mut lane = self.lane_lock();
            lane.live_capacity = 0;
            lane.live.clear();
        }
        self
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Milliseconds since the run started.
    pub fn now_ms(&self) -> f64 {
        self.ms_at(Instant::now())
    }

    /// A moment of the run, in ms since it started (for a caller that reads the clock once for
    /// two uses).
    pub fn ms_at(&self, moment: Instant) -> f64 {
        moment.saturating_duration_since(self.started).as_secs_f64() * 1000.0
    }

    /// Wall-clock time of a moment of the run, RFC 3339.
    pub fn wall(&self, at_ms: f64) -> String {
        let t = self.started_wall + time::Duration::seconds_f64(at_ms / 1000.0);
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    pub fn started_wall(&self) -> time::OffsetDateTime {
        self.started_wall
    }

    /// The scenario now running ("" between scenarios).
    pub fn scenario(&self) -> String {
        self.lane_lock().scenario.clone()
    }

    pub fn start_scenario(&self, mut start: ScenarioStart) {
        let mut lane = self.lane_lock();
        start.lane = lane.number;
        lane.scenario = start.scenario.clone();
        lane.live.clear();
        lane.attribution.start_scenario();
        self.lock()
            .pipe
            .append(|out| entry_line(out, &EntryRef::ScenarioStart(&start)));
    }

    pub fn end_scenario(&self, end: ScenarioEnd) {
        let mut lane = self.lane_lock();
        lane.scenario.clear();
        self.lock()
            .pipe
            .append(|out| entry_line(out, &EntryRef::ScenarioEnd(&end)));
    }

    /// The running scenario's actors are about to use a payment (e.g. forge a callback with
    /// another order's payment): the integration's calls about it now belong here.
    pub fn using_payment(&self, payment: &str) {
        let mut lane = self.lane_lock();
        let lane = &mut *lane;
        lane.attribution.used(payment, &lane.scenario);
    }

    /// Appends an exchange, giving it its sequence number and its scenario (unless the caller
    /// set one): the scenario whose payment it is about, else the running one (see
    /// [`super::attribution`]). Returns the number.
    ///
    /// The line is written before any lock but for its head (number, scenario), and appended
    /// under the lock that numbers it, so the file is in sequence order; no I/O happens under
    /// it (the writer thread writes, a tick later). Only the running
    /// scenario's exchanges enter the live window its waits read: late traffic of an earlier
    /// scenario never counts for the next.
    pub fn record(&self, exchange: Exchange) -> u64 {
        self.record_learning(exchange, |_| {})
    }

    /// [`Journal::record`], first letting `learn` read the exchange when it is the running
    /// scenario's (late traffic of an earlier scenario teaches the running one nothing): before anything waiting on the journal can see
    /// it, and under the one look at the lane that tags it (the sandbox records every exchange
    /// this way; each look is a lock every connection's task contends for).
    pub fn record_learning(&self, mut exchange: Exchange, learn: impl FnOnce(&Exchange)) -> u64 {
        exchange.facts.lane = self.lane_number;
        // All of the line but its number and scenario, before any lock is taken.
        let mut rest = LINE.take();
        rest.clear();
        let written = if self.writes {
            write_exchange_rest(&mut rest, &exchange).map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        let (seq, live) = {
            // The lane first, then the file: always in this order.
            let mut lane = self.lane_lock();
            let lane = &mut *lane;
            if exchange.scenario.is_empty() {
                exchange.scenario = lane.attribution.scenario_of(&exchange, &lane.scenario);
            }
            let running = same_scenario(&exchange.scenario, &lane.scenario);
            if running {
                learn(&exchange);
            }
            let mut inner = self.lock();
            let seq = inner.next_seq;
            inner.next_seq += 1;
            exchange.seq = seq;
            lane.last_seq = seq;
            inner.pipe.append(|out| {
                written.clone()?;
                write_exchange_head(out, seq, &exchange.scenario);
                out.extend_from_slice(&rest);
                out.push(b'\n');
                Ok(())
            });
            let live = running && lane.live_capacity > 0;
            if live || inner.watch.is_some() {
                let exchange = Arc::new(exchange);
                if let Some(watch) = &inner.watch {
                    // Never waits: a watcher that falls behind misses exchanges, the run
                    // does not.
                    let _ = watch.try_send(exchange.clone());
                }
                if live {
                    if lane.live.len() >= lane.live_capacity {
                        lane.live.pop_front();
                    }
                    lane.live.push_back(exchange);
                }
            }
            // Otherwise the exchange is freed here, on the thread that made it.
            (seq, live)
        };
        LINE.set(rest);
        // Waits read only the live window: an exchange kept out of it wakes nobody (and
        // `notify_waiters` takes a lock every connection's task contends for).
        if live {
            self.notify.notify_waiters();
        }
        seq
    }

    /// Every exchange journaled from now on, of every lane and scenario (late traffic
    /// included), in journal order. One watcher at a time: a second call replaces the first.
    /// Behind by more than [`WATCH_CAPACITY`], the watcher misses the newest; their numbers
    /// tell it which.
    pub fn watch(&self) -> tokio::sync::mpsc::Receiver<Arc<Exchange>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(WATCH_CAPACITY);
        self.lock().watch = Some(sender);
        receiver
    }

    /// The running scenario's exchanges so far (at most the last [`LIVE_WINDOW`]).
    pub fn live(&self) -> Vec<Arc<Exchange>> {
        self.lane_lock().live.iter().cloned().collect()
    }

    /// Waits until an exchange of the running scenario with a sequence number above `after`
    /// matches, or the deadline passes.
    pub async fn wait_for(
        &self,
        after: u64,
        deadline: tokio::time::Instant,
        matches: impl Fn(&Exchange) -> bool,
    ) -> Option<Arc<Exchange>> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = self
                .lane_lock()
                .live
                .iter()
                .find(|e| e.seq > after && matches(e))
                .cloned()
            {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// The number of this lane's last exchange (0 before its first): what a wait for the
    /// lane's own traffic to go quiet compares.
    pub fn lane_last_seq(&self) -> u64 {
        self.lane_lock().last_seq
    }

    /// The sequence number the next exchange will get, minus one.
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// Waits until every entry appended so far is in the file; reports a write failure seen at
    /// any point of the run.
    pub fn flush(&self) -> Result<(), JournalError> {
        // Asked under the lock, so it comes after every entry appended before; waited for
        // outside it, so recorders go on meanwhile.
        let Some(done) = self.lock().pipe.ask_flush() else {
            return Ok(());
        };
        let error = match done.recv() {
            Ok(error) => error,
            Err(_) => Some("the journal writer stopped".to_string()),
        };
        match error {
            Some(e) => Err(JournalError::Write {
                path: self.path.clone().unwrap_or_default(),
                source: std::io::Error::other(e),
            }),
            None => Ok(()),
        }
    }

    fn lane_lock(&self) -> std::sync::MutexGuard<'_, Lane> {
        self.lane.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the journal half-written in a way that
        // matters more than losing the run, so a poisoned lock is used as it is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A scenario boundary's line, by serde_json (two lines a scenario: not worth writing by hand).
fn entry_line(out: &mut Vec<u8>, entry: &EntryRef<'_>) -> Result<(), String> {
    serde_json::to_writer(&mut *out, entry).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(())
}

/// Whether two scenario names are the same, without `memcmp` when both are empty (between
/// scenarios, and always in `golive sandbox`): an empty `String`'s pointer is dangling, and
/// glibc's AVX-512 `memcmp` reads it with a masked load whose suppressed fault costs a
/// microcode assist; that one comparison was 1.2% of the standalone sandbox's CPU (perf).
fn same_scenario(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// Reads a journal back, one entry at a time, without holding it all in memory.
pub fn read(
    reader: impl BufRead,
    path: PathBuf,
) -> impl Iterator<Item = Result<Entry, JournalError>> {
    reader.lines().enumerate().filter_map(move |(i, line)| {
        let line = match line {
            Ok(l) => l,
            Err(source) => {
                return Some(Err(JournalError::Read {
                    path: path.clone(),
                    source,
                }))
            }
        };
        if line.trim().is_empty() {
            return None;
        }
        Some(
            serde_json::from_str(&line).map_err(|source| JournalError::Parse {
                path: path.clone(),
                line: i + 1,
                source,
            }),
        )
    })
}

pub fn read_path(
    path: &Path,
) -> Result<impl Iterator<Item = Result<Entry, JournalError>>, JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(read(BufReader::new(file), path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn exchange(url: &str) -> Exchange {
        // From JSON, so fields other helpers add to `Exchange` (with serde defaults) do not
        // break this test.
        serde_json::from_value(serde_json::json!({
            "seq": 0, "scenario": "", "direction": "to_sandbox", "actor": "integration",
            "role": "api", "at_ms": 1.0, "at": "", "duration_ms": 0.1,
            "request": {"method": "GET", "url": url, "headers": [], "body": {"text": "", "size": 0, "truncated": false}}
        }))
        .unwrap()
    }

    fn lines(path: &Path) -> Vec<Entry> {
        read_path(path).unwrap().map(|e| e.unwrap()).collect()
    }

    #[test]
    fn a_borrowed_entry_is_written_exactly_as_an_entry() {
        let mut e = exchange("/payment/A/status");
        e.seq = 7;
        e.scenario = "s".into();
        let borrowed = serde_json::to_string(&EntryRef::Exchange(&e)).unwrap();
        let owned = serde_json::to_string(&Entry::Exchange(Box::new(e))).unwrap();
        assert_eq!(borrowed, owned);
        let start = ScenarioStart {
            lane: 0,
            scenario: "s".into(),
            title: "t".into(),
            at_ms: 0.0,
            token_lifetime_s: None,
        };
        assert_eq!(
            serde_json::to_string(&EntryRef::ScenarioStart(&start)).unwrap(),
            serde_json::to_string(&Entry::ScenarioStart(start)).unwrap()
        );
    }

    fn start(journal: &Journal, scenario: &str) {
        journal.start_scenario(ScenarioStart {
            lane: 0,
            scenario: scenario.into(),
            title: scenario.into(),
            at_ms: 0.0,
            token_lifetime_s: None,
        });
    }

    fn about(url: &str, payment: &str) -> Exchange {
        let mut e = exchange(url);
        e.facts.payment = Some(payment.into());
        e
    }

    #[test]
    fn late_traffic_is_tagged_with_its_payments_scenario_and_not_waited_on_by_the_next() {
        let journal = Journal::in_memory();
        start(&journal, "declined");
        journal.record(about("/payments", "P1"));
        journal.end_scenario(ScenarioEnd {
            scenario: "declined".into(),
            at_ms: 1.0,
            error: None,
        });
        start(&journal, "forged");
        // The first scenario's background status check arrives now.
        let late = journal.record(about("/payment/P1/status", "P1"));
        let own = journal.record(about("/payment/P2/status", "P2"));
        let live: Vec<(u64, String)> = journal
            .live()
            .iter()
            .map(|e| (e.seq, e.scenario.clone()))
            .collect();
        assert_eq!(
            live,
            vec![(own, "forged".to_string())],
            "late #{late} counted"
        );
        // And the sandbox learns nothing from it.
        let mut learned = Vec::new();
        for (url, payment) in [("/payment/P1/status", "P1"), ("/payment/P2/status", "P2")] {
            journal.record_learning(about(url, payment), |e| learned.push(e.request.url.clone()));
        }
        assert_eq!(
            learned,
            vec!["/payment/P2/status"],
            "only the running scenario's"
        );
    }

    #[test]
    fn a_payment_the_scenario_uses_keeps_the_integrations_calls_about_it() {
        let journal = Journal::in_memory();
        start(&journal, "captured");
        journal.record(about("/payments", "P1"));
        start(&journal, "forged_other");
        journal.using_payment("P1");
        let mut learned = None;
        journal.record_learning(about("/payment/P1/status", "P1"), |e| {
            learned = Some(e.scenario.clone())
        });
        assert_eq!(learned.as_deref(), Some("forged_other"));
    }

    #[test]
    fn entries_reach_the_file_without_an_explicit_flush() {
        // What a killed run leaves: the writer writes on its own, a tick late at most.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::create(&path).unwrap();
        journal.record(exchange("/a"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while lines(&path).is_empty() {
            assert!(
                Instant::now() < deadline,
                "the exchange never reached the file"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            matches!(&lines(&path)[0], Entry::Exchange(e) if e.seq == 1 && e.request.url == "/a")
        );
    }

    #[test]
    fn many_writers_lose_nothing_and_keep_sequence_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::create(&path).unwrap();
        journal.start_scenario(ScenarioStart {
            lane: 0,
            scenario: "load".into(),
            title: "load".into(),
            at_ms: 0.0,
            token_lifetime_s: None,
        });
        // Many entries from several threads at once: none dropped, none out of order.
        let per_thread = 16_384;
        std::thread::scope(|s| {
            for t in 0..4 {
                let journal = journal.clone();
                s.spawn(move || {
                    for i in 0..per_thread {
                        journal.record(exchange(&format!("/{t}/{i}")));
                    }
                });
            }
        });
        journal.end_scenario(ScenarioEnd {
            scenario: "load".into(),
            at_ms: 1.0,
            error: None,
        });
        journal.flush().unwrap();
        let entries = lines(&path);
        assert_eq!(entries.len(), 4 * per_thread + 2);
        assert!(matches!(entries.first(), Some(Entry::ScenarioStart(_))));
        assert!(matches!(entries.last(), Some(Entry::ScenarioEnd(_))));
        let seqs: Vec<u64> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Exchange(x) => {
                    assert_eq!(x.scenario, "load");
                    Some(x.seq)
                }
                _ => None,
            })
            .collect();
        assert_eq!(seqs, (1..=4 * per_thread as u64).collect::<Vec<_>>());
    }

    #[test]
    fn without_a_live_window_everything_is_written_and_nothing_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::create(&path).unwrap().without_live_window();
        let lane = journal.lane();
        for i in 0..10 {
            journal.record(exchange(&format!("/{i}")));
            lane.record(exchange(&format!("/lane/{i}")));
        }
        assert!(journal.live().is_empty() && lane.live().is_empty());
        journal.flush().unwrap();
        assert_eq!(lines(&path).len(), 20);
        // A journal with a window keeps the running scenario's exchanges for its waits.
        let kept = Journal::in_memory();
        kept.record(exchange("/a"));
        assert_eq!(kept.live().len(), 1);
    }

    #[test]
    fn dropping_the_last_clone_writes_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::create(&path).unwrap();
        for i in 0..100 {
            journal.record(exchange(&format!("/{i}")));
        }
        drop(journal);
        assert_eq!(lines(&path).len(), 100);
    }
}
