//! The time zone of `LIST` dates. Many servers list their local time, with minutes only; `MLSD`
//! and `MDTM` are UTC. While the offset is unknown, one recently changed file of a listing is
//! asked for its `MDTM`, and the difference, rounded to a quarter hour, is the offset from then on
//! (one `MDTM` per mount). `ListTimes` keeps it and corrects every `LIST` time by it.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use log::{debug, info};

use crate::remote::{join, EntryKind, RemoteEntry, RemoteResult};

/// Listings searched for a recently changed file before the offset is taken as 0.
const OFFSET_TRIES: u32 = 8;
/// A LIST date with a time of day is one of the last six months (older ones show the year).
const RECENT: Duration = Duration::from_secs(170 * 86_400);
/// Real time zones are whole quarter hours from UTC, between -12 and +14 hours.
const QUARTER_HOUR: i64 = 900;
const MAX_OFFSET: i64 = 14 * 3600;

/// What `LIST` times are corrected by.
pub struct ListTimes {
    /// How far the server's LIST times are ahead of UTC, in seconds.
    offset: AtomicI64,
    /// Listings still to look at for a recently changed file (0: the offset is settled).
    tries: AtomicU32,
}

impl Default for ListTimes {
    fn default() -> Self {
        ListTimes {
            offset: AtomicI64::new(0),
            tries: AtomicU32::new(OFFSET_TRIES),
        }
    }
}

impl ListTimes {
    /// `entries` of directory `dir` (a LIST listing) with the server's offset from UTC taken
    /// out, once it is known; `mdtm` asks a file's UTC time while it is not.
    pub fn correct(
        &self,
        dir: &str,
        mut entries: Vec<RemoteEntry>,
        mdtm: impl FnOnce(&str) -> RemoteResult<SystemTime>,
    ) -> Vec<RemoteEntry> {
        if self.tries.load(Ordering::Relaxed) > 0 {
            self.learn(dir, &entries, mdtm);
        }
        let offset = self.offset.load(Ordering::Relaxed);
        if offset != 0 {
            let shift = Duration::from_secs(offset.unsigned_abs());
            for e in &mut entries {
                e.mtime = if offset > 0 {
                    e.mtime.checked_sub(shift)
                } else {
                    e.mtime.checked_add(shift)
                }
                .unwrap_or(e.mtime);
            }
        }
        entries
    }

    fn learn(
        &self,
        dir: &str,
        entries: &[RemoteEntry],
        mdtm: impl FnOnce(&str) -> RemoteResult<SystemTime>,
    ) {
        let now = SystemTime::now();
        let recent = entries.iter().find(|e| {
            e.kind == EntryKind::File
                && now
                    .duration_since(e.mtime)
                    .or_else(|e| Ok::<_, ()>(e.duration()))
                    .is_ok_and(|age| age < RECENT)
        });
        let Some(file) = recent else {
            if self.tries.fetch_sub(1, Ordering::Relaxed) == 1 {
                debug!("no recently changed file to compare LIST and MDTM times: offset 0");
            }
            return;
        };
        let path = join(dir, &file.name);
        let offset = match mdtm(&path) {
            Ok(utc) => offset_between(file.mtime, utc),
            Err(e) => {
                debug!("MDTM {path} failed ({e}): LIST times are taken as UTC");
                Some(0)
            }
        };
        if self.tries.swap(0, Ordering::Relaxed) == 0 {
            return; // another listing settled it meanwhile
        }
        match offset {
            Some(0) | None => {}
            Some(secs) => {
                self.offset.store(secs, Ordering::Relaxed);
                info!(
                    "the server lists local time, {} from UTC (LIST against MDTM of {path}): \
                     LIST times are corrected",
                    utc_offset_text(secs)
                );
            }
        }
    }

    /// The offset (seconds ahead of UTC), once learned.
    pub fn offset(&self) -> Option<i64> {
        (self.tries.load(Ordering::Relaxed) == 0).then(|| self.offset.load(Ordering::Relaxed))
    }
}

/// The offset of LIST times from UTC, from a file's LIST time (local, minute resolution, read as
/// UTC) and its MDTM (UTC): the difference rounded to a quarter hour, or `None` if that is no real
/// time zone.
fn offset_between(listed: SystemTime, utc: SystemTime) -> Option<i64> {
    let diff = match listed.duration_since(utc) {
        Ok(ahead) => ahead.as_secs() as i64,
        Err(behind) => -(behind.duration().as_secs() as i64),
    };
    // LIST drops the seconds: the listed time is up to 59 s behind the true local time.
    let rounded = ((diff + 30) as f64 / QUARTER_HOUR as f64).round() as i64 * QUARTER_HOUR;
    (rounded.abs() <= MAX_OFFSET).then_some(rounded)
}

/// `+02:00`, `-03:30`, `+00:00`.
pub fn utc_offset_text(secs: i64) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let m = secs.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_offsets_are_whole_quarter_hours() {
        let utc = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + 42);
        // LIST drops the seconds: 42 s behind the true local time.
        let listed = |ahead: i64| {
            let local = if ahead >= 0 {
                utc + Duration::from_secs(ahead as u64)
            } else {
                utc - Duration::from_secs((-ahead) as u64)
            };
            local - Duration::from_secs(42)
        };
        assert_eq!(offset_between(listed(0), utc), Some(0));
        assert_eq!(offset_between(listed(7200), utc), Some(7200));
        assert_eq!(offset_between(listed(19_800), utc), Some(19_800)); // India, +05:30
        assert_eq!(offset_between(listed(-12_600), utc), Some(-12_600)); // Newfoundland, -03:30
        assert_eq!(offset_between(listed(20 * 3600), utc), None);
        assert_eq!(utc_offset_text(19_800), "+05:30");
        assert_eq!(utc_offset_text(-12_600), "-03:30");
        assert_eq!(utc_offset_text(0), "+00:00");
    }

    #[test]
    fn one_mdtm_settles_the_offset_for_every_listing() {
        let t = ListTimes::default();
        let now = SystemTime::now();
        let utc = now - Duration::from_secs(600);
        let entry = |mtime| RemoteEntry {
            name: "a.txt".into(),
            kind: EntryKind::File,
            size: 1,
            mtime,
            perm: None,
            link_target: None,
        };
        let listed = utc + Duration::from_secs(7200);
        let fixed = t.correct("/d", vec![entry(listed)], |path| {
            assert_eq!(path, "/d/a.txt");
            Ok(utc)
        });
        assert_eq!(fixed[0].mtime, utc);
        assert_eq!(t.offset(), Some(7200));
        let again = t.correct("/e", vec![entry(listed)], |_| panic!("asked twice"));
        assert_eq!(again[0].mtime, utc);
    }
}
