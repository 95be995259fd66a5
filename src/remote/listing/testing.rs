//! Helpers shared by the unit tests of the listing parsers: a fixed clock, epoch seconds as
//! `SystemTime`s, one `LIST` line parsed at a given time, expected entries, and listings.

use std::time::SystemTime;

use super::time::system_time;
use super::{list_line, Line};
use crate::remote::{EntryKind, RemoteEntry};

/// 2026-12-01 12:00:00 UTC, the clock of most `LIST` cases.
pub(super) const NOW: i64 = 1_796_126_400;

pub(super) fn at(secs: i64) -> SystemTime {
    system_time(secs, 0).expect("test time in range")
}

pub(super) fn list(line: &str) -> Option<RemoteEntry> {
    list_at(line, NOW)
}

pub(super) fn list_at(line: &str, now: i64) -> Option<RemoteEntry> {
    match list_line(line, at(now)) {
        Line::Entry(e) | Line::Versioned(e, _) => Some(e),
        Line::Ignored | Line::Skipped(_) => None,
    }
}

pub(super) fn entry(
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

pub(super) fn lines(text: &[&str]) -> Vec<String> {
    text.iter().map(|l| l.to_string()).collect()
}

/// The entry a parser's `Line` holds, if any.
pub(super) fn entry_of(line: Line) -> Option<RemoteEntry> {
    match line {
        Line::Entry(e) | Line::Versioned(e, _) => Some(e),
        Line::Ignored | Line::Skipped(_) => None,
    }
}

/// Name, kind and size of each entry, for comparing whole listings.
pub(super) fn summary(entries: &[RemoteEntry]) -> Vec<(&str, EntryKind, u64)> {
    entries
        .iter()
        .map(|e| (e.name.as_str(), e.kind, e.size))
        .collect()
}
