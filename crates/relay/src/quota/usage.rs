//! How full each quota window was, bucket by bucket, as the engine itself counts it
//! (`quota_usage.csv`): a chart drawn from these never re-derives a window from
//! throughput, so it cannot show a limit exceeded that the engine never refused at.
//!
//! A window's use (committed plus reserved, what a check compares with its limit,
//! Q12) only rises when a check reserves an item and only falls when items expire or
//! a transaction gives its reservations back; its limit changes only at a licence
//! change or a paid invoice. So the moment a window is fullest within a bucket — its
//! highest share of the limit in force — is the bucket's start, a reservation, or a
//! limit change: a running maximum per window ([`Fullest`]), updated at those
//! points (for a transaction's RCPTs at one instant, once after the last of them,
//! when the use they reserved is highest), read and reset at each bucket boundary.
//! Nothing is sampled, nothing missed; a limit that refuses within a bucket shows
//! there as use equal to limit.

use crate::directory::{TenantIx, UserId};
use crate::limit::LimitKey;

/// One window at its fullest within one bucket (a row of `quota_usage.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowUsage {
    /// The customer the window belongs to (for a user's window, the user's).
    pub tenant: TenantIx,
    pub key: LimitKey,
    /// Committed plus reserved items when the window was fullest in the bucket
    /// (with a limit that did not change, its highest use).
    pub max_used: u64,
    /// The limit in force at that moment.
    pub limit_value: u64,
}

/// A window's fullest moment so far in the bucket: its use and the limit then. The
/// highest share of the limit wins; of equal shares, the higher use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Fullest {
    pub used: u64,
    pub limit: u64,
}

impl Fullest {
    pub fn at(used: u64, limit: u64) -> Self {
        Fullest { used, limit }
    }

    /// The window holds `used` under `limit` now.
    #[inline(always)]
    pub fn note(&mut self, used: u64, limit: u64) {
        if limit == self.limit && limit != 0 {
            // The usual case, the limit unchanged: the higher use is the higher share.
            self.used = self.used.max(used);
            return;
        }
        // used / limit > self.used / self.limit, without division.
        let now = u128::from(used) * u128::from(self.limit.max(1));
        let best = u128::from(self.used) * u128::from(limit.max(1));
        if now > best || (now == best && used > self.used) || self.limit == 0 {
            *self = Fullest { used, limit };
        }
    }
}

/// The fullest moments of one customer's two windows.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CustomerMeter {
    pub day: Fullest,
    pub peak: Fullest,
}

/// The fullest moments of one registered user's two windows; `listed` while the
/// user is in [`UserMeters::active`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct UserMeter {
    pub messages: Fullest,
    pub unique: Fullest,
    pub listed: bool,
}

/// Which users' windows may hold anything: only those are looked at when a bucket
/// ends, so a bucket costs the users active within a window length, not all users.
#[derive(Clone, Debug, Default)]
pub(super) struct UserMeters {
    pub active: Vec<UserId>,
}

/// The `n` busiest users of one limit in one bucket, kept while the active users are
/// looked at: highest use first, then lowest user number (a total order, so the
/// choice never depends on the order users were listed in).
pub(super) struct Busiest {
    n: usize,
    rows: Vec<WindowUsage>,
}

impl Busiest {
    pub fn new(n: usize) -> Self {
        Busiest {
            n,
            rows: Vec::with_capacity(n + 1),
        }
    }

    pub fn offer(&mut self, row: WindowUsage) {
        if self.n == 0 || row.max_used == 0 {
            return;
        }
        let rank = |r: &WindowUsage| (std::cmp::Reverse(r.max_used), r.key.subject);
        let at = self.rows.partition_point(|r| rank(r) < rank(&row));
        if at < self.n {
            self.rows.insert(at, row);
            self.rows.truncate(self.n);
        }
    }

    /// The rows kept, by subject.
    pub fn drain_into(mut self, out: &mut Vec<WindowUsage>) {
        self.rows.sort_by_key(|r| r.key.subject);
        out.append(&mut self.rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::{LimitKind, Subject};

    fn row(user: u32, max_used: u64) -> WindowUsage {
        WindowUsage {
            tenant: TenantIx(0),
            key: LimitKey {
                limit: LimitKind::UserMessages,
                subject: Subject::User(UserId(user)),
            },
            max_used,
            limit_value: 10,
        }
    }

    #[test]
    fn the_fullest_moment_is_the_highest_share_of_the_limit() {
        let mut f = Fullest::at(40, 50);
        f.note(60, 100); // a larger use under a raised limit: a smaller share
        assert_eq!(f, Fullest::at(40, 50));
        f.note(50, 50); // the limit reached
        assert_eq!(f, Fullest::at(50, 50));
        f.note(100, 100); // as full, with more use
        assert_eq!(f, Fullest::at(100, 100));
        let mut empty = Fullest::default();
        empty.note(0, 9);
        assert_eq!(empty, Fullest::at(0, 9));
    }

    proptest::proptest! {
        /// `note` with the limit unchanged (its shortcut) is the rule in full: the
        /// highest share, and of equal shares the higher use.
        #[test]
        fn noting_under_an_unchanged_limit_is_the_full_rule(
            used in 0u64..1_000, limit in 0u64..1_000, seen in 0u64..1_000, seen_limit in 0u64..1_000,
        ) {
            for (seen_limit, limit) in [(seen_limit, limit), (limit, limit)] {
                let mut f = Fullest::at(seen, seen_limit);
                f.note(used, limit);
                let now = u128::from(used) * u128::from(seen_limit.max(1));
                let best = u128::from(seen) * u128::from(limit.max(1));
                let replaced = now > best || (now == best && used > seen) || seen_limit == 0;
                let expected = if replaced { Fullest::at(used, limit) } else { Fullest::at(seen, seen_limit) };
                proptest::prop_assert_eq!(f, expected);
            }
        }
    }

    #[test]
    fn busiest_keeps_the_highest_then_the_lowest_numbered_and_skips_idle_users() {
        let mut b = Busiest::new(2);
        for r in [row(5, 3), row(1, 0), row(4, 7), row(2, 3), row(3, 3)] {
            b.offer(r);
        }
        let mut out = Vec::new();
        b.drain_into(&mut out);
        let kept: Vec<(u32, u64)> = out
            .iter()
            .map(|r| match r.key.subject {
                Subject::User(u) => (u.0, r.max_used),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(kept, vec![(2, 3), (4, 7)]);
    }
}
