//! `MLSD` lines (RFC 3659: `fact=value;fact=value; name`): a small fact parser of our own, because
//! suppaftp's rejects facts that real servers send (`unix.mode=100644`,
//! `type=OS.unix=slink:/target`). Facts are case-insensitive; `cdir`/`pdir` are not entries.

use std::time::UNIX_EPOCH;

use log::debug;

use super::time::time_val;
use super::Line;
use crate::remote::{EntryKind, RemoteEntry};

/// One MLSD line: an entry, the directory itself or its parent (`cdir`/`pdir`, ignored), or a line
/// we cannot use.
pub(super) fn mlsd_line(line: &str) -> Line {
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
                mtime = time_val(value);
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use crate::remote::listing::testing::{at, entry, lines};
    use crate::remote::listing::{parse_listing, parse_mlsd_line, ListFormat};
    use crate::remote::EntryKind;

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
}
