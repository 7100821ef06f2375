//! Q2: the unique recipients of one registered user in a window.
//!
//! A recipient counts while its **latest** delivery still counts. The window keeps,
//! per recipient that counts or is held, one entry (a hash map keyed by the interned
//! recipient number): the expiry of its latest delivery, and how many open
//! transactions hold it; and a FIFO of `(expiry, recipient)` in commit order to
//! expire them. A FIFO entry whose expiry is no longer the recipient's latest is
//! skipped when it reaches the front. Sending to the same recipient again within
//! one expiry (same millisecond, same fixed window or same bucket) adds nothing.
//!
//! Q12: recipients of open transactions are **held** (reserved) until their
//! transaction commits or ends. The recipients that count are the committed ones and
//! the held ones, each once: a recipient held by one transaction is not new for
//! another, and a committed recipient that expires while a transaction holds it
//! still counts until that transaction ends.
//!
//! One map for both (not one of expiries and one of holders) because a recipient
//! accepted in a transaction is looked up when held, committed and let go, and a
//! user's map is usually out of cache by its next transaction: one map, one miss.
//!
//! **Counting mode**, for runs that read no usage meter (`quota_usage.csv`): a user's
//! map is most of Q2's cost (a cache miss when a recipient is held, committed and
//! expired), yet a user far below the limit needs no exact count — one more
//! recipient fits whatever it is. A counting window keeps every delivery in the FIFO
//! (duplicates too) and no map; its first few held recipients are in the window
//! itself ([`OwnHolds`]: a transaction's holds are looked up again at its commit,
//! a few hundred instructions later, where a short scan finds what `hold` just
//! wrote), the rest in [`CountingHolds`], one small map of every counting window's
//! holds beyond its own. So `deliveries + held` is an upper
//! bound of the recipients that count ([`UniqueWindow::upper_bound`]). While one
//! more fits under that bound the answer is the exact window's; when it would not
//! (or a hit, a probe asks), [`UniqueWindow::make_exact`] builds the exact map from
//! the FIFO and the holds, and the window stays exact.

use std::collections::VecDeque;
use std::collections::hash_map::Entry::{Occupied, Vacant};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::time::SimTime;

/// An interned recipient address: the relay compares recipients by this number only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecipientId(pub u32);

/// An instant in 8 bytes aligned to 4 (its milliseconds' low and high halves): a
/// `SimTime` field aligns what holds it to 8 and pads a `u32` beside it to 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PackedTime([u32; 2]);

impl PackedTime {
    const fn new(t: SimTime) -> Self {
        let millis = t.0;
        PackedTime([millis as u32, (millis >> 32) as u32])
    }

    const fn get(self) -> SimTime {
        let [low, high] = self.0;
        SimTime(((high as u64) << 32) | low as u64)
    }
}

/// What the window knows of one recipient. An entry exists while the recipient
/// counts or is held.
///
/// 12 bytes aligned to 4, so that the map keeps an entry and its key in 16 (24 with
/// a `SimTime`). A user's map holds a recipient per recipient delivered in the
/// window, read at random (a cache miss per new recipient, out of L2 for a few
/// hundred users): a third less of it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The expiry of its latest delivery, while that counts; `NOT_COUNTED` else.
    expiry: PackedTime,
    /// Open transactions that hold it (Q12).
    holders: u32,
}

/// No committed delivery counts. Every expiry is at least 1 ms (a window is at
/// least 1 ms long), so this is never a real one.
const NOT_COUNTED: SimTime = SimTime::ZERO;

impl Entry {
    /// A recipient not seen yet: neither counted nor held.
    const UNSEEN: Entry = Entry {
        expiry: PackedTime::new(NOT_COUNTED),
        holders: 0,
    };

    fn expiry(&self) -> SimTime {
        self.expiry.get()
    }

    /// Sets the expiry, returning the one it replaces.
    fn replace_expiry(&mut self, expiry: SimTime) -> SimTime {
        std::mem::replace(&mut self.expiry, PackedTime::new(expiry)).get()
    }

    fn counted(&self) -> bool {
        self.expiry() != NOT_COUNTED
    }
}

/// A delivery in a window's expiry order: when it stops counting, and to whom.
/// 12 bytes (16 with a `SimTime`): the order holds one per delivered recipient.
#[derive(Clone, Copy, Debug)]
struct Due {
    expiry: PackedTime,
    rcpt: RecipientId,
}

#[derive(Clone, Debug, Default)]
pub struct UniqueWindow {
    /// Deliveries in expiry order. Exact: one per recipient and expiry (one whose
    /// expiry is no longer its recipient's latest is skipped at the front).
    /// Counting: every delivery that counts, duplicates too.
    order: VecDeque<Due>,
    /// Nothing in `order` expires before this instant (as `CountWindow`'s).
    next_due: SimTime,
    /// Every recipient that counts or is held (exact; empty while counting).
    entries: FxHashMap<RecipientId, Entry>,
    /// Entries whose latest delivery counts (exact; 0 while counting).
    counted: u64,
    /// Entries held and not counted: what holding adds to `distinct` (exact; 0
    /// while counting, where it would be `held`).
    held_only: u64,
    /// Entries held (while counting, recipients held in `own_holds` and in
    /// [`CountingHolds`]).
    held: u64,
    /// Counting mode (the module's doc).
    counting: bool,
    /// Its name in [`CountingHolds`] (counting windows).
    owner: u32,
    /// A counting window's first held recipients (the module's doc).
    own_holds: OwnHolds,
}

/// How many held recipients a counting window keeps in itself: most transactions
/// name a few recipients, and a user's transactions seldom overlap.
const OWN_HOLDS: usize = 4;

/// A counting window's held recipients while they are few, with their holders.
///
/// Why not all in [`CountingHolds`]: its hash map rewrites control bytes at every
/// hold and unhold, and each look-up loads a 16-byte group of them, which must wait
/// until the bytes just written reach the cache (a store cannot be forwarded to a
/// wider load): at a transaction's commit, each unhold waited for the last.
/// Here the look-up reads the same 4-byte words `hold` wrote.
#[derive(Clone, Copy, Debug, Default)]
struct OwnHolds {
    rcpts: [u32; OWN_HOLDS],
    holders: [u32; OWN_HOLDS],
    len: u32,
}

impl OwnHolds {
    fn find(&self, rcpt: RecipientId) -> Option<usize> {
        self.rcpts[..self.len as usize]
            .iter()
            .position(|&r| r == rcpt.0)
    }

    /// Holds `rcpt` as a new recipient if there is room: whether there was.
    fn push(&mut self, rcpt: RecipientId) -> bool {
        let i = self.len as usize;
        if i == OWN_HOLDS {
            return false;
        }
        self.rcpts[i] = rcpt.0;
        self.holders[i] = 1;
        self.len += 1;
        true
    }

    /// One holder fewer for the recipient at `i`: whether it was the last (the
    /// recipient then leaves, the last one taking its place).
    fn release(&mut self, i: usize) -> bool {
        self.holders[i] -= 1;
        if self.holders[i] > 0 {
            return false;
        }
        let last = self.len as usize - 1;
        self.rcpts[i] = self.rcpts[last];
        self.holders[i] = self.holders[last];
        self.len -= 1;
        true
    }

    fn iter(&self) -> impl Iterator<Item = (RecipientId, u32)> + '_ {
        let n = self.len as usize;
        let rcpts = self.rcpts[..n].iter().map(|&r| RecipientId(r));
        rcpts.zip(self.holders[..n].iter().copied())
    }

    fn len(&self) -> u64 {
        u64::from(self.len)
    }
}

/// The recipients held by open transactions in every counting window beyond those
/// it holds itself, by window (the module's doc): how many transactions hold each.
#[derive(Clone, Debug, Default)]
pub struct CountingHolds {
    holders: FxHashMap<(u32, RecipientId), u32>,
}

impl CountingHolds {
    /// One more transaction holds `rcpt` in window `owner`: whether it is the first.
    fn add(&mut self, owner: u32, rcpt: RecipientId) -> bool {
        let n = self.holders.entry((owner, rcpt)).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// One more transaction holds `rcpt` in window `owner` if one does already:
    /// whether one did.
    fn add_if_held(&mut self, owner: u32, rcpt: RecipientId) -> bool {
        self.holders
            .get_mut(&(owner, rcpt))
            .map(|n| *n += 1)
            .is_some()
    }

    /// A transaction no longer holds `rcpt` in window `owner`: whether none does now.
    fn remove(&mut self, owner: u32, rcpt: RecipientId) -> bool {
        let Occupied(mut held) = self.holders.entry((owner, rcpt)) else {
            panic!("unhold a recipient that is held");
        };
        *held.get_mut() -= 1;
        let last = *held.get() == 0;
        if last {
            held.remove();
        }
        last
    }

    /// The recipients held in window `owner`, with their holders, taken out.
    fn take(&mut self, owner: u32) -> Vec<(RecipientId, u32)> {
        let mut taken = Vec::new();
        self.holders.retain(|&(o, rcpt), &mut n| {
            let mine = o == owner;
            if mine {
                taken.push((rcpt, n));
            }
            !mine
        });
        taken
    }

    /// The recipients held in window `owner`.
    fn of(&self, owner: u32) -> impl Iterator<Item = RecipientId> + '_ {
        self.holders
            .keys()
            .filter(move |&&(o, _)| o == owner)
            .map(|&(_, rcpt)| rcpt)
    }

    /// Held recipients per window, `counts[owner]` (for the invariant check).
    pub fn count_by_owner(&self, counts: &mut [u64]) {
        for &(owner, _) in self.holders.keys() {
            counts[owner as usize] += 1;
        }
    }
}

impl UniqueWindow {
    /// An empty window in counting mode (the module's doc), named `owner` in its
    /// [`CountingHolds`].
    pub fn counting(owner: u32) -> Self {
        UniqueWindow {
            counting: true,
            owner,
            ..UniqueWindow::default()
        }
    }

    /// Whether the window is in counting mode: its exact counts are not kept.
    pub fn is_counting(&self) -> bool {
        self.counting
    }

    /// At least the recipients that count, committed or held: [`UniqueWindow::used`]
    /// when exact; while counting, the deliveries that count plus the held
    /// recipients.
    #[inline]
    pub fn upper_bound(&self) -> u64 {
        if self.counting {
            self.order.len() as u64 + self.held
        } else {
            self.used()
        }
    }

    /// Leaves counting mode: the exact map of every recipient that counts, built
    /// from the deliveries and the holds (O(deliveries), once per window; its holds
    /// leave `holds`). Nothing if already exact.
    pub fn make_exact(&mut self, holds: &mut CountingHolds) {
        if !self.counting {
            return;
        }
        self.counting = false;
        let own = std::mem::take(&mut self.own_holds);
        let shared = if self.held > own.len() {
            holds.take(self.owner)
        } else {
            Vec::new()
        };
        for (rcpt, holders) in own.iter().chain(shared) {
            self.entries.insert(
                rcpt,
                Entry {
                    holders,
                    ..Entry::UNSEEN
                },
            );
        }
        debug_assert_eq!(self.entries.len() as u64, self.held);
        self.held_only = self.held;
        // In expiry order, so each recipient ends with its latest expiry.
        for &Due { expiry, rcpt } in &self.order {
            let e = self.entries.entry(rcpt).or_insert(Entry::UNSEEN);
            if e.replace_expiry(expiry.get()) == NOT_COUNTED {
                self.counted += 1;
                if e.holders > 0 {
                    self.held_only -= 1;
                }
            }
        }
        // One FIFO entry per recipient that counts, at its latest expiry, as an
        // exact window keeps them (`frees_room_at` counts each once).
        let entries = &self.entries;
        let mut listed = FxHashSet::default();
        self.order
            .retain(|d| entries[&d.rcpt].expiry == d.expiry && listed.insert(d.rcpt));
    }

    /// Drops recipients whose latest delivery no longer counts at `now`. Asked at
    /// every RCPT, and mostly nothing is due: that answer is inlined.
    #[inline]
    pub fn expire(&mut self, now: SimTime) {
        if now >= self.next_due {
            self.expire_due(now);
        }
    }

    #[inline(never)]
    fn expire_due(&mut self, now: SimTime) {
        while let Some(&Due { expiry, rcpt }) = self.order.front() {
            let expiry = expiry.get();
            if expiry > now {
                break;
            }
            self.order.pop_front();
            if self.counting {
                continue;
            }
            if let Some(e) = self.entries.get_mut(&rcpt)
                && e.expiry() == expiry
            {
                e.replace_expiry(NOT_COUNTED);
                self.counted -= 1;
                if e.holders > 0 {
                    self.held_only += 1;
                } else {
                    self.entries.remove(&rcpt);
                }
            }
        }
        self.next_due = self.order.front().map_or(SimTime::MAX, |d| d.expiry.get());
    }

    /// Distinct committed recipients (call `expire` first; exact windows only).
    pub fn distinct(&self) -> u64 {
        debug_assert!(!self.counting, "distinct of a counting window");
        self.counted
    }

    /// Held recipients that are not committed (Q12; exact windows only).
    pub fn reserved(&self) -> u64 {
        debug_assert!(!self.counting, "reserved of a counting window");
        self.held_only
    }

    /// Whether any open transaction holds a recipient.
    pub fn holds_any(&self) -> bool {
        self.held > 0
    }

    /// Distinct recipients that count: committed or held, each once.
    pub fn used(&self) -> u64 {
        self.distinct() + self.held_only
    }

    /// Whether `rcpt` already counts, committed or held (a further delivery to it is
    /// not a new one; exact windows only).
    pub fn contains(&self, rcpt: RecipientId) -> bool {
        debug_assert!(!self.counting, "contains of a counting window");
        self.entries.contains_key(&rcpt)
    }

    /// An open transaction holds `rcpt` until it commits or ends (`unhold`). A
    /// counting window keeps it in `holds`; an exact one in its own map.
    pub fn hold(&mut self, rcpt: RecipientId, holds: &mut CountingHolds) {
        if self.counting {
            self.hold_counting(rcpt, holds);
            return;
        }
        match self.entries.entry(rcpt) {
            Occupied(mut seen) => {
                let e = seen.get_mut();
                if e.holders == 0 {
                    self.held += 1;
                    if !e.counted() {
                        self.held_only += 1;
                    }
                }
                e.holders += 1;
            }
            // Most recipients are new: their entry is written whole and not read
            // back. Reading it back waited for its bucket's cache line, which the
            // look-up of a new key never loads (it reads the control bytes only);
            // the write goes to the store buffer and the line arrives by DATA's
            // commit. (Measured in benches/README, twelfth part: most of the gain
            // waits on D2's locked instructions, which drain the store buffer.)
            Vacant(new) => {
                new.insert(Entry {
                    holders: 1,
                    ..Entry::UNSEEN
                });
                self.held += 1;
                self.held_only += 1;
            }
        }
    }

    /// [`UniqueWindow::hold`] of a counting window: in `own_holds` if it is there or
    /// has room and `holds` does not have it, else in `holds`.
    fn hold_counting(&mut self, rcpt: RecipientId, holds: &mut CountingHolds) {
        if let Some(i) = self.own_holds.find(rcpt) {
            self.own_holds.holders[i] += 1;
            return;
        }
        let shares = self.held > self.own_holds.len();
        if shares && holds.add_if_held(self.owner, rcpt) {
            return;
        }
        if !self.own_holds.push(rcpt) {
            holds.add(self.owner, rcpt);
        }
        self.held += 1;
    }

    /// A transaction that held `rcpt` has committed it or ended (`holds`: as for
    /// [`UniqueWindow::hold`]).
    pub fn unhold(&mut self, rcpt: RecipientId, holds: &mut CountingHolds) {
        if self.counting {
            let last = match self.own_holds.find(rcpt) {
                Some(i) => self.own_holds.release(i),
                None => holds.remove(self.owner, rcpt),
            };
            self.held -= u64::from(last);
            return;
        }
        let e = self
            .entries
            .get_mut(&rcpt)
            .filter(|e| e.holders > 0)
            .expect("unhold a recipient that is held");
        e.holders -= 1;
        if e.holders == 0 {
            self.held -= 1;
            if !e.counted() {
                self.held_only -= 1;
                self.entries.remove(&rcpt);
            }
        }
    }

    /// Commits a delivery to `rcpt` that counts until `expiry`.
    pub fn commit(&mut self, rcpt: RecipientId, expiry: SimTime) {
        debug_assert!(expiry != NOT_COUNTED, "an expiry is at least 1 ms");
        if self.counting {
            self.push_due(rcpt, expiry);
            return;
        }
        let e = self.entries.entry(rcpt).or_insert(Entry::UNSEEN);
        let previous = e.replace_expiry(expiry);
        if previous == NOT_COUNTED {
            self.counted += 1;
            if e.holders > 0 {
                self.held_only -= 1;
            }
        }
        if previous != expiry {
            self.push_due(rcpt, expiry);
        }
    }

    /// [`UniqueWindow::commit`] of a recipient this transaction holds, then
    /// [`UniqueWindow::unhold`]: one look-up instead of two, as a transaction
    /// accepted after DATA commits its recipients (`holds`: as for
    /// [`UniqueWindow::hold`]).
    pub fn commit_held(&mut self, rcpt: RecipientId, expiry: SimTime, holds: &mut CountingHolds) {
        debug_assert!(expiry != NOT_COUNTED, "an expiry is at least 1 ms");
        if self.counting {
            self.unhold(rcpt, holds);
            self.push_due(rcpt, expiry);
            return;
        }
        let e = self
            .entries
            .get_mut(&rcpt)
            .filter(|e| e.holders > 0)
            .expect("commit_held a recipient that is held");
        let previous = e.replace_expiry(expiry);
        if previous == NOT_COUNTED {
            self.counted += 1;
            self.held_only -= 1;
        }
        e.holders -= 1;
        if e.holders == 0 {
            self.held -= 1;
        }
        if previous != expiry {
            self.push_due(rcpt, expiry);
        }
    }

    /// A delivery to `rcpt` that counts until `expiry`, the latest so far, joins
    /// the expiry order.
    fn push_due(&mut self, rcpt: RecipientId, expiry: SimTime) {
        debug_assert!(self.order.back().is_none_or(|d| d.expiry.get() <= expiry));
        self.order.push_back(Due {
            expiry: PackedTime::new(expiry),
            rcpt,
        });
        self.next_due = self.next_due.min(expiry);
    }

    /// Whether `expiry` is `rcpt`'s latest delivery, which still counts.
    fn is_latest(&self, rcpt: RecipientId, expiry: SimTime) -> bool {
        self.entries
            .get(&rcpt)
            .is_some_and(|e| e.expiry() == expiry)
    }

    /// The earliest instant at which fewer than `limit` recipients count (`None` if
    /// that is already so, or never; exact windows only).
    pub fn frees_room_at(&self, limit: u64) -> Option<SimTime> {
        debug_assert!(!self.counting, "frees_room_at of a counting window");
        let mut left = self.distinct();
        if left < limit {
            return None;
        }
        for &Due { expiry, rcpt } in &self.order {
            let expiry = expiry.get();
            if self.is_latest(rcpt, expiry) {
                left -= 1;
                if left < limit {
                    return Some(expiry);
                }
            }
        }
        None
    }

    /// Committed and held-only recipients, for a check that must not change the
    /// window: an exact window's counts; a counting window's bounds (deliveries,
    /// held recipients) while they fit under `limit`, else its exact counts, found
    /// from the deliveries and holds (O(deliveries)).
    pub fn counts_for_check(&self, limit: u64, holds: &CountingHolds) -> (u64, u64) {
        if !self.counting {
            return (self.counted, self.held_only);
        }
        if self.upper_bound() <= limit {
            return (self.order.len() as u64, self.held);
        }
        let committed: FxHashSet<RecipientId> = self.order.iter().map(|d| d.rcpt).collect();
        let own = self.own_holds.iter().map(|(rcpt, _)| rcpt);
        let held_only = own
            .chain(holds.of(self.owner))
            .filter(|r| !committed.contains(r))
            .count();
        (committed.len() as u64, held_only as u64)
    }

    /// The bookkeeping is consistent: every entry counts or is held, the counts
    /// match the entries, every counted recipient has its latest expiry in the FIFO,
    /// and the FIFO's expiries never decrease. A counting window has no entries,
    /// its own holds are of distinct recipients, each held, and `held_elsewhere`
    /// recipients are held in its [`CountingHolds`].
    pub fn check_structure(&self, held_elsewhere: u64) -> Result<(), String> {
        if self.counting {
            if !self.entries.is_empty() || self.counted != 0 || self.held_only != 0 {
                return Err("a counting window with entries".into());
            }
            let own = &self.own_holds;
            let distinct: FxHashSet<RecipientId> = own.iter().map(|(r, _)| r).collect();
            if distinct.len() as u64 != own.len() || own.iter().any(|(_, n)| n == 0) {
                return Err(format!("own holds {own:?}"));
            }
            if self.held != own.len() + held_elsewhere {
                return Err(format!(
                    "{} held in the window and {held_elsewhere} elsewhere; kept as {}",
                    own.len(),
                    self.held
                ));
            }
        } else {
            let (mut counted, mut held, mut held_only) = (0, 0, 0);
            for (rcpt, e) in &self.entries {
                if !e.counted() && e.holders == 0 {
                    return Err(format!("{rcpt:?} neither counts nor is held"));
                }
                counted += u64::from(e.counted());
                held += u64::from(e.holders > 0);
                held_only += u64::from(e.holders > 0 && !e.counted());
            }
            if (counted, held, held_only) != (self.counted, self.held, self.held_only) {
                return Err(format!(
                    "{counted} counted, {held} held, {held_only} held only; \
                     kept as {}, {}, {}",
                    self.counted, self.held, self.held_only
                ));
            }
        }
        if self
            .order
            .iter()
            .zip(self.order.iter().skip(1))
            .any(|(a, b)| a.expiry.get() > b.expiry.get())
        {
            return Err("expiries out of order".into());
        }
        if let Some(first) = self.order.front().map(|d| d.expiry.get())
            && self.next_due > first
        {
            return Err(format!(
                "the first delivery expires at {} ms, before it is looked for ({} ms)",
                first.as_millis(),
                self.next_due.as_millis()
            ));
        }
        let listed = self
            .order
            .iter()
            .filter(|d| self.is_latest(d.rcpt, d.expiry.get()))
            .count() as u64;
        if listed != self.counted {
            return Err(format!(
                "{} recipients counted, {listed} of them found in the expiry order",
                self.counted
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

    /// An entry and its key take 16 bytes in the map, a delivery in the expiry
    /// order 12, and the expiry in halves keeps every millisecond (a run's clock
    /// passes 2^32 ms after 50 days).
    #[test]
    fn an_entry_is_small_and_keeps_its_expiry() {
        assert_eq!(size_of::<(RecipientId, Entry)>(), 16);
        assert_eq!(size_of::<Due>(), 12);
        let mut e = Entry::UNSEEN;
        assert!(!e.counted());
        for millis in [1, u64::from(u32::MAX), 1 << 32, (1 << 32) + 7, u64::MAX] {
            let before = e.expiry();
            assert_eq!(e.replace_expiry(SimTime(millis)), before);
            assert_eq!(e.expiry(), SimTime(millis));
            assert!(e.counted());
        }
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
        let (mut w, holds) = (UniqueWindow::default(), &mut CountingHolds::default());
        w.hold(RecipientId(7), holds);
        assert!(
            w.contains(RecipientId(7)),
            "not new for the second transaction"
        );
        w.hold(RecipientId(7), holds);
        assert_eq!(w.used(), 1);
        w.unhold(RecipientId(7), holds);
        assert_eq!(w.used(), 1, "still held by the other");
        w.commit(RecipientId(7), at(100));
        w.unhold(RecipientId(7), holds);
        assert_eq!((w.used(), w.reserved()), (1, 0));
        w.hold(RecipientId(7), holds);
        w.expire(at(100));
        assert_eq!((w.distinct(), w.used()), (0, 1), "expired but held");
        w.unhold(RecipientId(7), holds);
        assert_eq!(w.used(), 0);
        assert!(!w.holds_any());
        w.check_structure(0).unwrap();
    }

    /// Q2, Q12: a counting window holds its first recipients itself and the rest in
    /// the shared map; a recipient held twice is one wherever it is held, a
    /// recipient in the map stays there when the window has room again, and made
    /// exact the window has every hold of both.
    #[test]
    fn q02_counting_holds_beyond_its_own_go_to_the_shared_map() {
        let holds = &mut CountingHolds::default();
        let (mut w, mut other) = (UniqueWindow::counting(0), UniqueWindow::counting(1));
        let n = OWN_HOLDS as u32 + 2;
        let checked = |w: &UniqueWindow, other: &UniqueWindow, holds: &CountingHolds| {
            let mut elsewhere = [0; 2];
            holds.count_by_owner(&mut elsewhere);
            w.check_structure(elsewhere[0]).unwrap();
            other.check_structure(elsewhere[1]).unwrap();
            (w.upper_bound(), elsewhere[0])
        };
        for r in 0..n {
            w.hold(RecipientId(r), holds);
            other.hold(RecipientId(r + 100), holds);
        }
        assert_eq!(checked(&w, &other, holds), (u64::from(n), 2));
        w.unhold(RecipientId(0), holds);
        w.hold(RecipientId(n - 1), holds);
        assert_eq!(
            checked(&w, &other, holds),
            (u64::from(n) - 1, 2),
            "held twice in the map: one recipient, and not moved to the room left"
        );
        w.hold(RecipientId(1), holds);
        w.hold(RecipientId(0), holds);
        assert_eq!(checked(&w, &other, holds), (u64::from(n), 2));
        w.unhold(RecipientId(n - 1), holds);
        assert_eq!(checked(&w, &other, holds), (u64::from(n), 2), "still held");
        w.make_exact(holds);
        assert_eq!((w.used(), w.reserved()), (u64::from(n), u64::from(n)));
        w.unhold(RecipientId(1), holds);
        assert!(w.contains(RecipientId(1)), "held twice, let go once");
        w.unhold(RecipientId(1), holds);
        w.unhold(RecipientId(n - 1), holds);
        assert!(!w.contains(RecipientId(1)) && !w.contains(RecipientId(n - 1)));
        assert_eq!(checked(&w, &other, holds), (u64::from(n) - 2, 0));
        assert_eq!(
            other.upper_bound(),
            u64::from(n),
            "the other window's holds stay"
        );
    }

    /// The recipients of the oracle test: more than a counting window holds itself,
    /// so that some of a window's holds are in the shared map.
    const RECIPIENTS: u32 = OWN_HOLDS as u32 + 3;

    proptest::proptest! {
        /// Oracle: an exact window that commits a held recipient as `commit` then
        /// `unhold`. Operations on a few recipients (held twice, committed again at
        /// the same or a later expiry, committed while held or not, expired while
        /// held), each done alike on
        /// - an exact window committing held recipients with `commit_held`: it must
        ///   stay the oracle's twin;
        /// - a counting window, beside a second counting window holding recipients of
        ///   its own in the same `CountingHolds`: it never counts fewer than the
        ///   oracle, and made exact at any moment (then operated on further) it
        ///   answers every question as the oracle does.
        #[test]
        fn held_commits_and_counting_windows_agree_with_the_exact_window(
            ops in proptest::collection::vec((0u8..6, 0u32..RECIPIENTS), 0..200)
        ) {
            use proptest::test_runner::TestCaseError;
            let (mut fast, mut oracle) = (UniqueWindow::default(), UniqueWindow::default());
            let (mut counting, mut other) = (UniqueWindow::counting(1), UniqueWindow::counting(0));
            let (shared, none) = (&mut CountingHolds::default(), &mut CountingHolds::default());
            let mut holds = [0u32; RECIPIENTS as usize];
            let mut now = 1;
            for (op, r) in ops {
                let rcpt = RecipientId(r);
                let expiry = at(now + 10);
                match op {
                    0 => {
                        fast.hold(rcpt, none);
                        oracle.hold(rcpt, none);
                        counting.hold(rcpt, shared);
                        other.hold(rcpt, shared);
                        holds[r as usize] += 1;
                    }
                    1 if holds[r as usize] > 0 => {
                        fast.commit_held(rcpt, expiry, none);
                        oracle.commit(rcpt, expiry);
                        oracle.unhold(rcpt, none);
                        counting.commit_held(rcpt, expiry, shared);
                        holds[r as usize] -= 1;
                    }
                    2 if holds[r as usize] > 0 => {
                        fast.unhold(rcpt, none);
                        oracle.unhold(rcpt, none);
                        counting.unhold(rcpt, shared);
                        holds[r as usize] -= 1;
                    }
                    3 => {
                        fast.commit(rcpt, expiry);
                        oracle.commit(rcpt, expiry);
                        counting.commit(rcpt, expiry);
                    }
                    4 if r == 0 => counting.make_exact(shared),
                    _ => {
                        now += u64::from(r) * 4;
                        fast.expire(at(now));
                        oracle.expire(at(now));
                        counting.expire(at(now));
                    }
                }
                fast.check_structure(0).map_err(TestCaseError::fail)?;
                proptest::prop_assert_eq!(
                    (fast.distinct(), fast.reserved(), fast.used(), fast.holds_any(), fast.entries()),
                    (oracle.distinct(), oracle.reserved(), oracle.used(), oracle.holds_any(), oracle.entries())
                );
                let mut held_elsewhere = [0; 2];
                shared.count_by_owner(&mut held_elsewhere);
                counting.check_structure(held_elsewhere[1]).map_err(TestCaseError::fail)?;
                other.check_structure(held_elsewhere[0]).map_err(TestCaseError::fail)?;
                proptest::prop_assert!(counting.upper_bound() >= oracle.used());
                proptest::prop_assert_eq!(counting.holds_any(), oracle.holds_any());
                for limit in 0..6 {
                    let (c, r) = counting.counts_for_check(limit, shared);
                    if counting.is_counting() && c + r <= limit {
                        proptest::prop_assert!(c + r >= oracle.used());
                    } else {
                        proptest::prop_assert_eq!((c, r), (oracle.distinct(), oracle.reserved()));
                    }
                }
                let mut made = counting.clone();
                made.make_exact(&mut shared.clone());
                made.check_structure(0).map_err(TestCaseError::fail)?;
                proptest::prop_assert_eq!(
                    (made.distinct(), made.reserved(), made.used(), made.upper_bound()),
                    (oracle.distinct(), oracle.reserved(), oracle.used(), oracle.used())
                );
                for c in 0..RECIPIENTS {
                    let c = RecipientId(c);
                    proptest::prop_assert_eq!(fast.contains(c), oracle.contains(c));
                    proptest::prop_assert_eq!(made.contains(c), oracle.contains(c));
                }
                for limit in 1..5 {
                    proptest::prop_assert_eq!(fast.frees_room_at(limit), oracle.frees_room_at(limit));
                    proptest::prop_assert_eq!(made.frees_room_at(limit), oracle.frees_room_at(limit));
                }
            }
        }
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
