//! What an open file keeps when its name goes: before an unlink deletes the file on the server
//! (`DELE`), the content its open handles will go on reading and writing is made local
//! (`orphans.rs` says why and for how long).

use super::{Body, FileState, Uploader};
use crate::error::FsResult;
use crate::remote::RemoteStore;

impl<S: RemoteStore> Uploader<'_, S> {
    /// Makes the file's content local, in a spool, before its name is deleted on the server.
    /// Content that is only on the server (or only there and in a stream without a local copy) is
    /// downloaded, but only if it fits the spool's bounds (`spool_max`, `spool_min_free`): an
    /// unlink must not fill the cache disk, nor wait for an unbounded download. Returns whether
    /// the content is local now; if not, the handles on the file answer ENOENT from now on, as
    /// they did before this existed.
    pub fn hold_locally(&self, st: &mut FileState) -> FsResult<bool> {
        let fits = self.budget.has_room(st.size);
        match &st.body {
            Body::Spool { .. } | Body::Empty => Ok(true),
            Body::Stream(up) if up.copy.is_some() || fits => {
                self.stream_to_spool(st)?;
                Ok(true)
            }
            Body::Remote if fits => {
                self.seed_spool(st)?;
                Ok(true)
            }
            Body::Stream(_) | Body::Remote => Ok(false),
        }
    }
}
