//! The core's file-content operations: create, write, flush/fsync (where uploads happen and their
//! errors reach the program), release, setattr (truncate, times, mode), and the last attempt at
//! unmount. The data path itself is `write.rs`; this module wires it to handles and keeps the caches
//! in step with what we changed.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use log::{debug, info, warn};

use super::write::{Committed, FileState, OpenMode, Uploader};
use super::{lock, name_of, parent_of, Attr, FtpFs, Opened, Writing};
use crate::caller;
use crate::error::{FsError, FsResult};
use crate::remote::{EntryKind, RemoteEntry, RemoteError, RemoteStore};

/// The permissions most servers give a new file (umask 022); a create asking for them needs no
/// `SITE CHMOD`.
pub const DEFAULT_FILE_PERM: u32 = 0o644;

/// What `setattr` was asked to change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub size: Option<u64>,
    pub mtime: Option<SystemTime>,
    /// Kept by the mount only: FTP has no access times.
    pub atime: Option<SystemTime>,
    pub mode: Option<u32>,
    /// uid/gid changes: FTP cannot record them; accepted so `cp -a`/`rsync -a` as root carry on.
    pub owner: bool,
}

impl<S: RemoteStore> FtpFs<S> {
    pub(super) fn uploader(&self) -> Uploader<'_, S> {
        Uploader {
            store: &self.store,
            cache_dir: &self.cfg.cache_dir,
            atomic: self.cfg.atomic_upload,
            drop_boxes: &self.drop_boxes,
            budget: &self.budget,
            writeback: self.cfg.writeback,
            retry: self.cfg.upload_retry,
        }
    }

    /// Creates file `name` in `parent` and opens it, with the server's default permissions. The
    /// file exists here at once (lookups and listings show it) and on the server from its first
    /// close or fsync.
    pub fn create(
        &self,
        parent: u64,
        name: &std::ffi::OsStr,
        mode: OpenMode,
        exclusive: bool,
    ) -> FsResult<(Attr, Opened)> {
        self.create_with_perm(parent, name, mode, exclusive, DEFAULT_FILE_PERM)
    }

    /// `create`, with the permission bits `open(O_CREAT, perm)` asked for (after the umask): set
    /// on the server after the upload (`SITE CHMOD`) unless they are the usual default, 0644,
    /// which costs no round trip. So `tar x`, `git checkout` and `cp` keep scripts executable.
    pub fn create_with_perm(
        &self,
        parent: u64,
        name: &std::ffi::OsStr,
        mode: OpenMode,
        exclusive: bool,
        perm: u32,
    ) -> FsResult<(Attr, Opened)> {
        let (dir, path) = self.new_name(parent, name)?;
        let name = name_of(&path);
        // A drop box the server will not list (`dropbox.rs`): the name is taken as absent.
        let listing = self.listed(&dir)?;
        let listed = listing.as_ref().and_then(|l| l.get(name));
        if let Some(existing) = self.with_own_changes(&path, listed) {
            if exclusive {
                return Err(FsError::Exists);
            }
            if existing.kind == EntryKind::Dir {
                return Err(FsError::IsDirectory);
            }
            // O_CREAT on an existing file (the kernel's negative entry was stale): a plain open.
            let ino = lock(&self.inodes).lookup(&path);
            let opened = self.open(ino, mode)?;
            return Ok((self.getattr(ino)?, opened));
        }
        let mut st = FileState::created(&path);
        if perm & 0o7777 != DEFAULT_FILE_PERM {
            st.defer_mode(perm & 0o7777);
        }
        let writing = Writing {
            view: st.view(),
            state: Arc::new(Mutex::new(st)),
        };
        {
            let mut st = lock(&writing.state);
            st.handles = 1;
            st.add_writer(caller::requester());
        }
        let state = Arc::clone(&writing.state);
        lock(&self.writing).insert(path.clone(), writing);
        self.ctimes.entries_changed(&dir);
        let ino = lock(&self.inodes).lookup(&path);
        let attr = self.getattr(ino)?;
        let fh = self.add_handle(ino, mode, path.into(), Some(state));
        Ok((
            attr,
            Opened {
                fh,
                keep_cache: false,
                direct_io: super::write_only(mode),
            },
        ))
    }

    fn write_state(&self, fh: u64) -> FsResult<(OpenMode, Arc<Mutex<FileState>>)> {
        let h = self.handle(fh)?;
        match (&h.state, h.mode.write) {
            (Some(st), true) => Ok((h.mode, Arc::clone(st))),
            _ => Err(FsError::BadHandle),
        }
    }

    /// Writes `data` at `offset`; returns how much was taken (all of it, or an error).
    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        let (mode, state) = self.write_state(fh)?;
        let mut st = lock(&state);
        st.add_writer(caller::requester());
        let result = self.uploader().write(&mut st, mode, offset, data);
        drop(st);
        if result.is_err() {
            self.detach_if_broken(&state);
        }
        result.map(|()| data.len() as u32)
    }

    /// A state whose stream broke goes on failing its own handles, but it is no longer the file's
    /// state: a new open starts from what the server has, and a new file that never reached the
    /// server is gone from listings at once.
    fn detach_if_broken(&self, state: &Arc<Mutex<FileState>>) {
        let path = {
            let st = lock(state);
            if !st.is_broken() {
                return;
            }
            st.path.clone()
        };
        self.unlist(&path, state);
    }

    /// A `close()` of the handle: the server confirms the data, or the program hears why not. A
    /// close by a process that neither opened the file for writing nor wrote to it (a child
    /// closing an inherited copy) leaves the upload to the writers' closes (`writers`).
    pub fn flush(&self, fh: u64) -> FsResult<()> {
        let h = self.handle(fh)?;
        let Some(st) = &h.state else {
            return Ok(());
        };
        let closer = caller::requester();
        if !lock(st).may_be_writer(closer) {
            debug!(
                "{}: closed by {closer:?}, not a writer: nothing uploaded",
                h.path
            );
            return Ok(());
        }
        if self.cfg.writeback {
            return self.leave_to_writeback(st);
        }
        self.commit(st)
    }

    /// `-o writeback`: the data is made safe locally and queued for a background upload
    /// (`writeback.rs`); the close returns at once.
    fn leave_to_writeback(&self, state: &Arc<Mutex<FileState>>) -> FsResult<()> {
        let mut st = lock(state);
        if !st.is_dirty() || st.unlinked {
            return Ok(());
        }
        if !self
            .uploader()
            .keep_locally(&mut st, self.journal.is_none())?
        {
            drop(st);
            return self.commit(state);
        }
        let recorded = st.journal_id.is_some_and(|(_, v)| v == st.version());
        if let (Some(j), false) = (&self.journal, recorded) {
            let spool = st.spool_path().map(Path::to_path_buf);
            let old = st.journal_id.map(|(id, _)| id);
            match j.record(&st.path, spool.as_deref(), st.base, old) {
                Ok(id) => st.journal_id = Some((id, st.version())),
                Err(e) => {
                    warn!(
                        "{}: not recorded in the writeback journal ({e}); a crash before its \
                         upload would leave its data only in the spool directory",
                        st.path
                    );
                    self.uploader().keep_locally(&mut st, true)?;
                }
            }
        }
        drop(st);
        self.writeback.push(state);
        Ok(())
    }

    /// The file's pending upload is done (or moot): its journal record goes.
    fn journal_done(&self, st: &mut FileState) {
        if let (Some(j), Some((id, _))) = (&self.journal, st.journal_id) {
            if !st.is_dirty() || st.unlinked {
                j.forget(id);
                st.journal_id = None;
            }
        }
    }

    /// A background upload of a file left to writeback, from a snapshot of its content so that
    /// the file stays usable meanwhile (`write/snapshot.rs`); once saved and closed, the file's
    /// state is forgotten. Changed during the upload, it goes back in the queue.
    pub(super) fn upload_pending(&self, state: &Arc<Mutex<FileState>>) -> FsResult<()> {
        let up = Uploader {
            retry: std::time::Duration::ZERO,
            ..self.uploader()
        };
        let snap = {
            let mut st = lock(state);
            match up.snapshot(&mut st) {
                Ok(Some(snap)) => snap,
                Ok(None) if st.is_dirty() && !st.unlinked => {
                    // Not local (a stream): only its own end can save it.
                    drop(st);
                    return self.commit(state);
                }
                Ok(None) => {
                    self.journal_done(&mut st);
                    drop(st);
                    self.forget_if_done(state);
                    return Ok(());
                }
                // A state that broke returned its error to its handles already.
                Err(_) if st.is_broken() => return Ok(()),
                Err(e) => return Err(e),
            }
        };
        up.upload_snapshot(&snap)?;
        let mut st = lock(state);
        let settled = up.settle(&mut st, snap);
        self.journal_done(&mut st);
        let (path, again) = (st.path.clone(), st.is_dirty() && !st.unlinked);
        drop(st);
        if let Some(c) = settled? {
            self.after_upload(&path, c);
        }
        if again {
            self.writeback.push(state);
        }
        self.forget_if_done(state);
        Ok(())
    }

    /// Drops `state` from the files being written (if it is still `path`'s).
    fn unlist(&self, path: &str, state: &Arc<Mutex<FileState>>) {
        let mut writing = lock(&self.writing);
        if writing
            .get(path)
            .is_some_and(|w| Arc::ptr_eq(&w.state, state))
        {
            writing.remove(path);
        }
    }

    /// Drops `state` from the files being written once it has no handles and nothing unsaved.
    fn forget_if_done(&self, state: &Arc<Mutex<FileState>>) {
        let path = {
            let st = lock(state);
            if st.handles > 0 || (st.is_dirty() && !st.unlinked) {
                return;
            }
            st.path.clone()
        };
        self.unlist(&path, state);
    }

    /// `fsync()`: the promise of a writer's close, to whoever asks.
    pub fn fsync(&self, fh: u64) -> FsResult<()> {
        let h = self.handle(fh)?;
        match &h.state {
            Some(st) => self.commit(st),
            None => Ok(()),
        }
    }

    fn commit(&self, state: &Arc<Mutex<FileState>>) -> FsResult<()> {
        let mut st = lock(state);
        let path = st.path.clone();
        let done = self.uploader().commit(&mut st);
        self.journal_done(&mut st);
        drop(st);
        match done {
            Ok(Some(c)) => {
                self.after_upload(&path, c);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                self.detach_if_broken(state);
                Err(e)
            }
        }
    }

    /// The server now holds `path` as `c` says: listings, blocks and kernel pages follow at once.
    pub(super) fn after_upload(&self, path: &str, c: Committed) {
        // The mtime of the last write, not of the upload a close made later: a stat between the
        // two must not see the time move (pjdfstest checks that failed changes move no time).
        // The server's time is the upload's; `set_times` keeps ours while its listing shows
        // one no more than a second later.
        let mtime = c.mtime.unwrap_or(c.written);
        let name = name_of(path).to_string();
        self.dirs
            .modify(parent_of(path), |listing| match listing.get_mut(&name) {
                Some(e) => {
                    e.kind = EntryKind::File;
                    e.size = c.size;
                    e.mtime = mtime;
                    if let Some(m) = c.mode {
                        e.perm = Some((m & 0o7777) as u16);
                    }
                }
                None => listing.upsert(RemoteEntry {
                    name: name.clone(),
                    kind: EntryKind::File,
                    size: c.size,
                    mtime,
                    perm: c.mode.map(|m| (m & 0o7777) as u16),
                    link_target: None,
                }),
            });
        self.blocks.invalidate(path, false);
        lock(&self.inodes).changed(path);
        let mut times = lock(&self.set_times);
        times.put(path.to_string(), (mtime, c.size));
    }

    /// The kernel closed handle `fh` for good.
    pub fn release(&self, fh: u64) {
        let Some(h) = lock(&self.files).remove(&fh) else {
            return;
        };
        self.orphan_closed(h.ino);
        let Some(state) = &h.state else {
            return;
        };
        let mut st = lock(state);
        st.handles = st.handles.saturating_sub(1);
        if st.handles > 0 {
            return;
        }
        let path = st.path.clone();
        if st.is_dirty() && !st.unlinked && self.cfg.writeback {
            // Pending: the background upload forgets the state once it is done.
            drop(st);
            if let Err(e) = self.leave_to_writeback(state) {
                warn!("{path}: data not saved yet ({e}); it stays in the spool");
            }
            return;
        }
        if st.is_dirty() && !st.unlinked {
            drop(st);
            // Normally flush did this already; a handle released without one still uploads.
            match self.commit(state) {
                Ok(()) => {}
                Err(e) if lock(state).is_broken() => {
                    warn!("{path}: NOT saved on the server ({e}); what was streamed is lost");
                    return;
                }
                Err(e) => {
                    warn!("{path}: data not saved yet ({e}); it stays in the spool and is retried at the next close, fsync or unmount");
                    return;
                }
            }
            st = lock(state);
            if st.handles > 0 || st.is_dirty() {
                return;
            }
        }
        drop(st);
        self.unlist(&path, state);
    }

    /// Changes size, times or mode of `ino` (through handle `fh` if the kernel gave one).
    pub fn setattr(&self, ino: u64, fh: Option<u64>, change: SetAttr) -> FsResult<Attr> {
        let writes = change.size.is_some() || change.mtime.is_some() || change.mode.is_some();
        if writes && self.cfg.read_only {
            return Err(FsError::ReadOnly);
        }
        if let Some(done) = self.setattr_orphan(ino, change) {
            return done;
        }
        let path = self.path_of(ino)?;
        Self::not_stats(&path)?;
        if ino != super::ROOT_INO {
            self.entry(&path)?;
        }
        if let Some(size) = change.size {
            self.truncate(ino, &path, fh, size)?;
        }
        if let Some(t) = change.mtime {
            self.set_mtime(&path, t)?;
        }
        if let Some(mode) = change.mode {
            self.set_mode(&path, mode)?;
        }
        if change.owner {
            debug!("{path}: owner change accepted, not recorded (FTP has no chown)");
        }
        if writes || change.owner {
            self.ctimes.changed(&path);
        }
        if let Some(t) = change.atime {
            self.ctimes.set_atime(&path, t);
        }
        self.getattr(ino)
    }

    fn truncate(&self, ino: u64, path: &str, fh: Option<u64>, size: u64) -> FsResult<()> {
        let attr = self.getattr(ino)?;
        if attr.kind == EntryKind::Dir {
            return Err(FsError::IsDirectory);
        }
        let from_handle = fh
            .and_then(|fh| self.handle(fh).ok())
            .and_then(|h| h.state.clone());
        let state = match from_handle {
            Some(st) => st,
            None => self.writing_state(path, attr.size, attr.mtime),
        };
        let mut st = lock(&state);
        st.add_writer(caller::requester());
        if let Err(e) = self.uploader().truncate(&mut st, size) {
            drop(st);
            self.detach_if_broken(&state);
            return Err(e);
        }
        let unattended = st.handles == 0;
        drop(st);
        if unattended {
            // truncate(2) on a path with no open file: nobody will close it, so upload now.
            let result = self.commit(&state);
            if result.is_ok() {
                self.forget_if_done(&state);
            }
            return result;
        }
        Ok(())
    }

    fn set_mtime(&self, path: &str, t: SystemTime) -> FsResult<()> {
        let writing = lock(&self.writing).get(path).map(|w| Arc::clone(&w.state));
        if let Some(state) = &writing {
            let mut st = lock(state);
            if st.is_dirty() {
                // `cp -p` sets the time before close: apply it after the upload, or the upload
                // would overwrite it.
                st.defer_mtime(t);
                return Ok(());
            }
        }
        match self.store.set_mtime(path, t) {
            Ok(()) => {
                // Closed but not yet released (rsync sets the time right after close, and the
                // kernel's RELEASE may come later): the write state still answers getattr, and
                // the kernel keeps what this setattr answers.
                if let Some(state) = &writing {
                    lock(state).mtime_set(t);
                }
                let name = name_of(path).to_string();
                let mut size = 0;
                self.dirs.modify(parent_of(path), |listing| {
                    if let Some(e) = listing.get_mut(&name) {
                        e.mtime = t;
                        size = e.size;
                    }
                });
                if size == 0 {
                    size = self.entry(path).map_or(0, |e| e.size);
                }
                lock(&self.set_times).put(path.to_string(), (t, size));
                Ok(())
            }
            Err(RemoteError::Connection(m)) => Err(FsError::Io(m)),
            Err(e) if path == "/" || self.entry(path).is_ok_and(|e| e.kind == EntryKind::Dir) => {
                // Servers that set the times of files only (vsftpd): kept by the mount.
                debug!("{path}: directory time kept by the mount only ({e})");
                self.ctimes.set_dir_mtime(path, t);
                Ok(())
            }
            Err(e) => {
                debug!("{path}: time not recorded ({e})");
                Ok(())
            }
        }
    }

    fn set_mode(&self, path: &str, mode: u32) -> FsResult<()> {
        let writing = lock(&self.writing).get(path).map(|w| Arc::clone(&w.state));
        if let Some(state) = writing {
            let mut st = lock(&state);
            if st.is_dirty() {
                st.defer_mode(mode);
                return Ok(());
            }
        }
        match self.store.chmod(path, mode) {
            Ok(()) => {
                let name = name_of(path).to_string();
                self.dirs.modify(parent_of(path), |listing| {
                    if let Some(e) = listing.get_mut(&name) {
                        e.perm = Some((mode & 0o7777) as u16);
                    }
                });
                Ok(())
            }
            Err(RemoteError::Connection(m)) => Err(FsError::Io(m)),
            Err(e) => {
                debug!("{path}: mode not recorded ({e})");
                Ok(())
            }
        }
    }

    /// At unmount: one last upload of everything unsaved; what still fails is kept in the cache
    /// directory and named in the log. Returns how many files could not be saved.
    pub fn shutdown(&self) -> usize {
        if self.cfg.writeback {
            let queued = self.writeback.len();
            if queued > 0 {
                info!("unmount: waiting for {queued} pending upload(s)");
            }
            let deadline = std::time::Instant::now() + self.cfg.upload_retry;
            if !self.writeback.drained(deadline) {
                warn!(
                    "unmount: {} upload(s) still pending after {:?}",
                    self.writeback.len(),
                    self.cfg.upload_retry
                );
            }
            self.writeback.stop();
        }
        let pending: Vec<(String, Writing)> = lock(&self.writing)
            .iter()
            .map(|(p, w)| (p.clone(), w.clone()))
            .collect();
        let mut unsaved = 0;
        for (path, w) in pending {
            if !lock(&w.state).is_dirty() {
                continue;
            }
            match self.commit(&w.state) {
                Ok(()) => info!("{path}: saved at unmount"),
                Err(e) => {
                    unsaved += 1;
                    match lock(&w.state).abandon() {
                        Some(kept) => warn!(
                            "{path}: NOT saved on the server ({e}); the data is kept in {}",
                            kept.display()
                        ),
                        None => warn!("{path}: NOT saved on the server ({e})"),
                    }
                }
            }
        }
        unsaved
    }
}
