//! IBM i (OS/400, AS/400) listings in the server's own form (`LISTFMT 0`): `owner size date time
//! type name`, as in `QSYS 77824 02/23/00 15:09:55 *DIR QOpenSys/`. The date is in the server
//! job's format and separator (`02/23/00`, `23/02/00`, `18.09.06`, `00-02-23`). Size, date and
//! time are blank for objects without them (a member: `ALICE *MEM SRC.FILE/HELLO.MBR`).
//!
//! Kinds: `*DIR`, `*LIB`, `*FLR` and `*DDIR` are directories; a `*FILE` named `X.FILE` is a
//! database file, which in the integrated file system (`NAMEFMT 1`) is a directory of `*MEM`
//! members; other objects (`*STMF`, `*MEM`, a `*FILE` save file `X.SAVF`, programs...) are
//! files. A `*MEM` line whose name has a `/` names a member of a file listed beside it, not an
//! entry of this directory, and is left out. A trailing `/` marks a directory and is dropped.

use std::time::SystemTime;

use super::time::{parse_digits, system_time, utc_seconds};
use super::Line;
use crate::remote::{EntryKind, RemoteEntry};

/// One IBM i line.
pub(super) fn parse_line(line: &str) -> Line {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some(at) = words.iter().position(|w| is_object_type(w)) else {
        return Line::Skipped("not an IBM i listing line");
    };
    let object_type = words[at];
    let (size, mtime) = match &words[..at] {
        [_] | [] => (0, None),
        [_owner, size] => match parse_digits::<u64>(size, 1, 20) {
            Some(size) => (size, None),
            None => return Line::Skipped("an IBM i size that is not a number"),
        },
        [_owner, size, date, clock] => {
            let (Some(size), Some(mtime)) = (parse_digits::<u64>(size, 1, 20), when(date, clock))
            else {
                return Line::Skipped("an IBM i line with an unreadable size, date or time");
            };
            (size, Some(mtime))
        }
        _ => return Line::Skipped("an IBM i line of an unknown form"),
    };
    // The name is the rest of the line after the type: it may hold blanks.
    let Some(name) = rest_after(line, &words, at) else {
        return Line::Skipped("an IBM i line without a name");
    };
    let (name, marked_dir) = match name.strip_suffix('/') {
        Some(stripped) => (stripped, true),
        None => (name, false),
    };
    if object_type.eq_ignore_ascii_case("*MEM") && name.contains('/') {
        return Line::Skipped("a member of a file in this library, not an entry of its own");
    }
    let upper = object_type.to_ascii_uppercase();
    let dir = marked_dir
        || matches!(upper.as_str(), "*DIR" | "*LIB" | "*FLR" | "*DDIR")
        || (upper == "*FILE" && name.to_ascii_uppercase().ends_with(".FILE"));
    Line::Entry(RemoteEntry {
        name: name.to_string(),
        kind: if dir { EntryKind::Dir } else { EntryKind::File },
        size,
        mtime: mtime.unwrap_or(SystemTime::UNIX_EPOCH),
        perm: None,
        link_target: None,
    })
}

/// `*DIR`, `*FILE`, `*MEM`, `*STMF`...: a `*` and up to nine capital letters or digits.
fn is_object_type(word: &str) -> bool {
    word.strip_prefix('*').is_some_and(|t| {
        (2..=9).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    })
}

/// The text after word `at` (and the blanks that follow it).
fn rest_after<'a>(line: &'a str, words: &[&'a str], at: usize) -> Option<&'a str> {
    // Each word is a slice of `line`, so its offset is where it starts in `line`.
    let word = words[at];
    let start = word.as_ptr() as usize - line.as_ptr() as usize + word.len();
    let rest = line.get(start..)?.trim_start();
    (!rest.is_empty()).then_some(rest)
}

/// A date in the job's format and a `HH:MM:SS` time. Two-digit years are 19xx from 70 on.
/// Day and month are told apart where one is over 12 (`23/02/00`); otherwise `/` dates are read
/// month first (the US default) and `.` or `-` dates day first.
fn when(date: &str, clock: &str) -> Option<SystemTime> {
    let separator = date.chars().find(|c| !c.is_ascii_digit())?;
    let parts: Vec<u32> = date
        .split(separator)
        .map(|p| parse_digits(p, 2, 2))
        .collect::<Option<_>>()?;
    let [a, b, c] = parts[..] else {
        return None;
    };
    let (year, month, day) = match (separator, a, b) {
        (_, a, b) if b > 12 && a <= 12 => (c, a, b),
        (_, a, b) if a > 12 && b <= 12 && a <= 31 => (c, b, a),
        ('/', a, b) => (c, a, b),
        (_, a, b) => (c, b, a),
    };
    let year = i64::from(year) + if year >= 70 { 1900 } else { 2000 };
    let mut clock = clock.split(|c: char| !c.is_ascii_digit());
    let hour = parse_digits(clock.next()?, 2, 2)?;
    let minute = parse_digits(clock.next()?, 2, 2)?;
    let second = parse_digits(clock.next()?, 2, 2)?;
    system_time(utc_seconds(year, month, day, hour, minute, second)?, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::listing::testing::{entry, entry_of};

    fn as400(line: &str) -> Option<RemoteEntry> {
        entry_of(parse_line(line))
    }

    #[test]
    fn filezilla_examples() {
        assert_eq!(
            as400("QSYS            77824 02/23/00 15:09:55 *DIR 44-ibm-as400 dir/"),
            Some(entry(
                "44-ibm-as400 dir",
                EntryKind::Dir,
                77_824,
                951_318_595,
                None,
                None
            ))
        );
        assert_eq!(
            as400("QSYS            77824 23/02/00 15:09:55 *FILE 45-ibm-as400-date file"),
            Some(entry(
                "45-ibm-as400-date file",
                EntryKind::File,
                77_824,
                951_318_595,
                None,
                None
            ))
        );
        // A database file in the integrated file system's naming is a directory of members.
        assert_eq!(
            as400("QPGMR           36864 18.09.06 14:21:26 *FILE      55-AS400.FILE"),
            Some(entry(
                "55-AS400.FILE",
                EntryKind::Dir,
                36_864,
                1_158_589_286,
                None,
                None
            ))
        );
        assert_eq!(
            as400("BAILEYSE     5263360 06/11/97 12:27:39 *FILE     BPTFSAVF"),
            Some(entry(
                "BPTFSAVF",
                EntryKind::File,
                5_263_360,
                866_032_059,
                None,
                None
            ))
        );
    }

    #[test]
    fn members_and_odd_lines() {
        // Inside a file: its members, without size or date.
        let e = as400("ALICE                                   *MEM       HELLO.MBR").unwrap();
        assert_eq!(
            (e.name.as_str(), e.kind, e.size),
            ("HELLO.MBR", EntryKind::File, 0)
        );
        // In a library listing, a file's members are not entries of the library.
        assert!(
            as400("ALICE                                   *MEM       SRC.FILE/HELLO.MBR")
                .is_none()
        );
        let e = as400("ALICE       4096 01/05/24 10:00:00 *STMF      notes.txt").unwrap();
        assert_eq!((e.kind, e.size), (EntryKind::File, 4096));
        for line in [
            "QSYS 77824 02/23/00 *DIR x",
            "QSYS 77824 13/13/00 15:09:55 *DIR x",
            "QSYS x 02/23/00 15:09:55 *DIR x",
            "QSYS 77824 02/23/00 15:09:55 *DIR",
            "-rw-r--r-- 1 0 0 1 Nov 22 14:21 *FILE",
            "no type here",
        ] {
            assert!(as400(line).is_none(), "{line:?}");
        }
    }
}
