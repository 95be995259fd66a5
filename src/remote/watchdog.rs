//! `Watch`: a hard time bound on one exchange with the server, which socket timeouts cannot give.
//! A socket read timeout only bounds silence: a server that sends one byte a second keeps a reply
//! (or a login) going forever without ever being silent long enough. So every exchange on a
//! control connection is armed with a deadline; one thread shuts the socket down when the deadline
//! passes, or when the process the request is served for is being killed (`caller`), which makes
//! the blocked read return at once. The exchange then reports why (`Fired`), and the connection,
//! whose socket is dead, is discarded.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use log::debug;

use crate::caller;

/// Why a watched exchange was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// It took longer than its budget.
    Deadline,
    /// The process it was for is being killed.
    Interrupted,
}

struct Entry {
    deadline: Instant,
    socket: Arc<TcpStream>,
    caller: Option<u32>,
    fired: Option<Fired>,
}

#[derive(Default)]
struct Table {
    entries: HashMap<u64, Entry>,
    thread_started: bool,
    /// The thread waits for an entry (the table was empty): only then does an arm wake it. While
    /// anything is armed it looks every `caller::POLL` on its own, so the commands of a busy
    /// mount (one arm each) cost no wake-up and no system call for it.
    idle: bool,
}

struct Shared {
    table: Mutex<Table>,
    armed: Condvar,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| Shared {
        table: Mutex::new(Table::default()),
        armed: Condvar::new(),
    })
}

fn lock(s: &Shared) -> MutexGuard<'_, Table> {
    crate::sync::lock(&s.table)
}

/// An armed exchange; dropping it (or `disarm`) ends the watch.
pub struct Watch {
    id: u64,
}

impl Watch {
    /// Watches `socket` for `budget`, on behalf of the current thread's caller.
    pub fn arm(socket: &Arc<TcpStream>, budget: Duration) -> Watch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let s = shared();
        let mut t = lock(s);
        let wake = t.idle;
        t.idle = false;
        t.entries.insert(
            id,
            Entry {
                deadline: Instant::now() + budget,
                socket: Arc::clone(socket),
                caller: caller::current(),
                fired: None,
            },
        );
        if !t.thread_started {
            t.thread_started = std::thread::Builder::new()
                .name("ftpfs-watchdog".into())
                .spawn(run)
                .map_err(|e| debug!("no watchdog thread ({e}); socket timeouts only"))
                .is_ok();
        }
        drop(t);
        // The thread sleeps without a timeout only while nothing is armed.
        if wake {
            s.armed.notify_one();
        }
        Watch { id }
    }

    /// Ends the watch; says whether it cut the exchange.
    pub fn disarm(self) -> Option<Fired> {
        lock(shared()).entries.get(&self.id).and_then(|e| e.fired)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        lock(shared()).entries.remove(&self.id);
    }
}

/// The watchdog thread: wakes at least every `caller::POLL` while anything is armed.
fn run() {
    let s = shared();
    loop {
        let mut t = lock(s);
        while t.entries.is_empty() {
            t.idle = true;
            t = crate::sync::wait(&s.armed, t);
        }
        t.idle = false;
        let now = Instant::now();
        let mut callers = Vec::new();
        for (id, e) in t.entries.iter_mut().filter(|(_, e)| e.fired.is_none()) {
            if now >= e.deadline {
                cut(e, Fired::Deadline);
            } else if let Some(pid) = e.caller {
                callers.push((*id, pid));
            }
        }
        drop(t);
        // /proc is read without the lock, so arming never waits for it.
        let dying: Vec<u64> = callers
            .into_iter()
            .filter(|&(_, pid)| caller::is_dying(pid))
            .map(|(id, _)| id)
            .collect();
        let mut t = lock(s);
        for id in dying {
            if let Some(e) = t.entries.get_mut(&id).filter(|e| e.fired.is_none()) {
                cut(e, Fired::Interrupted);
            }
        }
        let next = t
            .entries
            .values()
            .filter(|e| e.fired.is_none())
            .map(|e| e.deadline)
            .min()
            .map_or(caller::POLL, |d| {
                d.saturating_duration_since(Instant::now())
                    .min(caller::POLL)
            });
        drop(t);
        std::thread::sleep(next.max(Duration::from_millis(5)));
    }
}

fn cut(e: &mut Entry, why: Fired) {
    e.fired = Some(why);
    let _ = e.socket.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn pair() -> (Arc<TcpStream>, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (Arc::new(c), s)
    }

    #[test]
    fn a_read_that_outlasts_its_budget_is_cut() {
        let (client, _server) = pair();
        let t = Instant::now();
        let w = Watch::arm(&client, Duration::from_millis(300));
        let mut buf = [0u8; 1];
        let n = (&*client).read(&mut buf);
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        assert_eq!(w.disarm(), Some(Fired::Deadline));
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2));
    }

    #[test]
    fn a_watch_ended_in_time_leaves_the_socket_alone() {
        let (client, mut server) = pair();
        let w = Watch::arm(&client, Duration::from_millis(200));
        assert_eq!(w.disarm(), None);
        std::thread::sleep(Duration::from_millis(400));
        use std::io::Write;
        (&*client).write_all(b"x").unwrap();
        let mut buf = [0u8; 1];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"x");
    }
}
