//! Virtual time.
//!
//! The simulation clock counts whole **milliseconds** from the scenario start in a
//! `u64`: integer arithmetic keeps runs exact and reproducible (no float drift), and a
//! millisecond is finer than anything the relay's rules distinguish (rules Q11 asks
//! for windows "exact to the simulation's time resolution"). A `u64` of milliseconds
//! lasts 584 million years, so overflow is not a concern for any horizon.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point on the virtual clock: milliseconds since the scenario start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of virtual time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    /// Later than any instant a run reaches.
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Time since `earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);
    pub const SECOND: SimDuration = SimDuration(1_000);
    pub const MINUTE: SimDuration = SimDuration(60_000);
    pub const HOUR: SimDuration = SimDuration(3_600_000);
    pub const DAY: SimDuration = SimDuration(86_400_000);

    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms)
    }
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s * 1_000)
    }
    pub fn as_millis(self) -> u64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1_000.0
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        *self = *self + rhs;
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, rhs: SimTime) -> SimDuration {
        self.saturating_since(rhs)
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, rhs: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(rhs.0))
    }
}

/// Seconds with millisecond precision, the format of every `time_s` column.
impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1_000, self.0 % 1_000)
    }
}

/// Compact human form accepted back by the scenario parser: `24h`, `10m`, `1m 30s`,
/// `5d`, `250ms`. Whole days are shown as days from two days up, so the documented
/// windows read as they are written (`24h`, `10m`).
impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        let mut rest = ms;
        let mut parts: Vec<String> = Vec::new();
        if ms.is_multiple_of(Self::DAY.0) && ms >= 2 * Self::DAY.0 {
            return write!(f, "{}d", ms / Self::DAY.0);
        }
        for (unit, len) in [
            ("h", Self::HOUR.0),
            ("m", Self::MINUTE.0),
            ("s", Self::SECOND.0),
            ("ms", 1),
        ] {
            if rest >= len {
                parts.push(format!("{}{unit}", rest / len));
                rest %= len;
            }
        }
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_prints_seconds_with_millisecond_precision() {
        assert_eq!(SimTime(0).to_string(), "0.000");
        assert_eq!(SimTime(1).to_string(), "0.001");
        assert_eq!(SimTime(86_400_123).to_string(), "86400.123");
    }

    #[test]
    fn durations_print_in_human_form() {
        assert_eq!(SimDuration::ZERO.to_string(), "0s");
        assert_eq!(SimDuration::from_secs(90).to_string(), "1m 30s");
        assert_eq!((SimDuration::DAY + SimDuration::HOUR).to_string(), "25h");
        assert_eq!(SimDuration::DAY.to_string(), "24h");
        assert_eq!(SimDuration::from_secs(5 * 86_400).to_string(), "5d");
        assert_eq!(SimDuration(1_250).to_string(), "1s 250ms");
    }

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(SimTime(5) - SimTime(9), SimDuration::ZERO);
        assert_eq!(SimTime(u64::MAX) + SimDuration(1), SimTime(u64::MAX));
    }
}
