//! The journal's way to the disk: lines appended in journal order to a buffer that the writer
//! thread takes whole every tick and writes with one system call.
//!
//! A line is written (serialized) by the thread that records its exchange; the writer thread
//! only writes bytes. Handing it the exchange itself, over a channel, had that thread free
//! each exchange's dozen allocations, which the allocator then handed back to the thread
//! that made them, cold: the channel, those frees and the misses after them were about a
//! tenth of the sandbox's CPU under load (perf).
//!
//! The file is at most a tick ([`DRAIN_EVERY`]) behind while traffic flows, well inside the
//! 100 ms a killed run may lose; a full buffer makes recorders wait for the disk
//! (back-pressure), so no line is ever dropped.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer sleeps between takes while lines keep coming. Sleeping (rather than
/// being woken) means a recorder appending a line wakes no thread: at most one wake-up per
/// tick, whatever the request rate, instead of a system call and a context switch per line.
const DRAIN_EVERY: Duration = Duration::from_millis(2);

/// Bytes waiting for the disk beyond which recorders wait: a stalled disk cannot grow memory
/// without bound, and a burst of requests (a few thousand lines) never waits on it.
const MAX_PENDING: usize = 4 * 1024 * 1024;

/// What the recording threads and the writer share.
#[derive(Default)]
struct Pending {
    /// Whole lines not yet taken by the writer, in journal order.
    lines: Vec<u8>,
    /// Flushes asked for since the writer last took the lines: answered once those are
    /// written, with the first error of the run.
    acks: Vec<mpsc::Sender<Option<String>>>,
    /// The first line that could not be written, or the first failed write.
    error: Option<String>,
    /// The writer is blocked until the next line (nothing came for a tick).
    writer_idle: bool,
    /// Recorders waiting for room.
    waiting_for_room: usize,
    /// No more lines will come (the journal is gone), or the writer stopped.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the idle writer.
    wake: Condvar,
    /// Wakes recorders waiting for room.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Nothing is left half-done under this lock by a panic that matters more than the run.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the writer if it blocked for want of lines: a system call only then, not for
    /// every line while they flow.
    fn wake_idle_writer(&self, pending: &mut Pending) {
        if pending.writer_idle {
            pending.writer_idle = false;
            self.wake.notify_one();
        }
    }
}

/// The recording end of the writer thread. Dropping it (with the last clone of the journal)
/// lets the thread write what is left, and waits for it.
pub(super) struct Pipe {
    shared: Option<Arc<Shared>>,
    thread: Option<JoinHandle<()>>,
}

impl Pipe {
    /// Lines appended to `file` by a thread of their own.
    pub(super) fn to_file(file: File) -> std::io::Result<Pipe> {
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("golive-journal".into())
                .spawn(move || write_lines(&shared, file))?
        };
        Ok(Pipe {
            shared: Some(shared),
            thread: Some(thread),
        })
    }

    /// Lines go nowhere (a journal kept only in memory).
    pub(super) fn nowhere() -> Pipe {
        Pipe {
            shared: None,
            thread: None,
        }
    }

    pub(super) fn writes(&self) -> bool {
        self.shared.is_some()
    }

    /// Appends one whole line (newline included) that `write` writes, after waiting for room
    /// if the disk is behind. `write` failing appends nothing and is reported by the next
    /// flush.
    pub(super) fn append(&self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), String>) {
        let Some(shared) = &self.shared else {
            return;
        };
        let mut pending = shared.lock();
        while pending.lines.len() >= MAX_PENDING && !pending.closed {
            pending.waiting_for_room += 1;
            pending = shared.room.wait(pending).unwrap_or_else(|p| p.into_inner());
            pending.waiting_for_room -= 1;
        }
        if pending.closed {
            return;
        }
        let before = pending.lines.len();
        if let Err(e) = write(&mut pending.lines) {
            pending.lines.truncate(before);
            pending.error.get_or_insert(e);
        }
        shared.wake_idle_writer(&mut pending);
    }

    /// Asks for everything appended so far to be written: the answer (the run's first error,
    /// if any) comes once it is. `None` when lines go nowhere.
    pub(super) fn ask_flush(&self) -> Option<mpsc::Receiver<Option<String>>> {
        let shared = self.shared.as_ref()?;
        let (ack, done) = mpsc::channel();
        let mut pending = shared.lock();
        // A stopped writer answers nobody: the dropped sender says so.
        if !pending.closed {
            pending.acks.push(ack);
            shared.wake_idle_writer(&mut pending);
        }
        Some(done)
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.lock().closed = true;
            shared.wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Marks the pipe closed when the writer ends, however it ends: a recorder waiting for room
/// must not wait for a thread that is gone.
struct Closing<'a>(&'a Shared);

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        let mut pending = self.0.lock();
        pending.closed = true;
        pending.acks.clear();
        self.0.room.notify_all();
    }
}

/// The writer thread: takes the pending lines whole and writes them, every tick while they
/// keep coming; blocks until the next one when a tick brought none.
fn write_lines(shared: &Shared, mut file: File) {
    let _closing = Closing(shared);
    let mut spare: Vec<u8> = Vec::new();
    let mut flowing = false;
    loop {
        let (lines, acks, closed) = {
            let mut pending = shared.lock();
            if !flowing {
                while pending.lines.is_empty() && pending.acks.is_empty() && !pending.closed {
                    pending.writer_idle = true;
                    pending = shared.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
                }
                pending.writer_idle = false;
            }
            let lines = std::mem::replace(&mut pending.lines, std::mem::take(&mut spare));
            if pending.waiting_for_room > 0 {
                shared.room.notify_all();
            }
            (lines, std::mem::take(&mut pending.acks), pending.closed)
        };
        flowing = !lines.is_empty();
        let failed = match file.write_all(&lines) {
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        };
        spare = lines;
        spare.clear();
        if failed.is_some() || !acks.is_empty() {
            let mut pending = shared.lock();
            if let Some(e) = failed {
                pending.error.get_or_insert(e);
            }
            for ack in acks {
                let _ = ack.send(pending.error.clone());
            }
        }
        if closed {
            break;
        }
        if flowing {
            std::thread::sleep(DRAIN_EVERY);
        }
    }
    let error = shared.lock().error.clone();
    if let Some(e) = error {
        tracing::error!("the journal could not be written: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe_to(path: &std::path::Path) -> Pipe {
        Pipe::to_file(File::create(path).unwrap()).unwrap()
    }

    #[test]
    fn a_flush_answers_once_everything_before_it_is_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let pipe = pipe_to(&path);
        for i in 0..1000 {
            pipe.append(|out| {
                writeln!(out, "{i}").unwrap();
                Ok(())
            });
        }
        assert_eq!(pipe.ask_flush().unwrap().recv().unwrap(), None);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1000);
        assert_eq!(text.lines().last(), Some("999"));
    }

    #[test]
    fn a_line_that_cannot_be_written_leaves_no_bytes_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let pipe = pipe_to(&path);
        pipe.append(|out| {
            out.extend_from_slice(b"half a li");
            Err("no such line".into())
        });
        pipe.append(|out| {
            out.extend_from_slice(b"whole\n");
            Ok(())
        });
        let error = pipe.ask_flush().unwrap().recv().unwrap();
        assert_eq!(error.as_deref(), Some("no such line"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "whole\n");
    }

    #[test]
    fn recorders_wait_for_room_and_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let pipe = Arc::new(pipe_to(&path));
        // Four threads appending three times the buffer's bound between them.
        let line = vec![b'x'; 1023];
        let per_thread = 3 * MAX_PENDING / 1024 / 4;
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (pipe, line) = (pipe.clone(), line.clone());
                s.spawn(move || {
                    for _ in 0..per_thread {
                        pipe.append(|out| {
                            out.extend_from_slice(&line);
                            out.push(b'\n');
                            Ok(())
                        });
                    }
                });
            }
        });
        drop(Arc::into_inner(pipe).unwrap());
        let written = std::fs::metadata(&path).unwrap().len() as usize;
        assert_eq!(written, 4 * per_thread * 1024);
    }
}
