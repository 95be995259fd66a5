//! `BlockCache`: file contents in `BLOCK_SIZE` blocks, bounded in bytes, least recently used blocks
//! dropped first. Blocks are keyed by the file's version (path, size, mtime), so a file changed on the
//! server can never be served from blocks of its old content.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lru::LruCache;

/// Size of a cached block. 128 KiB matches the kernel's largest FUSE read request with the default
/// read-ahead, so a sequential read usually maps onto exactly one block, and a random read fetches
/// little more than it asked for.
pub const BLOCK_SIZE: u64 = 128 << 10;

/// A block of file content, shared without copying between the cache, a stream's queue and replies.
pub type Block = Arc<BlockBuf>;

/// Spare block buffers kept for reuse: 8 MiB. Recycling spares the fetch thread a fresh allocation
/// per block, with its page faults and zeroing, which showed up as a sixth of its time in profiles.
const SPARE_BUFFERS: usize = 64;

static SPARES: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The bytes of one block. Full-size buffers go back to a small free list when the last reference
/// is dropped.
pub struct BlockBuf {
    buf: Vec<u8>,
    len: usize,
}

impl BlockBuf {
    /// A `BLOCK_SIZE` buffer to read into (its old contents are to be overwritten).
    pub fn spare() -> Vec<u8> {
        SPARES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(|| vec![0u8; BLOCK_SIZE as usize])
    }

    /// The first `len` bytes of `buf`. A short block (a small file, a file's tail) is copied into a
    /// buffer of its own size and the big buffer recycled: the cache counts bytes by `len`, so keeping
    /// a 128 KiB buffer for a 2 KiB file would make its real memory use many times its bound.
    pub fn new(mut buf: Vec<u8>, len: usize) -> Block {
        assert!(len <= buf.len());
        if len < buf.len() / 2 {
            let small = buf[..len].to_vec();
            recycle(std::mem::replace(&mut buf, small));
        }
        Arc::new(BlockBuf { buf, len })
    }
}

impl std::ops::Deref for BlockBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Debug for BlockBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockBuf({} bytes)", self.len)
    }
}

/// Keeps a full-size buffer for reuse, up to `SPARE_BUFFERS` of them.
fn recycle(buf: Vec<u8>) {
    if buf.len() == BLOCK_SIZE as usize {
        let mut spares = SPARES.lock().unwrap_or_else(|e| e.into_inner());
        if spares.len() < SPARE_BUFFERS {
            spares.push(buf);
        }
    }
}

impl Drop for BlockBuf {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.buf));
    }
}

/// Which content of a file: its path and what the server said of it when it was opened.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileVersion {
    pub path: Arc<str>,
    pub size: u64,
    pub mtime: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BlockKey {
    version: FileVersion,
    index: u64,
}

struct Inner {
    lru: LruCache<BlockKey, Block>,
    bytes: u64,
}

/// The block cache.
pub struct BlockCache {
    inner: Mutex<Inner>,
    limit: u64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl BlockCache {
    /// A cache holding at most `limit` bytes of blocks (0 disables it).
    pub fn new(limit: u64) -> BlockCache {
        BlockCache {
            inner: Mutex::new(Inner {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
            limit,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops every block of `path`, or with `tree` of anything below it too: the file changed through
    /// us, maybe within the same second and at the same size, so its (size, mtime) key cannot tell.
    pub fn invalidate(&self, path: &str, tree: bool) {
        let below = format!("{}/", path.trim_end_matches('/'));
        let mut inner = self.lock();
        let doomed: Vec<BlockKey> = inner
            .lru
            .iter()
            .map(|(k, _)| k)
            .filter(|k| &*k.version.path == path || (tree && k.version.path.starts_with(&below)))
            .cloned()
            .collect();
        for k in doomed {
            if let Some(b) = inner.lru.pop(&k) {
                inner.bytes -= b.len() as u64;
            }
        }
    }

    /// Block `index` of `version`, if cached.
    pub fn get(&self, version: &FileVersion, index: u64) -> Option<Block> {
        let key = BlockKey {
            version: version.clone(),
            index,
        };
        let found = self.lock().lru.get(&key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Whether block `index` of `version` is cached (without counting a hit or a miss).
    pub fn contains(&self, version: &FileVersion, index: u64) -> bool {
        let key = BlockKey {
            version: version.clone(),
            index,
        };
        self.lock().lru.contains(&key)
    }

    /// Stores block `index` of `version` (shorter than `BLOCK_SIZE` only for a file's last block).
    pub fn insert(&self, version: &FileVersion, index: u64, data: Block) {
        if self.limit == 0 || data.len() as u64 > self.limit {
            return;
        }
        let key = BlockKey {
            version: version.clone(),
            index,
        };
        let mut inner = self.lock();
        inner.bytes += data.len() as u64;
        if let Some(old) = inner.lru.put(key, data) {
            inner.bytes -= old.len() as u64;
        }
        while inner.bytes > self.limit {
            match inner.lru.pop_lru() {
                Some((_, evicted)) => inner.bytes -= evicted.len() as u64,
                None => break,
            }
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Room for this many blocks (for sizing read-ahead against the cache).
    pub fn capacity_blocks(&self) -> NonZeroUsize {
        NonZeroUsize::new((self.limit / BLOCK_SIZE) as usize).unwrap_or(NonZeroUsize::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(path: &str, size: u64) -> FileVersion {
        FileVersion {
            path: path.into(),
            size,
            mtime: SystemTime::UNIX_EPOCH,
        }
    }

    fn block(len: usize, fill: u8) -> Block {
        BlockBuf::new(vec![fill; len], len)
    }

    #[test]
    fn stores_and_returns_blocks() {
        let c = BlockCache::new(1 << 20);
        c.insert(&v("/a", 10), 0, block(10, 7));
        assert_eq!(&c.get(&v("/a", 10), 0).unwrap()[..], &[7u8; 10][..]);
        assert!(c.get(&v("/a", 10), 1).is_none());
        assert_eq!(c.stats(), (1, 1));
    }

    #[test]
    fn another_version_misses() {
        let c = BlockCache::new(1 << 20);
        c.insert(&v("/a", 10), 0, block(10, 7));
        assert!(c.get(&v("/a", 11), 0).is_none());
    }

    #[test]
    fn bounded_in_bytes_evicting_least_recent() {
        let c = BlockCache::new(300);
        c.insert(&v("/a", 1), 0, block(100, 0));
        c.insert(&v("/a", 1), 1, block(100, 1));
        c.insert(&v("/a", 1), 2, block(100, 2));
        assert!(c.get(&v("/a", 1), 0).is_some()); // now most recent
        c.insert(&v("/a", 1), 3, block(100, 3));
        assert_eq!(c.bytes(), 300);
        assert!(c.get(&v("/a", 1), 1).is_none(), "least recent evicted");
        assert!(c.get(&v("/a", 1), 0).is_some());
    }

    #[test]
    fn replacing_a_block_keeps_the_byte_count_right() {
        let c = BlockCache::new(1000);
        c.insert(&v("/a", 1), 0, block(100, 0));
        c.insert(&v("/a", 1), 0, block(50, 0));
        assert_eq!(c.bytes(), 50);
    }

    #[test]
    fn a_short_block_holds_only_its_own_bytes() {
        let b = BlockBuf::new(BlockBuf::spare(), 10);
        assert_eq!(b.len(), 10);
        assert!(b.buf.capacity() < 1024, "capacity {}", b.buf.capacity());
        let full = BlockBuf::new(vec![1; BLOCK_SIZE as usize], BLOCK_SIZE as usize);
        assert_eq!(full.len(), BLOCK_SIZE as usize);
    }

    #[test]
    fn invalidate_drops_a_path_or_a_tree() {
        let c = BlockCache::new(1 << 20);
        for p in ["/d/a", "/d/b", "/e"] {
            c.insert(&v(p, 10), 0, block(10, 1));
        }
        c.invalidate("/d/a", false);
        assert!(c.get(&v("/d/a", 10), 0).is_none());
        assert!(c.get(&v("/d/b", 10), 0).is_some());
        c.invalidate("/d", true);
        assert!(c.get(&v("/d/b", 10), 0).is_none());
        assert!(c.get(&v("/e", 10), 0).is_some());
        assert_eq!(c.bytes(), 10);
    }

    #[test]
    fn zero_limit_disables() {
        let c = BlockCache::new(0);
        c.insert(&v("/a", 1), 0, block(1, 0));
        assert_eq!(c.bytes(), 0);
    }
}
