//! `DirCache`: directory listings by path, trusted for a TTL, least recently used ones dropped first.
//! A listing answers `readdir`, `lookup` (negative answers included) and `getattr` for its entries.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::remote::{below, EntryKind, RemoteEntry};
use crate::sync::lock;

/// How many directory listings are kept at most. A listing of 100 entries takes about 20 KiB, so
/// this bounds the cache near 100 MiB even for trees with far larger directories than usual.
const MAX_LISTINGS: usize = 4096;

/// One directory's entries, indexed by name.
#[derive(Debug, Clone)]
pub struct Listing {
    entries: Vec<RemoteEntry>,
    index: HashMap<String, usize>,
    /// How many entries are directories, counted at the first ask after a change (a directory's
    /// link count is asked at each stat of it; a listing may hold 100,000 entries).
    subdirs: OnceLock<u32>,
    /// Unique to this content: a new listing or any change gets a new one, never used before, so
    /// that an equal generation means the same entries (the kernel may keep its copy of them).
    generation: u64,
}

impl Default for Listing {
    fn default() -> Self {
        Listing::new(Vec::new())
    }
}

fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Listing {
    pub fn new(entries: Vec<RemoteEntry>) -> Listing {
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        Listing {
            entries,
            index,
            subdirs: OnceLock::new(),
            generation: next_generation(),
        }
    }

    /// Which content this is (see the field): equal only while nothing changed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Every change goes through here: the counted subdirectories and the generation are stale.
    fn changed(&mut self) {
        self.subdirs.take();
        self.generation = next_generation();
    }

    /// How many entries are directories (for the directory's link count: 2 + this).
    pub fn subdirs(&self) -> u32 {
        *self.subdirs.get_or_init(|| {
            let n = self.entries.iter().filter(|e| e.kind == EntryKind::Dir);
            n.count().try_into().unwrap_or(u32::MAX)
        })
    }

    pub fn get(&self, name: &str) -> Option<&RemoteEntry> {
        self.index.get(name).map(|&i| &self.entries[i])
    }

    /// Where `name` stands in the server's order.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn entries(&self) -> &[RemoteEntry] {
        &self.entries
    }

    /// The entry `name`, to change in place (its name stays).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut RemoteEntry> {
        self.changed();
        self.index.get(name).map(|&i| &mut self.entries[i])
    }

    /// Removes `name`: the last entry takes its place, so this costs the same in a directory of
    /// ten entries or of a hundred thousand (an `rm` of each file of a big directory would
    /// otherwise copy the listing once per file). Directory handles read their own snapshot, so
    /// the order may change.
    pub fn remove(&mut self, name: &str) -> Option<RemoteEntry> {
        self.changed();
        let i = self.index.remove(name)?;
        let gone = self.entries.swap_remove(i);
        if let Some(moved) = self.entries.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
        Some(gone)
    }

    /// Adds `entry`, or replaces the entry of its name.
    pub fn upsert(&mut self, entry: RemoteEntry) {
        self.changed();
        match self.index.get(&entry.name) {
            Some(&i) => self.entries[i] = entry,
            None => {
                self.index.insert(entry.name.clone(), self.entries.len());
                self.entries.push(entry);
            }
        }
    }
}

/// The cached listings, with their paths kept in order too: dropping a directory's subtree
/// (`invalidate_tree`, at every `rmdir`) then looks at the paths below it only, not at every
/// cached listing (after `mkdir` of 1,000 directories, each has one).
struct Cached {
    lru: LruCache<String, (Arc<Listing>, Instant)>,
    paths: BTreeSet<String>,
}

impl Cached {
    fn put(&mut self, path: String, value: (Arc<Listing>, Instant)) {
        // `push` gives back the entry it replaced or evicted.
        if let Some((old, _)) = self.lru.push(path.clone(), value) {
            if old != path {
                self.paths.remove(&old);
            }
        }
        self.paths.insert(path);
    }

    fn pop(&mut self, path: &str) {
        if self.lru.pop(path).is_some() {
            self.paths.remove(path);
        }
    }
}

/// Listings by directory path (`/`, `/a/b`).
pub struct DirCache {
    cached: Mutex<Cached>,
    ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl DirCache {
    pub fn new(ttl: Duration) -> DirCache {
        DirCache {
            cached: Mutex::new(Cached {
                lru: LruCache::new(NonZeroUsize::new(MAX_LISTINGS).expect("non-zero")),
                paths: BTreeSet::new(),
            }),
            ttl,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The listing of `path` if it was fetched less than the TTL ago.
    pub fn get(&self, path: &str) -> Option<Arc<Listing>> {
        let mut cached = lock(&self.cached);
        let fresh = match cached.lru.get(path) {
            Some((listing, at)) if at.elapsed() < self.ttl => Some(Arc::clone(listing)),
            Some(_) => {
                cached.pop(path);
                None
            }
            None => None,
        };
        let counter = if fresh.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        fresh
    }

    /// The fresh listing of `path` if cached, without counting a hit or a miss (for prefetching,
    /// which is not a lookup).
    pub fn peek(&self, path: &str) -> Option<Arc<Listing>> {
        let cached = lock(&self.cached);
        cached
            .lru
            .peek(path)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(l, _)| Arc::clone(l))
    }

    /// Whether a fresh listing of `path` is cached (without counting a hit or a miss).
    pub fn is_fresh(&self, path: &str) -> bool {
        self.peek(path).is_some()
    }

    /// Stores a listing fetched just now.
    pub fn insert(&self, path: &str, listing: Arc<Listing>) {
        lock(&self.cached).put(path.to_string(), (listing, Instant::now()));
    }

    /// Forgets `path`'s listing (after a change, or to force a fresh look).
    pub fn invalidate(&self, path: &str) {
        lock(&self.cached).pop(path);
    }

    /// Forgets the listings of `path` and of every directory below it (after a directory rename).
    pub fn invalidate_tree(&self, path: &str) {
        let below = below(path);
        let mut cached = lock(&self.cached);
        let doomed: Vec<String> = cached
            .paths
            .range(below.clone()..)
            .take_while(|k| k.starts_with(&below))
            .cloned()
            .collect();
        cached.pop(path);
        for k in doomed {
            cached.pop(&k);
        }
    }

    /// Applies our own change to a cached listing of `path`, keeping its age: after `cp a b`, `ls -l
    /// b` must show the new size without waiting for the TTL, and without a new listing. A listing
    /// that is not cached is left alone (the next fetch sees the change).
    pub fn modify(&self, path: &str, change: impl FnOnce(&mut Listing)) {
        let mut cached = lock(&self.cached);
        if let Some((listing, _)) = cached.lru.peek_mut(path) {
            // In place, unless an open directory handle shares this listing (then it keeps its
            // snapshot and the cache gets a changed copy).
            change(Arc::make_mut(listing));
        }
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn entry(name: &str) -> RemoteEntry {
        RemoteEntry {
            name: name.into(),
            kind: EntryKind::File,
            size: 1,
            mtime: SystemTime::UNIX_EPOCH,
            perm: None,
            link_target: None,
        }
    }

    #[test]
    fn listing_indexes_names() {
        let l = Listing::new(vec![entry("a"), entry("b c")]);
        assert_eq!(l.get("b c").unwrap().name, "b c");
        assert!(l.get("z").is_none());
        assert_eq!(l.entries().len(), 2);
    }

    #[test]
    fn fresh_listing_is_a_hit_and_stale_one_a_miss() {
        let c = DirCache::new(Duration::from_millis(50));
        c.insert("/d", Arc::new(Listing::new(vec![entry("a")])));
        assert!(c.get("/d").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get("/d").is_none());
        assert_eq!(c.stats(), (1, 1));
    }

    #[test]
    fn modify_changes_a_cached_listing_and_keeps_its_age() {
        let c = DirCache::new(Duration::from_millis(80));
        c.insert("/d", Arc::new(Listing::new(vec![entry("a")])));
        std::thread::sleep(Duration::from_millis(50));
        c.modify("/d", |l| l.upsert(entry("b")));
        assert!(c.get("/d").unwrap().get("b").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            c.get("/d").is_none(),
            "the change did not make the listing younger"
        );
        c.modify("/e", |l| l.upsert(entry("x")));
        assert!(c.get("/e").is_none(), "uncached listings stay uncached");
    }

    #[test]
    fn invalidate_tree_forgets_below_only() {
        let c = DirCache::new(Duration::from_secs(60));
        for p in ["/a", "/a/b", "/a/b/c", "/ab", "/"] {
            c.insert(p, Arc::new(Listing::default()));
        }
        c.invalidate_tree("/a");
        assert!(c.get("/a").is_none() && c.get("/a/b/c").is_none());
        assert!(c.get("/ab").is_some() && c.get("/").is_some());
    }

    /// The ordered paths follow the LRU through replacements, evictions, expiry and removals.
    #[test]
    fn the_paths_stay_those_of_the_cached_listings() {
        let c = DirCache::new(Duration::from_secs(60));
        let same = |c: &DirCache| {
            let cached = lock(&c.cached);
            let mut lru: Vec<&String> = cached.lru.iter().map(|(k, _)| k).collect();
            lru.sort();
            assert_eq!(lru, cached.paths.iter().collect::<Vec<_>>());
        };
        // More than the LRU holds: the oldest are evicted.
        for i in 0..MAX_LISTINGS + 10 {
            c.insert(&format!("/e/{i:05}"), Arc::new(Listing::default()));
        }
        c.insert("/e/04000", Arc::new(Listing::default()));
        same(&c);
        assert_eq!(lock(&c.cached).paths.len(), MAX_LISTINGS);
        assert!(c.get("/e/00000").is_none(), "evicted");
        c.invalidate("/e/04001");
        c.invalidate_tree("/e/040");
        same(&c);
        assert!(c.get("/e/04002").is_some(), "/e/040 is another directory");
        c.invalidate_tree("/e");
        same(&c);
        assert_eq!(lock(&c.cached).paths.len(), 0);
        let expiring = DirCache::new(Duration::ZERO);
        expiring.insert("/x", Arc::new(Listing::default()));
        assert!(expiring.get("/x").is_none());
        same(&expiring);
        assert!(lock(&expiring.cached).paths.is_empty());
        c.insert("/", Arc::new(Listing::default()));
        c.insert("/y", Arc::new(Listing::default()));
        c.invalidate_tree("/");
        same(&c);
        assert!(lock(&c.cached).paths.is_empty(), "everything is below /");
    }

    #[test]
    fn invalidate_forgets() {
        let c = DirCache::new(Duration::from_secs(60));
        c.insert("/d", Arc::new(Listing::default()));
        c.invalidate("/d");
        assert!(c.get("/d").is_none());
    }

    #[test]
    fn removes_and_upserts_keep_the_index_right() {
        let mut l = Listing::new(["a", "b", "c", "d"].map(entry).to_vec());
        assert_eq!(l.remove("b").unwrap().name, "b");
        assert!(l.remove("b").is_none());
        for n in ["a", "c", "d"] {
            assert_eq!(l.get(n).unwrap().name, n);
        }
        l.remove("d");
        l.upsert(entry("e"));
        let mut c = entry("c");
        c.size = 7;
        l.upsert(c);
        assert_eq!(l.entries().len(), 3);
        assert_eq!(l.get("c").unwrap().size, 7);
        assert_eq!(l.get("e").unwrap().name, "e");
        l.get_mut("a").unwrap().size = 9;
        assert_eq!(l.get("a").unwrap().size, 9);
        // A snapshot held elsewhere (a directory handle) does not change with the cache.
        let cache = DirCache::new(Duration::from_secs(60));
        cache.insert("/d", Arc::new(l));
        let snapshot = cache.get("/d").unwrap();
        cache.modify("/d", |l| {
            l.remove("a");
        });
        assert!(snapshot.get("a").is_some());
        assert!(cache.get("/d").unwrap().get("a").is_none());
    }
}
