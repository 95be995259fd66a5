//! A background upload without holding the file (`-o writeback`): under the file's lock, a copy of
//! its content is taken (a new spool file, made with `copy_file_range`: cheap next to an upload);
//! the upload of that copy runs with the lock released, so programs read, write, rename and delete
//! the file meanwhile; then, under the lock again, the file is marked saved only if nothing changed
//! since the copy was taken. A rename made meanwhile is done on the server too, an unlink removes
//! what was just uploaded, and a change leaves the file pending for the next upload.

use log::{debug, warn};

use super::super::spool::{local, Spool};
use super::{Body, Committed, FileState, Partial, Uploader};
use crate::error::{FsError, FsResult};
use crate::remote::RemoteStore;

/// A file's content as it was when its background upload began.
pub struct Snapshot {
    /// Where the content goes (the file's name then).
    pub path: String,
    /// The content; `None` for an empty file.
    spool: Option<Spool>,
    partial: Option<Partial>,
    version: u64,
}

impl<S: RemoteStore> Uploader<'_, S> {
    /// Takes a copy of `st`'s unsaved content; `None` when there is nothing to upload, or when the
    /// content is not local (a stream, which only `commit` can end).
    pub fn snapshot(&self, st: &mut FileState) -> FsResult<Option<Snapshot>> {
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        if st.unlinked || !st.is_dirty() {
            return Ok(None);
        }
        let spool = match &st.body {
            Body::Spool { spool, .. } => Some(spool.duplicate(self.cache_dir).map_err(local)?),
            Body::Empty => None,
            Body::Remote | Body::Stream(_) => return Ok(None),
        };
        if self.atomic && st.on_server && st.pending_mode.is_none() {
            // An atomic upload replaces the file with one of the server's default mode.
            st.pending_mode = st.keep_mode;
        }
        Ok(Some(Snapshot {
            path: st.path.clone(),
            spool,
            partial: st.partial.take(),
            version: st.version,
        }))
    }

    /// Uploads a snapshot: one attempt (the background queue tries again after a pause).
    pub fn upload_snapshot(&self, snap: &Snapshot) -> FsResult<()> {
        let Some(spool) = &snap.spool else {
            return self.upload_empty(&snap.path);
        };
        match &snap.partial {
            Some(p) => self.attempts(&p.dest, &snap.path, spool, Some(p.valid)),
            None => self.upload(&snap.path, spool),
        }
    }

    /// After the upload of `snap`: the state is saved if it did not change meanwhile (then the
    /// pending time and mode are set, and what changed on the server is returned); a rename or an
    /// unlink made meanwhile is carried out on the server.
    pub fn settle(&self, st: &mut FileState, snap: Snapshot) -> FsResult<Option<Committed>> {
        if st.unlinked {
            // Deleted while it was uploading: what was just stored goes too.
            debug!("{}: deleted during its upload; removing it", snap.path);
            let _ = self.store.remove(&snap.path);
            return Ok(None);
        }
        if st.path != snap.path {
            debug!("{}: renamed to {} during its upload", snap.path, st.path);
            if let Err(e) = self.place(&snap.path, &st.path) {
                // The content stays pending, for an upload under the new name.
                warn!(
                    "{}: the rename to {} failed ({e}); uploading again",
                    snap.path, st.path
                );
                let _ = self.store.remove(&snap.path);
                return Err(FsError::from(e));
            }
        }
        st.on_server = true;
        if st.version != snap.version {
            // Changed meanwhile: the newer content stays pending.
            return Ok(None);
        }
        match &mut st.body {
            Body::Spool { dirty, .. } => *dirty = false,
            Body::Empty => st.body = Body::Remote,
            Body::Remote | Body::Stream(_) => {}
        }
        Ok(Some(self.apply_pending(st)))
    }
}
