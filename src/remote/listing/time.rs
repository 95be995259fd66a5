//! Dates and times of listings and replies: the civil-date arithmetic (proleptic Gregorian, UTC)
//! that turns a date and time into epoch seconds and back, the RFC 3659 `time-val` of MLSD facts
//! and MDTM replies (`YYYYMMDDHHMMSS[.fraction]`, which MFMT takes too), and the `ls`-style dates of
//! `LIST` lines (`Nov 22 14:21`, `Jan 01  2020`) with the year that a recent date leaves out.
//! chrono is not a dependency of this crate, and these few functions are all we need.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::months::month_number;

/// A `HH:MM` date in a `LIST` line may lie at most this far in the future. GNU `ls` and vsftpd print
/// the time instead of the year for files from the last ~182 days (BSD `ls` also for files up to
/// ~182 days ahead), so the same date a year later is at least ~183 days ahead and never chosen;
/// 180 rather than 182 days leaves room for the server's time zone, read as UTC.
const RECENT_FUTURE_LIMIT: i64 = 180 * 86_400;

/// `Nov 22 14:21` or `Jan 01 2020` (or a localized month, see `months`), read as UTC (the server's zone is unknown). A date without a
/// year is the most recent such date at most `RECENT_FUTURE_LIMIT` ahead of `now`: this year's or
/// last year's, but next year's just after New Year when the server's clock is ahead of ours, and
/// for `Feb 29` the last leap year's.
pub(super) fn ls_time(
    month: &str,
    day: &str,
    time_or_year: &str,
    now: SystemTime,
) -> Option<SystemTime> {
    recent_or_dated(
        month_number(month)?,
        parse_digits(day, 1, 2)?,
        time_or_year,
        now,
    )
}

/// Month `month`, day `day`, and `HH:MM` (the most recent such date, as `ls_time` says) or a
/// four-digit year.
pub(super) fn recent_or_dated(
    month: u32,
    day: u32,
    time_or_year: &str,
    now: SystemTime,
) -> Option<SystemTime> {
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

/// The time in an MDTM reply (`213 YYYYMMDDHHMMSS[.fraction]`), UTC by RFC 3659.
pub fn mdtm_reply_time(reply: &str) -> Option<SystemTime> {
    time_val(reply.trim().strip_prefix("213")?.trim())
}

/// RFC 3659's `time-val`, UTC: `YYYYMMDDHHMMSS[.fraction]` (MLSD `modify` facts, MDTM replies).
pub(super) fn time_val(value: &str) -> Option<SystemTime> {
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

/// A number of `min..=max` ASCII digits (no sign, unlike `str::parse`).
pub(super) fn parse_digits<T: std::str::FromStr>(text: &str, min: usize, max: usize) -> Option<T> {
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
pub(super) fn utc_seconds(
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
pub(super) fn system_time(secs: i64, nanos: u32) -> Option<SystemTime> {
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
    use crate::remote::listing::testing::{at, NOW};

    #[test]
    fn mdtm_replies_give_utc_times() {
        let t = mdtm_reply_time("213 20261201085522").unwrap();
        assert_eq!(mdtm_time(t), "20261201085522");
        assert!(mdtm_reply_time("213 20261201085522.250").is_some());
        assert_eq!(mdtm_reply_time("550 no such file"), None);
        assert_eq!(mdtm_reply_time("213 yesterday"), None);
    }

    #[test]
    fn mdtm_time_round_trips_with_the_mlsd_parser() {
        assert_eq!(mdtm_time(at(NOW)), "20261201120000");
        assert_eq!(mdtm_time(at(0)), "19700101000000");
        let t = at(1_234_567_890);
        assert_eq!(time_val(&mdtm_time(t)), Some(t));
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
}
