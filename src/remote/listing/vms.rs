//! OpenVMS listings (TCP/IP Services, MultiNet, TCPware): `NAME.EXT;3  12/36  19-NOV-2001
//! 21:41:05.27  [GROUP,OWNER]  (RWED,RWED,RE,)`, with the fields after the name in varying order
//! and some left out, a name too long for its column alone on a line with the rest on the next,
//! and `Directory DISK$USER:[ALICE]` / `Total of 3 files, 12/36 blocks.` around the entries.
//!
//! Names: the `;version` suffix is dropped, and when several versions of a file are listed only
//! the highest is kept (`parse_listing` does that with the version this parser reports): a name
//! without a version is what VMS itself opens as the newest version, so the name shown is the
//! name that works when sent back. `NAME.DIR;1` is the directory `NAME`. Sizes come in 512-byte
//! blocks (the used count of `used/allocated`) or with a `KB`/`MB`/`GB` unit, so a file's size is
//! a multiple of the block, not its exact byte count.

use std::borrow::Cow;

use super::months::month_number;
use super::time::{parse_digits, system_time, utc_seconds};
use super::Line;
use crate::remote::{EntryKind, RemoteEntry};

/// VMS counts sizes in blocks of this many bytes.
const BLOCK: u64 = 512;

/// One VMS line (after `join_continuations`).
pub(super) fn parse_line(line: &str) -> Line {
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
        return Line::Ignored;
    };
    if is_header(line) {
        return Line::Ignored;
    }
    let Some((base, version)) = split_version(first) else {
        return Line::Skipped("not a VMS name;version");
    };
    let mut size = None;
    let mut date = None;
    let mut time = None;
    let mut perm = None;
    let mut owner = false;
    for word in words {
        if size.is_none() {
            if let Some(bytes) = blocks(word) {
                size = Some(bytes);
                continue;
            }
        }
        if date.is_none() {
            if let Some(d) = vms_date(word) {
                date = Some(d);
                continue;
            }
        }
        if date.is_some() && time.is_none() {
            if let Some(t) = vms_clock(word) {
                time = Some(t);
                continue;
            }
        }
        if word.starts_with('(') && word.ends_with(')') && perm.is_none() {
            perm = Some(protection(&word[1..word.len() - 1]));
            continue;
        }
        // The owner: `[GROUP,OWNER]`, or a bare identifier some servers print.
        if !owner && (word.starts_with('[') && word.ends_with(']') || is_identifier(word)) {
            owner = true;
            continue;
        }
        return Line::Skipped("a VMS line with a field we do not know");
    }
    let (Some(size), Some((year, month, day))) = (size, date) else {
        return Line::Skipped("a VMS line without a size or a date");
    };
    let (hour, minute, second) = time.unwrap_or((0, 0, 0));
    let Some(mtime) =
        utc_seconds(year, month, day, hour, minute, second).and_then(|s| system_time(s, 0))
    else {
        return Line::Skipped("a VMS date that does not exist");
    };
    let (name, kind) = match strip_dir(base) {
        Some(dir) => (dir, EntryKind::Dir),
        None => (base, EntryKind::File),
    };
    Line::Versioned(
        RemoteEntry {
            name: name.to_string(),
            kind,
            size: if kind == EntryKind::Dir { 0 } else { size },
            mtime,
            perm: perm.flatten(),
            link_target: None,
        },
        version,
    )
}

/// `Directory DISK:[DIR]`, `Total of N files, ...`, `Grand total of ...`: the frame of a VMS
/// listing.
fn is_header(line: &str) -> bool {
    let line = line.trim_start();
    ["Directory ", "Total of ", "Grand total of "]
        .iter()
        .any(|h| line.starts_with(h))
}

/// `NAME.EXT;12` into `NAME.EXT` and 12.
fn split_version(word: &str) -> Option<(&str, u32)> {
    let (base, version) = word.rsplit_once(';')?;
    if base.is_empty() {
        return None;
    }
    Some((base, parse_digits(version, 1, 5)?))
}

/// `NAME.DIR` (any case) is the directory `NAME`.
fn strip_dir(base: &str) -> Option<&str> {
    let cut = base.len().checked_sub(4)?;
    let (name, ext) = (base.get(..cut)?, base.get(cut..)?);
    (ext.eq_ignore_ascii_case(".DIR") && !name.is_empty()).then_some(name)
}

/// A size: `155` or `12/36` blocks (used/allocated), or `2KB`, `3MB`, `1GB`.
fn blocks(word: &str) -> Option<u64> {
    let used = word.split_once('/').map_or(word, |(used, allocated)| {
        if parse_digits::<u64>(allocated, 1, 20).is_some() {
            used
        } else {
            ""
        }
    });
    if let Some(n) = parse_digits::<u64>(used, 1, 20) {
        return n.checked_mul(BLOCK);
    }
    let upper = word.to_ascii_uppercase();
    for (unit, scale) in [("KB", 1u64 << 10), ("MB", 1 << 20), ("GB", 1 << 30)] {
        if let Some(n) = upper.strip_suffix(unit) {
            return parse_digits::<u64>(n, 1, 15)?.checked_mul(scale);
        }
    }
    None
}

/// `19-NOV-2001` (month names in English or a server's language).
fn vms_date(word: &str) -> Option<(i64, u32, u32)> {
    let mut parts = word.split('-');
    let day: u32 = parse_digits(parts.next()?, 1, 2)?;
    let month = month_number(parts.next()?)?;
    let year: i64 = parse_digits(parts.next()?, 4, 4)?;
    parts.next().is_none().then_some((year, month, day))
}

/// `21:41`, `10:30:13` or `10:30:13.64` (hundredths dropped).
fn vms_clock(word: &str) -> Option<(u32, u32, u32)> {
    let whole = word.split_once('.').map_or(word, |(w, _)| w);
    let mut parts = whole.split(':');
    let hour = parse_digits(parts.next()?, 1, 2)?;
    let minute = parse_digits(parts.next()?, 2, 2)?;
    let second = match parts.next() {
        Some(s) => parse_digits(s, 2, 2)?,
        None => 0,
    };
    parts.next().is_none().then_some((hour, minute, second))
}

/// An owner printed without brackets (`PRONAS`): letters, digits, `$` and `_`.
fn is_identifier(word: &str) -> bool {
    word.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '$' || c == '_')
        && word.chars().any(|c| c.is_ascii_alphabetic())
}

/// `(RWED,RWED,RE,)`: system, owner, group and world rights. The owner, group and world parts
/// become the `rwx` triplets (R: read, W or D: write, E: execute/search); the system part has no
/// place in a mode. `None` if it is not of that form.
fn protection(text: &str) -> Option<u16> {
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut perm = 0;
    for part in &parts[1..] {
        let mut bits = 0;
        for c in part.chars() {
            bits |= match c.to_ascii_uppercase() {
                'R' => 4,
                'W' | 'D' => 2,
                'E' => 1,
                'C' => 0,
                _ => return None,
            };
        }
        perm = perm << 3 | bits;
    }
    Some(perm)
}

/// A name too long for its column stands alone on its line, its fields on the next: such pairs
/// become one line. Only a line that is one VMS `name;version` and nothing else is joined, and
/// only with a next line that starts with a size. Listings without such a pair (all but VMS ones)
/// are not copied.
pub(super) fn join_continuations(lines: &[String]) -> Cow<'_, [String]> {
    let joins_next = |i: usize| {
        let mut words = lines[i].split_whitespace();
        matches!((words.next(), words.next()), (Some(w), None) if split_version(w).is_some())
            && lines.get(i + 1).is_some_and(|next| {
                next.split_whitespace()
                    .next()
                    .is_some_and(|w| split_version(w).is_none() && blocks(w).is_some())
            })
    };
    if !(0..lines.len()).any(joins_next) {
        return Cow::Borrowed(lines);
    }
    let mut joined = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        if joins_next(i) {
            joined.push(format!(
                "{} {}",
                lines[i].trim_end(),
                lines[i + 1].trim_start()
            ));
            i += 2;
        } else {
            joined.push(lines[i].clone());
            i += 1;
        }
    }
    Cow::Owned(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::listing::testing::{at, entry, lines, summary};
    use crate::remote::listing::{parse_listing, ListFormat};

    fn vms(line: &str) -> Option<(RemoteEntry, u32)> {
        match parse_line(line) {
            Line::Versioned(e, v) => Some((e, v)),
            _ => None,
        }
    }

    /// FileZilla's example lines, with the names as ftpfs shows them.
    #[test]
    fn filezilla_examples() {
        let cases = [
            (
                "36-vms-dir.DIR;1  1 19-NOV-2001 21:41 [root,root] (RWE,RWE,RE,RE)",
                entry("36-vms-dir", EntryKind::Dir, 0, 1_006_206_060, Some(0o755), None),
                1,
            ),
            (
                "37-vms-file;1       155   2-JUL-2003 10:30:13.64",
                entry("37-vms-file", EntryKind::File, 79_360, 1_057_141_813, None, None),
                1,
            ),
            (
                "38-vms-notime-file;1    2/8    7-JAN-2000    [IV2_XXX]   (RWED,RWED,RE,)",
                entry("38-vms-notime-file", EntryKind::File, 1024, 947_203_200, Some(0o750), None),
                1,
            ),
            (
                "39-vms-notime-file;1    6/8    15-JUI-2002    PRONAS   (RWED,RWED,RE,)",
                entry("39-vms-notime-file", EntryKind::File, 3072, 1_026_691_200, Some(0o750), None),
                1,
            ),
            (
                "42-vms-alternate-field-order-file;1   [SUMMARY]    1/3     2-AUG-2006 13:05  (RWE,RWE,RE,)",
                entry("42-vms-alternate-field-order-file", EntryKind::File, 512, 1_154_523_900, Some(0o750), None),
                1,
            ),
            (
                "43-vms-alternate-field-order-file;1       17-JUN-1994 17:25:37     6308/13     (RWED,RWED,R,)",
                entry("43-vms-alternate-field-order-file", EntryKind::File, 3_229_696, 771_873_937, Some(0o740), None),
                1,
            ),
            (
                "56-VMS-complex-size;1 2KB 23-SEP-2005 14:57:07.27",
                entry("56-VMS-complex-size", EntryKind::File, 2048, 1_127_487_427, None, None),
                1,
            ),
            (
                "LOGIN.COM;12  3/4  1-DEC-2026 09:00:00.00  [USERS,ALICE]  (RWED,RWED,,)",
                entry("LOGIN.COM", EntryKind::File, 1536, 1_796_115_600, Some(0o700), None),
                12,
            ),
        ];
        for (line, expected, version) in cases {
            assert_eq!(vms(line), Some((expected, version)), "{line:?}");
        }
    }

    #[test]
    fn multi_line_entries_are_joined() {
        let listing = lines(&[
            "Directory DISK$USER:[ALICE]",
            "",
            "40-vms-multiline-file;1",
            "170774/170775     24-APR-2003 08:16:15  [FTP_CLIENT,SCOT]      (RWED,RWED,RE,)",
            "41-vms-multiline-file;1",
            "10     2-JUL-2003 10:30:08.59  [FTP_CLIENT,SCOT]      (RWED,RWED,RE,)",
            "SHORT.TXT;1  1  2-JUL-2003 10:30",
            "",
            "Total of 3 files, 170785/170786 blocks.",
        ]);
        let joined = join_continuations(&listing);
        assert_eq!(joined.len(), 7);
        let entries = parse_listing(&listing, ListFormat::List);
        let summary: Vec<(&str, u64)> = entries.iter().map(|e| (e.name.as_str(), e.size)).collect();
        assert_eq!(
            summary,
            [
                ("40-vms-multiline-file", 87_436_288),
                ("41-vms-multiline-file", 5120),
                ("SHORT.TXT", 512),
            ]
        );
        assert_eq!(entries[0].mtime, at(1_051_172_175)); // 2003-04-24 08:16:15
    }

    #[test]
    fn highest_version_wins() {
        let listing = lines(&[
            "A.TXT;2  1  2-JUL-2003 10:30",
            "A.TXT;5  3  4-JUL-2003 10:30",
            "A.TXT;4  2  3-JUL-2003 10:30",
            "B.DIR;1  1  2-JUL-2003 10:30",
        ]);
        let entries = parse_listing(&listing, ListFormat::List);
        assert_eq!(
            summary(&entries),
            [("A.TXT", EntryKind::File, 1536), ("B", EntryKind::Dir, 0)]
        );
    }

    #[test]
    fn not_vms() {
        for line in [
            "A.TXT;x  1  2-JUL-2003",
            ";1  1  2-JUL-2003",
            "A.TXT;1  1  2-JUL-03",
            "A.TXT;1  2-JUL-2003",
            "A.TXT;1  1  2-JUL-2003 10:30 extra stuff",
            "A.TXT;1  1  30-FEB-2003",
            "-rw-r--r-- 1 0 0 1 Nov 22 14:21 f;1",
        ] {
            assert!(vms(line).is_none(), "{line:?}");
        }
        // A lone name;version is only joined with a line of fields.
        let listing = lines(&["X.TXT;1", "Y.TXT;1  1  2-JUL-2003"]);
        assert!(matches!(join_continuations(&listing), Cow::Borrowed(_)));
        assert!(vms("Y.TXT;1  1  2-JUL-2003").is_some());
    }
}
