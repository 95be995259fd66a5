//! The filesystem core over the in-memory store, for the tests without a network or a kernel
//! (tests/core_*.rs): the configuration they start from, an `FtpFs` over a fresh `MemStore`, a
//! `DirSink` that collects what `readdir` hands out, and deterministic file contents.

use std::sync::Arc;
use std::time::Duration;

use ftpfs::config::FsConfig;
use ftpfs::fs::{DirEntry, DirSink, FtpFs};
use ftpfs::remote::mem::MemStore;

use super::XorShift;

/// Listings stay fresh for a minute, so that operation counts do not depend on the test's speed;
/// a failure shows within two seconds.
pub fn core_config() -> FsConfig {
    FsConfig {
        dir_cache_ttl: Duration::from_secs(60),
        timeout: Duration::from_secs(2),
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
    let fh = fs.opendir(ino).unwrap();
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
