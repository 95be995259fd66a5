//! IBM MVS and z/OS listings of datasets and of the members of a partitioned dataset (PDS), as
//! the z/OS FTP server sends them for an MVS (not z/OS UNIX) working directory:
//!
//! - datasets: `Volume Unit Referred Ext Used Recfm Lrecl BlkSz Dsorg Dsname`, as in `WYOSPT 3420
//!   2003/05/21 1 200 FB 80 8053 PS ALICE.DATA`; a `PO` (or `PO-E`) dataset is partitioned, a
//!   directory of members; tape, VSAM and migrated datasets come with most fields left out;
//! - members with statistics: `Name VV.MM Created Changed Size Init Mod Id`, as in `ALLOCS 01.03
//!   2002/10/01 2002/10/01 06:38 9 9 0 ALICE`;
//! - load-module members: `NAME 00B308 000411 00 FO ...`, whose second field is the size in bytes
//!   in hexadecimal;
//! - members without statistics: the bare name. A line of one word could be anything on another
//!   server, so it is taken only where the mount knows its server is MVS (`SYST`, or an earlier
//!   listing).
//!
//! Sizes: a dataset's size is not in its line (only tracks used) and a member's `Size` counts
//! records, not bytes, so both are listed as 0; only load modules have a byte size.

use super::time::{parse_digits, system_time, utc_seconds};
use super::Line;
use crate::remote::{EntryKind, RemoteEntry};
use std::time::SystemTime;

/// One MVS line; `bare_members`: whether a one-word line is a member name.
pub(super) fn parse_line(line: &str, bare_members: bool) -> Line {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => Line::Ignored,
        ["Volume", "Unit", ..] | ["Name", "VV.MM", ..] | ["Name", "Size", "TTR", ..] => {
            Line::Ignored
        }
        ["Migrated", name] => entry(name, EntryKind::File, 0, None),
        [volume, unit, rest @ ..] if is_volume(volume) && is_unit(unit) => dataset(unit, rest),
        [name, vv_mm, created, changed, clock, ..]
            if is_version(vv_mm) && slashed_date(created).is_some() =>
        {
            let mtime = slashed_date(changed).and_then(|(y, m, d)| {
                let (hour, minute) = clock.split_once(':')?;
                let seconds = utc_seconds(
                    y,
                    m,
                    d,
                    parse_digits(hour, 1, 2)?,
                    parse_digits(minute, 2, 2)?,
                    0,
                )?;
                system_time(seconds, 0)
            });
            entry(name, EntryKind::File, 0, mtime)
        }
        [name, size, ttr, ..] if is_hex6(size) && is_hex6(ttr) => {
            let size = u64::from_str_radix(size, 16).unwrap_or(0);
            entry(name, EntryKind::File, size, None)
        }
        [name] if bare_members => entry(name, EntryKind::File, 0, None),
        _ => Line::Skipped("not an MVS dataset or member line"),
    }
}

/// The fields of a dataset line after volume and unit.
fn dataset(unit: &str, rest: &[&str]) -> Line {
    match rest {
        [name] if unit.eq_ignore_ascii_case("Tape") => entry(name, EntryKind::File, 0, None),
        ["VSAM", name] => entry(name, EntryKind::File, 0, None),
        [referred, .., dsorg, name] if rest.len() >= 4 => {
            let date = if *referred == "**NONE**" {
                None
            } else {
                match slashed_date(referred) {
                    Some(d) => Some(d),
                    None => return Line::Skipped("an MVS dataset line without a date"),
                }
            };
            let kind = match *dsorg {
                "PO" | "PO-E" => EntryKind::Dir,
                _ => EntryKind::File,
            };
            let mtime = date
                .and_then(|(y, m, d)| utc_seconds(y, m, d, 0, 0, 0))
                .and_then(|s| system_time(s, 0));
            entry(name, kind, 0, mtime)
        }
        _ => Line::Skipped("an MVS dataset line of an unknown form"),
    }
}

fn entry(name: &str, kind: EntryKind, size: u64, mtime: Option<SystemTime>) -> Line {
    Line::Entry(RemoteEntry {
        name: name.to_string(),
        kind,
        size,
        mtime: mtime.unwrap_or(SystemTime::UNIX_EPOCH),
        perm: None,
        link_target: None,
    })
}

/// A volume serial: one to six letters, digits, `#`, `@` or `$`.
fn is_volume(word: &str) -> bool {
    (1..=6).contains(&word.len())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "#@$".contains(c))
}

/// A device type: four digits (`3390`, `3420`) or `Tape`.
fn is_unit(word: &str) -> bool {
    parse_digits::<u32>(word, 4, 4).is_some() || word.eq_ignore_ascii_case("Tape")
}

/// `01.03`: a member's version and modification level.
fn is_version(word: &str) -> bool {
    matches!(word.split_once('.'), Some((v, m)) if parse_digits::<u32>(v, 2, 2).is_some()
        && parse_digits::<u32>(m, 2, 2).is_some())
}

fn is_hex6(word: &str) -> bool {
    word.len() == 6 && word.chars().all(|c| c.is_ascii_hexdigit())
}

/// `2003/05/21`.
fn slashed_date(word: &str) -> Option<(i64, u32, u32)> {
    let mut parts = word.split('/');
    let year = parse_digits(parts.next()?, 4, 4)?;
    let month = parse_digits(parts.next()?, 2, 2)?;
    let day = parse_digits(parts.next()?, 2, 2)?;
    utc_seconds(year, month, day, 0, 0, 0)?;
    parts.next().is_none().then_some((year, month, day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::listing::testing::{at, entry as expect, entry_of};

    fn mvs(line: &str, bare: bool) -> Option<RemoteEntry> {
        entry_of(parse_line(line, bare))
    }

    /// FileZilla's example lines.
    #[test]
    fn datasets() {
        let cases = [
            (
                "WYOSPT 3420   2003/05/21  1  200  FB      80  8053  PS  60-MVS.FILE",
                "60-MVS.FILE",
                EntryKind::File,
                1_053_475_200,
            ),
            (
                "WPTA01 3290   2004/03/04  1    3  FB      80  3125  PO  61-MVS.DATASET",
                "61-MVS.DATASET",
                EntryKind::Dir,
                1_078_358_400,
            ),
            (
                "NRP004 3390   **NONE**    1   15  NONE     0     0  PO  62-MVS-NONEDATE.DATASET",
                "62-MVS-NONEDATE.DATASET",
                EntryKind::Dir,
                0,
            ),
            (
                "TSO005 3390   2005/06/06 213000 U 0 27998 PO 63-MVS.DATASET",
                "63-MVS.DATASET",
                EntryKind::Dir,
                1_118_016_000,
            ),
            (
                "TSO004 3390   VSAM 64-mvs-file",
                "64-mvs-file",
                EntryKind::File,
                0,
            ),
            (
                "V43525 Tape                                             73-MSV-TAPE.FILE",
                "73-MSV-TAPE.FILE",
                EntryKind::File,
                0,
            ),
            (
                "WYOSPT 3420   2003/05/21  1 ????  FB      80  8053  PS  79-MVS.FILE",
                "79-MVS.FILE",
                EntryKind::File,
                1_053_475_200,
            ),
            (
                "GISBWI 3390   2011/08/25  2 ++++  FB     904 18080  PS  80-MVS.FILE",
                "80-MVS.FILE",
                EntryKind::File,
                1_314_230_400,
            ),
            (
                "WYOSPT 3420   2003/05/21  1 3 U 6447    6447  PO-E 81-MVS.DIR",
                "81-MVS.DIR",
                EntryKind::Dir,
                1_053_475_200,
            ),
            (
                "Migrated\t\t\t\t69-SOME.FILE",
                "69-SOME.FILE",
                EntryKind::File,
                0,
            ),
        ];
        for (line, name, kind, mtime) in cases {
            assert_eq!(
                mvs(line, false),
                Some(expect(name, kind, 0, mtime, None, None)),
                "{line:?}"
            );
        }
    }

    #[test]
    fn members() {
        assert_eq!(
            mvs(
                "66-MVSPDSMEMBER 01.01 2004/06/22 2004/06/22 16:32   128   128    0 BOBY12",
                false
            ),
            Some(expect(
                "66-MVSPDSMEMBER",
                EntryKind::File,
                0,
                1_087_921_920,
                None,
                None
            ))
        );
        let e = mvs(
            "67-MVSPDSMEMBER2 00B308 000411  00 FO                31    ANY",
            false,
        )
        .unwrap();
        assert_eq!((e.name.as_str(), e.size), ("67-MVSPDSMEMBER2", 45_832));
        let e = mvs(
            "68-MVSPDSMEMBER3 00B308 000411  00 FO        RU      ANY    24",
            false,
        )
        .unwrap();
        assert_eq!((e.name.as_str(), e.size), ("68-MVSPDSMEMBER3", 45_832));
        // A bare member name only where the server is known to be MVS.
        assert_eq!(mvs("65-MVS-PDS-MEMBER", false), None);
        assert_eq!(
            mvs("65-MVS-PDS-MEMBER", true),
            Some(expect(
                "65-MVS-PDS-MEMBER",
                EntryKind::File,
                0,
                0,
                None,
                None
            ))
        );
        assert_eq!(
            mvs(
                "ALLOCS 01.03 2002/10/01 2002/10/01 06:38 9 9 0 ALICE",
                false
            )
            .unwrap()
            .mtime,
            at(1_033_454_280)
        );
    }

    #[test]
    fn headers_and_other_lines() {
        for line in [
            "Volume Unit    Referred Ext Used Recfm Lrecl BlkSz Dsorg Dsname",
            " Name     VV.MM   Created       Changed      Size  Init   Mod   Id",
            " Name      Size     TTR   Alias-of AC --------- Attributes --------- Amode Rmode",
        ] {
            assert!(matches!(parse_line(line, true), Line::Ignored), "{line:?}");
        }
        for line in [
            "-rw-r--r-- 1 0 0 1 Nov 22 14:21 f",
            "WYOSPT 3420   2003/13/21  1  200  FB      80  8053  PS  BAD.DATE",
            "TOOLONGVOL 3390 2003/05/21 1 200 FB 80 8053 PS X",
            "two words",
        ] {
            assert!(
                matches!(parse_line(line, true), Line::Skipped(_)),
                "{line:?}"
            );
        }
    }
}
