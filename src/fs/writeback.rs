//! `-o writeback`: a writer's `close` returns once the file's data is in its spool and synced to
//! the local disk; the upload runs later, here, on worker threads over the pool, many files at
//! once. This module owns the queue of files waiting for their upload and the workers' loop: an
//! upload that fails is tried again with a growing pause and never dropped; an unlinked file is
//! simply forgotten. `fsync` still uploads at once (and waits), and the unmount waits for the
//! queue (bounded, `files.rs`).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::write::FileState;
use super::FtpFs;
use crate::remote::RemoteStore;
use crate::sync::lock;

/// The first pause before a failed upload goes again, doubled each time up to `LONGEST_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(60);

/// A file waiting for its upload.
struct Item {
    state: Arc<Mutex<FileState>>,
    due: Instant,
    failures: u32,
}

#[derive(Default)]
struct Inner {
    items: VecDeque<Item>,
    /// Uploads running now.
    busy: usize,
    stop: bool,
}

/// The queue of files whose upload waits (see the module doc).
#[derive(Default)]
pub struct Queue {
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl Queue {
    /// Queues `state` for an upload now, unless it waits already.
    pub fn push(&self, state: &Arc<Mutex<FileState>>) {
        let mut q = lock(&self.inner);
        if q.items.iter().any(|i| Arc::ptr_eq(&i.state, state)) {
            return;
        }
        q.items.push_back(Item {
            state: Arc::clone(state),
            due: Instant::now(),
            failures: 0,
        });
        self.changed.notify_one();
    }

    /// Files queued or uploading now.
    pub fn len(&self) -> usize {
        let q = lock(&self.inner);
        q.items.len() + q.busy
    }

    /// Waits until nothing is queued or uploading, at most until `deadline`; true if so.
    pub fn drained(&self, deadline: Instant) -> bool {
        let mut q = lock(&self.inner);
        loop {
            if q.items.is_empty() && q.busy == 0 {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            q = self
                .changed
                .wait_timeout(q, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Ends the workers (after the upload each runs).
    pub fn stop(&self) {
        lock(&self.inner).stop = true;
        self.changed.notify_all();
    }

    /// The next file whose time has come; `None` once stopped.
    fn next(&self) -> Option<Item> {
        let mut q = lock(&self.inner);
        loop {
            if q.stop {
                return None;
            }
            let now = Instant::now();
            let soonest = q
                .items
                .iter()
                .enumerate()
                .min_by_key(|(_, i)| i.due)
                .map(|(n, i)| (n, i.due));
            let wait = match soonest {
                Some((n, due)) if due <= now => {
                    q.busy += 1;
                    return q.items.remove(n);
                }
                Some((_, due)) => due - now,
                None => Duration::from_secs(3600),
            };
            q = self
                .changed
                .wait_timeout(q, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// An upload ended; a failed one comes back after its pause.
    fn done(&self, again: Option<Item>) {
        let mut q = lock(&self.inner);
        q.busy -= 1;
        if let Some(item) = again {
            q.items.push_back(item);
        }
        self.changed.notify_all();
    }
}

impl<S: RemoteStore> FtpFs<S> {
    /// Starts `workers` threads that upload what `close` left to the queue (`-o writeback`).
    pub fn start_writeback(self: &Arc<Self>, workers: usize) -> std::io::Result<()> {
        for n in 0..workers {
            let fs = Arc::clone(self);
            std::thread::Builder::new()
                .name(format!("ftpfs-writeback-{n}"))
                .spawn(move || fs.writeback_worker())?;
        }
        Ok(())
    }

    fn writeback_worker(&self) {
        while let Some(mut item) = self.writeback.next() {
            let path = lock(&item.state).path.clone();
            let again = match self.upload_pending(&item.state) {
                Ok(()) => {
                    debug!("{path}: uploaded in the background");
                    None
                }
                Err(e) => {
                    let pause = FIRST_PAUSE
                        .saturating_mul(1 << item.failures.min(6))
                        .min(LONGEST_PAUSE);
                    item.failures += 1;
                    warn!(
                        "{path}: upload failed ({e}); the data stays in the spool and goes again \
                         in {pause:?} (attempt {})",
                        item.failures + 1
                    );
                    item.due = Instant::now() + pause;
                    Some(item)
                }
            };
            self.writeback.done(again);
        }
    }
}
