//! Where log records go. In the foreground they go to stderr through env_logger (`RUST_LOG`, or
//! warnings only by default, debug with `-d`/`-v`); once the mount is in the background, with its
//! standard streams on /dev/null, they go to syslog (the journal on systemd machines), where a
//! failed upload or the statistics at unmount can still be read. The FTP commands ftpfs sends are
//! logged at trace level with the password masked (`PASS ***`).
//!
//! Syslog records are datagrams in the RFC 3164 form that every local syslog daemon reads
//! (`<priority>ftpfs[pid]: text`), sent to `/dev/log`, or to the socket named by
//! `FTPFS_SYSLOG_SOCKET`. Where nobody listens they are dropped, as syslog(3) drops them.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::sync::lock;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// Records go to syslog instead of stderr (set when the process detaches).
static TO_SYSLOG: AtomicBool = AtomicBool::new(false);

struct Logger {
    stderr: env_logger::Logger,
    /// The syslog socket, connected when the process detaches.
    syslog: Mutex<Option<UnixDatagram>>,
    /// What reaches syslog when `RUST_LOG` and `-d` ask for nothing else: ftpfs's own notes
    /// (mounted, unmounted, statistics, learned limits) and everyone's warnings.
    syslog_default: bool,
}

impl Logger {
    fn syslog_wants(&self, m: &Metadata) -> bool {
        if !self.syslog_default {
            return self.stderr.enabled(m);
        }
        m.level() <= Level::Warn || (m.level() <= Level::Info && m.target().starts_with("ftpfs"))
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        if TO_SYSLOG.load(Ordering::Relaxed) {
            self.syslog_wants(m)
        } else {
            self.stderr.enabled(m)
        }
    }

    fn log(&self, record: &Record) {
        if !TO_SYSLOG.load(Ordering::Relaxed) {
            self.stderr.log(record);
            return;
        }
        if !self.syslog_wants(record.metadata()) {
            return;
        }
        let severity = match record.level() {
            Level::Error => libc::LOG_ERR,
            Level::Warn => libc::LOG_WARNING,
            Level::Info => libc::LOG_INFO,
            Level::Debug | Level::Trace => libc::LOG_DEBUG,
        };
        let mut socket = lock(&self.syslog);
        if socket.is_none() {
            *socket = connect_syslog();
        }
        let Some(sock) = socket.as_ref() else {
            return;
        };
        let pid = std::process::id();
        // One record per line, so a multi-line message stays readable in the journal.
        for line in record.args().to_string().lines() {
            let datagram = format!(
                "<{}>ftpfs[{pid}]: {}: {line}",
                libc::LOG_DAEMON | severity,
                record.target()
            );
            if sock.send(datagram.as_bytes()).is_err() {
                // The syslog daemon went away (or restarted): try again with the next record.
                *socket = None;
                return;
            }
        }
    }

    fn flush(&self) {
        self.stderr.flush();
    }
}

/// Installs the logger; `debug` is `-d`/`-v`.
pub fn init(debug: bool) {
    let default = if debug { "ftpfs=debug,info" } else { "warn" };
    let stderr =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
            .format_timestamp_millis()
            .build();
    let logger = Logger {
        syslog: Mutex::new(None),
        syslog_default: !debug && std::env::var_os("RUST_LOG").is_none(),
        stderr,
    };
    let max = if logger.syslog_default {
        logger.stderr.filter().max(LevelFilter::Info)
    } else {
        logger.stderr.filter()
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max);
    }
}

/// From now on records go to syslog (the daemon's stderr is about to be /dev/null).
pub fn to_syslog() {
    TO_SYSLOG.store(true, Ordering::Relaxed);
}

fn connect_syslog() -> Option<UnixDatagram> {
    let path = std::env::var_os("FTPFS_SYSLOG_SOCKET").unwrap_or_else(|| "/dev/log".into());
    let sock = UnixDatagram::unbound().ok()?;
    sock.connect(path).ok()?;
    Some(sock)
}
