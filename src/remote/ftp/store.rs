//! `FtpStore`: the `RemoteStore` over FTP and FTPS. Each operation is a few commands on a pooled
//! session (`retry` runs them): listings (`MLSD` when FEAT offers it, else `LIST -a`, falling
//! back to `LIST`), downloads and uploads (`transfer`), `MKD`, `RMD`, `DELE`, `RNFR`/`RNTO`,
//! `SIZE`, `MFMT` (or `MDTM` with a time), `SITE CHMOD`. Paths are absolute under the mount's root
//! (`root`). Where the server has shown it takes pipelined commands (`features::Learned`),
//! commands that go together leave in one packet, and transfers that come in runs (random reads,
//! uploads) start on a data connection their session opened ahead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use log::{debug, info};

use super::connect::FtpConnector;
use super::data::{Order, Passive, Plan, MAX_WINDOW};
use super::errors::{classify, is_unknown_command, Failure};
use super::list_transfer;
use super::retry::Runner;
use super::root::Root;
use super::session::Line;
use super::timezone::ListTimes;
use super::transfer::{AheadEnd, Download, Upload};
use crate::config::{RemoteConfig, TlsConfig};
use crate::names::Names;
use crate::remote::listing::{mdtm_reply_time, mdtm_time, parse_raw_listing, ListFormat};
use crate::remote::pool::Pool;
use crate::remote::{RemoteEntry, RemoteError, RemoteRead, RemoteResult, RemoteStore, RemoteWrite};
use crate::stats::{Command, StoreStats};

/// A listing must be complete within this many `timeout`s (60 s by default): a server that drips a
/// never-ending listing is never silent long enough for a socket timeout.
const LISTING_TIMEOUTS: u32 = 6;

/// The FTP server behind the mount.
pub struct FtpStore {
    pub(super) pool: Arc<Pool<FtpConnector>>,
    pub(super) max_conns: usize,
    /// Budget of one exchange with the server (`RemoteConfig::timeout`).
    pub(super) timeout: Duration,
    /// The FTPS settings (for `--probe`'s report; the connector holds what they built).
    pub(super) tls: TlsConfig,
    /// Whether `LIST -a` works here; cleared the first time the server rejects it.
    pub(super) list_a: AtomicBool,
    /// Whether `SITE CHMOD` may work; cleared the first time the server says it has no such command.
    pub(super) site_chmod: AtomicBool,
    /// Whether `MDTM YYYYMMDDHHMMSS path` may set a time (vsftpd, Pure-FTPd: servers without MFMT);
    /// cleared when the server rejects the form. Where it is not understood it asks for the time of
    /// a file named "YYYYMMDDHHMMSS path", which does not exist: a harmless 550.
    mdtm_set: AtomicBool,
    /// The time zone of LIST dates.
    pub(super) times: ListTimes,
    /// How paths are written on the wire and listed names read (`-o encoding=`).
    pub(super) names: Names,
}

impl FtpStore {
    pub fn new(cfg: &RemoteConfig) -> FtpStore {
        let pool = Pool::new(FtpConnector::new(cfg), cfg.max_conns, cfg.timeout);
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
            times: ListTimes::default(),
            names: cfg.names,
        }
    }

    pub(super) fn connector(&self) -> &FtpConnector {
        self.pool.connector()
    }

    pub(super) fn runner(&self) -> Runner<'_> {
        Runner { pool: &self.pool }
    }

    /// Features learned from the server (none before the first connection).
    pub fn features(&self) -> &super::Features {
        self.connector().features()
    }

    /// What LIST times are corrected by (seconds ahead of UTC), once learned.
    pub fn list_offset(&self) -> Option<i64> {
        self.times.offset()
    }

    /// Logs in the rest of the pool in the background (see `Pool::warm_up`).
    pub fn warm_up(&self) {
        self.pool.warm_up(self.max_conns);
    }

    /// The pool's current connection bound.
    pub fn pool_limit(&self) -> usize {
        self.pool.limit()
    }

    /// The mount's root, learned at the first login (made now if none happened yet).
    pub fn root(&self) -> RemoteResult<&Root> {
        let root = || self.connector().root.get();
        if root().is_none() {
            drop(self.pool.get()?);
        }
        root().ok_or_else(|| RemoteError::Connection("the login directory is not known".into()))
    }

    /// The server's path for `path` (absolute, relative to the mount's root).
    pub(super) fn full_path(&self, path: &str) -> RemoteResult<String> {
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

    /// `verb path` for `path` under the mount's root.
    fn line(&self, verb: &str, path: &str) -> RemoteResult<Line> {
        self.line_with(verb, "", path)
    }

    /// `verb argsPATH`: `args` (ASCII: options, a time, a mode) before the path under the mount's
    /// root, the path in the server's bytes (`names`).
    pub(super) fn line_with(&self, verb: &str, args: &str, path: &str) -> RemoteResult<Line> {
        let full = self.full_path(path)?;
        self.wire_line(verb, args, &full)
    }

    /// `verb argsFULL` for a server path `full` (in the inner form of `crate::names`).
    fn wire_line(&self, verb: &str, args: &str, full: &str) -> RemoteResult<Line> {
        let wire = self
            .names
            .to_server(full)
            .map_err(|e| RemoteError::Unencodable(e.0))?;
        let arg = [args.as_bytes(), &wire].concat();
        Line::new(verb, arg).map_err(|e| classify(e).0)
    }

    /// Whether commands may go together in one packet.
    pub(super) fn pipelining(&self) -> bool {
        self.connector().learned.pipelining()
    }

    /// How transfers that come in runs open the next one's data connection ahead: in passive
    /// mode, on a server that takes pipelined commands (`None`: they do not).
    pub(super) fn ahead(&self) -> Option<Passive> {
        match self.connector().plan() {
            Plan::Passive(how) if self.pipelining() => Some(how),
            _ => None,
        }
    }

    /// Runs a command without data that the server answers with one of `ok`.
    fn simple(
        &self,
        command: Command,
        idempotent: bool,
        line: &Line,
        ok: &[u16],
    ) -> RemoteResult<String> {
        self.runner()
            .run(command, idempotent, self.timeout, |conn| {
                conn.command(line, ok)
            })
            .map(|r| r.text())
    }

    /// The UTC modification time of `path` (`MDTM`).
    fn mdtm(&self, path: &str) -> RemoteResult<SystemTime> {
        let line = self.line("MDTM", path)?;
        let text = self.simple(Command::Mdtm, true, &line, &[213])?;
        mdtm_reply_time(&text).ok_or(RemoteError::Protocol(text))
    }

    /// The listing `command` sends, as lines, after `CWD` to the directory when `cwd` is given.
    pub(super) fn fetch_listing(
        &self,
        (cwd, command): &(Option<Line>, Line),
    ) -> RemoteResult<Vec<Vec<u8>>> {
        let budget = self.timeout * LISTING_TIMEOUTS;
        // As for ranged reads: only where the server answers it after the listing's 226.
        let ahead = self.ahead().is_some() && self.features().queues_during_transfer;
        list_transfer::fetch(&self.runner(), cwd.as_ref(), command, budget, ahead)
    }

    fn list_command(&self, path: &str) -> RemoteResult<((Option<Line>, Line), ListFormat)> {
        Ok(if self.features().mlsd {
            ((None, self.line("MLSD", path)?), ListFormat::Mlsd)
        } else {
            let dash_a = self.list_a.load(Ordering::Relaxed);
            (self.list_line(path, dash_a)?, ListFormat::List)
        })
    }

    /// `LIST [-a] path`, or, for a path with a blank, `CWD path` and `LIST [-a]`: servers that
    /// hand LIST's argument to ls split it at blanks (GNU inetutils ftpd lists `/d/sub` and `dir`
    /// for `LIST /d/sub dir`); entering the directory first is what curl and lftp do anyway.
    pub(super) fn list_line(&self, path: &str, dash_a: bool) -> RemoteResult<(Option<Line>, Line)> {
        let full = self.full_path(path)?;
        if full.contains(char::is_whitespace) {
            let cwd = self.wire_line("CWD", "", &full)?;
            let list = if dash_a {
                Line::new("LIST", "-a").map_err(|e| classify(e).0)?
            } else {
                Line::bare("LIST")
            };
            Ok((Some(cwd), list))
        } else {
            let args = if dash_a { "-a " } else { "" };
            Ok((None, self.wire_line("LIST", args, &full)?))
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
        let no_rest = || offset > 0 && self.connector().learned.no_rest();
        if no_rest() {
            return self.download_skipping(path, offset);
        }
        match self.start_download(path, offset, len) {
            // This very read found out: the server has no REST.
            Err(_) if no_rest() => self.download_skipping(path, offset),
            other => other,
        }
    }

    /// A read from `offset` on a server without `REST`: the file from its start, with the bytes
    /// before `offset` read and dropped here.
    fn download_skipping(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn RemoteRead>> {
        let mut stream = self.start_download(path, 0, None)?;
        let mut left = offset;
        let mut scratch = vec![0u8; 256 << 10];
        while left > 0 {
            let want = left.min(scratch.len() as u64) as usize;
            match stream.read(&mut scratch[..want])? {
                0 => break,
                n => left -= n as u64,
            }
        }
        Ok(stream)
    }

    fn start_download(
        &self,
        path: &str,
        offset: u64,
        len: Option<u64>,
    ) -> RemoteResult<Box<dyn RemoteRead>> {
        let ahead = len.and(self.ahead());
        let order = Order {
            command: self.line("RETR", path)?,
            offset,
            file: true,
            upload: false,
            window: len.map(|n| n.min(MAX_WINDOW as u64) as usize),
            // On a server that reads no command during a transfer, the next data connection's
            // command goes with this one: its reply follows the 226.
            then: ahead.filter(|_| self.features().queues_during_transfer),
        };
        let (conn, started) =
            self.runner()
                .run_data(Command::Retr, self.timeout, |conn, plan| {
                    conn.start_transfer(plan, &order)
                })?;
        if len.is_some() {
            self.connector().traffic.ranged(started.ahead);
        }
        Ok(Box::new(Download::new(
            conn,
            started,
            offset,
            ahead,
            self.timeout,
        )))
    }

    /// `STOR` (from `offset`: `REST` first) or `APPE` of `path`.
    fn upload(&self, path: &str, append: bool, offset: u64) -> RemoteResult<Box<dyn RemoteWrite>> {
        let verb = if append { "APPE" } else { "STOR" };
        let order = Order {
            command: self.line(verb, path)?,
            offset,
            file: true,
            upload: true,
            window: None,
            then: None,
        };
        debug!("{order:?}");
        let command = if append { Command::Appe } else { Command::Stor };
        let (conn, started) = self
            .runner()
            .run_data(command, self.timeout, |conn, plan| {
                conn.start_transfer(plan, &order)
            })?;
        self.connector().traffic.upload(started.ahead);
        let end = match self.ahead() {
            Some(passive) => Some(AheadEnd {
                size: self.line("SIZE", path)?,
                passive,
                early: self.features().queues_during_transfer,
            }),
            None => None,
        };
        Ok(Box::new(Upload::new(conn, started, end, self.timeout)))
    }
}

impl RemoteStore for FtpStore {
    fn list(&self, path: &str) -> RemoteResult<Vec<RemoteEntry>> {
        let (command, format) = self.list_command(path)?;
        let lines = match self.fetch_listing(&command) {
            Ok(lines) => lines,
            Err(RemoteError::Protocol(m)) | Err(RemoteError::NotFound(m))
                if format == ListFormat::List && self.list_a.load(Ordering::Relaxed) =>
            {
                // Some servers take "-a" for a file name; plain LIST is the portable form. Only when
                // plain LIST works where LIST -a did not is -a given up for good.
                let lines = self.fetch_listing(&self.list_line(path, false)?)?;
                if self.list_a.swap(false, Ordering::Relaxed) {
                    info!("the server rejected LIST -a ({m}); using plain LIST");
                }
                lines
            }
            Err(e) => return Err(e),
        };
        let entries =
            parse_raw_listing(lines, format, self.names, &self.connector().learned.listing);
        Ok(match format {
            ListFormat::List => self.times.correct(path, entries, |file| self.mdtm(file)),
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
    /// uses absolute paths, so where a session stands does not matter).
    fn check(&self) -> RemoteResult<()> {
        let root = self.root()?.path().to_string();
        if self.connector().path.is_empty() {
            // The login directory itself: the server just put us there.
            return Ok(());
        }
        let line = self.wire_line("CWD", "", &root)?;
        self.simple(Command::Other, true, &line, &[250, 200])
            .map(|_| ())
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
        self.upload(path, append, 0)
    }

    fn open_write_from(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn RemoteWrite>> {
        self.upload(path, false, offset)
    }

    fn mkdir(&self, path: &str) -> RemoteResult<()> {
        let line = self.line("MKD", path)?;
        self.simple(Command::Mkd, false, &line, &[257, 250])
            .map(|_| ())
    }

    fn rmdir(&self, path: &str) -> RemoteResult<()> {
        let line = self.line("RMD", path)?;
        self.simple(Command::Rmd, false, &line, &[250]).map(|_| ())
    }

    fn remove(&self, path: &str) -> RemoteResult<()> {
        let line = self.line("DELE", path)?;
        self.simple(Command::Dele, false, &line, &[250]).map(|_| ())
    }

    /// `RNFR` and `RNTO`; in one packet where the server takes that (one round trip instead of
    /// two: every atomic upload ends with one). A refused `RNFR` makes the server refuse the
    /// `RNTO` too (503): both replies are read, and the `RNFR` refusal is the error. A server
    /// that answers (and so carried out) the `RNTO` first shows it by a `350` in second place:
    /// nothing was renamed, commands go one at a time from then on, and the rename is made so.
    fn rename(&self, from: &str, to: &str) -> RemoteResult<()> {
        let (rnfr, rnto) = (self.line("RNFR", from)?, self.line("RNTO", to)?);
        debug!("{rnfr:?} {rnto:?}");
        let pipelined = self.pipelining();
        let result = self
            .runner()
            .run(Command::Rename, false, self.timeout, |conn| {
                if !pipelined {
                    conn.command(&rnfr, &[350])?;
                    return conn.command(&rnto, &[250]).map(|_| ());
                }
                conn.send(&[&rnfr, &rnto])?;
                let first = conn.reply()?;
                let second = conn.reply()?;
                if second.code == 350 {
                    conn.learned
                        .set_pipelining(false, "the server answered RNTO before RNFR");
                    conn.lose_step();
                    return Err(Failure::OutOfStep(format!(
                        "replies out of order: {}",
                        first.text()
                    )));
                }
                if first.code != 350 {
                    return Err(Failure::Refused(first));
                }
                if second.code != 250 {
                    return Err(Failure::Refused(second));
                }
                Ok(())
            });
        match result {
            Err(_) if pipelined && !self.pipelining() => self.rename(from, to),
            other => other,
        }
    }

    fn size(&self, path: &str) -> RemoteResult<u64> {
        let line = self.line("SIZE", path)?;
        match self.simple(Command::Size, true, &line, &[213]) {
            Ok(text) => text
                .get(4..)
                .and_then(|n| n.trim().parse().ok())
                .ok_or(RemoteError::Protocol(text)),
            Err(RemoteError::Protocol(m)) if is_unknown_command(&m) => {
                Err(RemoteError::Unsupported(m))
            }
            Err(e) => Err(e),
        }
    }

    fn set_mtime(&self, path: &str, mtime: SystemTime) -> RemoteResult<()> {
        let verb = if self.features().mfmt {
            "MFMT"
        } else if self.mdtm_set.load(Ordering::Relaxed) {
            "MDTM"
        } else {
            return Err(RemoteError::Unsupported("no MFMT".into()));
        };
        let line = self.line_with(verb, &format!("{} ", mdtm_time(mtime)), path)?;
        // Setting a time twice is harmless, so a link failure may be retried.
        match self.simple(Command::SetTime, true, &line, &[213, 200]) {
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
        let line = self.line_with("SITE", &format!("CHMOD {:04o} ", mode & 0o7777), path)?;
        match self.simple(Command::Chmod, true, &line, &[200]) {
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
            ..self.connector().traffic.snapshot()
        }
    }
}
