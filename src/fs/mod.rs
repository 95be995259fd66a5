//! `FtpFs`: the filesystem core. It owns the inode table, open file and directory handles, the
//! listing and block caches, and the semantics of each operation; it answers in plain structs
//! (`Attr`, `Opened`, `DirEntry`) and `FsError`s. It holds no fuser reply types and no sockets: all
//! server traffic goes through a `RemoteStore`.
//!
//! Locks and server traffic: no lock shared between files (the tables of inodes, handles, files
//! being written, the caches) is held while traffic happens, so one slow server exchange never
//! holds up the rest of the mount. One lock is held on purpose: a file's own write state
//! (`FileState`, behind `Writing::state`) while that file's data moves, which makes the writes,
//! flushes and uploads of one file happen one at a time, in order. What `ls` and `stat` need of
//! such a file is in its `View`, a separate lock never held across traffic. Reads of a file that
//! is being written wait for its state (they read what was written).

pub mod budget;
mod ctimes;
mod dirs;
mod dropbox;
mod files;
pub mod inode;
pub mod journal;
mod journal_names;
mod kernel_names;
mod listings;
mod namespace;
mod orphans;
pub mod prefetch;
pub mod read;
mod recover;
mod report;
mod resume;
pub mod spool;
mod upload;
pub mod write;
mod writeback;
mod writers;

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lru::LruCache;

use crate::cache::{BlockCache, DirCache, FileVersion, Listing, BLOCK_SIZE};
use crate::caller;
use crate::config::FsConfig;
use crate::error::{FsError, FsResult};
use crate::remote::{join, EntryKind, RemoteEntry, RemoteStore};
use crate::sync::lock;
use dirs::DirHandle;
pub use dirs::{DirEntry, DirSink};
use dropbox::DropBoxes;
pub use files::SetAttr;
use inode::{InodeTable, ROOT_INO};
use listings::Listings;
pub use namespace::RenameMode;
use prefetch::Prefetcher;
use read::FileReader;
pub use read::ReadData;
pub use write::OpenMode;
use write::{FileState, View};

/// Attributes of a file as the kernel should see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: EntryKind,
    pub size: u64,
    pub mtime: SystemTime,
    /// The last change made through the mount, else the mtime (`ctimes.rs`).
    pub ctime: SystemTime,
    /// An access time set through the mount, else the mtime (`ctimes.rs`).
    pub atime: SystemTime,
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
    /// Reads and writes through the handle bypass the kernel's page cache: content that changes
    /// at every open, and write-only handles (`write_only`).
    pub direct_io: bool,
}

/// Whether a handle only writes. Its writes then come to ftpfs straight from the program's buffer
/// instead of through the file's pages in the kernel's page cache: one copy of every byte less on
/// the way to the server (a sequential upload spent most of its time copying on this 2-core
/// machine), and no pages of a file that nobody reads through this handle. It cannot be mapped
/// (a shared mapping needs read access), so nothing else changes for the program.
pub fn write_only(mode: OpenMode) -> bool {
    mode.write && !mode.read
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

/// An open file.
struct Handle<S: RemoteStore> {
    /// The statistics as they were at open, for a handle on the statistics file.
    stats: Option<Vec<u8>>,
    /// The inode opened (a file unlinked while open is known by it only: `orphans.rs`).
    ino: u64,
    mode: OpenMode,
    /// The path at open (readers without a write state; a write state follows renames itself).
    path: Arc<str>,
    /// The file's write state, for handles that write (and readers of a file with unsaved data).
    state: Option<Arc<Mutex<FileState>>>,
    /// Reads of content the server has go through this, made at the first read.
    reader: Mutex<Option<FileReader<S>>>,
}

/// A file with a write state: the state (locked while data moves) and its attributes (never locked
/// for long, so `ls` does not wait for an upload).
#[derive(Clone)]
struct Writing {
    state: Arc<Mutex<FileState>>,
    view: Arc<Mutex<View>>,
}

/// The file at the mount's root that holds the statistics (`cat /mnt/x/.ftpfs-stats`). It is not
/// listed (so `ls -a`, `find`, `tar` and `rsync` never see it), only found by name, read-only, and
/// read afresh at every open. (An extended attribute would have been the other way, but a FUSE
/// file system that answers getxattr at all is asked for `security.selinux` and ACLs of every
/// file `ls -l` shows: a round trip per file that tripled the time of a cached `ls -lR`.) A file
/// of that name on the server is hidden behind it.
pub const STATS_FILE: &str = ".ftpfs-stats";
const STATS_PATH: &str = "/.ftpfs-stats";

/// How many modification times set through the mount are remembered (see `with_own_changes`).
const SET_TIMES: usize = 100_000;

/// The filesystem core over a store `S`.
pub struct FtpFs<S: RemoteStore> {
    store: Arc<S>,
    cfg: FsConfig,
    inodes: Mutex<InodeTable>,
    dirs: Arc<DirCache>,
    blocks: Arc<BlockCache>,
    files: Mutex<HashMap<u64, Arc<Handle<S>>>>,
    /// Files being written, or with data the server does not have yet, by path.
    writing: Mutex<HashMap<String, Writing>>,
    /// Times we set (MFMT) with the size the file had: LIST shows minutes only, so without this a
    /// `rsync -t` copy would look changed at once.
    set_times: Mutex<LruCache<String, (SystemTime, u64)>>,
    dir_handles: Mutex<HashMap<u64, Arc<DirHandle>>>,
    next_fh: AtomicU64,
    prefetch: Prefetcher<S>,
    listings: Arc<Listings<S>>,
    /// When the mount started: the root's mtime (FTP gives none for the mounted directory itself).
    started: SystemTime,
    /// Errors returned to programs, by errno name.
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Directories the server will not list, or where uploads go straight to their names.
    drop_boxes: DropBoxes,
    /// The bounds of upload copies and retries (`budget.rs`).
    budget: Arc<budget::Budget>,
    /// Files whose upload waits for a background worker (`-o writeback`).
    writeback: writeback::Queue,
    /// The record of those files, for the next mount after a crash (`-o writeback`).
    journal: Option<journal::Journal>,
    /// Changes made through the mount, for ctime and directory mtimes (`ctimes.rs`).
    ctimes: ctimes::ChangeTimes,
    /// Files unlinked while open (`orphans.rs`).
    orphans: orphans::Orphans,
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
        let dirs = Arc::new(DirCache::new(cfg.dir_cache_ttl));
        let listings = Arc::new(Listings::new(
            Arc::clone(&store),
            Arc::clone(&dirs),
            cfg.timeout,
        ));
        let journal = journal::Journal::for_config(&cfg);
        let budget = Arc::new(budget::Budget::new(
            &cfg.cache_dir,
            cfg.spool_max,
            cfg.spool_min_free,
            cfg.upload_retry,
        ));
        FtpFs {
            prefetch: Prefetcher::new(
                Arc::clone(&store),
                Arc::clone(&blocks),
                Arc::clone(&listings),
                cfg.prefetch_workers,
            ),
            blocks,
            dirs,
            listings,
            store,
            cfg,
            inodes: Mutex::new(InodeTable::new()),
            files: Mutex::new(HashMap::new()),
            writing: Mutex::new(HashMap::new()),
            set_times: Mutex::new(LruCache::new(
                NonZeroUsize::new(SET_TIMES).expect("non-zero"),
            )),
            dir_handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            started: SystemTime::now(),
            errors: Mutex::new(BTreeMap::new()),
            drop_boxes: DropBoxes::default(),
            budget,
            writeback: writeback::Queue::default(),
            journal,
            ctimes: ctimes::ChangeTimes::new(),
            orphans: orphans::Orphans::default(),
        }
    }

    /// Whether every change is refused (`-o ro`).
    pub fn read_only(&self) -> bool {
        self.cfg.read_only
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

    /// Counts an error returned to a program (the adapter calls this for every failed request).
    pub fn note_error(&self, e: &FsError) {
        *lock(&self.errors).entry(e.errno_name()).or_default() += 1;
    }

    fn path_of(&self, ino: u64) -> FsResult<Arc<str>> {
        lock(&self.inodes).path(ino).ok_or(FsError::StaleHandle)
    }

    /// The listing of directory `path`, from the cache while fresh (see `Listings`).
    fn listing(&self, path: &str) -> FsResult<Arc<Listing>> {
        self.listings.get(path)
    }

    /// The mode shown for a `kind` whose listing said `listed`: `file_mode`/`dir_mode` when set,
    /// else the listed mode (0644/0755 without one) less `umask`. A listed mode never keeps its
    /// setuid/setgid bits: the server must not hand out setuid programs, even on a mount that
    /// mount.fuse3 made without `nosuid` (drop_privileges). Symlinks always show 0777: the kernel
    /// never checks a symlink's own mode.
    fn shown_perm(&self, kind: EntryKind, listed: Option<u16>) -> u16 {
        let (fixed, default) = match kind {
            EntryKind::Dir => (self.cfg.dir_mode, 0o755),
            EntryKind::File => (self.cfg.file_mode, 0o644),
            EntryKind::Symlink => return 0o777,
        };
        fixed.unwrap_or(listed.unwrap_or(default) & 0o1777 & !self.cfg.umask)
    }

    /// The attributes of `path`, listed as `e`, with the changes made through the mount.
    fn attr_from(&self, ino: u64, path: &str, e: &RemoteEntry) -> Attr {
        let nlink = match e.kind {
            EntryKind::Dir => self.dir_nlink(path),
            EntryKind::File | EntryKind::Symlink => 1,
        };
        let size = match e.kind {
            EntryKind::Symlink => e.link_target.as_ref().map_or(e.size, |t| t.len() as u64),
            _ => e.size,
        };
        let t = self.ctimes.times(path, e.mtime);
        Attr {
            ino,
            kind: e.kind,
            size,
            mtime: t.mtime,
            ctime: t.ctime,
            atime: t.atime,
            perm: self.shown_perm(e.kind, e.perm),
            nlink,
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            blksize: BLOCK_SIZE as u32,
        }
    }

    fn root_attr(&self) -> Attr {
        let t = self.ctimes.times("/", self.started);
        Attr {
            ino: ROOT_INO,
            kind: EntryKind::Dir,
            size: 0,
            mtime: t.mtime,
            ctime: t.ctime,
            atime: t.atime,
            perm: self.shown_perm(EntryKind::Dir, None),
            nlink: self.dir_nlink("/"),
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            blksize: BLOCK_SIZE as u32,
        }
    }

    /// The entry for `path` (never the root): the listing's, with our own changes that the listing
    /// may not show yet.
    fn entry(&self, path: &str) -> FsResult<RemoteEntry> {
        if path == STATS_PATH {
            return Ok(self.stats_entry());
        }
        let listing = self.listed(parent_of(path))?;
        self.with_own_changes(path, listing.as_ref().and_then(|l| l.get(name_of(path))))
            .ok_or(FsError::NotFound)
    }

    /// A listing entry as we know it now: a file being written shows its local size and time (or
    /// exists only here, not yet uploaded); a time we set shows to the second even where LIST
    /// rounds it, as long as the file did not change since.
    fn with_own_changes(&self, path: &str, listed: Option<&RemoteEntry>) -> Option<RemoteEntry> {
        let writing = lock(&self.writing).get(path).map(|w| Arc::clone(&w.view));
        if let Some(view) = writing {
            let v = *lock(&view);
            let mut e = listed.cloned().unwrap_or_else(|| RemoteEntry {
                name: name_of(path).to_string(),
                kind: EntryKind::File,
                size: 0,
                mtime: v.mtime,
                perm: None,
                link_target: None,
            });
            if e.kind == EntryKind::File {
                e.size = v.size;
                e.mtime = v.mtime;
                e.perm = v.perm.or(e.perm);
            }
            return Some(e);
        }
        let mut e = listed?.clone();
        if let Some(&(t, size)) = lock(&self.set_times).peek(path) {
            let rounded_down = e.mtime <= t + Duration::from_secs(1)
                && t.duration_since(e.mtime)
                    .is_ok_and(|d| d < Duration::from_secs(366 * 86_400));
            if e.size == size && rounded_down {
                e.mtime = t;
            }
        }
        Some(e)
    }

    fn attr_of_path(&self, ino: u64, path: &str) -> FsResult<Attr> {
        if ino == ROOT_INO {
            return Ok(self.root_attr());
        }
        Ok(self.attr_from(ino, path, &self.entry(path)?))
    }

    /// Looks `name` up in directory `parent`; the kernel then holds one more reference to the result.
    pub fn lookup(&self, parent: u64, name: &OsStr) -> FsResult<Attr> {
        let name = &*self.component(name)?;
        let dir = self.path_of(parent)?;
        if parent != ROOT_INO && self.entry(&dir)?.kind != EntryKind::Dir {
            return Err(FsError::NotDirectory);
        }
        let path = Self::path_fits(join(&dir, name))?;
        let entry = if path == STATS_PATH {
            self.stats_entry()
        } else {
            let listing = self.listed(&dir)?;
            self.with_own_changes(&path, listing.as_ref().and_then(|l| l.get(name)))
                .ok_or(FsError::NotFound)?
        };
        let ino = lock(&self.inodes).lookup(&path);
        Ok(self.attr_from(ino, &path, &entry))
    }

    /// The kernel dropped `n` references to `ino`.
    pub fn forget(&self, ino: u64, n: u64) {
        lock(&self.inodes).forget(ino, n);
    }

    pub fn getattr(&self, ino: u64) -> FsResult<Attr> {
        if let Some(a) = self.orphan_attr(ino) {
            return Ok(a);
        }
        let path = self.path_of(ino)?;
        self.attr_of_path(ino, &path)
    }

    /// A symlink's target, as the kernel gets it.
    pub fn readlink(&self, ino: u64) -> FsResult<OsString> {
        let path = self.path_of(ino)?;
        if ino == ROOT_INO {
            return Err(FsError::NotSymlink);
        }
        match self.entry(&path)? {
            RemoteEntry {
                kind: EntryKind::Symlink,
                link_target: Some(t),
                ..
            } => Ok(self.kernel_name(&t)),
            _ => Err(FsError::NotSymlink),
        }
    }

    /// Opens a file. Handles that write share the file's write state (`files.rs`); read-only
    /// handles read through the block cache, or from the write state while the file has one.
    pub fn open(&self, ino: u64, mode: OpenMode) -> FsResult<Opened> {
        if let Some(opened) = self.open_orphan(ino, mode) {
            return opened;
        }
        let path = self.path_of(ino)?;
        if &*path == STATS_PATH {
            return self.open_stats(ino, mode, path);
        }
        // The kernel still knows a name that is gone (a file created here whose upload failed
        // vanishes with its last handle): ESTALE makes it look the name up again and, for
        // O_CREAT, create the file anew, where ENOENT would fail the open.
        let attr = match self.attr_of_path(ino, &path) {
            Err(FsError::NotFound) => return Err(FsError::StaleHandle),
            other => other?,
        };
        match attr.kind {
            EntryKind::Dir => return Err(FsError::IsDirectory),
            EntryKind::File | EntryKind::Symlink => {}
        }
        if mode.write && self.cfg.read_only {
            return Err(FsError::ReadOnly);
        }
        let state = if mode.write {
            Some(self.writing_state(&path, attr.size, attr.mtime))
        } else {
            lock(&self.writing)
                .get(&*path)
                .map(|w| Arc::clone(&w.state))
        };
        if let Some(st) = &state {
            let mut st = lock(st);
            st.handles += 1;
            if mode.write {
                st.add_writer(caller::requester());
            }
        }
        // The kernel may keep its cached pages only for a plain reader of an unchanged file.
        let keep_cache = state.is_none() && lock(&self.inodes).opened(ino, (attr.size, attr.mtime));
        if state.is_none() && attr.kind == EntryKind::File {
            let dir = parent_of(&path);
            if let Some(listing) = self.dirs.get(dir) {
                self.prefetch.opened(dir, &listing, name_of(&path));
            }
        }
        Ok(Opened {
            fh: self.add_handle(ino, mode, path, state),
            keep_cache,
            direct_io: write_only(mode),
        })
    }

    fn add_handle(
        &self,
        ino: u64,
        mode: OpenMode,
        path: Arc<str>,
        state: Option<Arc<Mutex<FileState>>>,
    ) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        let h = Handle {
            stats: None,
            ino,
            mode,
            path,
            state,
            reader: Mutex::new(None),
        };
        lock(&self.files).insert(fh, Arc::new(h));
        fh
    }

    fn handle(&self, fh: u64) -> FsResult<Arc<Handle<S>>> {
        lock(&self.files)
            .get(&fh)
            .cloned()
            .ok_or(FsError::StaleHandle)
    }

    /// The write state of `path`, made from what the server has if there is none yet.
    fn writing_state(&self, path: &str, size: u64, mtime: SystemTime) -> Arc<Mutex<FileState>> {
        let perm = self.entry(path).ok().and_then(|e| e.perm);
        let mut writing = lock(&self.writing);
        let w = writing.entry(path.to_string()).or_insert_with(|| {
            let mut st = FileState::existing(path, size, mtime);
            st.keep_mode = perm.map(u32::from);
            Writing {
                view: st.view(),
                state: Arc::new(Mutex::new(st)),
            }
        });
        Arc::clone(&w.state)
    }

    pub fn read(&self, fh: u64, offset: u64, size: u32) -> FsResult<ReadData> {
        let h = self.handle(fh)?;
        if let Some(text) = &h.stats {
            let from = (offset as usize).min(text.len());
            let to = (from + size as usize).min(text.len());
            return Ok(ReadData::Owned(text[from..to].to_vec()));
        }
        // A reader opened before the file had a write state reads its data once it is unlinked.
        let state = h.state.clone().or_else(|| self.orphans.state(h.ino));
        let path = match &state {
            Some(st) => {
                // This may finish an upload in progress: never cut short for a dying reader.
                let _nobody = caller::serve(0);
                let mut st = lock(st);
                if let Some(data) = self.uploader().read(&mut st, offset, size)? {
                    return Ok(ReadData::Owned(data));
                }
                if st.unlinked {
                    // Its content was not kept (`write/hold.rs`); the name may be another file's.
                    return Err(FsError::NotFound);
                }
                Arc::from(st.path.as_str())
            }
            None => Arc::clone(&h.path),
        };
        let mut reader = lock(&h.reader);
        if reader.is_none() {
            *reader = Some(self.reader_for(path)?);
        }
        reader.as_mut().expect("set above").read(offset, size)
    }

    /// A reader of the server's current content of `path`.
    fn reader_for(&self, path: Arc<str>) -> FsResult<FileReader<S>> {
        let e = self.entry(&path)?;
        Ok(FileReader::new(
            Arc::clone(&self.store),
            Arc::clone(&self.blocks),
            self.prefetch.in_flight(),
            FileVersion {
                path,
                size: e.size,
                mtime: e.mtime,
            },
            self.cfg.timeout,
        ))
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
            namelen: kernel_names::NAME_MAX as u32,
        }
    }
}
