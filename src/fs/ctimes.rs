//! Change times. FTP servers give no `ctime` (and a directory's `mtime` only in its parent's
//! listing, which our own changes inside it do not refresh), so the core remembers, by path, when
//! a change was last made through the mount: `changed` for the file's own attributes or data
//! (chmod, utimens, truncate, rename), `entries_changed` for a directory that gained or lost an
//! entry (which moves its mtime too, as POSIX says). An attribute shows the later of what the
//! server says and what we remember, so a change made by another client still shows once listed.
//! Without a remembered change, ctime is the mtime. The memory is bounded (an LRU of paths): a
//! forgotten path falls back to the server's times, which is what a fresh mount would show.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::SystemTime;

use lru::LruCache;

use crate::sync::lock;

/// How many paths' change times are remembered.
const REMEMBERED: usize = 100_000;

/// When a path was last changed through the mount.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    ctime: SystemTime,
    /// Set for directories whose entries changed: their mtime moved with the ctime.
    mtime: Option<SystemTime>,
}

pub(super) struct ChangeTimes {
    stamps: Mutex<LruCache<String, Stamp>>,
}

impl ChangeTimes {
    pub(super) fn new() -> ChangeTimes {
        ChangeTimes {
            stamps: Mutex::new(LruCache::new(
                NonZeroUsize::new(REMEMBERED).expect("non-zero"),
            )),
        }
    }

    /// `path`'s attributes or data changed now.
    pub(super) fn changed(&self, path: &str) {
        let now = SystemTime::now();
        let mut stamps = lock(&self.stamps);
        let mtime = stamps.peek(path).and_then(|s| s.mtime);
        stamps.put(path.to_string(), Stamp { ctime: now, mtime });
    }

    /// Directory `path` gained or lost an entry now: its mtime and ctime move.
    pub(super) fn entries_changed(&self, path: &str) {
        let now = SystemTime::now();
        lock(&self.stamps).put(
            path.to_string(),
            Stamp {
                ctime: now,
                mtime: Some(now),
            },
        );
    }

    /// `path` is gone.
    pub(super) fn forget(&self, path: &str) {
        lock(&self.stamps).pop(path);
    }

    /// `from` is now called `to` (a rename changes the renamed file's ctime, as Linux file
    /// systems do).
    pub(super) fn renamed(&self, from: &str, to: &str) {
        let mut stamps = lock(&self.stamps);
        let mtime = stamps.pop(from).and_then(|s| s.mtime);
        let ctime = SystemTime::now();
        stamps.put(to.to_string(), Stamp { ctime, mtime });
    }

    /// (mtime, ctime) of `path` given the `mtime` the server or the write state shows.
    pub(super) fn times(&self, path: &str, mtime: SystemTime) -> (SystemTime, SystemTime) {
        match lock(&self.stamps).peek(path) {
            None => (mtime, mtime),
            Some(s) => {
                let mtime = s.mtime.map_or(mtime, |m| m.max(mtime));
                (mtime, s.ctime.max(mtime))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ctime_is_the_mtime_until_a_change_and_never_before_it() {
        let c = ChangeTimes::new();
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(c.times("/f", old), (old, old));
        c.changed("/f");
        let (m, ct) = c.times("/f", old);
        assert_eq!(m, old, "a chmod does not move the mtime");
        assert!(ct > old);
        let later = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(
            c.times("/f", later),
            (later, later),
            "a later server mtime wins"
        );
        c.entries_changed("/d");
        let (m, ct) = c.times("/d", old);
        assert!(m > old && ct == m);
        c.renamed("/d", "/e");
        assert_eq!(c.times("/d", old), (old, old));
        assert!(
            c.times("/e", old).0 > old,
            "the directory keeps its moved mtime"
        );
        c.forget("/e");
        assert_eq!(c.times("/e", old), (old, old));
    }
}
