//! Live statistics: `Traffic`, the counters of what a store sent and received (FTP commands by
//! kind, bytes each way), updated by the FTP store and its transfers without locks; `StoreStats`,
//! what a store reports of itself (traffic and its connection pool); and `Report`, the text the
//! mount shows in the `.ftpfs-stats` file at its root and logs at unmount.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The commands counted, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// A login (`USER`/`PASS`) on a new control connection.
    Login,
    Mlsd,
    List,
    /// A download (`RETR`, with `REST` before it when it starts past 0).
    Retr,
    Stor,
    Appe,
    Mkd,
    Rmd,
    Dele,
    /// `RNFR` + `RNTO`.
    Rename,
    Size,
    /// `MFMT` (or `MDTM` with a time).
    SetTime,
    /// `SITE CHMOD`.
    Chmod,
    /// `MDTM` asking a file's time (to learn the time zone of LIST dates).
    Mdtm,
    Noop,
    /// Anything else (`SYST`, for `--probe`).
    Other,
}

impl Command {
    pub const ALL: [Command; 16] = [
        Command::Login,
        Command::Mlsd,
        Command::List,
        Command::Retr,
        Command::Stor,
        Command::Appe,
        Command::Mkd,
        Command::Rmd,
        Command::Dele,
        Command::Rename,
        Command::Size,
        Command::SetTime,
        Command::Chmod,
        Command::Mdtm,
        Command::Noop,
        Command::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Command::Login => "LOGIN",
            Command::Mlsd => "MLSD",
            Command::List => "LIST",
            Command::Retr => "RETR",
            Command::Stor => "STOR",
            Command::Appe => "APPE",
            Command::Mkd => "MKD",
            Command::Rmd => "RMD",
            Command::Dele => "DELE",
            Command::Rename => "RNFR/RNTO",
            Command::Size => "SIZE",
            Command::SetTime => "MFMT",
            Command::Chmod => "SITE CHMOD",
            Command::Mdtm => "MDTM",
            Command::Noop => "NOOP",
            Command::Other => "other",
        }
    }
}

/// Counters of one store's traffic, shared by its connections and transfers.
#[derive(Debug, Default)]
pub struct Traffic {
    commands: [AtomicU64; Command::ALL.len()],
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    ranged: AtomicU64,
    ranged_ahead: AtomicU64,
    uploads: AtomicU64,
    uploads_ahead: AtomicU64,
}

impl Traffic {
    pub fn command(&self, c: Command) {
        self.commands[c as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(&self, n: usize) {
        self.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn written(&self, n: usize) {
        self.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A ranged download started; `ahead`: on a data connection opened before it was asked for.
    pub fn ranged(&self, ahead: bool) {
        self.ranged.fetch_add(1, Ordering::Relaxed);
        if ahead {
            self.ranged_ahead.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An upload started; `ahead`: on a data connection opened before it was asked for.
    pub fn upload(&self, ahead: bool) {
        self.uploads.fetch_add(1, Ordering::Relaxed);
        if ahead {
            self.uploads_ahead.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts so far, with the pool's figures added by the caller.
    pub fn snapshot(&self) -> StoreStats {
        StoreStats {
            commands: Command::ALL
                .iter()
                .map(|&c| (c.name(), self.commands[c as usize].load(Ordering::Relaxed)))
                .collect(),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            ranged_reads: (
                self.ranged.load(Ordering::Relaxed),
                self.ranged_ahead.load(Ordering::Relaxed),
            ),
            uploads: (
                self.uploads.load(Ordering::Relaxed),
                self.uploads_ahead.load(Ordering::Relaxed),
            ),
            ..StoreStats::default()
        }
    }
}

/// What a store says of itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Commands sent, by kind (retries included).
    pub commands: Vec<(&'static str, u64)>,
    /// File and listing bytes received on data connections.
    pub bytes_read: u64,
    /// File bytes sent on data connections.
    pub bytes_written: u64,
    /// Ranged downloads (random reads) started, and how many of them on a data connection opened
    /// ahead of the read (one round trip instead of three).
    pub ranged_reads: (u64, u64),
    /// Uploads started, and how many of them on a data connection opened ahead (at the end of
    /// the one before).
    pub uploads: (u64, u64),
    /// Control connections open now (idle or busy).
    pub connections: usize,
    /// The bound on connections: `max_conns`, or lower once the server refused more.
    pub connection_limit: usize,
    /// The configured `max_conns`.
    pub max_conns: usize,
}

/// Hits and misses of a cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HitRate {
    pub hits: u64,
    pub misses: u64,
}

impl HitRate {
    fn render(self) -> String {
        let total = self.hits + self.misses;
        if total == 0 {
            return "no lookups".into();
        }
        format!(
            "{} hits, {} misses ({:.1}% hits)",
            self.hits,
            self.misses,
            self.hits as f64 * 100.0 / total as f64
        )
    }
}

/// Everything the mount reports.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub store: StoreStats,
    pub listings: HitRate,
    pub blocks: HitRate,
    /// Bytes held by the block cache, and its bound.
    pub block_bytes: (u64, u64),
    /// Files with data the server does not have yet, and how many bytes they hold.
    pub uploads_pending: usize,
    pub pending_bytes: u64,
    /// Errors returned to programs, by errno name.
    pub errors: Vec<(&'static str, u64)>,
}

impl Report {
    /// One `name: value` line per figure; lists show only what is not zero.
    pub fn render(&self) -> String {
        let list = |items: &[(&str, u64)]| {
            let shown: Vec<String> = items
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            if shown.is_empty() {
                "none".to_string()
            } else {
                shown.join(", ")
            }
        };
        let s = &self.store;
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "bytes read: {}", s.bytes_read);
        let _ = writeln!(out, "bytes written: {}", s.bytes_written);
        let _ = writeln!(out, "commands: {}", list(&s.commands));
        let _ = writeln!(
            out,
            "ranged reads: {} ({} on a data connection opened ahead)",
            s.ranged_reads.0, s.ranged_reads.1
        );
        let _ = writeln!(
            out,
            "uploads: {} ({} on a data connection opened ahead)",
            s.uploads.0, s.uploads.1
        );
        let _ = writeln!(out, "listing cache: {}", self.listings.render());
        let _ = writeln!(
            out,
            "block cache: {}; {} of {} bytes held",
            self.blocks.render(),
            self.block_bytes.0,
            self.block_bytes.1
        );
        let _ = writeln!(
            out,
            "connections: {} open, limit {} (max_conns {})",
            s.connections, s.connection_limit, s.max_conns
        );
        let _ = writeln!(
            out,
            "uploads pending: {} ({} bytes)",
            self.uploads_pending, self.pending_bytes
        );
        let _ = writeln!(out, "errors: {}", list(&self.errors));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_counts_commands_and_bytes() {
        let t = Traffic::default();
        t.command(Command::Retr);
        t.command(Command::Retr);
        t.command(Command::Mlsd);
        t.read(100);
        t.written(7);
        let s = t.snapshot();
        assert!(s.commands.contains(&("RETR", 2)));
        assert!(s.commands.contains(&("MLSD", 1)));
        assert!(s.commands.contains(&("STOR", 0)));
        assert_eq!((s.bytes_read, s.bytes_written), (100, 7));
    }

    #[test]
    fn the_report_shows_every_figure_and_only_nonzero_counts() {
        let r = Report {
            store: StoreStats {
                commands: vec![("RETR", 3), ("STOR", 0)],
                bytes_read: 4096,
                bytes_written: 0,
                ranged_reads: (5, 4),
                uploads: (3, 2),
                connections: 2,
                connection_limit: 2,
                max_conns: 4,
            },
            listings: HitRate { hits: 3, misses: 1 },
            blocks: HitRate::default(),
            block_bytes: (10, 100),
            uploads_pending: 1,
            pending_bytes: 5,
            errors: vec![("ENOENT", 2), ("EIO", 0)],
        };
        let text = r.render();
        assert!(text.contains("bytes read: 4096\n"), "{text}");
        assert!(text.contains("commands: RETR 3\n"), "{text}");
        assert!(text.contains("ranged reads: 5 (4 on a data connection opened ahead)\n"));
        assert!(text.contains("uploads: 3 (2 on a data connection opened ahead)\n"));
        assert!(text.contains("listing cache: 3 hits, 1 misses (75.0% hits)"));
        assert!(text.contains("block cache: no lookups; 10 of 100 bytes held"));
        assert!(text.contains("connections: 2 open, limit 2 (max_conns 4)"));
        assert!(text.contains("uploads pending: 1 (5 bytes)\n"), "{text}");
        assert!(text.contains("errors: ENOENT 2\n"), "{text}");
    }
}
