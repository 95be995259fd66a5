//! `FtpConnector`: makes the pool's logged-in sessions. It connects (from the `active_addr`
//! address when one is set), reads the greeting, protects the control connection with TLS as the
//! mode asks (`AUTH TLS`, or TLS from the first byte; then `PBSZ 0` and `PROT P` for the data
//! connections), logs in, and sets binary type. The first login of a mount also learns what the
//! mount relies on: the login directory (`PWD`, which resolves the mount's root, see `root`),
//! the features (`FEAT`), the system type (`SYST`, a hint to the listing parser), and whether the server takes pipelined commands (its `TYPE I` and
//! `PWD` go in one packet). The whole handshake runs under one deadline, however the server paces
//! its replies, and every socket has timeouts.

use std::net::{Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use log::{debug, info};

use super::data::{Passive, Plan};
use super::errors::{classify, io_text, is_timeout, outcome, Failure, Link, TIMED_OUT};
use super::features::{Features, Learned};
use super::proxy::Proxy;
use super::root::Root;
use super::session::{Line, Reply, Session};
use super::sockets::Route;
use super::tls::TlsSetup;
use crate::config::{DataMode, RemoteConfig, Secret, TlsMode};
use crate::names::Names;
use crate::remote::pool::{ConnectError, Connector, Health};
use crate::remote::watchdog::Fired;
use crate::remote::RemoteError;
use crate::stats::{Command, Traffic};

/// Bound on connecting and on the server's greeting. A server that has not greeted within a few
/// seconds on an established TCP connection is not going to; the mount must fail fast then.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the first login waits for the second of two replies it asked for in one packet: a
/// server that reads one command per packet never sends it, and the mount must not wait its
/// whole timeout to find out.
const PIPELINE_PROBE: Duration = Duration::from_secs(2);

/// Opens logged-in sessions for the pool, and holds what the mount learned about its server.
pub struct FtpConnector {
    host: String,
    port: u16,
    user: String,
    password: Secret,
    pub timeout: Duration,
    /// FTPS: `None` for plain FTP; an error (an unreadable CA file, an empty system store) fails
    /// every connect with its message.
    pub tls: Result<Option<TlsSetup>, String>,
    /// Passive or active data connections, as configured.
    pub data_mode: DataMode,
    /// Straight to the server, or through the proxy: every connection of the mount.
    pub route: Route,
    /// What FEAT said, from the first login.
    pub features: OnceLock<Features>,
    /// What the server has shown since (shared with every session).
    pub learned: Arc<Learned>,
    /// What this mount sent and received, for the statistics.
    pub traffic: Arc<Traffic>,
    /// The URL path (`RemoteConfig::path`), resolved against the login directory into `root`.
    pub path: String,
    /// How the server's names are coded (`-o encoding=`), for the login directory.
    names: Names,
    /// The mount's root, learned from `PWD` on the first login.
    pub root: OnceLock<Root>,
}

/// What a failed login step means for the connect.
enum Refusal {
    TooMany(String),
    Failed(RemoteError),
    /// No answer in time: the server is not answering (`ConnectError::Silent`).
    Silent(RemoteError),
    /// The server does not answer commands sent together: log in again without.
    NoPipelining,
}

impl FtpConnector {
    pub fn new(cfg: &RemoteConfig) -> FtpConnector {
        FtpConnector {
            host: cfg.host.clone(),
            port: cfg.port,
            user: cfg.user.clone(),
            password: cfg.password.clone(),
            timeout: cfg.timeout,
            tls: TlsSetup::new(&cfg.tls),
            data_mode: cfg.data_mode,
            route: match &cfg.proxy {
                Some(p) => Route::Proxy(Arc::new(Proxy::new(p.clone(), &cfg.host))),
                None => Route::Direct,
            },
            features: OnceLock::new(),
            learned: Arc::default(),
            traffic: Arc::default(),
            path: cfg.path.clone(),
            names: cfg.names,
            root: OnceLock::new(),
        }
    }

    /// Features learned from the server (none before the first login).
    pub fn features(&self) -> &Features {
        static NONE: OnceLock<Features> = OnceLock::new();
        self.features
            .get()
            .unwrap_or_else(|| NONE.get_or_init(Features::default))
    }

    /// Whether connections go through a proxy (which carries the connections we open, never the
    /// server's connections back to us: no active mode then).
    pub fn proxied(&self) -> bool {
        matches!(self.route, Route::Proxy(_))
    }

    /// How data connections are opened now: active if configured (or if the server refused
    /// passive mode altogether), else `EPSV` when the server offers it and has not refused it,
    /// else `PASV`.
    pub fn plan(&self) -> Plan {
        match self.data_mode {
            DataMode::Active { bind, ports } => Plan::Active { bind, ports },
            DataMode::Passive if self.learned.passive_refused() => Plan::Active {
                bind: None,
                ports: None,
            },
            DataMode::Passive if self.features().epsv && !self.learned.epsv_refused() => {
                Plan::Passive(Passive::Epsv)
            }
            DataMode::Passive => Plan::Passive(Passive::Pasv),
        }
    }

    fn handshake_timeout(&self) -> Duration {
        self.timeout.min(HANDSHAKE_TIMEOUT)
    }

    /// The server's addresses to try; through a proxy, which resolves the server's name itself,
    /// only the port counts (see `Route::dial`).
    fn addresses(&self) -> Result<Vec<SocketAddr>, RemoteError> {
        if self.proxied() {
            return Ok(vec![SocketAddr::new(
                Ipv4Addr::UNSPECIFIED.into(),
                self.port,
            )]);
        }
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

    /// A TCP connection to `addr` (by the mount's route), from the configured local address if
    /// there is one.
    fn connect_to(&self, addr: SocketAddr, t: Duration) -> std::io::Result<TcpStream> {
        match self.data_mode {
            // Active mode listens on the control connection's local address: binding it here
            // puts the listener on `ip` too.
            DataMode::Active { bind: Some(ip), .. } => self
                .route
                .dial(addr, t, &|s| s.bind(&SocketAddr::new(ip, 0).into())),
            _ => self.route.dial(addr, t, &|_| Ok(())),
        }
    }

    /// A TCP connection to the first address that answers, with the handshake timeouts set. When
    /// none answered at all (the last attempt timed out), that is a silence.
    fn open_socket(&self) -> Result<TcpStream, ConnectError> {
        let t = self.handshake_timeout();
        let mut last = String::new();
        let mut silent = false;
        for addr in self.addresses().map_err(ConnectError::Failed)? {
            match self.connect_to(addr, t) {
                Ok(s) => {
                    // Commands are written whole, each batch in one write: Nagle's algorithm
                    // would only hold a batch sent while an earlier one is unanswered (a
                    // `SIZE` behind an upload's end) for the server's ACK, a round trip.
                    s.set_read_timeout(Some(t))
                        .and_then(|_| s.set_write_timeout(Some(t)))
                        .and_then(|_| s.set_nodelay(true))
                        .map_err(|e| {
                            ConnectError::Failed(RemoteError::Connection(e.to_string()))
                        })?;
                    return Ok(s);
                }
                Err(e) => {
                    let text = io_text(&e);
                    silent = text == TIMED_OUT;
                    last = if self.proxied() {
                        text
                    } else {
                        format!("cannot connect to {addr}: {text}")
                    };
                }
            }
        }
        let e = RemoteError::Connection(last);
        Err(if silent {
            ConnectError::Silent(e)
        } else {
            ConnectError::Failed(e)
        })
    }

    /// Connects and logs in (see the module doc).
    fn login(&self) -> Result<Session, ConnectError> {
        self.traffic.command(Command::Login);
        let tls = self
            .tls
            .as_ref()
            .map_err(|m| ConnectError::Failed(RemoteError::Connection(format!("TLS: {m}"))))?
            .as_ref();
        let tcp = self.open_socket()?;
        let mut session = Session::plain(tcp, self.timeout, Arc::clone(&self.learned))
            .map_err(|e| ConnectError::Failed(RemoteError::Connection(e.to_string())))?;
        session.data.route = self.route.clone();
        let watch = session.watch(self.timeout);
        let mut stage = Stage::Greeting;
        let done = self.handshake(&mut session, tls, &mut stage);
        let fired = watch.disarm();
        match (done, fired) {
            (Ok(()), None) => {
                let set = session
                    .socket()
                    .set_read_timeout(Some(self.timeout))
                    .and_then(|()| session.socket().set_write_timeout(Some(self.timeout)));
                set.map_err(|e| ConnectError::Failed(RemoteError::Connection(e.to_string())))?;
                match &self.route {
                    Route::Direct => debug!("connected to {}:{}", self.host, self.port),
                    Route::Proxy(p) => debug!(
                        "connected to {}:{} through proxy {}",
                        self.host,
                        self.port,
                        p.display()
                    ),
                }
                Ok(session)
            }
            (Err(Refusal::NoPipelining), None) => self.login(),
            (_, Some(fired)) => Err(self.cut(fired, stage)),
            (Err(Refusal::TooMany(m)), None) => Err(ConnectError::TooMany(m)),
            (Err(Refusal::Failed(e)), None) => Err(ConnectError::Failed(e)),
            (Err(Refusal::Silent(e)), None) => Err(ConnectError::Silent(e)),
        }
    }

    /// The handshake after the TCP connect; `stage` says how far it got.
    fn handshake(
        &self,
        session: &mut Session,
        tls: Option<&TlsSetup>,
        stage: &mut Stage,
    ) -> Result<(), Refusal> {
        let t = self.handshake_timeout();
        if let Some(tls) = tls.filter(|s| s.mode() == TlsMode::Implicit) {
            *stage = Stage::Tls;
            self.start_tls(session, tls)?;
        }
        *stage = Stage::Greeting;
        let greeting = self.greeting(session)?;
        if let Some(tls) = tls {
            *stage = Stage::Tls;
            if tls.mode() == TlsMode::Explicit {
                session
                    .command(&Line::new("AUTH", "TLS").expect("ascii"), &[234, 334])
                    .map_err(|e| tls_refused(e, t))?;
                self.start_tls(session, tls)?;
            }
            for (verb, arg) in [("PBSZ", "0"), ("PROT", "P")] {
                session
                    .command(&Line::new(verb, arg).expect("ascii"), &[200])
                    .map_err(|e| tls_refused(e, t))?;
            }
        }
        *stage = Stage::Login;
        let pass = self.authenticate(session)?;
        let type_i = Line::new("TYPE", "I").expect("ascii");
        let first = self.root.get().is_none();
        let type_reply = if first {
            self.first_commands(session, &type_i)?
        } else {
            session
                .command(&type_i, &[200])
                .map_err(|e| refusal(classify(e)))?
        };
        let features = match self.features.get() {
            Some(f) => f,
            None => {
                let feat = session.command(&Line::bare("FEAT"), &[211]);
                if let Err(e) = &feat {
                    debug!("FEAT failed ({e:?}); assuming a minimal server");
                    if !matches!(e, Failure::Refused(_)) {
                        return Err(refusal(classify(feat.unwrap_err())));
                    }
                }
                let f =
                    Features::from_replies(&greeting, feat.as_ref().ok(), &[&pass, &type_reply]);
                // Which LIST format to try first (a hint only: `listing::detect`).
                match session.command(&Line::bare("SYST"), &[215]) {
                    Ok(r) => self.learned.listing.note_syst(&r.text()),
                    Err(Failure::Refused(r)) => debug!("SYST refused: {}", r.text()),
                    Err(e) => return Err(refusal(classify(e))),
                }
                self.features.get_or_init(|| f)
            }
        };
        if features.utf8 && self.names.encoding().is_none() {
            // Some servers only send UTF-8 names after this, on each connection that asks.
            // Failure is harmless. Not with -o encoding=: the user said the names are in another
            // encoding, and a server that switched would send them in UTF-8 after all.
            let opts = Line::new("OPTS", "UTF8 ON").expect("ascii");
            session
                .send(&[&opts])
                .and_then(|()| session.reply())
                .map_err(|e| refusal(classify(e)))?;
        }
        Ok(())
    }

    /// The greeting (`220`; a `120` "ready in a moment" first is waited through).
    fn greeting(&self, session: &mut Session) -> Result<Reply, Refusal> {
        loop {
            let reply = session.reply().map_err(|e| self.greeting_failed(e))?;
            match reply.code {
                220 => return Ok(reply),
                120 => continue,
                421 => return Err(Refusal::TooMany(reply.text())),
                _ => return Err(Refusal::Failed(classify(Failure::Refused(reply)).0)),
            }
        }
    }

    fn greeting_failed(&self, e: Failure) -> Refusal {
        match classify(e) {
            (RemoteError::Connection(m), _) if m == TIMED_OUT => {
                Refusal::Silent(RemoteError::Connection(format!(
                    "the server accepted the connection but sent no greeting within {} s",
                    self.handshake_timeout().as_secs()
                )))
            }
            e => refusal(e),
        }
    }

    /// Protects the control connection: the handshake now, under the socket's timeouts.
    fn start_tls(&self, session: &mut Session, tls: &TlsSetup) -> Result<(), Refusal> {
        let t = self.handshake_timeout();
        let tcp = session
            .socket()
            .try_clone()
            .map_err(|e| Refusal::Failed(RemoteError::Connection(e.to_string())))?;
        let (mut stream, data) = tls
            .control(&self.host, tcp)
            .map_err(|m| Refusal::Failed(RemoteError::Connection(format!("TLS: {m}"))))?;
        stream.handshake().map_err(|e| {
            let m = io_text(&e);
            if m == TIMED_OUT {
                Refusal::Silent(RemoteError::Connection(format!(
                    "TLS: the server completed no TLS handshake within {} s",
                    t.as_secs()
                )))
            } else if m.starts_with("TLS: ") {
                Refusal::Failed(RemoteError::Connection(m))
            } else {
                Refusal::Failed(RemoteError::Connection(format!("TLS: {m}")))
            }
        })?;
        session
            .start_tls(stream)
            .map_err(|e| refusal(classify(e)))?;
        session.data.tls = Some(data);
        Ok(())
    }

    /// `USER` and `PASS`; returns the reply that logged us in.
    fn authenticate(&self, session: &mut Session) -> Result<Reply, Refusal> {
        // vsftpd's max_per_ip refusal comes instead of the greeting, other servers send it after
        // USER or PASS: a 421 anywhere in the login means "too many".
        let refused = |e: Failure| match classify(e) {
            (RemoteError::Connection(m), _) if m.starts_with("421") => Refusal::TooMany(m),
            (RemoteError::PermissionDenied(m), _)
            | (RemoteError::NotFound(m), _)
            | (RemoteError::Protocol(m), _) => Refusal::Failed(RemoteError::LoginFailed(format!(
                "the server refused user {}: {m}",
                self.user
            ))),
            e => refusal(e),
        };
        let user = Line::new("USER", &self.user).map_err(refused)?;
        let reply = session.command(&user, &[230, 331, 332]).map_err(refused)?;
        let reply = match reply.code {
            331 => {
                let pass = Line::secret("PASS", self.password.expose()).map_err(refused)?;
                session.command(&pass, &[230, 202, 332]).map_err(refused)?
            }
            _ => reply,
        };
        if reply.code == 332 {
            return Err(Refusal::Failed(RemoteError::LoginFailed(format!(
                "the server wants an account (ACCT) for user {}, which ftpfs does not send",
                self.user
            ))));
        }
        Ok(reply)
    }

    /// The first login's `TYPE I` and `PWD`, sent together: both answered in turn shows that the
    /// server takes pipelined commands. The login directory resolves the mount's root.
    fn first_commands(&self, session: &mut Session, type_i: &Line) -> Result<Reply, Refusal> {
        let failed = |e: Failure| refusal(classify(e));
        let pwd = Line::bare("PWD");
        let (type_reply, pwd_reply) = if self.learned.pipelining_known() {
            let type_reply = session.command(type_i, &[200]).map_err(failed)?;
            (type_reply, session.command(&pwd, &[257]))
        } else {
            session.send(&[type_i, &pwd]).map_err(failed)?;
            let type_reply = session.expect(&[200]).map_err(failed)?;
            let probe = PIPELINE_PROBE.min(self.timeout);
            session
                .socket()
                .set_read_timeout(Some(probe))
                .map_err(|e| failed(Failure::Io(e)))?;
            let pwd_reply = session.reply();
            session
                .socket()
                .set_read_timeout(Some(self.handshake_timeout()))
                .map_err(|e| failed(Failure::Io(e)))?;
            match &pwd_reply {
                Err(Failure::Io(e)) if is_timeout(e) => {
                    self.learned.set_pipelining(
                        false,
                        "the server did not answer the second of two commands sent together",
                    );
                    return Err(Refusal::NoPipelining);
                }
                Err(_) => {}
                Ok(_) => self.learned.set_pipelining(true, ""),
            }
            let pwd_reply = pwd_reply.and_then(|r| {
                if r.code == 257 {
                    Ok(r)
                } else {
                    Err(Failure::Refused(r))
                }
            });
            (type_reply, pwd_reply)
        };
        let reply = match pwd_reply {
            Ok(r) => r,
            Err(Failure::Refused(r)) => r,
            Err(e) => return Err(failed(e)),
        };
        let root = Root::resolve(&self.path, reply.bytes(), self.names);
        info!(
            "login directory {}; the mount's root is {}",
            root.login.as_deref().unwrap_or("unknown"),
            root.path()
        );
        let _ = self.root.set(root);
        Ok(type_reply)
    }

    /// The error of a handshake step that the watchdog cut.
    fn cut(&self, fired: Fired, stage: Stage) -> ConnectError {
        let secs = self.timeout.as_secs_f32();
        if fired == Fired::Interrupted {
            return ConnectError::Failed(RemoteError::Interrupted);
        }
        ConnectError::Silent(match stage {
            Stage::Tls => RemoteError::Connection(format!(
                "TLS: the server completed no TLS handshake within {secs} s"
            )),
            Stage::Greeting => RemoteError::Connection(format!(
                "the server accepted the connection but sent no greeting within {secs} s"
            )),
            Stage::Login => RemoteError::Connection(format!(
                "the server accepted the connection but sent no login answer within {secs} s"
            )),
        })
    }
}

/// How far a handshake got, for the message when the watchdog cuts it.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Greeting,
    Tls,
    Login,
}

/// A refusal to protect the connection (`AUTH TLS`, `PBSZ`, `PROT`).
fn tls_refused(e: Failure, t: Duration) -> Refusal {
    match classify(e) {
        (RemoteError::Connection(m), _) if m == TIMED_OUT => {
            Refusal::Silent(RemoteError::Connection(format!(
                "TLS: the server completed no TLS handshake within {} s",
                t.as_secs()
            )))
        }
        (RemoteError::Protocol(m), _)
        | (RemoteError::PermissionDenied(m), _)
        | (RemoteError::NotFound(m), _) => Refusal::Failed(RemoteError::Connection(format!(
            "TLS: the server refused to protect the connection: {m}"
        ))),
        e => refusal(e),
    }
}

/// A failed handshake step: one the server left unanswered is a silence.
fn refusal((e, link): (RemoteError, Link)) -> Refusal {
    match link {
        Link::Silent => Refusal::Silent(e),
        Link::Ok | Link::Broken => Refusal::Failed(e),
    }
}

impl Connector for FtpConnector {
    type Conn = Session;

    fn connect(&self) -> Result<Session, ConnectError> {
        self.login()
    }

    fn check(&self, session: &mut Session) -> Health {
        self.traffic.command(Command::Noop);
        let watch = session.watch(self.timeout);
        let result = session
            .check_quiet()
            .and_then(|()| session.command(&Line::bare("NOOP"), &[200]));
        match outcome(result, watch.disarm(), self.timeout) {
            Ok(_) => Health::Alive,
            Err((e, Link::Silent)) => Health::Silent(e.to_string()),
            Err(_) => Health::Dead,
        }
    }
}
