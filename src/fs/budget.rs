//! How much local disk the copies of uploads in flight may take (`spool_max=`, `spool_min_free=`),
//! and how long an upload whose link broke goes on trying (`upload_retry=`).
//!
//! A file streamed to the server keeps what it sent in a local copy until the server confirmed
//! the whole upload, so that a broken link costs nothing: the upload resumes from the copy. The
//! copies of all uploads together stay under `spool_max`, and none grows while the cache disk has
//! less than `spool_min_free` left: a large copy must not fill the disk that other programs (or
//! the spools of files changed at random offsets) need. Past either bound an upload streams
//! without a copy, as it did before copies existed, and says so in the log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use log::info;

/// The free space is asked again each time a copy has grown by this much (a `statvfs` per write
/// would cost a system call for every 128 KiB the kernel hands us).
const CHECK_EVERY: u64 = 16 << 20;

/// The bounds of the spool and of retries, shared by every upload of a mount.
#[derive(Debug)]
pub struct Budget {
    held: AtomicU64,
    max: u64,
    min_free: u64,
    dir: PathBuf,
    /// How long an upload whose link broke keeps trying (each attempt bounded by the timeout).
    pub retry: Duration,
}

impl Budget {
    pub fn new(dir: &Path, max: u64, min_free: u64, retry: Duration) -> Budget {
        Budget {
            held: AtomicU64::new(0),
            max,
            min_free,
            dir: dir.to_path_buf(),
            retry,
        }
    }

    /// Bytes held by all copies now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Whether `n` more bytes fit within both bounds now (for a spool that is not an upload's copy
    /// but must stay within the same limits: `write/hold.rs`).
    pub fn has_room(&self, n: u64) -> bool {
        self.held().saturating_add(n) <= self.max
            && self
                .free_disk()
                .is_none_or(|free| free >= self.min_free.saturating_add(n))
    }

    fn free_disk(&self) -> Option<u64> {
        // The cache directory may not exist before the first spool file: its parent tells.
        let probe = self
            .dir
            .ancestors()
            .find(|p| p.exists())
            .unwrap_or(Path::new("/"));
        let st = nix::sys::statvfs::statvfs(probe).ok()?;
        Some(st.blocks_available() as u64 * st.fragment_size() as u64)
    }
}

/// What one upload's copy holds of the budget; given back when dropped.
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Reservation {
    pub fn new(budget: &Arc<Budget>) -> Reservation {
        Reservation {
            budget: Arc::clone(budget),
            bytes: 0,
        }
    }

    /// Takes `n` more bytes for `what`; false (and a log line saying why) past a bound.
    pub fn grow(&mut self, n: u64, what: &str) -> bool {
        let b = &self.budget;
        let before = b.held.fetch_add(n, Ordering::Relaxed);
        if before + n > b.max {
            b.held.fetch_sub(n, Ordering::Relaxed);
            info!(
                "{what}: the local copies of uploads in flight would pass spool_max ({} MiB); \
                 the rest streams without one, so a broken link now fails this upload",
                b.max >> 20
            );
            return false;
        }
        let crossed = (self.bytes + n) / CHECK_EVERY != self.bytes / CHECK_EVERY;
        if crossed || self.bytes == 0 {
            if let Some(free) = b.free_disk() {
                if free < b.min_free.saturating_add(n) {
                    b.held.fetch_sub(n, Ordering::Relaxed);
                    info!(
                        "{what}: {} has {} MiB free, under spool_min_free ({} MiB); the rest \
                         streams without a local copy, so a broken link now fails this upload",
                        b.dir.display(),
                        free >> 20,
                        b.min_free >> 20
                    );
                    return false;
                }
            }
        }
        self.bytes += n;
        true
    }

    /// Gives back all it held (the copy was dropped or became a spool of its own).
    pub fn release(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::Relaxed);
        self.bytes = 0;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(max: u64, min_free: u64) -> Arc<Budget> {
        let dir = tempfile::tempdir().unwrap();
        Arc::new(Budget::new(dir.path(), max, min_free, Duration::ZERO))
    }

    #[test]
    fn copies_share_the_bound_and_give_back_when_dropped() {
        let b = budget(100, 0);
        let mut one = Reservation::new(&b);
        let mut two = Reservation::new(&b);
        assert!(one.grow(60, "one"));
        assert!(!two.grow(50, "two"), "60 + 50 is past 100");
        assert_eq!(b.held(), 60);
        assert!(two.grow(40, "two"));
        assert_eq!(b.held(), 100);
        drop(one);
        assert_eq!(b.held(), 40);
        two.release();
        assert_eq!(b.held(), 0);
        drop(two);
        assert_eq!(b.held(), 0, "released twice would underflow");
    }

    #[test]
    fn a_disk_under_the_floor_takes_no_copy() {
        let b = budget(u64::MAX, u64::MAX / 2);
        let mut r = Reservation::new(&b);
        assert!(!r.grow(1, "x"), "no disk here has 8 EiB free");
        assert_eq!(b.held(), 0);
        let roomy = budget(u64::MAX, 0);
        assert!(Reservation::new(&roomy).grow(1 << 20, "x"));
    }
}
