//! Recorders observe a run as it happens (the streamed throughput table, the
//! transaction trace). They never change the run. Every method has an empty default,
//! so a recorder implements only what it needs; a pair and an `Option` of recorders
//! are recorders too.

use crate::world::client::TransactionTrace;
use crate::world::mta::AttemptCounts;
use relay::LimitEvent;
use relay::time::SimTime;

pub trait Recorder {
    /// A sender handed a message to its MTA with `recipients` recipients bound for
    /// the relay (M5: internally routed ones excluded).
    fn message_offered(&mut self, _time: SimTime, _tenant: usize, _recipients: u32) {}
    /// The MTA's attempt to deliver one message through the relay ended.
    fn attempt(&mut self, _time: SimTime, _tenant: usize, _counts: &AttemptCounts) {}
    /// A connection to the relay was opened or refused.
    fn connection(&mut self, _time: SimTime, _tenant: usize, _opened: bool) {}
    /// An SMTP transaction ended. `tenant` is the customer charged (Q8), or the MTA's
    /// tenant when the relay refused the transaction before attributing it.
    fn transaction(
        &mut self,
        _tenant: usize,
        _mta: usize,
        _connection: u64,
        _trace: &TransactionTrace<'_>,
    ) {
    }
    /// A limit was hit or cleared.
    fn limit_event(&mut self, _event: &LimitEvent) {}
    /// MTA `mta` holds `depth` messages in its queue from `time` on.
    fn queue_depth(&mut self, _time: SimTime, _mta: usize, _depth: usize) {}
}

/// A recorder that records nothing.
impl Recorder for () {}

/// A borrowed recorder records into what it borrows.
impl<R: Recorder> Recorder for &mut R {
    fn message_offered(&mut self, time: SimTime, tenant: usize, recipients: u32) {
        (**self).message_offered(time, tenant, recipients);
    }
    fn attempt(&mut self, time: SimTime, tenant: usize, counts: &AttemptCounts) {
        (**self).attempt(time, tenant, counts);
    }
    fn connection(&mut self, time: SimTime, tenant: usize, opened: bool) {
        (**self).connection(time, tenant, opened);
    }
    fn transaction(
        &mut self,
        tenant: usize,
        mta: usize,
        connection: u64,
        trace: &TransactionTrace<'_>,
    ) {
        (**self).transaction(tenant, mta, connection, trace);
    }
    fn limit_event(&mut self, event: &LimitEvent) {
        (**self).limit_event(event);
    }
    fn queue_depth(&mut self, time: SimTime, mta: usize, depth: usize) {
        (**self).queue_depth(time, mta, depth);
    }
}

impl<A: Recorder, B: Recorder> Recorder for (A, B) {
    fn message_offered(&mut self, time: SimTime, tenant: usize, recipients: u32) {
        self.0.message_offered(time, tenant, recipients);
        self.1.message_offered(time, tenant, recipients);
    }
    fn attempt(&mut self, time: SimTime, tenant: usize, counts: &AttemptCounts) {
        self.0.attempt(time, tenant, counts);
        self.1.attempt(time, tenant, counts);
    }
    fn connection(&mut self, time: SimTime, tenant: usize, opened: bool) {
        self.0.connection(time, tenant, opened);
        self.1.connection(time, tenant, opened);
    }
    fn transaction(
        &mut self,
        tenant: usize,
        mta: usize,
        connection: u64,
        trace: &TransactionTrace<'_>,
    ) {
        self.0.transaction(tenant, mta, connection, trace);
        self.1.transaction(tenant, mta, connection, trace);
    }
    fn limit_event(&mut self, event: &LimitEvent) {
        self.0.limit_event(event);
        self.1.limit_event(event);
    }
    fn queue_depth(&mut self, time: SimTime, mta: usize, depth: usize) {
        self.0.queue_depth(time, mta, depth);
        self.1.queue_depth(time, mta, depth);
    }
}

impl<R: Recorder> Recorder for Option<R> {
    fn message_offered(&mut self, time: SimTime, tenant: usize, recipients: u32) {
        if let Some(r) = self {
            r.message_offered(time, tenant, recipients);
        }
    }
    fn attempt(&mut self, time: SimTime, tenant: usize, counts: &AttemptCounts) {
        if let Some(r) = self {
            r.attempt(time, tenant, counts);
        }
    }
    fn connection(&mut self, time: SimTime, tenant: usize, opened: bool) {
        if let Some(r) = self {
            r.connection(time, tenant, opened);
        }
    }
    fn transaction(
        &mut self,
        tenant: usize,
        mta: usize,
        connection: u64,
        trace: &TransactionTrace<'_>,
    ) {
        if let Some(r) = self {
            r.transaction(tenant, mta, connection, trace);
        }
    }
    fn limit_event(&mut self, event: &LimitEvent) {
        if let Some(r) = self {
            r.limit_event(event);
        }
    }
    fn queue_depth(&mut self, time: SimTime, mta: usize, depth: usize) {
        if let Some(r) = self {
            r.queue_depth(time, mta, depth);
        }
    }
}
