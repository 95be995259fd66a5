//! Parsers of FTP directory listings: this module owns turning the raw lines of a `LIST` or `MLSD`
//! reply into `RemoteEntry` values, and nothing else (no I/O, no caching). It decides which lines are
//! entries and which are noise (`total 8`, `.`/`..`, MLSD `cdir`/`pdir`, devices), which names may
//! become path components, and which parser a `LIST` line needs (`detect`, which also holds what
//! a mount learned of its server's format); each format family has its own file (`unix`: `ls -l`
//! lines, `unix_variants`: the `ls`-like lines suppaftp rejects, localized and NetWare ones
//! included, `dos`: DOS/IIS lines, `eplf`, `vms`, `mvs`, `as400`, `mlsd`: MLSD facts), `months`
//! knows month names in many languages, and `time` turns the servers' dates into `SystemTime`s
//! (and back, for MFMT). Parsers take text: decoding a line's bytes is the caller's business.
//! docs/listings.md says which formats are read and how their names map onto paths.

mod as400;
mod detect;
mod dos;
mod eplf;
mod mlsd;
mod months;
mod mvs;
#[cfg(test)]
mod testing;
mod time;
mod unix;
mod unix_variants;
mod vms;

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::SystemTime;

use log::{debug, warn};
use suppaftp::list::File;

pub use detect::{Dialect, ListDialect};
pub use time::{mdtm_reply_time, mdtm_time};

use super::{EntryKind, RemoteEntry};
use crate::names::Names;

/// How a listing was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    Mlsd,
    List,
}

/// What one line of a listing turned out to be. Kept private so that `parse_listing` can tell the
/// lines it drops silently from those worth a debug message, while the public per-line functions
/// keep their simple `Option` shape.
#[derive(Debug)]
enum Line {
    Entry(RemoteEntry),
    /// A VMS entry, its `;version` taken off the name: of several versions the highest is kept.
    Versioned(RemoteEntry, u32),
    /// Expected non-entries: blank lines, `total N`, MLSD `cdir`/`pdir`.
    Ignored,
    /// Lines we do not understand or cannot represent, with the reason.
    Skipped(&'static str),
}

/// Parses a whole listing (lines without line endings). Lines that cannot be parsed are skipped with a
/// `log::debug!`; entries with invalid names are skipped with a `log::warn!` (see below); `.` and `..`
/// (and MLSD `cdir`/`pdir`) are dropped silently. Duplicate names: keep the first (for VMS
/// versions of one file: the highest version). `LIST` lines are read as nothing is known of the
/// server; `parse_listing_with` uses and teaches what a mount knows.
pub fn parse_listing(lines: &[String], format: ListFormat) -> Vec<RemoteEntry> {
    parse_listing_with(lines, format, &ListDialect::default())
}

/// Parses a listing as the server sent it (lines without line endings, as bytes) for a mount:
/// the lines are read as text the way `names` says (UTF-8, Latin-1 when they are not, or the
/// server's encoding), parsed as `parse_listing_with` does, and each name found goes back to the
/// inner form of its exact bytes (see `crate::names`). With an encoding, a name it cannot write
/// back (bytes it has no character for) is skipped with a warning.
pub fn parse_raw_listing(
    lines: Vec<Vec<u8>>,
    format: ListFormat,
    names: Names,
    dialect: &ListDialect,
) -> Vec<RemoteEntry> {
    let (texts, how) = names.texts(lines);
    let mut entries = parse_listing_with(&texts, format, dialect);
    for entry in &mut entries {
        entry.name = names.from_text(how, &entry.name);
        entry.link_target = entry.link_target.take().map(|t| names.from_text(how, &t));
    }
    entries.retain(|entry| {
        let ok = names.sendable(&entry.name);
        if !ok {
            warn!(
                "skipping listing entry {:?}: not valid in the server's encoding {}",
                entry.name,
                names.encoding().unwrap_or("UTF-8")
            );
        }
        ok
    });
    entries
}

/// `parse_listing` for a mount: `LIST` lines go first to the parser of the format that `dialect`
/// says the server uses, and the format this listing used is remembered there (see `detect`).
pub fn parse_listing_with(
    lines: &[String],
    format: ListFormat,
    dialect: &ListDialect,
) -> Vec<RemoteEntry> {
    parse_with_at(lines, format, dialect, SystemTime::now())
}

/// `parse_listing` with the clock passed in, so that year-less `LIST` dates are testable.
#[cfg(test)]
fn parse_listing_at(lines: &[String], format: ListFormat, now: SystemTime) -> Vec<RemoteEntry> {
    parse_with_at(lines, format, &ListDialect::default(), now)
}

fn parse_with_at(
    lines: &[String],
    format: ListFormat,
    dialect: &ListDialect,
    now: SystemTime,
) -> Vec<RemoteEntry> {
    let lines = match format {
        ListFormat::List => vms::join_continuations(lines),
        ListFormat::Mlsd => Cow::Borrowed(lines),
    };
    let order = dialect.order();
    let mvs = dialect.is_mvs();
    let mut counts: Vec<(Dialect, usize)> = order.iter().map(|d| (*d, 0)).collect();
    // Each name's place in `entries`, and its VMS version.
    let mut seen: HashMap<String, (usize, Option<u32>)> = HashMap::new();
    let mut entries = Vec::new();
    for line in lines.iter() {
        let (parsed, from) = match format {
            ListFormat::List => list_line_in(line, now, &order, mvs),
            ListFormat::Mlsd => (mlsd::mlsd_line(line), None),
        };
        let (entry, version) = match parsed {
            Line::Entry(entry) => (entry, None),
            Line::Versioned(entry, version) => (entry, Some(version)),
            Line::Ignored => continue,
            Line::Skipped(why) => {
                debug!("skipping listing line {line:?}: {why}");
                continue;
            }
        };
        if entry.name == "." || entry.name == ".." {
            continue;
        }
        if !valid_name(&entry.name) {
            // A name with '/' or NUL cannot be a path component, and one with CR/LF could
            // not be sent back in a command; showing it under another name would lie.
            warn!(
                "skipping listing entry with an unusable name {:?}",
                entry.name
            );
            continue;
        }
        if let Some(count) = counts.iter_mut().find(|(d, _)| Some(*d) == from) {
            count.1 += 1;
        }
        match seen.get(&entry.name) {
            // A newer version of a VMS file listed earlier takes its place.
            Some(&(at, Some(old))) if version.is_some_and(|v| v > old) => {
                seen.insert(entry.name.clone(), (at, version));
                entries[at] = entry;
            }
            // Two entries of one name cannot both live in one directory; the first is as
            // good a guess as any, and keeping it makes the result stable.
            Some(_) => debug!("skipping duplicate listing entry {:?}", entry.name),
            None => {
                seen.insert(entry.name.clone(), (entries.len(), version));
                entries.push(entry);
            }
        }
    }
    if format == ListFormat::List {
        dialect.remember(&counts);
    }
    entries
}

/// One LIST line, read as `parse_listing` reads it when nothing is known of the server. None for
/// `total N`, blank or unparseable lines.
pub fn parse_list_line(line: &str) -> Option<RemoteEntry> {
    match list_line(line, SystemTime::now()) {
        Line::Entry(entry) | Line::Versioned(entry, _) => Some(entry),
        Line::Ignored | Line::Skipped(_) => None,
    }
}

/// One MLSD line ("fact=value;fact=value; name"). None if unparseable or cdir/pdir.
pub fn parse_mlsd_line(line: &str) -> Option<RemoteEntry> {
    match mlsd::mlsd_line(line) {
        Line::Entry(entry) | Line::Versioned(entry, _) => Some(entry),
        Line::Ignored | Line::Skipped(_) => None,
    }
}

/// Whether a name received from the server may become a path component: not empty, not "." or "..",
/// no '/', no NUL, no CR, no LF.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0', '\r', '\n'])
}

/// One `LIST` line, when nothing is known of the server.
fn list_line(line: &str, now: SystemTime) -> Line {
    list_line_in(line, now, &ListDialect::default().order(), false).0
}

/// One `LIST` line: the noise of `ls -l` first, then each format's parser in `order` until one
/// takes it; with the dialect that did. `mvs`: the server is known to be MVS (`detect`).
/// suppaftp never panics on a line, but gives up on some that real servers send; the parsers
/// retry those in a form it takes.
fn list_line_in(
    line: &str,
    now: SystemTime,
    order: &[Dialect],
    mvs: bool,
) -> (Line, Option<Dialect>) {
    if line.trim().is_empty() || unix::is_total_line(line) {
        return (Line::Ignored, None);
    }
    if unix::is_special_file(line) {
        return (
            Line::Skipped("device, socket, pipe or other special file"),
            None,
        );
    }
    for &dialect in order {
        let parsed = match dialect {
            Dialect::Unix => unix::parse_line(line, now)
                .or_else(|| unix_variants::parse_line(line, now))
                .map_or(Line::Skipped(""), Line::Entry),
            Dialect::Dos => dos::parse_line(line).map_or(Line::Skipped(""), Line::Entry),
            Dialect::Eplf => eplf::parse_line(line),
            Dialect::Vms => vms::parse_line(line),
            Dialect::Mvs => mvs::parse_line(line, mvs),
            Dialect::As400 => as400::parse_line(line),
        };
        match parsed {
            Line::Skipped(_) => continue,
            parsed => return (parsed, Some(dialect)),
        }
    }
    (
        Line::Skipped("not a line of any listing format ftpfs reads"),
        None,
    )
}

/// The kind of an entry that suppaftp parsed (its POSIX and DOS parsers both give a `File`).
fn kind_of(file: &File) -> EntryKind {
    if file.is_directory() {
        EntryKind::Dir
    } else if file.is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::File
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testing::{at, lines, summary, NOW};

    #[test]
    fn garbage_list_lines_are_skipped() {
        for line in [
            "hello world",
            "550 No files found",
            "-rw-r--r--",
            "-rw-r--r-- 1 0 0 1234 Nov 22 14:21",
            "-rw-r--r-- 1 0 0 12x4 Nov 22 14:21 f",
            "-rw-r--r-- 1 0 0 99999999999999999999999 Nov 22 14:21 big",
            "xrw-r--r-- 1 0 0 1 Nov 22 14:21 f",
            "13-45-20  10:00AM 1 f",
            "type=file;size=14; a.bin",
        ] {
            assert!(
                matches!(list_line(line, at(NOW)), Line::Skipped(_)),
                "{line:?}"
            );
        }
    }

    #[test]
    fn valid_names() {
        for ok in ["a", "a b", " lead", "...", ".hidden", "ünïcode", "a\\b"] {
            assert!(valid_name(ok), "{ok:?}");
        }
        for bad in ["", ".", "..", "a/b", "/", "a\0b", "a\rb", "a\nb"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn raw_listings_keep_each_names_bytes() {
        let raw = |lines: &[Vec<u8>], format, names| {
            parse_raw_listing(lines.to_vec(), format, names, &ListDialect::default())
        };
        let lines: Vec<Vec<u8>> = vec![
            b"-rw-r--r-- 1 0 0 5 Nov 22 14:21 caf\xe9 \xff.txt".to_vec(),
            "-rw-r--r-- 1 0 0 5 Nov 22 14:21 café.txt"
                .as_bytes()
                .to_vec(),
            b"type=file;size=3; \xe9t\xe9".to_vec(),
            b"lrwxrwxrwx 1 0 0 1 Nov 22 14:21 l\xe9 -> t\xe9/x".to_vec(),
        ];
        let list = raw(&lines[..2], ListFormat::List, Names::BYTES);
        let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["caf\u{F7E9} \u{F7FF}.txt", "café.txt"]);
        assert_eq!(
            crate::names::unescape(&list[0].name),
            &b"caf\xe9 \xff.txt"[..]
        );
        let mlsd = raw(&lines[2..3], ListFormat::Mlsd, Names::BYTES);
        assert_eq!(mlsd[0].name, "\u{F7E9}t\u{F7E9}");
        let link = raw(&lines[3..], ListFormat::List, Names::BYTES);
        assert_eq!(link[0].link_target.as_deref(), Some("t\u{F7E9}/x"));
        // With the server's encoding, the same bytes are text; what it cannot read is skipped.
        let latin1 = Names::with_encoding("latin1").unwrap();
        let list = raw(&lines[..2], ListFormat::List, latin1);
        assert_eq!(list[0].name, "café ÿ.txt");
        let sjis = Names::with_encoding("shift_jis").unwrap();
        let odd = vec![
            b"type=file;size=3; \x93".to_vec(),
            b"type=file;size=3; ok".to_vec(),
        ];
        let names: Vec<String> = raw(&odd, ListFormat::Mlsd, sjis)
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["ok"]);
    }

    #[test]
    fn invalid_names_are_skipped_from_listings() {
        let listing = lines(&[
            "type=file;size=1; a/b",
            "type=file;size=1; a\rb",
            "type=dir; ..",
            "type=file;size=1; ok",
        ]);
        let names: Vec<String> = parse_listing(&listing, ListFormat::Mlsd)
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["ok"]);

        let listing = lines(&[
            "-rw-r--r-- 1 0 0 1 Nov 22 14:21 ../etc/passwd",
            "lrwxrwxrwx 1 0 0 1 Nov 22 14:21 x/y -> z",
            "-rw-r--r-- 1 0 0 1 Nov 22 14:21 fine",
        ]);
        let names: Vec<String> = parse_listing_at(&listing, ListFormat::List, at(NOW))
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["fine"]);
    }

    #[test]
    fn whole_list_listing_keeps_first_duplicate_and_skips_noise() {
        let listing = lines(&[
            "total 8",
            "drwxr-xr-x    2 0 0 4096 Nov 22 14:21 .",
            "drwxr-xr-x    2 0 0 4096 Nov 22 14:21 ..",
            "-rw-r--r--    1 0 0 1 Nov 22 14:21 dup",
            "-rw-r--r--    1 0 0 2 Nov 22 14:21 dup",
            "crw-rw-rw-    1 0 0 1, 3 Nov 22 14:21 null",
            "not a listing line",
            "drwxr-xr-x+   2 0 0 4096 Jan 01  2020 acl",
            "lrwxrwxrwx    1 0 0 3 Nov 22 14:21 l -> dup",
        ]);
        let entries = parse_listing_at(&listing, ListFormat::List, at(NOW));
        assert_eq!(
            summary(&entries),
            [
                ("dup", EntryKind::File, 1),
                ("acl", EntryKind::Dir, 4096),
                ("l", EntryKind::Symlink, 3),
            ]
        );
    }

    /// No input may panic: random lines over an alphabet of listing characters (with multi-byte
    /// ones next to the places we slice), and every prefix of every fixture.
    #[test]
    fn no_panics_on_any_input() {
        let alphabet: Vec<char> =
            "-rwxdlsStT+@. 0123456789:;=/<>DIRAMPNovJanFebtypefilesizemodifyunix\
                                   éß→\u{0}\r\t"
                .chars()
                .collect();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let fixtures = [
            "-rw-r--r--    1 1000     1000         1234 Nov 22 14:21 file.txt",
            "drwxr-xr-x+   2 0 0 4096 Jan 01  2020 é dir",
            "lrwxrwxrwx 1 0 0 7 Nov 22 14:21 link -> tärget",
            "01-05-2020  10:00AM              1234 file name.txt",
            "11-22-26  02:21PM       <DIR>          My Folder",
            "type=OS.unix=slink:/x;size=1;modify=20261122142100.5; l",
            "type=file;unix.mode=100644;modify=20261122142100.12é; f",
            "+i8388621.48594,m825718503,r,s280,up755\tf",
            "A.DIR;1  1/3 19-NOV-2001 21:41:05.27 [root,root] (RWE,RWE,RE,RE)",
            "WYOSPT 3420   2003/05/21  1  200  FB      80  8053  PO-E  A.B",
            "ALLOCS 01.03 2002/10/01 2002/10/01 06:38 9 9 0 ALICE",
            "QPGMR  36864 18.09.06 14:21:26 *FILE  Ä.FILE/",
            "d [R----F--] supervisor 512 Mär 16 18:53  n",
            "drwxr-xr-x 5 root sys 512 2005년  1월  6일 d",
        ];
        let mut inputs: Vec<String> = Vec::new();
        for fixture in fixtures {
            for (i, _) in fixture.char_indices() {
                inputs.push(fixture[..i].to_string());
                inputs.push(fixture[i..].to_string());
            }
        }
        for _ in 0..3000 {
            let len = usize::try_from(next() % 70).unwrap_or(0);
            let line: String = (0..len)
                .map(|_| alphabet[usize::try_from(next()).unwrap_or(0) % alphabet.len()])
                .collect();
            inputs.push(line);
        }
        let every = ListDialect::default().order();
        for input in &inputs {
            let _ = list_line(input, at(NOW));
            let _ = list_line_in(input, at(NOW), &every, true);
            for dialect in &every {
                let _ = list_line_in(input, at(NOW), &[*dialect], true);
            }
            let _ = mlsd::mlsd_line(input);
            let _ = valid_name(input);
            let _ = unix::strip_mode_marker(input);
            let _ = dos::shorten_dos_year(input);
        }
        let _ = parse_listing(&inputs, ListFormat::List);
        let _ = parse_listing(&inputs, ListFormat::Mlsd);
    }
}

#[cfg(test)]
mod detection_tests {
    use super::*;
    use testing::{at, lines, NOW};

    fn names(entries: &[RemoteEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// A listing of mixed forms parses line by line, and the form most of its entries had is
    /// remembered for the mount's next listings.
    #[test]
    fn mixed_listing_is_read_line_by_line_and_its_form_remembered() {
        let dialect = ListDialect::default();
        let listing = lines(&[
            "+i1.2,m825718503,r,s280,\teplf.txt",
            "-rw-r--r-- 1 0 0 1 Nov 22 14:21 unix.txt",
            "11-22-26  02:21PM       <DIR>          dos dir",
            "+/,\teplf dir",
            "this is no listing line",
        ]);
        let entries = parse_with_at(&listing, ListFormat::List, &dialect, at(NOW));
        assert_eq!(
            names(&entries),
            ["eplf.txt", "unix.txt", "dos dir", "eplf dir"]
        );
        assert_eq!(dialect.seen(), Some(Dialect::Eplf));
        // A listing without entries leaves what was learned.
        parse_with_at(&lines(&["total 0"]), ListFormat::List, &dialect, at(NOW));
        assert_eq!(dialect.seen(), Some(Dialect::Eplf));
        // MLSD listings teach nothing about LIST.
        parse_with_at(
            &lines(&["type=file; f"]),
            ListFormat::Mlsd,
            &dialect,
            at(NOW),
        );
        assert_eq!(dialect.seen(), Some(Dialect::Eplf));
    }

    /// A bare word is a PDS member only on a server known to be MVS: from `SYST`, or from an
    /// earlier listing of datasets.
    #[test]
    fn syst_hint_decides_ambiguous_lines() {
        let members = lines(&["MEMBER1", "MEMBER2"]);
        let unknown = ListDialect::default();
        assert!(parse_with_at(&members, ListFormat::List, &unknown, at(NOW)).is_empty());
        assert_eq!(unknown.seen(), None);

        let hinted = ListDialect::default();
        hinted.note_syst(
            "215 MVS is the operating system of this server. FTP Server is running on z/OS.",
        );
        let entries = parse_with_at(&members, ListFormat::List, &hinted, at(NOW));
        assert_eq!(names(&entries), ["MEMBER1", "MEMBER2"]);
        assert_eq!(hinted.seen(), Some(Dialect::Mvs));

        let learned = ListDialect::default();
        let datasets = lines(&[
            "Volume Unit    Referred Ext Used Recfm Lrecl BlkSz Dsorg Dsname",
            "WYOSPT 3420   2003/05/21  1  200  FB      80  8053  PO  ALICE.SRC",
        ]);
        let entries = parse_with_at(&datasets, ListFormat::List, &learned, at(NOW));
        assert_eq!(
            (entries[0].name.as_str(), entries[0].kind),
            ("ALICE.SRC", EntryKind::Dir)
        );
        let entries = parse_with_at(&members, ListFormat::List, &learned, at(NOW));
        assert_eq!(names(&entries), ["MEMBER1", "MEMBER2"]);
    }

    /// Each format's example, one listing each, through the public function; unknown lines in
    /// between are skipped.
    #[test]
    fn every_format_through_parse_listing() {
        for (line, name, kind) in [
            (
                "-rw-r--r-- 1 0 0 1 Nov 22 14:21 unix",
                "unix",
                EntryKind::File,
            ),
            (
                "-rw-r--r-- 1 0 1 Mär 22 14:21 localized",
                "localized",
                EntryKind::File,
            ),
            (
                "d [R----F--] supervisor 512 Jan 16 18:53 netware",
                "netware",
                EntryKind::Dir,
            ),
            (
                "11-22-26  02:21PM       <DIR>          dos",
                "dos",
                EntryKind::Dir,
            ),
            ("+/,\teplf", "eplf", EntryKind::Dir),
            (
                "VMS.DIR;1  1 19-NOV-2001 21:41 [root,root] (RWE,RWE,RE,RE)",
                "VMS",
                EntryKind::Dir,
            ),
            (
                "WYOSPT 3420 2003/05/21 1 200 FB 80 8053 PS MVS.DATA",
                "MVS.DATA",
                EntryKind::File,
            ),
            (
                "QSYS 77824 02/23/00 15:09:55 *DIR as400/",
                "as400",
                EntryKind::Dir,
            ),
        ] {
            let listing = lines(&["garbage before", line, "garbage after"]);
            let entries = parse_listing(&listing, ListFormat::List);
            let got: Vec<(&str, EntryKind)> =
                entries.iter().map(|e| (e.name.as_str(), e.kind)).collect();
            assert_eq!(got, [(name, kind)], "{line:?}");
        }
    }
}
