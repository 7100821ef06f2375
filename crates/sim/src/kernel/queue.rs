//! The event queue.
//!
//! Events are ordered by `(time, sequence)`: `sequence` is a counter assigned at
//! scheduling, so events due at the same instant run in the order they were scheduled.
//! That total order makes a run a pure function of its inputs; nothing depends on heap
//! internals or on the order of equal keys.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use relay::time::SimTime;

struct Entry<E> {
    time: SimTime,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    fn key(&self) -> (SimTime, u64) {
        (self.time, self.seq)
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest entry first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// A priority queue of plain-data events on the virtual clock.
///
/// Scheduling and popping are `O(log n)` and allocate only when the heap grows past
/// its capacity (reserve it with [`EventQueue::with_capacity`]).
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
    now: SimTime,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl<E> EventQueue<E> {
    pub fn with_capacity(capacity: usize) -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(capacity),
            next_seq: 0,
            now: SimTime::ZERO,
        }
    }

    /// The time of the event popped last (the clock never runs backwards).
    pub fn now(&self) -> SimTime {
        self.now
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedules `event` at `time`. A time in the past is clamped to now: the clock
    /// is monotonic, and an event can at best happen immediately.
    pub fn schedule(&mut self, time: SimTime, event: E) {
        let time = time.max(self.now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { time, seq, event });
    }

    /// Time of the next event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.time)
    }

    /// The next event and its time, if any, without removing it.
    pub fn peek(&self) -> Option<(SimTime, &E)> {
        self.heap.peek().map(|e| (e.time, &e.event))
    }

    /// Removes the next event if it is due at or before `horizon`, advancing the clock.
    pub fn pop_until(&mut self, horizon: SimTime) -> Option<(SimTime, E)> {
        if self.peek_time()? > horizon {
            return None;
        }
        let entry = self.heap.pop()?;
        self.now = entry.time;
        Some((entry.time, entry.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    }
}
