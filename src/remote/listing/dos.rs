//! `LIST` lines of DOS and IIS servers (`11-22-26  02:21PM  <DIR>  name`): suppaftp's DOS parser,
//! with a retry for four-digit years (which its regex rejects) and our own reading of the date, as
//! UTC, with `AM`/`PM` next to the time or apart from it. DOS listings carry no permissions.

use std::time::SystemTime;

use suppaftp::list::{File, ListParser};

use super::kind_of;
use super::time::{parse_digits, system_time, utc_seconds};
use crate::remote::RemoteEntry;

/// One DOS/IIS line, or None if neither it nor its two-digit-year form parses.
pub(super) fn parse_line(line: &str) -> Option<RemoteEntry> {
    if let Ok(file) = ListParser::parse_dos(line) {
        return Some(dos_entry(line, &file));
    }
    let shortened = shorten_dos_year(line)?;
    let file = ListParser::parse_dos(&shortened).ok()?;
    Some(dos_entry(line, &file))
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
pub(super) fn shorten_dos_year(line: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use crate::remote::listing::testing::{at, entry, list};
    use crate::remote::EntryKind;

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
}
