//! `LIST` lines in the form of `ls -l` (vsftpd, ProFTPD, pure-ftpd and most Unix servers):
//! suppaftp's POSIX parser, with fix-ups for what it gets wrong (leading spaces in names, ` -> ` in
//! link targets, ACL and xattr markers after the mode, the year of recent dates, dates before
//! 1970), and the lines of `ls -l` that are not entries (`total 8`, devices, sockets, pipes).

use std::time::SystemTime;

use suppaftp::list::{File, ListParser, PosixPexQuery};

use super::kind_of;
use super::time::ls_time;
use crate::remote::{EntryKind, RemoteEntry};

/// One `ls -l` line, or None if neither it nor its mode without a marker parses.
pub(super) fn parse_line(line: &str, now: SystemTime) -> Option<RemoteEntry> {
    if let Ok(file) = ListParser::parse_posix(line) {
        return Some(posix_entry(line, &file, now));
    }
    let stripped = strip_mode_marker(line)?;
    let file = ListParser::parse_posix(&stripped).ok()?;
    Some(posix_entry(&stripped, &file, now))
}

/// `total 8` (and `total 8.0K` from `ls -h`): the block count `ls -l` prints first.
pub(super) fn is_total_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    matches!(words.next(), Some(w) if w.eq_ignore_ascii_case("total"))
        && words.next().is_some()
        && words.next().is_none()
}

/// Whether the line starts with an `ls` mode (`crw-rw-rw-`, `srwxr-xr-x+`) of a type we cannot
/// represent: character/block devices, pipes, sockets, Solaris doors.
pub(super) fn is_special_file(line: &str) -> bool {
    let Some(mode) = line.split_whitespace().next() else {
        return false;
    };
    let mut chars = mode.chars();
    let Some(kind) = chars.next() else {
        return false;
    };
    let perms: Vec<char> = chars.collect();
    kind.is_ascii_alphabetic()
        && !matches!(kind, 'd' | 'l')
        && (perms.len() == 9 || perms.len() == 10)
        && perms.iter().take(9).all(|c| "-rwxsStT".contains(*c))
}

/// `drwxr-xr-x+` (ACL), `-rw-r--r--@` (macOS xattrs), `-rw-r--r--.` (SELinux context): suppaftp
/// wants exactly nine permission characters, so drop the eleventh character of the mode.
pub(super) fn strip_mode_marker(line: &str) -> Option<String> {
    let mut chars = line.char_indices();
    let (marker_at, marker) = chars.nth(10)?;
    let (_, after) = chars.next()?;
    if marker.is_whitespace() || !after.is_whitespace() {
        return None;
    }
    // `marker_at` comes from char_indices, so both slices fall on character boundaries.
    let rest = &line[marker_at + marker.len_utf8()..];
    Some(format!("{}{}", &line[..marker_at], rest))
}

/// The fields of a POSIX line that we re-read ourselves rather than trusting suppaftp's result.
struct PosixFields<'a> {
    month: &'a str,
    day: &'a str,
    time_or_year: &'a str,
    /// Everything after the single space that follows the date: the name (and ` -> target`).
    rest: &'a str,
}

/// Splits `mode links owner group size month day time|year name`. suppaftp's regex eats all the
/// blanks before the name (`\s+(.+)`), which loses a name's leading spaces; `ls` and the servers
/// put exactly one space there, so the name starts right after it.
fn split_posix_fields(line: &str) -> Option<PosixFields<'_>> {
    let mut rest = line;
    let mut fields = [""; 8];
    for field in fields.iter_mut() {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace)?;
        *field = &rest[..end];
        rest = &rest[end..];
    }
    let mut chars = rest.chars();
    chars.next()?;
    let rest = chars.as_str();
    if rest.is_empty() {
        return None;
    }
    Some(PosixFields {
        month: fields[5],
        day: fields[6],
        time_or_year: fields[7],
        rest,
    })
}

fn posix_entry(line: &str, file: &File, now: SystemTime) -> RemoteEntry {
    let kind = kind_of(file);
    let fields = split_posix_fields(line);

    // Our own reading of the name, checked against suppaftp's: they may only differ by the leading
    // blanks suppaftp drops. If they disagree otherwise (tabs, odd spacing), trust suppaftp.
    let ours = fields.as_ref().map(|f| match kind {
        // A name may contain " -> " as well as a target, and nothing tells them apart; split at
        // the first one, which at least keeps the whole target (suppaftp cuts it at the second).
        EntryKind::Symlink => match f.rest.split_once(" -> ") {
            Some((name, target)) => (name, Some(target)),
            None => (f.rest, None),
        },
        EntryKind::File | EntryKind::Dir => (f.rest, None),
    });
    let (name, link_target) = match ours {
        Some((name, target)) if name.trim_start() == file.name() => {
            (name.to_string(), target.map(str::to_string))
        }
        _ => (
            file.name().to_string(),
            file.symlink().map(|p| p.to_string_lossy().into_owned()),
        ),
    };
    // suppaftp reports a symlink listed without ` -> target` as an empty target.
    let link_target = link_target.filter(|t| !t.is_empty());

    // suppaftp never looks at next year and clamps dates before 1970 to the epoch; our own
    // reading handles both, and its fallback is only for dates we cannot read.
    let mtime = fields
        .as_ref()
        .and_then(|f| ls_time(f.month, f.day, f.time_or_year, now))
        .unwrap_or_else(|| file.modified());

    RemoteEntry {
        name,
        kind,
        size: u64::try_from(file.size()).unwrap_or(u64::MAX),
        mtime,
        perm: Some(posix_perm(file)),
        link_target,
    }
}

/// setuid/setgid/sticky bit, which we would not pass on anyway.
fn posix_perm(file: &File) -> u16 {
    let mut perm = 0;
    for (shift, who) in [
        (6, PosixPexQuery::Owner),
        (3, PosixPexQuery::Group),
        (0, PosixPexQuery::Others),
    ] {
        if file.can_read(who) {
            perm |= 0o4 << shift;
        }
        if file.can_write(who) {
            perm |= 0o2 << shift;
        }
        if file.can_execute(who) {
            perm |= 0o1 << shift;
        }
    }
    perm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::listing::testing::{at, entry, lines, list, list_at, NOW};
    use crate::remote::listing::{list_line, parse_list_line, parse_listing_at, Line, ListFormat};

    #[test]
    fn vsftpd_recent_file() {
        assert_eq!(
            list("-rw-r--r--    1 1000     1000         1234 Nov 22 14:21 file.txt"),
            Some(entry(
                "file.txt",
                EntryKind::File,
                1234,
                1_795_357_260, // 2026-11-22 14:21 UTC
                Some(0o644),
                None
            ))
        );
    }

    #[test]
    fn vsftpd_old_dir_with_space() {
        assert_eq!(
            list("drwxr-xr-x    2 0 0 4096 Jan 01  2020 old dir"),
            Some(entry(
                "old dir",
                EntryKind::Dir,
                4096,
                1_577_836_800, // 2020-01-01 00:00 UTC
                Some(0o755),
                None
            ))
        );
    }

    #[test]
    fn proftpd_name_with_spaces() {
        assert_eq!(
            list_at(
                "-rw-r--r--   1 ftp      ftp          1234 Mar  5 10:00 a b c.txt",
                1_781_524_800 // 2026-06-15 12:00 UTC
            ),
            Some(entry(
                "a b c.txt",
                EntryKind::File,
                1234,
                1_772_704_800, // 2026-03-05 10:00 UTC
                Some(0o644),
                None
            ))
        );
    }

    #[test]
    fn pure_ftpd_listing_drops_dot_entries() {
        let listing = lines(&[
            "drwxr-xr-x    4 1000       1000             4096 Nov 22 14:21 .",
            "drwxr-xr-x    4 1000       1000             4096 Jan 01  2020 ..",
            "-rw-r--r--    1 1000       1000              14 Sep  1 09:00 x.bin",
        ]);
        assert_eq!(
            parse_listing_at(&listing, ListFormat::List, at(NOW)),
            vec![entry(
                "x.bin",
                EntryKind::File,
                14,
                1_788_253_200, // 2026-09-01 09:00 UTC
                Some(0o644),
                None
            )]
        );
    }

    #[test]
    fn total_and_blank_lines_are_not_entries() {
        for line in ["total 8", "total 0", "TOTAL 12", "total 8.0K", "", "   "] {
            assert!(
                matches!(list_line(line, at(NOW)), Line::Ignored),
                "{line:?}"
            );
            assert_eq!(parse_list_line(line), None, "{line:?}");
        }
        // Not a total line: a file of that name would have a mode in front.
        assert!(!is_total_line("total 8 extra"));
    }

    #[test]
    fn symlink_name_and_target() {
        assert_eq!(
            list("lrwxrwxrwx 1 0 0 7 Nov 22 14:21 link -> target.txt"),
            Some(entry(
                "link",
                EntryKind::Symlink,
                7,
                1_795_357_260,
                Some(0o777),
                Some("target.txt")
            ))
        );
    }

    #[test]
    fn symlink_with_spaces_and_arrows() {
        let e = list("lrwxrwxrwx 1 0 0 16 Nov 22 14:21 my link -> my target.txt").unwrap();
        assert_eq!(e.name, "my link");
        assert_eq!(e.link_target.as_deref(), Some("my target.txt"));
        // suppaftp would give the target "b"; we keep everything after the first arrow.
        let e = list("lrwxrwxrwx 1 0 0 6 Nov 22 14:21 a -> b -> c").unwrap();
        assert_eq!(e.name, "a");
        assert_eq!(e.link_target.as_deref(), Some("b -> c"));
        // A symlink listed without its target.
        let e = list("lrwxrwxrwx 1 0 0 6 Nov 22 14:21 lonely").unwrap();
        assert_eq!((e.name.as_str(), e.kind), ("lonely", EntryKind::Symlink));
        assert_eq!(e.link_target, None);
        // " -> " in a file's name is part of the name.
        let e = list("-rw-r--r-- 1 0 0 6 Nov 22 14:21 x -> y").unwrap();
        assert_eq!((e.name.as_str(), e.link_target), ("x -> y", None));
    }

    #[test]
    fn leading_and_trailing_spaces_in_names_are_kept() {
        let e = list("-rw-r--r--    1 1000     1000         1234 Nov 22 14:21  lead.txt").unwrap();
        assert_eq!(e.name, " lead.txt");
        let e = list("-rw-r--r--    1 1000     1000         1234 Jan 01  2020   two").unwrap();
        assert_eq!(e.name, "  two");
        assert_eq!(e.mtime, at(1_577_836_800));
        let e = list("-rw-r--r--    1 1000     1000         1234 Nov 22 14:21 trail ").unwrap();
        assert_eq!(e.name, "trail ");
        let e = list("lrwxrwxrwx 1 0 0 6 Nov 22 14:21  sp -> t").unwrap();
        assert_eq!(
            (e.name.as_str(), e.link_target.as_deref()),
            (" sp", Some("t"))
        );
    }

    #[test]
    fn mode_markers_are_stripped() {
        assert_eq!(
            list("drwxr-xr-x+   2 0 0 4096 Jan 01  2020 acl dir"),
            Some(entry(
                "acl dir",
                EntryKind::Dir,
                4096,
                1_577_836_800,
                Some(0o755),
                None
            ))
        );
        let e = list("-rw-r--r--@ 1 alice staff 5 Nov 22 14:21 mac.txt").unwrap();
        assert_eq!(
            (e.name.as_str(), e.size, e.perm),
            ("mac.txt", 5, Some(0o644))
        );
        let e = list("-rw-------. 1 root root 9 Nov 22 14:21 selinux").unwrap();
        assert_eq!((e.name.as_str(), e.perm), ("selinux", Some(0o600)));
        let e = list("lrwxrwxrwx+ 1 0 0 1 Nov 22 14:21 l -> t").unwrap();
        assert_eq!(
            (e.kind, e.link_target.as_deref()),
            (EntryKind::Symlink, Some("t"))
        );
    }

    #[test]
    fn special_bits_are_dropped_from_perm() {
        assert_eq!(
            list("-rwsr-xr-x 1 0 0 10 Nov 22 14:21 su").unwrap().perm,
            Some(0o755)
        );
        assert_eq!(
            list("-rwSr--r-- 1 0 0 10 Nov 22 14:21 s").unwrap().perm,
            Some(0o644)
        );
        assert_eq!(
            list("drwxrwxrwt 1 0 0 10 Nov 22 14:21 tmp").unwrap().perm,
            Some(0o777)
        );
        assert_eq!(
            list("d--------- 1 0 0 10 Nov 22 14:21 none").unwrap().perm,
            Some(0)
        );
    }

    #[test]
    fn devices_sockets_and_pipes_are_skipped() {
        for line in [
            "crw-rw-rw-   1 0 0 1,   3 Nov 22 14:21 null",
            "brw-rw----   1 0 6 8,   0 Nov 22 14:21 sda",
            "srwxrwxrwx   1 0 0       0 Nov 22 14:21 socket",
            "prw-r--r--   1 0 0       0 Nov 22 14:21 fifo",
            "prw-r--r--+  1 0 0       0 Nov 22 14:21 fifo2",
        ] {
            assert!(
                matches!(list_line(line, at(NOW)), Line::Skipped(_)),
                "{line:?}"
            );
        }
    }

    #[test]
    fn recent_dates_pick_the_right_year() {
        let file = |date: &str| format!("-rw-r--r-- 1 0 0 1 {date} f");
        // Six months rule: August seen in January is last year's.
        let jan_15 = 1_768_435_200; // 2026-01-15 00:00 UTC
        assert_eq!(
            list_at(&file("Aug 10 10:00"), jan_15).unwrap().mtime,
            at(1_754_820_000)
        );
        // New Year's Eve 20:00 UTC, a server ten hours ahead: tomorrow is next year's
        // (suppaftp would say 2026-01-01).
        let dec_31 = 1_798_747_200; // 2026-12-31 20:00 UTC
        assert_eq!(
            list_at(&file("Jan 01 06:00"), dec_31).unwrap().mtime,
            at(1_798_783_200)
        );
        // ... and the same date in a single-digit form, long after.
        assert_eq!(
            list_at(&file("Jan  1 06:00"), dec_31).unwrap().mtime,
            at(1_798_783_200)
        );
        // Up to six months ahead is this coming date: BSD `ls` prints the time for files up to
        // six months in the future too (GNU `ls` would have printed a year).
        assert_eq!(
            list(&file("Mar  5 10:00")).unwrap().mtime,
            at(1_804_240_800)
        ); // 2027-03-05
           // Month names are case-insensitive.
        assert_eq!(
            list(&file("NOV 22 14:21")).unwrap().mtime,
            at(1_795_357_260)
        );
        // A date before 1970 stays before 1970 (suppaftp clamps it to the epoch).
        assert_eq!(list(&file("Jan 01  1960")).unwrap().mtime, at(-315_619_200));
    }
}
