//! A stream: an upload fed by a file's writes as they come (`STOR` from offset 0, `APPE` at the
//! end), with the local copy of what it sent, its end (the server's 226, the size check, the
//! rename, and a drop box's fallback to the real name), and its turning into a spool when the
//! program seeks back or reads. `write` decides when a stream starts; this module runs it.

use std::path::Path;

use log::{debug, info, warn};

use super::super::budget::Reservation;
use super::super::dropbox::refused;
use super::super::spool::{local, Spool, StreamCopy};
use super::super::upload::uninterrupted;
use super::{Body, FileState, Partial, Uploader};
use crate::error::{FsError, FsResult};
use crate::remote::{RemoteStore, RemoteWrite};

/// An upload in progress.
pub(super) struct Upload {
    pub(super) writer: Box<dyn RemoteWrite>,
    /// Where the bytes go: a temporary name, or the target itself (`APPE`, `atomic_upload=no`).
    pub(super) dest: String,
    /// The file's size on the server before an `APPE`; 0 for `STOR`.
    pub(super) base: u64,
    pub(super) sent: u64,
    pub(super) append: bool,
    /// What was sent, kept locally (a stream from offset 0, within the spool's bounds:
    /// `budget.rs`) until the server confirmed the upload: a broken link resumes from it.
    pub(super) copy: Option<StreamCopy>,
    /// The copy's share of those bounds.
    pub(super) reserved: Reservation,
}

impl Upload {
    pub(super) fn end(&self) -> u64 {
        self.base + self.sent
    }

    /// Adds `chunk`, just sent after `sent` bytes, to the local copy of `path` (a spool file in
    /// `cache_dir` once it outgrows memory); past the spool's bounds (or if the cache disk fails)
    /// the copy is dropped.
    pub(super) fn keep_copy(&mut self, chunk: &[u8], cache_dir: &Path, path: &str) {
        let Some(copy) = self.copy.as_mut() else {
            return;
        };
        let kept = if self.reserved.grow(chunk.len() as u64, path) {
            copy.append(chunk, cache_dir).map(|()| true)
        } else {
            Ok(false)
        };
        match kept {
            Ok(true) => {}
            Ok(false) => self.drop_copy(),
            Err(e) => {
                info!("the local copy of {path} ends: {e}");
                self.drop_copy();
            }
        }
    }

    pub(super) fn drop_copy(&mut self) {
        self.copy = None;
        self.reserved.release();
    }
}

/// A stream's local copy, once every byte handed to it is written; none if it could not be.
fn settled(copy: Option<StreamCopy>, path: &str) -> Option<StreamCopy> {
    let mut copy = copy?;
    match copy.settle() {
        Ok(()) => Some(copy),
        Err(e) => {
            info!("the local copy of {path} ends: {e}");
            None
        }
    }
}

impl<S: RemoteStore> Uploader<'_, S> {
    pub(super) fn start_stream(&self, st: &mut FileState, append: bool) -> FsResult<()> {
        let mut dest = if append {
            st.path.clone()
        } else {
            self.dest_for(&st.path)
        };
        let mut opened = uninterrupted(|| self.store.open_write(&dest, append));
        if let Err(e) = &opened {
            let e = FsError::from(e.clone());
            if dest != st.path && refused(&e) {
                // A drop box that takes no temporary names: straight to the name, from now on.
                self.drop_boxes.go_direct(&st.path, &e);
                self.discard(&dest);
                dest = st.path.clone();
                opened = uninterrupted(|| self.store.open_write(&dest, append));
            }
        }
        let writer = match opened {
            Ok(w) => w,
            Err(e)
                if append
                    && !matches!(
                        FsError::from(e.clone()),
                        FsError::NoSpace | FsError::PermissionDenied
                    ) =>
            {
                // Some servers refuse APPE by default (ProFTPD without AllowStoreRestart: "451
                // ...: Append/Restart not permitted, try again"). Nothing was sent yet, so append
                // as any other pattern does: on a local copy of the file, uploaded whole.
                info!("{dest}: APPE refused ({e}); appending through a local copy");
                return self.seed_spool(st);
            }
            Err(e) => {
                // Like a break mid-stream: this session's changes are lost, and the close says so
                // (rather than uploading the truncated file that was the starting point).
                let e = FsError::from(e);
                self.broken(st, dest, append, e.clone());
                return Err(e);
            }
        };
        let copy = (!append).then(StreamCopy::new);
        st.body = Body::Stream(Upload {
            writer,
            dest,
            base: if append { st.size } else { 0 },
            sent: 0,
            append,
            copy,
            reserved: Reservation::new(self.budget),
        });
        Ok(())
    }

    /// Sends bytes on the stream. A link failure while the local copy holds everything sent turns
    /// the stream into a spool made of the copy (nothing is lost, the write succeeds); any other
    /// failure ends the upload, and its data is gone (it was streamed, never spooled): the error
    /// goes to this write and to the next flush.
    pub(super) fn send(&self, st: &mut FileState, data: Bytes<'_>) -> FsResult<()> {
        let Body::Stream(up) = &mut st.body else {
            unreachable!("send is only called on a stream")
        };
        let start = up.sent;
        let mut result = Ok(());
        data.each(&mut |chunk| {
            if result.is_ok() {
                result = up.writer.write(chunk).map_err(FsError::from);
                if result.is_ok() {
                    up.keep_copy(chunk, self.cache_dir, &st.path);
                    up.sent += chunk.len() as u64;
                }
            }
        });
        if let Err(e) = result {
            let Body::Stream(mut up) = std::mem::replace(&mut st.body, Body::Remote) else {
                unreachable!()
            };
            let copy = settled(up.copy.take(), &st.path).filter(|c| c.held() == up.sent);
            if let (FsError::Io(_), false, Some(copy)) = (&e, up.append, copy) {
                // The link failed, but everything sent so far is in the local copy: the file
                // goes on in a spool made of it, and the close resumes the upload where the
                // server's copy ends (`upload.rs`). The program never knew.
                warn!(
                    "upload of {}: {e} after {start} bytes; going on in a local copy, to \
                     resume at close",
                    st.path
                );
                let _ = uninterrupted(|| up.writer.finish());
                match spool_with(copy, self.cache_dir, start, data) {
                    Ok(spool) => {
                        st.partial = Some(Partial {
                            dest: up.dest.clone(),
                            valid: start,
                        });
                        st.body = Body::Spool { spool, dirty: true };
                        return Ok(());
                    }
                    Err(io) => {
                        let io = local(io);
                        self.broken(st, up.dest, up.append, io.clone());
                        return Err(io);
                    }
                }
            }
            // The server's closing reply often says why (452/552: no room): prefer its reason.
            let verdict = uninterrupted(|| up.writer.finish())
                .err()
                .map(FsError::from);
            let e = match verdict {
                Some(v @ (FsError::NoSpace | FsError::PermissionDenied)) => v,
                _ => e,
            };
            self.broken(st, up.dest, up.append, e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// After a broken stream: remove the partial temporary file, remember the failure.
    pub(super) fn broken(&self, st: &mut FileState, dest: String, append: bool, e: FsError) {
        warn!("upload of {} failed: {e}", st.path);
        if dest != st.path {
            self.discard(&dest);
        }
        // What the server has is unchanged (or, after APPE, unknown): nothing here is left to
        // upload. A new file that never reached the server vanishes when its handles close.
        let _ = append;
        st.body = Body::Remote;
        st.failed = Some(e);
    }

    /// Abandons a stream in progress (the file was truncated to 0 or unlinked).
    pub(super) fn drop_stream(&self, st: &mut FileState) {
        if !matches!(st.body, Body::Stream(_)) {
            return;
        }
        if let Body::Stream(up) = std::mem::replace(&mut st.body, Body::Empty) {
            let _ = uninterrupted(|| up.writer.finish());
            if up.dest != st.path {
                self.discard(&up.dest);
            }
        }
    }

    /// Ends a stream: the server's 226, the size check, the rename over the target. Where the
    /// server refuses the temporary name or its rename (a drop box), the stream's local copy goes
    /// again straight to the name.
    pub(super) fn finish_stream(&self, st: &mut FileState, mut up: Upload) -> FsResult<()> {
        let expected = up.end();
        let (dest, append) = (up.dest.clone(), up.append);
        let copy = up.copy.take();
        let mut whole_there = false;
        let result = uninterrupted(|| {
            up.writer
                .finish()
                .map_err(FsError::from)
                .and_then(|stored| self.verify(&dest, expected, stored.size))
                .and_then(|()| {
                    whole_there = true;
                    self.place(&dest, &st.path).map_err(FsError::from)
                })
        });
        let e = match result {
            Ok(()) => {
                st.size = expected;
                if let Some(copy) = copy {
                    copy.discard();
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let copy = match settled(copy, &st.path) {
            Some(copy) if matches!(e, FsError::Io(_)) && copy.held() == expected => {
                // The link failed at the end (a reset, a data connection the server gave up on
                // after the bytes went, a lost rename): the whole file is in the copy, so the
                // upload resumes from it where the server's copy ends instead of being lost.
                warn!("upload of {} again from its local copy: {e}", st.path);
                st.partial = Some(Partial {
                    dest: dest.clone(),
                    valid: expected,
                });
                return self.again_from_copy(st, copy, expected, append, false);
            }
            other => other,
        };
        if dest != st.path && refused(&e) {
            if let Some(copy) = copy {
                self.drop_boxes.go_direct(&st.path, &e);
                self.discard(&dest);
                return self.again_from_copy(st, copy, expected, append, true);
            }
            if whole_there {
                // Streamed data is not kept locally beyond the copy's bound, but the server
                // holds all of it: left where it is, and said where.
                warn!(
                    "upload of {}: the whole file is on the server as {dest}, which could not \
                     be renamed ({e}); it is left there",
                    st.path
                );
                st.body = Body::Remote;
                st.failed = Some(e.clone());
                return Err(e);
            }
        }
        // Streamed data is not kept locally: the data is gone.
        self.broken(st, dest, append, e.clone());
        Err(e)
    }

    /// Uploads a stream's local copy (the whole file) as a spool: straight to the name where
    /// `direct` (a drop box), else the ordinary way. On failure the copy stays as the file's
    /// content, dirty, for the next close or fsync: nothing is lost.
    fn again_from_copy(
        &self,
        st: &mut FileState,
        copy: StreamCopy,
        expected: u64,
        append: bool,
        direct: bool,
    ) -> FsResult<()> {
        let spool = match copy.into_spool(self.cache_dir) {
            Ok(spool) => spool,
            Err(io) => {
                let io = local(io);
                self.broken(st, st.path.clone(), append, io.clone());
                return Err(io);
            }
        };
        let again = if direct {
            self.upload_as(&st.path, &st.path, &spool)
        } else {
            self.upload_resuming(st, &spool)
        };
        if again.is_ok() {
            st.size = expected;
        }
        st.body = Body::Spool {
            spool,
            dirty: again.is_err(),
        };
        again
    }

    /// Turns a stream into a spool (a seek back, a read, a shrink): the stream's local copy
    /// becomes the spool and the upload so far is ended (its temporary name removed); without a
    /// copy, the upload so far is finished and downloaded into a spool. The target is left alone.
    pub(super) fn stream_to_spool(&self, st: &mut FileState) -> FsResult<()> {
        let Body::Stream(mut up) = std::mem::replace(&mut st.body, Body::Remote) else {
            return Ok(());
        };
        if let Some(copy) = settled(up.copy.take(), &st.path) {
            // The copy is the content now: what reached the server only needs an end. (A cache
            // disk that cannot take the copy fails the stream with that error, said at once.)
            let spool = match copy.into_spool(self.cache_dir) {
                Ok(spool) => spool,
                Err(e) => {
                    let e = local(e);
                    self.broken(st, up.dest.clone(), up.append, e.clone());
                    drop(up);
                    return Err(e);
                }
            };
            let ended = uninterrupted(|| up.writer.finish());
            if let Err(e) = &ended {
                debug!("ending the upload of {} before a rewrite: {e}", st.path);
            }
            if up.dest != st.path {
                self.discard(&up.dest);
            } else if ended.is_ok() {
                st.on_server = true;
            }
            st.body = Body::Spool { spool, dirty: true };
            return Ok(());
        }
        let expected = up.end();
        let (dest, append) = (up.dest.clone(), up.append);
        let result = uninterrupted(|| {
            up.writer
                .finish()
                .map_err(FsError::from)
                .and_then(|stored| self.verify(&dest, expected, stored.size))
        })
        .and_then(|()| self.download(&dest, expected));
        match result {
            Ok(spool) => {
                if dest != st.path {
                    self.discard(&dest);
                } else {
                    st.on_server = true;
                }
                st.body = Body::Spool { spool, dirty: true };
                Ok(())
            }
            Err(e) => {
                self.broken(st, dest, append, e.clone());
                Err(e)
            }
        }
    }

    /// Brings the server's content into a new spool, so it can be changed anywhere.
    pub(super) fn seed_spool(&self, st: &mut FileState) -> FsResult<()> {
        let spool = match st.body {
            // Unlinked, its content not kept (`write/hold.rs`): the server's file of that name, if
            // any, is another file now.
            Body::Remote if st.unlinked => return Err(FsError::NotFound),
            Body::Remote if st.on_server && st.size > 0 => self.download(&st.path, st.size)?,
            _ => Spool::new(self.cache_dir).map_err(local)?,
        };
        let dirty = !matches!(st.body, Body::Remote);
        st.body = Body::Spool { spool, dirty };
        Ok(())
    }
}

/// A stream's local copy as a spool, with `data` written at `at` (where the failed send began).
fn spool_with(copy: StreamCopy, dir: &Path, at: u64, data: Bytes<'_>) -> std::io::Result<Spool> {
    let mut spool = copy.into_spool(dir)?;
    let mut offset = at;
    let mut result = Ok(());
    data.each(&mut |chunk| {
        if result.is_ok() {
            result = spool.write_at(offset, chunk);
            offset += chunk.len() as u64;
        }
    });
    result.map(|()| spool)
}

/// Bytes to send: a program's data, or a run of zeros (a hole before a write).
#[derive(Clone, Copy)]
pub(super) enum Bytes<'a> {
    Data(&'a [u8]),
    Zeros(u64),
}

impl Bytes<'_> {
    pub(super) fn each(self, f: &mut dyn FnMut(&[u8])) {
        match self {
            Bytes::Data(d) => f(d),
            Bytes::Zeros(mut left) => {
                let block = [0u8; 64 << 10];
                while left > 0 {
                    let n = left.min(block.len() as u64) as usize;
                    f(&block[..n]);
                    left -= n as u64;
                }
            }
        }
    }
}
