//! What the core tells about itself for `.ftpfs-stats` and the log at unmount: the store's
//! counters, the caches' hit rates, the files whose data the server does not have yet (and how many
//! bytes they hold), the errors returned to programs.

use super::{FtpFs, Writing};
use crate::remote::RemoteStore;
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
}
