//! The process a request is served for, and waits that end when it is killed. The FUSE adapter
//! records the caller's pid for the duration of each request (a thread-local, `serve`); every long
//! wait below it (for a pool connection, for a block from a download, for a listing another thread
//! fetches, and every exchange on a socket, see `remote::watchdog`) stops early when that process
//! is dying.
//!
//! Why not FUSE_INTERRUPT: fuser 0.18 answers the kernel's interrupt request itself with ENOSYS,
//! after which the kernel sends none for the rest of the mount. What the kernel does instead is
//! visible in `/proc`: a fatal signal (SIGKILL, or SIGINT/SIGTERM/SIGHUP without a handler, which
//! the kernel turns into SIGKILL for every thread of the process) shows as SIGKILL pending in
//! `/proc/PID/status` while the process waits for our answer. Signals a program handles are not
//! treated as interrupts: such a program waits for the answer (bounded by `timeout`), as the
//! kernel would have it wait without FUSE_INTERRUPT.

use std::cell::Cell;
use std::sync::{Condvar, MutexGuard};
use std::thread::LocalKey;
use std::time::{Duration, Instant};

/// How often a wait looks at its caller: the promptness of a Ctrl-C, against a `/proc` read.
pub const POLL: Duration = Duration::from_millis(100);

thread_local! {
    static CALLER: Cell<Option<u32>> = const { Cell::new(None) };
    static REQUESTER: Cell<Option<u32>> = const { Cell::new(None) };
}

/// While this lives, a thread-local pid of the current thread has a value; dropped, the old one
/// is back.
pub struct Scoped {
    key: &'static LocalKey<Cell<Option<u32>>>,
    was: Option<u32>,
}

fn scoped(key: &'static LocalKey<Cell<Option<u32>>>, pid: u32) -> Scoped {
    // 0 is the kernel itself: no process.
    let pid = (pid != 0).then_some(pid);
    Scoped {
        key,
        was: key.with(|c| c.replace(pid)),
    }
}

impl Drop for Scoped {
    fn drop(&mut self) {
        self.key.with(|c| c.set(self.was));
    }
}

/// Records that the current thread serves process `pid` until the returned guard is dropped.
pub fn serve(pid: u32) -> Scoped {
    scoped(&CALLER, pid)
}

/// The process the current thread works for, if any (worker threads serve nobody).
pub fn current() -> Option<u32> {
    CALLER.with(Cell::get)
}

/// Records that the current thread's request came from thread `pid` until the guard is dropped.
/// Unlike `serve`, this does not let the requester's death cut waits short: uploads use it to
/// tell who writes a file (`fs::writers`), and an upload is never cut short for a dying writer.
pub fn request(pid: u32) -> Scoped {
    scoped(&REQUESTER, pid)
}

/// The thread the current request came from, if known.
pub fn requester() -> Option<u32> {
    REQUESTER.with(Cell::get)
}

/// The process (thread group) of thread `pid`: FUSE names the thread that made a request. `None`
/// when `/proc` cannot tell (the thread is gone, or lives in another pid namespace).
pub fn process_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether the process (or thread) `pid` has a fatal signal pending: it will never read our answer.
/// Only that evidence counts: a pid that cannot be looked up (gone, or in another pid namespace
/// than this `/proc`) is waited for as usual.
pub fn is_dying(pid: u32) -> bool {
    const SIGKILL_BIT: u64 = 1 << (libc::SIGKILL - 1);
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .filter_map(|l| {
            l.strip_prefix("SigPnd:\t")
                .or_else(|| l.strip_prefix("ShdPnd:\t"))
        })
        .filter_map(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .any(|set| set & SIGKILL_BIT != 0)
}

/// Whether the process the current thread works for is dying.
pub fn interrupted() -> bool {
    current().is_some_and(is_dying)
}

/// Why a wait ended without what it waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    TimedOut,
    Interrupted,
}

/// One slice of a condition-variable wait that must end by `deadline` or when the caller dies:
/// returns the guard after a notification or at most `POLL`, or why the wait is over. Loop on it
/// until the condition holds. The caller's `/proc` status (a file read) is looked at only after a
/// slice passed without a notification: a reader woken by every block a download brings is
/// making progress, and reading `/proc` at each wake-up cost a file read per FUSE request.
pub fn wait<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Instant,
) -> Result<MutexGuard<'a, T>, Stop> {
    let now = Instant::now();
    if now >= deadline {
        return Err(Stop::TimedOut);
    }
    let slice = (deadline - now).min(POLL);
    let (guard, timed_out) = crate::sync::wait_timeout(cv, guard, slice);
    if timed_out && interrupted() {
        return Err(Stop::Interrupted);
    }
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn only_a_pending_sigkill_counts_as_dying() {
        assert!(!is_dying(std::process::id()));
        // Pids are below 2^22 on Linux: this one cannot be looked up.
        assert!(!is_dying(u32::MAX - 1));
        // A process blocked with SIGKILL pending exists only inside a kernel wait, as in a FUSE
        // request: tests/faults.rs (ctrl_c_ends_a_wait_on_a_frozen_server_at_once) covers it.
    }

    #[test]
    fn serving_sets_and_restores_the_caller() {
        assert_eq!(current(), None);
        {
            let _outer = serve(std::process::id());
            assert_eq!(current(), Some(std::process::id()));
            {
                let _kernel = serve(0);
                assert_eq!(current(), None);
            }
            assert_eq!(current(), Some(std::process::id()));
        }
        assert_eq!(current(), None);
    }

    #[test]
    fn a_thread_belongs_to_its_process() {
        let me = std::process::id();
        assert_eq!(process_of(me), Some(me));
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(nix::unistd::gettid().as_raw() as u32).unwrap();
            done_rx.recv().unwrap();
        });
        let tid = rx.recv().unwrap();
        assert_ne!(tid, me);
        assert_eq!(process_of(tid), Some(me));
        done_tx.send(()).unwrap();
        t.join().unwrap();
        assert_eq!(process_of(u32::MAX - 1), None);
    }

    #[test]
    fn a_request_records_its_thread_apart_from_serving() {
        assert_eq!(requester(), None);
        {
            let _r = request(42);
            assert_eq!(requester(), Some(42));
            assert_eq!(current(), None);
            let _k = request(0);
            assert_eq!(requester(), None);
        }
        assert_eq!(requester(), None);
    }

    #[test]
    fn a_wait_ends_at_its_deadline() {
        let (m, cv) = (Mutex::new(()), Condvar::new());
        let deadline = Instant::now() + Duration::from_millis(250);
        let mut g = m.lock().unwrap();
        let stop = loop {
            match wait(&cv, g, deadline) {
                Ok(again) => g = again,
                Err(s) => break s,
            }
        };
        assert_eq!(stop, Stop::TimedOut);
        assert!(Instant::now() >= deadline);
    }
}
