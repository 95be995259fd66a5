//! `FtpStore`: the `RemoteStore` over FTP and FTPS. It owns the suppaftp calls: how a connection is
//! opened (socket timeouts, greeting, TLS as the mode asks: `AUTH TLS` or implicit, then `PBSZ 0` and
//! `PROT P`, with the connector of `tls.rs`; login, binary type, passive mode aimed at the control
//! peer), how a listing is fetched (MLSD when FEAT offers it, else `LIST -a`, falling back to
//! `LIST`) with a size bound, how a download starts (`REST` + `RETR`), and how suppaftp errors become
//! `RemoteError`s and decide whether a connection is still usable. Every exchange on a control
//! connection is armed with a deadline (`watchdog`), and a listing has a size and a time bound.
//! Idempotent operations, and uploads that have not sent a byte yet, are retried once on a fresh
//! connection after the link broke (a connection the server closed while idle); never after the
//! server stopped answering, which would double the wait.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info};
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, Status};

use super::listing::{mdtm_reply_time, mdtm_time, parse_listing, ListFormat};
use super::pipeline::Pipelined;
use super::pool::{ConnectError, Connector, Health, Pool, Pooled};
use super::tls::{
    close_upload, control_stream, tls_failure, ControlSlot, FtpsConnector, FtpsStream, SharedTls,
    TlsSetup,
};
use super::watchdog::{Fired, Watch};

mod active;
mod probe;
mod quick;
mod raw;
mod root;
use super::{
    join, EntryKind, RemoteEntry, RemoteError, RemoteRead, RemoteResult, RemoteStore, RemoteWrite,
};
use crate::caller;
use crate::config::{DataMode, RemoteConfig, Secret, TlsConfig, TlsMode};
use crate::stats::{Command, StoreStats, Traffic};
pub use probe::Profile;
pub use root::Root;

/// Bound on connecting and on the server's greeting. A server that has not greeted within a few
/// seconds on an established TCP connection is not going to; the mount must fail fast then.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A listing larger than this is refused: a hostile or broken server must not make us allocate
/// without bound (64 MiB is ~500,000 LIST lines).
const MAX_LISTING_BYTES: u64 = 64 << 20;
/// A listing line longer than this is not a real entry.
const MAX_LINE_BYTES: usize = 16 << 10;
/// A listing must be complete within this many `timeout`s (60 s by default): a server that drips a
/// never-ending listing is never silent long enough for a socket timeout.
const LISTING_TIMEOUTS: u32 = 6;

/// What the server said it can do (FEAT), learned on the first connection.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub mlsd: bool,
    pub epsv: bool,
    pub mfmt: bool,
    pub utf8: bool,
    pub rest_stream: bool,
    /// A connection whose download was cut short (data connection closed, 426 read) can be used again.
    /// True only for servers known to stay in step: libunftp, for one, answers the second transfer
    /// after a cut-short one with no data and a 226, which would read as an empty file or listing.
    pub reuse_after_cut: bool,
    /// Commands sent during a transfer wait until it ended (vsftpd: it does not read the control
    /// connection while data moves), so an upload's end can send its next commands at once.
    pub queues_during_transfer: bool,
    /// The greeting, and FEAT's lines as the server sent them (for `--probe`).
    pub greeting: String,
    pub feat: Vec<String>,
}

/// Greetings of servers whose data channel stays in step after a download cut short by the client
/// (checked here for vsftpd; the others are the servers that lftp and FileZilla users cut routinely).
/// Elsewhere such a connection is closed: slower random reads, never wrong data.
const REUSE_AFTER_CUT: [&str; 5] = [
    "vsFTPd",
    "ProFTPD",
    "Pure-FTPd",
    "FileZilla Server",
    "Microsoft FTP Service",
];

/// Opens logged-in connections for the pool.
pub struct FtpConnector {
    host: String,
    port: u16,
    user: String,
    password: Secret,
    timeout: Duration,
    /// FTPS: `None` for plain FTP; an error (an unreadable CA file, an empty system store) fails
    /// every connect with its message.
    tls: Result<Option<TlsSetup>, String>,
    features: OnceLock<Features>,
    /// What this mount sent and received, for the statistics.
    traffic: Arc<Traffic>,
    /// Passive or active data connections, as configured.
    data_mode: DataMode,
    /// The server refused `EPSV` although FEAT offered it: passive connections use `PASV`.
    epsv_refused: AtomicBool,
    /// The URL path (`RemoteConfig::path`), resolved against the login directory into `root`.
    path: String,
    /// The mount's root, learned from `PWD` on the first login.
    root: OnceLock<Root>,
}

/// One type for plain and TLS connections: without a TLS connector suppaftp keeps the control and
/// data sockets plain, so a single code path serves ftp://, ftpes:// and ftps://.
type Ftp = suppaftp::ImplFtpStream<FtpsStream>;

/// A running transfer: suppaftp's, or one ftpfs makes itself (`quick`, `active`).
enum Transfer {
    Lib(suppaftp::TransferStream<FtpsStream>),
    Own(raw::Transfer),
}

impl Transfer {
    /// Closes the data connection and reads the server's closing reply.
    fn finish(self) -> Result<(), FtpError> {
        match self {
            Transfer::Lib(t) => t.finish(),
            Transfer::Own(t) => t.finish(),
        }
    }
}

impl Read for Transfer {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Transfer::Lib(t) => t.read(buf),
            Transfer::Own(t) => t.read(buf),
        }
    }
}

impl std::io::Write for Transfer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Transfer::Lib(t) => t.write(buf),
            Transfer::Own(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Transfer::Lib(t) => t.flush(),
            Transfer::Own(t) => t.flush(),
        }
    }
}

/// A logged-in control connection, with a second handle on its TCP socket (below any TLS) for the
/// watchdog.
pub struct Conn {
    /// With FTPS and an active port range: the control connection's TLS stream and a connector
    /// for data connections, for the transfers `active` makes. First, so that it is dropped
    /// before `ftp`, whose stream then says goodbye to the server.
    tls: Option<TlsSide>,
    ftp: Ftp,
    socket: Arc<TcpStream>,
    /// Receive buffer for this connection's next passive data connection (0: the system's).
    window: Arc<AtomicUsize>,
    /// A data connection opened for this connection's next quick ranged read (`quick`).
    spare: Option<quick::Spare>,
    /// Active data connections on a port of this range (`active`), instead of suppaftp's.
    ports: Option<active::Ports>,
    /// Budget of one exchange (for waiting on an active data connection).
    timeout: Duration,
}

/// What `active` needs to speak TLS on a control connection past suppaftp.
struct TlsSide {
    control: SharedTls,
    data: FtpsConnector,
    domain: String,
}

impl Conn {
    /// Arms the watchdog on this connection for one exchange.
    fn watch(&self, budget: Duration) -> Watch {
        Watch::arm(&self.socket, budget)
    }

    /// The next data connection is for `len` bytes only: a small receive buffer keeps the server
    /// from sending far past them before the early close reaches it (on a real link those bytes
    /// take the link's time from the next transfer).
    fn expect_only(&self, len: u64) {
        let bytes = len.clamp(MIN_WINDOW, MAX_WINDOW) as usize;
        self.window.store(bytes, Ordering::Relaxed);
    }

    /// Starts a download of `path` from `offset`.
    fn retr(&mut self, path: &str, offset: u64) -> Result<Transfer, FtpError> {
        if let Some(ports) = self.ports {
            let cmd = format!("RETR {path}");
            return active::start(self, ports, &cmd, Some(offset), self.timeout).map(Transfer::Own);
        }
        if offset > 0 {
            self.resume_transfer(offset as usize)?;
        }
        self.retr_as_stream(path).map(Transfer::Lib)
    }

    /// Starts an upload to `path`, appending or replacing.
    fn stor(&mut self, path: &str, append: bool) -> Result<Transfer, FtpError> {
        if let Some(ports) = self.ports {
            let cmd = format!("{} {path}", if append { "APPE" } else { "STOR" });
            return active::start(self, ports, &cmd, None, self.timeout).map(Transfer::Own);
        }
        if append {
            self.append_with_stream(path).map(Transfer::Lib)
        } else {
            self.put_with_stream(path).map(Transfer::Lib)
        }
    }

    /// Starts a listing command (`LIST -a /dir`, `MLSD /dir`).
    fn listing(&mut self, cmd: &str) -> Result<Transfer, FtpError> {
        if let Some(ports) = self.ports {
            return active::start(self, ports, cmd, None, self.timeout).map(Transfer::Own);
        }
        let (_, stream) =
            self.custom_data_command(cmd, &[Status::AboutToSend, Status::AlreadyOpen])?;
        Ok(Transfer::Lib(stream))
    }
}

/// Waits until `fd` is ready for `events` (`POLLIN`, `POLLOUT`), at most `timeout`: whether it
/// is (false: the time ran out). A signal's interruption is waited through.
fn poll_ready(fd: std::os::fd::RawFd, events: i16, timeout: Duration) -> std::io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            n if n > 0 => return Ok(true),
            0 => return Ok(false),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// A TCP connection to `addr` from a socket `prepare`d first (bound, or given a buffer size:
/// what std's `TcpStream::connect_timeout` cannot do).
fn connect(
    addr: SocketAddr,
    timeout: Duration,
    prepare: impl FnOnce(&socket2::Socket) -> std::io::Result<()>,
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

/// Bounds of the receive buffer of a ranged download's data connection. Not below 32 KiB: with a
/// buffer barely the size of the read the kernel's window is smaller still, the server sends the
/// bytes in pieces that wait for window updates, and random 4 KiB reads on loopback fell to half
/// their rate (measured: 4 KiB buffers ~1,200 reads/s, 32 KiB ~1,900, 64 KiB ~1,600).
const MIN_WINDOW: u64 = 32 << 10;
const MAX_WINDOW: u64 = 256 << 10;

/// A passive data connection to `addr`, with a receive buffer of `window` bytes when that is not
/// 0 (set before connecting, so the TCP window the server sees is small from the first byte).
fn data_socket(addr: SocketAddr, timeout: Duration, window: usize) -> std::io::Result<TcpStream> {
    let s = if window == 0 {
        TcpStream::connect_timeout(&addr, timeout)?
    } else {
        connect(addr, timeout, |s| s.set_recv_buffer_size(window))?
    };
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    Ok(s)
}

impl Deref for Conn {
    type Target = Ftp;
    fn deref(&self) -> &Ftp {
        &self.ftp
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Ftp {
        &mut self.ftp
    }
}

impl FtpConnector {
    fn handshake_timeout(&self) -> Duration {
        self.timeout.min(HANDSHAKE_TIMEOUT)
    }

    fn addresses(&self) -> Result<Vec<SocketAddr>, RemoteError> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| RemoteError::Connection(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        if addrs.is_empty() {
            return Err(RemoteError::Connection(format!(
                "{} has no address",
                self.host
            )));
        }
        Ok(addrs)
    }

    /// The mode data connections use now: active if configured, else `EPSV` when the server
    /// offers it and has not refused it, else `PASV`.
    fn data_mode(&self) -> Mode {
        match self.data_mode {
            DataMode::Active { .. } => Mode::Active,
            DataMode::Passive => {
                let epsv = self.features.get().is_some_and(|f| f.epsv);
                if epsv && !self.epsv_refused.load(Ordering::Relaxed) {
                    Mode::ExtendedPassive
                } else {
                    Mode::Passive
                }
            }
        }
    }

    /// The server refused `EPSV`: passive data connections use `PASV` from now on.
    fn refuse_epsv(&self, why: &RemoteError) {
        if !self.epsv_refused.swap(true, Ordering::Relaxed) {
            info!("the server refused EPSV ({why}); using PASV");
        }
    }

    /// A TCP connection to `addr`, from the configured local address if there is one.
    fn connect_to(&self, addr: SocketAddr, t: Duration) -> std::io::Result<TcpStream> {
        match self.data_mode {
            // Active mode listens on the control connection's local address: binding it here
            // puts the listener on `ip` too.
            DataMode::Active { bind: Some(ip), .. } => {
                connect(addr, t, |s| s.bind(&SocketAddr::new(ip, 0).into()))
            }
            _ => TcpStream::connect_timeout(&addr, t),
        }
    }

    /// A TCP connection to the first address that answers, with the handshake timeouts set.
    fn open_socket(&self) -> Result<TcpStream, RemoteError> {
        let t = self.handshake_timeout();
        let mut last = String::new();
        for addr in self.addresses()? {
            match self.connect_to(addr, t) {
                Ok(s) => {
                    s.set_read_timeout(Some(t))
                        .and_then(|_| s.set_write_timeout(Some(t)))
                        .map_err(|e| RemoteError::Connection(e.to_string()))?;
                    return Ok(s);
                }
                Err(e) => last = format!("cannot connect to {addr}: {}", io_text(&e)),
            }
        }
        Err(RemoteError::Connection(last))
    }

    /// The control connection up to the greeting: plain (ftp://, and ftpes:// before `AUTH TLS`),
    /// or TLS from the first byte (ftps://); with the watchdog's handle on its TCP socket, armed
    /// with `timeout` for the whole handshake (for ftps://, from the greeting on: suppaftp makes
    /// that socket itself, and the wait for it is bounded here).
    fn greet(&self, tls: Option<&TlsSetup>) -> Result<(Ftp, Arc<TcpStream>, Watch), ConnectError> {
        let t = self.handshake_timeout();
        let silent = |what: &str| {
            ConnectError::Failed(RemoteError::Connection(format!(
                "the server accepted the connection but {what} within {} s",
                t.as_secs()
            )))
        };
        let greeting_failed = |e: FtpError, what: &str| match classify(e) {
            (RemoteError::Connection(m), _) if m.starts_with("421") => ConnectError::TooMany(m),
            (RemoteError::Connection(m), _) if m == TIMED_OUT => silent(what),
            (e, _) => ConnectError::Failed(e),
        };
        match tls {
            Some(tls) if tls.mode() == TlsMode::Implicit => {
                let addrs = self.addresses().map_err(ConnectError::Failed)?;
                let connector = tls.connector(t);
                let host = self.host.clone();
                // suppaftp's implicit connect opens its socket without a connect timeout; the
                // connector bounds the handshake and the greeting, and this wait the whole.
                let (tx, rx) = mpsc::channel();
                std::thread::Builder::new()
                    .name("ftpfs-connect".into())
                    .spawn(move || {
                        let _ = tx.send(Ftp::connect_secure_implicit(&addrs[..], connector, &host));
                    })
                    .map_err(|e| {
                        ConnectError::Failed(RemoteError::Connection(format!(
                            "cannot start a connect thread: {e}"
                        )))
                    })?;
                let what = "completed no TLS handshake and greeting";
                let ftp = match rx.recv_timeout(2 * t) {
                    Ok(r) => r.map_err(|e| greeting_failed(e, what))?,
                    Err(_) => {
                        return Err(ConnectError::Failed(RemoteError::Connection(format!(
                            "no TLS connection to {}:{} within {} s",
                            self.host,
                            self.port,
                            (2 * t).as_secs()
                        ))))
                    }
                };
                let socket =
                    ftp.get_ref().try_clone().map(Arc::new).map_err(|e| {
                        ConnectError::Failed(RemoteError::Connection(e.to_string()))
                    })?;
                let watch = Watch::arm(&socket, self.timeout);
                Ok((ftp, socket, watch))
            }
            _ => {
                let tcp = self.open_socket().map_err(ConnectError::Failed)?;
                let socket = tcp
                    .try_clone()
                    .map(Arc::new)
                    .map_err(|e| ConnectError::Failed(RemoteError::Connection(e.to_string())))?;
                let watch = Watch::arm(&socket, self.timeout);
                match Ftp::connect_with_stream(tcp) {
                    Ok(ftp) => Ok((ftp, socket, watch)),
                    // A greeting cut by the watchdog failed because of the cut: say why.
                    Err(e) => Err(match watch.disarm() {
                        Some(fired) => self.cut(fired, "greeting"),
                        None => greeting_failed(e, "sent no greeting"),
                    }),
                }
            }
        }
    }

    /// Protects the control connection and, with `PBSZ 0` + `PROT P`, every data connection.
    fn secure(
        &self,
        ftp: Ftp,
        tls: &TlsSetup,
    ) -> Result<(Ftp, Option<(FtpsConnector, ControlSlot)>), ConnectError> {
        let t = self.handshake_timeout();
        let failed = |e: FtpError| {
            ConnectError::Failed(match classify(e) {
                (RemoteError::Connection(m), _) if m == TIMED_OUT => {
                    RemoteError::Connection(format!(
                        "TLS: the server completed no TLS handshake within {} s",
                        t.as_secs()
                    ))
                }
                (RemoteError::Protocol(m), _)
                | (RemoteError::PermissionDenied(m), _)
                | (RemoteError::NotFound(m), _) => RemoteError::Connection(format!(
                    "TLS: the server refused to protect the connection: {m}"
                )),
                (e, _) => e,
            })
        };
        match tls.mode() {
            // AUTH TLS, the handshake, then PBSZ 0 and PROT P (suppaftp sends all four).
            TlsMode::Explicit => {
                let connector = tls.connector(t);
                let side = connector.for_data();
                let ftp = ftp.into_secure(connector, &self.host).map_err(failed)?;
                Ok((ftp, Some(side)))
            }
            _ => {
                let mut ftp = ftp;
                ftp.custom_command("PBSZ 0", &[Status::CommandOk])
                    .and_then(|_| ftp.custom_command("PROT P", &[Status::CommandOk]))
                    .map_err(failed)?;
                Ok((ftp, None))
            }
        }
    }

    /// Connects and logs in; the whole handshake must be over within `timeout`, however the
    /// server paces its replies.
    fn login(&self) -> Result<Conn, ConnectError> {
        self.traffic.command(Command::Login);
        let tls = self
            .tls
            .as_ref()
            .map_err(|m| ConnectError::Failed(RemoteError::Connection(format!("TLS: {m}"))))?
            .as_ref();
        let (ftp, socket, watch) = self.greet(tls)?;
        let secured = match tls {
            Some(tls) => self.secure(ftp, tls),
            None => Ok((ftp, None)),
        };
        let window = Arc::new(AtomicUsize::new(0));
        let (ftp, side) = match secured {
            Ok((ftp, side)) => (self.authenticate(ftp, Arc::clone(&window)), side),
            // A handshake cut by the watchdog is a TLS failure: say so.
            Err(e) => return Err(watch.disarm().map_or(e, |f| self.cut(f, "TLS handshake"))),
        };
        let ftp = match (watch.disarm(), ftp) {
            (None, ftp) => ftp?,
            (Some(fired), _) => return Err(self.cut(fired, "greeting or login answer")),
        };
        let ports = match self.data_mode {
            DataMode::Active {
                bind,
                ports: Some((low, high)),
            } => Some(active::Ports {
                ip: bind,
                low,
                high,
            }),
            _ => None,
        };
        // Our own active transfers over TLS need the control stream and a data connector.
        let tls_side = match (ports, side) {
            (Some(_), Some((data, slot))) => match control_stream(&slot) {
                Some(control) => Some(TlsSide {
                    control,
                    data,
                    domain: self.host.clone(),
                }),
                None => {
                    return Err(ConnectError::Failed(RemoteError::Connection(
                        "TLS: the control connection's stream is not at hand".into(),
                    )))
                }
            },
            _ => None,
        };
        Ok(Conn {
            tls: tls_side,
            ftp,
            socket,
            window,
            spare: None,
            ports,
            timeout: self.timeout,
        })
    }

    /// The error of a handshake step (`what` did not arrive) that the watchdog cut.
    fn cut(&self, fired: Fired, what: &str) -> ConnectError {
        let secs = self.timeout.as_secs_f32();
        ConnectError::Failed(match fired {
            Fired::Interrupted => RemoteError::Interrupted,
            Fired::Deadline if what.starts_with("TLS") => RemoteError::Connection(format!(
                "TLS: the server completed no TLS handshake within {secs} s"
            )),
            Fired::Deadline => RemoteError::Connection(format!(
                "the server accepted the connection but sent no {what} within {secs} s"
            )),
        })
    }

    /// After the greeting and TLS: the login, binary type, features, passive mode.
    fn authenticate(&self, mut ftp: Ftp, window: Arc<AtomicUsize>) -> Result<Ftp, ConnectError> {
        let text = |e: FtpError| classify(e).0;
        if let Err(e) = ftp.login(self.user.as_str(), self.password.expose()) {
            // vsftpd's max_per_ip refusal comes instead of the greeting, other servers send it
            // after USER or PASS: a 421 anywhere in the login means "too many".
            return Err(match text(e) {
                RemoteError::Connection(m) if m.starts_with("421") => ConnectError::TooMany(m),
                RemoteError::PermissionDenied(m) | RemoteError::NotFound(m) => {
                    ConnectError::Failed(RemoteError::LoginFailed(format!(
                        "the server refused user {}: {m}",
                        self.user
                    )))
                }
                e => ConnectError::Failed(e),
            });
        }
        let setup = |ftp: &mut Ftp| -> Result<(), FtpError> {
            ftp.transfer_type(FileType::Binary)?;
            let sock = ftp.get_ref();
            sock.set_read_timeout(Some(self.timeout))
                .and_then(|_| sock.set_write_timeout(Some(self.timeout)))
                .map_err(FtpError::ConnectionError)
        };
        setup(&mut ftp).map_err(|e| ConnectError::Failed(text(e)))?;
        if self.root.get().is_none() {
            let root = self.ask_root(&mut ftp).map_err(ConnectError::Failed)?;
            let _ = self.root.set(root);
        }
        if self.features.get_or_init(|| detect_features(&mut ftp)).utf8 {
            // Some servers only send UTF-8 names after this, on each connection that asks; the
            // features are learned once, but every connection must ask. Failure is harmless.
            let _ = ftp.custom_command("OPTS UTF8 ON", &[Status::CommandOk]);
        }
        debug!("greeting: {:?}", ftp.get_welcome_msg());
        let timeout = self.timeout;
        let mut ftp = ftp.passive_stream_builder(move |addr| {
            // The window hint is for one transfer only.
            let want = window.swap(0, Ordering::Relaxed);
            data_socket(addr, timeout, want).map_err(FtpError::ConnectionError)
        });
        // The address in a PASV reply is ignored: data goes to the control connection's peer (servers
        // behind NAT announce private addresses, and a hostile one could aim us at another host).
        ftp.set_passive_nat_workaround(true);
        if let DataMode::Active { .. } = self.data_mode {
            // suppaftp listens on the control connection's local address and accepts the server's
            // connection only from the control connection's peer.
            ftp = ftp.active_mode(self.timeout);
        }
        ftp.set_mode(self.data_mode());
        debug!("connected to {}:{}", self.host, self.port);
        Ok(ftp)
    }
}

impl FtpConnector {
    /// The mount's root (see `root`), from this connection's `PWD`, asked right after login. A
    /// refused `PWD` is a reply like any other that names no directory.
    fn ask_root(&self, ftp: &mut Ftp) -> Result<Root, RemoteError> {
        let reply = match ftp.custom_command("PWD", &[Status::PathCreated]) {
            Ok(r) => r.body,
            Err(FtpError::UnexpectedResponse(r)) => r.body,
            Err(e) => return Err(classify(e).0),
        };
        let root = Root::resolve(&self.path, &String::from_utf8_lossy(&reply));
        info!(
            "login directory {}; the mount's root is {}",
            root.login.as_deref().unwrap_or("unknown"),
            root.path()
        );
        Ok(root)
    }
}

fn detect_features(ftp: &mut Ftp) -> Features {
    let greeting = ftp.get_welcome_msg().unwrap_or_default().to_string();
    let reuse_after_cut = REUSE_AFTER_CUT.iter().any(|s| greeting.contains(s));
    let queues_during_transfer = greeting.contains("vsFTPd");
    let feat = match ftp.feat() {
        Ok(f) => f,
        Err(e) => {
            debug!("FEAT failed ({e}); assuming a minimal server");
            return Features {
                reuse_after_cut,
                queues_during_transfer,
                greeting,
                ..Features::default()
            };
        }
    };
    let has = |k: &str| feat.keys().any(|f| f.eq_ignore_ascii_case(k));
    let f = Features {
        mlsd: has("MLSD") || has("MLST"),
        epsv: has("EPSV"),
        mfmt: has("MFMT"),
        utf8: has("UTF8"),
        rest_stream: has("REST"),
        reuse_after_cut,
        queues_during_transfer,
        greeting,
        feat: {
            let mut lines: Vec<String> = feat
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k} {v}"),
                    None => k.clone(),
                })
                .collect();
            lines.sort();
            lines
        },
    };
    info!(
        "server features: MLSD {} EPSV {} MFMT {} UTF8 {} REST {}",
        f.mlsd, f.epsv, f.mfmt, f.utf8, f.rest_stream
    );
    f
}

impl Connector for FtpConnector {
    type Conn = Conn;

    fn connect(&self) -> Result<Conn, ConnectError> {
        self.login()
    }

    fn check(&self, conn: &mut Conn) -> Health {
        self.traffic.command(Command::Noop);
        let watch = conn.watch(self.timeout);
        let result = conn.noop();
        match outcome(result, watch.disarm(), self.timeout) {
            Ok(()) => Health::Alive,
            Err((e, Link::Silent)) => Health::Silent(e.to_string()),
            Err(_) => Health::Dead,
        }
    }
}

/// The FTP server behind the mount.
pub struct FtpStore {
    pool: Arc<Pool<FtpConnector>>,
    max_conns: usize,
    /// Budget of one exchange with the server (`RemoteConfig::timeout`).
    timeout: Duration,
    /// The FTPS settings (for `--probe`'s report; the connector holds what they built).
    tls: TlsConfig,
    /// Whether `LIST -a` works here; cleared the first time the server rejects it.
    list_a: AtomicBool,
    /// Whether `SITE CHMOD` may work; cleared the first time the server says it has no such command.
    site_chmod: AtomicBool,
    /// Whether `MDTM YYYYMMDDHHMMSS path` may set a time (vsftpd, Pure-FTPd: servers without MFMT);
    /// cleared when the server rejects the form. Where it is not understood it asks for the time of
    /// a file named "YYYYMMDDHHMMSS path", which does not exist: a harmless 550.
    mdtm_set: AtomicBool,
    /// How far the server's LIST times are ahead of UTC, in seconds (many servers list local
    /// time); subtracted from every LIST time. Learned from the MDTM of a recently changed file.
    list_offset: AtomicI64,
    /// Listings still to look at for such a file (0: the offset is settled).
    offset_tries: AtomicU32,
    /// The server did not take a quick ranged read (`quick`): they use the ordinary path.
    quick_off: AtomicBool,
}

/// Listings searched for a recently changed file before the LIST time offset is taken as 0.
const OFFSET_TRIES: u32 = 8;
/// A LIST date with a time of day is one of the last six months (older ones show the year).
const RECENT: Duration = Duration::from_secs(170 * 86_400);
/// Real time zones are whole quarter hours from UTC, between -12 and +14 hours.
const QUARTER_HOUR: i64 = 900;
const MAX_OFFSET: i64 = 14 * 3600;

impl FtpStore {
    pub fn new(cfg: &RemoteConfig) -> FtpStore {
        let connector = FtpConnector {
            host: cfg.host.clone(),
            port: cfg.port,
            user: cfg.user.clone(),
            password: cfg.password.clone(),
            timeout: cfg.timeout,
            tls: TlsSetup::new(&cfg.tls),
            features: OnceLock::new(),
            traffic: Arc::default(),
            data_mode: cfg.data_mode,
            epsv_refused: AtomicBool::new(false),
            path: cfg.path.clone(),
            root: OnceLock::new(),
        };
        let pool = Pool::new(connector, cfg.max_conns, cfg.timeout);
        if let Some(every) = cfg.keepalive {
            pool.keepalive(every);
        }
        FtpStore {
            pool,
            max_conns: cfg.max_conns,
            timeout: cfg.timeout,
            tls: cfg.tls.clone(),
            list_a: AtomicBool::new(true),
            site_chmod: AtomicBool::new(true),
            mdtm_set: AtomicBool::new(true),
            list_offset: AtomicI64::new(0),
            offset_tries: AtomicU32::new(OFFSET_TRIES),
            quick_off: AtomicBool::new(false),
        }
    }

    /// LIST times with the server's offset from UTC taken out, once it is known. While it is
    /// not, one recently changed file of this listing is asked for its MDTM (UTC) and the
    /// difference, rounded to a quarter hour, is the offset from then on.
    fn list_times(&self, dir: &str, mut entries: Vec<RemoteEntry>) -> Vec<RemoteEntry> {
        if self.offset_tries.load(Ordering::Relaxed) > 0 {
            self.learn_list_offset(dir, &entries);
        }
        let offset = self.list_offset.load(Ordering::Relaxed);
        if offset != 0 {
            let shift = Duration::from_secs(offset.unsigned_abs());
            for e in &mut entries {
                e.mtime = if offset > 0 {
                    e.mtime.checked_sub(shift)
                } else {
                    e.mtime.checked_add(shift)
                }
                .unwrap_or(e.mtime);
            }
        }
        entries
    }

    fn learn_list_offset(&self, dir: &str, entries: &[RemoteEntry]) {
        let now = SystemTime::now();
        let recent = entries.iter().find(|e| {
            e.kind == EntryKind::File
                && now
                    .duration_since(e.mtime)
                    .or_else(|e| Ok::<_, ()>(e.duration()))
                    .is_ok_and(|age| age < RECENT)
        });
        let Some(file) = recent else {
            if self.offset_tries.fetch_sub(1, Ordering::Relaxed) == 1 {
                debug!("no recently changed file to compare LIST and MDTM times: offset 0");
            }
            return;
        };
        let path = join(dir, &file.name);
        let offset = match self.mdtm(&path) {
            Ok(utc) => offset_between(file.mtime, utc),
            Err(e) => {
                debug!("MDTM {path} failed ({e}): LIST times are taken as UTC");
                Some(0)
            }
        };
        if self.offset_tries.swap(0, Ordering::Relaxed) == 0 {
            return; // another listing settled it meanwhile
        }
        match offset {
            Some(0) | None => {}
            Some(secs) => {
                self.list_offset.store(secs, Ordering::Relaxed);
                info!(
                    "the server lists local time, {} from UTC (LIST against MDTM of {path}): \
                     LIST times are corrected",
                    utc_offset_text(secs)
                );
            }
        }
    }

    /// The UTC modification time of `path` (`MDTM`).
    fn mdtm(&self, path: &str) -> RemoteResult<SystemTime> {
        let full = self.full_path(path)?;
        let cmd = format!("MDTM {full}");
        let reply = self.with_retry(Command::Mdtm, true, self.timeout, |ftp| {
            ftp.custom_command(cmd.as_str(), &[Status::File])
        })?;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        mdtm_reply_time(&text).ok_or(RemoteError::Protocol(text))
    }

    /// What LIST times are corrected by (seconds ahead of UTC), once learned.
    pub fn list_offset(&self) -> Option<i64> {
        (self.offset_tries.load(Ordering::Relaxed) == 0)
            .then(|| self.list_offset.load(Ordering::Relaxed))
    }

    /// Features learned from the server (none before the first connection). Borrowed, not
    /// cloned: every listing and download asks, and the FEAT lines are kept for `--probe`.
    pub fn features(&self) -> &Features {
        static NONE: Features = Features {
            mlsd: false,
            epsv: false,
            mfmt: false,
            utf8: false,
            rest_stream: false,
            reuse_after_cut: false,
            queues_during_transfer: false,
            greeting: String::new(),
            feat: Vec::new(),
        };
        self.pool.connector().features.get().unwrap_or(&NONE)
    }

    /// Logs in the rest of the pool in the background (see `Pool::warm_up`).
    pub fn warm_up(&self) {
        self.pool.warm_up(self.max_conns);
    }

    fn traffic(&self) -> &Arc<Traffic> {
        &self.pool.connector().traffic
    }

    /// The pool's current connection bound.
    pub fn pool_limit(&self) -> usize {
        self.pool.limit()
    }

    /// The mount's root, learned at the first login (made now if none happened yet).
    pub fn root(&self) -> RemoteResult<&Root> {
        let root = || self.pool.connector().root.get();
        if root().is_none() {
            drop(self.pool.get()?);
        }
        root().ok_or_else(|| RemoteError::Connection("the login directory is not known".into()))
    }

    /// The server's path for `path` (absolute, relative to the mount's root).
    fn full_path(&self, path: &str) -> RemoteResult<String> {
        if path.contains(['\r', '\n', '\0']) {
            return Err(RemoteError::InvalidName(path.escape_debug().to_string()));
        }
        let root = self.root()?;
        Ok(if path == "/" {
            root.path().to_string()
        } else {
            format!("{}{path}", root.base)
        })
    }

    /// Runs `op` on a pooled connection, armed with the watchdog for `budget`. After the link broke
    /// the other idle connections are dropped too (they most likely broke the same way), and an
    /// `idempotent` op is tried once more on a fresh connection. A server that stopped answering
    /// is not asked again: the pool fails requests fast for a moment instead.
    fn with_retry<T>(
        &self,
        command: Command,
        idempotent: bool,
        budget: Duration,
        mut op: impl FnMut(&mut Pooled<FtpConnector>) -> Result<T, FtpError>,
    ) -> RemoteResult<T> {
        let mut tries = if idempotent { 2 } else { 1 };
        let data = matches!(command, Command::Mlsd | Command::List);
        loop {
            tries -= 1;
            let mut conn = self.pool.get()?;
            self.traffic().command(command);
            // A command without data keeps the connection's spare data connection (`quick`):
            // the server's listener stays until a transfer command.
            let mode = if data {
                self.data_mode_for(&mut conn)
            } else {
                self.pool.connector().data_mode()
            };
            let watch = conn.watch(budget);
            let result = op(&mut conn);
            match outcome(result, watch.disarm(), budget) {
                Ok(v) => return Ok(v),
                Err((err, link)) => {
                    if data && self.epsv_refused(mode, &err, link) {
                        return self.with_pasv(&mut conn, budget, &err, &mut op);
                    }
                    if self.failed(&mut conn, &err, link) && tries > 0 {
                        debug!("retrying on a fresh connection after: {err}");
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }

    /// Applies the current data mode to `conn` before a command (a fallback to `PASV` decided after
    /// the connection was made must reach it too); returns that mode.
    fn data_mode_for(&self, conn: &mut Pooled<FtpConnector>) -> Mode {
        // suppaftp's own EPSV would replace the listener a spare data connection waits on.
        conn.spare = None;
        let mode = self.pool.connector().data_mode();
        conn.set_mode(mode);
        mode
    }

    /// Whether a data command that failed in `EPSV` mode failed because the server refuses
    /// `EPSV` although FEAT listed it (500/501/502/504, or 522 "protocol not supported"): then
    /// `PASV` is worth a try. The reply could belong to the transfer command itself, so the
    /// fallback is kept only if `PASV` then works.
    fn epsv_refused(&self, mode: Mode, err: &RemoteError, link: Link) -> bool {
        mode == Mode::ExtendedPassive
            && link == Link::Ok
            && matches!(err, RemoteError::Protocol(m) if is_unknown_command(m) || m.starts_with("522"))
    }

    /// Runs `op` again on `conn` with `PASV`; if that works, every later data connection of the
    /// mount uses `PASV` (logged once).
    fn with_pasv<T>(
        &self,
        conn: &mut Pooled<FtpConnector>,
        budget: Duration,
        epsv_err: &RemoteError,
        op: &mut impl FnMut(&mut Pooled<FtpConnector>) -> Result<T, FtpError>,
    ) -> RemoteResult<T> {
        conn.set_mode(Mode::Passive);
        let watch = conn.watch(budget);
        let result = op(conn);
        match outcome(result, watch.disarm(), budget) {
            Ok(v) => {
                self.pool.connector().refuse_epsv(epsv_err);
                Ok(v)
            }
            Err((err, link)) => {
                self.failed(conn, &err, link);
                Err(err)
            }
        }
    }

    /// Starts a download of `path` from `offset`; with `len`, only that many bytes will be read
    /// (a ranged read), and the data connection is made for that.
    fn download(
        &self,
        path: &str,
        offset: u64,
        len: Option<u64>,
    ) -> RemoteResult<Box<dyn RemoteRead>> {
        let full = self.full_path(path)?;
        if let Some(len) = len.filter(|_| self.quick_reads()) {
            if let Some(read) = self.quick_download(&full, offset, len) {
                return read;
            }
        }
        let (conn, stream) = self.start_transfer(Command::Retr, "download", &full, |conn| {
            if let Some(len) = len {
                conn.expect_only(len);
            }
            let started = conn.retr(&full, offset);
            // A hint the data connection did not take (the start failed first) must not reach
            // the connection's next transfer.
            conn.window.store(0, Ordering::Relaxed);
            started
        })?;
        if len.is_some() {
            self.traffic().ranged(false);
        }
        Ok(Box::new(FtpRead {
            stream: Some(stream),
            conn: Some(conn),
            traffic: Arc::clone(self.traffic()),
            reuse_after_cut: self.features().reuse_after_cut,
            timeout: self.timeout,
            rearm: None,
        }))
    }

    /// Whether ranged reads may take the quick path (`quick`): plain FTP, passive mode, a server
    /// known to stay in step after a cut download, and no sign yet that it does not take it.
    fn quick_reads(&self) -> bool {
        self.pipelining() && self.pool.connector().data_mode == DataMode::Passive
    }

    /// Whether commands may be sent past suppaftp, several in one packet (`quick`): plain FTP, a
    /// server known to take that (the servers known to stay in step after a cut download), and no
    /// sign yet that it does not.
    fn pipelining(&self) -> bool {
        matches!(self.pool.connector().tls, Ok(None))
            && self.features().reuse_after_cut
            && !self.quick_off.load(Ordering::Relaxed)
    }

    /// A ranged download the quick way; `None` when the server did not take it and the ordinary
    /// download should be used.
    fn quick_download(
        &self,
        full: &str,
        offset: u64,
        len: u64,
    ) -> Option<RemoteResult<Box<dyn RemoteRead>>> {
        let epsv = self.pool.connector().data_mode() == Mode::ExtendedPassive;
        let job = quick::Job::Read { offset, len };
        let started = self.quick_transfer(Command::Retr, full, epsv, job)?;
        Some(started.map(|(conn, stream, ahead)| {
            self.traffic().ranged(ahead);
            Box::new(FtpRead {
                stream: Some(Transfer::Own(stream)),
                conn: Some(conn),
                traffic: Arc::clone(self.traffic()),
                reuse_after_cut: true,
                timeout: self.timeout,
                rearm: Some(epsv),
            }) as Box<dyn RemoteRead>
        }))
    }

    /// An upload the quick way (on the data connection the last upload or ranged read opened
    /// ahead, ended by `quick::finish_upload`); `None` when the server did not take it.
    fn quick_upload(&self, full: &str, append: bool) -> Option<RemoteResult<Box<dyn RemoteWrite>>> {
        let epsv = self.pool.connector().data_mode() == Mode::ExtendedPassive;
        let command = if append { Command::Appe } else { Command::Stor };
        let job = quick::Job::Upload { append };
        let started = self.quick_transfer(command, full, epsv, job)?;
        Some(started.map(|(conn, stream, ahead)| {
            self.traffic().upload(ahead);
            Box::new(FtpWrite {
                stream: Some(Pipelined::new(Transfer::Own(stream))),
                conn,
                traffic: Arc::clone(self.traffic()),
                timeout: self.timeout,
                quick: Some(quick::UploadEnd {
                    path: full.to_string(),
                    epsv,
                    early: self.features().queues_during_transfer,
                }),
            }) as Box<dyn RemoteWrite>
        }))
    }

    /// Starts `job` the quick way (`quick::start`); `None` when the server did not take it and
    /// the ordinary transfer should be used. Retried once on a fresh connection after the link
    /// broke: until the server accepted the command, not a byte has moved.
    fn quick_transfer(
        &self,
        command: Command,
        full: &str,
        epsv: bool,
        job: quick::Job,
    ) -> Option<RemoteResult<(Pooled<FtpConnector>, raw::Transfer, bool)>> {
        let mut tries = 2;
        loop {
            tries -= 1;
            let conn = match self.pool.get() {
                Ok(c) => c,
                Err(e) => return Some(Err(e)),
            };
            self.traffic().command(command);
            let failed = match quick::start(conn, epsv, full, job, self.timeout) {
                Ok(started) => return Some(Ok(started)),
                Err(failed) => failed,
            };
            match *failed {
                (_, quick::Failure::Unsupported { err, disable }) => {
                    if disable && !self.quick_off.swap(true, Ordering::Relaxed) {
                        info!("transfers take the ordinary path: the server answered {err}");
                    }
                    debug!("{job:?} of {full} the ordinary way after: {err}");
                    return None;
                }
                (mut conn, quick::Failure::Failed(err, link)) => {
                    if self.failed(&mut conn, &err, link) && tries > 0 {
                        debug!("{job:?} of {full} starts again on a fresh connection: {err}");
                        continue;
                    }
                    return Some(Err(err));
                }
            }
        }
    }

    /// Starts a download or an upload (`start` sends the transfer command) on a pooled
    /// connection. Until the server accepted the command not a byte has moved, so a connection
    /// that turns out to be dead (closed while idle) is replaced once; a server refusing EPSV gets
    /// PASV (see `epsv_refused`).
    fn start_transfer(
        &self,
        command: Command,
        what: &str,
        full: &str,
        mut start: impl FnMut(&mut Pooled<FtpConnector>) -> Result<Transfer, FtpError>,
    ) -> RemoteResult<(Pooled<FtpConnector>, Transfer)> {
        let mut tries = 2;
        loop {
            tries -= 1;
            let mut conn = self.pool.get()?;
            self.traffic().command(command);
            let mode = self.data_mode_for(&mut conn);
            let watch = conn.watch(self.timeout);
            let started = start(&mut conn);
            let started = match outcome(started, watch.disarm(), self.timeout) {
                Err((err, link)) if self.epsv_refused(mode, &err, link) => self
                    .with_pasv(&mut conn, self.timeout, &err, &mut start)
                    .map_err(|e| (e, Link::Ok)),
                other => other,
            };
            match started {
                Ok(stream) => return Ok((conn, stream)),
                Err((err, link)) => {
                    if self.failed(&mut conn, &err, link) && tries > 0 {
                        debug!("{what} of {full} starts again on a fresh connection: {err}");
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }

    /// Deals with a failed exchange on `conn`: a broken or silent connection is discarded, a
    /// silent server puts the pool in back-off. Returns whether a retry on a fresh connection may
    /// help (the link broke, nothing else is wrong).
    fn failed(&self, conn: &mut Pooled<FtpConnector>, err: &RemoteError, link: Link) -> bool {
        match link {
            Link::Ok => false,
            Link::Broken => {
                conn.mark_broken();
                self.pool.drop_idle();
                *err != RemoteError::Interrupted
            }
            Link::Silent => {
                conn.mark_silent(&err.to_string());
                self.pool.drop_idle();
                false
            }
        }
    }

    fn fetch_listing(&self, cmd: &str) -> RemoteResult<Vec<String>> {
        let command = if cmd.starts_with("MLSD") {
            Command::Mlsd
        } else {
            Command::List
        };
        let traffic = self.traffic();
        let budget = self.timeout * LISTING_TIMEOUTS;
        self.with_retry(command, true, budget, |ftp| {
            let deadline = Instant::now() + budget;
            let stream = ftp.listing(cmd)?;
            let mut stream = Deadline {
                inner: stream,
                deadline,
            };
            let lines = read_listing(&mut stream, traffic);
            // Always read the closing reply, so the control connection stays in step.
            let done = stream.inner.finish();
            let lines = lines?;
            done?;
            Ok(lines)
        })
    }

    fn list_command(&self, full: &str) -> (String, ListFormat) {
        if self.features().mlsd {
            (format!("MLSD {full}"), ListFormat::Mlsd)
        } else if self.list_a.load(Ordering::Relaxed) {
            (format!("LIST -a {full}"), ListFormat::List)
        } else {
            (format!("LIST {full}"), ListFormat::List)
        }
    }
}

/// A data stream that fails once its deadline has passed: a listing dripped a byte at a time is
/// never silent long enough for the socket's own timeout.
struct Deadline {
    inner: Transfer,
    deadline: Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the listing did not end in time",
            ));
        }
        self.inner.read(buf)
    }
}

/// Reads a listing's lines with a bound on the total size and on each line.
fn read_listing(stream: &mut impl Read, traffic: &Traffic) -> Result<Vec<String>, FtpError> {
    let too_big = || {
        FtpError::ConnectionError(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "listing larger than the limit",
        ))
    };
    let mut reader = BufReader::new(stream.take(MAX_LISTING_BYTES + 1));
    let mut lines = Vec::new();
    let mut total = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(FtpError::ConnectionError)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        traffic.read(n);
        if total > MAX_LISTING_BYTES {
            return Err(too_big());
        }
        if buf.len() > MAX_LINE_BYTES && !buf.ends_with(b"\n") {
            return Err(too_big());
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            lines.push(String::from_utf8_lossy(line).into_owned());
        }
    }
    Ok(lines)
}

impl RemoteStore for FtpStore {
    fn list(&self, path: &str) -> RemoteResult<Vec<RemoteEntry>> {
        let full = self.full_path(path)?;
        let (cmd, format) = self.list_command(&full);
        let lines = match self.fetch_listing(&cmd) {
            Ok(lines) => lines,
            Err(RemoteError::Protocol(m)) | Err(RemoteError::NotFound(m))
                if cmd.starts_with("LIST -a") =>
            {
                // Some servers take "-a" for a file name; plain LIST is the portable form. Only when
                // plain LIST works where LIST -a did not is -a given up for good.
                let lines = self.fetch_listing(&format!("LIST {full}"))?;
                if self.list_a.swap(false, Ordering::Relaxed) {
                    info!("the server rejected LIST -a ({m}); using plain LIST");
                }
                lines
            }
            Err(e) => return Err(e),
        };
        let entries = parse_listing(&lines, format);
        Ok(match format {
            ListFormat::List => self.list_times(path, entries),
            // MLSD times are UTC by definition.
            ListFormat::Mlsd => entries,
        })
    }

    fn open_read(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn RemoteRead>> {
        self.download(path, offset, None)
    }

    fn open_read_range(
        &self,
        path: &str,
        offset: u64,
        len: u64,
    ) -> RemoteResult<Box<dyn RemoteRead>> {
        self.download(path, offset, Some(len))
    }

    /// Logs in, and checks that the mount's root is a directory (`CWD` there; every command
    /// uses absolute paths, so where a connection stands does not matter).
    fn check(&self) -> RemoteResult<()> {
        let root = self.root()?.path().to_string();
        if self.pool.connector().path.is_empty() {
            // The login directory itself: the server just put us there.
            return Ok(());
        }
        self.with_retry(Command::Other, true, self.timeout, |ftp| {
            ftp.cwd(root.as_str())
        })
        .map_err(|e| match e {
            RemoteError::NotFound(m)
            | RemoteError::PermissionDenied(m)
            | RemoteError::Protocol(m) => RemoteError::NotFound(format!(
                "the mount's root {root} is not a directory the server lets us enter ({m})"
            )),
            e => e,
        })
    }

    fn open_write(&self, path: &str, append: bool) -> RemoteResult<Box<dyn RemoteWrite>> {
        let full = self.full_path(path)?;
        debug!("{} {full}", if append { "APPE" } else { "STOR" });
        // The start of an upload is not cut short for a caller being killed: it sends nothing yet,
        // and the caller's data decides what follows.
        let _nobody = caller::serve(0);
        if self.quick_reads() {
            if let Some(started) = self.quick_upload(&full, append) {
                return started;
            }
        }
        let command = if append { Command::Appe } else { Command::Stor };
        let (conn, stream) =
            self.start_transfer(command, "upload", &full, |conn| conn.stor(&full, append))?;
        self.traffic().upload(false);
        Ok(Box::new(FtpWrite {
            stream: Some(Pipelined::new(stream)),
            conn,
            traffic: Arc::clone(self.traffic()),
            timeout: self.timeout,
            quick: None,
        }))
    }

    fn mkdir(&self, path: &str) -> RemoteResult<()> {
        let full = self.full_path(path)?;
        self.with_retry(Command::Mkd, false, self.timeout, |ftp| {
            ftp.mkdir(full.as_str())
        })
    }

    fn rmdir(&self, path: &str) -> RemoteResult<()> {
        let full = self.full_path(path)?;
        self.with_retry(Command::Rmd, false, self.timeout, |ftp| {
            ftp.rmdir(full.as_str())
        })
    }

    fn remove(&self, path: &str) -> RemoteResult<()> {
        let full = self.full_path(path)?;
        self.with_retry(Command::Dele, false, self.timeout, |ftp| {
            ftp.rm(full.as_str())
        })
    }

    fn rename(&self, from: &str, to: &str) -> RemoteResult<()> {
        let (from, to) = (self.full_path(from)?, self.full_path(to)?);
        debug!("RNFR {from} RNTO {to}");
        let pipelined = self.pipelining();
        self.with_retry(Command::Rename, false, self.timeout, |ftp| {
            if pipelined {
                quick::rename(ftp, &from, &to)
            } else {
                ftp.rename(from.as_str(), to.as_str())
            }
        })
    }

    fn size(&self, path: &str) -> RemoteResult<u64> {
        let full = self.full_path(path)?;
        match self.with_retry(Command::Size, true, self.timeout, |ftp| {
            ftp.size(full.as_str())
        }) {
            Ok(n) => Ok(n as u64),
            Err(RemoteError::Protocol(m)) if is_unknown_command(&m) => {
                Err(RemoteError::Unsupported(m))
            }
            Err(e) => Err(e),
        }
    }

    fn set_mtime(&self, path: &str, mtime: SystemTime) -> RemoteResult<()> {
        let full = self.full_path(path)?;
        let verb = if self.features().mfmt {
            "MFMT"
        } else if self.mdtm_set.load(Ordering::Relaxed) {
            "MDTM"
        } else {
            return Err(RemoteError::Unsupported("no MFMT".into()));
        };
        let cmd = format!("{verb} {} {full}", mdtm_time(mtime));
        // Setting a time twice is harmless, so a link failure may be retried.
        match self.with_retry(Command::SetTime, true, self.timeout, |ftp| {
            ftp.custom_command(cmd.as_str(), &[Status::File, Status::CommandOk])
        }) {
            Ok(_) => Ok(()),
            Err(RemoteError::Protocol(m)) if is_unknown_command(&m) => {
                if verb == "MDTM" && self.mdtm_set.swap(false, Ordering::Relaxed) {
                    info!("the server has neither MFMT nor MDTM-set ({m}); times are not recorded");
                }
                Err(RemoteError::Unsupported(m))
            }
            Err(e) => Err(e),
        }
    }

    fn chmod(&self, path: &str, mode: u32) -> RemoteResult<()> {
        if !self.site_chmod.load(Ordering::Relaxed) {
            return Err(RemoteError::Unsupported("SITE CHMOD".into()));
        }
        let full = self.full_path(path)?;
        let cmd = format!("SITE CHMOD {:04o} {full}", mode & 0o7777);
        match self.with_retry(Command::Chmod, true, self.timeout, |ftp| {
            ftp.custom_command(cmd.as_str(), &[Status::CommandOk])
        }) {
            Ok(_) => Ok(()),
            Err(RemoteError::Protocol(m)) if is_unknown_command(&m) => {
                if self.site_chmod.swap(false, Ordering::Relaxed) {
                    info!("the server has no SITE CHMOD ({m}); mode changes are not recorded");
                }
                Err(RemoteError::Unsupported(m))
            }
            Err(e) => Err(e),
        }
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            connections: self.pool.open_count(),
            connection_limit: self.pool.limit(),
            max_conns: self.max_conns,
            ..self.traffic().snapshot()
        }
    }
}

/// The offset of LIST times from UTC, from a file's LIST time (local, minute resolution, read as
/// UTC) and its MDTM (UTC): the difference rounded to a quarter hour, or `None` if that is no real
/// time zone.
fn offset_between(listed: SystemTime, utc: SystemTime) -> Option<i64> {
    let diff = match listed.duration_since(utc) {
        Ok(ahead) => ahead.as_secs() as i64,
        Err(behind) => -(behind.duration().as_secs() as i64),
    };
    // LIST drops the seconds: the listed time is up to 59 s behind the true local time.
    let rounded = ((diff + 30) as f64 / QUARTER_HOUR as f64).round() as i64 * QUARTER_HOUR;
    (rounded.abs() <= MAX_OFFSET).then_some(rounded)
}

/// `+02:00`, `-03:30`, `+00:00`.
pub fn utc_offset_text(secs: i64) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let m = secs.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// 500/502/504 (and 202, "superfluous"): the server has no such command or parameter.
fn is_unknown_command(reply: &str) -> bool {
    ["500", "501", "502", "504", "202"]
        .iter()
        .any(|c| reply.starts_with(c))
}

/// A running `STOR`/`APPE`: the data stream (sent on by a thread of its own, so the next chunk
/// can come from the kernel meanwhile) and the control connection it belongs to.
struct FtpWrite {
    stream: Option<Pipelined<Transfer>>,
    conn: Pooled<FtpConnector>,
    traffic: Arc<Traffic>,
    timeout: Duration,
    /// A quick upload (`quick`): its end asks for the size and the next data connection in the
    /// same round trip as something it does anyway.
    quick: Option<quick::UploadEnd>,
}

impl std::io::Write for FtpWrite {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| std::io::Error::other("upload already finished"))?;
        let n = stream.write(buf).inspect_err(|e| lost(&mut self.conn, e))?;
        self.traffic.written(n);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.stream.as_mut() {
            Some(s) => s.flush(),
            None => Ok(()),
        }
    }
}

impl RemoteWrite for FtpWrite {
    fn finish(self: Box<Self>) -> RemoteResult<()> {
        self.finish_sized().map(|_| ())
    }

    fn finish_sized(mut self: Box<Self>) -> RemoteResult<Option<u64>> {
        let (mut stream, sent) = self.stream.take().expect("finish is called once").finish();
        if let (Some(end), Ok(())) = (self.quick.take(), &sent) {
            let Transfer::Own(t) = stream else {
                unreachable!("a quick upload is a raw transfer")
            };
            let _nobody = caller::serve(0);
            self.traffic.command(Command::Size);
            return quick::finish_upload(&mut self.conn, t, &end, self.timeout).map_err(|(e, _)| e);
        }
        match &sent {
            Err(e) => lost(&mut self.conn, e),
            Ok(()) => {
                if let Transfer::Lib(t) = &mut stream {
                    close_upload(t.get_mut());
                }
            }
        }
        // The server's closing reply is read even after a failed send: it often says why
        // (452/552: no room), which is the error the program should see. It is awaited even for
        // a caller being killed: the data was sent.
        let _nobody = caller::serve(0);
        let watch = self.conn.watch(self.timeout);
        let verdict = stream.finish();
        let verdict = outcome(verdict, watch.disarm(), self.timeout).map_err(|(err, link)| {
            if link != Link::Ok {
                self.conn.mark_broken();
            }
            err
        });
        match (sent, verdict) {
            (_, Err(e)) => Err(e),
            (Err(e), Ok(())) => Err(RemoteError::Connection(format!("upload: {}", io_text(&e)))),
            (Ok(()), Ok(())) => Ok(None),
        }
    }
}

impl Drop for FtpWrite {
    fn drop(&mut self) {
        if self.stream.is_some() {
            // Dropped without finish(): nobody will read the verdict, so the connection cannot be
            // trusted to be in step.
            self.conn.mark_broken();
        }
    }
}

/// A running `RETR`: the data stream and the control connection it belongs to.
struct FtpRead {
    stream: Option<Transfer>,
    conn: Option<Pooled<FtpConnector>>,
    traffic: Arc<Traffic>,
    reuse_after_cut: bool,
    timeout: Duration,
    /// A quick ranged read (`quick`): once it ended, its connection opens the next one's data
    /// connection, with `EPSV` (true) or `PASV`.
    rearm: Option<bool>,
}

impl FtpRead {
    /// Ends the transfer (closes the data connection) and reads the server's closing reply under
    /// the watchdog; a connection left in an unknown state is marked broken.
    fn end(&mut self, stream: Transfer) -> Result<(), RemoteError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let watch = conn.watch(self.timeout);
        let verdict = stream.finish();
        outcome(verdict, watch.disarm(), self.timeout).map_err(|(err, link)| {
            if link != Link::Ok {
                conn.mark_broken();
            }
            err
        })
    }
}

impl Read for FtpRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(0);
        };
        match stream.read(buf) {
            Ok(0) => {
                // End of data: only the server's 226 says the file really ended here, and not that the
                // link dropped half-way.
                let stream = self.stream.take().expect("stream present");
                // The RemoteError travels inside the io::Error so the core can still tell 550
                // from a dead link.
                self.end(stream).map(|()| 0).map_err(std::io::Error::other)
            }
            Ok(n) => {
                self.traffic.read(n);
                Ok(n)
            }
            Err(e) => {
                self.stream = None;
                if let Some(c) = self.conn.as_mut() {
                    lost(c, &e);
                }
                Err(e)
            }
        }
    }
}

impl RemoteRead for FtpRead {
    fn finish(mut self: Box<Self>) {
        if let Some(stream) = self.stream.take() {
            // Closing the data connection early makes the server answer 426 (or 226 if it had sent
            // everything): either keeps the control connection in step. ABOR is not used, see crates.md.
            if let Err(err) = self.end(stream) {
                debug!("download ended early: {err}");
            }
            if !self.reuse_after_cut {
                if let Some(c) = self.conn.as_mut() {
                    c.mark_broken();
                }
            }
        }
        if let (Some(epsv), Some(c)) = (self.rearm, self.conn.as_mut()) {
            if !c.is_broken() {
                quick::arm(c, epsv, self.timeout);
            }
        }
    }
}

impl Drop for FtpRead {
    fn drop(&mut self) {
        if self.stream.is_some() {
            // Dropped without finish(): the connection's state is unknown, so do not reuse it.
            if let Some(c) = self.conn.as_mut() {
                c.mark_broken();
            }
        }
    }
}

/// A data connection failed with `e`: its control connection is discarded, and a timeout puts
/// the pool in back-off like a command without an answer.
fn lost(conn: &mut Pooled<FtpConnector>, e: &std::io::Error) {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            conn.mark_silent(&format!("data connection: {}", io_text(e)))
        }
        _ => conn.mark_broken(),
    }
}

/// How `io_text` words a timeout.
const TIMED_OUT: &str = "timed out";

/// The text of an I/O error without the OS error number noise; TLS failures in one line.
fn io_text(e: &std::io::Error) -> String {
    if let Some(tls) = tls_failure(e) {
        return format!("TLS: {tls}");
    }
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => TIMED_OUT.into(),
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

/// What a failed exchange says about its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Still in step: the server answered, with an error.
    Ok,
    /// Closed, reset, or out of step: discard it; a fresh connection may work.
    Broken,
    /// No answer in time: discard it; the server itself is not answering.
    Silent,
}

/// The result of a watched exchange: the watchdog's verdict, when it cut the exchange, overrides
/// whatever error the cut socket produced.
fn outcome<T>(
    result: Result<T, FtpError>,
    fired: Option<Fired>,
    budget: Duration,
) -> Result<T, (RemoteError, Link)> {
    match (fired, result) {
        (None, Ok(v)) => Ok(v),
        (None, Err(e)) => Err(classify(e)),
        (Some(Fired::Interrupted), _) => Err((RemoteError::Interrupted, Link::Broken)),
        (Some(Fired::Deadline), _) => Err((
            RemoteError::Connection(format!(
                "no complete answer from the server within {} s",
                budget.as_secs_f32()
            )),
            Link::Silent,
        )),
    }
}

/// What a suppaftp error means, and what it says about the connection it happened on.
fn classify(e: FtpError) -> (RemoteError, Link) {
    match e {
        FtpError::ConnectionError(io) => {
            let link = match io.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Link::Silent,
                // No local port to listen on (`active`): nothing was sent, the link is fine.
                std::io::ErrorKind::AddrInUse => Link::Ok,
                _ => Link::Broken,
            };
            (RemoteError::Connection(io_text(&io)), link)
        }
        FtpError::UnexpectedResponse(resp) => {
            let body = String::from_utf8_lossy(&resp.body).trim().to_string();
            let code: u32 = body
                .get(..3)
                .and_then(|c| c.parse().ok())
                .unwrap_or(resp.status.code());
            match code {
                // The server is closing this connection (idle timeout, shutdown, too many).
                421 => (RemoteError::Connection(body), Link::Broken),
                // The data connection failed; the control connection is still in step.
                425 | 426 => (RemoteError::Connection(body), Link::Ok),
                452 | 552 => (RemoteError::NoSpace(body), Link::Ok),
                530 | 532 => (RemoteError::PermissionDenied(body), Link::Ok),
                550 => (RemoteError::NotFound(body), Link::Ok),
                553 => (RemoteError::PermissionDenied(body), Link::Ok),
                _ => (RemoteError::Protocol(body), Link::Ok),
            }
        }
        FtpError::SecureError(m) => (RemoteError::Connection(format!("TLS: {m}")), Link::Broken),
        // A reply we could not parse: we no longer know where the control stream stands.
        FtpError::BadResponse => (
            RemoteError::Connection("unreadable reply from the server".into()),
            Link::Broken,
        ),
        other => (RemoteError::Protocol(other.to_string()), Link::Broken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suppaftp::types::Response;

    fn reply(text: &str) -> FtpError {
        let code: u32 = text[..3].parse().unwrap();
        FtpError::UnexpectedResponse(Response::new(Status::from(code), text.as_bytes().to_vec()))
    }

    #[test]
    fn replies_are_classified() {
        let timeout = || FtpError::ConnectionError(std::io::ErrorKind::WouldBlock.into());
        let cases = [
            (
                reply("550 No such file"),
                RemoteError::NotFound("550 No such file".into()),
                Link::Ok,
            ),
            (
                reply("552 Quota"),
                RemoteError::NoSpace("552 Quota".into()),
                Link::Ok,
            ),
            (
                reply("421 Timeout"),
                RemoteError::Connection("421 Timeout".into()),
                Link::Broken,
            ),
            (
                reply("426 Closed"),
                RemoteError::Connection("426 Closed".into()),
                Link::Ok,
            ),
            (
                reply("530 Login incorrect"),
                RemoteError::PermissionDenied("530 Login incorrect".into()),
                Link::Ok,
            ),
            (
                reply("500 Huh"),
                RemoteError::Protocol("500 Huh".into()),
                Link::Ok,
            ),
            (
                FtpError::BadResponse,
                RemoteError::Connection("unreadable reply from the server".into()),
                Link::Broken,
            ),
            (
                timeout(),
                RemoteError::Connection("timed out".into()),
                Link::Silent,
            ),
        ];
        for (error, remote, link) in cases {
            assert_eq!(classify(error), (remote, link));
        }
    }

    #[test]
    fn list_offsets_are_whole_quarter_hours() {
        let utc = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + 42);
        // LIST drops the seconds: 42 s behind the true local time.
        let listed = |ahead: i64| {
            let local = if ahead >= 0 {
                utc + Duration::from_secs(ahead as u64)
            } else {
                utc - Duration::from_secs((-ahead) as u64)
            };
            local - Duration::from_secs(42)
        };
        assert_eq!(offset_between(listed(0), utc), Some(0));
        assert_eq!(offset_between(listed(7200), utc), Some(7200));
        assert_eq!(offset_between(listed(19_800), utc), Some(19_800)); // India, +05:30
        assert_eq!(offset_between(listed(-12_600), utc), Some(-12_600)); // Newfoundland, -03:30
        assert_eq!(offset_between(listed(20 * 3600), utc), None);
        assert_eq!(utc_offset_text(19_800), "+05:30");
        assert_eq!(utc_offset_text(-12_600), "-03:30");
        assert_eq!(utc_offset_text(0), "+00:00");
    }

    #[test]
    fn a_cut_exchange_is_reported_by_why_it_was_cut() {
        let budget = Duration::from_secs(3);
        let eof = || FtpError::ConnectionError(std::io::ErrorKind::UnexpectedEof.into());
        assert_eq!(outcome(Ok(1), None, budget), Ok(1));
        assert_eq!(
            outcome::<()>(Err(eof()), Some(Fired::Interrupted), budget),
            Err((RemoteError::Interrupted, Link::Broken))
        );
        assert_eq!(
            outcome::<()>(Err(eof()), Some(Fired::Deadline), budget),
            Err((
                RemoteError::Connection("no complete answer from the server within 3 s".into()),
                Link::Silent
            ))
        );
        // Cut just as it succeeded: the socket is dead all the same.
        assert!(outcome(Ok(1), Some(Fired::Deadline), budget).is_err());
    }
}
