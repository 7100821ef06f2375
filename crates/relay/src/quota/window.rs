//! Q11: the windows that count "in 24 hours" and "in 10 minutes".
//!
//! Every window model is expressed the same way: a counted item gets an **expiry
//! time** when it is committed, and it counts until then. Expiry is non-decreasing
//! in commit time for every model, so a window is a FIFO of `(expiry, count)` and
//! both checking and committing are amortised O(1); memory is what is live in the
//! window, never the length of the run.
//!
//! - rolling (default): an item committed at `t` counts in every window `(t', t'+len]`
//!   that holds `t`, i.e. until `t + len`, exact to the millisecond;
//! - fixed: windows `[anchor + k·len, anchor + (k+1)·len)`; an item counts until the
//!   end of its window (all reset together at the boundary);
//! - bucketed sliding window: time is cut into buckets of `bucket`; the window is the
//!   current bucket and the `⌈len / bucket⌉ − 1` before it, so an item counts until
//!   `(⌊t / bucket⌋ + ⌈len / bucket⌉) · bucket`.

use std::collections::VecDeque;

use crate::config::{QuotaConfig, WindowModel};
use crate::time::{SimDuration, SimTime};

/// When an item committed at a time stops counting, for one window length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryClock {
    Rolling { len: u64 },
    Fixed { len: u64, anchor: u64 },
    Bucketed { bucket: u64, buckets: u64 },
}

impl ExpiryClock {
    /// The clock of a window of length `len` under the scenario's window model.
    pub fn new(quota: &QuotaConfig, len: SimDuration) -> Self {
        let len = len.as_millis().max(1);
        match quota.window {
            WindowModel::Rolling => ExpiryClock::Rolling { len },
            WindowModel::Fixed => ExpiryClock::Fixed {
                len,
                anchor: quota.fixed_reset_at.as_millis() % len,
            },
            WindowModel::Bucketed => {
                let bucket = quota.bucket.as_millis().max(1);
                ExpiryClock::Bucketed {
                    bucket,
                    buckets: len.div_ceil(bucket),
                }
            }
        }
    }

    /// The instant an item committed at `t` stops counting.
    pub fn expiry(self, t: SimTime) -> SimTime {
        let t = t.as_millis();
        SimTime(match self {
            ExpiryClock::Rolling { len } => t + len,
            ExpiryClock::Fixed { len, anchor } => {
                if t < anchor {
                    anchor
                } else {
                    anchor + ((t - anchor) / len + 1) * len
                }
            }
            ExpiryClock::Bucketed { bucket, buckets } => (t / bucket + buckets) * bucket,
        })
    }
}

/// A non-unique count in a window (Q1 messages, Q4/Q5 recipients), plus the items
/// reserved by transactions still open (checked against, not yet committed: Q12).
#[derive(Clone, Debug, Default)]
pub struct CountWindow {
    /// `(expiry, count)`, expiry non-decreasing; equal expiries are merged.
    entries: VecDeque<(SimTime, u64)>,
    /// Nothing expires before this instant: at most the first entry's expiry
    /// (`SimTime::MAX` after `expire` found the window empty; `ZERO`, look every
    /// time, before the first). Asked at every command, it is one comparison where
    /// the queue's front is an index computation and a load.
    next_due: SimTime,
    committed: u64,
    pub reserved: u64,
}

impl CountWindow {
    /// Drops what no longer counts at `now`.
    #[inline]
    pub fn expire(&mut self, now: SimTime) {
        if now >= self.next_due {
            self.expire_due(now);
        }
    }

    #[inline(never)]
    fn expire_due(&mut self, now: SimTime) {
        while let Some(&(expiry, n)) = self.entries.front() {
            if expiry > now {
                break;
            }
            self.committed -= n;
            self.entries.pop_front();
        }
        self.next_due = self.entries.front().map_or(SimTime::MAX, |&(e, _)| e);
    }

    /// Committed count (call `expire` first).
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Committed plus reserved: what a check compares with the limit.
    pub fn used(&self) -> u64 {
        self.committed + self.reserved
    }

    /// Whether `n` more fit under `limit`.
    pub fn fits(&self, n: u64, limit: u64) -> bool {
        self.used() + n <= limit
    }

    /// Commits `n` items that count until `expiry`.
    pub fn commit(&mut self, expiry: SimTime, n: u64) {
        if n == 0 {
            return;
        }
        self.committed += n;
        match self.entries.back_mut() {
            Some((last, count)) if *last == expiry => *count += n,
            _ => {
                debug_assert!(self.entries.back().is_none_or(|&(e, _)| e <= expiry));
                self.entries.push_back((expiry, n));
                self.next_due = self.next_due.min(expiry);
            }
        }
    }

    /// The earliest instant at which the committed count is below `limit` again
    /// (`None` if it already is, or never will be).
    pub fn frees_room_at(&self, limit: u64) -> Option<SimTime> {
        if self.committed < limit {
            return None;
        }
        let mut left = self.committed;
        for &(expiry, n) in &self.entries {
            left -= n;
            if left < limit {
                return Some(expiry);
            }
        }
        None
    }

    /// The bookkeeping is consistent: the count is the sum of the entries, each entry
    /// counts something, expiries are strictly increasing (equal ones are merged),
    /// and none is before the instant `expire` looks for expiries from.
    pub fn check_structure(&self) -> Result<(), String> {
        let sum: u64 = self.entries.iter().map(|&(_, n)| n).sum();
        if sum != self.committed {
            return Err(format!("count {} but entries sum to {sum}", self.committed));
        }
        if self
            .entries
            .front()
            .is_some_and(|&(e, _)| self.next_due > e)
        {
            return Err(format!(
                "the first entry expires at {} ms, before it is looked for ({} ms)",
                self.entries[0].0.as_millis(),
                self.next_due.as_millis()
            ));
        }
        if self.entries.iter().any(|&(_, n)| n == 0) {
            return Err("an entry counts nothing".into());
        }
        if self
            .entries
            .iter()
            .zip(self.entries.iter().skip(1))
            .any(|(a, b)| a.0 >= b.0)
        {
            return Err("expiries out of order".into());
        }
        Ok(())
    }

    /// Entries held (for memory accounting in tests and benchmarks).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SimTime {
        SimTime(s * 1000)
    }

    fn clock(window: WindowModel, len_s: u64) -> ExpiryClock {
        let quota = QuotaConfig {
            window,
            fixed_reset_at: SimDuration::from_secs(3600),
            bucket: SimDuration::from_secs(60),
            ..QuotaConfig::default()
        };
        ExpiryClock::new(&quota, SimDuration::from_secs(len_s))
    }

    /// Q11: the expiry of an item under each window model.
    #[test]
    fn q11_expiry_per_window_model() {
        let day = 86_400;
        let table = [
            (WindowModel::Rolling, day, 10, 10 + day),
            (WindowModel::Rolling, 600, 0, 600),
            // fixed, reset at 01:00 every day
            (WindowModel::Fixed, day, 10, 3600),
            (WindowModel::Fixed, day, 3600, 3600 + day),
            (WindowModel::Fixed, day, 3599, 3600),
            // fixed 10-min windows anchored at 01:00, i.e. at :00, :10, …
            (WindowModel::Fixed, 600, 601, 1200),
            // bucketed: 10 one-minute buckets, the current one included
            (WindowModel::Bucketed, 600, 30, 600),
            (WindowModel::Bucketed, 600, 60, 660),
            (WindowModel::Bucketed, 600, 119, 660),
        ];
        for (model, len, t, expected) in table {
            assert_eq!(
                clock(model, len).expiry(at(t)),
                at(expected),
                "{model:?} {len} {t}"
            );
        }
    }

    /// Q11: an item counts in `(t - len, t]` of a rolling window: at exactly
    /// `t + len` it no longer does.
    #[test]
    fn q11_rolling_window_counts_until_exactly_len_later() {
        let c = clock(WindowModel::Rolling, 600);
        let mut w = CountWindow::default();
        w.commit(c.expiry(at(0)), 3);
        w.commit(c.expiry(at(0)), 2);
        w.commit(c.expiry(at(100)), 1);
        assert_eq!(w.len(), 2);
        w.expire(SimTime(599_999));
        assert_eq!(w.committed(), 6);
        w.expire(at(600));
        assert_eq!(w.committed(), 1);
        w.expire(at(700));
        assert_eq!((w.committed(), w.is_empty()), (0, true));
        // Emptied, then committed to again: the new item still expires on time
        // (the window looks for expiries from the new item's on, not never).
        w.commit(c.expiry(at(800)), 4);
        w.expire(SimTime(1_399_999));
        assert_eq!(w.committed(), 4);
        w.expire(at(1_400));
        assert_eq!((w.committed(), w.is_empty()), (0, true));
        w.check_structure().unwrap();
    }

    #[test]
    fn q11_room_frees_when_enough_items_expire() {
        let c = clock(WindowModel::Rolling, 600);
        let mut w = CountWindow::default();
        for s in [0, 10, 20] {
            w.commit(c.expiry(at(s)), 2);
        }
        assert_eq!(w.frees_room_at(7), None);
        assert_eq!(w.frees_room_at(6), Some(at(600)));
        assert_eq!(w.frees_room_at(3), Some(at(610)));
        assert_eq!(w.frees_room_at(0), None);
        w.reserved = 1;
        assert!(w.fits(0, 7) && !w.fits(1, 6));
    }
}
