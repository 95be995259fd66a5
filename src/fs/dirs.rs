//! Directories as the kernel reads them: `opendir` takes the directory's listing once (and tells
//! the prefetcher a tree is being walked) and says whether the kernel may keep the entries it
//! cached at the last opening, `readdir` hands out `.`, `..` and the entries from that snapshot
//! plus files created here and not uploaded yet, at stable offsets, and `releasedir` drops it. A
//! directory's link count is worked out here too.

use std::ffi::OsString;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{name_of, parent_of, Attr, FtpFs, Opened, ROOT_INO};
use crate::cache::Listing;
use crate::error::{FsError, FsResult};
use crate::remote::{join, EntryKind, RemoteEntry, RemoteStore};
use crate::sync::lock;

/// One directory entry for readdir.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// The name as the kernel gets it (the server's bytes, or UTF-8 with `-o encoding=`).
    pub name: OsString,
    pub attr: Attr,
}

/// Where readdir puts entries: the fuser adapter's reply, or a Vec in tests.
pub trait DirSink {
    /// Adds an entry; `next_offset` is the offset to continue from. Returns true when full (the entry
    /// was not added).
    fn add(&mut self, entry: &DirEntry, next_offset: u64) -> bool;
}

/// An open directory: the listing taken at `opendir`, so offsets stay valid while it is read.
pub(super) struct DirHandle {
    path: Arc<str>,
    ino: u64,
    listing: Arc<Listing>,
}

impl<S: RemoteStore> FtpFs<S> {
    /// Opens a directory: its listing is taken now, so offsets stay valid while it is read.
    /// `keep_cache` says whether the entries are those of the directory's last opening (the same
    /// listing generation, with nothing of ours beyond it), so that the kernel may keep the copy it
    /// cached then and answer `getdents` itself. Our own changes through the kernel make it drop
    /// that copy anyway; a new listing from the server, or any change to the cached one, makes
    /// this false.
    pub fn opendir(&self, ino: u64) -> FsResult<Opened> {
        let path = self.path_of(ino)?;
        if self.attr_of_path(ino, &path)?.kind != EntryKind::Dir {
            return Err(FsError::NotDirectory);
        }
        if ino != ROOT_INO {
            // A tree being walked: the next subdirectories' listings are fetched meanwhile.
            let parent = parent_of(&path);
            if let Some(siblings) = self.dirs.peek(parent) {
                self.prefetch.opened_dir(parent, &siblings, name_of(&path));
            }
        }
        let mut listing = self.listing(&path).map_err(|e| match e {
            // A drop box: there is something, and the server will not show it.
            FsError::NotFound if self.drop_boxes.unlistable(&path) => FsError::PermissionDenied,
            e => e,
        })?;
        // Files created here and not uploaded yet are listed too.
        let below = if &*path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        let created: Vec<RemoteEntry> = lock(&self.writing)
            .iter()
            .filter_map(|(p, w)| {
                let name = p.strip_prefix(&below)?;
                if name.contains('/') || listing.get(name).is_some() {
                    return None;
                }
                let v = *lock(&w.view);
                Some(RemoteEntry {
                    name: name.to_string(),
                    kind: EntryKind::File,
                    size: v.size,
                    mtime: v.mtime,
                    perm: None,
                    link_target: None,
                })
            })
            .collect();
        let generation = if created.is_empty() {
            Some(listing.generation())
        } else {
            let mut all = listing.entries().to_vec();
            all.extend(created);
            listing = Arc::new(Listing::new(all));
            None
        };
        let keep_cache = lock(&self.inodes).dir_opened(ino, generation);
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.dir_handles).insert(fh, Arc::new(DirHandle { path, ino, listing }));
        Ok(Opened {
            fh,
            keep_cache,
            direct_io: false,
        })
    }

    /// Lists entries from `offset` (0 = `.`, 1 = `..`, then the listing) into `sink`. With `plus`,
    /// every entry added counts as a lookup, as readdirplus requires.
    pub fn readdir(
        &self,
        fh: u64,
        offset: u64,
        plus: bool,
        sink: &mut dyn DirSink,
    ) -> FsResult<()> {
        let h = lock(&self.dir_handles)
            .get(&fh)
            .cloned()
            .ok_or(FsError::StaleHandle)?;
        let mut dot = self.root_attr();
        dot.ino = h.ino;
        let mut dotdot = self.root_attr();
        dotdot.ino = if h.ino == ROOT_INO {
            ROOT_INO
        } else {
            lock(&self.inodes).peek(parent_of(&h.path))
        };
        let mut off = offset;
        for (at, name, attr) in [(0, ".", dot), (1, "..", dotdot)] {
            if off == at {
                let e = DirEntry {
                    name: name.into(),
                    attr,
                };
                if sink.add(&e, at + 1) {
                    return Ok(());
                }
                off = at + 1;
            }
        }
        for (i, entry) in h
            .listing
            .entries()
            .iter()
            .enumerate()
            .skip((off - 2) as usize)
        {
            let path = join(&h.path, &entry.name);
            let ino = lock(&self.inodes).peek(&path);
            let current = self
                .with_own_changes(&path, Some(entry))
                .unwrap_or_else(|| entry.clone());
            let e = DirEntry {
                name: self.kernel_name(&entry.name),
                attr: self.attr_from(ino, &path, &current),
            };
            if sink.add(&e, i as u64 + 3) {
                break;
            }
            if plus {
                lock(&self.inodes).lookup(&path);
            }
        }
        Ok(())
    }

    pub fn releasedir(&self, fh: u64) {
        lock(&self.dir_handles).remove(&fh);
    }

    /// A directory's link count as Unix file systems show it (its entry, its `.`, and each
    /// subdirectory's `..`): 2 plus its subdirectories where its listing is cached (our own
    /// mkdir, rmdir and rename keep that listing right at once), else 2, as before: a stat must
    /// not cost a listing.
    pub(super) fn dir_nlink(&self, path: &str) -> u32 {
        let subdirs = self.dirs.peek(path).map_or(0, |l| l.subdirs());
        2u32.saturating_add(subdirs)
    }
}
