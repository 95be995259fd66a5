//! `FtpStore::profile`: the server profile `ftpfs --probe URL` prints. It runs the detections the
//! mount itself relies on, now and in one place — FEAT, the listing command (and whether `LIST`
//! needs `-a` to show dotfiles), the data connection mode (EPSV, or PASV where EPSV is refused),
//! SITE CHMOD, the time zone of LIST dates — and what it learns stays in the store, exactly as
//! the mount would have learned it at first use. It also counts how many connections the server
//! allows, which the mount otherwise learns from 421 replies under load.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use super::data::{Passive, Plan};
use super::errors::is_unknown_command;
use super::session::Line;
use super::sockets::Route;
use super::store::FtpStore;
use super::timezone::utc_offset_text;
use crate::config::TlsMode;
use crate::names::is_escaped;
use crate::remote::listing::{parse_raw_listing, ListFormat};
use crate::remote::pool::{ConnectError, Connector};
use crate::remote::{RemoteError, RemoteStore};
use crate::stats::Command;

/// Connections tried at most when counting what the server allows.
const MAX_TRIED: usize = 16;

/// What the probe found: one `(topic, finding)` line each, and whether a mount would work.
#[derive(Debug, Clone)]
pub struct Profile {
    pub findings: Vec<(String, String)>,
    /// `Err` with the reason when the server cannot be mounted (login or listing failed).
    pub usable: Result<(), String>,
}

impl Profile {
    /// `topic: finding` lines, aligned.
    pub fn render(&self) -> String {
        let width = self
            .findings
            .iter()
            .map(|(k, _)| k.len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (k, v) in &self.findings {
            let mut lines = v.lines();
            out.push_str(&format!(
                "{k:>width$}: {}\n",
                lines.next().unwrap_or_default()
            ));
            for more in lines {
                out.push_str(&format!("{:>width$}  {more}\n", ""));
            }
        }
        match &self.usable {
            Ok(()) => out.push_str(&format!("{:>width$}: yes\n", "usable")),
            Err(e) => out.push_str(&format!("{:>width$}: NO: {e}\n", "usable")),
        }
        out
    }
}

/// What the mount does in a directory that takes files but refuses listings, renames or `SIZE`
/// (`fs/dropbox.rs`); `root`: the mounted directory itself refused its listing.
fn drop_box_text(root: bool) -> String {
    let what = "in a directory whose listing the server refuses, names are taken as absent and \
                files can still be stored; where it refuses an upload's temporary name or its \
                rename, uploads there go straight to their names (verified: the server's 226, and \
                the size where SIZE answers; not: a reader on the server may see a file while it \
                arrives)";
    if root {
        format!("the mounted directory refuses its listing: it mounts as a drop box; {what}")
    } else {
        what.to_string()
    }
}

impl FtpStore {
    /// Probes the server (see the module doc).
    pub fn profile(&self) -> Profile {
        let mut findings: Vec<(String, String)> = Vec::new();
        let mut note = |k: &str, v: String| findings.push((k.to_string(), v));
        if let Err(e) = self.check() {
            return Profile {
                findings,
                usable: Err(format!("cannot log in: {e}")),
            };
        }
        let f = self.features();
        note("greeting", f.greeting.clone());
        if let Ok(root) = self.root() {
            note(
                "login directory",
                root.login.clone().unwrap_or_else(|| {
                    "unknown (the PWD reply names no absolute path; / is used)".into()
                }),
            );
            note("root", root.path().to_string());
        }
        note("system", self.system_type());
        note(
            "FEAT",
            if f.feat.is_empty() {
                "(none: the server answered FEAT with an error)".into()
            } else {
                f.feat.join("\n")
            },
        );
        note("TLS", self.tls_text());
        if let Route::Proxy(proxy) = &self.connector().route {
            note(
                "proxy",
                format!(
                    "{}: the control connection and every data connection go through it",
                    proxy.display()
                ),
            );
        }
        let listing = self.list("/");
        note("listing", self.listing_text(&listing));
        if !f.mlsd {
            let dialect = &self.connector().learned.listing;
            note(
                "LIST format",
                match (dialect.seen(), dialect.hint()) {
                    (Some(seen), _) => format!("{seen:?} (detected from the listing)"),
                    (None, Some(hint)) => {
                        format!("{hint:?} (SYST's hint; the listing had no entries to tell)")
                    }
                    (None, None) => "not known yet (the listing had no entries to tell)".into(),
                },
            );
        }
        note("data connections", self.data_text());
        note("names", self.names_text(&listing));
        note(
            "REST STREAM",
            if f.rest_stream {
                "yes (downloads from an offset: random reads, resumed streams)".into()
            } else {
                "not announced (REST is still tried for reads from an offset)".into()
            },
        );
        note("pipelining", self.pipelining_text());
        note("random reads", self.ranged_text());
        note("uploads", self.upload_text());
        note(
            "setting times",
            if f.mfmt {
                "MFMT (cp -p, touch -d and rsync -t keep times)".into()
            } else {
                "no MFMT: MDTM with a time (vsftpd, Pure-FTPd) is tried at the first time set; \
                 where that fails, times are accepted and not recorded"
                    .into()
            },
        );
        note("SITE CHMOD", self.chmod_text());
        note("LIST time zone", self.offset_text(f.mlsd, listing.is_ok()));
        note("connections", self.connections_text());
        let refused = matches!(
            listing,
            Err(RemoteError::NotFound(_) | RemoteError::PermissionDenied(_))
        );
        note("drop boxes", drop_box_text(refused));
        Profile {
            findings,
            usable: match listing {
                Ok(_) => Ok(()),
                // The root exists (CWD worked above): a drop box, which mounts.
                Err(_) if refused => Ok(()),
                Err(e) => Err(format!("listing the mounted directory failed: {e}")),
            },
        }
    }

    /// How names are coded, and whether the mounted directory holds names that are not UTF-8.
    fn names_text(&self, listing: &Result<Vec<crate::remote::RemoteEntry>, RemoteError>) -> String {
        if let Some(enc) = self.names.encoding() {
            return format!(
                "{enc} (-o encoding=): names are converted both ways; OPTS UTF8 ON is not sent"
            );
        }
        let how = if self.features().utf8 {
            "UTF8 announced (OPTS UTF8 ON sent)"
        } else {
            "UTF8 not announced"
        };
        let odd = listing.as_ref().map_or(0, |entries| {
            entries.iter().filter(|e| is_escaped(&e.name)).count()
        });
        if odd == 0 {
            format!("{how}; names pass through as bytes, and those here are UTF-8")
        } else {
            format!(
                "{how}; {odd} name(s) in the mounted directory are not UTF-8: they pass through \
                 as bytes (ls may show '?', every operation works); -o encoding=LABEL shows them \
                 as text, e.g. latin1, windows-1251, shift_jis, gbk, euc-kr"
            )
        }
    }

    /// How a random read (a ranged download) goes on this server, and why.
    fn ranged_text(&self) -> String {
        if !self.features().rest_stream {
            // Not announced: ask once (REST 0 changes nothing), as the first read would.
            let rest = Line::new("REST", "0").expect("ascii");
            let asked = self
                .runner()
                .run(Command::Other, true, self.timeout, |conn| {
                    conn.command(&rest, &[350])
                });
            if let Err(RemoteError::Protocol(reply)) = asked {
                self.connector().learned.refuse_rest(&reply);
            }
        }
        if self.connector().learned.no_rest() {
            return "no REST on this server: a read from an offset streams the file from its \
                    start and discards what comes before (slow for random reads far into large \
                    files)"
                .into();
        }
        if self.ahead().is_some() {
            return "one round trip each: REST and RETR go together on a data connection opened \
                    when the previous read ended"
                .into();
        }
        format!(
            "a round trip for the data connection, then REST and RETR: {}",
            self.why_not_ahead()
        )
    }

    fn upload_text(&self) -> String {
        if self.ahead().is_none() {
            return format!(
                "a round trip for the data connection, STOR, then SIZE after the upload: {}",
                self.why_not_ahead()
            );
        }
        let when = if self.features().queues_during_transfer {
            "with the end of the data (the server reads no command during a transfer)"
        } else {
            "after the 226"
        };
        format!(
            "STOR on a data connection opened at the end of the previous upload, whose SIZE \
             and EPSV go {when}"
        )
    }

    /// Why transfers open their data connection when they start.
    fn why_not_ahead(&self) -> &'static str {
        if matches!(self.connector().plan(), Plan::Active { .. }) {
            "active mode (the server connects to us for each transfer)"
        } else {
            "the server did not answer two commands sent together"
        }
    }

    /// `SYST`'s answer.
    fn system_type(&self) -> String {
        let syst = Line::bare("SYST");
        match self
            .runner()
            .run(Command::Other, true, self.timeout, |conn| {
                conn.command(&syst, &[215])
            }) {
            Ok(r) => r.text().trim().to_string(),
            Err(e) => format!("(no answer to SYST: {e})"),
        }
    }

    fn tls_text(&self) -> String {
        let cfg = &self.tls;
        let mode = match cfg.mode {
            TlsMode::None => {
                return "none: plain FTP, the password and the data travel in clear".into()
            }
            TlsMode::Explicit => "explicit (AUTH TLS after the greeting)",
            TlsMode::Implicit => "implicit (TLS from the first byte)",
        };
        let check = match (&cfg.cafile, cfg.no_verify) {
            (_, true) => "the certificate is NOT verified (no_verify)".to_string(),
            (Some(ca), false) => format!(
                "certificate and host name verified against {}",
                ca.display()
            ),
            (None, false) => {
                "certificate and host name verified against the system's CA store".into()
            }
        };
        format!("{mode}; data connections protected (PBSZ 0, PROT P); {check}")
    }

    fn listing_text(
        &self,
        listing: &Result<Vec<crate::remote::RemoteEntry>, RemoteError>,
    ) -> String {
        if let Err(e) = listing {
            return format!("FAILED: {e}");
        }
        if self.features().mlsd {
            return "MLSD (exact sizes, UTC times to the second, dotfiles included)".into();
        }
        if !self.list_a.load(Ordering::Relaxed) {
            return "plain LIST (the server rejected LIST -a)".into();
        }
        // Does plain LIST hide dotfiles that LIST -a shows?
        let names = |dash_a: bool| -> Option<HashSet<String>> {
            let lines = self
                .fetch_listing(&self.list_line("/", dash_a).ok()?)
                .ok()?;
            Some(
                parse_raw_listing(
                    lines,
                    ListFormat::List,
                    self.names,
                    &self.connector().learned.listing,
                )
                .into_iter()
                .map(|e| e.name)
                .collect(),
            )
        };
        let (Some(with_a), Some(plain)) = (names(true), names(false)) else {
            return "LIST -a".into();
        };
        let hidden = with_a
            .difference(&plain)
            .filter(|n| n.starts_with('.'))
            .count();
        if hidden > 0 {
            format!("LIST -a (needed: plain LIST hides {hidden} dotfile(s) here)")
        } else if with_a.iter().any(|n| n.starts_with('.')) {
            "LIST -a (plain LIST shows dotfiles too)".into()
        } else {
            "LIST -a (no dotfiles here to tell whether plain LIST shows them)".into()
        }
    }

    fn data_text(&self) -> String {
        match self.connector().plan() {
            Plan::Active {
                bind: Some(ip),
                ports: Some((low, high)),
            } => format!("active (PORT/EPRT), listening on {ip}, ports {low}-{high}"),
            Plan::Active { bind: Some(ip), .. } => {
                format!("active (PORT/EPRT), listening on {ip}")
            }
            Plan::Active { bind: None, .. } if self.connector().learned.passive_refused() => {
                "active (PORT/EPRT), listening on the control connection's local address: the \
                 server refused passive mode (EPSV and PASV); behind NAT or a firewall set \
                 -o active_addr=IP:LOW-HIGH"
                    .into()
            }
            Plan::Active { bind: None, .. } => {
                "active (PORT/EPRT), listening on the control connection's local address".into()
            }
            Plan::Passive(Passive::Epsv) if self.connector().proxied() => {
                "passive, EPSV (through the proxy, to the server's name at the port named)".into()
            }
            Plan::Passive(Passive::Epsv) => {
                "passive, EPSV (to the control connection's peer)".into()
            }
            Plan::Passive(Passive::Pasv) if self.connector().learned.epsv_refused() => {
                "passive, PASV (the server offers EPSV but refused it); the address in PASV \
                 replies is ignored"
                    .into()
            }
            Plan::Passive(Passive::Pasv) => {
                "passive, PASV (no EPSV); the address in PASV replies is ignored".into()
            }
        }
    }

    /// Whether commands go together in one packet, as the first login showed.
    fn pipelining_text(&self) -> String {
        if self.pipelining() {
            "yes (the server answered two commands sent in one packet, in turn): REST and RETR, \
             RNFR and RNTO go together"
                .into()
        } else {
            "no: the server did not answer the second of two commands sent together; commands \
             go one at a time"
                .into()
        }
    }

    /// Asks `SITE CHMOD` about a name that does not exist: "no such file" proves the command,
    /// "unknown command" its absence, which the store then remembers as the mount would.
    fn chmod_text(&self) -> String {
        let probe = match self.line_with("SITE", "CHMOD 0644 ", "/.ftpfs-probe-no-such-file") {
            Ok(line) => line,
            Err(e) => return format!("not checked ({e})"),
        };
        match self
            .runner()
            .run(Command::Chmod, true, self.timeout, |conn| {
                conn.command(&probe, &[200])
            }) {
            Ok(_) | Err(RemoteError::NotFound(_)) | Err(RemoteError::PermissionDenied(_)) => {
                "yes (chmod is sent to the server)".into()
            }
            Err(RemoteError::Protocol(m)) if is_unknown_command(&m) => {
                self.site_chmod.store(false, Ordering::Relaxed);
                format!("no ({m}): chmod is accepted and not recorded")
            }
            Err(e) => format!("unclear ({e}); chmod will be tried"),
        }
    }

    fn offset_text(&self, mlsd: bool, listed: bool) -> String {
        if mlsd {
            return "not needed: MLSD times are UTC".into();
        }
        if !listed {
            return "unknown (the listing failed)".into();
        }
        match self.list_offset() {
            Some(0) => "UTC (LIST and MDTM agree)".into(),
            Some(secs) => format!(
                "UTC{} (LIST shows local time; compared with MDTM): LIST times are corrected",
                utc_offset_text(secs)
            ),
            None => "unknown: no recently changed file in the mounted directory to compare \
                     LIST with MDTM (the mount looks again in the next listings; until then \
                     LIST times are taken as UTC)"
                .into(),
        }
    }

    /// Opens connections beside the pool's until the server refuses one (or `MAX_TRIED`).
    fn connections_text(&self) -> String {
        let connector = self.connector();
        let held = self.pool.open_count();
        let mut extra = Vec::new();
        let refused = loop {
            if held + extra.len() >= MAX_TRIED.max(self.max_conns) {
                break None;
            }
            match connector.connect() {
                Ok(c) => extra.push(c),
                Err(ConnectError::TooMany(m)) => break Some(m),
                Err(ConnectError::Failed(e) | ConnectError::Silent(e)) => {
                    break Some(e.to_string())
                }
            }
        };
        let allowed = held + extra.len();
        drop(extra);
        let use_ = allowed.min(self.max_conns);
        match refused {
            Some(why) => format!(
                "{allowed} at once (the next was refused: {why}); the mount uses up to {use_} \
                 (max_conns={})",
                self.max_conns
            ),
            None => format!(
                "at least {allowed} at once (no more tried); the mount uses up to {use_} \
                 (max_conns={})",
                self.max_conns
            ),
        }
    }
}
