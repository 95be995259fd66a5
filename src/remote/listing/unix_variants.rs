//! `ls -l`-like lines that suppaftp's POSIX parser rejects, read by finding the date and taking
//! the number before it as the size: no group column, no owner or group at all, a numeric owner
//! that runs into the group, numeric months (`3 29 03:26`), localized dates (`26. Juli, 20:10`,
//! `2. Okt. 2003`, `01 oct 2004`, `Mär 5 10:00`, `4月 18日 2003年`), numeric dates (`2005-06-07
//! 21:22`, `09-26 2000`, `1999/10/12 17:12`, `24-04-2003 17:12`, `2004.07.15`, `01-jun-99`),
//! VShell's `Oct 08, 2002 09:47`, and Novell NetWare's `d [RWCEAFMS] owner size date name`.
//! Owner, group and link count are not used, so whichever of them a server leaves out does not
//! matter.

use std::time::SystemTime;

use super::months::month_number;
use super::time::{parse_digits, recent_or_dated, system_time, utc_seconds};
use crate::remote::{EntryKind, RemoteEntry};

/// A word of a line and where it starts.
type Word<'a> = (usize, &'a str);

/// One line, or None if no date with a size before it is found.
pub(super) fn parse_line(line: &str, now: SystemTime) -> Option<RemoteEntry> {
    let words = words(line);
    let (kind, perm, netware, first_field) = match words.as_slice() {
        [(_, t), (_, rights), ..] if (*t == "d" || *t == "-") && is_netware_rights(rights) => (
            if *t == "d" {
                EntryKind::Dir
            } else {
                EntryKind::File
            },
            None,
            true,
            2,
        ),
        [(_, mode), ..] => {
            let (kind, perm) = unix_mode(mode)?;
            (kind, Some(perm), false, 1)
        }
        [] => return None,
    };
    // The date: the first place after the size where one starts. The size needs a field before
    // it (a link count or an owner).
    let (at, used, mtime) = (first_field + 1..words.len()).find_map(|i| {
        let (used, mtime) = date_at(&words[i..], now)?;
        Some((i, used, mtime))
    })?;
    let size: u64 = parse_digits(words[at - 1].1, 1, 20)?;
    let (last_at, last) = words[at + used - 1];
    let rest = &line[last_at + last.len()..];
    // `ls` puts one blank before the name (which may itself start with blanks); NetWare pads
    // its columns.
    let name = if netware {
        rest.trim_start()
    } else {
        let mut chars = rest.chars();
        chars.next()?;
        chars.as_str()
    };
    let (name, link_target) = match (kind, name.split_once(" -> ")) {
        (EntryKind::Symlink, Some((name, target))) => (name, Some(target.to_string())),
        _ => (name, None),
    };
    if name.is_empty() {
        return None;
    }
    Some(RemoteEntry {
        name: name.to_string(),
        kind,
        size,
        mtime,
        perm,
        link_target,
    })
}

fn words(line: &str) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, &line[s..]));
    }
    words
}

/// `[RWCEAFMS]`, `[R----F--]`: NetWare's trustee rights.
fn is_netware_rights(word: &str) -> bool {
    word.len() == 10
        && word.starts_with('[')
        && word.ends_with(']')
        && word[1..9].chars().all(|c| "RWCEAFMS-".contains(c))
}

/// `drwxr-xr-x` (with an ACL or xattr marker after it, or not): the kind and the permission
/// bits. Devices, pipes and sockets are not for us (`unix::is_special_file` skips them).
fn unix_mode(mode: &str) -> Option<(EntryKind, u16)> {
    let chars: Vec<char> = mode.chars().collect();
    if chars.len() != 10 && chars.len() != 11 {
        return None;
    }
    let kind = match chars[0] {
        '-' => EntryKind::File,
        'd' => EntryKind::Dir,
        'l' => EntryKind::Symlink,
        _ => return None,
    };
    let mut perm = 0;
    for (i, c) in chars[1..10].iter().enumerate() {
        let bit = match (i % 3, c) {
            (_, '-') | (2, 'S' | 'T') => 0,
            (0, 'r') | (1, 'w') | (2, 'x' | 's' | 't') => 1,
            _ => return None,
        };
        perm = perm << 1 | bit;
    }
    Some((kind, perm))
}

/// A date starting at `words[0]`: how many words it takes, and the time.
fn date_at(words: &[Word<'_>], now: SystemTime) -> Option<(usize, SystemTime)> {
    let w = |i: usize| words.get(i).map(|(_, w)| *w);
    let (a, b, c, d) = (w(0)?, w(1), w(2), w(3));
    // Month day time-or-year, and day month time-or-year (`Mär 5 10:00`, `26. Juli, 20:10`).
    if let (Some(b), Some(c)) = (b, c) {
        if let (Some(month), Some(day)) = (month_number(a), day(b)) {
            // VShell: `Oct 08, 2002 09:47`.
            if let (Some(year), Some(d)) = (year(c), d) {
                if b.ends_with(',') {
                    return Some((4, at(year, month, day, clock(d)?)?));
                }
            }
            return Some((3, dated(month, day, c, now)?));
        }
        if let (Some(day), Some(month)) = (day(a), month_number(b)) {
            return Some((3, dated(month, day, c, now)?));
        }
        // All numbers: `3 29 03:26` (month, day, then a time or a year).
        let numeric_month = parse_digits::<u32>(a, 1, 2).filter(|m| (1..=12).contains(m));
        if let (Some(month), Some(day)) = (numeric_month, day(b)) {
            if c.contains(':') || year(c).is_some() {
                return Some((3, dated(month, day, c, now)?));
            }
        }
        // Year first, the CJK way: `2005년 1월 6일`.
        if let (Some(year), Some(month), Some(day)) = (year(a), month_number(b), day(c)) {
            if !a.chars().all(|c| c.is_ascii_digit()) {
                return Some((3, at(year, month, day, (0, 0))?));
            }
        }
    }
    // Numeric dates, with a time in the next word or not.
    let (year, month, day, needs) = numeric_date(a)?;
    match (needs, b) {
        (Needs::Nothing, _) => Some((1, at(year?, month, day, (0, 0))?)),
        (Needs::Clock, Some(b)) => Some((2, at(year?, month, day, clock(b)?)?)),
        (Needs::YearOrClock, Some(b)) => Some((2, recent_or_dated(month, day, b, now)?)),
        _ => None,
    }
}

/// What a numeric date needs from the word after it.
enum Needs {
    Nothing,
    Clock,
    YearOrClock,
}

/// `2005-06-07`, `1999/10/12`, `24-04-2003` (with a time after), `09-26` (with a year or a time
/// after), `2004.07.15` and `01-jun-99` (alone).
fn numeric_date(word: &str) -> Option<(Option<i64>, u32, u32, Needs)> {
    let separator = word.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = word.split(separator).collect();
    let num = |p: &str, n: usize| parse_digits::<u32>(p, n, n);
    match parts[..] {
        [y, m, d] if y.len() == 4 => {
            let needs = if separator == '.' {
                Needs::Nothing
            } else {
                Needs::Clock
            };
            Some((Some(i64::from(num(y, 4)?)), num(m, 2)?, num(d, 2)?, needs))
        }
        [d, m, y] if y.len() == 4 && separator == '-' => Some((
            Some(i64::from(num(y, 4)?)),
            num(m, 2)?,
            num(d, 2)?,
            Needs::Clock,
        )),
        [d, m, y] if separator == '-' && y.len() == 2 => {
            let y = i64::from(num(y, 2)?);
            let year = y + if y >= 70 { 1900 } else { 2000 };
            Some((Some(year), month_number(m)?, num(d, 2)?, Needs::Nothing))
        }
        [m, d] if separator == '-' => Some((None, num(m, 2)?, num(d, 2)?, Needs::YearOrClock)),
        _ => None,
    }
}

/// `5`, `05`, `26.`, `08,`, `18日`, `6일`.
fn day(word: &str) -> Option<u32> {
    let word = word.trim_end_matches(['.', ',', '日', '일']);
    parse_digits::<u32>(word, 1, 2).filter(|d| (1..=31).contains(d))
}

/// `2003`, `2003年`, `2005년`.
fn year(word: &str) -> Option<i64> {
    parse_digits(word.trim_end_matches(['年', '년']), 4, 4)
}

/// `21:22`.
fn clock(word: &str) -> Option<(u32, u32)> {
    let (hour, minute) = word.split_once(':')?;
    Some((parse_digits(hour, 1, 2)?, parse_digits(minute, 2, 2)?))
}

/// A time or a year after a month and day (`10:00`, `2003`, `2003年`), with the recent-date rule.
fn dated(month: u32, day: u32, time_or_year: &str, now: SystemTime) -> Option<SystemTime> {
    let time_or_year = time_or_year.trim_end_matches(['年', '년']);
    recent_or_dated(month, day, time_or_year, now)
}

fn at(year: i64, month: u32, day: u32, (hour, minute): (u32, u32)) -> Option<SystemTime> {
    system_time(utc_seconds(year, month, day, hour, minute, 0)?, 0)
}

#[cfg(test)]
mod tests {
    use crate::remote::listing::testing::{entry, list};
    use crate::remote::EntryKind;

    /// FileZilla's example lines that suppaftp rejects (the clock is 2026-12-01 12:00 UTC, so a
    /// date without a year is the most recent one at most 180 days ahead: `Jan 16` is 2027's).
    /// Names start one blank after the date, as `ls` prints them, so the padded dotted-date line
    /// keeps two leading blanks.
    #[test]
    fn filezilla_examples() {
        use EntryKind::{Dir, File};
        let cases = [
            ("-rw-r--r--   1 root     other        531 3 29 03:26 02-unix-std file", "02-unix-std file", File, 531, 1_806_290_760, Some(0o644)),
            ("dr-xr-xr-x   2 root                  512 Apr  8  1994 03-unix-nogroup dir", "03-unix-nogroup dir", Dir, 512, 765_763_200, Some(0o555)),
            ("-rw-r--r--   1 root     other        531 09-26 2000 05-unix-date file", "05-unix-date file", File, 531, 969_926_400, Some(0o644)),
            ("-rw-r--r--   1 root     other        531 09-26 13:45 06-unix-date file", "06-unix-date file", File, 531, 1_790_430_300, Some(0o644)),
            ("-rw-r--r--   1 root     other        531 2005-06-07 21:22 07-unix-date file", "07-unix-date file", File, 531, 1_118_179_320, Some(0o644)),
            ("d [R----F--] supervisor            512       Jan 16 18:53    09-netware dir", "09-netware dir", Dir, 512, 1_800_125_580, None),
            ("- [R----F--] rhesus             214059       Oct 20 15:27    10-netware file", "10-netware file", File, 214_059, 1_792_510_020, None),
            ("drwxrwxr-x               folder        2 May 10  1996 12-netpresenz dir", "12-netpresenz dir", Dir, 2, 831_686_400, Some(0o775)),
            ("-rwxr-xr-x    1 user group        9 Oct 08, 2002 09:47 23-vshell-new file", "23-vshell-new file", File, 9, 1_034_070_420, Some(0o755)),
            ("dr-xr-xr-x   2 root     other      2235 26. Juli, 20:10 28-datetest-ger dir", "28-datetest-ger dir", Dir, 2235, 1_785_096_600, Some(0o555)),
            ("-r-xr-xr-x   2 root     other      2235 2.   Okt.  2003 29-datetest-ger file", "29-datetest-ger file", File, 2235, 1_065_052_800, Some(0o555)),
            ("-r-xr-xr-x   2 root     other      2235 1999/10/12 17:12 30-datetest file", "30-datetest file", File, 2235, 939_748_320, Some(0o555)),
            ("-r-xr-xr-x   2 root     other      2235 24-04-2003 17:12 31-datetest file", "31-datetest file", File, 2235, 1_051_204_320, Some(0o555)),
            ("-r-xr-xr-x   2 root  root  96 2004.07.15   35-dotted-date file", "  35-dotted-date file", File, 96, 1_089_849_600, Some(0o555)),
            ("-r-xr-xr-x 2 owner group 4512 01-jun-99 47_unix_shortdatemonth file", "47_unix_shortdatemonth file", File, 4512, 928_195_200, Some(0o555)),
            ("drwxr-xr-x 3 user group 512 01 oct 2004 52-swapped-daymonth dir", "52-swapped-daymonth dir", Dir, 512, 1_096_588_800, Some(0o755)),
            ("-r--r--r-- 0125039 12 Nov 11 2005 53-noownergroup file", "53-noownergroup file", File, 12, 1_131_667_200, Some(0o444)),
            ("drwxr-xr-x   5 root     sys          512 2005\u{b144}  1\u{c6d4}  6\u{c77c} 54-asian date year first dir", "54-asian date year first dir", Dir, 512, 1_104_969_600, Some(0o755)),
            ("drwxr-xr-x 6 user sys 1024 30. Jan., 12:40 59-localized-date-dir", "59-localized-date-dir", Dir, 1024, 1_801_312_800, Some(0o755)),
            ("drwxrwxrwx   1 0        0               0 29 Jul 02:27 2014 Invoices", "2014 Invoices", Dir, 0, 1_785_292_020, Some(0o777)),
        ];
        for (line, name, kind, size, mtime, perm) in cases {
            assert_eq!(
                list(line),
                Some(entry(name, kind, size, mtime, perm, None)),
                "{line:?}"
            );
        }
    }

    #[test]
    fn localized_months_and_links() {
        // German, French and Spanish month names, as UTF-8 or as Latin-1 text.
        let latin1 = |bytes: &[u8]| bytes.iter().map(|&b| char::from(b)).collect::<String>();
        let line = latin1(b"-rw-r--r-- 1 1000 1000 7 M\xe4r  5 10:00 m\xe4rz.txt");
        let e = list(&line).unwrap();
        assert_eq!((e.name.as_str(), e.size), ("m\u{e4}rz.txt", 7));
        assert_eq!(
            e.mtime,
            list("-rw-r--r-- 1 0 0 7 Mar  5 10:00 x").unwrap().mtime
        );
        for (line, month) in [
            ("-rw-r--r-- 1 0 0 1 févr. 3 2020 f", "Feb"),
            ("-rw-r--r-- 1 0 0 1 déc. 3 2020 f", "Dec"),
            ("-rw-r--r-- 1 0 0 1 ene 3 2020 f", "Jan"),
            ("-rw-r--r-- 1 0 0 1 3 dic 2020 f", "Dec"),
            ("-rw-r--r-- 1 0 0 1 4月 3 2020 f", "Apr"),
        ] {
            let english = format!("-rw-r--r-- 1 0 0 1 {month} 3 2020 f");
            assert_eq!(
                list(line).map(|e| e.mtime),
                list(&english).map(|e| e.mtime),
                "{line:?}"
            );
        }
        let e = list("lrwxrwxrwx 1 0 0 3 3 dic 2020 l -> t").unwrap();
        assert_eq!(
            (e.kind, e.link_target.as_deref()),
            (EntryKind::Symlink, Some("t"))
        );
        // No date, no size before the date, or a device: not an entry.
        for line in [
            "drwxr-xr-x 3 slopri devlab 512 71-unix-dateless",
            "-rw-r--r-- 1 0 0 big Nov 22 14:21 f",
            "-rw-r--r-- Nov 22 14:21 f",
            "crw-rw-rw- 1 0 0 1, 3 3 dic 2020 null",
            "-rw-r--r-- 1 0 0 1 Nov 22 14:21 ",
        ] {
            assert_eq!(list(line), None, "{line:?}");
        }
    }
}
