//! Q2: the unique recipients of one registered user in a window.
//!
//! A recipient counts while its **latest** delivery still counts. The window keeps,
//! per live recipient, the expiry of its latest delivery (a hash map keyed by the
//! interned recipient number), and a FIFO of `(expiry, recipient)` in commit order to
//! expire them. An entry whose expiry is no longer the recipient's latest is skipped
//! when it reaches the front. Sending to the same recipient again within one expiry
//! (same millisecond, same fixed window or same bucket) adds nothing.
//!
//! Q12: recipients of open transactions are **held** (reserved) until their
//! transaction commits or ends. The recipients that count are the committed ones and
//! the held ones, each once: a recipient held by one transaction is not new for
//! another, and a committed recipient that expires while a transaction holds it
//! still counts until that transaction ends.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::time::SimTime;

/// An interned recipient address: the relay compares recipients by this number only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecipientId(pub u32);

#[derive(Clone, Debug, Default)]
pub struct UniqueWindow {
    order: VecDeque<(SimTime, RecipientId)>,
    latest: FxHashMap<RecipientId, SimTime>,
    /// Per held recipient, how many open transactions hold it (Q12).
    held: FxHashMap<RecipientId, u32>,
    /// Held recipients that are not committed: what holding adds to `distinct`.
    held_only: u64,
}

impl UniqueWindow {
    /// Drops recipients whose latest delivery no longer counts at `now`.
    pub fn expire(&mut self, now: SimTime) {
        while let Some(&(expiry, rcpt)) = self.order.front() {
            if expiry > now {
                break;
            }
            self.order.pop_front();
            if self.latest.get(&rcpt) == Some(&expiry) {
                self.latest.remove(&rcpt);
                if self.held.contains_key(&rcpt) {
                    self.held_only += 1;
                }
            }
        }
    }

    /// Distinct committed recipients (call `expire` first).
    pub fn distinct(&self) -> u64 {
        self.latest.len() as u64
    }

    /// Held recipients that are not committed (Q12).
    pub fn reserved(&self) -> u64 {
        self.held_only
    }

    /// Whether any open transaction holds a recipient.
    pub fn holds_any(&self) -> bool {
        !self.held.is_empty()
    }

    /// Distinct recipients that count: committed or held, each once.
    pub fn used(&self) -> u64 {
        self.distinct() + self.held_only
    }

    /// Whether `rcpt` already counts, committed or held (a further delivery to it is
    /// not a new one).
    pub fn contains(&self, rcpt: RecipientId) -> bool {
        self.latest.contains_key(&rcpt) || self.held.contains_key(&rcpt)
    }

    /// An open transaction holds `rcpt` until it commits or ends (`unhold`).
    pub fn hold(&mut self, rcpt: RecipientId) {
        let holders = self.held.entry(rcpt).or_insert(0);
        if *holders == 0 && !self.latest.contains_key(&rcpt) {
            self.held_only += 1;
        }
        *holders += 1;
    }

    /// A transaction that held `rcpt` has committed it or ended.
    pub fn unhold(&mut self, rcpt: RecipientId) {
        let holders = self
            .held
            .get_mut(&rcpt)
            .expect("unhold a recipient that is held");
        *holders -= 1;
        if *holders == 0 {
            self.held.remove(&rcpt);
            if !self.latest.contains_key(&rcpt) {
                self.held_only -= 1;
            }
        }
    }

    /// Commits a delivery to `rcpt` that counts until `expiry`.
    pub fn commit(&mut self, rcpt: RecipientId, expiry: SimTime) {
        let previous = self.latest.insert(rcpt, expiry);
        if previous.is_none() && self.held.contains_key(&rcpt) {
            self.held_only -= 1;
        }
        if previous != Some(expiry) {
            debug_assert!(self.order.back().is_none_or(|&(e, _)| e <= expiry));
            self.order.push_back((expiry, rcpt));
        }
    }

    /// The earliest instant at which fewer than `limit` recipients count (`None` if
    /// that is already so, or never).
    pub fn frees_room_at(&self, limit: u64) -> Option<SimTime> {
        let mut left = self.distinct();
        if left < limit {
            return None;
        }
        for &(expiry, rcpt) in &self.order {
            if self.latest.get(&rcpt) == Some(&expiry) {
                left -= 1;
                if left < limit {
                    return Some(expiry);
                }
            }
        }
        None
    }

    /// The bookkeeping is consistent: every counted recipient has its latest expiry
    /// in the FIFO, the FIFO's expiries never decrease, and `held_only` counts the
    /// held recipients that are not committed.
    pub fn check_structure(&self) -> Result<(), String> {
        let held_only = self
            .held
            .keys()
            .filter(|r| !self.latest.contains_key(r))
            .count() as u64;
        if held_only != self.held_only || self.held.values().any(|&n| n == 0) {
            return Err(format!(
                "{held_only} recipients held and not committed, {} counted",
                self.held_only
            ));
        }
        if self
            .order
            .iter()
            .zip(self.order.iter().skip(1))
            .any(|(a, b)| a.0 > b.0)
        {
            return Err("expiries out of order".into());
        }
        let listed = self
            .order
            .iter()
            .filter(|(expiry, rcpt)| self.latest.get(rcpt) == Some(expiry))
            .count();
        if listed != self.latest.len() {
            return Err(format!(
                "{} recipients counted, {listed} of them found in the expiry order",
                self.latest.len()
            ));
        }
        Ok(())
    }

    /// FIFO entries held (memory accounting).
    pub fn entries(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SimTime {
        SimTime(s * 1000)
    }

    /// Q2, Q7: a thousand deliveries to one address are one unique recipient.
    #[test]
    fn q02_repeated_recipients_count_once() {
        let mut w = UniqueWindow::default();
        for i in 0..1000 {
            w.commit(RecipientId(1), at(86_400 + i));
        }
        w.commit(RecipientId(2), at(86_400 + 1000));
        assert_eq!(w.distinct(), 2);
    }

    /// Q2: a recipient stops counting only when its latest delivery expires.
    #[test]
    fn q02_latest_delivery_keeps_a_recipient_live() {
        let mut w = UniqueWindow::default();
        w.commit(RecipientId(1), at(100));
        w.commit(RecipientId(2), at(150));
        w.commit(RecipientId(1), at(200));
        assert_eq!(w.frees_room_at(2), Some(at(150)));
        w.expire(at(100));
        assert!(w.contains(RecipientId(1)));
        assert_eq!(w.distinct(), 2);
        w.expire(at(150));
        assert_eq!(w.distinct(), 1);
        w.expire(at(200));
        assert_eq!((w.distinct(), w.entries()), (0, 0));
    }

    /// Q2, Q12: a recipient held by two open transactions is one recipient; it stops
    /// being held only when both have ended, and a committed recipient that expires
    /// while held still counts.
    #[test]
    fn q02_a_recipient_held_twice_counts_once() {
        let mut w = UniqueWindow::default();
        w.hold(RecipientId(7));
        assert!(
            w.contains(RecipientId(7)),
            "not new for the second transaction"
        );
        w.hold(RecipientId(7));
        assert_eq!(w.used(), 1);
        w.unhold(RecipientId(7));
        assert_eq!(w.used(), 1, "still held by the other");
        w.commit(RecipientId(7), at(100));
        w.unhold(RecipientId(7));
        assert_eq!((w.used(), w.reserved()), (1, 0));
        w.hold(RecipientId(7));
        w.expire(at(100));
        assert_eq!((w.distinct(), w.used()), (0, 1), "expired but held");
        w.unhold(RecipientId(7));
        assert_eq!(w.used(), 0);
        assert!(!w.holds_any());
        w.check_structure().unwrap();
    }

    /// Same expiry (fixed window, bucket): no duplicate FIFO entry, so expiring it
    /// cannot leave a stale recipient behind.
    #[test]
    fn q11_equal_expiries_do_not_duplicate() {
        let mut w = UniqueWindow::default();
        w.commit(RecipientId(9), at(600));
        w.commit(RecipientId(9), at(600));
        assert_eq!(w.entries(), 1);
        w.expire(at(600));
        assert_eq!(w.distinct(), 0);
    }
}
