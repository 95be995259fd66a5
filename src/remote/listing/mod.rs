//! Parsers of FTP directory listings: this module owns turning the raw lines of a `LIST` or `MLSD`
//! reply into `RemoteEntry` values, and nothing else (no I/O, no caching). It decides which lines are
//! entries and which are noise (`total 8`, `.`/`..`, MLSD `cdir`/`pdir`, devices), which names may
//! become path components, and which parser a `LIST` line needs; each format family has its own
//! file (`unix`: `ls -l` lines, `dos`: DOS/IIS lines, `mlsd`: MLSD facts), and `time` turns the
//! servers' dates into `SystemTime`s (and back, for MFMT).

mod dos;
mod mlsd;
#[cfg(test)]
mod testing;
mod time;
mod unix;

use std::collections::HashSet;
use std::time::SystemTime;

use log::{debug, warn};
use suppaftp::list::File;

pub use time::{mdtm_reply_time, mdtm_time};

use super::{EntryKind, RemoteEntry};
use crate::names::{LineText, Names};

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
    /// Expected non-entries: blank lines, `total N`, MLSD `cdir`/`pdir`.
    Ignored,
    /// Lines we do not understand or cannot represent, with the reason.
    Skipped(&'static str),
}

/// Parses a whole listing (lines without line endings, as the server sent them). Each line is
/// read as text the way `names` says (UTF-8, Latin-1 when it is not, or the server's encoding), and
/// each name found goes back to the inner form of its exact bytes (see `crate::names`). Lines that
/// cannot be parsed are skipped with a `log::debug!`; entries with invalid names are skipped with a
/// `log::warn!` (see below); `.` and `..` (and MLSD `cdir`/`pdir`) are dropped silently. Duplicate
/// names: keep the first.
pub fn parse_raw_listing(lines: &[Vec<u8>], format: ListFormat, names: Names) -> Vec<RemoteEntry> {
    parse_lines(
        lines.iter().map(|l| names.line(l)),
        format,
        names,
        SystemTime::now(),
    )
}

/// `parse_raw_listing` for lines that are text already (tests, and listings made in memory).
pub fn parse_listing(lines: &[String], format: ListFormat) -> Vec<RemoteEntry> {
    parse_listing_at(lines, format, SystemTime::now())
}

/// `parse_listing` with the clock passed in, so that year-less `LIST` dates are testable.
fn parse_listing_at(lines: &[String], format: ListFormat, now: SystemTime) -> Vec<RemoteEntry> {
    let names = Names::BYTES;
    parse_lines(
        lines.iter().map(|l| names.line(l.as_bytes())),
        format,
        names,
        now,
    )
}

fn parse_lines<'a>(
    lines: impl Iterator<Item = LineText<'a>>,
    format: ListFormat,
    names: Names,
    now: SystemTime,
) -> Vec<RemoteEntry> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut entries = Vec::new();
    for line in lines {
        let parsed = match format {
            ListFormat::List => list_line(&line.text, now),
            ListFormat::Mlsd => mlsd::mlsd_line(&line.text),
        };
        match parsed {
            Line::Entry(mut entry) => {
                entry.name = names.from_line(&line, &entry.name);
                entry.link_target = entry.link_target.map(|t| names.from_line(&line, &t));
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
                if !names.sendable(&entry.name) {
                    // Bytes the server's encoding (-o encoding=) has no character for: the name
                    // shown could not be sent back to name this file.
                    warn!(
                        "skipping listing entry {:?}: not valid in the server's encoding {}",
                        entry.name,
                        names.encoding().unwrap_or("UTF-8")
                    );
                    continue;
                }
                // Two entries of one name cannot both live in one directory; the first is as
                // good a guess as any, and keeping it makes the result stable.
                if !seen.insert(entry.name.clone()) {
                    debug!("skipping duplicate listing entry {:?}", entry.name);
                    continue;
                }
                entries.push(entry);
            }
            Line::Ignored => {}
            Line::Skipped(why) => debug!("skipping listing line {:?}: {why}", line.text),
        }
    }
    entries
}

/// One LIST line: tries suppaftp::list::ListParser::parse_posix, then parse_dos. None for `total N`, blank or unparseable lines.
pub fn parse_list_line(line: &str) -> Option<RemoteEntry> {
    match list_line(line, SystemTime::now()) {
        Line::Entry(entry) => Some(entry),
        Line::Ignored | Line::Skipped(_) => None,
    }
}

/// One MLSD line ("fact=value;fact=value; name"). None if unparseable or cdir/pdir.
pub fn parse_mlsd_line(line: &str) -> Option<RemoteEntry> {
    match mlsd::mlsd_line(line) {
        Line::Entry(entry) => Some(entry),
        Line::Ignored | Line::Skipped(_) => None,
    }
}

/// Whether a name received from the server may become a path component: not empty, not "." or "..",
/// no '/', no NUL, no CR, no LF.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0', '\r', '\n'])
}

/// One `LIST` line: the noise of `ls -l` first, then each format's parser in turn. suppaftp never
/// panics on a line, but gives up on some that real servers send; the parsers retry those in a
/// form it takes.
fn list_line(line: &str, now: SystemTime) -> Line {
    if line.trim().is_empty() || unix::is_total_line(line) {
        return Line::Ignored;
    }
    if unix::is_special_file(line) {
        return Line::Skipped("device, socket, pipe or other special file");
    }
    if let Some(entry) = unix::parse_line(line, now) {
        return Line::Entry(entry);
    }
    if let Some(entry) = dos::parse_line(line) {
        return Line::Entry(entry);
    }
    Line::Skipped("not a POSIX or DOS listing line")
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
    use testing::{at, lines, NOW};

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
        let lines: Vec<Vec<u8>> = vec![
            b"-rw-r--r-- 1 0 0 5 Nov 22 14:21 caf\xe9 \xff.txt".to_vec(),
            "-rw-r--r-- 1 0 0 5 Nov 22 14:21 café.txt"
                .as_bytes()
                .to_vec(),
            b"type=file;size=3; \xe9t\xe9".to_vec(),
            b"lrwxrwxrwx 1 0 0 1 Nov 22 14:21 l\xe9 -> t\xe9/x".to_vec(),
        ];
        let list = parse_raw_listing(&lines[..2], ListFormat::List, Names::BYTES);
        let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["caf\u{F7E9} \u{F7FF}.txt", "café.txt"]);
        assert_eq!(
            crate::names::unescape(&list[0].name),
            &b"caf\xe9 \xff.txt"[..]
        );
        let mlsd = parse_raw_listing(&lines[2..3], ListFormat::Mlsd, Names::BYTES);
        assert_eq!(mlsd[0].name, "\u{F7E9}t\u{F7E9}");
        let link = parse_raw_listing(&lines[3..], ListFormat::List, Names::BYTES);
        assert_eq!(link[0].link_target.as_deref(), Some("t\u{F7E9}/x"));
        // With the server's encoding, the same bytes are text; what it cannot read is skipped.
        let latin1 = Names::with_encoding("latin1").unwrap();
        let list = parse_raw_listing(&lines[..2], ListFormat::List, latin1);
        assert_eq!(list[0].name, "café ÿ.txt");
        let sjis = Names::with_encoding("shift_jis").unwrap();
        let odd = vec![
            b"type=file;size=3; \x93".to_vec(),
            b"type=file;size=3; ok".to_vec(),
        ];
        let names: Vec<String> = parse_raw_listing(&odd, ListFormat::Mlsd, sjis)
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
        let summary: Vec<(&str, EntryKind, u64)> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.kind, e.size))
            .collect();
        assert_eq!(
            summary,
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
        for input in &inputs {
            let _ = list_line(input, at(NOW));
            let _ = mlsd::mlsd_line(input);
            let _ = valid_name(input);
            let _ = unix::strip_mode_marker(input);
            let _ = dos::shorten_dos_year(input);
        }
        let _ = parse_listing(&inputs, ListFormat::List);
        let _ = parse_listing(&inputs, ListFormat::Mlsd);
    }
}
