//! An MTA's connections to the relay, in numbered slots (M3).
//!
//! A connection's relay session is some 150 bytes, opened and ended once per message
//! in a run without connection caching. It lives in its slot from the slot's first
//! use on: the relay opens it there (`Relay::connect_into`) and ends it there
//! (`Session::end`), so no session is moved or allocated per connection.
//!
//! The MTA asks about its connections for every message it dispatches — which is
//! idle, which slot is free — and those questions read one byte per slot, not a
//! connection each. The lowest slot always answers first, so which connection is
//! taken (and so every output) does not depend on how the slots are stored.

use relay::Session;
use relay::time::SimTime;

/// One connection (open while its slot is not free).
pub(super) struct Conn {
    /// Its number in the run (the trace's connection number).
    pub id: u64,
    pub session: Session,
    pub opened: SimTime,
    /// Messages delivered on it.
    pub messages: u32,
    /// Bumped at each delivery and each idle wait, and never reset in a slot, so
    /// that a timed event of an earlier delivery, wait or connection finds it
    /// changed and does nothing.
    pub generation: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    Free,
    Idle,
    Busy,
}

#[derive(Default)]
pub(super) struct ConnSlots {
    conns: Vec<Conn>,
    /// `conns[i]`'s state, kept beside it so that scans touch one byte per slot.
    states: Vec<SlotState>,
    open: u32,
}

impl ConnSlots {
    /// Connections open now.
    pub fn open(&self) -> u32 {
        self.open
    }

    /// The open connection in `slot`.
    pub fn get(&self, slot: u32) -> Option<&Conn> {
        self.holds(slot).then(|| &self.conns[slot as usize])
    }

    /// The open connection in `slot`.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Conn> {
        self.holds(slot).then(|| &mut self.conns[slot as usize])
    }

    /// Whether slot `slot` holds an open connection.
    fn holds(&self, slot: u32) -> bool {
        self.states
            .get(slot as usize)
            .is_some_and(|&s| s != SlotState::Free)
    }

    /// The open connections, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Conn> {
        self.conns
            .iter()
            .zip(&self.states)
            .filter(|&(_, &s)| s != SlotState::Free)
            .map(|(c, _)| c)
    }

    /// Whether slot `slot` holds a connection that carries no message now.
    pub fn is_idle(&self, slot: u32) -> bool {
        self.states.get(slot as usize) == Some(&SlotState::Idle)
    }

    /// The slots of idle connections, lowest first.
    pub fn idle(&self) -> impl Iterator<Item = u32> + '_ {
        self.states
            .iter()
            .enumerate()
            .filter(|&(_, &s)| s == SlotState::Idle)
            .map(|(i, _)| i as u32)
    }

    /// The connection in `slot` starts (`true`) or ends (`false`) carrying a message.
    pub fn set_busy(&mut self, slot: u32, busy: bool) {
        let state = &mut self.states[slot as usize];
        debug_assert_ne!(*state, SlotState::Free, "a connection is in the slot");
        *state = if busy {
            SlotState::Busy
        } else {
            SlotState::Idle
        };
    }

    /// The lowest free slot (a new one if none is free), with its ended session for
    /// `Relay::connect_into`; [`ConnSlots::occupy`] it once the connection is open.
    pub fn free_slot(&mut self) -> (u32, &mut Session) {
        let slot = match self.states.iter().position(|&s| s == SlotState::Free) {
            Some(free) => free,
            None => {
                self.conns.push(Conn {
                    id: 0,
                    session: Session::ended(),
                    opened: SimTime::ZERO,
                    messages: 0,
                    generation: 0,
                });
                self.states.push(SlotState::Free);
                self.conns.len() - 1
            }
        };
        (slot as u32, &mut self.conns[slot].session)
    }

    /// The session opened in free slot `slot` is connection `id`, opened at `now`
    /// and idle.
    pub fn occupy(&mut self, slot: u32, id: u64, now: SimTime) {
        debug_assert_eq!(self.states[slot as usize], SlotState::Free);
        let c = &mut self.conns[slot as usize];
        c.id = id;
        c.opened = now;
        c.messages = 0;
        self.states[slot as usize] = SlotState::Idle;
        self.open += 1;
    }

    /// Frees `slot` and returns its connection, whose session the caller ends (if
    /// the slot held one).
    pub fn vacate(&mut self, slot: u32) -> Option<&mut Conn> {
        if !self.holds(slot) {
            return None;
        }
        self.states[slot as usize] = SlotState::Free;
        self.open -= 1;
        Some(&mut self.conns[slot as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens a connection numbered `id` in the lowest free slot.
    fn open(slots: &mut ConnSlots, id: u64) -> u32 {
        let (slot, _session) = slots.free_slot();
        slots.occupy(slot, id, SimTime(id));
        slot
    }

    #[test]
    fn the_lowest_slot_answers_first() {
        let mut slots = ConnSlots::default();
        let (a, b, c) = (
            open(&mut slots, 1),
            open(&mut slots, 2),
            open(&mut slots, 3),
        );
        assert_eq!((a, b, c, slots.open()), (0, 1, 2, 3));
        slots.set_busy(a, true);
        assert_eq!(slots.idle().collect::<Vec<_>>(), [1, 2], "busy is not idle");
        assert!(slots.vacate(b).is_some());
        assert!(slots.vacate(b).is_none(), "a free slot holds nothing");
        assert_eq!((slots.open(), slots.get(b).is_none()), (2, true));
        assert_eq!(open(&mut slots, 4), 1, "the freed slot is taken again");
        assert_eq!(slots.get(1).map(|c| c.id), Some(4));
        slots.set_busy(a, false);
        assert_eq!(slots.idle().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(slots.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 4, 3]);
    }

    /// A slot's generation runs on from one connection to the next, so that an event
    /// of the first cannot match the second.
    #[test]
    fn generations_run_on_in_a_slot() {
        let mut slots = ConnSlots::default();
        let slot = open(&mut slots, 1);
        slots.get_mut(slot).unwrap().generation = 2;
        slots.vacate(slot);
        assert_eq!(open(&mut slots, 2), slot);
        assert_eq!(
            slots.get(slot).map(|c| (c.id, c.messages, c.generation)),
            Some((2, 0, 2))
        );
    }
}
