//! What a mount knows about its server: what `FEAT` announced (`Features`), and what the server
//! has shown since (`Learned`): whether it takes commands sent together in one packet
//! (pipelining, tried once on the first login's harmless `TYPE I` and `PWD`), whether it stays in
//! step after a download we cut short, whether it refuses `EPSV` or `REST`, whether it reads
//! no command while a transfer runs, and the form of its `LIST` lines (`SYST`'s hint, then what
//! the listings showed: `listing::detect`). Nothing here is guessed from the greeting, which an
//! administrator can set to anything: a capability is used once the server's own replies showed
//! it, and given up for the mount at the first sign that it does not hold.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use log::{info, warn};

use super::errors::is_unknown_command;
use super::session::Reply;
use crate::remote::listing::ListDialect;

/// What the server said it can do (FEAT), learned on the first connection.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub mlsd: bool,
    pub epsv: bool,
    pub mfmt: bool,
    pub utf8: bool,
    pub rest_stream: bool,
    /// The server reads no command while a transfer runs (`reads_during_transfer` below).
    pub queues_during_transfer: bool,
    /// The greeting, and FEAT's lines as the server sent them (for `--probe`).
    pub greeting: String,
    pub feat: Vec<String>,
}

impl Features {
    /// The features of a `FEAT` reply (`None`: the server refused FEAT), with what the login's
    /// replies showed of the server.
    pub fn from_replies(greeting: &Reply, feat: Option<&Reply>, login: &[&Reply]) -> Features {
        let mut lines: Vec<String> = feat
            .map(|r| {
                r.inner_lines()
                    .into_iter()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        lines.sort();
        let has = |k: &str| {
            lines.iter().any(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|f| f.eq_ignore_ascii_case(k))
            })
        };
        let f = Features {
            mlsd: has("MLSD") || has("MLST"),
            epsv: has("EPSV"),
            mfmt: has("MFMT"),
            utf8: has("UTF8"),
            rest_stream: has("REST"),
            queues_during_transfer: reads_no_command_during_transfer(login),
            greeting: greeting.text(),
            feat: lines,
        };
        info!(
            "server features: MLSD {} EPSV {} MFMT {} UTF8 {} REST {}",
            f.mlsd, f.epsv, f.mfmt, f.utf8, f.rest_stream
        );
        f
    }
}

/// Whether the server is one that reads no command while a transfer runs, so that commands sent
/// with the end of an upload's data are answered after its verdict (`transfer`: the size check
/// and the next data connection then cost no round trip of their own). Elsewhere a command sent
/// during a transfer could be answered before the verdict, or taken as the end of the transfer;
/// so this is only said of vsftpd, known by the fixed texts of its replies to `PASS` and
/// `TYPE I` (written into its code, unlike its greeting, which `ftpd_banner` sets).
fn reads_no_command_during_transfer(login: &[&Reply]) -> bool {
    let said = |code: u16, text: &str| {
        login
            .iter()
            .any(|r| r.code == code && r.text().trim_end() == format!("{code} {text}"))
    };
    said(230, "Login successful.") && said(200, "Switching to Binary mode.")
}

/// A capability not tried yet, shown, or refused.
const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;

/// What the server has shown during this mount (see the module doc).
#[derive(Debug)]
pub struct Learned {
    /// Commands sent together in one packet are each answered, in turn.
    pipelining: AtomicU8,
    /// A connection whose download we cut short (closing the data connection, reading the 426)
    /// stays in step. Assumed until a session that had a cut download is found out of step.
    cut_reuse: AtomicBool,
    /// The server refused `EPSV` although FEAT offered it: passive connections use `PASV`.
    epsv_refused: AtomicBool,
    passive_refused: AtomicBool,
    /// The server refused `REST`: a transfer command is never sent behind it in one packet.
    rest_refused: AtomicBool,
    no_rest: AtomicBool,
    /// The form of its `LIST` lines, from `SYST` and the listings so far.
    pub listing: ListDialect,
}

impl Default for Learned {
    fn default() -> Self {
        Learned {
            pipelining: AtomicU8::new(UNKNOWN),
            cut_reuse: AtomicBool::new(true),
            epsv_refused: AtomicBool::new(false),
            passive_refused: AtomicBool::new(false),
            rest_refused: AtomicBool::new(false),
            no_rest: AtomicBool::new(false),
            listing: ListDialect::default(),
        }
    }
}

impl Learned {
    /// Whether commands may go together in one packet.
    pub fn pipelining(&self) -> bool {
        self.pipelining.load(Ordering::Relaxed) == YES
    }

    /// Whether pipelining was tried yet.
    pub fn pipelining_known(&self) -> bool {
        self.pipelining.load(Ordering::Relaxed) != UNKNOWN
    }

    /// Records what the pipelined login exchange showed.
    pub fn set_pipelining(&self, works: bool, why: &str) {
        let was = self
            .pipelining
            .swap(if works { YES } else { NO }, Ordering::Relaxed);
        if !works && was != NO {
            info!("commands go one at a time: {why}");
        }
    }

    /// Whether a connection may be reused after a download cut short.
    pub fn cut_reuse(&self) -> bool {
        self.cut_reuse.load(Ordering::Relaxed)
    }

    /// A session was out of step after a download cut short: from now on such connections are
    /// closed instead of reused.
    pub fn no_cut_reuse(&self, why: &str) {
        if self.cut_reuse.swap(false, Ordering::Relaxed) {
            info!("connections are closed after a download cut short: {why}");
        }
    }

    /// Whether the server refused passive mode altogether (`EPSV` and `PASV`).
    pub fn passive_refused(&self) -> bool {
        self.passive_refused.load(Ordering::Relaxed)
    }

    /// The server refused `PASV` (and `EPSV`, or offers none): data connections are active from
    /// now on, as the only way left.
    pub fn refuse_passive(&self, why: &str) {
        if !self.passive_refused.swap(true, Ordering::Relaxed) {
            warn!(
                "the server refuses passive data connections ({why}); using active mode (PORT/EPRT: \
                 the server connects to this machine) for the rest of the mount. Behind NAT or a \
                 firewall that may fail too: set -o active_addr=IP:LOW-HIGH to a reachable address \
                 and open ports"
            );
        }
    }

    pub fn epsv_refused(&self) -> bool {
        self.epsv_refused.load(Ordering::Relaxed)
    }

    /// The server refused `EPSV`: passive data connections use `PASV` from now on.
    pub fn refuse_epsv(&self, why: &str) {
        if !self.epsv_refused.swap(true, Ordering::Relaxed) {
            info!("the server refused EPSV ({why}); using PASV");
        }
    }

    /// Whether `REST` may go in one packet with its transfer command.
    pub fn rest_with_transfer(&self) -> bool {
        self.pipelining() && !self.rest_refused.load(Ordering::Relaxed)
    }

    /// The server refused `REST`. A refusal that says it has no such command (500, 502, 504)
    /// means reads from an offset must stream from the start (`no_rest`).
    pub fn refuse_rest(&self, why: &str) {
        if !self.rest_refused.swap(true, Ordering::Relaxed) {
            info!("the server refused REST ({why}): it is sent alone from now on");
        }
        if is_unknown_command(why) && !self.no_rest.swap(true, Ordering::Relaxed) {
            warn!(
                "the server has no REST ({why}): a read from an offset streams the file from its \
                 start and discards what comes before"
            );
        }
    }

    /// Whether the server has no `REST` at all.
    pub fn no_rest(&self) -> bool {
        self.no_rest.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> Reply {
        Reply::parse_one(text).unwrap()
    }

    #[test]
    fn features_come_from_feat() {
        let greeting = reply("220 (vsFTPd 3.0.3)\r\n");
        let feat = reply(
            "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n",
        );
        let f = Features::from_replies(&greeting, Some(&feat), &[]);
        assert!(f.epsv && f.rest_stream && !f.mlsd && !f.mfmt && !f.utf8);
        assert_eq!(f.feat[0], "EPRT");
        assert_eq!(f.greeting, "220 (vsFTPd 3.0.3)");
        let unftp = reply("211-Extensions supported:\r\n SIZE\r\n MDTM\r\n UTF8\r\n EPSV\r\n MLST type*;size*;modify*;\r\n MLSD\r\n REST STREAM\r\n211 END\r\n");
        let f = Features::from_replies(&greeting, Some(&unftp), &[]);
        assert!(f.mlsd && f.utf8 && f.epsv);
        // "REST" must be a feature of its own, not the start of another.
        let odd = reply("211-Features:\r\n RESTART\r\n211 End\r\n");
        assert!(!Features::from_replies(&greeting, Some(&odd), &[]).rest_stream);
        assert!(!Features::from_replies(&greeting, None, &[]).epsv);
    }

    #[test]
    fn vsftpd_is_known_by_its_replies_not_its_banner() {
        let custom = reply("220 Welcome to ACME file services\r\n");
        let login = [
            reply("230 Login successful.\r\n"),
            reply("200 Switching to Binary mode.\r\n"),
        ];
        let refs: Vec<&Reply> = login.iter().collect();
        assert!(Features::from_replies(&custom, None, &refs).queues_during_transfer);
        let proftpd = [
            reply("230 User bob logged in\r\n"),
            reply("200 Type set to I\r\n"),
        ];
        let refs: Vec<&Reply> = proftpd.iter().collect();
        let vsftpd_banner = reply("220 (vsFTPd 3.0.3)\r\n");
        assert!(!Features::from_replies(&vsftpd_banner, None, &refs).queues_during_transfer);
    }

    #[test]
    fn capabilities_are_given_up_once() {
        let l = Learned::default();
        assert!(!l.pipelining() && !l.pipelining_known());
        l.set_pipelining(true, "");
        assert!(l.pipelining() && l.rest_with_transfer());
        l.refuse_rest("502");
        assert!(l.pipelining() && !l.rest_with_transfer());
        assert!(l.cut_reuse());
        l.no_cut_reuse("test");
        assert!(!l.cut_reuse());
    }
}
