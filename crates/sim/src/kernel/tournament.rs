//! A tournament tree over a fixed set of slots, each holding at most one pending
//! key: the earliest slot wins at the root.
//!
//! The event queue keeps here the events that recur one at a time per entity (a
//! sender's next arrival: popped, then its successor scheduled). In a heap that is a
//! pop down the whole heap and a push; here it is one replay of the matches on the
//! slot's path to the root — `log2(slots)` comparisons, no entries moved — and the
//! heap keeps only the other events, so it stays small.

use std::hint::select_unpredictable;

/// The key of an empty slot: above every real key (a real key's low 64 bits are a
/// sequence number, which never reaches `u64::MAX`).
pub(super) const EMPTY: u128 = u128::MAX;

#[derive(Debug)]
pub(super) struct Tournament {
    /// The slots' keys in halves — `times[s]` the high 64 bits (the time), `seqs[s]`
    /// the low (the sequence number) — `EMPTY`'s halves where none is pending;
    /// `width` of each (a power of two: the slots past the real ones stay empty).
    /// Apart, because a match reads the time only: two keys' times are equal
    /// only when two slots are due in the same millisecond.
    times: Vec<u64>,
    seqs: Vec<u64>,
    /// The winning slot of each node of a complete binary tree in heap order: the
    /// root at 1, node `n`'s children at `2n` and `2n + 1`, slot `s` the leaf at
    /// `width + s`. Index 0 is unused. Slots, not keys: at 4 bytes a node the tree
    /// of 256 slots is 2 KiB, and the times 2 KiB, beside the run's other hot data.
    winners: Vec<u32>,
    /// Slots whose key is not `EMPTY`.
    occupied: usize,
    /// A slot emptied by [`Tournament::take`] whose path is not replayed yet: the
    /// slot is usually set again at once (a sender's next arrival), and that set
    /// replays it; anything else replays it first.
    stale: Option<u32>,
}

impl Tournament {
    pub(super) fn new(slots: usize) -> Self {
        let width = slots.next_power_of_two();
        let mut winners = vec![0; 2 * width];
        for (s, leaf) in winners[width..].iter_mut().enumerate() {
            *leaf = s as u32;
        }
        // Every key is EMPTY: the left child wins each match.
        for n in (1..width).rev() {
            winners[n] = winners[2 * n];
        }
        Tournament {
            times: vec![high(EMPTY); width],
            seqs: vec![low(EMPTY); width],
            winners,
            occupied: 0,
            stale: None,
        }
    }

    /// Slots with a key.
    pub(super) fn occupied(&self) -> usize {
        self.occupied
    }

    /// The earliest slot and its key (`EMPTY` when every slot is empty).
    #[inline]
    pub(super) fn earliest(&mut self) -> (u32, u128) {
        if let Some(slot) = self.stale.take() {
            self.replay(slot);
        }
        let slot = self.winners[1];
        (slot, self.key(slot))
    }

    /// The key of `slot`.
    pub(super) fn key(&self, slot: u32) -> u128 {
        let s = slot as usize;
        (u128::from(self.times[s]) << 64) | u128::from(self.seqs[s])
    }

    fn set_key(&mut self, slot: u32, key: u128) {
        self.times[slot as usize] = high(key);
        self.seqs[slot as usize] = low(key);
    }

    /// Sets the key of `slot`, which is empty, and replays its path's matches.
    #[inline]
    pub(super) fn set(&mut self, slot: u32, key: u128) {
        if let Some(stale) = self.stale.take()
            && stale != slot
        {
            self.replay(stale);
        }
        self.occupied += usize::from(key != EMPTY);
        self.set_key(slot, key);
        self.replay(slot);
    }

    /// Empties `slot`, the earliest (its path is replayed later: see `stale`).
    #[inline]
    pub(super) fn take(&mut self, slot: u32) {
        debug_assert!(self.stale.is_none(), "earliest() replayed the last taken");
        self.occupied -= 1;
        self.set_key(slot, EMPTY);
        self.stale = Some(slot);
    }

    /// Replays the matches on `slot`'s path: each node on it is the earlier of the
    /// winner carried up and the other child's (whose subtree did not change).
    ///
    /// Which of the two wins is a coin toss for the branch predictor (the slots'
    /// next arrivals are random), so the winner is *selected*, not branched to: a
    /// mispredicted branch per level cost more than the match itself. The times
    /// decide; only equal times (two slots due in one millisecond: rare, so that
    /// branch is predicted) look at the sequence numbers.
    #[inline]
    fn replay(&mut self, slot: u32) {
        let (times, seqs, winners) = (&self.times[..], &self.seqs[..], &mut self.winners[..]);
        let width = times.len();
        assert!(slot < width as u32 && winners.len() == 2 * width && seqs.len() == width);
        let mut n = width + slot as usize;
        let (mut carried, mut time) = (slot, times[slot as usize]);
        while n > 1 {
            // SAFETY: `1 < n < 2 * width = winners.len()` (asserted above; `n` only
            // halves), and every winner is a slot, below `width = times.len() =
            // seqs.len()` (`new` and this loop store nothing else).
            let (other, other_time) = unsafe {
                let other = *winners.get_unchecked(n ^ 1);
                (other, *times.get_unchecked(other as usize))
            };
            debug_assert!((other as usize) < width && (carried as usize) < width);
            let other_wins = if other_time != time {
                other_time < time
            } else {
                // SAFETY: as above, both are slots.
                unsafe { seqs.get_unchecked(other as usize) < seqs.get_unchecked(carried as usize) }
            };
            carried = select_unpredictable(other_wins, other, carried);
            time = select_unpredictable(other_wins, other_time, time);
            n /= 2;
            // SAFETY: `n < width`, as above.
            unsafe { *winners.get_unchecked_mut(n) = carried };
        }
    }
}

/// The high half of a key: its time.
fn high(key: u128) -> u64 {
    (key >> 64) as u64
}

/// The low half of a key: its sequence number.
fn low(key: u128) -> u64 {
    key as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_empty_tree_has_no_earliest_key() {
        for slots in [0usize, 1, 2, 5] {
            assert_eq!(Tournament::new(slots).earliest().1, EMPTY, "{slots} slots");
        }
    }

    proptest! {
        /// Oracle: the smallest of the slots' keys, found by a scan.
        #[test]
        fn the_root_is_the_earliest_slot(
            slots in 1usize..40,
            sets in proptest::collection::vec(
                (0usize..40, proptest::option::of((0u128..4, 0u128..1_000))),
                0..200,
            )
        ) {
            let mut tree = Tournament::new(slots);
            let mut oracle = vec![EMPTY; slots];
            for (slot, key) in sets {
                let slot = slot % slots;
                match key {
                    // Keys are unique in the queue: make them so here. Few times,
                    // so that many matches are decided by the sequence number.
                    Some((time, k)) if oracle[slot] == EMPTY => {
                        let key = (time << 64) | (k * 64 + slot as u128);
                        tree.set(slot as u32, key);
                        oracle[slot] = key;
                    }
                    // Pops take the earliest.
                    _ => {
                        let (winner, key) = tree.earliest();
                        if key != EMPTY {
                            tree.take(winner);
                            oracle[winner as usize] = EMPTY;
                        }
                    }
                }
                let min = *oracle.iter().min().unwrap();
                let (winner, winning) = tree.earliest();
                prop_assert_eq!(winning, min);
                if min != EMPTY {
                    prop_assert_eq!(oracle[winner as usize], min);
                }
                prop_assert_eq!(tree.occupied(), oracle.iter().filter(|&&k| k != EMPTY).count());
            }
        }
    }
}
