//! The sockets of control and data connections and the words about them: the port a passive
//! reply names (`229`, `227`), the `PORT`/`EPRT` line naming a listener, connects from a socket
//! prepared first (bound, or given a small receive buffer) or left to complete in the background,
//! and listeners on a configured port range with an accept that takes the server only. `data`
//! decides when each is used.
//!
//! Every TCP connection ftpfs makes to the server goes through `Route::dial` (or `dial_later`,
//! its background form): straight to the server, or through the proxy of `-o proxy=` (`proxy`),
//! so that no connection can pass the proxy by.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use log::warn;

use super::proxy::Proxy;
use super::session::Line;
use crate::caller;
use crate::sys::poll_ready;

/// How connections reach the server: the one choice every connect of a mount goes through.
#[derive(Debug, Clone, Default)]
pub enum Route {
    /// Straight to the server's address.
    #[default]
    Direct,
    /// Through a proxy, which is asked for the server's host name (as the URL gives it).
    Proxy(Arc<Proxy>),
}

impl Route {
    /// A TCP connection to the server at `server`, from a socket `prepare`d first, within
    /// `timeout`. Straight to that address; through the proxy only its port counts: the proxy
    /// is asked for the server's host name from the URL at that port (what the control
    /// connection's peer is, as the proxy sees it), and `prepare` applies to the socket to the
    /// proxy.
    pub fn dial(
        &self,
        server: SocketAddr,
        timeout: Duration,
        prepare: &dyn Fn(&socket2::Socket) -> std::io::Result<()>,
    ) -> std::io::Result<TcpStream> {
        match self {
            Route::Direct => connect(server, timeout, prepare),
            Route::Proxy(proxy) => proxy.dial(server.port(), timeout, prepare),
        }
    }

    /// Starts a connection to `server` (as `dial` goes) with a receive buffer of `window` bytes,
    /// without waiting for it: `Later::ready` waits, up to `timeout` from now for a proxy's
    /// handshake.
    pub fn dial_later(
        &self,
        server: SocketAddr,
        window: usize,
        timeout: Duration,
    ) -> std::io::Result<Later> {
        match self {
            Route::Direct => connect_later(server, window).map(Later::Connecting),
            Route::Proxy(proxy) => {
                // The proxy's handshake takes round trips of its own: a thread does it meanwhile.
                let proxy = Arc::clone(proxy);
                let (tx, rx) = mpsc::sync_channel(1);
                std::thread::Builder::new()
                    .name("ftpfs-proxy-dial".into())
                    .spawn(move || {
                        let made = proxy
                            .dial(server.port(), timeout, &|s| s.set_recv_buffer_size(window))
                            .and_then(|s| s.set_nodelay(true).map(|()| s));
                        // Nobody waits any more: the connection closes with the unsent result.
                        let _ = tx.send(made);
                    })?;
                Ok(Later::Dialing(rx))
            }
        }
    }
}

/// A connection started by `Route::dial_later`.
#[derive(Debug)]
pub enum Later {
    /// A direct connect completing in the background.
    Connecting(TcpStream),
    /// A connection through the proxy that a thread is making.
    Dialing(mpsc::Receiver<std::io::Result<TcpStream>>),
}

impl Later {
    /// The connection, once made (waited for up to `timeout`), blocking and with `timeout` on
    /// reads and writes.
    pub fn ready(self, timeout: Duration) -> std::io::Result<TcpStream> {
        let stream = match self {
            Later::Connecting(stream) => {
                if !poll_ready(&stream, libc::POLLOUT, timeout)? {
                    return Err(std::io::ErrorKind::TimedOut.into());
                }
                if let Some(e) = stream.take_error()? {
                    return Err(e);
                }
                stream.set_nonblocking(false)?;
                stream
            }
            Later::Dialing(rx) => match rx.recv_timeout(timeout) {
                Ok(made) => made?,
                Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
            },
        };
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(stream)
    }
}

/// How often a transfer that found every port of an active range in use tries again.
const PORT_RETRY: Duration = Duration::from_millis(20);

/// The port of a `229 ... (|||port|)` reply.
pub fn epsv_port(text: &str) -> Option<u16> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    // "(|||port|)": RFC 2428 lets the delimiter be any printable character; all use '|'.
    let delim = inner.chars().next()?;
    let fields: Vec<&str> = inner.split(delim).collect();
    if fields.len() != 5 {
        return None;
    }
    fields[3].parse().ok()
}

/// The port of a `227 ... (h1,h2,h3,h4,p1,p2)` reply; the address is ignored.
pub fn pasv_port(text: &str) -> Option<u16> {
    // The numbers follow the code, with or without parentheses around them.
    let rest = text.get(3..)?;
    let start = rest.find(|c: char| c.is_ascii_digit())?;
    let nums: Vec<u16> = rest[start..]
        .split(|c: char| !(c.is_ascii_digit() || c == ','))
        .next()?
        .split(',')
        .map(|n| n.parse::<u16>())
        .collect::<Result<_, _>>()
        .ok()?;
    if nums.len() != 6 || nums[4] > 255 || nums[5] > 255 {
        return None;
    }
    Some(nums[4] * 256 + nums[5])
}

/// The `PORT`/`EPRT` command naming `addr`.
pub fn port_command(addr: SocketAddr) -> Line {
    let arg = match addr.ip() {
        IpAddr::V4(ip) => {
            let [a, b, c, d] = ip.octets();
            let p = addr.port();
            return Line::new("PORT", format!("{a},{b},{c},{d},{},{}", p >> 8, p & 0xff))
                .expect("digits and commas");
        }
        IpAddr::V6(ip) => format!("|2|{ip}|{}|", addr.port()),
    };
    Line::new("EPRT", arg).expect("an address")
}

/// A TCP connection to `addr` from a socket `prepare`d first (bound, or given a buffer size:
/// what std's `TcpStream::connect_timeout` cannot do).
pub fn connect(
    addr: SocketAddr,
    timeout: Duration,
    prepare: &dyn Fn(&socket2::Socket) -> std::io::Result<()>,
) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    prepare(&sock)?;
    sock.connect_timeout(&addr.into(), timeout)?;
    Ok(sock.into())
}

/// A passive data connection to `addr` (by `route`), with a receive buffer of `window` bytes when
/// given (set before connecting, so the TCP window the server sees is small from the first byte).
pub fn data_socket(
    route: &Route,
    addr: SocketAddr,
    timeout: Duration,
    window: Option<usize>,
) -> std::io::Result<TcpStream> {
    let s = route.dial(addr, timeout, &|s| match window {
        None => Ok(()),
        Some(w) => s.set_recv_buffer_size(w),
    })?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Starts a connect to `addr` without waiting for it, with a receive buffer of `window` bytes.
fn connect_later(addr: SocketAddr, window: usize) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    sock.set_recv_buffer_size(window)?;
    // An upload's last bytes go at once, not after the ACK of those before them.
    sock.set_tcp_nodelay(true)?;
    sock.set_nonblocking(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(sock.into())
}

/// A listener on a free port of `low..=high` at `ip`. While every port is in use (a range smaller
/// than the transfers running at once), waits for one to come free, up to `timeout` and only while
/// the caller lives. (Ports of ended connections are free: std binds with `SO_REUSEADDR`.)
pub fn listen_in(
    ip: IpAddr,
    low: u16,
    high: u16,
    timeout: Duration,
) -> std::io::Result<TcpListener> {
    let deadline = Instant::now() + timeout;
    loop {
        match listen_once(ip, low, high) {
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && Instant::now() + PORT_RETRY < deadline
                    && !caller::interrupted() =>
            {
                std::thread::sleep(PORT_RETRY)
            }
            other => return other,
        }
    }
}

/// A listener on a free port of `low..=high` at `ip`, trying each port once, from the one after
/// the port handed out last (so that ports just used, whose connections may linger, are not the
/// first tried).
fn listen_once(ip: IpAddr, low: u16, high: u16) -> std::io::Result<TcpListener> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = u32::from(high - low) + 1;
    let start = NEXT.fetch_add(1, Ordering::Relaxed) % n;
    for i in 0..n {
        let port = low + ((start + i) % n) as u16;
        match TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(l) => {
                NEXT.store((start + i + 1) % n, Ordering::Relaxed);
                return Ok(l);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("every port of {low}-{high} on {ip} is in use"),
    ))
}

/// Waits up to `timeout` for the server's data connection, refusing any other peer.
pub fn accept(
    listener: &TcpListener,
    peer: IpAddr,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the server did not open the data connection",
            ));
        }
        if !poll_ready(listener, libc::POLLIN, left)? {
            continue;
        }
        let (stream, from) = listener.accept()?;
        if from.ip() == peer {
            stream.set_nodelay(true)?;
            return Ok(stream);
        }
        warn!("refused a data connection from {from}: the server is {peer}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_ports() {
        assert_eq!(
            epsv_port("229 Entering Extended Passive Mode (|||31337|)"),
            Some(31337)
        );
        assert_eq!(
            epsv_port("229 Entering Extended Passive Mode (!!!21!)"),
            Some(21)
        );
        assert_eq!(epsv_port("229 no port"), None);
        assert_eq!(epsv_port("229 x (|||99999|)"), None);
        assert_eq!(
            pasv_port("227 Entering Passive Mode (127,0,0,1,122,105)."),
            Some(122 * 256 + 105)
        );
        assert_eq!(
            pasv_port("227 Entering Passive Mode (127,0,0,1,300,1)"),
            None
        );
        assert_eq!(pasv_port("227 =127,0,0,1,1,1"), Some(257));
        assert_eq!(pasv_port("227 Entering Passive Mode (1,2,3)"), None);
    }

    #[test]
    fn port_commands() {
        let v4: SocketAddr = "10.1.2.3:50001".parse().unwrap();
        assert_eq!(port_command(v4).as_bytes(), b"PORT 10,1,2,3,195,81\r\n");
        let v6: SocketAddr = "[2001:db8::7]:6000".parse().unwrap();
        assert_eq!(
            port_command(v6).as_bytes(),
            b"EPRT |2|2001:db8::7|6000|\r\n"
        );
    }

    #[test]
    fn listeners_take_free_ports_of_the_range_in_turn() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // A range of three free ports above the kernel's ephemeral ones (where no other test's
        // connection lands): find them, then hold the middle one.
        let low = (64000..65000)
            .find(|&p| (p..p + 3).all(|q| TcpListener::bind(("127.0.0.1", q)).is_ok()))
            .unwrap();
        let held = TcpListener::bind(("127.0.0.1", low + 1)).unwrap();
        let mut seen = Vec::new();
        let mut open = Vec::new();
        let wait = Duration::from_millis(300);
        for _ in 0..2 {
            let l = listen_in(ip, low, low + 2, wait).unwrap();
            seen.push(l.local_addr().unwrap().port());
            open.push(l);
        }
        seen.sort();
        assert_eq!(seen, vec![low, low + 2], "the held port is skipped");
        // Every port in use: the wait ends with the error...
        let t = Instant::now();
        let e = listen_in(ip, low, low + 2, wait).unwrap_err();
        assert!(e.to_string().contains("is in use"), "{e}");
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        // ...or with the port that comes free meanwhile.
        let freed = open.pop().unwrap();
        let port = freed.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(freed);
        });
        let l = listen_in(ip, low, low + 2, Duration::from_secs(5)).unwrap();
        assert_eq!(l.local_addr().unwrap().port(), port);
        t.join().unwrap();
        drop((held, open));
    }
}
