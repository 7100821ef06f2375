//! The messages an MTA holds, kept small. A day of traffic held back by Q5 leaves
//! hundreds of thousands of deferred messages in one queue (the 10,000-sender SimPy
//! scenario: 800,000 at the deepest), so their memory is most of a run's: a message
//! is 32 bytes: what its sender fixed (tag, envelope sender, bounce address, size)
//! is one number, its origin (`mta::Origin`); its pending recipients sit in one
//! arena, 4 bytes each, instead of a vector of its own (a heap block of at least 32
//! bytes beyond four inline); and the failure times only Exim's retry rules read are
//! kept only for an MTA with them (12 bytes more).
//!
//! Compact forms are exact: counts are 16 bits because a message has at most
//! `MAX_RECIPIENTS_PER_MESSAGE` (10,000) recipients; retry times (in milliseconds
//! after the message's arrival) are 32 bits, and a message retried for 49.7 days or
//! more, or 65,536 times, keeps its whole retry state in a side table.

use std::collections::BTreeMap;

use super::profile::RetryState;
use relay::RecipientId;
use relay::time::{SimDuration, SimTime};

/// A message in the queue (32 bytes).
#[derive(Clone, Debug)]
pub(super) struct Queued {
    /// When it arrived (M4's queue lifetime runs from here).
    pub birth: SimTime,
    /// Failed attempts, and those without a session (`RetryState`).
    failures: u16,
    connection_failures: u16,
    /// What its sender fixed (`MtaRuntime::origin`).
    pub origin: u32,
    /// Its recipients' place in the arena: `pending` of them are still to deliver,
    /// in a block of `block` (the number it was queued with).
    rcpt_at: u32,
    block: u16,
    pending: u16,
    /// Recipients delivered (those the MTA routes elsewhere included, M5) and bounced.
    pub delivered: u16,
    pub bounced: u16,
    flags: u8,
}

const LIVE: u8 = 1;
const DEFERRED_ONCE: u8 = 2;
/// Its retry state is in `QueueStore::long_retries` (it did not fit).
const LONG_RETRY: u8 = 4;

impl Queued {
    fn flag(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    fn set_flag(&mut self, f: u8, on: bool) {
        if on {
            self.flags |= f;
        } else {
            self.flags &= !f;
        }
    }

    pub fn live(&self) -> bool {
        self.flag(LIVE)
    }

    /// Some of its recipients were deferred before: every recipient still pending
    /// after an attempt was deferred in it, so each is counted once as deferred.
    pub fn deferred_once(&self) -> bool {
        self.flag(DEFERRED_ONCE)
    }

    pub fn set_deferred_once(&mut self) {
        self.set_flag(DEFERRED_ONCE, true);
    }

    /// Recipients still to deliver.
    pub fn pending(&self) -> usize {
        usize::from(self.pending)
    }
}

/// The failure times of a [`RetryState`] as offsets from the message's arrival, for
/// Exim's rules (12 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FailureTimes {
    first_failure: u32,
    last_try: u32,
    predicted_gap: u32,
}

impl FailureTimes {
    /// `None` when an offset does not fit (49.7 days or more).
    fn pack(state: &RetryState) -> Option<FailureTimes> {
        let since_birth =
            |t: SimTime| u32::try_from(t.as_millis().checked_sub(state.birth.as_millis())?).ok();
        Some(FailureTimes {
            first_failure: since_birth(state.first_failure)?,
            last_try: since_birth(state.last_try)?,
            predicted_gap: u32::try_from(state.predicted_gap.as_millis()).ok()?,
        })
    }

    fn unpack(self, state: &mut RetryState) {
        let at = |offset: u32| SimTime(state.birth.as_millis() + u64::from(offset));
        state.first_failure = at(self.first_failure);
        state.last_try = at(self.last_try);
        state.predicted_gap = SimDuration::from_millis(u64::from(self.predicted_gap));
    }
}

/// The pending recipients of every queued message, in blocks: a block is reused by
/// the next message with as many recipients, so the arena holds, per recipient
/// count, at most the most messages with that count ever queued at once.
#[derive(Debug, Default)]
struct RecipientArena {
    ids: Vec<RecipientId>,
    /// Free blocks by length.
    free: Vec<Vec<u32>>,
}

impl RecipientArena {
    fn store(&mut self, recipients: &[RecipientId]) -> u32 {
        let len = recipients.len();
        if let Some(at) = self.free.get_mut(len).and_then(Vec::pop) {
            let at_usize = at as usize;
            self.ids[at_usize..at_usize + len].copy_from_slice(recipients);
            return at;
        }
        let at = u32::try_from(self.ids.len()).expect("fewer than 2³² queued recipients");
        self.ids.extend_from_slice(recipients);
        at
    }

    fn release(&mut self, at: u32, len: u16) {
        let len = usize::from(len);
        if self.free.len() <= len {
            self.free.resize_with(len + 1, Vec::new);
        }
        self.free[len].push(at);
    }
}

/// An MTA's queued messages by slot number; free slots are reused.
#[derive(Debug, Default)]
pub(super) struct QueueStore {
    slots: Vec<Queued>,
    free_slots: Vec<u32>,
    recipients: RecipientArena,
    /// Whether the MTA's retry policy reads failure times
    /// (`RetryPolicy::reads_failure_times`); then `failure_times` has one per slot.
    keeps_failure_times: bool,
    failure_times: Vec<FailureTimes>,
    /// Retry states whose counts (16 bits) or failure times (32) do not fit, by slot.
    long_retries: BTreeMap<u32, RetryState>,
}

impl QueueStore {
    /// A queue for an MTA whose retry policy reads failure times, or not.
    pub fn new(keeps_failure_times: bool) -> Self {
        QueueStore {
            keeps_failure_times,
            ..QueueStore::default()
        }
    }

    /// Messages in the queue.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    /// Slots ever used (live or free).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub fn get(&self, slot: u32) -> Option<&Queued> {
        self.slots.get(slot as usize)
    }

    /// Message `slot` (of this queue: a slot it gave out).
    pub fn message(&self, slot: u32) -> &Queued {
        &self.slots[slot as usize]
    }

    pub fn is_live(&self, slot: u32) -> bool {
        self.get(slot).is_some_and(Queued::live)
    }

    pub fn free_slots(&self) -> &[u32] {
        &self.free_slots
    }

    /// Every slot with its message (live or not).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Queued)> {
        self.slots.iter().enumerate().map(|(i, q)| (i as u32, q))
    }

    /// Queues a message of `origin` arriving at `now` with `recipients` for the
    /// relay (at least one) and returns its slot.
    pub fn queue(
        &mut self,
        now: SimTime,
        origin: u32,
        recipients: &[RecipientId],
        routed_elsewhere: u32,
    ) -> u32 {
        debug_assert!(!recipients.is_empty(), "a queued message has recipients");
        let count = |n: usize| {
            u16::try_from(n).expect("at most MAX_RECIPIENTS_PER_MESSAGE (10,000) recipients")
        };
        let q = Queued {
            birth: now,
            failures: 0,
            connection_failures: 0,
            origin,
            rcpt_at: self.recipients.store(recipients),
            block: count(recipients.len()),
            pending: count(recipients.len()),
            delivered: count(routed_elsewhere as usize),
            bounced: 0,
            flags: LIVE,
        };
        match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize] = q;
                if self.keeps_failure_times {
                    self.failure_times[slot as usize] = FailureTimes::default();
                }
                slot
            }
            None => {
                self.slots.push(q);
                if self.keeps_failure_times {
                    self.failure_times.push(FailureTimes::default());
                }
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Takes message `slot` out of the queue.
    pub fn remove(&mut self, slot: u32) {
        let q = &mut self.slots[slot as usize];
        debug_assert!(q.live(), "a live message");
        if q.flag(LONG_RETRY) {
            self.long_retries.remove(&slot);
        }
        q.flags = 0;
        self.recipients.release(q.rcpt_at, q.block);
        self.free_slots.push(slot);
    }

    pub fn get_mut(&mut self, slot: u32) -> &mut Queued {
        &mut self.slots[slot as usize]
    }

    /// The recipients of message `slot` still to deliver.
    pub fn pending(&self, slot: u32) -> &[RecipientId] {
        let q = &self.slots[slot as usize];
        let at = q.rcpt_at as usize;
        &self.recipients.ids[at..at + q.pending()]
    }

    /// Keeps the pending recipients of message `slot` for which `keep(i)` holds (`i`
    /// their place among the pending), in order.
    pub fn retain_pending(&mut self, slot: u32, mut keep: impl FnMut(usize) -> bool) {
        let q = &mut self.slots[slot as usize];
        let at = q.rcpt_at as usize;
        let ids = &mut self.recipients.ids[at..at + usize::from(q.pending)];
        let mut kept = 0;
        for i in 0..ids.len() {
            if keep(i) {
                ids[kept] = ids[i];
                kept += 1;
            }
        }
        q.pending = kept as u16;
    }

    /// Gives up on the pending recipients of message `slot`: they bounce.
    pub fn bounce_pending(&mut self, slot: u32) -> u16 {
        let q = &mut self.slots[slot as usize];
        let n = q.pending;
        q.bounced += n;
        q.pending = 0;
        n
    }

    /// Message `slot`'s retry state (without the failure times when the MTA's
    /// policy does not read them: they are then the message's arrival).
    pub fn retry(&self, slot: u32) -> RetryState {
        let q = &self.slots[slot as usize];
        if q.flag(LONG_RETRY) {
            return self.long_retries[&slot];
        }
        let mut state = RetryState::new(q.birth);
        state.failures = u32::from(q.failures);
        state.connection_failures = u32::from(q.connection_failures);
        if self.keeps_failure_times {
            self.failure_times[slot as usize].unpack(&mut state);
        }
        state
    }

    pub fn set_retry(&mut self, slot: u32, state: RetryState) {
        let q = &mut self.slots[slot as usize];
        debug_assert_eq!(q.birth, state.birth, "the message's own retry state");
        let counts = u16::try_from(state.failures)
            .ok()
            .zip(u16::try_from(state.connection_failures).ok());
        let times = if self.keeps_failure_times {
            FailureTimes::pack(&state)
        } else {
            Some(FailureTimes::default())
        };
        match (counts, times) {
            (Some((failures, connection_failures)), Some(times)) => {
                (q.failures, q.connection_failures) = (failures, connection_failures);
                if self.keeps_failure_times {
                    self.failure_times[slot as usize] = times;
                }
                if q.flag(LONG_RETRY) {
                    q.set_flag(LONG_RETRY, false);
                    self.long_retries.remove(&slot);
                }
            }
            _ => {
                q.set_flag(LONG_RETRY, true);
                self.long_retries.insert(slot, state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queues a message of origin 7 with two more recipients routed elsewhere.
    fn queue(store: &mut QueueStore, at: u64, recipients: &[RecipientId]) -> u32 {
        store.queue(SimTime(at), 7, recipients, 2)
    }

    #[test]
    fn a_queued_message_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Queued>(), 32);
    }

    #[test]
    fn a_message_keeps_what_it_was_queued_with() {
        let mut store = QueueStore::new(true);
        let r = [RecipientId(1), RecipientId(2), RecipientId(3)];
        let slot = queue(&mut store, 5_000, &r);
        let q = store.get(slot).unwrap();
        assert!(q.live() && !q.deferred_once());
        assert_eq!(q.origin, 7);
        assert_eq!((q.delivered, q.bounced), (2, 0));
        assert_eq!(store.pending(slot), &r);
        assert_eq!(store.retry(slot), RetryState::new(SimTime(5_000)));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn retain_keeps_the_order_and_bounce_takes_the_rest() {
        let mut store = QueueStore::new(true);
        let r: Vec<RecipientId> = (10..15).map(RecipientId).collect();
        let slot = queue(&mut store, 0, &r);
        store.retain_pending(slot, |i| i % 2 == 0);
        assert_eq!(
            store.pending(slot),
            &[RecipientId(10), RecipientId(12), RecipientId(14)]
        );
        assert_eq!(store.bounce_pending(slot), 3);
        assert!(store.pending(slot).is_empty());
        assert_eq!(store.get(slot).unwrap().bounced, 3);
    }

    #[test]
    fn blocks_and_slots_are_reused_by_messages_of_the_same_count() {
        let mut store = QueueStore::new(true);
        let three = [RecipientId(1), RecipientId(2), RecipientId(3)];
        let a = queue(&mut store, 0, &three);
        let b = queue(&mut store, 0, &three[..1]);
        store.remove(a);
        assert_eq!(store.len(), 1);
        assert!(!store.is_live(a));
        let other = [RecipientId(4), RecipientId(5), RecipientId(6)];
        let c = queue(&mut store, 1, &other);
        assert_eq!(c, a, "the free slot");
        assert_eq!(store.recipients.ids.len(), 4, "the free block of three");
        assert_eq!(store.pending(c), &other);
        assert_eq!(store.pending(b), &three[..1]);
    }

    #[test]
    fn without_failure_times_only_the_counts_are_kept() {
        let mut store = QueueStore::new(false);
        let slot = queue(&mut store, 1_000, &[RecipientId(1)]);
        let state = RetryState {
            first_failure: SimTime(61_000),
            failures: 3,
            connection_failures: 1,
            last_try: SimTime(3_600_000),
            predicted_gap: SimDuration::from_millis(900_000),
            ..RetryState::new(SimTime(1_000))
        };
        store.set_retry(slot, state);
        let kept = store.retry(slot);
        assert_eq!(
            (kept.birth, kept.failures, kept.connection_failures),
            (SimTime(1_000), 3, 1)
        );
        assert_eq!(kept.last_try, SimTime(1_000));
        assert!(store.failure_times.is_empty());
    }

    #[test]
    fn retry_states_round_trip_exactly_short_and_long() {
        let mut store = QueueStore::new(true);
        let slot = queue(&mut store, 1_000, &[RecipientId(1)]);
        let short = RetryState {
            birth: SimTime(1_000),
            first_failure: SimTime(61_000),
            failures: 3,
            connection_failures: 1,
            last_try: SimTime(3_600_000),
            predicted_gap: SimDuration::from_millis(900_000),
        };
        store.set_retry(slot, short);
        assert_eq!(store.retry(slot), short);
        assert!(store.long_retries.is_empty());
        // Sixty days after arrival: milliseconds no longer fit 32 bits.
        let long = RetryState {
            last_try: SimTime(1_000 + 60 * 86_400_000),
            failures: 70_000,
            ..short
        };
        store.set_retry(slot, long);
        assert_eq!(store.retry(slot), long);
        assert_eq!(store.long_retries.len(), 1);
        store.set_retry(slot, short);
        assert_eq!(store.retry(slot), short);
        assert!(store.long_retries.is_empty());
        store.set_retry(slot, long);
        store.remove(slot);
        assert!(store.long_retries.is_empty(), "freed with its slot");
    }
}
