//! Shared test support: FTP servers started by the tests (`unftp`: libunftp in-process; `vsftpd`:
//! Debian's vsftpd as a child process; `servers`: ProFTPD, Pure-FTPd, pyftpdlib and GNU ftpd as
//! child processes; `local_user`: the local user they log in; `fake`: a scripted, misbehaving
//! server; `proxy`: a SOCKS5 and an HTTP CONNECT proxy in front of them), the clients of the
//! tests (`store`: an `FtpStore` for a test server; `core`: the filesystem core over the
//! in-memory store; `mount`: the real binary's kernel mounts), and the
//! helpers around them: free ports, waiting for a server's `220` greeting, dates as servers write
//! them, and deterministic test data (file trees, large pseudo-random files, SHA-256 of a file).
//! Every test binary includes this with `mod support;` and uses a different subset, hence the
//! module-wide `dead_code` allowance.
#![allow(dead_code)]

pub mod core;
pub mod fake;
pub mod local_user;
pub mod mount;
pub mod namespace;
pub mod proxy;
pub mod servers;
pub mod store;
pub mod tls;
pub mod unftp;
pub mod vsftpd;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::DateTime;
use sha2::{Digest, Sha256};

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it for a bind to port 0).
/// Another process may still take it before the caller binds it: servers that bind by themselves
/// (vsftpd) must detect that and retry; `unftp` avoids the gap by keeping the bound listener.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("cannot bind 127.0.0.1:0 to find a free port")
        .port()
}

/// A passive (data) port range of 100 ports for one server. Ranges of parallel servers may
/// overlap: both servers pick a random port in their range and retry the bind on EADDRINUSE. The
/// range lies below Linux's ephemeral range (32768..=60999), so outgoing client sockets on
/// 127.0.0.1, which take ephemeral ports, never occupy it.
pub fn passive_range() -> (u16, u16) {
    let blocks = (32_000 - 10_000) / 100;
    let start = 10_000 + (unique_seed() % blocks) as u16 * 100;
    (start, start + 99)
}

/// `count` (at most 32) consecutive ports on 127.0.0.1, all free right now, for a client that
/// binds them itself: ftpfs's active-mode data ports (`active_addr=IP:LOW-HIGH`). See
/// `held_port_range`, which this is with the ports let go at once.
pub fn active_port_range(count: u16) -> (u16, u16) {
    let (low, high, _) = held_port_range(count);
    (low, high)
}

/// `count` (at most 32) consecutive ports on 127.0.0.1, each with a listener of the caller's
/// bound on it: a test that needs a port taken holds it from the start, so that nothing else
/// can land there in between. The ports lie above the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`, 32768..=60999 by default), where no outgoing connection and
/// no listener of plain active mode lands, and above the servers' passive ranges
/// (`passive_range`). Each call takes a block of 32 ports of its own, distinct from every other
/// call's in this process and in every other test process: a block is held by an exclusive lock
/// on a file in the temporary directory until the process exits, and blocks that another process
/// holds, or whose ports are taken, are passed over.
pub fn held_port_range(count: u16) -> (u16, u16, Vec<TcpListener>) {
    const BLOCK: u16 = 32;
    static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());
    assert!((1..=BLOCK).contains(&count), "{count} ports asked for");
    let first = active_ports_start(BLOCK);
    let blocks = (u16::MAX - first) / BLOCK;
    let dir = std::env::temp_dir().join("ftpfs-test-ports");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    // Open to every user's tests, as /tmp is; a directory of another owner stays as it is.
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
    let bind = |p: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).ok();
    // Processes start their search at different blocks, so that they seldom wait on each other.
    let start = (unique_seed() % u64::from(blocks)) as u16;
    for i in 0..blocks {
        let low = first + (start + i) % blocks * BLOCK;
        let path = dir.join(format!("{low}.lock"));
        // A lock file made by another user's tests may be read-only to us; a lock needs no more.
        let lock = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .or_else(|_| File::open(&path))
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        if lock.try_lock().is_err() {
            continue;
        }
        for p in low..=low + BLOCK - count {
            if let Some(held) = (p..p + count).map(bind).collect::<Option<Vec<_>>>() {
                HELD.lock().unwrap().push(lock);
                return (p, p + count - 1, held);
            }
        }
    }
    panic!("no {count} free ports in a block of our own above {first}");
}

/// Where blocks of active-mode ports start: above the kernel's ephemeral range where 64 blocks
/// or more fit there, else at 61000 (above Linux's default range), with a warning that an
/// outgoing connection may then take one of them.
fn active_ports_start(block: u16) -> u16 {
    const DEFAULT: u16 = 61_000;
    let high = ephemeral_ports().map_or(DEFAULT - 1, |(_, high)| high);
    let first = high.saturating_add(1).max(DEFAULT);
    if (u16::MAX - first) / block >= 64 {
        return first;
    }
    eprintln!(
        "warning: the ephemeral port range (up to {high}) leaves too few ports above it; \
         active-mode test ports start at {DEFAULT} and an outgoing connection may take one"
    );
    DEFAULT
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), where outgoing
/// connections take their local ports; `None` where it cannot be read.
pub fn ephemeral_ports() -> Option<(u16, u16)> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut ports = range.split_whitespace().map(|p| p.parse::<u16>().ok());
    Some((ports.next()??, ports.next()??))
}

/// A value that differs between calls and between processes: for passive ranges and banners.
pub fn unique_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut x =
        nanos ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // One splitmix64 round so that close inputs give unrelated outputs.
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Paths in URLs start with `/`; `url("")` and `url("/")` both mean the root.
pub fn slash(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// What every test server offers: where it listens and how to log in.
pub trait FtpServer {
    fn port(&self) -> u16;
    fn user(&self) -> &str;
    fn password(&self) -> &str;

    /// `ftp://USER@127.0.0.1:PORT{path}`; the password travels separately (FTPFS_PASSWORD).
    fn url(&self, path: &str) -> String {
        format!(
            "ftp://{}@127.0.0.1:{}{}",
            self.user(),
            self.port(),
            slash(path)
        )
    }

    /// `ftp://USER:PASSWORD@127.0.0.1:PORT{path}`.
    fn url_with_password(&self, path: &str) -> String {
        format!(
            "ftp://{}:{}@127.0.0.1:{}{}",
            self.user(),
            self.password(),
            self.port(),
            slash(path)
        )
    }
}

/// Connects to 127.0.0.1:`port` until a server sends its `220` greeting, and returns that line.
/// Connection refused, or a greeting that is not 220 yet (vsftpd answers 500 OOPS while it is
/// failing), are retried until `timeout`; the error then says what was seen last.
pub fn wait_for_greeting(port: u16, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        let last = match read_greeting(addr) {
            Ok(line) if line.starts_with("220") => return Ok(line),
            Ok(line) => format!("unexpected greeting {line:?}"),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "no 220 greeting from 127.0.0.1:{port} within {timeout:?}: {last}"
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn read_greeting(addr: SocketAddr) -> std::io::Result<String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // A polite goodbye, so that the server does not log an aborted session; errors do not matter.
    let _ = (&stream).write_all(b"QUIT\r\n");
    Ok(line.trim_end().to_string())
}

/// A small, fast, deterministic pseudo-random generator (xorshift64*). Test data only.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        // xorshift must not start at 0; mix the seed so that seeds 0, 1, 2 differ in all bits.
        XorShift((seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// Writes `size` pseudo-random bytes (a function of `seed` only) to `path`, 1 MiB at a time, so
/// that hundreds of MiB take well under a second of CPU. Creates missing parent directories.
pub fn make_random_file(path: &Path, size: u64, seed: u64) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let mut f = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut rng = XorShift::new(seed);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
}

/// Creates `root/d000 .. d{dirs-1}`, each with `f0000.txt .. f{files_per_dir-1}.txt` of 0..8 KiB
/// (sizes and bytes are a function of `seed`; some files are empty). The bytes are printable text
/// lines so that a failure diff stays readable.
pub fn make_tree(root: &Path, dirs: usize, files_per_dir: usize, seed: u64) {
    let mut rng = XorShift::new(seed);
    for d in 0..dirs {
        let dir = root.join(format!("d{d:03}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        for f in 0..files_per_dir {
            let size = (rng.next_u64() % (8 * 1024 + 1)) as usize;
            let mut data = Vec::with_capacity(size);
            while data.len() < size {
                let word = rng.next_u64();
                let line = format!("d{d:03}/f{f:04} {word:016x}\n");
                data.extend_from_slice(line.as_bytes());
            }
            data.truncate(size);
            let path = dir.join(format!("f{f:04}.txt"));
            std::fs::write(&path, &data)
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
    }
}

/// Lowercase hex SHA-256 of the file's content.
pub fn sha256_file(path: &Path) -> String {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    format!("{:x}", hasher.finalize())
}

/// `Mon DD HH:MM` of a Unix time, as LIST shows a recently changed file. chrono's calendar, not
/// the one in src/remote/listing/time.rs, so that the tests of dates check it against another.
pub fn list_date(secs: u64) -> String {
    utc(secs).format("%b %d %H:%M").to_string()
}

/// `YYYYMMDDHHMMSS` of a Unix time, as MDTM answers.
pub fn mdtm_text(secs: u64) -> String {
    utc(secs).format("%Y%m%d%H%M%S").to_string()
}

fn utc(secs: u64) -> DateTime<chrono::Utc> {
    i64::try_from(secs)
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .unwrap_or_else(|| panic!("{secs} s after 1970 is past chrono's calendar"))
}
