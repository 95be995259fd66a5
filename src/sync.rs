//! Locks, and the one policy for a lock whose holder panicked (a poisoned lock).
//!
//! A panic while a lock of ftpfs is held is a bug. What follows it is a choice between two harms:
//! let the poison spread (every later `lock().unwrap()` panics too, FUSE worker threads die one
//! by one, the mount answers ENOTCONN, and data still in the spool is never uploaded), or go on
//! with the data as the panicking thread left it. ftpfs goes on: its critical sections update
//! their data with whole assignments and single calls, and the data behind every lock is a cache,
//! a table or a queue that the next operation checks anyway (sizes against listings, replies
//! against commands). So every lock is taken through `lock`, and every wait through `wait_timeout`,
//! which take a poisoned lock's data as it is; nowhere else decides this.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Locks `m`, taking the data of a poisoned lock as it is (see the module doc).
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `cv` for at most `timeout`; returns the guard and whether the time ran out. A
/// poisoned lock is taken as it is (see the module doc).
pub fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> (MutexGuard<'a, T>, bool) {
    let (guard, result) = cv
        .wait_timeout(guard, timeout)
        .unwrap_or_else(|e| e.into_inner());
    (guard, result.timed_out())
}

/// Waits on `cv` until notified; a poisoned lock is taken as it is (see the module doc).
pub fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_lock_is_taken_as_it_is() {
        let m = Arc::new(Mutex::new(41));
        let held = Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let mut g = held.lock().unwrap();
            *g += 1;
            panic!("a bug while the lock is held");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), 42);
        let cv = Condvar::new();
        let (g, timed_out) = wait_timeout(&cv, lock(&m), Duration::from_millis(10));
        assert!(timed_out);
        assert_eq!(*g, 42);
    }
}
