//! What the core tells about itself for `.ftpfs-stats` and the log at unmount: the store's
//! counters, the caches' hit rates, the files whose data the server does not have yet (and how many
//! bytes they hold), the errors returned to programs; and the `.ftpfs-stats` file that shows it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::write::OpenMode;
use super::{FtpFs, Handle, Opened, Writing, STATS_FILE, STATS_PATH};
use crate::error::{FsError, FsResult};
use crate::remote::{EntryKind, RemoteEntry, RemoteStore};
use crate::stats::{HitRate, Report};
use crate::sync::lock;

impl<S: RemoteStore> FtpFs<S> {
    /// Everything the mount can tell about itself now.
    pub fn report(&self) -> Report {
        let rate = |(hits, misses)| HitRate { hits, misses };
        let states: Vec<Writing> = lock(&self.writing).values().cloned().collect();
        // A state locked right now is moving data to the server: pending too (its size from the
        // view, which never waits).
        let mut uploads_pending = 0;
        let mut pending_bytes = 0;
        for w in &states {
            if w.state.try_lock().map_or(true, |st| st.is_dirty()) {
                uploads_pending += 1;
                pending_bytes += lock(&w.view).size;
            }
        }
        Report {
            store: self.store.stats(),
            listings: rate(self.dirs.stats()),
            blocks: rate(self.blocks.stats()),
            block_bytes: (self.blocks.bytes(), self.cfg.cache_size),
            uploads_pending,
            pending_bytes,
            errors: lock(&self.errors).iter().map(|(k, n)| (*k, *n)).collect(),
        }
    }

    /// The statistics file's entry, sized as its content would be now.
    pub(super) fn stats_entry(&self) -> RemoteEntry {
        RemoteEntry {
            name: STATS_FILE.to_string(),
            kind: EntryKind::File,
            size: self.report().render().len() as u64,
            mtime: SystemTime::now(),
            perm: Some(0o444),
            link_target: None,
        }
    }

    /// Refuses any change to the statistics file.
    pub(super) fn not_stats(path: &str) -> FsResult<()> {
        if path == STATS_PATH {
            return Err(FsError::PermissionDenied);
        }
        Ok(())
    }

    /// A handle on the statistics file: a snapshot, read without the page cache so that every
    /// open shows the figures of that moment.
    pub(super) fn open_stats(&self, ino: u64, mode: OpenMode, path: Arc<str>) -> FsResult<Opened> {
        if mode.write {
            return Err(FsError::PermissionDenied);
        }
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        let h = Handle {
            stats: Some(self.report().render().into_bytes()),
            ino,
            mode,
            path,
            state: None,
            reader: Mutex::new(None),
        };
        lock(&self.files).insert(fh, Arc::new(h));
        Ok(Opened {
            fh,
            keep_cache: false,
            direct_io: true,
        })
    }
}
