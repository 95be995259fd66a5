//! Proxies between ftpfs and the test servers, both making their connections to the server from
//! `OUT_ADDR` (127.0.0.2), so that the server's side tells a connection through the proxy
//! (127.0.0.2) from one that passed it by (127.0.0.1):
//!
//! - `Dante`: Debian's SOCKS5 server (`danted`, package dante-server) as a child process in the
//!   foreground, on a free 127.0.0.1 port, without authentication or with user name and password
//!   (`socksmethod: username`, which checks the system's users: the local test user
//!   `ftpfstest` has a known password). Killed with its children when dropped.
//! - `HttpProxy`: a small HTTP CONNECT proxy in threads, optionally asking for Basic
//!   authentication, that records every target it connected to.
//!
//! A missing danted fails the test: nothing is skipped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::free_port;
use super::local_user::ensure_test_user;

const DANTED: &str = "/usr/sbin/danted";

/// Where the proxies' connections to the server come from.
pub const OUT_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A running danted on 127.0.0.1; killed (with its child processes) when dropped.
pub struct Dante {
    pub port: u16,
    child: Child,
    /// Config, pid file and log; removed on drop.
    dir: tempfile::TempDir,
}

impl Dante {
    /// Starts danted without authentication (`users: false`), or asking for a user name and
    /// password that it checks against the system's users (`true`). Returns once it answers a
    /// SOCKS5 greeting; panics with its log if it does not within 10 s.
    pub fn start(users: bool) -> Dante {
        assert!(
            std::path::Path::new(DANTED).exists(),
            "danted is not installed: run scripts/test.sh (apt-get install dante-server)"
        );
        if users {
            ensure_test_user();
        }
        let mut last = String::new();
        // free_port() leaves a gap before danted binds: another port on a failed start.
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("ftpfs-danted-")
                .tempdir()
                .unwrap();
            let port = free_port();
            let conf = dir.path().join("danted.conf");
            std::fs::write(
                &conf,
                config_text(port, users, &dir.path().join("danted.log")),
            )
            .unwrap();
            let out = std::fs::File::create(dir.path().join("danted.out")).unwrap();
            let child = Command::new(DANTED)
                .arg("-f")
                .arg(&conf)
                .arg("-p")
                .arg(dir.path().join("danted.pid"))
                // One mother process (it still forks its helper processes).
                .args(["-N", "1"])
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                // Its own process group: dropping kills the mother and its helpers at once.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {DANTED}: {e}"));
            let mut dante = Dante { port, child, dir };
            match dante.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return dante,
                Err(e) => last = format!("{e}; its log:\n{}", dante.log()),
            }
        }
        panic!("danted did not start in 5 attempts: {last}");
    }

    /// `socks5://[USER@]127.0.0.1:PORT`.
    pub fn url(&self, user: Option<&str>) -> String {
        match user {
            Some(u) => format!("socks5://{u}@127.0.0.1:{}", self.port),
            None => format!("socks5://127.0.0.1:{}", self.port),
        }
    }

    /// What danted logged (its connects and refusals) and printed.
    pub fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("danted.log"), read("danted.out"))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("danted exited: {status}"));
            }
            match socks5_hello(self.port) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "no SOCKS5 answer on port {} within {timeout:?}: {e}",
                        self.port
                    ))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(25)),
            }
        }
    }
}

impl Drop for Dante {
    fn drop(&mut self) {
        // The group of our child: the mother and the helper processes it forked.
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the process group our child leads (process_group(0) at spawn).
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Whether a SOCKS5 server answers a greeting on 127.0.0.1:`port` (any method).
fn socks5_hello(port: u16) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(500),
    )?;
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    s.write_all(&[5, 2, 0, 2])?;
    let mut answer = [0u8; 2];
    s.read_exact(&mut answer)?;
    if answer[0] == 5 {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("answer {answer:?}")))
    }
}

/// danted's configuration: listens on 127.0.0.1:`port`, connects out from `OUT_ADDR`, lets
/// clients from loopback connect to anything, with `username` authentication or none.
fn config_text(port: u16, users: bool, log: &std::path::Path) -> String {
    let method = if users { "username" } else { "none" };
    format!(
        "logoutput: {log}
internal: 127.0.0.1 port = {port}
external: {OUT_ADDR}
clientmethod: none
socksmethod: {method}
# root reads /etc/shadow for the username method; the rest runs as nobody.
user.privileged: root
user.unprivileged: nobody
client pass {{
  from: 127.0.0.0/8 to: 0.0.0.0/0
  log: error
}}
socks pass {{
  from: 127.0.0.0/8 to: 0.0.0.0/0
  command: connect
  log: connect disconnect error
}}
",
        log = log.display()
    )
}

/// A small HTTP CONNECT proxy on 127.0.0.1, one thread per tunnel direction, connecting out from
/// `OUT_ADDR`. It stops accepting when dropped (tunnels under way end with their connections).
pub struct HttpProxy {
    pub port: u16,
    /// `host:port` of every CONNECT it carried out, in order.
    targets: Arc<Mutex<Vec<String>>>,
    /// Requests refused for their credentials.
    refused: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
}

impl HttpProxy {
    /// Starts the proxy; with `login`, CONNECT needs `Proxy-Authorization: Basic` of that user
    /// and password (else 407).
    pub fn start(login: Option<(&str, &str)>) -> HttpProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let expected =
            login.map(|(u, p)| format!("Basic {}", base64(format!("{u}:{p}").as_bytes())));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, r, s) = (targets.clone(), refused.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (t, r, expected) = (t.clone(), r.clone(), expected.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, expected.as_deref(), &t, &r);
                });
            }
        });
        HttpProxy {
            port,
            targets,
            refused,
            stop,
        }
    }

    /// `http://[USER[:PASSWORD]@]127.0.0.1:PORT`.
    pub fn url(&self, userinfo: Option<&str>) -> String {
        match userinfo {
            Some(u) => format!("http://{u}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// Every target it connected to so far.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }

    /// How many requests it refused for their credentials.
    pub fn refused(&self) -> usize {
        *self.refused.lock().unwrap()
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// One client: its CONNECT request, the credentials check, the connection to the target from
/// `OUT_ADDR`, then bytes both ways until either side closes.
fn serve(
    client: TcpStream,
    expected: Option<&str>,
    targets: &Mutex<Vec<String>>,
    refused: &Mutex<usize>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let mut out = client.try_clone()?;
    let target = match head.first().map(|l| l.split(' ').collect::<Vec<_>>()) {
        Some(words) if words.len() == 3 && words[0] == "CONNECT" => words[1].to_string(),
        _ => {
            out.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")?;
            return Ok(());
        }
    };
    if let Some(want) = expected {
        let given = head
            .iter()
            .find_map(|l| l.strip_prefix("Proxy-Authorization: "));
        if given != Some(want) {
            *refused.lock().unwrap() += 1;
            out.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
            )?;
            return Ok(());
        }
    }
    let addr: SocketAddr = match target.parse() {
        Ok(a) => a,
        Err(_) => {
            out.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")?;
            return Ok(());
        }
    };
    let server = match connect_from(OUT_ADDR, addr) {
        Ok(s) => s,
        Err(_) => {
            out.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")?;
            return Ok(());
        }
    };
    targets.lock().unwrap().push(target);
    out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    client.set_read_timeout(None)?;
    let (mut from_client, mut to_server) = (client.try_clone()?, server.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_server);
        let _ = to_server.shutdown(std::net::Shutdown::Write);
    });
    let (mut from_server, mut to_client) = (server, client);
    let _ = std::io::copy(&mut from_server, &mut to_client);
    let _ = to_client.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
    Ok(())
}

/// A connection to `to` from `from` (bound before connecting).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.bind(&SocketAddr::from((from, 0)).into())?;
    sock.connect_timeout(&to.into(), Duration::from_secs(5))?;
    let s: TcpStream = sock.into();
    s.set_nodelay(true)?;
    Ok(s)
}

/// Standard base64 with padding (the test's own, not ftpfs's).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        let chars = [18, 12, 6, 0].map(|s| A[(n >> s & 63) as usize] as char);
        out.extend(&chars[..c.len() + 1]);
        out.extend(std::iter::repeat_n('=', 3 - c.len()));
    }
    out
}

/// The sessions vsftpd logged (with `log_ftp_protocol`), by process: each one's client address
/// (`Client "ADDR"`) and the commands it received, in order.
pub fn vsftpd_sessions(log: &str) -> Vec<(String, Vec<String>)> {
    let mut sessions: Vec<(String, String, Vec<String>)> = Vec::new();
    for line in log.lines() {
        let Some(pid) = line.split("[pid ").nth(1).and_then(|r| r.split(']').next()) else {
            continue;
        };
        let Some(client) = line
            .split("Client \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        let i = match sessions
            .iter()
            .position(|(p, c, _)| p == pid && c == client)
        {
            Some(i) => i,
            None => {
                sessions.push((pid.to_string(), client.to_string(), Vec::new()));
                sessions.len() - 1
            }
        };
        if let Some(command) = line.split("FTP command: Client \"").nth(1) {
            let command = command.split_once("\", \"").map_or("", |(_, c)| c);
            sessions[i]
                .2
                .push(command.trim_end_matches('"').to_string());
        }
    }
    sessions.into_iter().map(|(_, c, cmds)| (c, cmds)).collect()
}
