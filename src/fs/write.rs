//! The write path of one file: `FileState` holds what a program wrote that the server does not have
//! yet, and `Uploader` moves it there with no silent loss (whole-file moves are in `upload`).
//!
//! A file written from offset 0 onwards (new, or truncated to 0) is streamed to `STOR` as the program
//! writes; a write-only program continuing at the end of an existing file streams to `APPE`. Any
//! other pattern (a seek back, `O_RDWR`, truncation to a non-zero size) moves the content into a
//! `Spool` seeded from the server, uploaded whole when the file is closed or synced. By default an
//! upload goes to a hidden temporary name in the same directory and is renamed over the target only
//! after the server's 226 and a size check, so a failed upload never leaves a truncated file under
//! the real name. A spool whose upload failed stays dirty and is uploaded again at the next
//! close/fsync; nothing here deletes data a program wrote. A stream from offset 0 keeps a local
//! copy of what it sent until the server confirmed it, within the spool's bounds (`budget.rs`): a
//! read of the file while it is written is answered from the copy, and a seek back turns the
//! stream into a spool made of the copy, so data goes to the server once and never comes back. A
//! stream whose link breaks while its copy holds all it sent goes on in a spool made of the copy,
//! and the close resumes the upload where the server's part of it ends (`Partial`; one whose end
//! breaks resumes the same way), trying for `upload_retry`; past the spool's bounds, once a stream
//! breaks, every later write, truncate, flush and fsync of its handles returns the error.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use log::{debug, info, warn};

use super::budget::Budget;
use super::dropbox::DropBoxes;
use super::spool::{local, Spool};
use super::writers::Writers;

mod hold;
mod snapshot;
mod stream;

use crate::caller;
use crate::error::{FsError, FsResult};
use crate::remote::RemoteStore;
use crate::sync::lock;
pub use snapshot::Snapshot;
use stream::{Bytes, Upload};

/// How a file handle was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenMode {
    pub read: bool,
    pub write: bool,
    pub append: bool,
}

impl OpenMode {
    pub const READ: OpenMode = OpenMode {
        read: true,
        write: false,
        append: false,
    };
    pub const WRITE: OpenMode = OpenMode {
        read: false,
        write: true,
        append: false,
    };
    pub const READ_WRITE: OpenMode = OpenMode {
        read: true,
        write: true,
        append: false,
    };
    pub const APPEND: OpenMode = OpenMode {
        read: false,
        write: true,
        append: true,
    };
}

/// Where the current content of a file is.
enum Body {
    /// On the server, unchanged by us.
    Remote,
    /// Empty, and the server does not know yet (a new file, or one truncated to 0).
    Empty,
    /// Being streamed to the server: the content is exactly what was sent so far.
    Stream(Upload),
    /// In a local spool; `dirty` until the server confirmed an upload of it.
    Spool { spool: Spool, dirty: bool },
}

/// The first bytes of a file's content, already on the server under `dest` (a temporary name, or
/// the name itself): left by an upload whose link broke, for the next upload to resume from.
pub(super) struct Partial {
    pub dest: String,
    /// How many leading bytes of the content are known to be what was sent to `dest` (a write or
    /// a truncation since then below this lowers it).
    pub valid: u64,
}

/// What the kernel should see of a file being written, readable without waiting for an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub size: u64,
    pub mtime: SystemTime,
    /// Permission bits waiting for the upload (`chmod` or the mode of `open(O_CREAT)`).
    pub perm: Option<u16>,
}

/// The write state of one file, shared by all its open handles.
pub struct FileState {
    /// The file's path (follows renames).
    pub path: String,
    body: Body,
    size: u64,
    mtime: SystemTime,
    /// The server has a file under `path` (false for a file created here and not yet uploaded).
    pub on_server: bool,
    /// Unlinked or renamed over: keep serving open handles, upload nothing.
    pub unlinked: bool,
    /// Attributes set while the data was not yet on the server, applied after the upload.
    pending_mtime: Option<SystemTime>,
    pending_mode: Option<u32>,
    /// The mode the file had on the server: an atomic upload replaces the file with a new one that
    /// has the server's default mode, so this is set again afterwards (an edited script stays
    /// executable).
    pub keep_mode: Option<u32>,
    /// Open handles on this state.
    pub handles: usize,
    /// A streamed upload broke: its data is gone. Every later write, truncate, flush and fsync
    /// of the handles on this state fails with this error, until the last one closes. Told
    /// once only (to whichever flush came first: often a child's close of an inherited copy of
    /// the descriptor), the writer would carry on into a file that lost its beginning.
    failed: Option<FsError>,
    /// An upload of this content that broke part way, to resume (see `Partial`).
    pub(super) partial: Option<Partial>,
    /// Counts changes (data, size, times, mode): a background upload of a snapshot settles the
    /// state only if nothing changed since (`snapshot.rs`).
    version: u64,
    /// The server's file when this state began (size, time): a crash recovery uploads over it only
    /// if it is still so (`journal.rs`). `None` for a file created here.
    pub base: Option<(u64, SystemTime)>,
    /// The record of this file's pending upload in the writeback journal, and the `version` it
    /// recorded (a close with no change since records nothing new).
    pub journal_id: Option<(u64, u64)>,
    /// Who opened the file for writing or wrote to it: only their closes upload (`writers`).
    writers: Writers,
    view: Arc<Mutex<View>>,
}

/// What an upload changed on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub size: u64,
    /// When the data uploaded was last changed here (the server's time is the upload's).
    pub written: SystemTime,
    /// The modification time set after the upload, if the server took one.
    pub mtime: Option<SystemTime>,
    /// The mode set after the upload, if the server took one.
    pub mode: Option<u32>,
}

impl FileState {
    /// The state of a file the server has, `size` bytes modified at `mtime`.
    pub fn existing(path: &str, size: u64, mtime: SystemTime) -> FileState {
        FileState::with(path, Body::Remote, size, mtime, true)
    }

    /// A file created here: empty and not on the server yet.
    pub fn created(path: &str) -> FileState {
        FileState::with(path, Body::Empty, 0, SystemTime::now(), false)
    }

    fn with(path: &str, body: Body, size: u64, mtime: SystemTime, on_server: bool) -> FileState {
        FileState {
            path: path.to_string(),
            body,
            size,
            mtime,
            on_server,
            unlinked: false,
            pending_mtime: None,
            pending_mode: None,
            keep_mode: None,
            handles: 0,
            failed: None,
            partial: None,
            version: 0,
            base: on_server.then_some((size, mtime)),
            journal_id: None,
            writers: Writers::default(),
            view: Arc::new(Mutex::new(View {
                size,
                mtime,
                perm: None,
            })),
        }
    }

    /// The attributes as seen from outside, shared so `getattr` never waits for an upload.
    pub fn view(&self) -> Arc<Mutex<View>> {
        Arc::clone(&self.view)
    }

    fn publish(&mut self) {
        *lock(&self.view) = View {
            size: self.size,
            mtime: self.mtime,
            perm: self.pending_mode.map(|m| (m & 0o7777) as u16),
        };
    }

    /// The content changed from byte `at` on: a partial upload holds only what came before.
    fn changed_from(&mut self, at: u64) {
        if let Some(p) = &mut self.partial {
            p.valid = p.valid.min(at);
        }
    }

    fn touched(&mut self) {
        self.mtime = self.pending_mtime.unwrap_or_else(SystemTime::now);
        self.version += 1;
        self.publish();
    }

    /// Counts the changes made to the file (see `version`).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The local file holding the content, if it is in a spool.
    pub fn spool_path(&self) -> Option<&std::path::Path> {
        match &self.body {
            Body::Spool { spool, .. } => Some(spool.path()),
            _ => None,
        }
    }

    /// True while the server lacks something a program wrote and that can still be uploaded.
    pub fn is_dirty(&self) -> bool {
        match &self.body {
            Body::Remote => false,
            Body::Empty | Body::Stream(_) => true,
            Body::Spool { dirty, .. } => *dirty,
        }
    }

    /// Records that thread `tid` (`None`: unknown) opened this file for writing or writes to it.
    pub fn add_writer(&mut self, tid: Option<u32>) {
        self.writers.add(tid, caller::process_of);
    }

    /// Whether a close by thread `tid` may be one of this file's writers'.
    pub fn may_be_writer(&self, tid: Option<u32>) -> bool {
        self.writers.may_include(tid, caller::process_of)
    }

    /// True once a streamed upload broke: the handles on this state only return its error.
    pub fn is_broken(&self) -> bool {
        self.failed.is_some()
    }

    /// Records a time to set; applied after the upload if data is still on its way.
    pub fn defer_mtime(&mut self, t: SystemTime) {
        self.pending_mtime = Some(t);
        self.mtime = t;
        self.version += 1;
        self.publish();
    }

    /// The server took a time set while nothing waits to be uploaded (the file is closed, its
    /// handle not yet released): the attributes show it from now on, as the server does. A write
    /// that came meanwhile keeps its own, later time.
    pub fn mtime_set(&mut self, t: SystemTime) {
        if self.is_dirty() {
            return;
        }
        self.mtime = t;
        self.publish();
    }

    /// Records a mode to set after the upload.
    pub fn defer_mode(&mut self, mode: u32) {
        self.pending_mode = Some(mode);
        self.version += 1;
        self.publish();
    }

    /// Keeps a dirty spool on disk for good (at unmount, when it could not be uploaded).
    pub fn abandon(&mut self) -> Option<std::path::PathBuf> {
        match std::mem::replace(&mut self.body, Body::Remote) {
            Body::Spool { spool, dirty: true } => match spool.keep(&self.path) {
                Ok(kept) => Some(kept),
                Err(e) => {
                    warn!("could not keep the unsaved data of {}: {e}", self.path);
                    None
                }
            },
            other => {
                self.body = other;
                None
            }
        }
    }
}

/// Moves data between file states and the server.
pub struct Uploader<'a, S: RemoteStore> {
    pub store: &'a S,
    pub cache_dir: &'a Path,
    /// Upload to a temporary name and rename (the default), or straight to the target.
    pub atomic: bool,
    /// Directories whose uploads go straight to their names (`dropbox.rs`).
    pub drop_boxes: &'a DropBoxes,
    /// The bounds of upload copies and of retries.
    pub budget: &'a Arc<Budget>,
    /// `-o writeback`: nothing streams; every write goes to the spool, uploaded after the close.
    pub writeback: bool,
    /// How long an upload whose link broke keeps trying (`upload_retry`; none for background
    /// uploads, whose queue tries again itself).
    pub retry: std::time::Duration,
}

impl<S: RemoteStore> Uploader<'_, S> {
    /// Writes `data` at `offset` for a handle opened as `mode`.
    pub fn write(
        &self,
        st: &mut FileState,
        mode: OpenMode,
        offset: u64,
        data: &[u8],
    ) -> FsResult<()> {
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        enum Step {
            Stream { append: bool },
            ToSpool,
            Seed,
            Go,
        }
        // Only a write-only handle streams: one that may read back needs the content at hand.
        // With writeback the content must be at hand after the close: nothing streams.
        let streams = !mode.read && !self.writeback;
        let step = match &st.body {
            Body::Empty if streams => Step::Stream { append: false },
            Body::Remote if streams && offset == 0 && st.size == 0 => {
                Step::Stream { append: false }
            }
            // APPE only onto a file the server has (never to re-create one whose upload broke).
            Body::Remote if streams && st.on_server && offset == st.size => {
                Step::Stream { append: true }
            }
            Body::Remote | Body::Empty => Step::Seed,
            Body::Stream(up) if offset < up.end() => Step::ToSpool,
            Body::Stream(_) | Body::Spool { .. } => Step::Go,
        };
        match step {
            Step::Stream { append } => self.start_stream(st, append)?,
            Step::ToSpool => self.stream_to_spool(st)?,
            Step::Seed => self.seed_spool(st)?,
            Step::Go => {}
        }
        match &mut st.body {
            Body::Stream(up) => {
                if offset > up.end() {
                    let gap = offset - up.end();
                    self.send(st, Bytes::Zeros(gap))?;
                }
                self.send(st, Bytes::Data(data))?;
            }
            Body::Spool { spool, dirty } => {
                spool.write_at(offset, data).map_err(local)?;
                *dirty = true;
                st.changed_from(offset);
            }
            Body::Remote | Body::Empty => unreachable!("a stream or a spool was set up above"),
        }
        st.size = st.size.max(offset + data.len() as u64);
        st.touched();
        Ok(())
    }

    /// Sets the file's size to `len` (truncate or extend with zeros).
    pub fn truncate(&self, st: &mut FileState, len: u64) -> FsResult<()> {
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        match &st.body {
            _ if len == st.size && !matches!(st.body, Body::Spool { .. }) => {}
            Body::Remote | Body::Stream(_) if len == 0 => {
                self.drop_stream(st);
                st.body = Body::Empty;
            }
            Body::Stream(up) if len > up.end() => {
                let gap = len - up.end();
                self.send(st, Bytes::Zeros(gap))?;
            }
            Body::Empty if len == 0 => {}
            _ => {
                match st.body {
                    Body::Stream(_) => self.stream_to_spool(st)?,
                    Body::Remote | Body::Empty => self.seed_spool(st)?,
                    Body::Spool { .. } => {}
                }
                if let Body::Spool { spool, dirty } = &mut st.body {
                    spool.set_len(len).map_err(local)?;
                    *dirty = true;
                }
                st.changed_from(len);
            }
        }
        st.size = len;
        st.touched();
        Ok(())
    }

    /// Reads from the local content; `None` means the server has it (read through the block cache).
    pub fn read(&self, st: &mut FileState, offset: u64, size: u32) -> FsResult<Option<Vec<u8>>> {
        if let Body::Stream(up @ Upload { copy: Some(_), .. }) = &mut st.body {
            let copy = up.copy.as_mut().expect("matched above");
            match copy.read_at(offset, size) {
                Ok(bytes) => return Ok(Some(bytes)),
                Err(e) => {
                    // Read as if there were no copy (below).
                    info!("the local copy of {} ends: {e}", st.path);
                    up.drop_copy();
                }
            }
        }
        if matches!(st.body, Body::Stream(_)) {
            self.stream_to_spool(st)?;
        }
        match &st.body {
            Body::Remote => Ok(None),
            Body::Empty => Ok(Some(Vec::new())),
            Body::Spool { spool, .. } => spool.read_at(offset, size).map(Some).map_err(local),
            Body::Stream(_) => unreachable!("turned into a spool above"),
        }
    }

    /// `-o writeback`'s close: makes what was written safe on the local disk (`sync`; else the
    /// journal's record does it), for an upload later. Returns false where the content is not
    /// local (a stream: it must end now, with `commit`).
    pub fn keep_locally(&self, st: &mut FileState, sync: bool) -> FsResult<bool> {
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        match &st.body {
            Body::Spool { spool, .. } if sync => spool.sync().map_err(local).map(|()| true),
            Body::Spool { .. } => Ok(true),
            Body::Remote | Body::Empty => Ok(true),
            Body::Stream(_) => Ok(false),
        }
    }

    /// Makes the server hold what was written (close, fsync, unmount). Returns what changed there,
    /// or `None` if nothing had to be sent. On error the data stays (spool) for the next attempt.
    pub fn commit(&self, st: &mut FileState) -> FsResult<Option<Committed>> {
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        if st.unlinked {
            self.drop_stream(st);
            if let Some(p) = st.partial.take() {
                self.discard_partial(&p, &st.path);
            }
            return Ok(None);
        }
        let replaces = self.atomic
            && st.on_server
            && !matches!(&st.body, Body::Stream(up) if up.append)
            && st.is_dirty();
        if replaces && st.pending_mode.is_none() {
            st.pending_mode = st.keep_mode;
        }
        match std::mem::replace(&mut st.body, Body::Remote) {
            Body::Remote => return Ok(None),
            Body::Empty => {
                if let Err(e) = self.upload_empty(&st.path) {
                    st.body = Body::Empty;
                    return Err(e);
                }
            }
            Body::Stream(up) => {
                self.finish_stream(st, up)?;
            }
            Body::Spool { spool, dirty } => {
                if dirty {
                    let result = self.upload_resuming(st, &spool);
                    let ok = result.is_ok();
                    st.body = Body::Spool { spool, dirty: !ok };
                    result?;
                } else {
                    st.body = Body::Spool { spool, dirty };
                    return Ok(None);
                }
            }
        }
        st.on_server = true;
        if let Some(p) = st.partial.take() {
            // Content that replaced the broken upload's (a truncation to nothing): not needed.
            self.discard_partial(&p, &st.path);
        }
        Ok(Some(self.apply_pending(st)))
    }

    /// Sets the attributes that waited for the data. The server may lack the commands; then the
    /// change is not recorded, as docs/semantics.md says.
    fn apply_pending(&self, st: &mut FileState) -> Committed {
        let mut done = Committed {
            size: st.size,
            written: st.mtime,
            mtime: None,
            mode: None,
        };
        if let Some(mode) = st.pending_mode.take() {
            match self.store.chmod(&st.path, mode) {
                Ok(()) => done.mode = Some(mode),
                Err(e) => debug!("mode of {} not recorded: {e}", st.path),
            }
        }
        if let Some(t) = st.pending_mtime.take() {
            match self.store.set_mtime(&st.path, t) {
                Ok(()) => done.mtime = Some(t),
                Err(e) => debug!("time of {} not recorded: {e}", st.path),
            }
        }
        done
    }
}
