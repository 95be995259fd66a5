//! `FtpFs`: the filesystem core. It owns the inode table, open file and directory handles, the
//! listing and block caches, and the semantics of each operation; it answers in plain structs
//! (`Attr`, `Opened`, `DirEntry`) and `FsError`s. It holds no fuser reply types and no sockets: all
//! server traffic goes through a `RemoteStore`, and no lock is held while that traffic happens.

pub mod inode;
pub mod prefetch;
pub mod read;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::cache::{BlockCache, DirCache, FileVersion, Listing, BLOCK_SIZE};
use crate::config::FsConfig;
use crate::error::{FsError, FsResult};
use crate::remote::{join, EntryKind, RemoteEntry, RemoteStore};
use inode::{InodeTable, ROOT_INO};
use prefetch::Prefetcher;
use read::FileReader;
pub use read::ReadData;

/// Attributes of a file as the kernel should see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: EntryKind,
    pub size: u64,
    pub mtime: SystemTime,
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub blksize: u32,
}

impl Attr {
    /// 512-byte blocks, as `st_blocks` counts them.
    pub fn blocks(&self) -> u64 {
        self.size.div_ceil(512)
    }
}

/// An opened file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub fh: u64,
    /// The file is unchanged since it was last opened: the kernel may keep its cached pages.
    pub keep_cache: bool,
}

/// One directory entry for readdir.
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: String,
    pub attr: Attr,
}

/// Where readdir puts entries: the fuser adapter's reply, or a Vec in tests.
pub trait DirSink {
    /// Adds an entry; `next_offset` is the offset to continue from. Returns true when full (the entry
    /// was not added).
    fn add(&mut self, entry: &DirEntry, next_offset: u64) -> bool;
}

/// File system figures for statfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
}

struct DirHandle {
    path: Arc<str>,
    ino: u64,
    listing: Arc<Listing>,
}

/// The filesystem core over a store `S`.
pub struct FtpFs<S: RemoteStore> {
    store: Arc<S>,
    cfg: FsConfig,
    inodes: Mutex<InodeTable>,
    dirs: DirCache,
    blocks: Arc<BlockCache>,
    files: Mutex<HashMap<u64, Arc<Mutex<FileReader<S>>>>>,
    dir_handles: Mutex<HashMap<u64, Arc<DirHandle>>>,
    next_fh: AtomicU64,
    prefetch: Prefetcher<S>,
    /// Directories whose listing is being fetched right now.
    listing_fetches: Mutex<HashSet<String>>,
    listing_fetched: Condvar,
    /// When the mount started: the root's mtime (FTP gives none for the mounted directory itself).
    started: SystemTime,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A name from the kernel as a path component; CR and LF would inject FTP commands, so they are
/// refused here, before anything is sent.
fn component(name: &OsStr) -> FsResult<&str> {
    let name = name.to_str().ok_or(FsError::InvalidArgument)?;
    if name.is_empty() || name.contains(['/', '\r', '\n', '\0']) {
        return Err(FsError::InvalidArgument);
    }
    Ok(name)
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

impl<S: RemoteStore> FtpFs<S> {
    pub fn new(store: Arc<S>, cfg: FsConfig) -> FtpFs<S> {
        let blocks = Arc::new(BlockCache::new(cfg.cache_size));
        FtpFs {
            prefetch: Prefetcher::new(
                Arc::clone(&store),
                Arc::clone(&blocks),
                cfg.prefetch_workers,
            ),
            blocks,
            dirs: DirCache::new(cfg.dir_cache_ttl),
            store,
            cfg,
            inodes: Mutex::new(InodeTable::new()),
            files: Mutex::new(HashMap::new()),
            dir_handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            listing_fetches: Mutex::new(HashSet::new()),
            listing_fetched: Condvar::new(),
            started: SystemTime::now(),
        }
    }

    /// How long the kernel may cache attributes and names.
    pub fn attr_ttl(&self) -> Duration {
        self.cfg.attr_timeout
    }

    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// (hits, misses) of the listing cache and of the block cache.
    pub fn cache_stats(&self) -> ((u64, u64), (u64, u64)) {
        (self.dirs.stats(), self.blocks.stats())
    }

    fn path_of(&self, ino: u64) -> FsResult<Arc<str>> {
        lock(&self.inodes).path(ino).ok_or(FsError::StaleHandle)
    }

    /// The listing of directory `path`, from the cache while fresh. Concurrent callers for the same
    /// directory share one fetch (the kernel looks up many names of one directory in parallel).
    fn listing(&self, path: &str) -> FsResult<Arc<Listing>> {
        loop {
            if let Some(l) = self.dirs.get(path) {
                return Ok(l);
            }
            let mut fetching = lock(&self.listing_fetches);
            if !fetching.contains(path) {
                fetching.insert(path.to_string());
                break;
            }
            // Someone else is fetching it: wait, then look in the cache again.
            while fetching.contains(path) {
                fetching = self
                    .listing_fetched
                    .wait_timeout(fetching, self.cfg.timeout)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        let result = self.store.list(path).map(|entries| {
            let listing = Arc::new(Listing::new(entries));
            self.dirs.insert(path, Arc::clone(&listing));
            listing
        });
        lock(&self.listing_fetches).remove(path);
        self.listing_fetched.notify_all();
        Ok(result?)
    }

    fn attr_from(&self, ino: u64, e: &RemoteEntry) -> Attr {
        let (default_perm, nlink) = match e.kind {
            EntryKind::Dir => (0o755, 2),
            EntryKind::File => (0o644, 1),
            EntryKind::Symlink => (0o777, 1),
        };
        let size = match e.kind {
            EntryKind::Symlink => e.link_target.as_ref().map_or(e.size, |t| t.len() as u64),
            _ => e.size,
        };
        Attr {
            ino,
            kind: e.kind,
            size,
            mtime: e.mtime,
            perm: e.perm.unwrap_or(default_perm),
            nlink,
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            blksize: BLOCK_SIZE as u32,
        }
    }

    fn root_attr(&self) -> Attr {
        Attr {
            ino: ROOT_INO,
            kind: EntryKind::Dir,
            size: 0,
            mtime: self.started,
            perm: 0o755,
            nlink: 2,
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            blksize: BLOCK_SIZE as u32,
        }
    }

    /// The listing entry for `path` (never the root).
    fn entry(&self, path: &str) -> FsResult<RemoteEntry> {
        let listing = self.listing(parent_of(path))?;
        listing.get(name_of(path)).cloned().ok_or(FsError::NotFound)
    }

    fn attr_of_path(&self, ino: u64, path: &str) -> FsResult<Attr> {
        if ino == ROOT_INO {
            return Ok(self.root_attr());
        }
        Ok(self.attr_from(ino, &self.entry(path)?))
    }

    /// Looks `name` up in directory `parent`; the kernel then holds one more reference to the result.
    pub fn lookup(&self, parent: u64, name: &OsStr) -> FsResult<Attr> {
        let name = component(name)?;
        let dir = self.path_of(parent)?;
        if parent != ROOT_INO && self.entry(&dir)?.kind != EntryKind::Dir {
            return Err(FsError::NotDirectory);
        }
        let entry = self
            .listing(&dir)?
            .get(name)
            .cloned()
            .ok_or(FsError::NotFound)?;
        let ino = lock(&self.inodes).lookup(&join(&dir, name));
        Ok(self.attr_from(ino, &entry))
    }

    /// The kernel dropped `n` references to `ino`.
    pub fn forget(&self, ino: u64, n: u64) {
        lock(&self.inodes).forget(ino, n);
    }

    pub fn getattr(&self, ino: u64) -> FsResult<Attr> {
        let path = self.path_of(ino)?;
        self.attr_of_path(ino, &path)
    }

    pub fn readlink(&self, ino: u64) -> FsResult<String> {
        let path = self.path_of(ino)?;
        if ino == ROOT_INO {
            return Err(FsError::NotSymlink);
        }
        match self.entry(&path)? {
            RemoteEntry {
                kind: EntryKind::Symlink,
                link_target: Some(t),
                ..
            } => Ok(t),
            _ => Err(FsError::NotSymlink),
        }
    }

    /// Opens a directory: its listing is taken now, so offsets stay valid while it is read.
    pub fn opendir(&self, ino: u64) -> FsResult<u64> {
        let path = self.path_of(ino)?;
        if self.attr_of_path(ino, &path)?.kind != EntryKind::Dir {
            return Err(FsError::NotDirectory);
        }
        let listing = self.listing(&path)?;
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.dir_handles).insert(fh, Arc::new(DirHandle { path, ino, listing }));
        Ok(fh)
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
        if off == 0 {
            let e = DirEntry {
                name: ".".into(),
                attr: dot,
            };
            if sink.add(&e, 1) {
                return Ok(());
            }
            off = 1;
        }
        if off == 1 {
            let e = DirEntry {
                name: "..".into(),
                attr: dotdot,
            };
            if sink.add(&e, 2) {
                return Ok(());
            }
            off = 2;
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
            let e = DirEntry {
                name: entry.name.clone(),
                attr: self.attr_from(ino, entry),
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

    /// Opens a file for reading. `write` is true when the caller asked for write access.
    pub fn open(&self, ino: u64, write: bool) -> FsResult<Opened> {
        let path = self.path_of(ino)?;
        let attr = self.attr_of_path(ino, &path)?;
        match attr.kind {
            EntryKind::Dir => return Err(FsError::IsDirectory),
            EntryKind::File | EntryKind::Symlink => {}
        }
        if write {
            return Err(FsError::ReadOnly);
        }
        let keep_cache = lock(&self.inodes).opened(ino, (attr.size, attr.mtime));
        if attr.kind == EntryKind::File {
            let dir = parent_of(&path);
            if let Some(listing) = self.dirs.get(dir) {
                self.prefetch.opened(dir, &listing, name_of(&path));
            }
        }
        let version = FileVersion {
            path,
            size: attr.size,
            mtime: attr.mtime,
        };
        let reader = FileReader::new(
            Arc::clone(&self.store),
            Arc::clone(&self.blocks),
            self.prefetch.in_flight(),
            version,
            self.cfg.timeout,
        );
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.files).insert(fh, Arc::new(Mutex::new(reader)));
        Ok(Opened { fh, keep_cache })
    }

    pub fn read(&self, fh: u64, offset: u64, size: u32) -> FsResult<ReadData> {
        let reader = lock(&self.files)
            .get(&fh)
            .cloned()
            .ok_or(FsError::StaleHandle)?;
        let mut reader = lock(&reader);
        reader.read(offset, size)
    }

    pub fn release(&self, fh: u64) {
        lock(&self.files).remove(&fh);
    }

    /// FTP has no portable way to ask for free space: report a large, plausible file system so that
    /// `df` works and programs that check for room before writing are not stopped.
    pub fn statfs(&self) -> FsStats {
        const BSIZE: u32 = 4096;
        let blocks = (1u64 << 42) / BSIZE as u64; // 4 TiB
        FsStats {
            blocks,
            bfree: blocks / 2,
            bavail: blocks / 2,
            files: 1 << 24,
            ffree: 1 << 23,
            bsize: BSIZE,
            namelen: 255,
        }
    }
}
