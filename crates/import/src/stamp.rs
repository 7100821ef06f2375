//! The time stamps of the formats, as milliseconds: UTC when the log gives an
//! offset, else the log's own wall clock (syslog's traditional stamps carry neither
//! year nor zone).

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// A moment in a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    /// Milliseconds since 1970-01-01 (UTC, or the log's wall clock: `offset` None).
    pub ms: i64,
    /// The log's UTC offset in minutes, when it gives one.
    pub offset: Option<i32>,
}

impl Stamp {
    /// The wall-clock date-time of the stamp (in its own offset), to the second,
    /// e.g. `2026-11-29T11:05:00` or `2026-11-29T11:05:00+01:00`.
    pub fn to_iso(self) -> String {
        let local_ms = self.ms + i64::from(self.offset.unwrap_or(0)) * 60_000;
        let dt = DateTime::from_timestamp_millis(local_ms)
            .map(|d| d.naive_utc())
            .unwrap_or_default();
        let text = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
        match self.offset {
            None => text,
            Some(0) => format!("{text}Z"),
            Some(m) => format!(
                "{text}{}{:02}:{:02}",
                if m < 0 { '-' } else { '+' },
                m.abs() / 60,
                m.abs() % 60
            ),
        }
    }

    /// The stamp at the start of its minute.
    pub fn floor_minute(self) -> Stamp {
        Stamp {
            ms: self.ms - self.ms.rem_euclid(60_000),
            offset: self.offset,
        }
    }

    fn naive(dt: NaiveDateTime) -> Stamp {
        Stamp {
            ms: dt.and_utc().timestamp_millis(),
            offset: None,
        }
    }
}

/// An RFC 3339 stamp (`2026-11-29T11:05:01.123456+01:00`, or `Z`).
pub fn rfc3339(text: &str) -> Option<Stamp> {
    let dt = DateTime::parse_from_rfc3339(text).ok()?;
    Some(Stamp {
        ms: dt.timestamp_millis(),
        offset: Some(dt.offset().local_minus_utc() / 60),
    })
}

/// Exim's `2026-11-29 11:05:01` (with `.123` under `+millisec`) and an optional
/// `+0100` after it (`log_timezone`): the stamp and the words it took.
pub fn exim(words: &[&str]) -> Option<(Stamp, usize)> {
    let (date, time) = (words.first()?, words.get(1)?);
    let dt =
        NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let mut stamp = Stamp::naive(dt);
    if let Some(zone) = words.get(2).and_then(|z| offset_minutes(z)) {
        stamp.ms -= i64::from(zone) * 60_000;
        stamp.offset = Some(zone);
        return Some((stamp, 3));
    }
    Some((stamp, 2))
}

/// `+0100` / `-0530` as minutes.
fn offset_minutes(text: &str) -> Option<i32> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i32 = digits.parse().ok()?;
    Some(sign * (n / 100 * 60 + n % 100))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Traditional syslog stamps (`Nov 29 11:05:01`, `Nov  9 …`): no year, so the
/// year is given and rolls over when the month goes back (December to January).
#[derive(Clone, Debug)]
pub struct SyslogYear {
    year: i32,
    last_month: u32,
}

impl SyslogYear {
    pub fn new(year: i32) -> Self {
        SyslogYear {
            year,
            last_month: 0,
        }
    }

    /// The stamp of `month day time` (three words).
    pub fn stamp(&mut self, month: &str, day: &str, time: &str) -> Option<Stamp> {
        let m = MONTHS.iter().position(|&name| name == month)? as u32 + 1;
        if m < self.last_month && self.last_month == 12 && m == 1 {
            self.year += 1;
        }
        self.last_month = m;
        let date = NaiveDate::from_ymd_opt(self.year, m, day.parse().ok()?)?;
        let time = chrono::NaiveTime::parse_from_str(time, "%H:%M:%S%.f").ok()?;
        Some(Stamp::naive(date.and_time(time)))
    }
}

/// Whether `word` is a month name of a syslog stamp.
pub fn is_month(word: &str) -> bool {
    MONTHS.contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_years_roll_over_at_new_year() {
        let mut y = SyslogYear::new(2025);
        let dec = y.stamp("Dec", "31", "23:59:59").unwrap();
        let jan = y.stamp("Jan", "1", "00:00:01").unwrap();
        assert_eq!(dec.to_iso(), "2025-12-31T23:59:59");
        assert_eq!(jan.to_iso(), "2026-01-01T00:00:01");
        assert_eq!(jan.ms - dec.ms, 2_000);
    }

    #[test]
    fn offsets_are_kept_and_times_are_utc() {
        let a = rfc3339("2026-11-29T11:05:01.250+01:00").unwrap();
        let b = rfc3339("2026-11-29T10:05:01.250Z").unwrap();
        assert_eq!(a.ms, b.ms);
        assert_eq!(a.to_iso(), "2026-11-29T11:05:01+01:00");
        let (e, used) = exim(&["2026-11-29", "11:05:01.5", "+0100", "x"]).unwrap();
        assert_eq!((e.ms, used), (a.ms + 250, 3));
        let (n, used) = exim(&["2026-11-29", "11:05:01", "1xXc-00-1N"]).unwrap();
        assert_eq!(
            (n.offset, used, n.to_iso()),
            (None, 2, "2026-11-29T11:05:01".into())
        );
    }
}
