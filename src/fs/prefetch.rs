//! `Prefetcher`: walking a tree (`cp -r`, `tar`, `grep -r`, `ls -lR`, `find`, `du`, `rsync`) is
//! bound by round trips: one `RETR` per small file, one `LIST` per directory. When the files of a
//! directory are opened in listing order, the next small files of that directory are fetched ahead,
//! in parallel, on spare pool connections, into the block cache; a reader that opens a file whose
//! fetch is under way waits for it (`InFlight`) instead of fetching it a second time. Likewise, when
//! a second subdirectory of a directory is opened, the listings of the next few subdirectories (in
//! listing order, as `find` and `du` walk, and in name order, as `ls -R` and `rsync` do) are fetched
//! ahead into the listing cache (`Listings` makes a reader wait for such a fetch rather than repeat
//! it).

use std::collections::{HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use log::debug;
use lru::LruCache;

use super::listings::Listings;
use crate::cache::{Block, BlockCache, FileVersion, Listing, BLOCK_SIZE};
use crate::caller;
use crate::remote::{join, EntryKind, RemoteStore};
use crate::sync::lock;

/// How many files ahead of the reader are fetched. Sixteen keeps up to seven connections busy
/// (`max_conns=8`) on a far server, where each file costs one or two round trips on its
/// connection, without fetching much that a reader stopping early would not use.
const DEPTH: usize = 16;
/// Directories whose walk position is remembered.
const WALKS: usize = 64;
/// How many subdirectories ahead of a walk have their listings fetched, in each of the two orders:
/// enough to keep seven connections busy far away (a walk of 100 directories at 20 ms with
/// `max_conns=8` took 1.66 s with three, 1.06 s with twelve).
const DIRS_AHEAD: usize = 12;

/// Work for the fetch threads.
enum Task {
    /// A small file, into block 0 of the block cache.
    File(FileVersion),
    /// A directory's listing, into the listing cache.
    Listing(String),
}

/// Files whose fetch is queued or running.
#[derive(Default)]
pub struct InFlight {
    set: Mutex<HashSet<FileVersion>>,
    done: Condvar,
}

impl InFlight {
    /// Waits (at most `timeout`, and not once the caller is being killed) until no fetch of
    /// `version` is pending.
    pub fn wait(&self, version: &FileVersion, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut set = lock(&self.set);
        while set.contains(version) {
            match caller::wait(&self.done, set, deadline) {
                Ok(s) => set = s,
                Err(_) => return,
            }
        }
    }

    fn finish(&self, version: &FileVersion) {
        lock(&self.set).remove(version);
        self.done.notify_all();
    }
}

struct State {
    queue: VecDeque<Task>,
    /// Per directory: the listing position of the file opened last.
    walks: LruCache<String, usize>,
    /// Per directory: the subdirectory opened last.
    dir_walks: LruCache<String, String>,
    /// Listings queued or being fetched by the threads.
    listings_queued: HashSet<String>,
    stop: bool,
}

struct Inner<S: RemoteStore> {
    store: Arc<S>,
    cache: Arc<BlockCache>,
    listings: Arc<Listings<S>>,
    in_flight: Arc<InFlight>,
    state: Mutex<State>,
    work: Condvar,
}

/// Fetches small files ahead of a reader walking a directory.
pub struct Prefetcher<S: RemoteStore> {
    inner: Arc<Inner<S>>,
}

impl<S: RemoteStore> Prefetcher<S> {
    /// A prefetcher with `workers` fetch threads (0 disables it).
    pub fn new(
        store: Arc<S>,
        cache: Arc<BlockCache>,
        listings: Arc<Listings<S>>,
        workers: usize,
    ) -> Prefetcher<S> {
        let walks = NonZeroUsize::new(WALKS).expect("non-zero");
        let inner = Arc::new(Inner {
            store,
            cache,
            listings,
            in_flight: Arc::new(InFlight::default()),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                walks: LruCache::new(walks),
                dir_walks: LruCache::new(walks),
                listings_queued: HashSet::new(),
                stop: workers == 0,
            }),
            work: Condvar::new(),
        });
        for _ in 0..workers {
            let inner = Arc::clone(&inner);
            let spawned = std::thread::Builder::new()
                .name("ftpfs-prefetch".into())
                .spawn(move || worker(&inner));
            if let Err(e) = spawned {
                debug!("no prefetch thread: {e}");
            }
        }
        Prefetcher { inner }
    }

    pub fn in_flight(&self) -> Arc<InFlight> {
        Arc::clone(&self.inner.in_flight)
    }

    /// A file `name` of directory `dir` was opened. If the directory is being walked in listing
    /// order, queue the next small files.
    pub fn opened(&self, dir: &str, listing: &Listing, name: &str) {
        let Some(pos) = listing.position(name) else {
            return;
        };
        let mut st = lock(&self.inner.state);
        if st.stop {
            return;
        }
        let walking = st
            .walks
            .put(dir.to_string(), pos)
            .is_some_and(|last| last < pos && pos - last <= DEPTH);
        if !walking {
            return;
        }
        let mut set = lock(&self.inner.in_flight.set);
        let mut queued = 0;
        for e in listing.entries().iter().skip(pos + 1).take(DEPTH) {
            if e.kind != EntryKind::File || e.size == 0 || e.size > BLOCK_SIZE {
                continue;
            }
            let version = FileVersion {
                path: join(dir, &e.name).into(),
                size: e.size,
                mtime: e.mtime,
            };
            if set.contains(&version) || self.inner.cache.contains(&version, 0) {
                continue;
            }
            set.insert(version.clone());
            st.queue.push_back(Task::File(version));
            queued += 1;
        }
        drop(set);
        drop(st);
        for _ in 0..queued {
            self.inner.work.notify_one();
        }
    }

    /// Subdirectory `name` of directory `dir` was opened. If it is not the first one opened there,
    /// the directory is being walked: queue the listings of the next few subdirectories.
    pub fn opened_dir(&self, dir: &str, listing: &Listing, name: &str) {
        let mut st = lock(&self.inner.state);
        if st.stop {
            return;
        }
        let walking = st
            .dir_walks
            .put(dir.to_string(), name.to_string())
            .is_some_and(|last| last != name);
        if !walking {
            return;
        }
        let subdirs: Vec<&str> = listing
            .entries()
            .iter()
            .filter(|e| e.kind == EntryKind::Dir)
            .map(|e| e.name.as_str())
            .collect();
        let mut by_name = subdirs.clone();
        by_name.sort_unstable();
        let after = |order: &[&str]| -> Vec<String> {
            let at = order.iter().position(|n| *n == name).map_or(0, |i| i + 1);
            order[at.min(order.len())..]
                .iter()
                .take(DIRS_AHEAD)
                .map(|n| join(dir, n))
                .collect()
        };
        let mut queued = 0;
        for path in after(&subdirs).into_iter().chain(after(&by_name)) {
            if st.listings_queued.contains(&path) || self.inner.listings.at_hand(&path) {
                continue;
            }
            st.listings_queued.insert(path.clone());
            st.queue.push_back(Task::Listing(path));
            queued += 1;
        }
        drop(st);
        for _ in 0..queued {
            self.inner.work.notify_one();
        }
    }
}

impl<S: RemoteStore> Drop for Prefetcher<S> {
    fn drop(&mut self) {
        let mut st = lock(&self.inner.state);
        st.stop = true;
        for task in std::mem::take(&mut st.queue) {
            if let Task::File(v) = task {
                self.inner.in_flight.finish(&v);
            }
        }
        drop(st);
        self.inner.work.notify_all();
    }
}

fn worker<S: RemoteStore>(inner: &Inner<S>) {
    loop {
        let task = {
            let mut st = lock(&inner.state);
            loop {
                if st.stop {
                    return;
                }
                if let Some(t) = st.queue.pop_front() {
                    break t;
                }
                st = crate::sync::wait(&inner.work, st);
            }
        };
        match task {
            Task::File(version) => {
                fetch_small(inner, &version);
                inner.in_flight.finish(&version);
            }
            Task::Listing(path) => {
                // A failure is only logged: the walker will ask again itself.
                if let Err(e) = inner.listings.get(&path) {
                    debug!("prefetch of the listing of {path} failed: {e}");
                }
                lock(&inner.state).listings_queued.remove(&path);
            }
        }
    }
}

/// Downloads a whole small file into block 0. Failures are only logged: the reader will try itself.
fn fetch_small<S: RemoteStore>(inner: &Inner<S>, version: &FileVersion) {
    // As a ranged read of the whole file: the store starts it on a data connection its session
    // opened ahead when the previous one ended (one round trip per file far away, not three).
    let mut remote = match inner.store.open_read_range(&version.path, 0, version.size) {
        Ok(r) => r,
        Err(e) => {
            debug!("prefetch of {} failed: {e}", version.path);
            return;
        }
    };
    let mut buf = Block::buffer(1);
    match remote.read_full(&mut buf) {
        // Only a complete file is cached: the listing's size must match what arrived.
        Ok(n) if n as u64 == version.size => {
            inner.cache.insert(version, 0, Block::single(buf, n));
            // Also after the end of the data: ending is where the session opens its next data
            // connection ahead.
            remote.finish();
        }
        Ok(n) => {
            debug!(
                "prefetch of {}: {n} bytes where the listing said {}",
                version.path, version.size
            );
            remote.finish();
        }
        Err(e) => debug!("prefetch of {} failed: {e}", version.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::DirCache;
    use crate::remote::mem::{MemStore, Op};

    fn listings(store: &Arc<MemStore>) -> (Arc<DirCache>, Arc<Listings<MemStore>>) {
        let dirs = Arc::new(DirCache::new(Duration::from_secs(30)));
        let listings = Arc::new(Listings::new(
            Arc::clone(store),
            Arc::clone(&dirs),
            Duration::from_secs(5),
        ));
        (dirs, listings)
    }

    #[test]
    fn a_walk_into_subdirectories_fetches_the_next_listings() {
        let store = Arc::new(MemStore::new());
        for d in ["b", "d", "a", "c", "f", "e", "g", "h"] {
            store.add_file(&format!("/top/{d}/x"), "x");
        }
        store.add_file("/top/file", "not a directory");
        let (dirs, listings) = listings(&store);
        let top = listings.get("/top").unwrap();
        let order: Vec<&str> = top.entries().iter().map(|e| e.name.as_str()).collect();
        let p = Prefetcher::new(
            Arc::clone(&store),
            Arc::new(BlockCache::new(1 << 20)),
            Arc::clone(&listings),
            2,
        );
        let lists = || store.count(Op::List);
        assert_eq!(lists(), 1);
        p.opened_dir("/top", &top, order[0]);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(lists(), 1, "one subdirectory opened is not a walk");
        // The second one is: the next three in listing order and in name order are fetched.
        let second = order[1];
        p.opened_dir("/top", &top, second);
        let mut want: Vec<String> = Vec::new();
        let subdirs: Vec<&str> = order.iter().copied().filter(|n| *n != "file").collect();
        let mut by_name = subdirs.clone();
        by_name.sort_unstable();
        for o in [&subdirs, &by_name] {
            let at = o.iter().position(|n| *n == second).unwrap() + 1;
            want.extend(o[at..].iter().take(DIRS_AHEAD).map(|n| format!("/top/{n}")));
        }
        want.sort();
        want.dedup();
        let deadline = Instant::now() + Duration::from_secs(5);
        while want.iter().any(|w| !dirs.is_fresh(w)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for w in &want {
            assert!(dirs.is_fresh(w), "{w} was not prefetched ({order:?})");
        }
        assert_eq!(lists(), 1 + want.len() as u64, "nothing else was listed");
        // A reader asking for a prefetched listing gets it without a LIST.
        listings.get(&want[0]).unwrap();
        assert_eq!(lists(), 1 + want.len() as u64);
    }

    #[test]
    fn a_walk_in_listing_order_fetches_the_next_small_files() {
        let store = Arc::new(MemStore::new());
        for i in 0..20 {
            store.add_file(&format!("/d/f{i:02}"), vec![i as u8; 100]);
        }
        store.add_file("/d/f05", vec![0u8; BLOCK_SIZE as usize + 1]);
        let listing = Listing::new(store.list("/d").unwrap());
        let cache = Arc::new(BlockCache::new(1 << 20));
        let (_, listings) = listings(&store);
        let p = Prefetcher::new(Arc::clone(&store), Arc::clone(&cache), listings, 2);
        p.opened("/d", &listing, "f00");
        assert_eq!(store.count(Op::OpenRead), 0, "one open is not a walk");
        p.opened("/d", &listing, "f01");
        let v = |i: usize| FileVersion {
            path: format!("/d/f{i:02}").into(),
            size: listing.get(&format!("f{i:02}")).unwrap().size,
            mtime: listing.get(&format!("f{i:02}")).unwrap().mtime,
        };
        for i in 2..=DEPTH + 1 {
            p.in_flight().wait(&v(i), Duration::from_secs(5));
        }
        for i in 2..=DEPTH + 1 {
            if i == 5 {
                assert!(
                    !cache.contains(&v(i), 0),
                    "large files are left to the reader"
                );
            } else {
                assert_eq!(&cache.get(&v(i), 0).unwrap()[..], &[i as u8; 100][..]);
            }
        }
        assert!(!cache.contains(&v(DEPTH + 2), 0));
        assert_eq!(store.count(Op::OpenRead), DEPTH as u64 - 1);
    }
}
