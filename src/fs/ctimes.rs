//! Change times. FTP servers give no `ctime` (and a directory's `mtime` only in its parent's
//! listing, which our own changes inside it do not refresh), so the core remembers, by path, when
//! a change was last made through the mount: `changed` for the file's own attributes or data
//! (chmod, utimens, truncate, rename), `entries_changed` for a directory that gained or lost an
//! entry (which moves its mtime too, as POSIX says). An attribute shows the later of what the
//! server says and what we remember, so a change made by another client still shows once listed.
//! Without a remembered change, ctime is the mtime. The memory is bounded (an LRU of paths): a
//! forgotten path falls back to the server's times, which is what a fresh mount would show.
//! Access times have no FTP command at all: one set through the mount (`touch -a`, `utimensat`)
//! is remembered here the same way, and otherwise the atime shows the mtime (reads do not move
//! it, as with `noatime`).
//!
//! A directory's modification time set through the mount (`touch`, `tar x`, `rsync -t`) where the
//! server refuses it (vsftpd answers 550 to MDTM and MFMT on a directory) is remembered too, with
//! the moment it was set: it is shown while the server's listing gives the directory a time no
//! later than that moment (plus a second, for the servers' whole seconds and clocks), so a change
//! made there afterwards by another client shows again, as does an entry added or removed through
//! the mount (which moves the mtime to that moment, as on any file system).

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use lru::LruCache;

use crate::sync::lock;

/// How many paths' change times are remembered.
const REMEMBERED: usize = 100_000;

/// A server's time for a directory up to this much after the moment we set its time is taken as
/// the same state (times in whole seconds, clocks a little apart), not as a later change.
const SAME_STATE: Duration = Duration::from_secs(1);

/// When a path was last changed through the mount.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    ctime: SystemTime,
    /// Set for directories whose entries changed: their mtime moved with the ctime.
    mtime: Option<SystemTime>,
    /// The access time set through the mount.
    atime: Option<SystemTime>,
    /// A directory mtime set through the mount that the server would not take, and when.
    set_mtime: Option<(SystemTime, SystemTime)>,
}

/// A path's times as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Times {
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
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
        let old = stamps.peek(path).copied();
        stamps.put(
            path.to_string(),
            Stamp {
                ctime: now,
                mtime: old.and_then(|s| s.mtime),
                atime: old.and_then(|s| s.atime),
                set_mtime: old.and_then(|s| s.set_mtime),
            },
        );
    }

    /// `path`'s access time was set to `t` now (which changes its ctime).
    pub(super) fn set_atime(&self, path: &str, t: SystemTime) {
        self.changed(path);
        if let Some(s) = lock(&self.stamps).get_mut(path) {
            s.atime = Some(t);
        }
    }

    /// Directory `path`'s mtime was set to `t` now, and the server would not take it.
    pub(super) fn set_dir_mtime(&self, path: &str, t: SystemTime) {
        self.changed(path);
        if let Some(s) = lock(&self.stamps).get_mut(path) {
            s.set_mtime = Some((t, s.ctime));
        }
    }

    /// Directory `path` gained or lost an entry now: its mtime and ctime move.
    pub(super) fn entries_changed(&self, path: &str) {
        let now = SystemTime::now();
        let mut stamps = lock(&self.stamps);
        let atime = stamps.peek(path).and_then(|s| s.atime);
        stamps.put(
            path.to_string(),
            Stamp {
                ctime: now,
                mtime: Some(now),
                atime,
                set_mtime: None,
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
        let old = stamps.pop(from);
        let stamp = Stamp {
            ctime: SystemTime::now(),
            mtime: old.and_then(|s| s.mtime),
            atime: old.and_then(|s| s.atime),
            set_mtime: old.and_then(|s| s.set_mtime),
        };
        stamps.put(to.to_string(), stamp);
    }

    /// The times of `path` given the `mtime` the server or the write state shows.
    pub(super) fn times(&self, path: &str, mtime: SystemTime) -> Times {
        match lock(&self.stamps).peek(path) {
            None => Times {
                atime: mtime,
                mtime,
                ctime: mtime,
            },
            Some(s) => {
                let mtime = match s.set_mtime {
                    Some((t, at)) if mtime <= at + SAME_STATE => t,
                    _ => s.mtime.map_or(mtime, |m| m.max(mtime)),
                };
                Times {
                    atime: s.atime.unwrap_or(mtime),
                    mtime,
                    ctime: s.ctime.max(mtime),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_is_the_mtime_until_a_change_and_never_before_it() {
        let c = ChangeTimes::new();
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let plain = |t| Times {
            atime: t,
            mtime: t,
            ctime: t,
        };
        assert_eq!(c.times("/f", old), plain(old));
        c.changed("/f");
        let t = c.times("/f", old);
        assert_eq!(t.mtime, old, "a chmod does not move the mtime");
        assert!(t.ctime > old);
        let later = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(
            c.times("/f", later),
            plain(later),
            "a later server mtime wins"
        );
        c.set_atime("/f", old - Duration::from_secs(5));
        assert_eq!(c.times("/f", old).atime, old - Duration::from_secs(5));
        c.entries_changed("/d");
        let t = c.times("/d", old);
        assert!(t.mtime > old && t.ctime == t.mtime);
        c.renamed("/d", "/e");
        assert_eq!(c.times("/d", old), plain(old));
        assert!(
            c.times("/e", old).mtime > old,
            "the directory keeps its moved mtime"
        );
        c.forget("/e");
        assert_eq!(c.times("/e", old), plain(old));
    }
}
