//! Keeps the writeback journal (`journal.rs`) in step with the names of files whose upload is
//! pending. A rename through the mount that moves such files (or a directory holding them)
//! rewrites their records under the new names, and an unlink (or a rename over one) removes its
//! record, durably before the call returns: otherwise a crash between the rename and the file's
//! next close would make the next mount upload the data under the old name, or bring back a file
//! that was deleted. One `syncfs` covers every record a call changed, as at a close.

use std::sync::{Arc, Mutex};

use log::warn;

use super::write::FileState;
use super::FtpFs;
use crate::remote::RemoteStore;
use crate::sync::lock;

impl<S: RemoteStore> FtpFs<S> {
    /// The write states in `moved` are now called by the paths beside them. Each state's record
    /// is rewritten under its lock, so a background upload that ends meanwhile (and forgets the
    /// record under the same lock) never sees it come back. Returns whether a record changed (to
    /// `sync_journal` once the whole rename is recorded).
    pub(super) fn rename_states(&self, moved: Vec<(Arc<Mutex<FileState>>, String)>) -> bool {
        let mut rewritten = false;
        for (state, new) in moved {
            let mut st = lock(&state);
            st.path = new;
            let (Some(j), Some((id, _))) = (&self.journal, st.journal_id) else {
                continue;
            };
            match j.moved(id, &st.path) {
                Ok(()) => rewritten = true,
                Err(e) => warn!(
                    "{}: renamed, but its record in the writeback journal still has the old name \
                     ({e}); a crash before its upload would upload it under that name",
                    st.path
                ),
            }
        }
        rewritten
    }

    /// `st`'s file is gone (unlinked, or renamed over): it uploads nothing, so its record goes.
    /// Returns whether there was one (to `sync_journal`).
    pub(super) fn drop_record(&self, st: &mut FileState) -> bool {
        st.unlinked = true;
        let Some((id, _)) = st.journal_id.take() else {
            return false;
        };
        if let Some(j) = &self.journal {
            j.forget(id);
        }
        true
    }

    /// Makes the journal's changes durable: one `syncfs` for all the records a call changed.
    pub(super) fn sync_journal(&self) {
        if let Some(j) = &self.journal {
            if let Err(e) = j.sync() {
                warn!("the writeback journal could not be synced ({e}): a crash now may lose its last changes");
            }
        }
    }
}
