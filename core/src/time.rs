//! Calendar arithmetic and the date formats of the seeds (digest §10), without a clock.
//!
//! Internal time is UTC seconds ([`Timestamp`]). Displays use the device's configured zone,
//! a fixed offset with a name (`clock timezone IST 5 30`): no DST rules (GAP-36, ADR 0004).

use core::fmt;
use heapless::String;
use serde::{Deserialize, Serialize};
pub use tally_hal::{SECS_PER_DAY, Timestamp};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A named fixed UTC offset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeZone {
    pub name: String<8>,
    pub offset_secs: i32,
}

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone::utc()
    }
}

impl TimeZone {
    pub fn utc() -> Self {
        let mut name = String::new();
        let _ = name.push_str("UTC");
        TimeZone {
            name,
            offset_secs: 0,
        }
    }

    /// `clock timezone <name> <hours> [<minutes>]`; hours in -23..=23, minutes in 0..=59.
    pub fn new(name: &str, hours: i32, minutes: i32) -> Option<Self> {
        if !(-23..=23).contains(&hours) || !(0..=59).contains(&minutes) || name.is_empty() {
            return None;
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let mut n = String::new();
        n.push_str(name).ok()?;
        let sign = if hours < 0 { -1 } else { 1 };
        Some(TimeZone {
            name: n,
            offset_secs: hours * 3600 + sign * minutes * 60,
        })
    }
}

/// Broken-down civil time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil time of `t` in `tz`.
pub fn civil(t: Timestamp, tz: &TimeZone) -> Civil {
    // Held at Timestamp::LATEST: a time from outside can be any u64.
    let local = t.min(Timestamp::LATEST).0 as i64 + i64::from(tz.offset_secs);
    let days = local.div_euclid(SECS_PER_DAY as i64);
    let secs = local.rem_euclid(SECS_PER_DAY as i64) as u32;
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
    }
}

/// UTC timestamp of a local civil time in `tz`; `None` for impossible dates or times before 1970.
pub fn timestamp_of(c: Civil, tz: &TimeZone) -> Option<Timestamp> {
    if !(1..=12).contains(&c.month) || c.day == 0 || c.day > days_in_month(c.year, c.month) {
        return None;
    }
    if c.hour > 23 || c.minute > 59 || c.second > 59 {
        return None;
    }
    let days = days_from_civil(c.year, c.month, c.day);
    let local = days * SECS_PER_DAY as i64 + i64::from(c.hour * 3600 + c.minute * 60 + c.second);
    u64::try_from(local - i64::from(tz.offset_secs))
        .ok()
        .map(Timestamp)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn month_name(m: u32) -> &'static str {
    MONTHS
        .get(m.wrapping_sub(1) as usize)
        .copied()
        .unwrap_or("???")
}

/// `Nov 02 09:09:47 2020 IST`: the SLP show-output format.
#[derive(Debug)]
pub struct ShowTime<'a>(pub Timestamp, pub &'a TimeZone);

impl fmt::Display for ShowTime<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = civil(self.0, self.1);
        write!(
            f,
            "{} {:02} {:02}:{:02}:{:02} {} {}",
            month_name(c.month),
            c.day,
            c.hour,
            c.minute,
            c.second,
            c.year,
            self.1.name
        )
    }
}

/// `2020-11-02 09:09:47 IST`: event log and syslog timestamps (ADR 0005).
#[derive(Debug)]
pub struct LogTime<'a>(pub Timestamp, pub &'a TimeZone);

impl fmt::Display for LogTime<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = civil(self.0, self.1);
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
            c.year, c.month, c.day, c.hour, c.minute, c.second, self.1.name
        )
    }
}

/// `Option<Timestamp>` as a show value: the time, or `<none>`.
#[derive(Debug)]
pub struct ShowOpt<'a>(pub Option<Timestamp>, pub &'a TimeZone);

impl fmt::Display for ShowOpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => ShowTime(t, self.1).fmt(f),
            None => f.write_str("<none>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ist() -> TimeZone {
        TimeZone::new("IST", 5, 30).unwrap()
    }

    #[test]
    fn times_from_outside_never_overflow() {
        // A signed issue time of i64::MAX (found by the import fuzz target) or any u64 shows
        // as the latest time kept, in every zone.
        for t in [i64::MAX as u64, u64::MAX, Timestamp::LATEST.0 + 1] {
            for tz in [ist(), TimeZone::new("PST", -8, 0).unwrap(), TimeZone::utc()] {
                let shown = std::format!("{}", ShowTime(Timestamp(t), &tz));
                assert!(
                    shown.contains(" 9999 ") || shown.contains(" 10000 "),
                    "{shown}"
                );
            }
        }
        assert_eq!(
            std::format!("{}", ShowTime(Timestamp::LATEST, &TimeZone::utc())),
            "Dec 31 23:59:59 9999 UTC"
        );
    }

    #[test]
    fn civil_round_trips_over_centuries() {
        for days in (-800_000i64..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn formats_like_the_seeds() {
        // RUM-3: 1638055644 reads as 2021-11-27 23:27:24 UTC.
        let utc = TimeZone::utc();
        assert_eq!(
            std::format!("{}", ShowTime(Timestamp(1_638_055_644), &utc)),
            "Nov 27 23:27:24 2021 UTC"
        );
        let t = timestamp_of(
            Civil {
                year: 2020,
                month: 11,
                day: 2,
                hour: 9,
                minute: 9,
                second: 47,
            },
            &ist(),
        )
        .unwrap();
        assert_eq!(
            std::format!("{}", ShowTime(t, &ist())),
            "Nov 02 09:09:47 2020 IST"
        );
        assert_eq!(
            std::format!("{}", LogTime(t, &ist())),
            "2020-11-02 09:09:47 IST"
        );
        // POL-23 sample A: Nov 02 09:09:47 + 60 days = Jan 01 09:09:47 2021.
        assert_eq!(
            std::format!("{}", ShowTime(t.add_days(60), &ist())),
            "Jan 01 09:09:47 2021 IST"
        );
        assert_eq!(std::format!("{}", ShowOpt(None, &ist())), "<none>");
    }

    #[test]
    fn rejects_impossible_dates() {
        let utc = TimeZone::utc();
        assert!(
            timestamp_of(
                Civil {
                    year: 2021,
                    month: 2,
                    day: 29,
                    hour: 0,
                    minute: 0,
                    second: 0
                },
                &utc
            )
            .is_none()
        );
        assert!(
            timestamp_of(
                Civil {
                    year: 2020,
                    month: 2,
                    day: 29,
                    hour: 0,
                    minute: 0,
                    second: 0
                },
                &utc
            )
            .is_some()
        );
        assert!(
            timestamp_of(
                Civil {
                    year: 1969,
                    month: 12,
                    day: 31,
                    hour: 0,
                    minute: 0,
                    second: 0
                },
                &utc
            )
            .is_none()
        );
        assert!(TimeZone::new("PST", -8, 0).is_some());
        assert!(TimeZone::new("BAD ZONE", 0, 0).is_none());
        assert!(TimeZone::new("X", 24, 0).is_none());
    }
}
