//! How full each quota window was, bucket by bucket, as the engine itself counts it
//! (`quota_usage.csv`): a chart drawn from these never re-derives a window from
//! throughput, so it cannot show a limit exceeded that the engine never refused at.
//!
//! A window's use (committed plus reserved, what a check compares with its limit,
//! Q12) only rises when a check reserves an item and only falls when items expire or
//! a transaction gives its reservations back. So its highest use within a bucket is
//! the larger of its use when the bucket began and its use after each reservation in
//! the bucket: a running maximum per window, updated where the engine reserves,
//! read and reset at each bucket boundary. Nothing is sampled, nothing missed.

use crate::directory::{TenantIx, UserId};
use crate::limit::LimitKey;
use crate::limits::EffectiveLimits;

/// The highest use of one window within one bucket (a row of `quota_usage.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowUsage {
    /// The customer the window belongs to (for a user's window, the user's).
    pub tenant: TenantIx,
    pub key: LimitKey,
    /// Committed plus reserved items at their highest in the bucket.
    pub max_used: u64,
    /// The highest value of the limit in force at any moment of the bucket (a limit
    /// that changed within it, at `invoice_paid` or a licence change, is given at
    /// its higher value).
    pub limit_value: u64,
}

/// The running maxima of one customer's two windows and of its limits.
#[derive(Clone, Copy, Debug)]
pub(super) struct CustomerMeter {
    pub day: u64,
    pub peak: u64,
    pub limits: EffectiveLimits,
}

impl CustomerMeter {
    pub fn new(limits: EffectiveLimits) -> Self {
        CustomerMeter {
            day: 0,
            peak: 0,
            limits,
        }
    }

    /// The customer's limits changed to `new` within the bucket.
    pub fn limits_changed(&mut self, new: &EffectiveLimits) {
        let l = &mut self.limits;
        l.customer_day = l.customer_day.max(new.customer_day);
        l.customer_peak = l.customer_peak.max(new.customer_peak);
        l.user_messages = l.user_messages.max(new.user_messages);
        l.user_unique_recipients = l.user_unique_recipients.max(new.user_unique_recipients);
    }
}

/// The running maxima of one registered user's two windows; `listed` while the user
/// is in [`UserMeters::active`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct UserMeter {
    pub messages: u64,
    pub unique: u64,
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
