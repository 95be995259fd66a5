//! `WriterThread`: a writer that hands its bytes to a thread of its own, so that the caller can
//! take the next bytes while the previous ones are still being written. Two writers use it:
//! - an upload's data connection (`remote::ftp::transfer`). Without it every FUSE write waited
//!   for its bytes to reach the socket, and the program writing, the kernel and the network took
//!   turns instead of working at once: sequential uploads ran at half the speed of `curl -T`.
//! - a stream's local copy (`fs::spool::StreamCopy`). Writing pages the machine has not touched
//!   lately costs about as much CPU as the upload itself, and the FUSE thread need not wait for it.
//!
//! Bytes are gathered into chunks of `CHUNK`; a small write (everything fits one chunk) never
//! starts a thread and goes out in one write at `finish`. At most `DEPTH` chunks wait for the
//! thread, which bounds the memory of a writer and makes a slow one slow the caller down. A
//! failure of the inner writer stops the thread; the next `write` (or `settle`, or `finish`)
//! returns it, and `finish` always gives the inner writer back, so its owner can still read the
//! server's verdict.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::sync::lock;
use log::debug;

/// Bytes gathered before a hand-off: one FUSE write of the largest size the kernel sends.
pub const CHUNK: usize = 1 << 20;
/// Chunks queued for the thread at most (plus the one it is writing and the one being gathered).
const DEPTH: usize = 4;

/// What the sending thread gives back when it ends: the writer, and the first error if any.
type Outcome<W> = (W, io::Result<()>);

enum State<W: Write + Send + 'static> {
    /// No thread yet: everything written so far fits in `pending`.
    Inline(W),
    /// A thread owns the writer and takes chunks from the queue.
    Thread {
        queue: SyncSender<Vec<u8>>,
        /// Used chunk buffers coming back for reuse (a fresh 1 MiB buffer costs 256 page faults).
        spare: Receiver<Vec<u8>>,
        handle: JoinHandle<Outcome<W>>,
    },
    /// The thread ended with an error (kept for `finish`), or `finish` already ran.
    Failed(W, io::ErrorKind, String),
    Done,
}

/// A writer whose writes are sent on by a thread of its own.
pub struct WriterThread<W: Write + Send + 'static> {
    pending: Vec<u8>,
    state: State<W>,
    name: &'static str,
}

/// The error of a thread that stopped without one of its own.
const ENDED_EARLY: &str = "writer thread ended early";

impl<W: Write + Send + 'static> WriterThread<W> {
    /// A writer to `inner`; its thread, once started, is named `name`.
    pub fn new(inner: W, name: &'static str) -> Self {
        WriterThread {
            pending: Vec::new(),
            state: State::Inline(inner),
            name,
        }
    }

    /// Waits until every byte written so far reached the inner writer, and lends it: the thread
    /// ends, and the next chunk starts another. A failure, now or before, is returned (again).
    pub fn settle(&mut self) -> io::Result<&mut W> {
        let pending = std::mem::take(&mut self.pending);
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match state {
            State::Inline(mut w) => match w.write_all(&pending).and_then(|()| w.flush()) {
                Ok(()) => State::Inline(w),
                Err(e) => State::Failed(w, e.kind(), e.to_string()),
            },
            State::Thread { queue, handle, .. } => {
                let sent = pending.is_empty() || queue.send(pending).is_ok();
                drop(queue);
                match join(handle) {
                    (w, Ok(())) if sent => State::Inline(w),
                    (w, Ok(())) => State::Failed(w, io::ErrorKind::Other, ENDED_EARLY.into()),
                    (w, Err(e)) => State::Failed(w, e.kind(), e.to_string()),
                }
            }
            other => other,
        };
        if !matches!(self.state, State::Inline(_)) {
            return Err(self.failure());
        }
        match &mut self.state {
            State::Inline(w) => Ok(w),
            _ => unreachable!("checked above"),
        }
    }

    /// Sends what is gathered, waits for the thread to write everything, and returns the writer
    /// with the outcome: `Ok` only if every byte was written to it.
    pub fn finish(mut self) -> Outcome<W> {
        let pending = std::mem::take(&mut self.pending);
        match std::mem::replace(&mut self.state, State::Done) {
            State::Inline(mut w) => {
                let result = w.write_all(&pending).and_then(|()| w.flush());
                (w, result)
            }
            State::Thread { queue, handle, .. } => {
                let sent = pending.is_empty() || queue.send(pending).is_ok();
                drop(queue);
                let (w, result) = join(handle);
                match result {
                    Ok(()) if !sent => (w, Err(io::Error::other(ENDED_EARLY))),
                    other => (w, other),
                }
            }
            State::Failed(w, kind, msg) => (w, Err(io::Error::new(kind, msg))),
            State::Done => unreachable!("finish consumes the writer"),
        }
    }

    /// Hands the gathered chunk to the thread (starting it the first time).
    fn hand_off(&mut self) -> io::Result<()> {
        if let State::Inline(_) = self.state {
            let State::Inline(w) = std::mem::replace(&mut self.state, State::Done) else {
                unreachable!("matched above")
            };
            self.state = match start(w, self.name) {
                Ok(thread) => thread,
                Err((mut w, e)) => {
                    // No thread to be had: send this chunk ourselves, as an unpipelined writer would.
                    debug!("no {} thread ({e}); writing inline", self.name);
                    let sent = w.write_all(&self.pending);
                    self.pending.clear();
                    return match sent {
                        Ok(()) => {
                            self.state = State::Inline(w);
                            Ok(())
                        }
                        Err(e) => {
                            self.state = State::Failed(w, e.kind(), e.to_string());
                            Err(e)
                        }
                    };
                }
            };
        }
        let State::Thread { queue, spare, .. } = &mut self.state else {
            return Err(self.failure());
        };
        let next = spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let chunk = std::mem::replace(&mut self.pending, next);
        if queue.send(chunk).is_ok() {
            return Ok(());
        }
        // The thread stopped: it failed. Take its writer and error back.
        let State::Thread { handle, .. } = std::mem::replace(&mut self.state, State::Done) else {
            unreachable!("matched above")
        };
        let (w, result) = join(handle);
        let e = result
            .err()
            .unwrap_or_else(|| io::Error::other(ENDED_EARLY));
        self.state = State::Failed(w, e.kind(), e.to_string());
        Err(e)
    }

    /// The error of a failed writer, again (every later write fails the same way).
    fn failure(&self) -> io::Error {
        match &self.state {
            State::Failed(_, kind, msg) => io::Error::new(*kind, msg.clone()),
            _ => io::Error::other("writer already finished"),
        }
    }
}

/// Starts the sending thread; without one, the writer comes back with the reason.
fn start<W: Write + Send + 'static>(w: W, name: &str) -> Result<State<W>, (W, io::Error)> {
    let (queue, chunks) = mpsc::sync_channel::<Vec<u8>>(DEPTH);
    let (give_back, spare) = mpsc::channel::<Vec<u8>>();
    // The writer travels to the thread through a slot, so a failed spawn can hand it back.
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(w)));
    let theirs = std::sync::Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut w = lock(&theirs)
                .take()
                .expect("the writer is handed over once");
            for mut chunk in chunks {
                if let Err(e) = w.write_all(&chunk) {
                    return (w, Err(e));
                }
                chunk.clear();
                let _ = give_back.send(chunk);
            }
            let result = w.flush();
            (w, result)
        });
    match spawned {
        Ok(handle) => Ok(State::Thread {
            queue,
            spare,
            handle,
        }),
        Err(e) => {
            let w = lock(&slot).take().expect("the thread never ran");
            Err((w, e))
        }
    }
}

fn join<W>(handle: JoinHandle<Outcome<W>>) -> Outcome<W> {
    match handle.join() {
        Ok(outcome) => outcome,
        // The thread only runs `write_all`; a panic there is a bug in the writer itself.
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

impl<W: Write + Send + 'static> Write for WriterThread<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if matches!(self.state, State::Failed(..) | State::Done) {
            return Err(self.failure());
        }
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(CHUNK);
        }
        let n = buf.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == CHUNK {
            self.hand_off()?;
        }
        Ok(n)
    }

    /// Nothing to do: the bytes are on their way, and `finish` is what waits for them.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records what reached it; fails after `fail_after` bytes.
    #[derive(Clone, Debug)]
    struct Sink {
        got: Arc<Mutex<Vec<u8>>>,
        fail_after: usize,
        writes: Arc<Mutex<usize>>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut got = self.got.lock().unwrap();
            if got.len() + buf.len() > self.fail_after {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "server gone"));
            }
            got.extend_from_slice(buf);
            *self.writes.lock().unwrap() += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn sink(fail_after: usize) -> Sink {
        Sink {
            got: Arc::default(),
            fail_after,
            writes: Arc::default(),
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    #[test]
    fn a_large_upload_arrives_whole_and_in_order() {
        let s = sink(usize::MAX);
        let data = pattern(5 * CHUNK + 12345);
        let mut p = WriterThread::new(s.clone(), "test");
        for piece in data.chunks(128 << 10) {
            p.write_all(piece).unwrap();
        }
        let (_, result) = p.finish();
        result.unwrap();
        assert_eq!(*s.got.lock().unwrap(), data);
    }

    #[test]
    fn a_small_upload_starts_no_thread_and_goes_out_in_one_write() {
        let s = sink(usize::MAX);
        let mut p = WriterThread::new(s.clone(), "test");
        p.write_all(b"hello ").unwrap();
        p.write_all(b"world").unwrap();
        assert!(matches!(p.state, State::Inline(_)));
        assert!(
            s.got.lock().unwrap().is_empty(),
            "nothing is sent before finish"
        );
        p.finish().1.unwrap();
        assert_eq!(*s.got.lock().unwrap(), b"hello world");
        assert_eq!(*s.writes.lock().unwrap(), 1);
    }

    #[test]
    fn a_failure_reaches_a_later_write_and_finish_and_gives_the_writer_back() {
        let s = sink(2 * CHUNK);
        let mut p = WriterThread::new(s.clone(), "test");
        let data = pattern(CHUNK);
        let mut failed = None;
        for i in 0..(DEPTH + 8) {
            if let Err(e) = p.write_all(&data) {
                failed = Some((i, e));
                break;
            }
        }
        let (i, e) = failed.expect("a write after the failure returns it");
        assert!(i >= 2, "the first two chunks fit");
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        // Every later write fails the same way; finish returns the writer and the error.
        assert_eq!(
            p.write_all(b"x").unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        let (w, result) = p.finish();
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(w.got.lock().unwrap().len(), 2 * CHUNK);
    }

    #[test]
    fn settle_writes_everything_so_far_and_the_writer_goes_on() {
        let s = sink(usize::MAX);
        let data = pattern(5 * CHUNK + 777);
        let mut p = WriterThread::new(s.clone(), "test");
        let (first, rest) = data.split_at(2 * CHUNK + 100);
        p.write_all(first).unwrap();
        assert_eq!(p.settle().unwrap().got.lock().unwrap().len(), first.len());
        assert!(matches!(p.state, State::Inline(_)), "the thread ended");
        p.write_all(rest).unwrap();
        p.finish().1.unwrap();
        assert_eq!(*s.got.lock().unwrap(), data);
        // A failure shows at the settle after it, and at every one after that.
        // (The second chunk is the one that fails: the thread is alive when it is handed over.)
        let mut p = WriterThread::new(sink(CHUNK + 10), "test");
        p.write_all(&pattern(2 * CHUNK)).unwrap();
        assert_eq!(p.settle().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(p.settle().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert!(p.write_all(b"x").is_err());
    }

    #[test]
    fn a_failure_in_the_last_chunk_reaches_finish() {
        let s = sink(CHUNK + 10);
        let mut p = WriterThread::new(s.clone(), "test");
        p.write_all(&pattern(CHUNK + 100)).unwrap();
        let (_, result) = p.finish();
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(s.got.lock().unwrap().len(), CHUNK);
    }
}
