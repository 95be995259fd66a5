//! Which listing format a server speaks, and what a mount remembers of it. `LIST` has no
//! standard form, so each line goes to the format parsers in turn until one takes it; the order
//! is the mount's: first the format its listings have used so far (`ListDialect::remember`),
//! then the one its `SYST` reply names, then the rest. The order decides only for lines more
//! than one parser takes, and one kind of line depends on it entirely: a bare word, which is a
//! PDS member on MVS and nothing elsewhere, is taken only once the mount knows it talks to MVS.
//! A listing of mixed forms (a Unix-style listing with one DOS line) still parses line by line.

use std::sync::atomic::{AtomicU8, Ordering};

use log::{debug, info};

/// A `LIST` format family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `ls -l` and its variants (localized, NetWare, no group...).
    Unix,
    /// DOS and IIS: `11-22-26  02:21PM  <DIR>  name`.
    Dos,
    Eplf,
    Vms,
    /// IBM MVS and z/OS datasets and PDS members.
    Mvs,
    /// IBM i (OS/400).
    As400,
}

/// Every dialect, in the order tried when nothing is known: the common forms first.
const ALL: [Dialect; 6] = [
    Dialect::Unix,
    Dialect::Dos,
    Dialect::Eplf,
    Dialect::Vms,
    Dialect::As400,
    Dialect::Mvs,
];

impl Dialect {
    fn code(self) -> u8 {
        match self {
            Dialect::Unix => 1,
            Dialect::Dos => 2,
            Dialect::Eplf => 3,
            Dialect::Vms => 4,
            Dialect::Mvs => 5,
            Dialect::As400 => 6,
        }
    }

    fn from_code(code: u8) -> Option<Dialect> {
        ALL.into_iter().find(|d| d.code() == code)
    }

    /// The dialect a `SYST` reply names (`215 UNIX Type: L8`, `215 Windows_NT`, `215 VMS`,
    /// `215 MVS is the operating system of this server...`, `215 OS/400 is the remote operating
    /// system...`), or None. Servers are free in what they say here, so this is only a hint.
    pub fn of_syst(reply: &str) -> Option<Dialect> {
        let text = reply
            .trim()
            .strip_prefix("215")?
            .trim_start_matches(['-', ' ']);
        let first = text.split_whitespace().next()?.to_ascii_uppercase();
        match first.as_str() {
            "UNIX" => Some(Dialect::Unix),
            "WINDOWS_NT" => Some(Dialect::Dos),
            "VMS" | "OPENVMS" => Some(Dialect::Vms),
            "MVS" | "Z/OS" | "OS/390" => Some(Dialect::Mvs),
            "OS/400" => Some(Dialect::As400),
            _ => None,
        }
    }
}

/// What a mount knows of its server's listing format: shared by every listing of the mount.
#[derive(Debug, Default)]
pub struct ListDialect {
    /// The dialect that took the most lines of the last listing that had entries (0: none yet).
    seen: AtomicU8,
    /// The dialect `SYST` named (0: none).
    hint: AtomicU8,
}

impl ListDialect {
    /// Takes `SYST`'s reply (its whole text, code included) as a hint.
    pub fn note_syst(&self, reply: &str) {
        let dialect = Dialect::of_syst(reply);
        match dialect {
            Some(d) => info!(
                "SYST {:?}: LIST lines are tried as {d:?} first",
                reply.trim()
            ),
            None => debug!("SYST {:?} names no listing format", reply.trim()),
        }
        self.hint
            .store(dialect.map_or(0, Dialect::code), Ordering::Relaxed);
    }

    /// The dialect the mount's listings have used so far.
    pub fn seen(&self) -> Option<Dialect> {
        Dialect::from_code(self.seen.load(Ordering::Relaxed))
    }

    /// The dialect `SYST` named.
    pub fn hint(&self) -> Option<Dialect> {
        Dialect::from_code(self.hint.load(Ordering::Relaxed))
    }

    /// The order in which a line goes to the parsers.
    pub(super) fn order(&self) -> Vec<Dialect> {
        let mut order: Vec<Dialect> = Vec::with_capacity(ALL.len());
        for d in [self.seen(), self.hint()].into_iter().flatten().chain(ALL) {
            if !order.contains(&d) {
                order.push(d);
            }
        }
        order
    }

    /// Whether the mount knows its server is MVS (see the module doc).
    pub(super) fn is_mvs(&self) -> bool {
        self.seen() == Some(Dialect::Mvs) || self.hint() == Some(Dialect::Mvs)
    }

    /// Records the dialect that took the most entries of a listing (`counts`: entries per
    /// dialect, in the order they were tried, so that a tie keeps the one tried first); a listing
    /// without entries changes nothing.
    pub(super) fn remember(&self, counts: &[(Dialect, usize)]) {
        let best = counts
            .iter()
            .fold(None, |best: Option<&(Dialect, usize)>, c| match best {
                Some(b) if b.1 >= c.1 => Some(b),
                _ => Some(c),
            });
        let Some(&(best, n)) = best else {
            return;
        };
        if n == 0 {
            return;
        }
        let was = self.seen.swap(best.code(), Ordering::Relaxed);
        if was != best.code() {
            info!("directory listings are in {best:?} form");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syst_replies() {
        for (reply, dialect) in [
            ("215 UNIX Type: L8", Some(Dialect::Unix)),
            ("215 Windows_NT", Some(Dialect::Dos)),
            ("215 VMS", Some(Dialect::Vms)),
            (
                "215 MVS is the operating system of this server. FTP Server is running on z/OS.",
                Some(Dialect::Mvs),
            ),
            (
                "215 OS/400 is the remote operating system. The TCP/IP version is \"V7R3M0\".",
                Some(Dialect::As400),
            ),
            ("215 NetWare system type.", None),
            ("502 not here", None),
            ("", None),
        ] {
            assert_eq!(Dialect::of_syst(reply), dialect, "{reply:?}");
        }
    }

    #[test]
    fn order_puts_what_was_seen_then_the_hint_first() {
        let d = ListDialect::default();
        assert_eq!(d.order(), ALL);
        d.note_syst("215 VMS");
        assert_eq!(d.order()[..2], [Dialect::Vms, Dialect::Unix]);
        assert!(!d.is_mvs());
        d.remember(&[(Dialect::Unix, 0), (Dialect::Eplf, 3)]);
        assert_eq!(d.seen(), Some(Dialect::Eplf));
        // A tie keeps the dialect tried first.
        d.remember(&[(Dialect::Eplf, 2), (Dialect::Dos, 2)]);
        assert_eq!(d.order()[..3], [Dialect::Eplf, Dialect::Vms, Dialect::Unix]);
        assert_eq!(d.order().len(), ALL.len());
        // An empty listing teaches nothing.
        d.remember(&[(Dialect::Unix, 0)]);
        assert_eq!(d.seen(), Some(Dialect::Eplf));
        d.note_syst("215 MVS is the operating system of this server.");
        assert!(d.is_mvs());
    }
}
