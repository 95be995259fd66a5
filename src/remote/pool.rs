//! `Pool`: a bounded set of logged-in connections shared by all threads. It opens connections lazily,
//! hands each to one caller at a time, takes back healthy ones and drops broken ones, checks long-idle
//! ones before reuse (or keeps them alive with NOOPs, `keepalive`), learns the server's real limit
//! from `421` replies, and, once the server stopped answering, fails new requests at once for a
//! moment (dropping the idle connections, which would not answer either) instead of making each
//! of them wait out its own timeout. It knows nothing of FTP
//! commands beyond what its `Connector` does.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use log::{debug, info};

use super::{RemoteError, RemoteResult};
use crate::caller::{self, Stop};

/// Makes and checks connections for a pool.
pub trait Connector: Send + Sync + 'static {
    type Conn: Send + 'static;
    /// Opens and logs in a new connection. A `421`-style refusal must come back as `TooMany`.
    fn connect(&self) -> Result<Self::Conn, ConnectError>;
    /// Whether a connection that sat idle still answers (e.g. NOOP). Called only after `IDLE_CHECK`,
    /// and by the keepalive thread.
    fn check(&self, conn: &mut Self::Conn) -> Health;
}

/// What a check of an idle connection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Alive,
    /// Closed or out of step (the server hung up while it was idle): make another.
    Dead,
    /// No answer in time: the server itself is not answering, so do not try another one at once.
    Silent(String),
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum ConnectError {
    /// The server refused another connection (FTP 421): wait for one of ours to come back.
    TooMany(String),
    /// The server did not answer in time (no TCP answer, no greeting, no login reply): it is
    /// not answering, and idle connections to it will not either.
    Silent(RemoteError),
    /// Anything else.
    Failed(RemoteError),
}

/// A connection idle longer than this is checked before it is handed out: servers drop idle control
/// connections silently (vsftpd's idle_session_timeout is 300 s by default, some use far less).
const IDLE_CHECK: Duration = Duration::from_secs(15);
/// A connection idle longer than this is closed instead of checked: most servers will have hung up.
const IDLE_MAX: Duration = Duration::from_secs(600);
/// After the server failed to answer (a refused or timed-out connect, a command without a reply),
/// requests that need a new connection fail at once for this long: during an outage every
/// operation then fails fast with the same error instead of each one waiting for its own connect,
/// and the first request after this pause tries the server again (so recovery is noticed within
/// about a second of the server coming back).
const BACKOFF: Duration = Duration::from_secs(1);

struct State<C> {
    idle: Vec<(C, Instant)>,
    /// Connections that exist (idle or lent out) plus connects in progress.
    open: usize,
    /// Connects in progress (counted in `open` too).
    connecting: usize,
    /// Current bound on `open`: `max_conns`, lowered when the server says 421.
    limit: usize,
    /// The server refused a connection with 421 at some point: its limit is being learned.
    refused: Option<String>,
    /// The learned limit was logged (it is, once, when no connect is in progress any more).
    limit_logged: bool,
    /// When and how the server last failed to answer; cleared by the next successful connect.
    down: Option<(Instant, String)>,
    /// Callers waiting in `get` for a connection (whom a connection given back must wake).
    waiting: usize,
}

impl<C> State<C> {
    /// Established connections (idle or lent out).
    fn connected(&self) -> usize {
        self.open - self.connecting
    }

    /// The server refused a connection with 421 while we hold `connected()`: that is its limit,
    /// as far as we can tell while other connects are still in progress (they may yet succeed,
    /// which raises it again, see `connect_done`).
    fn refused(&mut self, msg: String) {
        self.limit = self.limit.min(self.connected().max(1));
        self.refused = Some(msg);
    }

    /// Bookkeeping after a connect ended. A `421` while we hold other connections teaches the
    /// limit; it is logged once, when the first burst of connects is over, so parallel connects
    /// refused together do not each log a different guess.
    fn connect_done<T>(&mut self, made: &Result<T, ConnectError>) {
        self.connecting -= 1;
        if made.is_err() {
            self.open -= 1;
        }
        if let Err(ConnectError::TooMany(msg)) = made {
            if self.open > 0 {
                self.refused(msg.clone());
            }
        }
        if self.refused.is_none() {
            return;
        }
        // The server accepted this many at once: it allows at least that.
        let before = self.limit;
        self.limit = self.limit.max(self.connected());
        if self.connecting == 0 && !self.limit_logged {
            self.limit_logged = true;
            info!(
                "server refused connection {} ({}): using at most {} connections",
                self.limit + 1,
                self.refused.as_deref().unwrap_or_default(),
                self.limit
            );
        } else if self.limit != before {
            debug!("server connection limit now {}", self.limit);
        }
    }

    /// Closes every idle connection.
    fn clear_idle(&mut self) {
        self.open -= self.idle.len();
        self.idle.clear();
    }

    /// Counts a connect that is about to start.
    fn connect_starts(&mut self) {
        self.open += 1;
        self.connecting += 1;
    }

    /// The error to give instead of connecting while the server is known to be down.
    fn backing_off(&self) -> Option<RemoteError> {
        match &self.down {
            Some((at, msg)) if at.elapsed() < BACKOFF => Some(RemoteError::Connection(format!(
                "{msg} (the server is not answering; ftpfs tries again shortly)"
            ))),
            _ => None,
        }
    }
}

/// The pool's state, locked.
type Guard<'a, C> = MutexGuard<'a, State<<C as Connector>::Conn>>;
/// What a connect gave.
type Made<C> = Result<<C as Connector>::Conn, ConnectError>;

/// A pool of at most `max` connections made by `C`.
pub struct Pool<C: Connector> {
    connector: C,
    state: Mutex<State<C::Conn>>,
    freed: Condvar,
    wait: Duration,
}

impl<C: Connector> Pool<C> {
    /// A pool of at most `max` connections; callers wait at most `wait` for one.
    pub fn new(connector: C, max: usize, wait: Duration) -> Arc<Self> {
        Arc::new(Pool {
            connector,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
                connecting: 0,
                limit: max.max(1),
                refused: None,
                limit_logged: false,
                down: None,
                waiting: 0,
            }),
            freed: Condvar::new(),
            wait,
        })
    }

    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// The current bound on connections (lower than `max_conns` once the server refused more).
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    fn lock(&self) -> MutexGuard<'_, State<C::Conn>> {
        crate::sync::lock(&self.state)
    }

    /// Borrows a connection: an idle one, a new one if below the limit, or the next one given back.
    /// Waits at most the pool's `wait`, and not at all once the caller is being killed.
    pub fn get(self: &Arc<Self>) -> RemoteResult<Pooled<C>> {
        let deadline = Instant::now() + self.wait;
        let mut st = self.lock();
        loop {
            if let Some((mut conn, since)) = st.idle.pop() {
                let idle = since.elapsed();
                if idle < IDLE_CHECK {
                    return Ok(self.lend(conn));
                }
                drop(st);
                let health = if idle < IDLE_MAX {
                    self.connector.check(&mut conn)
                } else {
                    Health::Dead
                };
                if health == Health::Alive {
                    return Ok(self.lend(conn));
                }
                drop(conn);
                st = self.lock();
                st.open -= 1;
                if let Health::Silent(msg) = health {
                    // The server is not answering: checking the other idle ones would cost a
                    // timeout each; drop them and let the back-off answer.
                    st.clear_idle();
                    st.down = Some((Instant::now(), msg));
                }
                continue;
            }
            if st.open < st.limit {
                if let Some(e) = st.backing_off() {
                    return Err(e);
                }
                let (guard, made) = self.connect_counted(st);
                st = guard;
                match made {
                    Ok(conn) => {
                        drop(st);
                        return Ok(self.lend(conn));
                    }
                    // Refused while nothing of ours exists: not a limit we can wait for.
                    Err(ConnectError::TooMany(msg)) if st.open == 0 => {
                        return Err(RemoteError::Connection(format!(
                            "server refused the connection: {msg}"
                        )))
                    }
                    // The limit was learned in connect_done: wait for a connection.
                    Err(ConnectError::TooMany(_)) => {}
                    Err(ConnectError::Failed(e) | ConnectError::Silent(e)) => {
                        drop(st);
                        // Waiters must see the failure too, not wait for a connection.
                        self.freed.notify_all();
                        return Err(e);
                    }
                }
                continue;
            }
            if st.waiting == 0 {
                debug!("all {} connections in use: waiting for one", st.open);
            }
            st.waiting += 1;
            let waited = caller::wait(&self.freed, st, deadline);
            st = match waited {
                Ok(mut st) => {
                    st.waiting -= 1;
                    st
                }
                Err(stop) => {
                    self.lock().waiting -= 1;
                    return Err(match stop {
                        Stop::Interrupted => RemoteError::Interrupted,
                        Stop::TimedOut => RemoteError::Connection(format!(
                            "no free connection to the server within {} s",
                            self.wait.as_secs()
                        )),
                    });
                }
            };
        }
    }

    /// Opens one connection with the bookkeeping every connect needs: counted while in progress,
    /// the limit learned from a `421`, the server marked down after a failed connect and up after
    /// a good one. The lock is given up while connecting and held again when this returns.
    fn connect_counted<'a>(&'a self, mut st: Guard<'a, C>) -> (Guard<'a, C>, Made<C>) {
        st.connect_starts();
        drop(st);
        let made = self.connector.connect();
        let mut st = self.lock();
        st.connect_done(&made);
        match &made {
            Ok(_) => st.down = None,
            Err(ConnectError::Failed(RemoteError::Connection(m))) => {
                st.down = Some((Instant::now(), m.clone()))
            }
            // Idle connections to a server that does not answer a new one would each cost a
            // request its whole timeout (requests the kernel queues behind each other, one
            // after another): as after a silence on a connection in use, they go.
            Err(ConnectError::Silent(e)) => {
                let msg = match e {
                    RemoteError::Connection(m) => m.clone(),
                    e => e.to_string(),
                };
                st.down = Some((Instant::now(), msg));
                st.clear_idle();
            }
            Err(_) => {}
        }
        (st, made)
    }

    /// The server failed to answer on a connection in use: requests needing a new connection fail
    /// at once for a moment (`BACKOFF`), and waiters are told. Call before dropping the connection.
    pub fn note_silence(&self, msg: &str) {
        self.lock().down = Some((Instant::now(), msg.to_string()));
        self.freed.notify_all();
    }

    fn lend(self: &Arc<Self>, conn: C::Conn) -> Pooled<C> {
        Pooled {
            pool: Arc::clone(self),
            conn: Some(conn),
            broken: false,
        }
    }

    fn give_back(&self, conn: Option<C::Conn>) {
        let mut st = self.lock();
        match conn {
            Some(c) => st.idle.push((c, Instant::now())),
            None => st.open -= 1,
        }
        let waiting = st.waiting > 0;
        drop(st);
        // Only a waiter needs waking: a notify is a system call even with nobody there, and
        // every command of a busy mount gives a connection back.
        if waiting {
            self.freed.notify_one();
        }
    }

    /// Drops every idle connection: after one connection failed, the others most likely did too
    /// (server restart, network change), and a retry must not pick another dead one.
    pub fn drop_idle(&self) {
        self.lock().clear_idle();
        self.freed.notify_all();
    }

    /// Opens connections on a background thread, one at a time, until `n` exist (at most the limit),
    /// so that the first burst of parallel work finds them logged in: a login costs a password check
    /// on the server (tens of milliseconds with PAM), and on demand it would be paid inside the first
    /// reads. Stops at the first failure; a `421` lowers the limit as in `get`.
    pub fn warm_up(self: &Arc<Self>, n: usize) {
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("ftpfs-warm-up".into())
            .spawn(move || loop {
                let st = pool.lock();
                if st.open >= n.min(st.limit) || st.down.is_some() {
                    return;
                }
                let (mut st, made) = pool.connect_counted(st);
                match made {
                    Ok(conn) => {
                        st.idle.push((conn, Instant::now()));
                        drop(st);
                        pool.freed.notify_one();
                    }
                    Err(ConnectError::TooMany(_)) => return,
                    Err(ConnectError::Failed(_) | ConnectError::Silent(_)) => {
                        drop(st);
                        pool.freed.notify_all();
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            info!("no warm-up thread ({e}); connections open on demand");
        }
    }

    /// Sends a check (NOOP) on every connection idle for `every`, on a background thread, so that
    /// servers and firewalls that drop idle sessions keep ours; dead ones are dropped. The thread
    /// ends with the pool.
    pub fn keepalive(self: &Arc<Self>, every: Duration) {
        let pool: Weak<Self> = Arc::downgrade(self);
        let tick = (every / 2).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let spawned = std::thread::Builder::new()
            .name("ftpfs-keepalive".into())
            .spawn(move || loop {
                std::thread::sleep(tick);
                let Some(pool) = pool.upgrade() else { return };
                let due: Vec<C::Conn> = {
                    let mut st = pool.lock();
                    let (due, fresh) = std::mem::take(&mut st.idle)
                        .into_iter()
                        .partition(|(_, since)| since.elapsed() >= every);
                    st.idle = fresh;
                    due.into_iter().map(|(c, _)| c).collect()
                };
                for mut conn in due {
                    let health = pool.connector.check(&mut conn);
                    let mut st = pool.lock();
                    if health == Health::Alive {
                        st.idle.push((conn, Instant::now()));
                    } else {
                        debug!("keepalive: an idle connection is gone ({health:?})");
                        st.open -= 1;
                    }
                    drop(st);
                    pool.freed.notify_one();
                }
            });
        if let Err(e) = spawned {
            info!("no keepalive thread ({e})");
        }
    }

    /// Connections currently open (idle or lent out).
    pub fn open_count(&self) -> usize {
        self.lock().open
    }

    /// Whether a `get` now would find a connection without waiting for one to come back: an
    /// idle one, or room below the limit (and the server not known to be down).
    pub fn has_room(&self) -> bool {
        let st = self.lock();
        !st.idle.is_empty() || (st.open < st.limit && st.backing_off().is_none())
    }
}

/// A connection on loan from the pool; it goes back when dropped, unless marked broken.
pub struct Pooled<C: Connector> {
    pool: Arc<Pool<C>>,
    conn: Option<C::Conn>,
    broken: bool,
}

impl<C: Connector> Pooled<C> {
    /// The connector of the pool this connection came from.
    pub fn connector(&self) -> &C {
        &self.pool.connector
    }

    /// The connection saw a timeout, a reset or an out-of-sync reply: close it instead of reusing it.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Whether the connection is marked to be closed rather than given back.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Whether another connection could be had now (`Pool::has_room`).
    pub fn others_free(&self) -> bool {
        self.pool.has_room()
    }

    /// The server did not answer on this connection in time: close it, and put the pool in
    /// back-off (`Pool::note_silence`) before the connection is given back.
    pub fn mark_silent(&mut self, msg: &str) {
        self.broken = true;
        self.pool.note_silence(msg);
    }
}

impl<C: Connector> std::ops::Deref for Pooled<C> {
    type Target = C::Conn;
    fn deref(&self) -> &C::Conn {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl<C: Connector> std::ops::DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C::Conn {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl<C: Connector> Drop for Pooled<C> {
    fn drop(&mut self) {
        let conn = self.conn.take();
        if self.broken {
            drop(conn);
            self.pool.give_back(None);
        } else {
            self.pool.give_back(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Hands out numbered connections; refuses with 421 beyond `server_limit` live ones.
    struct Fake {
        made: AtomicUsize,
        live: Arc<AtomicUsize>,
        server_limit: usize,
        /// Connects fail (the server is gone); counted in `attempts`.
        down: std::sync::atomic::AtomicBool,
        /// Connects fail without an answer (the server is frozen); counted in `attempts`.
        silent: std::sync::atomic::AtomicBool,
        /// How long a connect takes, in milliseconds.
        connect_ms: std::sync::atomic::AtomicU64,
        attempts: AtomicUsize,
        checks: AtomicUsize,
    }

    struct FakeConn {
        id: usize,
        live: Arc<AtomicUsize>,
    }

    impl Drop for FakeConn {
        fn drop(&mut self) {
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl Connector for Fake {
        type Conn = FakeConn;
        fn connect(&self) -> Result<FakeConn, ConnectError> {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(
                self.connect_ms.load(Ordering::SeqCst),
            ));
            if self.silent.load(Ordering::SeqCst) {
                return Err(ConnectError::Silent(RemoteError::Connection(
                    "no greeting".into(),
                )));
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(ConnectError::Failed(RemoteError::Connection(
                    "connection refused".into(),
                )));
            }
            if self.live.load(Ordering::SeqCst) >= self.server_limit {
                return Err(ConnectError::TooMany("421 too many".into()));
            }
            self.live.fetch_add(1, Ordering::SeqCst);
            Ok(FakeConn {
                id: self.made.fetch_add(1, Ordering::SeqCst),
                live: Arc::clone(&self.live),
            })
        }
        fn check(&self, _: &mut FakeConn) -> Health {
            self.checks.fetch_add(1, Ordering::SeqCst);
            Health::Alive
        }
    }

    fn pool(max: usize, server_limit: usize, wait_ms: u64) -> Arc<Pool<Fake>> {
        Pool::new(
            Fake {
                made: AtomicUsize::new(0),
                live: Arc::new(AtomicUsize::new(0)),
                server_limit,
                down: Default::default(),
                silent: Default::default(),
                connect_ms: Default::default(),
                attempts: AtomicUsize::new(0),
                checks: AtomicUsize::new(0),
            },
            max,
            Duration::from_millis(wait_ms),
        )
    }

    #[test]
    fn reuses_a_returned_connection() {
        let p = pool(4, 10, 100);
        let id = p.get().unwrap().id;
        assert_eq!(p.get().unwrap().id, id);
        assert_eq!(p.open_count(), 1);
    }

    #[test]
    fn broken_connections_are_not_reused() {
        let p = pool(4, 10, 100);
        let mut c = p.get().unwrap();
        let id = c.id;
        c.mark_broken();
        drop(c);
        assert_eq!(p.open_count(), 0);
        assert_ne!(p.get().unwrap().id, id);
    }

    #[test]
    fn waits_for_a_connection_then_times_out() {
        let p = pool(1, 10, 50);
        let held = p.get().unwrap();
        let t = Instant::now();
        assert!(matches!(p.get(), Err(RemoteError::Connection(_))));
        assert!(t.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(p.get().is_ok());
    }

    #[test]
    fn a_waiter_gets_the_connection_given_back() {
        let p = pool(1, 10, 2000);
        let held = p.get().unwrap();
        let p2 = Arc::clone(&p);
        let t = std::thread::spawn(move || p2.get().map(|c| c.id));
        std::thread::sleep(Duration::from_millis(50));
        let id = held.id;
        drop(held);
        assert_eq!(t.join().unwrap().unwrap(), id);
    }

    #[test]
    fn learns_the_server_limit_from_421() {
        let p = pool(6, 2, 100);
        let a = p.get().unwrap();
        let b = p.get().unwrap();
        // The third connect is refused: the pool lowers its limit and waits instead of failing.
        assert!(p.get().is_err());
        assert_eq!(p.limit(), 2);
        assert!(p.lock().limit_logged, "a lone refusal is logged too");
        drop(a);
        assert!(p.get().is_ok());
        drop(b);
    }

    #[test]
    fn warm_up_opens_connections_ahead_of_demand_up_to_the_server_limit() {
        let p = pool(6, 3, 100);
        p.warm_up(6);
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.lock().idle.len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(p.lock().idle.len(), 3);
        assert_eq!(
            p.limit(),
            3,
            "the fourth connect was refused: the limit is learned"
        );
        assert_eq!(p.connector().made.load(Ordering::SeqCst), 3);
        // Borrowing now takes a warm connection instead of making one.
        let held: Vec<_> = (0..3).map(|_| p.get().unwrap()).collect();
        assert_eq!(p.connector().made.load(Ordering::SeqCst), 3);
        drop(held);
    }

    #[test]
    fn after_a_failed_connect_requests_fail_at_once_then_try_again() {
        let p = pool(4, 10, 2000);
        p.connector().down.store(true, Ordering::SeqCst);
        assert!(p.get().is_err());
        let t = Instant::now();
        for _ in 0..5 {
            assert!(matches!(p.get(), Err(RemoteError::Connection(_))));
        }
        assert!(t.elapsed() < Duration::from_millis(100), "no waiting");
        assert_eq!(
            p.connector().attempts.load(Ordering::SeqCst),
            1,
            "backed off"
        );
        p.connector().down.store(false, Ordering::SeqCst);
        std::thread::sleep(BACKOFF);
        assert!(p.get().is_ok(), "tried again after the back-off");
        assert_eq!(p.connector().attempts.load(Ordering::SeqCst), 2);
    }

    /// A connect that fails (as `failure` says) while connection `a` is in use, `a` being given
    /// back by its request before the connect ends. Returns `a`'s id.
    fn connect_fails_while_one_is_given_back(p: &Arc<Pool<Fake>>, failure: &AtomicBool) -> usize {
        let a = p.get().unwrap();
        let id = a.id;
        p.connector().connect_ms.store(100, Ordering::SeqCst);
        failure.store(true, Ordering::SeqCst);
        let p2 = Arc::clone(p);
        let connecting = std::thread::spawn(move || p2.get().map(|_| ()));
        while p.connector().attempts.load(Ordering::SeqCst) < 2 {
            std::thread::yield_now();
        }
        // Given back while the connect (100 ms) is under way.
        drop(a);
        assert!(connecting.join().unwrap().is_err());
        failure.store(false, Ordering::SeqCst);
        p.connector().connect_ms.store(0, Ordering::SeqCst);
        id
    }

    #[test]
    fn a_connect_without_an_answer_drops_the_idle_connections_too() {
        let p = pool(2, 10, 2000);
        connect_fails_while_one_is_given_back(&p, &p.connector().silent);
        // The frozen server would leave a request on the idle connection waiting for its whole
        // timeout: requests fail at once during the back-off instead.
        let t = Instant::now();
        assert!(matches!(p.get(), Err(RemoteError::Connection(_))));
        assert!(t.elapsed() < Duration::from_millis(100));
        assert_eq!(p.open_count(), 0, "the idle connection went too");
        std::thread::sleep(BACKOFF);
        assert!(p.get().is_ok(), "tried again after the back-off");
    }

    #[test]
    fn a_refused_connect_keeps_the_idle_connections() {
        let p = pool(2, 10, 2000);
        let id = connect_fails_while_one_is_given_back(&p, &p.connector().down);
        // A server that refuses more connections (some reset them instead of saying 421) may
        // still serve the ones it has: the idle one is used.
        assert_eq!(p.get().unwrap().id, id);
    }

    #[test]
    fn a_silent_server_fails_waiters_at_once() {
        let p = pool(1, 10, 5000);
        let held = p.get().unwrap();
        let p2 = Arc::clone(&p);
        let t = Instant::now();
        let waiter = std::thread::spawn(move || p2.get().map(|_| ()));
        std::thread::sleep(Duration::from_millis(50));
        // The holder's command timed out: it says so, then drops the connection.
        p.connector().down.store(true, Ordering::SeqCst);
        let mut held = held;
        held.mark_silent("timed out");
        drop(held);
        assert!(waiter.join().unwrap().is_err());
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert_eq!(
            p.connector().attempts.load(Ordering::SeqCst),
            1,
            "the waiter did not try to connect"
        );
    }

    #[test]
    fn keepalive_checks_idle_connections_and_keeps_them() {
        let p = pool(2, 10, 100);
        let id = p.get().unwrap().id;
        p.keepalive(Duration::from_millis(200));
        std::thread::sleep(Duration::from_millis(700));
        assert!(p.connector().checks.load(Ordering::SeqCst) >= 1);
        assert_eq!(p.get().unwrap().id, id, "the same connection, kept");
        assert_eq!(p.connector().made.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn drop_idle_forgets_idle_connections() {
        let p = pool(4, 10, 100);
        let id = p.get().unwrap().id;
        p.drop_idle();
        assert_eq!(p.open_count(), 0);
        assert_ne!(p.get().unwrap().id, id);
    }
}
