//! The core's name operations: mkdir, rmdir, unlink, rename. FTP answers 550 for "exists", "not
//! empty", "missing" and "forbidden" alike, so the errno comes from what the listings say: checked
//! before anything is sent where the cache can tell, and from a fresh listing after a refusal.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::SystemTime;

use log::debug;

use super::upload::is_temp_name;
use super::{lock, name_of, parent_of, Attr, FtpFs, ROOT_INO};
use crate::cache::Listing;
use crate::error::{FsError, FsResult};
use crate::remote::{join, EntryKind, RemoteEntry, RemoteError, RemoteStore};

/// The permissions most servers give a new directory (umask 022); a mkdir asking for them needs
/// no `SITE CHMOD`.
pub const DEFAULT_DIR_PERM: u32 = 0o755;

/// The kernel's rename flags that matter here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenameMode {
    /// RENAME_NOREPLACE: fail with EEXIST if the target exists.
    pub no_replace: bool,
    /// RENAME_EXCHANGE: swap the two names (FTP cannot).
    pub exchange: bool,
}

impl<S: RemoteStore> FtpFs<S> {
    /// The path of `name` in directory `parent`, checked for a write (temporary upload names are
    /// refused: they are hidden from listings, so a file under one would vanish).
    pub(super) fn new_name(&self, parent: u64, name: &OsStr) -> FsResult<(Arc<str>, String)> {
        if self.cfg.read_only {
            return Err(FsError::ReadOnly);
        }
        let name = &*self.component(name)?;
        if is_temp_name(name) {
            return Err(FsError::InvalidArgument);
        }
        let dir = self.path_of(parent)?;
        if parent != ROOT_INO && self.entry(&dir)?.kind != EntryKind::Dir {
            return Err(FsError::NotDirectory);
        }
        let path = Self::path_fits(join(&dir, name))?;
        Self::not_stats(&path)?;
        Ok((dir, path))
    }

    /// The entry at `path` as we know it (listing plus our own unsaved files).
    fn current(&self, path: &str) -> FsResult<Option<RemoteEntry>> {
        let listing = self.listed(parent_of(path))?;
        let listed = listing.as_ref().and_then(|l| l.get(name_of(path)));
        Ok(self.with_own_changes(path, listed))
    }

    /// Whether `path` exists on the server, asked afresh (after a 550).
    fn exists_fresh(&self, path: &str) -> Option<RemoteEntry> {
        self.dirs.invalidate(parent_of(path));
        let listing = self.listing(parent_of(path)).ok()?;
        listing.get(name_of(path)).cloned()
    }

    /// Makes directory `name` in `parent`, with the server's default permissions.
    pub fn mkdir(&self, parent: u64, name: &OsStr) -> FsResult<Attr> {
        self.mkdir_with_perm(parent, name, DEFAULT_DIR_PERM)
    }

    /// `mkdir`, with the permission bits `mkdir(2)` asked for (after the umask): set with
    /// `SITE CHMOD` unless they are the usual default, 0755, which costs no round trip. A server
    /// without the command keeps its own mode, as `chmod` does.
    pub fn mkdir_with_perm(&self, parent: u64, name: &OsStr, perm: u32) -> FsResult<Attr> {
        let (dir, path) = self.new_name(parent, name)?;
        if self.current(&path)?.is_some() {
            return Err(FsError::Exists);
        }
        match self.store.mkdir(&path) {
            Ok(()) => {}
            Err(e @ (RemoteError::NotFound(_) | RemoteError::PermissionDenied(_))) => {
                debug!("MKD {path} refused: {e}");
                return Err(if self.exists_fresh(&path).is_some() {
                    FsError::Exists
                } else if self.exists_fresh(&dir).is_none() && &*dir != "/" {
                    FsError::NotFound
                } else {
                    FsError::PermissionDenied
                });
            }
            Err(e) => return Err(e.into()),
        }
        let mut entry = RemoteEntry {
            name: name_of(&path).to_string(),
            kind: EntryKind::Dir,
            size: 0,
            mtime: SystemTime::now(),
            perm: None,
            link_target: None,
        };
        let perm = perm & 0o7777;
        if perm != DEFAULT_DIR_PERM {
            match self.store.chmod(&path, perm) {
                Ok(()) => entry.perm = Some(perm as u16),
                Err(RemoteError::Connection(m)) => return Err(FsError::Io(m)),
                Err(e) => debug!("{path}: mode {perm:o} not recorded ({e})"),
            }
        }
        let added = entry.clone();
        self.dirs.modify(&dir, |listing| listing.upsert(added));
        // We just made it, so it is empty: files created in it next need no listing.
        self.dirs.insert(&path, Arc::new(Listing::default()));
        self.ctimes.entries_changed(&dir);
        let ino = lock(&self.inodes).lookup(&path);
        Ok(self.attr_from(ino, &path, &entry))
    }

    /// Removes the empty directory `name` from `parent`.
    pub fn rmdir(&self, parent: u64, name: &OsStr) -> FsResult<()> {
        let (dir, path) = self.new_name(parent, name)?;
        match self.current(&path)? {
            None => return Err(FsError::NotFound),
            Some(e) if e.kind != EntryKind::Dir => return Err(FsError::NotDirectory),
            Some(_) => {}
        }
        if self.has_children(&path) {
            return Err(FsError::NotEmpty);
        }
        if let Err(e) = self.store.rmdir(&path) {
            debug!("RMD {path} refused: {e}");
            if let RemoteError::Connection(m) = e {
                return Err(FsError::Io(m));
            }
            // Ask the server itself (temporary upload names count: the directory is not empty).
            self.dirs.invalidate(&path);
            return Err(match self.store.list(&path) {
                Ok(entries) if !entries.is_empty() => FsError::NotEmpty,
                Err(RemoteError::NotFound(_)) if self.exists_fresh(&path).is_none() => {
                    FsError::NotFound
                }
                _ => FsError::PermissionDenied,
            });
        }
        let gone = name_of(&path).to_string();
        self.dirs
            .modify(&dir, |listing| drop(listing.remove(&gone)));
        self.dirs.invalidate_tree(&path);
        self.ctimes.forget(&path);
        self.ctimes.entries_changed(&dir);
        lock(&self.inodes).unlink(&path);
        Ok(())
    }

    /// Whether directory `path` has entries as far as we know without asking: its cached listing,
    /// or files created in it and not uploaded yet.
    fn has_children(&self, path: &str) -> bool {
        if self.dirs.get(path).is_some_and(|l| !l.entries().is_empty()) {
            return true;
        }
        let below = format!("{path}/");
        lock(&self.writing).keys().any(|p| p.starts_with(&below))
    }

    /// Removes file `name` from `parent`.
    pub fn unlink(&self, parent: u64, name: &OsStr) -> FsResult<()> {
        let (dir, path) = self.new_name(parent, name)?;
        let listed = self.listing(&dir)?.get(name_of(&path)).cloned();
        let writing = lock(&self.writing).remove(&path);
        match (&listed, &writing) {
            (Some(e), _) if e.kind == EntryKind::Dir => {
                if let Some(w) = writing {
                    lock(&self.writing).insert(path.clone(), w);
                }
                return Err(FsError::IsDirectory);
            }
            (None, None) => return Err(FsError::NotFound),
            _ => {}
        }
        // Open handles keep working on the file's data (`orphans.rs`): made local first.
        let kept = self.keep_if_open(&path, listed.as_ref(), writing.as_ref());
        // (Asked after that: a stream straight to the name may have ended there.)
        let on_server =
            listed.is_some() || writing.as_ref().is_some_and(|w| lock(&w.state).on_server);
        if let Some(w) = &writing {
            // Nothing of it will be uploaded: a stream in progress ends (before the DELE, or
            // its end would bring the name back), and a pending upload's record goes.
            let mut st = lock(&w.state);
            if self.drop_record(&mut st) {
                self.sync_journal();
            }
            self.uploader().commit(&mut st).ok();
        }
        if on_server {
            if let Err(e) = self.store.remove(&path) {
                debug!("DELE {path} refused: {e}");
                return Err(match e {
                    RemoteError::Connection(m) => FsError::Io(m),
                    _ if self.exists_fresh(&path).is_none() => FsError::NotFound,
                    _ => FsError::PermissionDenied,
                });
            }
        }
        if let Some(kept) = kept {
            self.adopt(kept);
        }
        self.forget_path(&dir, &path);
        Ok(())
    }

    /// `path` is gone: from its directory's listing, the block cache, the times we set, the inodes.
    fn forget_path(&self, dir: &str, path: &str) {
        let gone = name_of(path).to_string();
        self.dirs.modify(dir, |listing| drop(listing.remove(&gone)));
        self.blocks.invalidate(path, false);
        lock(&self.set_times).pop(path);
        self.ctimes.forget(path);
        self.ctimes.entries_changed(dir);
        lock(&self.inodes).unlink(path);
    }

    /// Renames `name` in `parent` to `newname` in `newparent`, replacing a file or an empty
    /// directory there as POSIX says.
    pub fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        mode: RenameMode,
    ) -> FsResult<()> {
        let (dir, from) = self.new_name(parent, name)?;
        let (newdir, to) = self.new_name(newparent, newname)?;
        if mode.exchange {
            return Err(FsError::InvalidArgument);
        }
        let src = self.current(&from)?.ok_or(FsError::NotFound)?;
        if from == to {
            return Ok(());
        }
        if to.starts_with(&format!("{from}/")) {
            return Err(FsError::InvalidArgument);
        }
        if mode.no_replace {
            // The promise is about the server, not our cache.
            self.dirs.invalidate(&newdir);
        }
        let dst = self.current(&to)?;
        if let Some(d) = &dst {
            if mode.no_replace {
                return Err(FsError::Exists);
            }
            match (src.kind == EntryKind::Dir, d.kind == EntryKind::Dir) {
                (false, true) => return Err(FsError::IsDirectory),
                (true, false) => return Err(FsError::NotDirectory),
                (true, true) => {
                    // POSIX replaces an empty directory; FTP servers differ, so remove it first.
                    self.dirs.invalidate(&to);
                    match self.store.list(&to) {
                        Ok(entries) if !entries.is_empty() => return Err(FsError::NotEmpty),
                        Ok(_) => self.store.rmdir(&to)?,
                        Err(e) => return Err(e.into()),
                    }
                }
                (false, false) => {}
            }
        }
        let src_state = lock(&self.writing).get(&from).map(|w| Arc::clone(&w.state));
        let src_on_server = src_state.is_none_or(|st| lock(&st).on_server);
        if src_on_server {
            self.rename_on_server(&from, &to, dst.as_ref())?;
        } else if dst.is_some() && self.listing(&newdir)?.get(name_of(&to)).is_some() {
            // The source exists only here: the target on the server is replaced at its upload; until
            // then it must not show through.
            self.store.remove(&to)?;
        }
        self.renamed(&dir, &from, &newdir, &to, src);
        Ok(())
    }

    fn rename_on_server(&self, from: &str, to: &str, dst: Option<&RemoteEntry>) -> FsResult<()> {
        match self.store.rename(from, to) {
            Ok(()) => Ok(()),
            Err(RemoteError::Connection(m)) => Err(FsError::Io(m)),
            Err(e) => {
                debug!("RNFR {from} / RNTO {to} refused: {e}");
                if self.exists_fresh(from).is_none() {
                    return Err(FsError::NotFound);
                }
                if matches!(dst, Some(d) if d.kind != EntryKind::Dir) {
                    // Some servers will not rename over a file: replace it in two steps.
                    self.store.remove(to)?;
                    return Ok(self.store.rename(from, to)?);
                }
                Err(FsError::PermissionDenied)
            }
        }
    }

    /// Brings caches, write states and inodes in line with a rename done on the server.
    fn renamed(&self, dir: &str, from: &str, newdir: &str, to: &str, src: RemoteEntry) {
        let (old_name, new_name) = (name_of(from).to_string(), name_of(to).to_string());
        let is_dir = src.kind == EntryKind::Dir;
        self.dirs
            .modify(dir, |listing| drop(listing.remove(&old_name)));
        let mut moved = src;
        moved.name = new_name.clone();
        self.dirs.modify(newdir, |listing| listing.upsert(moved));
        if is_dir {
            self.dirs.invalidate_tree(from);
            self.dirs.invalidate_tree(to);
        }
        self.blocks.invalidate(from, is_dir);
        self.blocks.invalidate(to, is_dir);
        // States are locked only after the map is released: one may be busy uploading.
        let (replaced, moved_states) = {
            let mut writing = lock(&self.writing);
            let replaced = writing.remove(to);
            let below = format!("{from}/");
            let keys: Vec<String> = writing
                .keys()
                .filter(|p| p.as_str() == from || p.starts_with(&below))
                .cloned()
                .collect();
            let mut moved_states = Vec::new();
            for k in keys {
                let w = writing.remove(&k).expect("listed above");
                let new = format!("{to}{}", &k[from.len()..]);
                moved_states.push((Arc::clone(&w.state), new.clone()));
                writing.insert(new, w);
            }
            (replaced, moved_states)
        };
        // The file that was there is replaced: its open handles upload nothing more.
        let dropped = replaced.is_some_and(|old| self.drop_record(&mut lock(&old.state)));
        if self.rename_states(moved_states) | dropped {
            self.sync_journal();
        }
        {
            let mut times = lock(&self.set_times);
            times.pop(to);
            if let Some(t) = times.pop(from) {
                times.put(to.to_string(), t);
            }
        }
        self.ctimes.renamed(from, to);
        self.ctimes.entries_changed(dir);
        self.ctimes.entries_changed(newdir);
        lock(&self.inodes).rename(from, to);
    }
}
