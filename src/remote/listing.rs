//! Parsers of FTP directory listings: this module owns turning the raw lines of a `LIST` or `MLSD`
//! reply into `RemoteEntry` values, and nothing else (no I/O, no caching). It decides which lines are
//! entries and which are noise (`total 8`, `.`/`..`, MLSD `cdir`/`pdir`, devices), which names may
//! become path components, and how the servers' dates become `SystemTime`s. `LIST` lines go through
//! suppaftp's POSIX and DOS parsers, with fix-ups for what they get wrong (leading spaces in names,
//! ` -> ` in link targets, ACL markers after the mode, four-digit DOS years, the year of recent
//! dates); `MLSD` lines go through a small fact parser of our own, because suppaftp's rejects facts
//! that real servers send (`unix.mode=100644`, `type=OS.unix=slink:/target`).

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log::{debug, warn};
use suppaftp::list::{File, ListParser, PosixPexQuery};

use super::{EntryKind, RemoteEntry};

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

/// A `HH:MM` date in a `LIST` line may lie at most this far in the future. GNU `ls` and vsftpd print
/// the time instead of the year for files from the last ~182 days (BSD `ls` also for files up to
/// ~182 days ahead), so the same date a year later is at least ~183 days ahead and never chosen;
/// 180 rather than 182 days leaves room for the server's time zone, read as UTC.
const RECENT_FUTURE_LIMIT: i64 = 180 * 86_400;

/// Parses a whole listing (lines without line endings). Lines that cannot be parsed are skipped with a
/// `log::debug!`; entries with invalid names are skipped with a `log::warn!` (see below); `.` and `..`
/// (and MLSD `cdir`/`pdir`) are dropped silently. Duplicate names: keep the first.
pub fn parse_listing(lines: &[String], format: ListFormat) -> Vec<RemoteEntry> {
    parse_listing_at(lines, format, SystemTime::now())
}

/// `parse_listing` with the clock passed in, so that year-less `LIST` dates are testable.
fn parse_listing_at(lines: &[String], format: ListFormat, now: SystemTime) -> Vec<RemoteEntry> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut entries = Vec::new();
    for line in lines {
        let parsed = match format {
            ListFormat::List => list_line(line, now),
            ListFormat::Mlsd => mlsd_line(line),
        };
        match parsed {
            Line::Entry(entry) => {
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
                // Two entries of one name cannot both live in one directory; the first is as
                // good a guess as any, and keeping it makes the result stable.
                if !seen.insert(entry.name.clone()) {
                    debug!("skipping duplicate listing entry {:?}", entry.name);
                    continue;
                }
                entries.push(entry);
            }
            Line::Ignored => {}
            Line::Skipped(why) => debug!("skipping listing line {line:?}: {why}"),
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
    match mlsd_line(line) {
        Line::Entry(entry) => Some(entry),
        Line::Ignored | Line::Skipped(_) => None,
    }
}

/// Whether a name received from the server may become a path component: not empty, not "." or "..",
/// no '/', no NUL, no CR, no LF.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0', '\r', '\n'])
}

// ---------------------------------------------------------------------------------------------
// LIST

fn list_line(line: &str, now: SystemTime) -> Line {
    if line.trim().is_empty() || is_total_line(line) {
        return Line::Ignored;
    }
    if is_special_file(line) {
        return Line::Skipped("device, socket, pipe or other special file");
    }
    // suppaftp never panics on a line, but gives up on some that real servers send; each retry
    // below is one such case.
    if let Ok(file) = ListParser::parse_posix(line) {
        return Line::Entry(posix_entry(line, &file, now));
    }
    if let Some(stripped) = strip_mode_marker(line) {
        if let Ok(file) = ListParser::parse_posix(&stripped) {
            return Line::Entry(posix_entry(&stripped, &file, now));
        }
    }
    if let Ok(file) = ListParser::parse_dos(line) {
        return Line::Entry(dos_entry(line, &file));
    }
    if let Some(shortened) = shorten_dos_year(line) {
        if let Ok(file) = ListParser::parse_dos(&shortened) {
            return Line::Entry(dos_entry(line, &file));
        }
    }
    Line::Skipped("not a POSIX or DOS listing line")
}

/// `total 8` (and `total 8.0K` from `ls -h`): the block count `ls -l` prints first.
fn is_total_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    matches!(words.next(), Some(w) if w.eq_ignore_ascii_case("total"))
        && words.next().is_some()
        && words.next().is_none()
}

/// Whether the line starts with an `ls` mode (`crw-rw-rw-`, `srwxr-xr-x+`) of a type we cannot
/// represent: character/block devices, pipes, sockets, Solaris doors.
fn is_special_file(line: &str) -> bool {
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
fn strip_mode_marker(line: &str) -> Option<String> {
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

fn kind_of(file: &File) -> EntryKind {
    if file.is_directory() {
        EntryKind::Dir
    } else if file.is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::File
    }
}

/// The nine `rwx` bits. suppaftp counts `s`/`t` as execute and `S`/`T` as not, and keeps no
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

/// `Nov 22 14:21` or `Jan 01 2020`, read as UTC (the server's zone is unknown). A date without a
/// year is the most recent such date at most `RECENT_FUTURE_LIMIT` ahead of `now`: this year's or
/// last year's, but next year's just after New Year when the server's clock is ahead of ours, and
/// for `Feb 29` the last leap year's.
fn ls_time(month: &str, day: &str, time_or_year: &str, now: SystemTime) -> Option<SystemTime> {
    let month = month_number(month)?;
    let day: u32 = parse_digits(day, 1, 2)?;
    match time_or_year.split_once(':') {
        Some((hour, minute)) => {
            let hour: u32 = parse_digits(hour, 1, 2)?;
            let minute: u32 = parse_digits(minute, 1, 2)?;
            let now = unix_seconds(now);
            let (this_year, _, _) = civil_from_days(now.div_euclid(86_400));
            // Eight years back covers the longest gap between two leap years.
            (this_year - 8..=this_year + 1)
                .rev()
                .filter_map(|year| utc_seconds(year, month, day, hour, minute, 0))
                .find(|&secs| secs - now <= RECENT_FUTURE_LIMIT)
                .and_then(|secs| system_time(secs, 0))
        }
        None => {
            let year: i64 = parse_digits(time_or_year, 4, 4)?;
            system_time(utc_seconds(year, month, day, 0, 0, 0)?, 0)
        }
    }
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.to_ascii_lowercase();
    let index = MONTHS.iter().position(|m| *m == lower)?;
    u32::try_from(index + 1).ok()
}

fn dos_entry(line: &str, file: &File) -> RemoteEntry {
    let kind = kind_of(file);
    RemoteEntry {
        // suppaftp drops the blanks before the name, which is right here: IIS pads the size
        // column with them.
        name: file.name().to_string(),
        kind,
        size: u64::try_from(file.size()).unwrap_or(u64::MAX),
        mtime: dos_time(line).unwrap_or_else(|| file.modified()),
        // DOS listings carry no permissions; suppaftp's rwxrwxrwx is made up.
        perm: None,
        link_target: None,
    }
}

/// IIS with four-digit years (`01-05-2020  10:00AM ...`): suppaftp's DOS regex wants two digits,
/// so drop the century for it. The date itself is read by `dos_time` from the original line.
fn shorten_dos_year(line: &str) -> Option<String> {
    let bytes = line.as_bytes();
    let pattern = b"dd-dd-dddd";
    if bytes.len() <= pattern.len()
        || !bytes[pattern.len()].is_ascii_whitespace()
        || !pattern.iter().zip(bytes).all(|(p, b)| match p {
            b'd' => b.is_ascii_digit(),
            _ => b == p,
        })
    {
        return None;
    }
    // The first ten bytes are ASCII, so these slices fall on character boundaries.
    Some(format!("{}{}", &line[..6], &line[8..]))
}

/// `11-22-26  02:21PM` or `01-05-2020  10:00 AM`, read as UTC. Two-digit years follow chrono's
/// `%y` (and so suppaftp): 69–99 are 19xx, 00–68 are 20xx.
fn dos_time(line: &str) -> Option<SystemTime> {
    let mut words = line.split_whitespace();
    let date = words.next()?;
    let mut time = words.next()?.to_ascii_uppercase();
    if !time.ends_with('M') {
        time.push_str(&words.next()?.to_ascii_uppercase());
    }
    let (clock, pm) = if let Some(clock) = time.strip_suffix("AM") {
        (clock, false)
    } else {
        (time.strip_suffix("PM")?, true)
    };

    let mut parts = date.split('-');
    let month: u32 = parse_digits(parts.next()?, 2, 2)?;
    let day: u32 = parse_digits(parts.next()?, 2, 2)?;
    let year_text = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let year: i64 = match year_text.len() {
        2 => match parse_digits(year_text, 2, 2)? {
            y @ 0..=68 => 2000 + y,
            y => 1900 + y,
        },
        _ => parse_digits(year_text, 4, 4)?,
    };

    let (hour, minute) = clock.split_once(':')?;
    let hour: u32 = parse_digits(hour, 1, 2)?;
    let minute: u32 = parse_digits(minute, 2, 2)?;
    if !(1..=12).contains(&hour) {
        return None;
    }
    let hour = hour % 12 + if pm { 12 } else { 0 };
    system_time(utc_seconds(year, month, day, hour, minute, 0)?, 0)
}

// ---------------------------------------------------------------------------------------------
// MLSD

fn mlsd_line(line: &str) -> Line {
    if line.trim().is_empty() {
        return Line::Ignored;
    }
    // RFC 3659: `[facts] SP name`, every fact ending in ';'. Values cannot hold ';', so the first
    // "; " ends the facts even when a symlink target holds spaces; the name keeps any ';' and
    // spaces of its own. A line without "; " is either fact-less (" name") or sloppy
    // ("type=file;size=1 name"); then the first space splits.
    let (facts, name) = if let Some(name) = line.strip_prefix(' ') {
        ("", name)
    } else if let Some((facts, name)) = line.split_once("; ") {
        (facts, name)
    } else if let Some((facts, name)) = line.split_once(' ') {
        (facts, name)
    } else {
        return Line::Skipped("no space before the name");
    };
    if name.is_empty() {
        return Line::Skipped("empty name");
    }

    let mut kind = None;
    let mut link_target = None;
    let mut size = None;
    let mut sizd = None;
    let mut mtime = None;
    let mut perm = None;
    for fact in facts.split(';') {
        // Split at the first '=' only: `type=OS.unix=slink:/target` has more.
        let Some((key, value)) = fact.split_once('=') else {
            continue;
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => match mlsd_type(value) {
                MlsdType::Entry(k, target) => {
                    kind = Some(k);
                    link_target = target;
                }
                MlsdType::SelfOrParent => return Line::Ignored,
                MlsdType::Unknown => return Line::Skipped("unsupported MLSD type"),
            },
            // A size we cannot read would show the file empty or cut; better not to show it.
            "size" => match value.parse::<u64>() {
                Ok(n) => size = Some(n),
                Err(_) => return Line::Skipped("bad size fact"),
            },
            "sizd" => sizd = value.parse::<u64>().ok(),
            "modify" => {
                mtime = mlsd_time(value);
                if mtime.is_none() {
                    debug!("bad modify fact in MLSD line {line:?}, using the epoch");
                }
            }
            "unix.mode" => perm = unix_mode(value),
            // `perm` describes what *we* may do (RFC 3659 §7.5.5), not the mode; ignored like the
            // rest (unique, UNIX.owner, ...).
            _ => {}
        }
    }

    let Some(kind) = kind else {
        return Line::Skipped("no type fact");
    };
    let size = match kind {
        EntryKind::Dir => sizd.or(size),
        EntryKind::File | EntryKind::Symlink => size,
    };
    Line::Entry(RemoteEntry {
        name: name.to_string(),
        kind,
        size: size.unwrap_or(0),
        mtime: mtime.unwrap_or(UNIX_EPOCH),
        perm,
        link_target,
    })
}

enum MlsdType {
    Entry(EntryKind, Option<String>),
    SelfOrParent,
    Unknown,
}

fn mlsd_type(value: &str) -> MlsdType {
    let lower = value.to_ascii_lowercase();
    match lower.as_str() {
        "file" => return MlsdType::Entry(EntryKind::File, None),
        "dir" => return MlsdType::Entry(EntryKind::Dir, None),
        "cdir" | "pdir" => return MlsdType::SelfOrParent,
        "link" => return MlsdType::Entry(EntryKind::Symlink, None),
        _ => {}
    }
    // ProFTPD and others: `OS.unix=slink:/target`, `OS.unix=symlink`.
    for prefix in ["os.unix=slink", "os.unix=symlink"] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            if rest.is_empty() || rest.starts_with(':') {
                // ASCII lowercasing keeps byte offsets, so this slice of the original (to keep
                // the target's case) falls on a character boundary.
                let target = value
                    .get(prefix.len()..)
                    .and_then(|t| t.strip_prefix(':'))
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                return MlsdType::Entry(EntryKind::Symlink, target);
            }
        }
    }
    MlsdType::Unknown
}

/// `0644`, `755`, `100644` (with the file type bits, as pure-ftpd and others send): octal, of
/// which we keep the permission bits only (no setuid/setgid/sticky).
fn unix_mode(value: &str) -> Option<u16> {
    if value.is_empty() || value.len() > 11 || !value.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let mode = u64::from_str_radix(value, 8).ok()?;
    u16::try_from(mode & 0o777).ok()
}

/// The time in an MDTM reply (`213 YYYYMMDDHHMMSS[.fraction]`), UTC by RFC 3659.
pub fn mdtm_reply_time(reply: &str) -> Option<SystemTime> {
    mlsd_time(reply.trim().strip_prefix("213")?.trim())
}

/// `YYYYMMDDHHMMSS[.fraction]`, UTC by RFC 3659.
fn mlsd_time(value: &str) -> Option<SystemTime> {
    let (whole, fraction) = match value.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (value, None),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All ASCII digits, so every slice below falls on a character boundary.
    let year: i64 = parse_digits(&whole[0..4], 4, 4)?;
    let month: u32 = parse_digits(&whole[4..6], 2, 2)?;
    let day: u32 = parse_digits(&whole[6..8], 2, 2)?;
    let hour: u32 = parse_digits(&whole[8..10], 2, 2)?;
    let minute: u32 = parse_digits(&whole[10..12], 2, 2)?;
    let second: u32 = parse_digits(&whole[12..14], 2, 2)?;
    let nanos = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            // Digits past nanoseconds are dropped; fewer are scaled up ("123" = 123 ms).
            let digits = &f[..f.len().min(9)];
            let scale = 10u32.pow(9 - u32::try_from(digits.len()).ok()?);
            digits.parse::<u32>().ok()? * scale
        }
        Some(_) => return None,
    };
    system_time(utc_seconds(year, month, day, hour, minute, second)?, nanos)
}

// ---------------------------------------------------------------------------------------------
// Dates (chrono is not a dependency of this crate, and these few lines are all we need)

/// A number of `min..=max` ASCII digits (no sign, unlike `str::parse`).
fn parse_digits<T: std::str::FromStr>(text: &str, min: usize, max: usize) -> Option<T> {
    if text.len() < min || text.len() > max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of `days_from_civil`: (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=31, 1..=12).
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// Seconds since the epoch of a UTC date and time, or None if it does not exist. A leap second
/// (`:60`) is allowed and lands on the next minute.
fn utc_seconds(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<i64> {
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second))
}

/// A time as MFMT and MDTM write it: `YYYYMMDDHHMMSS`, UTC, whole seconds.
pub fn mdtm_time(time: SystemTime) -> String {
    let secs = unix_seconds(time);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let in_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// Signed seconds since the epoch (times before 1970 are negative).
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The `SystemTime` of signed epoch seconds; dates before 1970 are kept, not clamped.
fn system_time(secs: i64, nanos: u32) -> Option<SystemTime> {
    let base = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))?
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))?
    };
    base.checked_add(Duration::from_nanos(u64::from(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdtm_replies_give_utc_times() {
        let t = mdtm_reply_time("213 20261201085522").unwrap();
        assert_eq!(mdtm_time(t), "20261201085522");
        assert!(mdtm_reply_time("213 20261201085522.250").is_some());
        assert_eq!(mdtm_reply_time("550 no such file"), None);
        assert_eq!(mdtm_reply_time("213 yesterday"), None);
    }

    /// 2026-12-01 12:00:00 UTC, the clock of most `LIST` cases.
    const NOW: i64 = 1_796_126_400;

    fn at(secs: i64) -> SystemTime {
        system_time(secs, 0).expect("test time in range")
    }

    #[test]
    fn mdtm_time_round_trips_with_the_mlsd_parser() {
        assert_eq!(mdtm_time(at(NOW)), "20261201120000");
        assert_eq!(mdtm_time(at(0)), "19700101000000");
        let t = at(1_234_567_890);
        assert_eq!(mlsd_time(&mdtm_time(t)), Some(t));
    }

    fn list(line: &str) -> Option<RemoteEntry> {
        list_at(line, NOW)
    }

    fn list_at(line: &str, now: i64) -> Option<RemoteEntry> {
        match list_line(line, at(now)) {
            Line::Entry(e) => Some(e),
            Line::Ignored | Line::Skipped(_) => None,
        }
    }

    fn entry(
        name: &str,
        kind: EntryKind,
        size: u64,
        mtime: i64,
        perm: Option<u16>,
        link_target: Option<&str>,
    ) -> RemoteEntry {
        RemoteEntry {
            name: name.to_string(),
            kind,
            size,
            mtime: at(mtime),
            perm,
            link_target: link_target.map(str::to_string),
        }
    }

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|l| l.to_string()).collect()
    }

    // --- LIST, POSIX servers ---

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

    #[test]
    fn ls_time_edge_cases() {
        // Feb 29 without a year, in a non-leap year: the last leap year's.
        let mar_10 = at(1_773_100_800); // 2026-03-10 00:00 UTC
        assert_eq!(
            ls_time("Feb", "29", "12:00", mar_10),
            Some(at(1_709_208_000))
        );
        assert_eq!(ls_time("Feb", "30", "12:00", mar_10), None);
        assert_eq!(ls_time("Foo", "1", "12:00", mar_10), None);
        assert_eq!(ls_time("Jan", "1", "24:00", mar_10), None);
        assert_eq!(ls_time("Jan", "1", "+1:00", mar_10), None);
        assert_eq!(ls_time("Dec", "31", "1999", mar_10), Some(at(946_598_400)));
    }

    // --- LIST, DOS/IIS ---

    #[test]
    fn iis_directory_two_digit_year() {
        assert_eq!(
            list("11-22-26  02:21PM       <DIR>          My Folder"),
            Some(entry(
                "My Folder",
                EntryKind::Dir,
                0,
                1_795_357_260,
                None,
                None
            ))
        );
    }

    #[test]
    fn iis_file_four_digit_year() {
        assert_eq!(
            list("01-05-2020  10:00AM              1234 file name.txt"),
            Some(entry(
                "file name.txt",
                EntryKind::File,
                1234,
                1_578_218_400, // 2020-01-05 10:00 UTC
                None,
                None
            ))
        );
    }

    #[test]
    fn iis_time_variants() {
        let e = list("12-31-99  11:59PM             1,234 old.txt").unwrap();
        assert_eq!((e.size, e.mtime), (1234, at(946_684_740))); // 1999-12-31 23:59
        let e = list("01-01-00  12:00AM                 0 midnight").unwrap();
        assert_eq!(e.mtime, at(946_684_800)); // 2000-01-01 00:00
        let e = list("01-01-2000  12:00 PM              5 noon").unwrap();
        assert_eq!((e.name.as_str(), e.mtime), ("noon", at(946_728_000)));
    }

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

    // --- MLSD ---

    #[test]
    fn libunftp_mlsd() {
        assert_eq!(
            parse_mlsd_line("type=file;size=14;modify=20261122142100; a.bin"),
            Some(entry(
                "a.bin",
                EntryKind::File,
                14,
                1_795_357_260,
                None,
                None
            ))
        );
    }

    #[test]
    fn pure_ftpd_and_proftpd_mlsd_with_unix_facts() {
        assert_eq!(
            parse_mlsd_line(
                "type=file;size=14;modify=20261122142100;UNIX.mode=0644;UNIX.uid=1000;\
                 UNIX.gid=1000;unique=803g1a2b; x.bin"
            ),
            Some(entry(
                "x.bin",
                EntryKind::File,
                14,
                1_795_357_260,
                Some(0o644),
                None
            ))
        );
        assert_eq!(
            parse_mlsd_line(
                "modify=20200101000000;perm=flcdmpe;type=dir;unique=FD00U1A;UNIX.group=0;\
                 UNIX.mode=0755;UNIX.owner=0; old dir"
            ),
            Some(entry(
                "old dir",
                EntryKind::Dir,
                0,
                1_577_836_800,
                Some(0o755),
                None
            ))
        );
        let e = parse_mlsd_line("type=file;size=1;unix.mode=100644; m").unwrap();
        assert_eq!(e.perm, Some(0o644));
        let e = parse_mlsd_line("type=file;size=1;unix.mode=4755; m").unwrap();
        assert_eq!(e.perm, Some(0o755));
        let e = parse_mlsd_line("type=file;size=1;unix.mode=755; m").unwrap();
        assert_eq!(e.perm, Some(0o755));
        for bad in ["abc", "+644", "", "0689"] {
            let line = format!("type=file;size=1;unix.mode={bad}; m");
            assert_eq!(parse_mlsd_line(&line).unwrap().perm, None, "{bad:?}");
        }
    }

    #[test]
    fn mlsd_facts_are_case_insensitive_and_fractions_kept() {
        let e = parse_mlsd_line("Type=FILE;Size=5;Modify=20200101000000.123; Upper.TXT").unwrap();
        assert_eq!(
            (e.name.as_str(), e.kind, e.size),
            ("Upper.TXT", EntryKind::File, 5)
        );
        assert_eq!(e.mtime, at(1_577_836_800) + Duration::from_millis(123));
        let e = parse_mlsd_line("type=file;modify=20200101000000.1234567891; f").unwrap();
        assert_eq!(
            e.mtime,
            at(1_577_836_800) + Duration::from_nanos(123_456_789)
        );
    }

    #[test]
    fn mlsd_cdir_and_pdir_are_dropped() {
        assert_eq!(
            parse_mlsd_line("type=cdir;modify=20261122142100; /home/u"),
            None
        );
        assert_eq!(
            parse_mlsd_line("type=pdir;modify=20261122142100; /home"),
            None
        );
        assert_eq!(parse_mlsd_line("type=CDir; ."), None);
        let listing = lines(&[
            "type=cdir;sizd=4096;modify=20261122142100; .",
            "type=pdir;sizd=4096;modify=20261122142100; ..",
            "type=dir;sizd=4096;modify=20261122142100; sub",
            "type=dir;modify=20261122142100; ..",
        ]);
        let entries = parse_listing(&listing, ListFormat::Mlsd);
        assert_eq!(
            entries,
            vec![entry(
                "sub",
                EntryKind::Dir,
                4096,
                1_795_357_260,
                None,
                None
            )]
        );
    }

    #[test]
    fn mlsd_symlinks() {
        assert_eq!(
            parse_mlsd_line("type=OS.unix=slink:/x;size=1;modify=20261122142100; l"),
            Some(entry(
                "l",
                EntryKind::Symlink,
                1,
                1_795_357_260,
                None,
                Some("/x")
            ))
        );
        let e = parse_mlsd_line("type=OS.unix=slink:/My Target;size=1; my link").unwrap();
        assert_eq!(
            (e.name.as_str(), e.link_target.as_deref()),
            ("my link", Some("/My Target"))
        );
        let e = parse_mlsd_line("type=OS.unix=symlink;size=1; l2").unwrap();
        assert_eq!((e.kind, e.link_target), (EntryKind::Symlink, None));
        let e = parse_mlsd_line("type=os.UNIX=slink:; l3").unwrap();
        assert_eq!((e.kind, e.link_target), (EntryKind::Symlink, None));
        let e = parse_mlsd_line("type=link; l4").unwrap();
        assert_eq!(e.kind, EntryKind::Symlink);
    }

    #[test]
    fn mlsd_names_and_defaults() {
        // The name keeps its own "; " and leading spaces.
        let e = parse_mlsd_line("type=file;size=14; name; with; semicolons").unwrap();
        assert_eq!(e.name, "name; with; semicolons");
        let e = parse_mlsd_line("type=file;size=14;  lead").unwrap();
        assert_eq!(e.name, " lead");
        // No modify: the epoch. A bad one: the epoch too.
        let e = parse_mlsd_line("type=file;size=3; nomod").unwrap();
        assert_eq!(e.mtime, UNIX_EPOCH);
        let e = parse_mlsd_line("type=file;size=3;modify=20261399000000; badmod").unwrap();
        assert_eq!(e.mtime, UNIX_EPOCH);
        // Sloppy: no ';' before the space.
        let e = parse_mlsd_line("type=file;size=3 sloppy").unwrap();
        assert_eq!((e.name.as_str(), e.size), ("sloppy", 3));
        // sizd for a directory, size for a file.
        assert_eq!(
            parse_mlsd_line("type=dir;sizd=512;size=1; d").unwrap().size,
            512
        );
        assert_eq!(
            parse_mlsd_line("type=file;sizd=512;size=1; f")
                .unwrap()
                .size,
            1
        );
    }

    #[test]
    fn mlsd_garbage_is_skipped() {
        for line in [
            "",
            "garbage",
            "type=file;size=abc; bad size",
            "type=OS.unix=chr-13/29; tty",
            "type=OS.unix=slinky; odd",
            "size=5; no type",
            " no facts",
            "type=file;size=14; ",
            "-rw-r--r-- 1 0 0 1 Nov 22 14:21 f",
        ] {
            assert_eq!(parse_mlsd_line(line), None, "{line:?}");
        }
    }

    // --- names and whole listings ---

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

    #[test]
    fn date_helpers_round_trip() {
        for days in [-719_468, -1, 0, 1, 10_957, 20_779, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{days}");
        }
        assert_eq!(unix_seconds(at(-315_619_200)), -315_619_200);
        assert_eq!(utc_seconds(2026, 2, 29, 0, 0, 0), None);
        assert_eq!(utc_seconds(2024, 2, 29, 0, 0, 0), Some(1_709_164_800));
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
            let _ = mlsd_line(input);
            let _ = valid_name(input);
            let _ = strip_mode_marker(input);
            let _ = shorten_dos_year(input);
        }
        let _ = parse_listing(&inputs, ListFormat::List);
        let _ = parse_listing(&inputs, ListFormat::Mlsd);
    }
}
