//! The event queue.
//!
//! Events are ordered by `(time, sequence)`: `sequence` is a counter assigned at
//! scheduling, so events due at the same instant run in the order they were scheduled.
//! That total order makes a run a pure function of its inputs; nothing depends on heap
//! internals or on the order of equal keys.
//!
//! The heap is 4-ary, its entries plain data (`E: Copy`) moved through a hole: a pop
//! follows a path half as deep as a binary heap's, and at a million pending events
//! the cache misses along that path decide the speed (the kernel bench compares it
//! with a bare `BinaryHeap` at 100, 10,000 and 1,000,000 pending). Keys are unique,
//! so the pop order is the total order whatever the heap's shape.
//!
//! Events that recur one at a time per entity (a sender's next arrival) may be
//! scheduled in that entity's slot instead ([`EventQueue::schedule_in_slot`]): the
//! slots are a tournament tree, where replacing a popped arrival by the next is one
//! replay of a path of matches, and the heap keeps only the other events. A pop takes
//! the earlier of the heap's first entry and the tournament's winner: keys are
//! unique across both, so the order is the same total order.
//!
//! The earliest event may wait beside the heap, in `front`: an event scheduled
//! earlier than everything pending (a connection finishing before the next message
//! arrives, the common case of a lightly loaded run) is popped from there without
//! ever entering the heap. `front`, when set, is earlier than every heap entry, so
//! the order is the same one.

use relay::time::SimTime;

use super::tournament::{EMPTY, Tournament};

/// An event and its place in the order: `time` in the high 64 bits of `key`, the
/// scheduling number in the low 64, so that one comparison orders two entries.
#[derive(Clone, Copy, Debug)]
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> Entry<E> {
    #[inline(always)]
    fn before(&self, other: &Self) -> bool {
        self.key < other.key
    }

    #[inline(always)]
    fn time(&self) -> SimTime {
        SimTime((self.key >> 64) as u64)
    }
}

/// Children per node.
const ARITY: usize = 4;

/// Up to this many pending events (1 MiB of entries) the heap is taken to be in
/// cache (see `sift_down`).
const SELECT_BELOW: usize = 32 * 1024;

/// A priority queue of plain-data events on the virtual clock.
///
/// Scheduling and popping are `O(log n)` and allocate only when the queue grows past
/// its capacity (reserve it with [`EventQueue::with_capacity`]).
pub struct EventQueue<E: Copy> {
    /// The earliest pending event, when it was scheduled earlier than all of `heap`
    /// (then popped first without a heap operation); `None` otherwise.
    front: Option<Entry<E>>,
    heap: Vec<Entry<E>>,
    /// The slots' keys ([`EventQueue::schedule_in_slot`]), and their events.
    slots: Tournament,
    slot_events: Vec<Option<E>>,
    next_seq: u64,
    now: SimTime,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl<E: Copy> EventQueue<E> {
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_slots(capacity, 0)
    }

    /// A queue with room for `capacity` events in its heap and `slots` slots, each
    /// for one pending event of its own ([`EventQueue::schedule_in_slot`]).
    pub fn with_slots(capacity: usize, slots: usize) -> Self {
        EventQueue {
            front: None,
            heap: Vec::with_capacity(capacity),
            slots: Tournament::new(slots),
            slot_events: vec![None; slots],
            next_seq: 0,
            now: SimTime::ZERO,
        }
    }

    /// The time of the event popped last (the clock never runs backwards).
    pub fn now(&self) -> SimTime {
        self.now
    }

    pub fn len(&self) -> usize {
        self.heap.len() + usize::from(self.front.is_some()) + self.slots.occupied()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Schedules `event` at `time`. A time in the past is clamped to now: the clock
    /// is monotonic, and an event can at best happen immediately.
    pub fn schedule(&mut self, time: SimTime, event: E) {
        let seq = self.reserve_sequence();
        self.schedule_in_order(time, seq, event);
    }

    /// Takes the next sequence number for an event to be scheduled later with
    /// [`EventQueue::schedule_in_order`]: that event keeps the place in the order it
    /// would have had had it been scheduled now.
    pub fn reserve_sequence(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Schedules `event` at `time` (clamped to now) with sequence number `seq`, one
    /// [`EventQueue::reserve_sequence`] gave. A number must be scheduled at most once
    /// at a time: keys stay unique.
    pub fn schedule_in_order(&mut self, time: SimTime, seq: u64, event: E) {
        debug_assert!(seq < self.next_seq, "a reserved sequence number");
        let entry = Entry {
            key: self.key(time, seq),
            event,
        };
        // The new entry waits in front if it is the earliest of all; whatever it
        // displaces from there is earlier than the heap's entries, so it joins them.
        let displaced = match self.front {
            Some(front) if entry.before(&front) => Some(front),
            Some(_) => {
                self.push(entry);
                return;
            }
            None if self.heap.first().is_none_or(|first| entry.before(first)) => None,
            None => {
                self.push(entry);
                return;
            }
        };
        self.front = Some(entry);
        if let Some(front) = displaced {
            self.push(front);
        }
    }

    /// Schedules `event` at `time` (clamped to now) in `slot`, which must hold no
    /// pending event (one of [`EventQueue::with_slots`]'s): for an entity's
    /// recurring event, scheduled again after each pop. Its place in the order is the
    /// one [`EventQueue::schedule`] would give it.
    pub fn schedule_in_slot(&mut self, slot: u32, time: SimTime, event: E) {
        debug_assert!(
            self.slots.key(slot) == EMPTY,
            "slot {slot} holds one pending event at a time"
        );
        let seq = self.reserve_sequence();
        let key = self.key(time, seq);
        self.slot_events[slot as usize] = Some(event);
        self.slots.set(slot, key);
    }

    /// The key of an event at `time` (clamped to now) scheduled as number `seq`.
    #[inline]
    fn key(&self, time: SimTime, seq: u64) -> u128 {
        let time = time.max(self.now);
        (u128::from(time.as_millis()) << 64) | u128::from(seq)
    }

    /// Time of the next event, if any.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.peek().map(|(time, _)| time)
    }

    /// The next event and its time, if any, without removing it.
    pub fn peek(&mut self) -> Option<(SimTime, &E)> {
        match self.next_in_slot() {
            Some((slot, key)) => self.slot_events[slot as usize]
                .as_ref()
                .map(|e| (SimTime((key >> 64) as u64), e)),
            None => self
                .front
                .as_ref()
                .or(self.heap.first())
                .map(|e| (e.time(), &e.event)),
        }
    }

    /// The slot and key of the next event if it waits in a slot; `None` if it waits
    /// in `front` or the heap, or nothing is pending.
    #[inline]
    fn next_in_slot(&mut self) -> Option<(u32, u128)> {
        let (slot, key) = self.slots.earliest();
        let queued = self.front.as_ref().or(self.heap.first());
        (key != EMPTY && queued.is_none_or(|e| key < e.key)).then_some((slot, key))
    }

    /// Removes the next event if it is due at or before `horizon`, advancing the clock.
    pub fn pop_until(&mut self, horizon: SimTime) -> Option<(SimTime, E)> {
        if let Some((slot, key)) = self.next_in_slot() {
            let time = SimTime((key >> 64) as u64);
            if time > horizon {
                return None;
            }
            self.slots.take(slot);
            self.now = time;
            let event = self.slot_events[slot as usize]
                .take()
                .expect("a slot with a key holds its event");
            return Some((time, event));
        }
        self.pop_queued(horizon)
    }

    /// [`EventQueue::pop_until`] of the earlier of `front` and the heap's first.
    #[inline]
    fn pop_queued(&mut self, horizon: SimTime) -> Option<(SimTime, E)> {
        if let Some(front) = self.front {
            let time = front.time();
            if time > horizon {
                return None;
            }
            self.front = None;
            self.now = time;
            return Some((time, front.event));
        }
        let first = *self.heap.first()?;
        let time = first.time();
        if time > horizon {
            return None;
        }
        let last = self.heap.pop()?;
        if !self.heap.is_empty() {
            self.sift_down(last);
        }
        self.now = time;
        Some((time, first.event))
    }

    /// Adds `entry` to the heap.
    #[inline]
    fn push(&mut self, entry: Entry<E>) {
        self.heap.push(entry);
        self.sift_up(self.heap.len() - 1);
    }

    /// Moves the entry at `i` up to its place (a hole moves, the entry is written
    /// once).
    #[inline]
    fn sift_up(&mut self, mut i: usize) {
        let entry = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !entry.before(&self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = entry;
    }

    /// Puts `entry` in the root's place: the hole goes down to a leaf along the
    /// earliest children without comparing with `entry` (it came from the bottom, so
    /// it mostly belongs there), then `entry` moves up from that leaf — the trick of
    /// `std`'s `BinaryHeap::pop`, which saves a comparison per level.
    #[inline]
    fn sift_down(&mut self, entry: Entry<E>) {
        let len = self.heap.len();
        // A heap that fits in cache is limited by the branches on its random keys,
        // which no predictor can guess: there the earliest of four children is
        // selected, not branched on (some 40 % less time at 100 and 10,000 pending
        // in the kernel bench). A larger one waits on memory, and branches let the
        // CPU fetch the next level before the comparison is decided: at 1,000,000
        // pending selecting took 27 % more time.
        let select = len <= SELECT_BELOW;
        let mut i = 0;
        loop {
            let first_child = i * ARITY + 1;
            let best =
                if select && let Some(children) = self.heap.get(first_child..first_child + ARITY) {
                    first_child + earliest_of_four(children)
                } else if first_child < len {
                    let mut best = first_child;
                    for c in first_child + 1..(first_child + ARITY).min(len) {
                        if self.heap[c].before(&self.heap[best]) {
                            best = c;
                        }
                    }
                    best
                } else {
                    break;
                };
            self.heap[i] = self.heap[best];
            i = best;
        }
        self.heap[i] = entry;
        self.sift_up(i);
    }
}

/// The index (0–3) of the earliest of four entries.
#[inline(always)]
fn earliest_of_four<E>(c: &[Entry<E>]) -> usize {
    let (a, b, c, d) = (c[0].key, c[1].key, c[2].key, c[3].key);
    let first_pair = usize::from(b < a);
    let first_key = if b < a { b } else { a };
    let second_pair = 2 + usize::from(d < c);
    let second_key = if d < c { d } else { c };
    if second_key < first_key {
        second_pair
    } else {
        first_pair
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An event scheduled later with a number reserved earlier keeps the place it
    /// would have had (how deferred mail waits in its MTA's queue runs).
    #[test]
    fn a_reserved_sequence_number_keeps_its_place() {
        let mut q = EventQueue::default();
        let early = q.reserve_sequence();
        q.schedule(SimTime(5), "scheduled after the reservation");
        let late = q.reserve_sequence();
        q.schedule(SimTime(5), "scheduled last");
        q.schedule_in_order(SimTime(5), late, "reserved second");
        q.schedule_in_order(SimTime(5), early, "reserved first");
        let order: Vec<_> = std::iter::from_fn(|| q.pop_until(SimTime(10)))
            .map(|(_, e)| e)
            .collect();
        assert_eq!(
            order,
            [
                "reserved first",
                "scheduled after the reservation",
                "reserved second",
                "scheduled last"
            ]
        );
    }

    #[test]
    fn same_instant_events_run_in_scheduling_order() {
        let mut q = EventQueue::default();
        for i in 0..100 {
            q.schedule(SimTime(7), i);
        }
        let order: Vec<_> = std::iter::from_fn(|| q.pop_until(SimTime(10)))
            .map(|(_, e)| e)
            .collect();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn nothing_after_the_horizon_is_popped() {
        let mut q = EventQueue::default();
        q.schedule(SimTime(5), 'a');
        q.schedule(SimTime(11), 'b');
        assert_eq!(q.pop_until(SimTime(10)), Some((SimTime(5), 'a')));
        assert_eq!(q.pop_until(SimTime(10)), None);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn past_times_are_clamped_to_now() {
        let mut q = EventQueue::default();
        q.schedule(SimTime(50), 1);
        q.pop_until(SimTime(100));
        q.schedule(SimTime(10), 2);
        assert_eq!(q.pop_until(SimTime(100)), Some((SimTime(50), 2)));
    }

    /// Both ways of going down the heap (selection while it is cache-sized,
    /// branches above `SELECT_BELOW`) keep the order of a sorted map: holds on a heap
    /// larger than the threshold, then a drain through it.
    #[test]
    fn large_and_small_heaps_pop_in_order() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % 5_000
        };
        let mut q = EventQueue::default();
        let mut oracle = std::collections::BTreeMap::new();
        let pending = SELECT_BELOW + 4_000;
        for n in 0..pending {
            let t = next();
            q.schedule(SimTime(t), n);
            oracle.insert((t, n), n);
        }
        for n in pending..pending + 20_000 {
            let ((t, _), e) = oracle.pop_first().unwrap();
            assert_eq!(q.pop_until(SimTime(u64::MAX)), Some((SimTime(t), e)));
            let later = t + next();
            q.schedule(SimTime(later), n);
            oracle.insert((later, n), n);
        }
        while let Some(((t, _), e)) = oracle.pop_first() {
            assert_eq!(q.pop_until(SimTime(u64::MAX)), Some((SimTime(t), e)));
        }
        assert!(q.is_empty());
    }

    proptest! {
        /// Oracle: a stable sort by time of the scheduled items is the pop order.
        #[test]
        fn pops_in_time_then_insertion_order(times in proptest::collection::vec(0u64..50, 0..200)) {
            let mut q = EventQueue::default();
            for (i, t) in times.iter().enumerate() {
                q.schedule(SimTime(*t), i);
            }
            let mut expected: Vec<(u64, usize)> = times.iter().copied().zip(0..).collect();
            expected.sort_by_key(|(t, _)| *t);
            let got: Vec<(u64, usize)> = std::iter::from_fn(|| q.pop_until(SimTime(u64::MAX)))
                .map(|(t, e)| (t.0, e))
                .collect();
            prop_assert_eq!(got, expected);
        }

        /// Oracle: a sorted map of (time, scheduling number), with schedules and pops
        /// interleaved (slots are reused, times clamp to now).
        #[test]
        fn interleaved_schedules_and_pops_match_a_sorted_map(
            ops in proptest::collection::vec((0u64..100, proptest::bool::ANY), 0..400)
        ) {
            let mut q = EventQueue::default();
            let mut oracle = std::collections::BTreeMap::new();
            let mut now = 0;
            for (n, (dt, pop)) in ops.into_iter().enumerate() {
                if pop {
                    let expected = oracle.pop_first().map(|((t, _), e)| (SimTime(t), e));
                    if let Some((t, _)) = expected {
                        now = t.0;
                    }
                    prop_assert_eq!(q.pop_until(SimTime(u64::MAX)), expected);
                } else {
                    let t = (now + dt).max(now);
                    q.schedule(SimTime(t), n);
                    oracle.insert((t, n), n);
                }
                prop_assert_eq!(q.len(), oracle.len());
            }
        }

        /// Oracle: a sorted map of (time, sequence number), with events in slots
        /// (one pending per slot, scheduled again after it is popped, as a sender's
        /// arrivals are) among events in the heap, numbers reserved earlier, and
        /// times clamped to now.
        #[test]
        fn slots_and_heap_pop_in_one_order(
            slots in 1usize..6,
            ops in proptest::collection::vec((0u64..5, 0u8..5, 0u32..6), 0..400)
        ) {
            let mut q = EventQueue::with_slots(0, slots);
            let mut oracle = std::collections::BTreeMap::new();
            let mut in_slot = vec![false; slots];
            let mut reserved = Vec::new();
            let mut now = 0;
            for (n, (dt, op, slot)) in ops.into_iter().enumerate() {
                let slot = slot as usize % slots;
                match op {
                    0 | 1 => {
                        let expected = oracle.pop_first().map(|((t, _), e)| (SimTime(t), e));
                        if let Some((t, (_, s))) = expected {
                            now = t.0;
                            if let Some(s) = s {
                                in_slot[s] = false;
                            }
                        }
                        prop_assert_eq!(q.pop_until(SimTime(u64::MAX)), expected);
                    }
                    2 if !in_slot[slot] => {
                        let seq = q.next_seq;
                        // dt = 4: a time before now, which is clamped to now.
                        let t = if dt == 4 { now.saturating_sub(1) } else { now + dt };
                        q.schedule_in_slot(slot as u32, SimTime(t), (n, Some(slot)));
                        oracle.insert((t.max(now), seq), (n, Some(slot)));
                        in_slot[slot] = true;
                    }
                    3 => reserved.push(q.reserve_sequence()),
                    4 if !reserved.is_empty() => {
                        let seq = reserved.swap_remove(n % reserved.len());
                        q.schedule_in_order(SimTime(now + dt), seq, (n, None));
                        oracle.insert((now + dt, seq), (n, None));
                    }
                    _ => {
                        let seq = q.next_seq;
                        q.schedule(SimTime(now + dt), (n, None));
                        oracle.insert((now + dt, seq), (n, None));
                    }
                }
                prop_assert_eq!(q.len(), oracle.len());
                prop_assert_eq!(q.peek_time(), oracle.keys().next().map(|&(t, _)| SimTime(t)));
                prop_assert_eq!(q.peek().map(|(_, e)| *e), oracle.values().next().copied());
            }
        }

        /// Oracle: a sorted map of (time, sequence number), with events scheduled
        /// under numbers reserved earlier (deferred mail), so that an event may go in
        /// front of the earliest pending one, or just behind it, at the same instant.
        #[test]
        fn reserved_numbers_and_pops_match_a_sorted_map(
            ops in proptest::collection::vec((0u64..4, 0u8..4), 0..400)
        ) {
            let mut q = EventQueue::default();
            let mut oracle = std::collections::BTreeMap::new();
            let mut reserved = Vec::new();
            let mut now = 0;
            for (n, (dt, op)) in ops.into_iter().enumerate() {
                match op {
                    0 => {
                        let expected = oracle.pop_first().map(|((t, _), e)| (SimTime(t), e));
                        if let Some((t, _)) = expected {
                            now = t.0;
                        }
                        prop_assert_eq!(q.pop_until(SimTime(u64::MAX)), expected);
                    }
                    1 => reserved.push(q.reserve_sequence()),
                    2 if !reserved.is_empty() => {
                        let seq = reserved.swap_remove(n % reserved.len());
                        q.schedule_in_order(SimTime(now + dt), seq, n);
                        oracle.insert((now + dt, seq), n);
                    }
                    _ => {
                        let seq = q.next_seq;
                        q.schedule(SimTime(now + dt), n);
                        oracle.insert((now + dt, seq), n);
                    }
                }
                prop_assert_eq!(q.len(), oracle.len());
                prop_assert_eq!(q.peek_time(), oracle.keys().next().map(|&(t, _)| SimTime(t)));
            }
        }
    }
}
