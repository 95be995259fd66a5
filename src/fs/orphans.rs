//! Files unlinked while open. POSIX keeps an unlinked file usable through the descriptors open on
//! it until the last one closes: `fstat` shows it with no links, reads and writes work on its
//! data. FTP deletes at once (`DELE`), so the content must be here before the name goes: what a
//! program wrote is in its spool already; content only on the server is downloaded into a spool
//! first, within the spool's bounds (`write/hold.rs`: a file too large for them is deleted all the
//! same, and its handles answer ENOENT). This module owns the table of such files by inode number
//! (the kernel asks for `fstat` by inode, and a new file may take the name meanwhile): their
//! write state, which is never uploaded again (`unlinked`), and the attributes shown. An entry goes
//! with the last handle on its inode, and its spool with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use log::{info, warn};

use super::write::{FileState, OpenMode};
use super::{lock, Attr, FtpFs, Opened, SetAttr, Writing};
use crate::cache::BLOCK_SIZE;
use crate::error::{FsError, FsResult};
use crate::remote::{EntryKind, RemoteEntry, RemoteStore};

/// A file unlinked while open.
struct Orphan {
    file: Writing,
    /// The mode the server listed (the write state knows only modes set through the mount).
    perm: Option<u16>,
    unlinked_at: SystemTime,
}

/// The files unlinked while open, by inode number.
#[derive(Default)]
pub(super) struct Orphans {
    by_ino: Mutex<HashMap<u64, Orphan>>,
}

impl Orphans {
    /// The write state of orphan `ino`, if it is one.
    pub(super) fn state(&self, ino: u64) -> Option<Arc<Mutex<FileState>>> {
        lock(&self.by_ino)
            .get(&ino)
            .map(|o| Arc::clone(&o.file.state))
    }
}

impl<S: RemoteStore> FtpFs<S> {
    /// Before `path` is unlinked: if handles are open on it, its content is made local and the
    /// file to keep is returned with its inode number (`adopt` keeps it once the name is gone).
    /// `writing` is the file's write state, if it has one; `listed` its entry on the server.
    pub(super) fn keep_if_open(
        &self,
        path: &str,
        listed: Option<&RemoteEntry>,
        writing: Option<&Writing>,
    ) -> Option<(u64, Writing, Option<u16>)> {
        let ino = lock(&self.inodes).ino_of(path)?;
        if !lock(&self.files).values().any(|h| h.ino == ino) {
            return None;
        }
        let file = match writing {
            Some(w) => w.clone(),
            None => {
                let e = listed.filter(|e| e.kind == EntryKind::File)?;
                let st = FileState::existing(path, e.size, e.mtime);
                Writing {
                    view: st.view(),
                    state: Arc::new(Mutex::new(st)),
                }
            }
        };
        match self.uploader().hold_locally(&mut lock(&file.state)) {
            Ok(true) => {}
            Ok(false) => info!(
                "{path}: unlinked while open, and too large to keep within the spool's bounds: \
                 its open handles answer ENOENT"
            ),
            Err(e) => warn!(
                "{path}: unlinked while open, and its content could not be kept ({e}): its open \
                 handles answer ENOENT"
            ),
        }
        Some((ino, file, listed.and_then(|e| e.perm)))
    }

    /// Keeps the file `keep_if_open` returned, now that its name is gone.
    pub(super) fn adopt(&self, (ino, file, perm): (u64, Writing, Option<u16>)) {
        lock(&file.state).unlinked = true;
        let orphan = Orphan {
            file,
            perm,
            unlinked_at: SystemTime::now(),
        };
        lock(&self.orphans.by_ino).insert(ino, orphan);
    }

    /// The attributes of orphan `ino`, if it is one: no links, the size and times of its data.
    pub(super) fn orphan_attr(&self, ino: u64) -> Option<Attr> {
        let orphans = lock(&self.orphans.by_ino);
        let o = orphans.get(&ino)?;
        let v = *lock(&o.file.view);
        Some(Attr {
            ino,
            kind: EntryKind::File,
            size: v.size,
            mtime: v.mtime,
            ctime: o.unlinked_at.max(v.mtime),
            atime: v.mtime,
            perm: self.shown_perm(EntryKind::File, v.perm.or(o.perm)),
            nlink: 0,
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            blksize: BLOCK_SIZE as u32,
        })
    }

    /// An open of orphan `ino` (through `/proc/PID/fd`), if it is one: a handle on its data.
    pub(super) fn open_orphan(&self, ino: u64, mode: OpenMode) -> Option<FsResult<Opened>> {
        let state = self.orphans.state(ino)?;
        if mode.write && self.cfg.read_only {
            return Some(Err(FsError::ReadOnly));
        }
        let path = {
            let mut st = lock(&state);
            st.handles += 1;
            st.path.as_str().into()
        };
        Some(Ok(Opened {
            fh: self.add_handle(ino, mode, path, Some(state)),
            keep_cache: false,
            direct_io: false,
        }))
    }

    /// `setattr` of orphan `ino`, if it is one (`ftruncate`, `futimens`, `fchmod` after the
    /// unlink): applied to its data and shown, never sent.
    pub(super) fn setattr_orphan(&self, ino: u64, change: SetAttr) -> Option<FsResult<Attr>> {
        let state = self.orphans.state(ino)?;
        let mut st = lock(&state);
        if let Some(size) = change.size {
            if let Err(e) = self.uploader().truncate(&mut st, size) {
                return Some(Err(e));
            }
        }
        if let Some(t) = change.mtime {
            st.defer_mtime(t);
        }
        if let Some(mode) = change.mode {
            st.defer_mode(mode);
        }
        drop(st);
        self.orphan_attr(ino).map(Ok)
    }

    /// A handle on `ino` was released: with the last one, an orphan goes (and its spool).
    pub(super) fn orphan_closed(&self, ino: u64) {
        let mut orphans = lock(&self.orphans.by_ino);
        if orphans.contains_key(&ino) && !lock(&self.files).values().any(|h| h.ino == ino) {
            orphans.remove(&ino);
        }
    }
}
