//! A client MTA at work (rules M1–M6): its queue, its connections to the relay,
//! retries and bounces. Driven by the simulation through `submit` (a new message) and
//! `handle` (its own timed events); it reports through an `MtaSink`.
//!
//! - A message is tried when it arrives and when its retry time comes (M2); it waits
//!   in the ready queue for a connection. At most `concurrency` connections are open;
//!   it starts at the profile's initial value and grows by one after as many
//!   successful deliveries as it has connections (Postfix slow start, M3).
//! - A connection is opened (connect, EHLO, STARTTLS, AUTH) and carries one message
//!   at a time; with connection caching it then takes the next ready message, until
//!   its reuse time or count runs out, or it is closed after an idle time (M3).
//! - The relay's decisions are taken at the instant a delivery starts; the connection
//!   is then busy for the round trips and transfer time of that delivery.
//! - M1: a 4xx defers, a 5xx bounces. A 421 at connect or HELO (D1), or a refused
//!   connection, is a site failure: the delivery is deferred and the profile's
//!   `SiteHealth` says what else happens. Postfix lowers its concurrency by one and
//!   counts `1 / concurrency` failed cohorts; at one whole cohort the destination is
//!   dead for `minimal_backoff_time` (300 s) and due mail is deferred without a
//!   connection. Sendmail skips the destination until its next queue run. The others
//!   fall back to their initial concurrency and try again with the next message.
//! - M4: a message still undelivered at its queue lifetime (or past an Exim rule's last
//!   cutoff) bounces. Each bounce produces a non-delivery report to the original
//!   envelope sender, with an empty envelope sender; it goes through the relay unless
//!   the sender's domain is one the MTA routes elsewhere (M5). A report that bounces is
//!   dropped (it is not reported again).

use std::collections::{BTreeMap, VecDeque};

use smallvec::SmallVec;

use super::client::{self, ConnectFailure, Envelope, Fate, MtaClient, Reporting, Scratch};
use super::conn_slots::{Conn, ConnSlots};
use super::profile::{FailureKind, MtaParams, SiteHealth};
use super::queue_store::{QueueStore, Queued};
use crate::{Observation, Observer};
use relay::time::{SimDuration, SimTime};
use relay::{RecipientId, Relay};
use scenario::values::EnvelopeSender;

/// Whose message it is, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageTag {
    pub sender: u32,
    pub tenant: u32,
    /// The MTA whose queue holds it.
    pub mta: u32,
    /// A non-delivery report (M4) caused by a message of `sender`.
    pub notification: bool,
}

/// The recipients of one delivery attempt, by what the relay did with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    /// Accepted by the relay (250 after DATA).
    pub accepted_rcpts: u64,
    /// Refused with a 4xx, or not tried (connection refused, destination down).
    pub deferred_rcpts: u64,
    /// Of those, the recipients deferred for the first time (each recipient of a
    /// message is counted here at most once, however often it is retried).
    pub newly_deferred_rcpts: u64,
    /// Refused with a 5xx, or given up at the queue lifetime.
    pub rejected_rcpts: u64,
    /// Messages (transactions) accepted after DATA.
    pub accepted_msgs: u64,
    /// Recipients tried for the first time in this attempt (all of them on a
    /// message's first attempt, none on a retry): offered load, told apart from
    /// retries.
    pub first_attempt_rcpts: u64,
}

impl AttemptCounts {
    /// Whether this was its message's first attempt (every recipient tried for the
    /// first time; a message is retried only after a deferral).
    pub fn is_first(&self) -> bool {
        self.first_attempt_rcpts > 0
    }
}

/// The fates of one message's recipients when it leaves the queue (or at the horizon).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecipientFates {
    pub delivered: u64,
    pub bounced: u64,
    pub queued: u64,
}

/// The MTA's own timed events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MtaEvent {
    /// A queue run: the deferred messages due now are tried again (M2), one kernel
    /// event for all of them (see `MtaRuntime::deferred`).
    QueueRun,
    /// A connection finished its delivery.
    ConnectionDone { conn: u32, generation: u32 },
    /// An idle cached connection times out.
    IdleEnd { conn: u32, generation: u32 },
    /// The destination is tried again after a site failure (M1).
    SiteUp,
}

/// What the MTA needs of the simulation: its timed events scheduled, connection
/// numbers, and someone to observe what happens (every observation goes through
/// `Observer::observe`).
pub trait MtaSink: Observer {
    fn schedule(&mut self, at: SimTime, event: MtaEvent);
    /// The next number of the run's total order `(time, sequence)`, taken now for an
    /// event that waits in the MTA's own queue and is scheduled later with
    /// [`MtaSink::schedule_in_order`]: it keeps the place it would have had.
    fn reserve_sequence(&mut self) -> u64;
    /// Schedules `event` at `at` in the place of sequence number `seq`.
    fn schedule_in_order(&mut self, at: SimTime, seq: u64, event: MtaEvent);
    /// A fresh connection number (for the trace).
    fn next_connection(&mut self) -> u64;
}

/// The envelope senders of the scenario, by number (0 is the empty sender), each
/// resolved by the relay once.
#[derive(Clone, Debug)]
pub struct Envelopes {
    list: Vec<Envelope>,
    index: rustc_hash::FxHashMap<EnvelopeSender, u32>,
}

impl Envelopes {
    pub const NULL: u32 = 0;

    pub fn new(relay: &Relay) -> Self {
        let mut e = Envelopes {
            list: Vec::new(),
            index: Default::default(),
        };
        e.intern(&EnvelopeSender::Null, relay);
        e
    }

    pub fn intern(&mut self, sender: &EnvelopeSender, relay: &Relay) -> u32 {
        if let Some(&i) = self.index.get(sender) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(Envelope::new(i, sender.clone(), relay));
        self.index.insert(sender.clone(), i);
        i
    }

    pub fn get(&self, id: u32) -> &Envelope {
        &self.list[id as usize]
    }
}

/// What a message's sender fixes when it hands the message over. An MTA numbers its
/// origins before the run (`MtaRuntime::origin`: one per sender and envelope sender,
/// and per size a replay file gives), so a queued message names all of this with one
/// number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub tag: MessageTag,
    pub from: u32,
    /// Where a non-delivery report goes (`None`: the empty sender, no report), and
    /// whether the MTA delivers it itself (the sender's domain is routed elsewhere).
    pub bounce_to: Option<(RecipientId, bool)>,
    pub size: u64,
}

/// An origin and the origin of the non-delivery reports its bounces cause (M4).
#[derive(Clone, Copy, Debug)]
struct OriginEntry {
    origin: Origin,
    report: u32,
    /// How long sending its content takes (`MtaClient::transfer_time` of its size:
    /// a division and a rounding, made once).
    transfer: SimDuration,
}

/// A message handed to the MTA.
#[derive(Clone, Copy, Debug)]
pub struct NewMessage<'a> {
    /// Its origin's number (`MtaRuntime::origin`).
    pub origin: u32,
    /// Recipients bound for the relay.
    pub recipients: &'a [RecipientId],
    /// Recipients the MTA routes elsewhere (M5): delivered without the relay.
    pub routed_elsewhere: u32,
}

/// A deferred message and its place in the run's order (the sequence number its
/// retry was given when it was deferred), 12 bytes.
#[derive(Clone, Copy, Debug)]
struct Due {
    seq: [u32; 2],
    msg: u32,
}

impl Due {
    fn new(seq: u64, msg: u32) -> Self {
        Due {
            seq: [(seq >> 32) as u32, seq as u32],
            msg,
        }
    }

    fn seq(self) -> u64 {
        (u64::from(self.seq[0]) << 32) | u64::from(self.seq[1])
    }
}

/// The deferred messages due at one instant, in their order; one kernel event
/// (`QueueRun`, at the place of the next one to try) stands for them while `armed`.
#[derive(Debug, Default)]
struct DueGroup {
    entries: SmallVec<[Due; 2]>,
    /// Entries before this one were tried.
    next: usize,
    /// A `QueueRun` for this instant is in the kernel's queue, or running.
    armed: bool,
}

pub struct MtaRuntime {
    pub client: MtaClient,
    pub params: MtaParams,
    /// The MTA's number and its tenant's: every origin it numbers carries them
    /// (checked in debug builds).
    mta: u32,
    tenant: u32,
    queue: QueueStore,
    origins: Vec<OriginEntry>,
    /// `origins` by value, to number each once (during set-up; empty after
    /// `origins_numbered`).
    origin_numbers: rustc_hash::FxHashMap<Origin, u32>,
    ready: VecDeque<u32>,
    /// Deferred messages by the instant they are due (M2). A retry does not wait in
    /// the kernel's queue: the messages due at one instant are one queue run, as in
    /// a real MTA, with one kernel event at a time (the next message's), and each
    /// keeps the sequence number it was deferred with, so the order of the run is
    /// exactly as if each were an event of its own.
    deferred: BTreeMap<SimTime, DueGroup>,
    conns: ConnSlots,
    concurrency: u32,
    successes: u32,
    /// Postfix: failed sessions since the last success, in cohorts (`qmgr_queue.c`).
    fail_cohorts: f64,
    down_until: SimTime,
    fates: Vec<Fate>,
    scratch: Scratch,
}

impl MtaRuntime {
    /// The MTA numbered `mta` of tenant `tenant`.
    pub fn new(client: MtaClient, params: MtaParams, mta: u32, tenant: u32) -> Self {
        MtaRuntime {
            concurrency: params.initial_concurrency,
            queue: QueueStore::new(params.retry.reads_failure_times()),
            origins: Vec::new(),
            origin_numbers: Default::default(),
            client,
            params,
            mta,
            tenant,
            ready: VecDeque::new(),
            deferred: BTreeMap::new(),
            conns: ConnSlots::default(),
            successes: 0,
            fail_cohorts: 0.0,
            down_until: SimTime::ZERO,
            fates: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// The number of `origin` (numbered on first sight, with the origin of its
    /// non-delivery reports): for set-up, not for every message.
    pub fn origin(&mut self, origin: Origin) -> u32 {
        if let Some(&n) = self.origin_numbers.get(&origin) {
            return n;
        }
        debug_assert_eq!(
            (origin.tag.mta, origin.tag.tenant),
            (self.mta, self.tenant),
            "a message of this MTA"
        );
        let report = match origin.bounce_to {
            Some(_) if !origin.tag.notification => self.origin(Origin {
                tag: MessageTag {
                    notification: true,
                    ..origin.tag
                },
                from: Envelopes::NULL,
                bounce_to: None,
                size: NOTIFICATION_SIZE,
            }),
            // A report that bounces is dropped (it is not reported again).
            _ => NO_ORIGIN,
        };
        let n = u32::try_from(self.origins.len()).expect("fewer than 2³² origins");
        let transfer = self.client.transfer_time(origin.size);
        self.origins.push(OriginEntry {
            origin,
            report,
            transfer,
        });
        self.origin_numbers.insert(origin, n);
        n
    }

    /// Every origin is numbered (set-up is over): the index by value is let go (a
    /// population of 100,000 has 200,000 origins).
    pub fn origins_numbered(&mut self) {
        self.origin_numbers = Default::default();
        self.origins.shrink_to_fit();
    }

    /// The origin numbered `n`.
    pub fn origin_of(&self, n: u32) -> &Origin {
        &self.origins[n as usize].origin
    }

    /// Messages in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Connections open now (M3).
    pub fn open_connections(&self) -> u32 {
        self.conns.open()
    }

    /// Sessions to the relay that are open (the relay has not closed them).
    pub fn live_sessions(&self) -> u32 {
        self.conns.iter().filter(|c| c.session.is_open()).count() as u32
    }

    /// Checks what must hold between two events: the open-connection count matches
    /// the connections held, concurrency stays within its bounds; with `full`, every
    /// message is in exactly one place (a free slot is not live, a ready message is
    /// live and ready once, a live message still has recipients to deliver) and the
    /// queue count matches the live messages.
    pub fn check_invariants(&self, full: bool) -> Result<(), String> {
        let held = self.conns.iter().count() as u32;
        if held != self.conns.open() {
            return Err(format!(
                "{} connections counted open, {held} held",
                self.conns.open()
            ));
        }
        if !(1..=self.params.max_concurrency.max(1)).contains(&self.concurrency) {
            return Err(format!(
                "concurrency {} outside 1..={}",
                self.concurrency, self.params.max_concurrency
            ));
        }
        if !full {
            return Ok(());
        }
        let live = self.queue.iter().filter(|(_, q)| q.live()).count();
        if live != self.queued() {
            return Err(format!("{live} live messages, {} queued", self.queued()));
        }
        let mut seen = vec![false; self.queue.slot_count()];
        for &slot in self.queue.free_slots() {
            let q = self.queue.get(slot).ok_or("a free slot out of range")?;
            if q.live() || std::mem::replace(&mut seen[slot as usize], true) {
                return Err(format!("slot {slot} is free twice, or free and live"));
            }
        }
        seen.fill(false);
        for &msg in &self.ready {
            let q = self.queue.get(msg).ok_or("a ready message out of range")?;
            if !q.live() || std::mem::replace(&mut seen[msg as usize], true) {
                return Err(format!("message {msg} is ready twice, or ready but gone"));
            }
        }
        for (at, group) in &self.deferred {
            if !group.armed {
                return Err(format!("deferred messages due at {at} without a queue run"));
            }
            for due in &group.entries[group.next..] {
                let q = self
                    .queue
                    .get(due.msg)
                    .ok_or("a deferred message out of range")?;
                if !q.live() {
                    return Err(format!("message {} is deferred but gone", due.msg));
                }
            }
        }
        if let Some((i, _)) = self
            .queue
            .iter()
            .find(|(_, q)| q.live() && q.pending() == 0)
        {
            return Err(format!(
                "message {i} is queued with nothing left to deliver"
            ));
        }
        Ok(())
    }

    /// A new message arrives at `now`.
    pub fn submit(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        message: NewMessage<'_>,
        envelopes: &Envelopes,
        sink: &mut impl MtaSink,
    ) {
        let tag = self.origins[message.origin as usize].origin.tag;
        let total = message.recipients.len() as u32 + message.routed_elsewhere;
        sink.observe(
            now,
            &Observation::Generated {
                tag,
                recipients: total,
            },
        );
        if message.recipients.is_empty() {
            let fates = RecipientFates {
                delivered: u64::from(message.routed_elsewhere),
                ..RecipientFates::default()
            };
            sink.observe(
                now,
                &Observation::Settled {
                    tag,
                    fates,
                    delay: Some(SimDuration::ZERO),
                    age: SimDuration::ZERO,
                },
            );
            return;
        }
        let slot = self.queue.queue(
            now,
            message.origin,
            message.recipients,
            message.routed_elsewhere,
        );
        self.ready.push_back(slot);
        let (mta, depth) = (tag.mta, self.queued());
        sink.observe(now, &Observation::QueueDepth { mta, depth });
        self.dispatch(relay, now, envelopes, sink);
    }

    pub fn handle(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        event: MtaEvent,
        envelopes: &Envelopes,
        sink: &mut impl MtaSink,
    ) {
        match event {
            MtaEvent::QueueRun => self.queue_run(relay, now, envelopes, sink),
            MtaEvent::ConnectionDone { conn, generation } => {
                if self.conn_mut(conn, generation).is_none() {
                    return;
                }
                self.conns.set_busy(conn, false);
                if !(self.params.connection_cache && self.reusable(conn, now)) {
                    self.close(relay, now, conn);
                }
                self.dispatch(relay, now, envelopes, sink);
                // Still idle: it waits for its idle time, then closes (M3).
                if self.conns.is_idle(conn)
                    && let Some(c) = self.conns.get_mut(conn)
                {
                    c.generation += 1;
                    let generation = c.generation;
                    sink.schedule(
                        now + self.params.connection_idle_time,
                        MtaEvent::IdleEnd { conn, generation },
                    );
                }
            }
            MtaEvent::IdleEnd { conn, generation } => {
                if self.conn_mut(conn, generation).is_some() && self.conns.is_idle(conn) {
                    self.close(relay, now, conn);
                    self.dispatch(relay, now, envelopes, sink);
                }
            }
            MtaEvent::SiteUp => self.dispatch(relay, now, envelopes, sink),
        }
    }

    /// At the horizon: every message still queued is reported as such.
    pub fn settle_at_horizon(&mut self, horizon: SimTime, sink: &mut impl MtaSink) {
        for (_, q) in self.queue.iter().filter(|(_, q)| q.live()) {
            let fates = RecipientFates {
                delivered: u64::from(q.delivered),
                bounced: u64::from(q.bounced),
                queued: q.pending() as u64,
            };
            let tag = self.tag_of(q);
            sink.observe(
                horizon,
                &Observation::Settled {
                    tag,
                    fates,
                    delay: None,
                    age: horizon.saturating_since(q.birth),
                },
            );
        }
    }

    /// The tag a queued message is counted under.
    fn tag_of(&self, q: &Queued) -> MessageTag {
        self.origins[q.origin as usize].origin.tag
    }

    /// The origin of queued message `msg`, with the origin of its reports.
    fn entry_of(&self, msg: u32) -> OriginEntry {
        self.origins[self.queue.message(msg).origin as usize]
    }

    /// M2: message `msg` is tried again at `at` (not before now), in the queue run of
    /// that instant; it takes its place in the run's order now.
    fn defer(&mut self, msg: u32, at: SimTime, sink: &mut impl MtaSink) {
        let seq = sink.reserve_sequence();
        let group = self.deferred.entry(at).or_default();
        group.entries.push(Due::new(seq, msg));
        if !group.armed {
            group.armed = true;
            sink.schedule_in_order(at, seq, MtaEvent::QueueRun);
        }
    }

    /// The queue run of `now` takes its next message: to the ready queue, and
    /// dispatched. Then the run waits for its next message's place in the order
    /// (other events of this instant may come between two of them, and the driver
    /// reports after each event), exactly as if each message were an event of its own.
    fn queue_run(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        envelopes: &Envelopes,
        sink: &mut impl MtaSink,
    ) {
        let Some(group) = self.deferred.get_mut(&now) else {
            return;
        };
        let Some(&due) = group.entries.get(group.next) else {
            self.deferred.remove(&now);
            return;
        };
        group.next += 1;
        if self.queue.is_live(due.msg) {
            self.ready.push_back(due.msg);
        }
        self.dispatch(relay, now, envelopes, sink);
        // Messages deferred to this same instant meanwhile joined the group.
        let group = self.deferred.get_mut(&now).expect("the group of this run");
        match group.entries.get(group.next) {
            Some(next) => sink.schedule_in_order(now, next.seq(), MtaEvent::QueueRun),
            None => {
                self.deferred.remove(&now);
            }
        }
    }

    fn conn_mut(&mut self, conn: u32, generation: u32) -> Option<&mut Conn> {
        self.conns
            .get_mut(conn)
            .filter(|c| c.generation == generation)
    }

    /// M3: an open connection may take another message.
    fn reusable(&self, conn: u32, now: SimTime) -> bool {
        let Some(c) = self.conns.get(conn) else {
            return false;
        };
        c.session.is_open()
            && now.saturating_since(c.opened) < self.params.connection_reuse_time
            && (self.params.connection_reuse_count == 0
                || c.messages < self.params.connection_reuse_count)
    }

    fn close(&mut self, relay: &mut Relay, now: SimTime, conn: u32) {
        if let Some(c) = self.conns.vacate(conn) {
            client::close(relay, now, &mut c.session);
        }
    }

    /// Starts deliveries while messages are ready and connections allow.
    fn dispatch(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        envelopes: &Envelopes,
        sink: &mut impl MtaSink,
    ) {
        while let Some(&msg) = self.ready.front() {
            if now < self.down_until {
                // M1: the destination is down until the next queue run.
                self.ready.pop_front();
                let n = self.queue.pending(msg).len();
                self.fates.clear();
                self.fates.resize(n, Fate::Deferred);
                self.after_attempt(relay, now, msg, FailureKind::Connection, envelopes, sink);
                continue;
            }
            let idle = if self.params.connection_cache {
                self.conns.idle().find(|&c| self.reusable(c, now))
            } else {
                None
            };
            if let Some(conn) = idle {
                self.ready.pop_front();
                self.deliver(relay, now, conn, msg, SimDuration::ZERO, envelopes, sink);
                continue;
            }
            if self.conns.open() >= self.concurrency {
                // Make room by closing an idle connection that cannot be reused.
                let stale = self.conns.idle().next();
                match stale {
                    Some(c) => self.close(relay, now, c),
                    None => break,
                }
                continue;
            }
            self.ready.pop_front();
            let tag = self.entry_of(msg).origin.tag;
            let id = sink.next_connection();
            let (conn, session) = self.conns.free_slot();
            let opened = {
                let mut report = Reporting {
                    out: &mut *sink,
                    tag,
                    connection: id,
                };
                client::open(relay, now, &self.client, session, &mut report)
            };
            match opened {
                Ok(()) => {
                    self.conns.occupy(conn, id, now);
                    let setup = self.client.setup_time();
                    self.deliver(relay, now, conn, msg, setup, envelopes, sink);
                }
                Err(failure) => {
                    let n = self.queue.pending(msg).len();
                    let fate = match failure {
                        ConnectFailure::Refusal(fate) => fate,
                        ConnectFailure::Refused | ConnectFailure::SiteFailure => Fate::Deferred,
                    };
                    self.fates.clear();
                    self.fates.resize(n, fate);
                    if fate == Fate::Deferred {
                        self.site_failure(now, sink);
                    }
                    self.after_attempt(relay, now, msg, FailureKind::Connection, envelopes, sink);
                }
            }
        }
    }

    /// M1: a session failed as a whole (see `SiteHealth`).
    fn site_failure(&mut self, now: SimTime, sink: &mut impl MtaSink) {
        self.successes = 0;
        match self.params.site_health {
            SiteHealth::Cohorts {
                cohort_limit,
                revive_after,
            } => {
                self.fail_cohorts += 1.0 / f64::from(self.concurrency);
                if self.fail_cohorts >= cohort_limit {
                    // Dead; revived with its initial concurrency and no cohorts.
                    self.fail_cohorts = 0.0;
                    self.concurrency = self.params.initial_concurrency;
                    self.down_until_at(now + revive_after, sink);
                } else {
                    self.concurrency = (self.concurrency - 1).max(1);
                }
            }
            SiteHealth::UntilNextQueueRun => {
                self.concurrency = self.params.initial_concurrency;
                if let Some(q) = self.params.retry.queue_run() {
                    let q = q.as_millis().max(1);
                    self.down_until_at(SimTime((now.as_millis() / q + 1) * q), sink);
                }
            }
            SiteHealth::Retry => self.concurrency = self.params.initial_concurrency,
        }
    }

    /// The destination is down until `until`: due mail is deferred without a
    /// connection until then.
    fn down_until_at(&mut self, until: SimTime, sink: &mut impl MtaSink) {
        if until > self.down_until {
            self.down_until = until;
            sink.schedule(until, MtaEvent::SiteUp);
        }
    }

    /// One message over connection `conn`, which becomes busy for `extra` (its set-up)
    /// plus the delivery's own time.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        conn: u32,
        msg: u32,
        extra: SimDuration,
        envelopes: &Envelopes,
        sink: &mut impl MtaSink,
    ) {
        let OriginEntry {
            origin, transfer, ..
        } = self.entry_of(msg);
        let tag = origin.tag;
        let c = self.conns.get_mut(conn).expect("a live connection");
        let stats = {
            let mut report = Reporting {
                out: &mut *sink,
                tag,
                connection: c.id,
            };
            client::deliver_on(
                relay,
                now,
                &mut c.session,
                &self.client,
                envelopes.get(origin.from),
                self.queue.pending(msg),
                &mut self.fates,
                &mut self.scratch,
                &mut report,
            )
        };
        c.messages += 1;
        c.generation += 1;
        let generation = c.generation;
        self.conns.set_busy(conn, true);
        let done = now + extra + self.client.delivery_time(transfer, stats.transactions);
        sink.schedule(done, MtaEvent::ConnectionDone { conn, generation });
        if stats.accepted > 0 {
            self.fail_cohorts = 0.0; // Postfix: a success clears the failed cohorts
            // M3: slow start, one more connection per `concurrency` successes.
            self.successes += 1;
            if self.successes >= self.concurrency {
                self.successes = 0;
                self.concurrency = (self.concurrency + 1).min(self.params.max_concurrency);
            }
        }
        self.after_attempt(relay, now, msg, FailureKind::Reply, envelopes, sink);
    }

    /// Message `msg` still has recipients after an attempt that failed for `kind`:
    /// its next attempt is scheduled, or (M4: at the queue lifetime, or past an Exim
    /// rule) they bounce: `Some` of how many. Out of line: most attempts
    /// leave nothing pending, and this code would stand between theirs in the
    /// instruction cache.
    #[inline(never)]
    fn retry_or_bounce(
        &mut self,
        now: SimTime,
        msg: u32,
        birth: SimTime,
        kind: FailureKind,
        sink: &mut impl MtaSink,
    ) -> Option<u64> {
        let next = if now.saturating_since(birth) >= self.params.queue_lifetime {
            None
        } else {
            let mut retry = self.queue.retry(msg);
            let next = self.params.retry.after_failure(&mut retry, now, kind);
            self.queue.set_retry(msg, retry);
            next
        };
        match next {
            Some(t) => {
                self.defer(msg, t.max(now), sink);
                None
            }
            None => Some(u64::from(self.queue.bounce_pending(msg))),
        }
    }

    /// Applies `self.fates` to message `msg`: counts, bounces, retry or done; `kind`
    /// is why the deferred recipients (if any) failed.
    #[allow(clippy::too_many_arguments)]
    fn after_attempt(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        msg: u32,
        kind: FailureKind,
        envelopes: &Envelopes,
        sink: &mut impl MtaSink,
    ) {
        let OriginEntry { origin, report, .. } = self.entry_of(msg);
        let tag = origin.tag;
        // Counted in locals, not in `counts` (whose address the observation takes):
        // a count in memory is a store and a load per recipient, each waiting for
        // the last.
        let (mut accepted, mut rejected, mut deferred) = (0u64, 0u64, 0u64);
        let mut i = 0;
        let fates = &self.fates;
        self.queue.retain_pending(msg, |_| {
            let fate = fates[i];
            i += 1;
            accepted += u64::from(fate == Fate::Delivered);
            rejected += u64::from(fate == Fate::Bounced);
            deferred += u64::from(fate == Fate::Deferred);
            fate == Fate::Deferred
        });
        let mut counts = AttemptCounts {
            accepted_rcpts: accepted,
            rejected_rcpts: rejected,
            deferred_rcpts: deferred,
            ..AttemptCounts::default()
        };
        let q = self.queue.get_mut(msg);
        counts.accepted_msgs = u64::from(counts.accepted_rcpts > 0);
        // A message's recipients still pending after an attempt were all deferred
        // in it, so an attempt before any deferral is the message's first.
        if !q.deferred_once() {
            counts.first_attempt_rcpts =
                counts.accepted_rcpts + counts.deferred_rcpts + counts.rejected_rcpts;
            if counts.deferred_rcpts > 0 {
                q.set_deferred_once();
                counts.newly_deferred_rcpts = counts.deferred_rcpts;
            }
        }
        // At most 10,000 recipients per message: the counts fit 16 bits.
        q.delivered += counts.accepted_rcpts as u16;
        q.bounced += counts.rejected_rcpts as u16;
        let mut bounced_now = counts.rejected_rcpts;
        let birth = q.birth;
        sink.observe(
            now,
            &Observation::Attempt {
                tag,
                counts: &counts,
                arrived: birth,
            },
        );
        let mut done = q.pending() == 0;
        if !done && let Some(bounced) = self.retry_or_bounce(now, msg, birth, kind, sink) {
            bounced_now += bounced;
            done = true;
        }
        let q = self.queue.message(msg);
        let fates = RecipientFates {
            delivered: u64::from(q.delivered),
            bounced: u64::from(q.bounced),
            queued: q.pending() as u64,
        };
        if done {
            let age = now.saturating_since(birth);
            let delay = (fates.delivered > 0).then_some(age);
            self.queue.remove(msg);
            sink.observe(
                now,
                &Observation::Settled {
                    tag,
                    fates,
                    delay,
                    age,
                },
            );
            let (mta, depth) = (tag.mta, self.queued());
            sink.observe(now, &Observation::QueueDepth { mta, depth });
        }
        // M4: a non-delivery report to the original sender, through the relay unless
        // the MTA routes the sender's domain elsewhere (M5).
        if bounced_now > 0
            && report != NO_ORIGIN
            && let Some((to, local)) = origin.bounce_to
        {
            let report = NewMessage {
                origin: report,
                recipients: if local {
                    &[]
                } else {
                    std::slice::from_ref(&to)
                },
                routed_elsewhere: u32::from(local),
            };
            self.submit(relay, now, report, envelopes, sink);
        }
    }
}

/// The size of a non-delivery report.
const NOTIFICATION_SIZE: u64 = 5_000;

/// `OriginEntry::report` of an origin whose bounces are reported to no one.
const NO_ORIGIN: u32 = u32::MAX;

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;

    use super::*;
    use relay::Reply;
    use scenario::Model;

    /// Records what the MTA reports and runs its timed events in time order.
    #[derive(Default)]
    struct Recording {
        events: BinaryHeap<Reverse<(SimTime, u64, EventKey)>>,
        seq: u64,
        generated: u32,
        settled: Vec<(MessageTag, RecipientFates)>,
        connections: (u32, u32),
        replies: Vec<Reply>,
        next_connection: u64,
    }

    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct EventKey(u8, u32, u32);

    fn key(e: MtaEvent) -> EventKey {
        match e {
            MtaEvent::QueueRun => EventKey(0, 0, 0),
            MtaEvent::ConnectionDone { conn, generation } => EventKey(1, conn, generation),
            MtaEvent::IdleEnd { conn, generation } => EventKey(2, conn, generation),
            MtaEvent::SiteUp => EventKey(3, 0, 0),
        }
    }

    fn event(k: EventKey) -> MtaEvent {
        match k.0 {
            0 => MtaEvent::QueueRun,
            1 => MtaEvent::ConnectionDone {
                conn: k.1,
                generation: k.2,
            },
            2 => MtaEvent::IdleEnd {
                conn: k.1,
                generation: k.2,
            },
            _ => MtaEvent::SiteUp,
        }
    }

    impl Observer for Recording {
        fn observe(&mut self, _: SimTime, what: &Observation<'_>) {
            self.replies.extend_from_slice(what.replies());
            match *what {
                Observation::Generated { .. } => self.generated += 1,
                Observation::Settled { tag, fates, .. } => self.settled.push((tag, fates)),
                Observation::Connection { opened: true, .. } => self.connections.0 += 1,
                Observation::Connection { opened: false, .. } => self.connections.1 += 1,
                _ => {}
            }
        }
    }

    impl MtaSink for Recording {
        fn schedule(&mut self, at: SimTime, event: MtaEvent) {
            let seq = self.reserve_sequence();
            self.schedule_in_order(at, seq, event);
        }
        fn reserve_sequence(&mut self) -> u64 {
            self.seq += 1;
            self.seq
        }
        fn schedule_in_order(&mut self, at: SimTime, seq: u64, event: MtaEvent) {
            self.events.push(Reverse((at, seq, key(event))));
        }

        fn next_connection(&mut self) -> u64 {
            self.next_connection += 1;
            self.next_connection
        }
    }

    struct World {
        relay: Relay,
        mta: MtaRuntime,
        envelopes: Envelopes,
        from: u32,
        sink: Recording,
    }

    fn world(mta_keys: &str) -> World {
        let text = format!(
            r#"
[simulation]
name = "t"
duration = "30d"
[[tenant]]
id = "acme"
licences = 1000
primary_domain = "acme.example"
[[tenant.relay_setting]]
name = "office"
allowed_senders = "domain_addresses"
only_listed_ips = true
ip_ranges = [{{ cidr = "192.0.2.0/24" }}]
[[mta]]
id = "m"
tenant = "acme"
profile = "postfix"
source_ip = "192.0.2.1"
helo = "mx.acme.example"
{mta_keys}
"#
        );
        let s = Model::parse("t.toml", &text).unwrap();
        let relay = Relay::new(&s.relay, &s.tenants, ChaCha12Rng::seed_from_u64(1));
        let mut envelopes = Envelopes::new(&relay);
        let from = envelopes.intern(&"app@acme.example".parse().unwrap(), &relay);
        World {
            mta: {
                let params = MtaParams::for_mta(&s.mtas[0]);
                MtaRuntime::new(MtaClient::new(&s.mtas[0], &params, &relay), params, 0, 0)
            },
            relay,
            envelopes,
            from,
            sink: Recording::default(),
        }
    }

    impl World {
        fn submit(&mut self, at: SimTime, bounce_to: Option<(RecipientId, bool)>) {
            self.run_until(at);
            let recipients = [RecipientId(7)];
            let origin = self.mta.origin(Origin {
                tag: MessageTag {
                    sender: 0,
                    tenant: 0,
                    mta: 0,
                    notification: false,
                },
                from: self.from,
                bounce_to,
                size: 10_000,
            });
            let message = NewMessage {
                origin,
                recipients: &recipients,
                routed_elsewhere: 0,
            };
            self.mta.submit(
                &mut self.relay,
                at,
                message,
                &self.envelopes,
                &mut self.sink,
            );
        }

        fn run_until(&mut self, until: SimTime) {
            while let Some(&Reverse((t, _, k))) = self.sink.events.peek() {
                if t > until {
                    break;
                }
                self.sink.events.pop();
                self.mta.handle(
                    &mut self.relay,
                    t,
                    event(k),
                    &self.envelopes,
                    &mut self.sink,
                );
            }
        }
    }

    /// M3: a cached connection carries the next messages.
    #[test]
    fn m03_cached_connection_carries_the_next_messages() {
        let mut w = world("");
        for ms in [0, 500, 1000] {
            w.submit(SimTime(ms), None);
        }
        w.run_until(SimTime(60_000));
        assert_eq!(w.sink.connections, (1, 0));
        assert_eq!(w.sink.settled.len(), 3);
        assert_eq!(w.mta.open_connections(), 0, "closed after the idle time");
        assert_eq!(
            w.sink
                .replies
                .iter()
                .filter(|r| **r == Reply::Closing)
                .count(),
            0,
            "QUIT is not charged to a message"
        );
    }

    /// M3: without caching, one connection per message.
    #[test]
    fn m03_without_caching_a_connection_per_message() {
        let mut w = world("overrides = { connection_cache = false }");
        for ms in [0, 500, 1000] {
            w.submit(SimTime(ms), None);
        }
        w.run_until(SimTime(60_000));
        assert_eq!(w.sink.connections, (3, 0));
    }

    /// M3: a connection closed while idle to make room leaves its idle-time event
    /// behind; the connection opened next in its slot is not closed by it. (Each
    /// slot's generations run on across connections: when a new connection started
    /// again at 0, the old event matched it and closed it at the old one's time.)
    #[test]
    fn m03_a_closed_connections_idle_end_spares_the_next_in_its_slot() {
        let mut w = world(
            "overrides = { initial_concurrency = 1, max_concurrency = 1, \
             connection_reuse_time = \"1s\", connection_idle_time = \"10s\" }",
        );
        w.submit(SimTime(0), None);
        // At 2 s the first connection is idle but too old to reuse: closed to make
        // room, its idle end (about 10 s) still pending; the second opens in its slot.
        w.submit(SimTime(2_000), None);
        assert_eq!(w.sink.connections, (2, 0));
        w.run_until(SimTime(11_000));
        assert_eq!(
            w.mta.open_connections(),
            1,
            "the second connection waits out its own idle time"
        );
        w.run_until(SimTime(13_000));
        assert_eq!(w.mta.open_connections(), 0, "closed after its idle time");
        assert_eq!(w.sink.settled.len(), 2);
    }

    /// M1 Postfix (`qmgr_queue.c`): each failed session adds 1/concurrency failed
    /// cohorts and lowers the concurrency by one (5 → 4 → 3 → 2): after 4 refused
    /// connections (0.2 + 0.25 + 0.33 + 0.5 ≥ 1 cohort) the destination is dead, and
    /// new mail is deferred without a connection until minimal_backoff_time (300 s)
    /// after that — not until the next 300 s queue-run boundary.
    #[test]
    fn m01_postfix_destination_dies_after_a_cohort_and_revives_after_min_backoff() {
        let mut w = world("port = 2525");
        for s in 0..3 {
            w.submit(SimTime(s * 1000), None);
        }
        assert_eq!(w.sink.connections, (0, 3), "not dead after 3 failures");
        w.submit(SimTime(250_000), None);
        assert_eq!(w.sink.connections, (0, 4), "the 4th completes the cohort");
        w.submit(SimTime(500_000), None);
        assert_eq!(
            w.sink.connections,
            (0, 4),
            "dead: deferred without a connection"
        );
        // The queue run at 300 s found it dead too; it revives at 250 + 300 = 550 s.
        w.submit(SimTime(549_999), None);
        assert_eq!(w.sink.connections, (0, 4));
        w.submit(SimTime(550_000), None);
        assert_eq!(w.sink.connections.1, 5, "revived at 550 s, not at 600 s");
        assert_eq!(w.mta.queued(), 7);
    }

    /// M4: at the queue lifetime the message bounces, and a report goes to the sender.
    #[test]
    fn m04_lifetime_bounce_sends_a_report() {
        let mut w = world(
            "port = 2525\ninternal_domains = [\"acme.example\"]\noverrides = { queue_lifetime = \"1h\" }",
        );
        w.submit(SimTime(0), Some((RecipientId(99), true)));
        w.run_until(SimTime(3 * 3_600_000));
        let original = w
            .sink
            .settled
            .iter()
            .find(|(t, _)| !t.notification)
            .unwrap()
            .1;
        assert_eq!(
            original,
            RecipientFates {
                delivered: 0,
                bounced: 1,
                queued: 0
            }
        );
        let report = w
            .sink
            .settled
            .iter()
            .find(|(t, _)| t.notification)
            .unwrap()
            .1;
        assert_eq!(
            report.delivered, 1,
            "delivered by the MTA itself (internal domain)"
        );
        assert_eq!(w.sink.generated, 2);
        assert_eq!(w.mta.queued(), 0);
    }
}
