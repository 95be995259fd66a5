//! `BlockCache`: file contents in `BLOCK_SIZE` blocks, bounded in bytes, least recently used blocks
//! dropped first. Blocks are keyed by the file's version (path, size, mtime), so a file changed on the
//! server can never be served from blocks of its old content.

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroUsize;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::remote::below;
use crate::sync::lock;
use lru::LruCache;

/// Size of a cached block. 128 KiB matches the kernel's largest FUSE read request with the default
/// read-ahead, so a sequential read usually maps onto exactly one block, and a random read fetches
/// little more than it asked for.
pub const BLOCK_SIZE: u64 = 128 << 10;

/// Blocks a download stream reads into one buffer at most (1 MiB). The kernel's read-ahead requests
/// are 128 KiB but not aligned to blocks (the first ones are 16, 32 and 64 KiB), so most of them
/// span two blocks; when both lie in one buffer the reply is a single slice of it, and only the
/// requests that cross from one buffer into the next are gathered by copying (one in eight).
pub const SEGMENT_BLOCKS: usize = 8;

const SEGMENT_BYTES: usize = SEGMENT_BLOCKS * BLOCK_SIZE as usize;

/// Spare buffers kept for reuse, of one block and of a whole segment: 8 MiB of each at most.
/// Recycling spares the fetch thread a fresh allocation per buffer, with its page faults and
/// zeroing, which showed up as a sixth of its time in profiles.
const SPARE_BLOCKS: usize = 64;
const SPARE_SEGMENTS: usize = 8;

/// The free lists: one-block buffers, then segment buffers.
struct Spares {
    blocks: Vec<Vec<u8>>,
    segments: Vec<Vec<u8>>,
}

static SPARES: Mutex<Spares> = Mutex::new(Spares {
    blocks: Vec::new(),
    segments: Vec::new(),
});

/// Memory holding one or more consecutive blocks of a file: filled once by the thread that read
/// it, then shared read-only by its blocks. Buffers of a spare size go back to the free lists when
/// the last block is dropped.
struct Segment {
    buf: Vec<u8>,
}

impl Drop for Segment {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.buf));
    }
}

/// A block of file content: a range of a segment, shared without copying between the cache, a
/// stream's queue and replies.
#[derive(Clone)]
pub struct Block {
    seg: Arc<Segment>,
    start: usize,
    len: usize,
}

impl Block {
    /// A buffer to read `blocks` blocks into (its old contents are to be overwritten).
    pub fn buffer(blocks: usize) -> Vec<u8> {
        let bytes = blocks * BLOCK_SIZE as usize;
        let mut spares = lock(&SPARES);
        let list = match bytes {
            SEGMENT_BYTES => &mut spares.segments,
            b if b == BLOCK_SIZE as usize => &mut spares.blocks,
            _ => return vec![0u8; bytes],
        };
        list.pop().unwrap_or_else(|| vec![0u8; bytes])
    }

    /// The first `len` bytes of `buf` as blocks of `BLOCK_SIZE` (the last one shorter if `len` is
    /// not a multiple). Bytes that fill less than half the buffer (a small file, a file's tail)
    /// are copied into a buffer of their own size and the big one recycled: the cache counts bytes
    /// by length, so keeping a 1 MiB buffer for a 2 KiB file would make its real memory use many
    /// times its bound.
    pub fn split(mut buf: Vec<u8>, len: usize) -> Vec<Block> {
        assert!(len <= buf.len());
        if len < buf.len() / 2 {
            let small = buf[..len].to_vec();
            recycle(std::mem::replace(&mut buf, small));
        }
        let seg = Arc::new(Segment { buf });
        (0..len)
            .step_by(BLOCK_SIZE as usize)
            .map(|start| Block {
                seg: Arc::clone(&seg),
                start,
                len: (len - start).min(BLOCK_SIZE as usize),
            })
            .collect()
    }

    /// The first `len` bytes of `buf` as one block (at most `BLOCK_SIZE`; an empty file gives an
    /// empty block).
    pub fn single(buf: Vec<u8>, len: usize) -> Block {
        assert!(len <= BLOCK_SIZE as usize);
        Block::split(buf, len).pop().unwrap_or_else(|| Block {
            seg: Arc::new(Segment { buf: Vec::new() }),
            start: 0,
            len: 0,
        })
    }

    /// The bytes of `parts` (each a range of a block) as one slice, without copying, when they lie
    /// back to back in one segment.
    pub fn joined(
        parts: &[(Block, std::ops::Range<usize>)],
    ) -> Option<(Block, std::ops::Range<usize>)> {
        let (first, first_range) = parts.first()?;
        let begin = first.start + first_range.start;
        let mut end = begin;
        for (b, r) in parts {
            if !Arc::ptr_eq(&b.seg, &first.seg) || b.start + r.start != end {
                return None;
            }
            end = b.start + r.end;
        }
        let whole = Block {
            seg: Arc::clone(&first.seg),
            start: begin,
            len: end - begin,
        };
        let len = whole.len;
        Some((whole, 0..len))
    }
}

impl std::ops::Deref for Block {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.seg.buf[self.start..self.start + self.len]
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Block({} bytes)", self.len)
    }
}

/// Keeps a buffer of a spare size for reuse, up to the limit of its list.
fn recycle(buf: Vec<u8>) {
    let mut spares = lock(&SPARES);
    let (list, limit) = match buf.len() {
        SEGMENT_BYTES => (&mut spares.segments, SPARE_SEGMENTS),
        b if b == BLOCK_SIZE as usize => (&mut spares.blocks, SPARE_BLOCKS),
        _ => return,
    };
    if list.len() < limit {
        list.push(buf);
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

/// The blocks, with their keys also filed by path: every `unlink`, `rename`, `rmdir` and finished
/// upload drops a path's blocks (`invalidate`), and a search of the whole LRU made each of them
/// cost time in proportion to the cache (826 µs per `unlink` with a read tree's 10,000 small files
/// cached, 188 µs without). Kept in order, so that a tree's paths are one range.
struct Inner {
    lru: LruCache<BlockKey, Block>,
    by_path: BTreeMap<Arc<str>, HashSet<BlockKey>>,
    bytes: u64,
}

impl Inner {
    fn filed(&mut self, key: &BlockKey) {
        self.by_path
            .entry(Arc::clone(&key.version.path))
            .or_default()
            .insert(key.clone());
    }

    fn unfiled(&mut self, key: &BlockKey) {
        let path = &*key.version.path;
        if let Some(keys) = self.by_path.get_mut(path) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_path.remove(path);
            }
        }
    }

    /// Drops the blocks of the paths taken out of the index.
    fn drop_keys(&mut self, keys: HashSet<BlockKey>) {
        for k in keys {
            if let Some(b) = self.lru.pop(&k) {
                self.bytes -= b.len() as u64;
            }
        }
    }
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
                by_path: BTreeMap::new(),
                bytes: 0,
            }),
            limit,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Drops every block of `path`, or with `tree` of anything below it too: the file changed through
    /// us, maybe within the same second and at the same size, so its (size, mtime) key cannot tell.
    pub fn invalidate(&self, path: &str, tree: bool) {
        let mut inner = self.lock();
        if let Some(keys) = inner.by_path.remove(path) {
            inner.drop_keys(keys);
        }
        if !tree {
            return;
        }
        let below = below(path);
        let paths: Vec<Arc<str>> = inner
            .by_path
            .range::<str, _>((Bound::Included(below.as_str()), Bound::Unbounded))
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(&below))
            .cloned()
            .collect();
        for p in paths {
            if let Some(keys) = inner.by_path.remove(&p) {
                inner.drop_keys(keys);
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
        match inner.lru.put(key.clone(), data) {
            Some(old) => inner.bytes -= old.len() as u64,
            None => inner.filed(&key),
        }
        while inner.bytes > self.limit {
            match inner.lru.pop_lru() {
                Some((k, evicted)) => {
                    inner.bytes -= evicted.len() as u64;
                    inner.unfiled(&k);
                }
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
        Block::single(vec![fill; len], len)
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
        let b = Block::single(Block::buffer(1), 10);
        assert_eq!(b.len(), 10);
        assert!(
            b.seg.buf.capacity() < 1024,
            "capacity {}",
            b.seg.buf.capacity()
        );
        let full = Block::single(vec![1; BLOCK_SIZE as usize], BLOCK_SIZE as usize);
        assert_eq!(full.len(), BLOCK_SIZE as usize);
    }

    #[test]
    fn a_segment_splits_into_blocks_and_neighbours_join_without_a_copy() {
        let mut buf = Block::buffer(SEGMENT_BLOCKS);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i / 1000) as u8;
        }
        let want = buf.clone();
        let len = 3 * BLOCK_SIZE as usize + 5;
        let blocks = Block::split(buf, len);
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[3].len(), 5);
        let bs = BLOCK_SIZE as usize;
        // A read from the middle of block 0 to the middle of block 2: one slice of the segment.
        let parts = vec![
            (blocks[0].clone(), 100..bs),
            (blocks[1].clone(), 0..bs),
            (blocks[2].clone(), 0..7),
        ];
        let (whole, range) = Block::joined(&parts).unwrap();
        assert_eq!(whole.as_ptr(), blocks[0][100..].as_ptr(), "no copy");
        assert_eq!(&whole[range], &want[100..2 * bs + 7]);
        // Blocks of different segments, or with a gap, do not join.
        let other = Block::single(vec![0; 10], 10);
        assert!(Block::joined(&[(blocks[3].clone(), 0..5), (other, 0..10)]).is_none());
        assert!(Block::joined(&[(blocks[0].clone(), 0..10), (blocks[1].clone(), 5..10)]).is_none());
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
    fn the_path_index_follows_evictions_and_invalidations() {
        let c = BlockCache::new(310);
        let paths = |c: &BlockCache| -> Vec<String> {
            c.lock().by_path.keys().map(|p| p.to_string()).collect()
        };
        c.insert(&v("/d/a", 1), 0, block(100, 0));
        c.insert(&v("/d/a", 1), 1, block(100, 0));
        c.insert(&v("/d/ab", 1), 0, block(100, 0));
        // The oldest of /d/a's blocks goes, the path stays filed with its other block.
        c.insert(&v("/e", 1), 0, block(100, 0));
        assert_eq!(paths(&c), ["/d/a", "/d/ab", "/e"]);
        // Its last block goes: so does the path.
        c.insert(&v("/f", 1), 0, block(100, 0));
        assert_eq!(paths(&c), ["/d/ab", "/e", "/f"]);
        // A tree takes the paths below it only, not a sibling that shares its prefix.
        c.insert(&v("/d", 1), 0, block(10, 0));
        c.invalidate("/d/a", true);
        assert_eq!(paths(&c), ["/d", "/d/ab", "/e", "/f"]);
        c.invalidate("/d", true);
        assert_eq!(paths(&c), ["/e", "/f"]);
        assert_eq!(c.bytes(), 200);
        c.invalidate("/", true);
        assert!(paths(&c).is_empty());
        assert_eq!(c.bytes(), 0);
        assert_eq!(c.lock().lru.len(), 0);
    }

    #[test]
    fn zero_limit_disables() {
        let c = BlockCache::new(0);
        c.insert(&v("/a", 1), 0, block(1, 0));
        assert_eq!(c.bytes(), 0);
    }
}
