//! Active data connections on a port of a configured range (`-o active_addr=IP:LOW-HIGH`), for
//! clients behind a firewall that lets the server in on those ports only. suppaftp 12's active
//! mode listens on a port the kernel picks and offers no way to choose it, so these transfers are
//! made here, on the plain control socket (`raw`): a listener on a free port of the range (taken
//! in turn, so that ports just used, whose connections may linger, are not the first tried),
//! `PORT` (or `EPRT` for IPv6), `REST` if the transfer starts past 0, the transfer command, then
//! the server's connection, accepted only from the control connection's peer within `timeout`.
//! Over FTPS (`ftpes://`) the exchange goes through the control connection's TLS stream and the
//! data connection gets TLS from a connector sharing the control connection's session store, so
//! it resumes that session as servers require. `Transfer::finish` closes the data connection and
//! reads the closing reply.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use log::warn;
use suppaftp::{FtpError, TlsConnector};

use super::raw::{expect, replies, send, Data, Transfer};
use super::{poll_ready, Conn};
use crate::caller;

/// Where active data connections listen: an address, and the ports allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ports {
    pub ip: Option<IpAddr>,
    pub low: u16,
    pub high: u16,
}

/// How often a transfer that found every port of the range in use tries again.
const PORT_RETRY: Duration = Duration::from_millis(20);

/// A listener on a free port of `low..=high` at `ip`. While every port is in use (a range smaller
/// than the transfers running at once), waits for one to come free, up to `timeout` and only while
/// the caller lives. (Ports of ended connections are free: std binds with `SO_REUSEADDR`.)
fn listen(ip: IpAddr, low: u16, high: u16, timeout: Duration) -> std::io::Result<TcpListener> {
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
/// the port handed out last.
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

/// The `PORT`/`EPRT` command naming `addr`.
fn port_command(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => {
            let [a, b, c, d] = ip.octets();
            let p = addr.port();
            format!("PORT {a},{b},{c},{d},{},{}\r\n", p >> 8, p & 0xff)
        }
        IpAddr::V6(ip) => format!("EPRT |2|{ip}|{}|\r\n", addr.port()),
    }
}

/// Waits up to `timeout` for the server's data connection, refusing any other peer.
fn accept(listener: &TcpListener, peer: IpAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the server did not open the data connection",
            ));
        }
        if !poll_ready(listener.as_raw_fd(), libc::POLLIN, left)? {
            continue;
        }
        let (stream, from) = listener.accept()?;
        if from.ip() == peer {
            return Ok(stream);
        }
        warn!("refused a data connection from {from}: the server is {peer}");
    }
}

/// Sends `command` (a transfer: `RETR`, `STOR`, `APPE`, `LIST`, `MLSD` with its argument) on an
/// active data connection listening in `ports`, starting at `rest` when given.
pub(super) fn start(
    conn: &Conn,
    ports: Ports,
    command: &str,
    rest: Option<u64>,
    timeout: Duration,
) -> Result<Transfer, FtpError> {
    let io = FtpError::ConnectionError;
    let control = &conn.socket;
    let ip = match ports.ip {
        Some(ip) => ip,
        None => control.local_addr().map_err(io)?.ip(),
    };
    let peer = control.peer_addr().map_err(io)?.ip();
    let listener = listen(ip, ports.low, ports.high, timeout).map_err(io)?;
    let mut replies = replies(conn);
    send(conn, &port_command(listener.local_addr().map_err(io)?))?;
    expect(&mut replies, &[200])?;
    if let Some(offset) = rest.filter(|&n| n > 0) {
        send(conn, &format!("REST {offset}\r\n"))?;
        expect(&mut replies, &[350])?;
    }
    send(conn, &format!("{command}\r\n"))?;
    expect(&mut replies, &[150, 125])?;
    let data = accept(&listener, peer, timeout).map_err(io)?;
    data.set_read_timeout(Some(timeout)).map_err(io)?;
    data.set_write_timeout(Some(timeout)).map_err(io)?;
    let data = match &conn.tls {
        Some(t) => Data::Tls(Box::new(t.data.connect(&t.domain, data)?)),
        None => Data::Plain(data),
    };
    Ok(Transfer::new(data, replies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_commands() {
        let v4: SocketAddr = "10.1.2.3:50001".parse().unwrap();
        assert_eq!(port_command(v4), "PORT 10,1,2,3,195,81\r\n");
        let v6: SocketAddr = "[2001:db8::7]:6000".parse().unwrap();
        assert_eq!(port_command(v6), "EPRT |2|2001:db8::7|6000|\r\n");
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
            let l = listen(ip, low, low + 2, wait).unwrap();
            seen.push(l.local_addr().unwrap().port());
            open.push(l);
        }
        seen.sort();
        assert_eq!(seen, vec![low, low + 2], "the held port is skipped");
        // Every port in use: the wait ends with the error...
        let t = Instant::now();
        let e = listen(ip, low, low + 2, wait).unwrap_err();
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
        let l = listen(ip, low, low + 2, Duration::from_secs(5)).unwrap();
        assert_eq!(l.local_addr().unwrap().port(), port);
        t.join().unwrap();
        drop((held, open));
    }
}
