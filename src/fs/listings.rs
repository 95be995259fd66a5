//! `Listings`: directory listings as the core asks for them, from the `DirCache` while fresh,
//! else from the server. Concurrent askers for one directory share a single fetch: the kernel looks
//! up many names of one directory in parallel, and the prefetcher may be fetching a listing that a
//! reader then asks for. Temporary upload names (ftpfs's own, or another ftpfs's) are left out.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use log::debug;

use crate::cache::{DirCache, Listing};
use crate::caller::{self, Stop};
use crate::error::{FsError, FsResult};
use crate::remote::RemoteStore;

use super::upload::is_temp_name;
use crate::sync::lock;

/// One fetch of a listing, whose outcome every asker that came while it ran shares.
#[derive(Default)]
struct Flight {
    outcome: Mutex<Option<FsResult<Arc<Listing>>>>,
    ended: Condvar,
}

/// The listings of one mount.
pub struct Listings<S: RemoteStore> {
    store: Arc<S>,
    dirs: Arc<DirCache>,
    /// Directories whose listing is being fetched right now.
    fetching: Mutex<HashMap<String, Arc<Flight>>>,
    /// The longest an asker waits for another's fetch: its own operation's bound, whatever
    /// that fetch is waiting for (a connection, a retry).
    timeout: Duration,
}

impl<S: RemoteStore> Listings<S> {
    pub fn new(store: Arc<S>, dirs: Arc<DirCache>, timeout: Duration) -> Self {
        Listings {
            store,
            dirs,
            fetching: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    /// The listing of directory `path`: from the cache, from a fetch already running (its
    /// outcome, error included, is this one's too), or fetched now.
    pub fn get(&self, path: &str) -> FsResult<Arc<Listing>> {
        let deadline = Instant::now() + self.timeout;
        if let Some(l) = self.dirs.get(path) {
            return Ok(l);
        }
        let (flight, mine) = {
            let mut fetching = lock(&self.fetching);
            match fetching.get(path) {
                Some(f) => (Arc::clone(f), false),
                None => {
                    // Fetched and cached between the look above and this lock: no fetch now.
                    if let Some(l) = self.dirs.get(path) {
                        return Ok(l);
                    }
                    let f = Arc::new(Flight::default());
                    fetching.insert(path.to_string(), Arc::clone(&f));
                    (f, true)
                }
            }
        };
        if !mine {
            debug!("{path}: waiting for the listing another request is fetching");
            let mut outcome = lock(&flight.outcome);
            while outcome.is_none() {
                outcome = match caller::wait(&flight.ended, outcome, deadline) {
                    Ok(o) => o,
                    Err(Stop::Interrupted) => return Err(FsError::Interrupted),
                    Err(Stop::TimedOut) => {
                        return Err(FsError::Io(format!(
                            "the listing of {path} did not come within {} s",
                            self.timeout.as_secs()
                        )))
                    }
                };
            }
            return outcome.clone().expect("checked above");
        }
        debug!("{path}: fetching its listing");
        let result = self
            .store
            .list(path)
            .map(|mut entries| {
                // Uploads in progress (ours or another ftpfs's) are not files yet.
                entries.retain(|e| !is_temp_name(&e.name));
                let listing = Arc::new(Listing::new(entries));
                self.dirs.insert(path, Arc::clone(&listing));
                listing
            })
            .map_err(FsError::from);
        *lock(&flight.outcome) = Some(result.clone());
        lock(&self.fetching).remove(path);
        flight.ended.notify_all();
        result
    }

    /// Whether `path`'s listing is cached and fresh, or on its way.
    pub fn at_hand(&self, path: &str) -> bool {
        self.dirs.is_fresh(path) || lock(&self.fetching).contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::mem::{MemStore, Op};
    use crate::remote::RemoteError;

    fn listings(timeout: Duration) -> (Arc<MemStore>, Arc<Listings<MemStore>>) {
        let store = Arc::new(MemStore::new());
        store.add_dir("/d");
        let dirs = Arc::new(DirCache::new(Duration::from_secs(30)));
        let l = Listings::new(Arc::clone(&store), dirs, timeout);
        (store, Arc::new(l))
    }

    /// Starts a fetch of `/d` on another thread and waits until it is under way.
    fn fetch_elsewhere(
        store: &MemStore,
        l: &Arc<Listings<MemStore>>,
    ) -> std::thread::JoinHandle<FsResult<Arc<Listing>>> {
        let first = {
            let l = Arc::clone(l);
            std::thread::spawn(move || l.get("/d"))
        };
        while store.count(Op::List) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        first
    }

    #[test]
    fn an_asker_waits_for_anothers_fetch_no_longer_than_its_own_bound() {
        let (store, l) = listings(Duration::from_millis(300));
        store.stall_next(Op::List, Duration::from_secs(2));
        let first = fetch_elsewhere(&store, &l);
        let t = Instant::now();
        let second = l.get("/d");
        let waited = t.elapsed();
        assert!(matches!(second, Err(FsError::Io(_))), "{:?}", second.err());
        assert!(waited < Duration::from_secs(1), "waited {waited:?}");
        // The fetch itself still ends, and its listing is there for the next asker.
        assert!(first.join().unwrap().is_ok());
        assert!(l.get("/d").is_ok());
        assert_eq!(store.count(Op::List), 1);
    }

    #[test]
    fn askers_during_a_failed_fetch_share_its_error_without_fetching_again() {
        let (store, l) = listings(Duration::from_secs(5));
        store.stall_next(Op::List, Duration::from_millis(200));
        store.fail_next(Op::List, RemoteError::Connection("down".into()));
        let first = fetch_elsewhere(&store, &l);
        let second = l.get("/d");
        assert!(matches!(second, Err(FsError::Io(_))), "{:?}", second.err());
        assert!(first.join().unwrap().is_err());
        assert_eq!(store.count(Op::List), 1);
        // A later asker fetches again.
        assert!(l.get("/d").is_ok());
        assert_eq!(store.count(Op::List), 2);
    }
}
