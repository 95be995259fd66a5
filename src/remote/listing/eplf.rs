//! EPLF, the Easily Parsed LIST Format (D. J. Bernstein's publicfile, some embedded servers):
//! `+` then comma-separated facts, a tab, and the name, as in `+i8388621.48594,m825718503,r,
//! s280,up755\tfile`. The facts used: `/` (a directory: CWD works), `r` (a file: RETR works),
//! `s` (size in bytes), `m` (modification time in seconds since the epoch, UTC) and `up` (octal
//! permissions). Unknown facts are ignored, as the format asks.

use std::time::SystemTime;

use super::time::{parse_digits, system_time};
use super::Line;
use crate::remote::{EntryKind, RemoteEntry};

/// One EPLF line; `Skipped` for anything else.
pub(super) fn parse_line(line: &str) -> Line {
    let Some(rest) = line.strip_prefix('+') else {
        return Line::Skipped("not an EPLF line");
    };
    // The name is everything after the first tab, tabs and spaces included.
    let Some((facts, name)) = rest.split_once('\t') else {
        return Line::Skipped("EPLF line without a tab before the name");
    };
    let mut dir = false;
    let mut size = 0;
    let mut mtime = None;
    let mut perm = None;
    for fact in facts.split(',') {
        let mut chars = fact.chars();
        match chars.next() {
            Some('/') => dir = true,
            Some('s') => match parse_digits(chars.as_str(), 1, 20) {
                Some(n) => size = n,
                None => return Line::Skipped("EPLF size is not a number"),
            },
            Some('m') => {
                mtime = parse_digits::<i64>(chars.as_str(), 1, 18).and_then(|s| system_time(s, 0))
            }
            Some('u') if chars.as_str().starts_with('p') => {
                perm = u16::from_str_radix(&chars.as_str()[1..], 8)
                    .ok()
                    .filter(|p| *p <= 0o7777)
                    .map(|p| p & 0o777)
            }
            _ => {}
        }
    }
    Line::Entry(RemoteEntry {
        name: name.to_string(),
        kind: if dir { EntryKind::Dir } else { EntryKind::File },
        size: if dir { 0 } else { size },
        // A listing without a time says nothing about it; the epoch is what other parsers give
        // for an unknown date too.
        mtime: mtime.unwrap_or(SystemTime::UNIX_EPOCH),
        perm,
        link_target: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::listing::testing::{at, entry, entry_of};

    fn eplf(line: &str) -> Option<RemoteEntry> {
        entry_of(parse_line(line))
    }

    #[test]
    fn filezilla_examples() {
        assert_eq!(
            eplf("+i8388621.48594,m825718503,r,s280,up755\t14-eplf file"),
            Some(entry(
                "14-eplf file",
                EntryKind::File,
                280,
                825_718_503, // 1996-03-01 22:15:03 UTC
                Some(0o755),
                None
            ))
        );
        assert_eq!(
            eplf("+i8388621.50690,m824255907,/,\t15-eplf dir"),
            Some(entry(
                "15-eplf dir",
                EntryKind::Dir,
                0,
                824_255_907, // 1996-02-13 23:58:27 UTC
                None,
                None
            ))
        );
    }

    #[test]
    fn names_keep_their_blanks_and_odd_lines_are_skipped() {
        let e = eplf("+r,s1,\t  two spaces\tand a tab").unwrap();
        assert_eq!(e.name, "  two spaces\tand a tab");
        assert_eq!(e.mtime, at(0));
        assert!(eplf("+r,s1, no tab").is_none());
        assert!(eplf("+r,sx,\tbad size").is_none());
        assert!(eplf("-rw-r--r-- 1 0 0 1 Nov 22 14:21 f").is_none());
    }
}
