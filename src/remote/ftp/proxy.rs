//! The client side of the two proxies users behind firewalls reach servers through: SOCKS5
//! (RFC 1928, with user name and password authentication, RFC 1929) and an HTTP proxy's `CONNECT`
//! tunnel (RFC 9110 §9.3.6, with Basic authentication, RFC 7617). `Proxy::dial` connects to the
//! proxy and asks it for a tunnel to the server's host name and a port; what comes back is a plain
//! TCP stream on which FTP (or TLS) goes on as if it were connected to the server itself.
//!
//! Written here rather than taken from a crate: the SOCKS and HTTP CONNECT clients on crates.io
//! are mostly built for async runtimes (tokio-socks, async-http-proxy, fast-socks5), and the sync
//! `socks` crate does SOCKS only and opens its socket itself, while ftpfs prepares each socket
//! before it connects (a small receive buffer for ranged reads) and bounds every read of the
//! handshake by the mount's deadline. Both exchanges are a few fixed messages over a std
//! `TcpStream`, tested below against scripted byte exchanges.
//!
//! The server's host name goes to the proxy as the URL gives it (SOCKS5 address type 3, or the
//! `CONNECT` authority): the proxy resolves it, as it must where the client cannot (a corporate
//! network's internal names). No message shows the proxy's password.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::errors::is_timeout;
use crate::config::{ProxyConfig, ProxyKind};

/// A response head longer than this from an HTTP proxy is refused (no proxy sends one).
const MAX_HTTP_HEAD: usize = 16 << 10;

/// A proxy and the server host that every connection through it is for.
#[derive(Debug)]
pub struct Proxy {
    cfg: ProxyConfig,
    /// The FTP server's host name or address, as the URL gives it (IPv6 without brackets).
    server: String,
}

/// What went wrong with a proxy, in one line for the user (wrapped in an `io::Error` whose kind
/// tells a timeout from a refusal, for the link's verdict; `errors::io_text` shows this text).
#[derive(Debug)]
pub struct ProxyError(String);

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxyError {}

impl Proxy {
    pub fn new(cfg: ProxyConfig, server: &str) -> Proxy {
        Proxy {
            cfg,
            server: server.to_string(),
        }
    }

    /// The proxy as messages show it (never its password).
    pub fn display(&self) -> String {
        self.cfg.display()
    }

    /// A TCP connection through the proxy to the server at `port`: connected to the proxy (from a
    /// socket `prepare`d first, as `sockets::connect` does) and tunnelled, all within `timeout`.
    pub fn dial(
        &self,
        port: u16,
        timeout: Duration,
        prepare: &dyn Fn(&socket2::Socket) -> std::io::Result<()>,
    ) -> std::io::Result<TcpStream> {
        let deadline = Instant::now() + timeout;
        let stream = self.reach(deadline, prepare)?;
        let mut step = Step {
            stream: &stream,
            deadline,
            proxy: self,
        };
        match self.cfg.kind {
            ProxyKind::Socks5 => step.socks5(&self.server, port),
            ProxyKind::HttpConnect => step.http_connect(&self.server, port),
        }
        .map_err(|e| self.error(e, port))?;
        Ok(stream)
    }

    /// The TCP connection to the proxy itself: its first address that answers.
    fn reach(
        &self,
        deadline: Instant,
        prepare: &dyn Fn(&socket2::Socket) -> std::io::Result<()>,
    ) -> std::io::Result<TcpStream> {
        let failed = |kind, what: String| {
            std::io::Error::new(
                kind,
                ProxyError(format!("proxy {}: {what}", self.display())),
            )
        };
        let addrs: Vec<SocketAddr> = (self.cfg.host.as_str(), self.cfg.port)
            .to_socket_addrs()
            .map_err(|e| failed(e.kind(), format!("cannot resolve {}: {e}", self.cfg.host)))?
            .collect();
        let mut last = failed(
            std::io::ErrorKind::NotFound,
            format!("{} has no address", self.cfg.host),
        );
        for addr in addrs {
            let left = left(deadline)?;
            match super::sockets::connect(addr, left, prepare) {
                Ok(s) => return Ok(s),
                Err(e) => {
                    let what = match e.kind() {
                        _ if is_timeout(&e) => "timed out".to_string(),
                        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                        _ => e.to_string(),
                    };
                    last = failed(e.kind(), format!("cannot connect to {addr}: {what}"));
                }
            }
        }
        Err(last)
    }

    /// An exchange's failure as the user sees it: which proxy, and what it said or did not say.
    fn error(&self, e: std::io::Error, port: u16) -> std::io::Error {
        if e.get_ref().is_some_and(|i| i.is::<ProxyError>()) {
            return e;
        }
        let what = match e.kind() {
            _ if is_timeout(&e) => "no answer in time".to_string(),
            std::io::ErrorKind::UnexpectedEof => "it closed the connection".into(),
            _ => e.to_string(),
        };
        std::io::Error::new(
            e.kind(),
            ProxyError(format!(
                "proxy {} (to {}): {what}",
                self.display(),
                authority(&self.server, port)
            )),
        )
    }
}

/// One proxy handshake under way: every read and write bounded by what is left of the deadline.
struct Step<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
    proxy: &'a Proxy,
}

impl Step<'_> {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.set_write_timeout(Some(left(self.deadline)?))?;
        self.stream.write_all(bytes)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        self.stream.set_read_timeout(Some(left(self.deadline)?))?;
        self.stream.read_exact(buf)
    }

    /// A refusal by the proxy, in words.
    fn refused(&self, kind: std::io::ErrorKind, what: String) -> std::io::Error {
        std::io::Error::new(
            kind,
            ProxyError(format!("proxy {} {what}", self.proxy.display())),
        )
    }

    /// RFC 1928: greeting (methods offered), the method chosen, RFC 1929's user name and
    /// password when it is that, then `CONNECT` to the host name and the reply.
    fn socks5(&mut self, host: &str, port: u16) -> std::io::Result<()> {
        let creds = self.proxy.credentials();
        // No authentication, and user name/password when we have them.
        let methods: &[u8] = if creds.is_some() { &[0, 2] } else { &[0] };
        let mut hello = vec![5, methods.len() as u8];
        hello.extend_from_slice(methods);
        self.send(&hello)?;
        let mut chosen = [0u8; 2];
        self.read_exact(&mut chosen)?;
        if chosen[0] != 5 {
            return Err(self.not_socks5(&chosen));
        }
        match (chosen[1], creds) {
            (0, _) => {}
            (2, Some((user, password))) => {
                if user.len() > 255 || password.len() > 255 {
                    return Err(self.refused(
                        std::io::ErrorKind::InvalidInput,
                        "cannot take a user name or password longer than 255 bytes (SOCKS5)".into(),
                    ));
                }
                let mut auth = vec![1, user.len() as u8];
                auth.extend_from_slice(user.as_bytes());
                auth.push(password.len() as u8);
                auth.extend_from_slice(password.as_bytes());
                self.send(&auth)?;
                let mut status = [0u8; 2];
                self.read_exact(&mut status)?;
                if status[1] != 0 {
                    return Err(self.refused(
                        std::io::ErrorKind::PermissionDenied,
                        format!("refused the user name or password of {user}"),
                    ));
                }
            }
            (0xff, None) => {
                return Err(self.refused(
                    std::io::ErrorKind::PermissionDenied,
                    "wants a user name and password: give them in the proxy URL \
                     (socks5://USER@HOST:PORT) and proxy_password= in -o credentials=FILE"
                        .into(),
                ))
            }
            (0xff, Some(_)) => {
                return Err(self.refused(
                    std::io::ErrorKind::PermissionDenied,
                    "accepts neither no authentication nor a user name and password".into(),
                ))
            }
            (m, _) => {
                return Err(self.refused(
                    std::io::ErrorKind::InvalidData,
                    format!("chose authentication method {m}, which was not offered"),
                ))
            }
        }
        let mut request = vec![5, 1, 0];
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => {
                request.push(1);
                request.extend_from_slice(&ip.octets());
            }
            Ok(IpAddr::V6(ip)) => {
                request.push(4);
                request.extend_from_slice(&ip.octets());
            }
            Err(_) if host.len() <= 255 => {
                request.extend_from_slice(&[3, host.len() as u8]);
                request.extend_from_slice(host.as_bytes());
            }
            Err(_) => {
                return Err(self.refused(
                    std::io::ErrorKind::InvalidInput,
                    "cannot take a host name longer than 255 bytes (SOCKS5)".into(),
                ))
            }
        }
        request.extend_from_slice(&port.to_be_bytes());
        self.send(&request)?;
        // VER REP RSV ATYP, then the bound address (of its type's length) and port: read to the
        // last byte, so that nothing of the server's greeting is taken for it, nor it for that.
        let mut head = [0u8; 4];
        self.read_exact(&mut head)?;
        if head[0] != 5 {
            return Err(self.not_socks5(&head));
        }
        if head[1] != 0 {
            let (kind, why) = socks5_reply(head[1]);
            return Err(self.refused(
                kind,
                format!("could not connect to {}: {why}", authority(host, port)),
            ));
        }
        let rest = match head[3] {
            1 => 4 + 2,
            4 => 16 + 2,
            3 => {
                let mut len = [0u8; 1];
                self.read_exact(&mut len)?;
                usize::from(len[0]) + 2
            }
            t => {
                return Err(self.refused(
                    std::io::ErrorKind::InvalidData,
                    format!("answered with an unknown address type {t}"),
                ))
            }
        };
        let mut bound = vec![0u8; rest];
        self.read_exact(&mut bound)
    }

    fn not_socks5(&self, got: &[u8]) -> std::io::Error {
        self.refused(
            std::io::ErrorKind::InvalidData,
            format!("does not speak SOCKS5 (it answered {got:02x?})"),
        )
    }

    /// `CONNECT host:port`, then the response head up to its blank line, read byte by byte: the
    /// server's first bytes (its greeting) may follow in the same packet and belong to the FTP
    /// session.
    fn http_connect(&mut self, host: &str, port: u16) -> std::io::Result<()> {
        let target = authority(host, port);
        let mut request =
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: ftpfs\r\n");
        if let Some((user, password)) = self.proxy.credentials() {
            let token = base64(format!("{user}:{password}").as_bytes());
            request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
        }
        request.push_str("\r\n");
        self.send(request.as_bytes())?;
        let mut head = Vec::with_capacity(128);
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
            if head.len() >= MAX_HTTP_HEAD {
                return Err(self.refused(
                    std::io::ErrorKind::InvalidData,
                    format!("sent a response head over {MAX_HTTP_HEAD} bytes"),
                ));
            }
            self.read_exact(&mut byte)?;
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head);
        let status = text.lines().next().unwrap_or_default().trim();
        let mut words = status.splitn(3, ' ');
        let (version, code) = (words.next().unwrap_or_default(), words.next());
        let code: u16 = match code.and_then(|c| c.parse().ok()) {
            Some(c) if version.starts_with("HTTP/") => c,
            _ => {
                return Err(self.refused(
                    std::io::ErrorKind::InvalidData,
                    format!("does not speak HTTP (it answered {:?})", cut(status)),
                ))
            }
        };
        match code {
            200..=299 => Ok(()),
            407 if self.proxy.credentials().is_some() => Err(self.refused(
                std::io::ErrorKind::PermissionDenied,
                format!("refused the user name or password ({})", cut(status)),
            )),
            407 => Err(self.refused(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "wants a user name and password ({}): give them in the proxy URL \
                     (http://USER@HOST:PORT) and proxy_password= in -o credentials=FILE",
                    cut(status)
                ),
            )),
            _ => Err(self.refused(
                std::io::ErrorKind::ConnectionRefused,
                format!("could not connect to {target}: {}", cut(status)),
            )),
        }
    }
}

impl Proxy {
    /// The user name and password, when a user is given (a missing password is empty).
    fn credentials(&self) -> Option<(&str, &str)> {
        let user = self.cfg.user.as_deref()?;
        Some((user, self.cfg.password.as_ref().map_or("", |p| p.expose())))
    }
}

/// What is left until `deadline`, or a timeout once it passed.
fn left(deadline: Instant) -> std::io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(std::io::ErrorKind::TimedOut.into());
    }
    Ok(left)
}

/// `host:port`, an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A proxy's words, cut to a line's length and stripped of control characters.
fn cut(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).take(100).collect();
    clean
}

/// What a SOCKS5 reply code means (RFC 1928 §6), and the error kind that says it.
fn socks5_reply(code: u8) -> (std::io::ErrorKind, &'static str) {
    use std::io::ErrorKind as K;
    match code {
        1 => (K::Other, "general SOCKS server failure"),
        2 => (K::PermissionDenied, "not allowed by the proxy's rules"),
        3 => (K::Other, "network unreachable"),
        4 => (
            K::Other,
            "host unreachable (or its name unknown to the proxy)",
        ),
        5 => (K::ConnectionRefused, "connection refused by the server"),
        6 => (K::TimedOut, "the proxy's connection timed out"),
        7 => (K::Unsupported, "the proxy does not support CONNECT"),
        8 => (
            K::Unsupported,
            "the proxy does not support the address type",
        ),
        _ => (K::Other, "an unknown SOCKS5 error"),
    }
}

/// Standard base64 with padding (RFC 4648 §4), for `Proxy-Authorization: Basic`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::net::TcpListener;

    /// A proxy that plays a scripted exchange: for each step, the bytes it must receive (read in
    /// exactly that length) and what it answers; then `after` (the server's first bytes through
    /// the tunnel). Returns its port and a handle that gives what it received, in order.
    fn scripted(
        steps: Vec<(Vec<u8>, Vec<u8>)>,
        after: &'static [u8],
    ) -> (u16, std::thread::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            for (want, answer) in steps {
                let mut buf = vec![0u8; want.len()];
                if c.read_exact(&mut buf).is_err() {
                    break;
                }
                got.push(buf.clone());
                assert_eq!(buf, want, "the client's bytes");
                c.write_all(&answer).unwrap();
            }
            c.write_all(after).unwrap();
            got
        });
        (port, handle)
    }

    fn proxy(kind: ProxyKind, port: u16, user: Option<(&str, &str)>, server: &str) -> Proxy {
        Proxy::new(
            ProxyConfig {
                kind,
                host: "127.0.0.1".into(),
                port,
                user: user.map(|(u, _)| u.to_string()),
                password: user.map(|(_, p)| Secret::new(p)),
            },
            server,
        )
    }

    fn no_prep(_: &socket2::Socket) -> std::io::Result<()> {
        Ok(())
    }

    fn greeting_after(mut s: TcpStream) -> String {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn socks5_without_authentication_asks_for_the_host_name() {
        let (port, h) = scripted(
            vec![
                (vec![5, 1, 0], vec![5, 0]),
                (
                    [&[5, 1, 0, 3, 15][..], b"ftp.example.org", &[0, 21]].concat(),
                    vec![5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90],
                ),
            ],
            b"220 hello\r\n",
        );
        let p = proxy(ProxyKind::Socks5, port, None, "ftp.example.org");
        let s = p.dial(21, Duration::from_secs(5), &no_prep).unwrap();
        // Nothing of the greeting was taken for the proxy's reply.
        assert_eq!(greeting_after(s), "220 hello\r\n");
        assert_eq!(h.join().unwrap().len(), 2);
    }

    #[test]
    fn socks5_with_a_user_name_and_password() {
        let (port, h) = scripted(
            vec![
                (vec![5, 2, 0, 2], vec![5, 2]),
                ([&[1, 3][..], b"bob", &[6], b"s3cret"].concat(), vec![1, 0]),
                (
                    vec![5, 1, 0, 1, 127, 0, 0, 1, 0x30, 0x39],
                    // A domain-name bound address: its length byte says how much to read.
                    [&[5, 0, 0, 3, 4][..], b"prox", &[0, 1]].concat(),
                ),
            ],
            b"220 ok\r\n",
        );
        let p = proxy(
            ProxyKind::Socks5,
            port,
            Some(("bob", "s3cret")),
            "127.0.0.1",
        );
        let s = p.dial(12345, Duration::from_secs(5), &no_prep).unwrap();
        assert_eq!(greeting_after(s), "220 ok\r\n");
        h.join().unwrap();
    }

    #[test]
    fn socks5_ipv6_targets_go_as_addresses() {
        let ip: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
        let (port, _h) = scripted(
            vec![
                (vec![5, 1, 0], vec![5, 0]),
                (
                    [&[5, 1, 0, 4][..], &ip.octets(), &[0, 21]].concat(),
                    [&[5, 0, 0, 4][..], &[0; 16], &[0, 0]].concat(),
                ),
            ],
            b"",
        );
        let p = proxy(ProxyKind::Socks5, port, None, "2001:db8::7");
        p.dial(21, Duration::from_secs(5), &no_prep).unwrap();
    }

    #[test]
    fn socks5_refusals_say_what_the_proxy_said_and_never_the_password() {
        // Wrong password.
        let (port, _h) = scripted(
            vec![
                (vec![5, 2, 0, 2], vec![5, 2]),
                ([&[1, 3][..], b"bob", &[5], b"wrong"].concat(), vec![1, 1]),
            ],
            b"",
        );
        let p = proxy(ProxyKind::Socks5, port, Some(("bob", "wrong")), "h");
        let e = p.dial(21, Duration::from_secs(5), &no_prep).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            e.to_string(),
            format!("proxy socks5://bob@127.0.0.1:{port} refused the user name or password of bob")
        );
        // No credentials, and the proxy wants some.
        let (port, _h) = scripted(vec![(vec![5, 1, 0], vec![5, 0xff])], b"");
        let p = proxy(ProxyKind::Socks5, port, None, "h");
        let e = p.dial(21, Duration::from_secs(5), &no_prep).unwrap_err();
        assert!(
            e.to_string().contains("wants a user name and password"),
            "{e}"
        );
        // The server refused the proxy's connection; an unknown host.
        for (code, words) in [
            (
                5,
                "could not connect to h:21: connection refused by the server",
            ),
            (4, "could not connect to h:21: host unreachable"),
        ] {
            let (port, _h) = scripted(
                vec![
                    (vec![5, 1, 0], vec![5, 0]),
                    (
                        [&[5, 1, 0, 3, 1][..], b"h", &[0, 21]].concat(),
                        vec![5, code, 0, 1, 0, 0, 0, 0, 0, 0],
                    ),
                ],
                b"",
            );
            let p = proxy(ProxyKind::Socks5, port, None, "h");
            let e = p.dial(21, Duration::from_secs(5), &no_prep).unwrap_err();
            assert!(e.to_string().contains(words), "{e}");
        }
        // Something that is no SOCKS5 proxy.
        let (port, _h) = scripted(vec![(vec![5, 1, 0], b"HT".to_vec())], b"");
        let p = proxy(ProxyKind::Socks5, port, None, "h");
        let e = p.dial(21, Duration::from_secs(5), &no_prep).unwrap_err();
        assert!(e.to_string().contains("does not speak SOCKS5"), "{e}");
    }

    #[test]
    fn http_connect_with_basic_authentication() {
        let request = "CONNECT ftp.example.org:2121 HTTP/1.1\r\nHost: ftp.example.org:2121\r\n\
                       User-Agent: ftpfs\r\nProxy-Authorization: Basic Ym9iOnMzOmNyZXQ=\r\n\r\n";
        let (port, h) = scripted(
            vec![(
                request.as_bytes().to_vec(),
                // The greeting follows the head in the same write.
                b"HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n220 hi\r\n".to_vec(),
            )],
            b"",
        );
        let p = proxy(
            ProxyKind::HttpConnect,
            port,
            Some(("bob", "s3:cret")),
            "ftp.example.org",
        );
        let s = p.dial(2121, Duration::from_secs(5), &no_prep).unwrap();
        assert_eq!(greeting_after(s), "220 hi\r\n");
        h.join().unwrap();
    }

    #[test]
    fn http_connect_refusals() {
        let plain = |target: &str| {
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: ftpfs\r\n\r\n")
                .into_bytes()
        };
        for (answer, words, kind) in [
            (
                "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
                "wants a user name and password (HTTP/1.1 407 Proxy Authentication Required)",
                std::io::ErrorKind::PermissionDenied,
            ),
            (
                "HTTP/1.0 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
                "could not connect to [::1]:21: HTTP/1.0 502 Bad Gateway",
                std::io::ErrorKind::ConnectionRefused,
            ),
            (
                "SSH-2.0-OpenSSH\r\n\r\n",
                "does not speak HTTP",
                std::io::ErrorKind::InvalidData,
            ),
        ] {
            let (port, _h) = scripted(vec![(plain("[::1]:21"), answer.as_bytes().to_vec())], b"");
            let p = proxy(ProxyKind::HttpConnect, port, None, "::1");
            let e = p.dial(21, Duration::from_secs(5), &no_prep).unwrap_err();
            assert!(e.to_string().contains(words), "{e}");
            assert_eq!(e.kind(), kind, "{e}");
        }
    }

    #[test]
    fn a_silent_proxy_fails_within_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _held = std::thread::spawn(move || {
            let c = listener.accept();
            std::thread::sleep(Duration::from_secs(3));
            drop(c);
        });
        // (The listener accepts the first; the second connection waits in its backlog.)
        for kind in [ProxyKind::Socks5, ProxyKind::HttpConnect] {
            let p = proxy(kind, port, None, "h");
            let t = Instant::now();
            let e = p
                .dial(21, Duration::from_millis(300), &no_prep)
                .unwrap_err();
            assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{e}"
            );
            assert!(e.to_string().contains("no answer in time"), "{e}");
        }
    }

    #[test]
    fn a_closed_proxy_port_is_named() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = proxy(ProxyKind::Socks5, port, Some(("bob", "pw")), "h");
        let e = p.dial(21, Duration::from_secs(2), &no_prep).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("proxy socks5://bob@127.0.0.1:{port}: cannot connect to 127.0.0.1:{port}: connection refused")
        );
    }

    #[test]
    fn base64_of_rfc_4648() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }
}
