//! Reading a journal back as fast as the machine allows: the file is read in large chunks cut
//! at line ends, the chunks are parsed on every core at once, and the entries are handed to
//! the caller in journal order. Each entry comes with where its line is in the file, so a
//! report can later read back just the lines it shows ([`read_lines`]) instead of the whole
//! journal again. Memory stays bounded: only a few chunks are in flight at a time.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};

use super::line::EXCHANGE_TAG;
use super::{Entry, Exchange, JournalError};

/// How much of the file one parsing job takes (more when a single line is longer).
const CHUNK_BYTES: usize = 1 << 20;

/// One entry and where its line is in the journal file.
#[derive(Debug)]
pub struct Located {
    pub entry: Entry,
    /// The line's first byte in the file.
    pub offset: u64,
    /// The line's length in bytes, without its newline.
    pub len: u32,
}

/// A chunk of whole lines and where it starts in the file.
struct Chunk {
    index: usize,
    offset: u64,
    bytes: Vec<u8>,
}

/// What parsing a chunk gave: its entries and how many lines it had, or the first bad line
/// (counted from the chunk's first line, from 0).
type Parsed = Result<(Vec<Located>, usize), (usize, serde_json::Error)>;

/// One line's entry. An exchange's line is read by hand ([`super::line`]) when it is laid out
/// as the writer lays it out, which is most of what judging a journal saves; otherwise it is
/// read by serde_json as an exchange directly: serde reads an internally tagged enum by first
/// copying the whole line into a tree of its own (every string allocated twice). The tag is
/// blanked out in place (JSON allows the spaces), so nothing is copied; a line written
/// otherwise still is read the general way.
fn parse_entry(text: &mut [u8]) -> serde_json::Result<Entry> {
    if text.starts_with(EXCHANGE_TAG.as_bytes()) {
        if let Some(ex) = std::str::from_utf8(text)
            .ok()
            .and_then(super::line::exchange)
        {
            return Ok(Entry::Exchange(Box::new(ex)));
        }
        let n = EXCHANGE_TAG.len();
        text[..n - 1].fill(b' ');
        text[n - 1] = b'{';
        return from_line::<Exchange>(text).map(|ex| Entry::Exchange(Box::new(ex)));
    }
    from_line(text)
}

/// A line checked as UTF-8 once, whole (fast for the ASCII a journal mostly is), then parsed as
/// text: parsed as bytes, serde_json checks every string on its own, which cost more. A line
/// that is not UTF-8 is parsed as bytes, for serde_json's error with its column.
fn from_line<T: serde::de::DeserializeOwned>(text: &[u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(text) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(text),
    }
}

fn parse_chunk(chunk: &mut Chunk) -> Parsed {
    let mut entries = Vec::new();
    let mut start = 0;
    let mut line = 0;
    while let Some(i) = memchr::memchr(b'\n', &chunk.bytes[start..]) {
        parse_line(chunk, start, start + i, line, &mut entries)?;
        start += i + 1;
        line += 1;
    }
    if start < chunk.bytes.len() {
        parse_line(chunk, start, chunk.bytes.len(), line, &mut entries)?;
        line += 1;
    }
    Ok((entries, line))
}

fn parse_line(
    chunk: &mut Chunk,
    start: usize,
    end: usize,
    line: usize,
    entries: &mut Vec<Located>,
) -> Result<(), (usize, serde_json::Error)> {
    let text = &mut chunk.bytes[start..end];
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let entry = parse_entry(text).map_err(|e| (line, e))?;
    entries.push(Located {
        entry,
        offset: chunk.offset + start as u64,
        len: (end - start) as u32,
    });
    Ok(())
}

/// Reads the file in chunks that end at a line end and hands them out in order. A chunk's
/// buffer comes back once parsed (`spare`) and is filled again: fresh megabytes for every chunk
/// cost the kernel a page fault and a zeroed page each 4 KiB.
fn read_chunks(
    mut file: File,
    path: &Path,
    jobs: mpsc::SyncSender<Chunk>,
    spare: mpsc::Receiver<Vec<u8>>,
) -> Result<(), JournalError> {
    let read_error = |source| JournalError::Read {
        path: path.to_owned(),
        source,
    };
    // The start of a line the last chunk cut off.
    let mut carry: Vec<u8> = Vec::new();
    let mut offset = 0u64;
    let mut index = 0;
    loop {
        let mut bytes = spare.try_recv().unwrap_or_default();
        bytes.clear();
        bytes.append(&mut carry);
        // Into the buffer's spare room as it is: zeroing a megabyte before every read (a
        // recycled buffer's too) was most of this thread's time.
        bytes.reserve(CHUNK_BYTES);
        let n = (&mut file)
            .take(CHUNK_BYTES as u64)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if n == 0 {
            // The end: what is left is a last line without its newline (a killed run's).
            if !bytes.is_empty() {
                let _ = jobs.send(Chunk {
                    index,
                    offset,
                    bytes,
                });
            }
            return Ok(());
        }
        match memchr::memrchr(b'\n', &bytes) {
            // No line ends here yet: a line longer than a chunk; read on.
            None => carry = bytes,
            Some(last) => {
                carry.extend_from_slice(&bytes[last + 1..]);
                bytes.truncate(last + 1);
                let len = bytes.len() as u64;
                if jobs
                    .send(Chunk {
                        index,
                        offset,
                        bytes,
                    })
                    .is_err()
                {
                    // The caller stopped reading (a bad line).
                    return Ok(());
                }
                offset += len;
                index += 1;
            }
        }
    }
}

/// Hands every entry of the journal at `path` to `each`, in journal order, with where its
/// line is. Stops at the first line that is not a journal entry (its line number in the error)
/// or when `each` fails.
pub fn for_each<E: From<JournalError> + Send>(
    path: &Path,
    mut each: impl FnMut(&Located) -> Result<(), E> + Send,
) -> Result<(), E> {
    for_each_staged(path, vec![&mut each])
}

/// A stage of [`for_each_staged`]: what it does with each entry.
pub type Stage<'a, E> = &'a mut (dyn FnMut(&Located) -> Result<(), E> + Send);

/// [`for_each`] with the work on each entry split in stages, each of which sees every entry
/// in journal order: stage 2 can read one chunk while stage 1 reads the next, on another core.
/// Stops at the first bad line or the first error of any stage.
///
/// The thread that parsed a chunk is the one that takes it through the stages, each when the
/// chunk's turn comes there (chunks in file order), and frees it after: the entries are still
/// in its cache. Handing them to one judging thread instead made that thread the slowest of
/// all: perf put most of its time in the cache misses of reading entries another core had just
/// written, and in freeing them. With all the checks in one stage, that stage was the slowest
/// again: every chunk waited for it in turn, while the other core sat idle.
pub fn for_each_staged<E: From<JournalError> + Send>(
    path: &Path,
    stages: Vec<Stage<'_, E>>,
) -> Result<(), E> {
    let file = File::open(path).map_err(|source| JournalError::Read {
        path: path.to_owned(),
        source,
    })?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    // More threads than cores: a thread waiting for a stage's turn leaves its core to one that
    // parses.
    let workers = cores + stages.len().min(4);
    let path_buf: PathBuf = path.to_owned();
    let turns = Turns {
        stages: stages
            .into_iter()
            .map(|each| StageTurn {
                state: Mutex::new(StageState { next: 0, each }),
                changed: Condvar::new(),
            })
            .collect(),
        lines_before: Mutex::new(0),
        stopped: Mutex::new(None),
        stopping: AtomicBool::new(false),
    };
    let read = std::thread::scope(|scope| {
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Chunk>(workers * 2);
        let (spare_tx, spare_rx) = mpsc::sync_channel::<Vec<u8>>(workers * 4);
        let reader = scope.spawn(|| read_chunks(file, &path_buf, jobs_tx, spare_rx));
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        for _ in 0..workers {
            let (jobs_rx, spare_tx, turns) = (Arc::clone(&jobs_rx), spare_tx.clone(), &turns);
            scope.spawn(move || loop {
                let chunk = match jobs_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                // The reader is done, or the reading stopped (the receiver goes with the last
                // worker, and the reader's next send fails).
                let Ok(mut chunk) = chunk else { return };
                let parsed = parse_chunk(&mut chunk);
                // The entries own their text: the buffer can be filled again.
                let _ = spare_tx.try_send(chunk.bytes);
                if !turns.take_through(chunk.index, parsed, path) {
                    return;
                }
            });
        }
        drop(jobs_rx);
        drop(spare_tx);
        reader.join().unwrap_or(Ok(()))
    });
    let stopped = turns
        .stopped
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(stopped) = stopped {
        return stopped;
    }
    read.map_err(E::from)
}

/// Whose turn it is at each stage: the chunks' in file order.
struct Turns<'a, E> {
    stages: Vec<StageTurn<'a, E>>,
    /// Lines in the chunks that passed the first stage (a bad line's number counts them).
    lines_before: Mutex<usize>,
    /// Why the reading stopped: a bad line or a stage's error (the first).
    stopped: Mutex<Option<Result<(), E>>>,
    stopping: AtomicBool,
}

struct StageTurn<'a, E> {
    state: Mutex<StageState<'a, E>>,
    changed: Condvar,
}

struct StageState<'a, E> {
    /// The chunk whose entries go next.
    next: usize,
    each: Stage<'a, E>,
}

impl<'a, E: From<JournalError>> Turns<'a, E> {
    /// Takes chunk `index` through every stage, each when its turn comes, then frees it. False
    /// once the reading has stopped.
    fn take_through(&self, index: usize, parsed: Parsed, path: &Path) -> bool {
        let entries = match parsed {
            Ok((entries, lines)) => {
                for (s, stage) in self.stages.iter().enumerate() {
                    let Some(mut state) = self.wait_turn(stage, index) else {
                        return false;
                    };
                    if s == 0 {
                        *self.lines_before.lock().unwrap_or_else(|e| e.into_inner()) += lines;
                    }
                    let failed = entries.iter().map(&mut *state.each).find(Result::is_err);
                    state.next += 1;
                    if let Some(Err(e)) = failed {
                        // Stopped before the turn is passed on: the next chunk's thread must
                        // find the reading stopped, not hand the stage more entries.
                        self.record_stop(Err(e));
                        drop(state);
                        self.wake_all();
                        return false;
                    }
                    drop(state);
                    stage.changed.notify_all();
                }
                entries
            }
            Err((line, source)) => {
                // Named once every chunk before it passed the first stage: its lines counted.
                let Some(state) = self.wait_turn(&self.stages[0], index) else {
                    return false;
                };
                let before = *self.lines_before.lock().unwrap_or_else(|e| e.into_inner());
                self.record_stop(Err(E::from(JournalError::Parse {
                    path: path.to_owned(),
                    line: before + line + 1,
                    source,
                })));
                drop(state);
                self.wake_all();
                return false;
            }
        };
        // Freed here, after the turns are passed on: no other chunk's thread waits on it.
        drop(entries);
        true
    }

    /// The stage, once it is chunk `index`'s turn there; `None` once the reading stopped.
    fn wait_turn<'s>(
        &self,
        stage: &'s StageTurn<'a, E>,
        index: usize,
    ) -> Option<std::sync::MutexGuard<'s, StageState<'a, E>>> {
        let mut state = stage.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.next != index && !self.stopping.load(Ordering::Acquire) {
            state = stage.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        (!self.stopping.load(Ordering::Acquire)).then_some(state)
    }

    /// Stops the reading with `why` (unless it stopped already). Called with the stage's turn
    /// still held; [`Turns::wake_all`] once it is let go.
    fn record_stop(&self, why: Result<(), E>) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        if stopped.is_none() {
            *stopped = Some(why);
        }
        drop(stopped);
        self.stopping.store(true, Ordering::Release);
    }

    /// Wakes every thread waiting for a turn, to find the reading stopped.
    fn wake_all(&self) {
        for stage in &self.stages {
            // Taken so that no thread is between its check of `stopping` and its wait.
            drop(stage.state.lock().unwrap_or_else(|e| e.into_inner()));
            stage.changed.notify_all();
        }
    }
}

/// Where each exchange of a journal is, with its seq and scenario: what a report needs to pick
/// the exchanges it shows and read back only those ([`Index::read`]), without reading the
/// journal again. About 24 bytes an exchange (24 MB for a million).
#[derive(Debug, Default)]
pub struct Index {
    exchanges: Vec<Indexed>,
    scenarios: Vec<String>,
    scenario_ids: HashMap<String, u32>,
    /// The scenario starts and ends, in journal order (a few per scenario).
    marks: Vec<Entry>,
    /// The wall time of the first exchange.
    first_at: Option<String>,
}

/// One exchange's place in the journal.
#[derive(Debug, Clone, Copy)]
pub struct Indexed {
    pub seq: u64,
    offset: u64,
    len: u32,
    scenario: u32,
}

impl Index {
    /// Notes an entry [`for_each`] handed out (only exchanges are indexed).
    pub fn add(&mut self, located: &Located) {
        let Entry::Exchange(ex) = &located.entry else {
            self.marks.push(located.entry.clone());
            return;
        };
        if self.first_at.is_none() {
            self.first_at = Some(ex.at.clone());
        }
        let last = self.exchanges.last().map(|e| e.scenario);
        let same = |id: &u32| super::same_text(&self.scenarios[*id as usize], &ex.scenario);
        let scenario = match last.filter(same) {
            // Most exchanges are of the scenario the one before was of.
            Some(id) => id,
            None => match self.scenario_ids.get(&ex.scenario) {
                Some(&id) => id,
                None => {
                    let id = self.scenarios.len() as u32;
                    self.scenarios.push(ex.scenario.clone());
                    self.scenario_ids.insert(ex.scenario.clone(), id);
                    id
                }
            },
        };
        self.exchanges.push(Indexed {
            seq: ex.seq,
            offset: located.offset,
            len: located.len,
            scenario,
        });
    }

    /// Indexes the journal at `path` on its own (for a caller that did not read it already).
    pub fn of(path: &Path) -> Result<Index, JournalError> {
        let mut index = Index::default();
        for_each::<JournalError>(path, |located| {
            index.add(located);
            Ok(())
        })?;
        Ok(index)
    }

    /// Every exchange, in journal order.
    pub fn exchanges(&self) -> &[Indexed] {
        &self.exchanges
    }

    /// The journal's scenario starts and ends, in order.
    pub fn scenario_marks(&self) -> &[Entry] {
        &self.marks
    }

    /// The wall time of the journal's first exchange (RFC 3339), if it has any.
    pub fn first_at(&self) -> Option<&str> {
        self.first_at.as_deref()
    }

    /// The scenario an exchange was tagged with ("" outside any).
    pub fn scenario_of(&self, exchange: &Indexed) -> &str {
        &self.scenarios[exchange.scenario as usize]
    }

    /// The given exchanges, read back from the journal at `path`.
    pub fn read<'a>(
        &self,
        path: &Path,
        exchanges: impl IntoIterator<Item = &'a Indexed>,
    ) -> Result<Vec<Entry>, JournalError> {
        let lines: Vec<(u64, u32)> = exchanges.into_iter().map(|e| (e.offset, e.len)).collect();
        read_lines(path, &lines)
    }
}

/// The number (from 1) of the line that starts at `offset`: counted only when a line read back
/// turns out bad (the journal changed since it was read), so the error can say where.
fn line_number_at(path: &Path, offset: u64) -> usize {
    let Ok(file) = File::open(path) else { return 0 };
    let mut before = file.take(offset);
    let mut chunk = vec![0; CHUNK_BYTES];
    let mut newlines = 0;
    loop {
        match before.read(&mut chunk) {
            Ok(0) => return newlines + 1,
            Ok(n) => newlines += memchr::memchr_iter(b'\n', &chunk[..n]).count(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 0,
        }
    }
}

/// The entries of the given lines of the journal (offsets and lengths as [`for_each`] gave
/// them), read by seeking: what a report shows costs the same whatever the journal's size.
pub fn read_lines(path: &Path, lines: &[(u64, u32)]) -> Result<Vec<Entry>, JournalError> {
    let read_error = |source| JournalError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut buf = Vec::new();
    let mut out = Vec::with_capacity(lines.len());
    for &(offset, len) in lines {
        buf.resize(len as usize, 0);
        file.seek(SeekFrom::Start(offset)).map_err(read_error)?;
        file.read_exact(&mut buf).map_err(read_error)?;
        let entry = parse_entry(&mut buf).map_err(|source| JournalError::Parse {
            path: path.to_owned(),
            line: line_number_at(path, offset),
            source,
        })?;
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{ScenarioEnd, ScenarioStart};

    fn start(id: &str) -> Entry {
        Entry::ScenarioStart(ScenarioStart {
            scenario: id.into(),
            title: "t".into(),
            at_ms: 1.0,
            token_lifetime_s: None,
            lane: 0,
        })
    }

    fn end(id: &str) -> Entry {
        Entry::ScenarioEnd(ScenarioEnd {
            scenario: id.into(),
            at_ms: 2.0,
            error: None,
        })
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("journal.jsonl");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn line(e: &Entry) -> String {
        serde_json::to_string(e).unwrap()
    }

    #[test]
    fn every_entry_comes_in_order_with_its_line_whatever_the_chunks() {
        let dir = tempfile::tempdir().unwrap();
        // Enough lines for many chunks, one of them longer than a chunk, and a last line
        // without its newline (a killed run's).
        let long = format!("s{}", "x".repeat(CHUNK_BYTES + 10));
        let mut entries: Vec<Entry> = (0..40_000)
            .map(|i| {
                if i % 3 == 0 {
                    let mut ex = Exchange::test_call("GET", &format!("/payment/{i}"), "{}", "");
                    ex.seq = i;
                    ex.scenario = format!("scenario-{}", i % 7);
                    Entry::Exchange(Box::new(ex))
                } else {
                    start(&format!("scenario-{i}"))
                }
            })
            .collect();
        entries.insert(20_000, end(&long));
        let mut text: String = entries.iter().map(|e| line(e) + "\n").collect();
        text.push('\n'); // a blank line is skipped
        let last = end("last");
        text.push_str(&line(&last));
        entries.push(last);
        let path = write(dir.path(), &text);

        let mut seen = Vec::new();
        for_each::<JournalError>(&path, |l| {
            seen.push(Located {
                entry: l.entry.clone(),
                ..*l
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), entries.len());
        for (got, want) in seen.iter().zip(&entries) {
            assert_eq!(&got.entry, want);
            let at = got.offset as usize;
            assert_eq!(&text[at..at + got.len as usize], line(want));
        }
        let picked = [&seen[3], &seen[20_000], &seen[entries.len() - 1]];
        let lines: Vec<(u64, u32)> = picked.iter().map(|l| (l.offset, l.len)).collect();
        let back = read_lines(&path, &lines).unwrap();
        assert_eq!(
            back,
            [
                entries[3].clone(),
                entries[20_000].clone(),
                last_of(&entries)
            ]
        );
    }

    fn last_of(entries: &[Entry]) -> Entry {
        entries.last().unwrap().clone()
    }

    #[test]
    fn a_bad_line_is_named_by_its_number_and_stops_the_reading() {
        let dir = tempfile::tempdir().unwrap();
        let mut text: String = (0..30_000)
            .map(|i| line(&start(&i.to_string())) + "\n")
            .collect();
        text.push_str("{not json\n");
        text.push_str(&(line(&end("after")) + "\n"));
        let path = write(dir.path(), &text);
        let mut count = 0;
        let err = for_each::<JournalError>(&path, |_| {
            count += 1;
            Ok(())
        })
        .unwrap_err();
        assert!(
            matches!(err, JournalError::Parse { line: 30_001, .. }),
            "{err}"
        );
        assert!(count <= 30_000);
    }

    #[test]
    fn a_line_read_back_bad_is_named_by_its_number() {
        // The journal changed after it was indexed: the line at the offset is no entry now.
        let dir = tempfile::tempdir().unwrap();
        let good: String = (0..3)
            .map(|i| line(&start(&i.to_string())) + "\n")
            .collect();
        let path = write(dir.path(), &format!("{good}{{not json at all}}\n"));
        let err = read_lines(&path, &[(good.len() as u64, 17)]).unwrap_err();
        assert!(matches!(err, JournalError::Parse { line: 4, .. }), "{err}");
    }

    #[test]
    fn every_stage_sees_every_entry_in_order_and_any_stage_can_stop_the_reading() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..60_000)
            .map(|i| line(&start(&i.to_string())) + "\n")
            .collect();
        let path = write(dir.path(), &text);
        let want: Vec<String> = (0..60_000).map(|i| i.to_string()).collect();
        let scenario = |l: &Located| match &l.entry {
            Entry::ScenarioStart(s) => s.scenario.clone(),
            _ => unreachable!(),
        };
        let mut seen = [Vec::new(), Vec::new(), Vec::new()];
        let [a, b, c] = &mut seen;
        let collect = |into: &mut Vec<String>, l: &Located| {
            into.push(scenario(l));
            Ok::<_, JournalError>(())
        };
        let mut stage_a = |l: &Located| collect(a, l);
        let mut stage_b = |l: &Located| collect(b, l);
        let mut stage_c = |l: &Located| collect(c, l);
        for_each_staged(&path, vec![&mut stage_a, &mut stage_b, &mut stage_c]).unwrap();
        for stage in &seen {
            assert_eq!(stage, &want);
        }

        // The second stage fails at its 20,000th entry: the reading stops with its error.
        let (mut first, mut second) = (0, 0);
        let mut stage_a = |_: &Located| {
            first += 1;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        };
        let mut stage_b = |_: &Located| {
            second += 1;
            if second == 20_000 {
                Err("enough".into())
            } else {
                Ok(())
            }
        };
        let err = for_each_staged(&path, vec![&mut stage_a, &mut stage_b]).unwrap_err();
        assert_eq!(err.to_string(), "enough");
        assert_eq!(second, 20_000);
        assert!((20_000..60_000).contains(&first), "{first}");

        // A bad line is named by its number whatever the stages.
        let bad = format!("{text}{{not json\n");
        let path = write(dir.path(), &bad);
        let (mut ok_a, mut ok_b) = (|_: &Located| Ok(()), |_: &Located| Ok(()));
        let err = for_each_staged::<JournalError>(&path, vec![&mut ok_a, &mut ok_b]).unwrap_err();
        assert!(
            matches!(err, JournalError::Parse { line: 60_001, .. }),
            "{err}"
        );
    }

    #[test]
    fn the_caller_can_stop_the_reading() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..50_000)
            .map(|i| line(&start(&i.to_string())) + "\n")
            .collect();
        let path = write(dir.path(), &text);
        let mut count = 0;
        let err = for_each::<Box<dyn std::error::Error + Send + Sync>>(&path, |_| {
            count += 1;
            if count == 10 {
                Err("enough".into())
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "enough");
        assert_eq!(count, 10);
    }
}
