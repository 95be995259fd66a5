//! `Listings`: directory listings as the core asks for them, from the `DirCache` while fresh,
//! else from the server. Concurrent askers for one directory share a single fetch: the kernel looks
//! up many names of one directory in parallel, and the prefetcher may be fetching a listing that a
//! reader then asks for. Temporary upload names (ftpfs's own, or another ftpfs's) are left out.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::cache::{DirCache, Listing};
use crate::caller::{self, Stop};
use crate::error::{FsError, FsResult};
use crate::remote::RemoteStore;

use super::upload::is_temp_name;
use crate::sync::lock;

/// The listings of one mount.
pub struct Listings<S: RemoteStore> {
    store: Arc<S>,
    dirs: Arc<DirCache>,
    /// Directories whose listing is being fetched right now.
    fetching: Mutex<HashSet<String>>,
    fetched: Condvar,
    /// How long one asker waits for another's fetch before looking again.
    timeout: Duration,
}

impl<S: RemoteStore> Listings<S> {
    pub fn new(store: Arc<S>, dirs: Arc<DirCache>, timeout: Duration) -> Self {
        Listings {
            store,
            dirs,
            fetching: Mutex::new(HashSet::new()),
            fetched: Condvar::new(),
            timeout,
        }
    }

    /// The listing of directory `path`.
    pub fn get(&self, path: &str) -> FsResult<Arc<Listing>> {
        loop {
            if let Some(l) = self.dirs.get(path) {
                return Ok(l);
            }
            let mut fetching = lock(&self.fetching);
            if !fetching.contains(path) {
                fetching.insert(path.to_string());
                break;
            }
            // Someone else is fetching it: wait (their fetch is bounded), then look in the cache
            // again.
            while fetching.contains(path) {
                let deadline = Instant::now() + self.timeout;
                fetching = match caller::wait(&self.fetched, fetching, deadline) {
                    Ok(f) => f,
                    Err(Stop::Interrupted) => return Err(FsError::Interrupted),
                    Err(Stop::TimedOut) => lock(&self.fetching),
                };
            }
        }
        let result = self.store.list(path).map(|mut entries| {
            // Uploads in progress (ours or another ftpfs's) are not files yet.
            entries.retain(|e| !is_temp_name(&e.name));
            let listing = Arc::new(Listing::new(entries));
            self.dirs.insert(path, Arc::clone(&listing));
            listing
        });
        lock(&self.fetching).remove(path);
        self.fetched.notify_all();
        Ok(result?)
    }

    /// Whether `path`'s listing is cached and fresh, or on its way.
    pub fn at_hand(&self, path: &str) -> bool {
        self.dirs.is_fresh(path) || lock(&self.fetching).contains(path)
    }
}
