//! Appending to the journal, and reading it back.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

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

struct Inner {
    out: Option<BufWriter<File>>,
    next_seq: u64,
    scenario: String,
    live: VecDeque<Arc<Exchange>>,
    write_error: Option<String>,
}

/// The run's journal. Cheap to clone; every clone appends to the same file.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    started: Instant,
    started_wall: time::OffsetDateTime,
    path: Option<PathBuf>,
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
        Ok(Self::new(Some(BufWriter::new(file)), Some(path.to_owned())))
    }

    /// A journal kept nowhere but the live window: for unit tests of the sandbox.
    pub fn in_memory() -> Self {
        Self::new(None, None)
    }

    fn new(out: Option<BufWriter<File>>, path: Option<PathBuf>) -> Self {
        Journal {
            inner: Arc::new(Mutex::new(Inner {
                out,
                next_seq: 1,
                scenario: String::new(),
                live: VecDeque::new(),
                write_error: None,
            })),
            notify: Arc::new(Notify::new()),
            started: Instant::now(),
            started_wall: time::OffsetDateTime::now_utc(),
            path,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Milliseconds since the run started.
    pub fn now_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
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
        self.lock().scenario.clone()
    }

    pub fn start_scenario(&self, start: ScenarioStart) {
        let mut inner = self.lock();
        inner.scenario = start.scenario.clone();
        inner.live.clear();
        Self::write(&mut inner, &Entry::ScenarioStart(start));
    }

    pub fn end_scenario(&self, end: ScenarioEnd) {
        let mut inner = self.lock();
        inner.scenario.clear();
        Self::write(&mut inner, &Entry::ScenarioEnd(end));
    }

    /// Appends an exchange, giving it its sequence number and the running scenario (unless the
    /// caller set one). Returns the number.
    pub fn record(&self, mut exchange: Exchange) -> u64 {
        let seq = {
            let mut inner = self.lock();
            exchange.seq = inner.next_seq;
            inner.next_seq += 1;
            if exchange.scenario.is_empty() {
                exchange.scenario = inner.scenario.clone();
            }
            let exchange = Arc::new(exchange);
            Self::write(&mut inner, &Entry::Exchange(Box::new((*exchange).clone())));
            if inner.live.len() >= LIVE_WINDOW {
                inner.live.pop_front();
            }
            inner.live.push_back(exchange.clone());
            exchange.seq
        };
        self.notify.notify_waiters();
        seq
    }

    /// The running scenario's exchanges so far (at most the last [`LIVE_WINDOW`]).
    pub fn live(&self) -> Vec<Arc<Exchange>> {
        self.lock().live.iter().cloned().collect()
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
                .lock()
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

    /// The sequence number the next exchange will get, minus one.
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// Flushes the file; reports a write failure seen at any point of the run.
    pub fn flush(&self) -> Result<(), JournalError> {
        let mut inner = self.lock();
        let flushed = match inner.out.as_mut() {
            Some(out) => out.flush().err().map(|e| e.to_string()),
            None => None,
        };
        match inner.write_error.take().or(flushed) {
            Some(e) => Err(JournalError::Write {
                path: self.path.clone().unwrap_or_default(),
                source: std::io::Error::other(e),
            }),
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the journal half-written in a way that
        // matters more than losing the run, so a poisoned lock is used as it is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write(inner: &mut Inner, entry: &Entry) {
        let Some(out) = inner.out.as_mut() else {
            return;
        };
        let line = serde_json::to_string(entry).expect("journal entries always serialize");
        // One line, flushed, per entry: a killed run leaves every entry written so far.
        let result = out
            .write_all(line.as_bytes())
            .and_then(|_| out.write_all(b"\n"))
            .and_then(|_| out.flush());
        if let Err(e) = result {
            inner.write_error.get_or_insert(e.to_string());
        }
    }
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
