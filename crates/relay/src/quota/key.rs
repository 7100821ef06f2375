//! The quota engine's own name for one of its limits (Q1, Q2, Q4, Q5) of one customer
//! or registered user.
//!
//! A [`LimitKey`] can also name a DoS limit, so it carries room for an IP address
//! (some 20 bytes); built afresh for every look at a limit on the per-recipient path,
//! its byte-wise stores and 16-byte reloads stalled the CPU (store forwarding). A
//! `QuotaKey` is 8 bytes and travels in a register; a `LimitKey` is made of it only
//! where a limit leaves the engine (an event, a recheck, a reading).

use crate::directory::{TenantIx, UserId};
use crate::limit::{LimitKey, LimitKind, Subject};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum QuotaKey {
    /// Q4: the customer's recipients in the day window.
    CustomerDay(TenantIx),
    /// Q5: the customer's recipients in the peak window.
    CustomerPeak(TenantIx),
    /// Q1: the user's messages in the day window.
    UserMessages(UserId),
    /// Q2: the user's unique recipients in the day window.
    UserUnique(UserId),
}

impl QuotaKey {
    /// The engine's key of `key`, a quota limit of a customer or a user.
    pub(super) fn of(key: LimitKey) -> Self {
        match (key.subject, key.limit) {
            (Subject::Customer(t), LimitKind::CustomerDay) => QuotaKey::CustomerDay(t),
            (Subject::Customer(t), _) => QuotaKey::CustomerPeak(t),
            (Subject::User(u), LimitKind::UserMessages) => QuotaKey::UserMessages(u),
            (Subject::User(u), _) => QuotaKey::UserUnique(u),
            (Subject::SourceIp(_) | Subject::GenericHeloPool, _) => {
                unreachable!("the quota engine keeps no DoS limits")
            }
        }
    }

    /// The key the rest of the relay, and its reports, name this limit by.
    pub(super) fn limit_key(self) -> LimitKey {
        let (limit, subject) = match self {
            QuotaKey::CustomerDay(t) => (LimitKind::CustomerDay, Subject::Customer(t)),
            QuotaKey::CustomerPeak(t) => (LimitKind::CustomerPeak, Subject::Customer(t)),
            QuotaKey::UserMessages(u) => (LimitKind::UserMessages, Subject::User(u)),
            QuotaKey::UserUnique(u) => (LimitKind::UserUniqueRecipients, Subject::User(u)),
        };
        LimitKey { limit, subject }
    }

    pub(super) fn limit(self) -> LimitKind {
        match self {
            QuotaKey::CustomerDay(_) => LimitKind::CustomerDay,
            QuotaKey::CustomerPeak(_) => LimitKind::CustomerPeak,
            QuotaKey::UserMessages(_) => LimitKind::UserMessages,
            QuotaKey::UserUnique(_) => LimitKind::UserUniqueRecipients,
        }
    }

    /// A customer's two limits, day (Q4) then peak (Q5).
    pub(super) fn customer(tenant: TenantIx) -> [QuotaKey; 2] {
        [
            QuotaKey::CustomerDay(tenant),
            QuotaKey::CustomerPeak(tenant),
        ]
    }

    /// A user's two limits, messages (Q1) then unique recipients (Q2).
    pub(super) fn user(user: UserId) -> [QuotaKey; 2] {
        [QuotaKey::UserMessages(user), QuotaKey::UserUnique(user)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_small_and_round_trips() {
        assert_eq!(std::mem::size_of::<QuotaKey>(), 8);
        let keys = QuotaKey::customer(TenantIx(3))
            .into_iter()
            .chain(QuotaKey::user(UserId(7)));
        for key in keys {
            assert_eq!(QuotaKey::of(key.limit_key()), key);
            assert_eq!(key.limit_key().limit, key.limit());
        }
    }
}
