//! The filesystem core over the in-memory store, for the tests without a network or a kernel
//! (tests/core_*.rs): the configuration they start from, an `FtpFs` over a fresh `MemStore`, a
//! `DirSink` that collects what `readdir` hands out, deterministic file contents, and the steps the
//! write tests take (open, write, read back, look for temporary names).

use std::sync::Arc;
use std::time::Duration;

use std::ffi::OsStr;

use ftpfs::config::FsConfig;
use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::{DirEntry, DirSink, FtpFs, OpenMode, SetAttr};
use ftpfs::remote::mem::MemStore;

use super::XorShift;

/// Listings stay fresh for a minute, so that operation counts do not depend on the test's speed;
/// a failure shows within two seconds.
pub fn core_config() -> FsConfig {
    FsConfig {
        dir_cache_ttl: Duration::from_secs(60),
        timeout: Duration::from_secs(2),
        // Long enough for a few resumed attempts (pauses of 0.25, 0.5, 1 s).
        upload_retry: Duration::from_secs(3),
        ..FsConfig::default()
    }
}

/// The core over a new, empty `MemStore`; the store is returned too, to fill, count and fail.
pub fn mem_core(cfg: FsConfig) -> (Arc<MemStore>, FtpFs<MemStore>) {
    let store = Arc::new(MemStore::new());
    let fs = FtpFs::new(Arc::clone(&store), cfg);
    (store, fs)
}

/// A `DirSink` that keeps the entries `readdir` hands it, up to a limit (a page of a listing).
pub struct Collect {
    pub entries: Vec<DirEntry>,
    limit: usize,
}

impl Collect {
    /// Takes every entry.
    pub fn all() -> Collect {
        Collect::up_to(usize::MAX)
    }

    /// Takes `limit` entries and then reports itself full, as the kernel's buffer does.
    pub fn up_to(limit: usize) -> Collect {
        Collect {
            entries: Vec::new(),
            limit,
        }
    }
}

impl DirSink for Collect {
    fn add(&mut self, e: &DirEntry, _next: u64) -> bool {
        if self.entries.len() >= self.limit {
            return true;
        }
        self.entries.push(e.clone());
        false
    }
}

/// Every entry of directory `ino` from `offset` on (`plus`: as readdirplus), through a directory
/// handle opened and released for this call.
pub fn read_dir(fs: &FtpFs<MemStore>, ino: u64, offset: u64, plus: bool) -> Vec<DirEntry> {
    let fh = fs.opendir(ino).unwrap().fh;
    let mut sink = Collect::all();
    fs.readdir(fh, offset, plus, &mut sink).unwrap();
    fs.releasedir(fh);
    sink.entries
}

/// `len` pseudo-random bytes, a function of `seed` only.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0; len];
    XorShift::new(seed).fill(&mut data);
    data
}

/// A core over a `MemStore` with a spool directory of its own.
pub struct Setup {
    pub store: Arc<MemStore>,
    pub fs: FtpFs<MemStore>,
    pub cache: tempfile::TempDir,
}

/// A core with the tests' configuration and its own spool directory.
pub fn setup() -> Setup {
    setup_with(|_| {})
}

/// `setup`, with the configuration changed by `f`.
pub fn setup_with(f: impl FnOnce(&mut FsConfig)) -> Setup {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = FsConfig {
        cache_dir: cache.path().join("spool"),
        ..core_config()
    };
    f(&mut cfg);
    let (store, fs) = mem_core(cfg);
    Setup { store, fs, cache }
}

/// A name as the kernel hands it over.
pub fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// The inode of `path`, looked up from the root.
pub fn ino(fs: &FtpFs<MemStore>, path: &str) -> u64 {
    let mut ino = ROOT_INO;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        ino = fs.lookup(ino, name(part)).unwrap().ino;
    }
    ino
}

/// The names in `dir`, sorted, without `.` and `..` (as text: the tests' names are UTF-8).
pub fn ls(fs: &FtpFs<MemStore>, dir: u64) -> Vec<String> {
    let mut names: Vec<String> = read_dir(fs, dir, 2, false)
        .into_iter()
        .map(|e| e.name.into_string().expect("a UTF-8 name"))
        .collect();
    names.sort();
    names
}

/// The paths on the "server" that `keep` picks.
pub fn paths_where(store: &MemStore, keep: impl Fn(&str) -> bool) -> Vec<String> {
    store.paths().into_iter().filter(|p| keep(p)).collect()
}

/// No upload in progress and no temporary name is left on the server.
pub fn no_temp_files(store: &MemStore) {
    let left = paths_where(store, |p| p.contains(".~ftpfs."));
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// The directory holding `path` and the name in it, as the kernel names them.
pub fn parent_and_name<'a>(fs: &FtpFs<MemStore>, path: &'a str) -> (u64, &'a OsStr) {
    let (dir, file) = path.rsplit_once('/').expect("an absolute path");
    let parent = if dir.is_empty() {
        ROOT_INO
    } else {
        ino(fs, dir)
    };
    (parent, name(file))
}

/// Creates `n` in the root, open for writing; returns its handle.
pub fn create(fs: &FtpFs<MemStore>, n: &str) -> u64 {
    fs.create(ROOT_INO, name(n), OpenMode::WRITE, true)
        .unwrap()
        .1
        .fh
}

/// `close(2)` of `fh`: its flush (where the upload happens), then its release.
pub fn close(fs: &FtpFs<MemStore>, fh: u64) {
    fs.flush(fh).unwrap();
    fs.release(fh);
}

/// Creates `path` (its directory exists), writes `data` and closes it; returns its inode.
pub fn write_new(fs: &FtpFs<MemStore>, path: &str, data: &[u8]) -> u64 {
    let (parent, file) = parent_and_name(fs, path);
    let (a, o) = fs.create(parent, file, OpenMode::WRITE, false).unwrap();
    if !data.is_empty() {
        fs.write(o.fh, 0, data).unwrap();
    }
    close(fs, o.fh);
    a.ino
}

/// Opens the existing `path` for writing, writes `data` at `offset` and closes it.
pub fn write_at(fs: &FtpFs<MemStore>, path: &str, offset: u64, data: &[u8]) {
    let o = fs.open(ino(fs, path), OpenMode::WRITE).unwrap();
    fs.write(o.fh, offset, data).unwrap();
    close(fs, o.fh);
}

/// Writes `data` at `off` in writes of `chunk` bytes, as the kernel would.
pub fn write_all(fs: &FtpFs<MemStore>, fh: u64, mut off: u64, data: &[u8], chunk: usize) {
    for c in data.chunks(chunk) {
        assert_eq!(fs.write(fh, off, c).unwrap() as usize, c.len());
        off += c.len() as u64;
    }
}

/// Opens `path` for writing and truncates it, as the kernel does for `O_WRONLY|O_TRUNC`.
pub fn open_truncated(fs: &FtpFs<MemStore>, path: &str) -> u64 {
    let f = ino(fs, path);
    let o = fs.open(f, OpenMode::WRITE).unwrap();
    let zero = SetAttr {
        size: Some(0),
        ..SetAttr::default()
    };
    fs.setattr(f, Some(o.fh), zero).unwrap();
    o.fh
}

/// Reads `len` bytes from the start (fewer at the end of the file).
pub fn read_back(fs: &FtpFs<MemStore>, fh: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let d = fs.read(fh, out.len() as u64, 65536).unwrap();
        if d.is_empty() {
            break;
        }
        out.extend_from_slice(&d);
    }
    out
}
