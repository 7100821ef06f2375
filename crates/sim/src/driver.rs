//! The simulation driver: builds the world and the relay from a scenario, runs the
//! kernel's event queue to the horizon, and reports to an observer. The relay is a
//! sans-IO core; the MTAs (`world::mta`) drive it through SMTP sessions; this module
//! only routes events between them. A run is a pure function of (scenario, seed,
//! relaysim version).

use rand_chacha::ChaCha12Rng;

use crate::kernel::{EntityKind, EventQueue, Fnv1a, RandomStreams};
use crate::world::client::MtaClient;
use crate::world::mta::{Envelopes, MessageTag, MtaEvent, MtaRuntime, MtaSink, NewMessage, Origin};
use crate::world::profile::MtaParams;
use crate::world::recipients::{RecipientSampler, RecipientSpace, TooManyRecipients};
use crate::world::traffic::{ArrivalProcess, burst_time, draw_index, draw_recipients};
use crate::world::zipf::ZipfTables;
use relay::time::{SimDuration, SimTime};
use relay::{RecipientId, Relay, Reply};
use scenario::Model;
use scenario::replay::ReplayRecipients;
use scenario::values::{ByteSize, EnvelopeSender};

use crate::{Observation, Observer, RunReport};

/// Everything the kernel schedules. Plain data: a few integers, no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// A timed `[[event]]` of the scenario (index into `model.events`).
    Scenario {
        index: u32,
    },
    /// The next message of a sender's steady traffic.
    Arrival {
        sender: u32,
    },
    /// Message `k` of burst `burst` of a sender.
    BurstMessage {
        sender: u32,
        burst: u32,
        k: u32,
    },
    /// The relay asked to be woken (a hit limit's window frees room).
    RelayTimer,
    /// An MTA's own events (`MtaEvent`: a queue run, a connection finishing, …),
    /// flattened here so that an event is 16 bytes and a heap entry 32 (see
    /// [`Event::mta`]).
    MtaQueueRun {
        mta: u32,
    },
    MtaConnectionDone {
        mta: u32,
        conn: u32,
        generation: u32,
    },
    MtaIdleEnd {
        mta: u32,
        conn: u32,
        generation: u32,
    },
    MtaSiteUp {
        mta: u32,
    },
    /// Row `row` of a replay sender's file.
    Replay {
        sender: u32,
        row: u32,
    },
    /// A look at a quota window (index into `model.probes`).
    Probe {
        index: u32,
    },
    /// A scripted client connection (index into `model.dialogues`).
    Dialogue {
        index: u32,
    },
}

impl Event {
    /// MTA `mta`'s `event`.
    fn mta(mta: u32, event: MtaEvent) -> Event {
        match event {
            MtaEvent::QueueRun => Event::MtaQueueRun { mta },
            MtaEvent::ConnectionDone { conn, generation } => Event::MtaConnectionDone {
                mta,
                conn,
                generation,
            },
            MtaEvent::IdleEnd { conn, generation } => Event::MtaIdleEnd {
                mta,
                conn,
                generation,
            },
            MtaEvent::SiteUp => Event::MtaSiteUp { mta },
        }
    }

    /// The MTA and its event, if this is one.
    fn as_mta(self) -> Option<(u32, MtaEvent)> {
        Some(match self {
            Event::MtaQueueRun { mta } => (mta, MtaEvent::QueueRun),
            Event::MtaConnectionDone {
                mta,
                conn,
                generation,
            } => (mta, MtaEvent::ConnectionDone { conn, generation }),
            Event::MtaIdleEnd {
                mta,
                conn,
                generation,
            } => (mta, MtaEvent::IdleEnd { conn, generation }),
            Event::MtaSiteUp { mta } => (mta, MtaEvent::SiteUp),
            _ => return None,
        })
    }
}

struct SenderState {
    process: ArrivalProcess,
    rng: ChaCha12Rng,
    recipients: RecipientSampler,
    mta: usize,
    stop: SimTime,
    /// Per envelope sender of the list, the origin of its messages at its MTA
    /// (`MtaRuntime::origin`: envelope sender, where a bounce goes (M4), size).
    origins: Vec<u32>,
    /// Replay senders: per row, its origin (as in `origins`, with the row's size) and
    /// its listed recipients, if it lists them.
    replay: Vec<ReplayMessage>,
}

impl SenderState {
    /// Draws `n` recipients from the pool: relay-bound ones into `to_relay`; returns
    /// how many the MTA routes elsewhere (M5).
    fn draw_recipients(&mut self, n: u32, to_relay: &mut Vec<RecipientId>) -> u32 {
        let mut routed_elsewhere = 0;
        self.recipients.draw_many(n, &mut self.rng, |r| {
            if r.routed_elsewhere {
                routed_elsewhere += 1;
            } else {
                to_relay.push(r.id);
            }
        });
        routed_elsewhere
    }
}

struct ReplayMessage {
    origin: u32,
    /// The listed recipients, each with whether the MTA routes it elsewhere (M5).
    recipients: Vec<(RecipientId, bool)>,
}

/// When, within one instant, the relay's own timers run (`handle_timeout`: hit limits
/// whose window has room again are reported cleared).
///
/// Invariant: the relay's replies, and the limit changes at each instant, do not
/// depend on it. The relay clears a limit that has room the moment a command looks
/// at it, so a command at the clearing instant gets the same answer whether the timer
/// for that instant ran before it or not. `sim::swarm` runs every scenario both ways
/// and compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimerOrder {
    /// In the order they were scheduled, like every other event (the default).
    #[default]
    AsScheduled,
    /// After every other event of their instant, including events scheduled later for
    /// that same instant.
    LastInInstant,
}

/// Runs `scenario` with `seed` to its horizon.
///
/// The run checks itself: "nothing lost" (every generated message ends delivered,
/// bounced or queued at the horizon) is checked at the end of every run, and the
/// relay's and MTAs' invariants after every event in debug builds (every n-th for
/// large populations, n = entities / 64; once at the end
/// in release builds); a violation is a [`RunError`], never a wrong report.
pub fn run(model: &Model, seed: u64, observer: &mut impl Observer) -> Result<RunReport, RunError> {
    run_with(model, seed, observer, TimerOrder::AsScheduled)
}

/// [`run`], with the relay's timers run in `timers` order within each instant.
pub fn run_with(
    model: &Model,
    seed: u64,
    observer: &mut impl Observer,
    timers: TimerOrder,
) -> Result<RunReport, RunError> {
    run_with_tables(model, seed, observer, timers, &ZipfTables::default())
}

/// [`run_with`], starting from Zipf tables already built (a sweep builds them once
/// for all its points, `ZipfTables::for_model`); those missing are built.
pub fn run_with_tables(
    model: &Model,
    seed: u64,
    observer: &mut impl Observer,
    timers: TimerOrder,
    tables: &ZipfTables,
) -> Result<RunReport, RunError> {
    let streams = RandomStreams::new(seed);
    let horizon = model.horizon();
    let mut report = RunReport::new(model, seed, horizon);
    // Each sender's steady arrivals wait in its slot (one at a time); bursts, replays
    // and everything else in the heap.
    let mut queue: EventQueue<Event> = EventQueue::with_slots(
        model.senders.len() + model.mtas.len() * 32 + 8,
        model.senders.len(),
    );
    let mut relay = Relay::new(
        &model.relay,
        &model.tenants,
        streams.stream(EntityKind::Relay, "relay"),
    );
    let space = RecipientSpace::new(&model.senders)?;
    let mut mtas: Vec<MtaRuntime> = model
        .mtas
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let params = MtaParams::for_mta(m);
            let client = MtaClient::new(m, &params, &relay);
            MtaRuntime::new(client, params, i as u32, m.tenant.0)
        })
        .collect();
    let mut envelopes = Envelopes::new(&relay);
    let mut zipf_tables = tables.clone();

    for (index, event) in model.events.iter().enumerate() {
        queue.schedule(
            SimTime::ZERO + event.at,
            Event::Scenario {
                index: index as u32,
            },
        );
    }
    for (index, probe) in model.probes.iter().enumerate() {
        let index = index as u32;
        queue.schedule(SimTime::ZERO + probe.at, Event::Probe { index });
    }
    for (index, dialogue) in model.dialogues.iter().enumerate() {
        let index = index as u32;
        queue.schedule(SimTime::ZERO + dialogue.at, Event::Dialogue { index });
    }
    let mut dialogue_addresses = crate::dialogue::DialogueAddresses::new(&space);
    let mut senders: Vec<SenderState> = Vec::with_capacity(model.senders.len());
    for (index, sender) in model.senders.iter().enumerate() {
        let mta = sender.mta.0 as usize;
        let tag = MessageTag {
            sender: index as u32,
            tenant: sender.tenant.0,
            mta: mta as u32,
            notification: false,
        };
        // The origin of a message from `f` of `size` (M4: its bounce address, and
        // whether the MTA delivers reports to it itself, M5).
        let mut origin = |mta: &mut MtaRuntime, f: &EnvelopeSender, size: Option<ByteSize>| {
            let bounce_to = match f {
                EnvelopeSender::Null => None,
                EnvelopeSender::Address(a) => space.of_envelope_address(&a.0).map(|id| {
                    let domain = scenario::values::DomainName(a.domain().to_string());
                    (id, mta.client.routes_elsewhere(&domain))
                }),
            };
            let from = envelopes.intern(f, &relay);
            let size = size.map_or(sender.message_size, |s| s.0);
            mta.origin(Origin {
                tag,
                from,
                bounce_to,
                size,
            })
        };
        let origins = sender
            .envelope_from
            .iter()
            .map(|f| origin(&mut mtas[mta], f, None))
            .collect();
        let replay_rows = sender.traffic.replay_rows();
        let replay = replay_rows
            .iter()
            .map(|row| ReplayMessage {
                origin: origin(&mut mtas[mta], &row.from, row.size),
                recipients: match &row.recipients {
                    ReplayRecipients::Count(_) => Vec::new(),
                    ReplayRecipients::Addresses(list) => list
                        .iter()
                        .map(|a| {
                            let id = space
                                .of_envelope_address(&a.0)
                                .expect("replay addresses are numbered");
                            let domain = scenario::values::DomainName(a.domain().to_string());
                            (id, mtas[mta].client.routes_elsewhere(&domain))
                        })
                        .collect(),
                },
            })
            .collect();
        let client = &mtas[mta].client;
        let mut state = SenderState {
            process: ArrivalProcess::for_sender(sender),
            rng: streams.stream(EntityKind::Sender, &Model::stream_name(sender)),
            recipients: RecipientSampler::new(
                sender,
                &space,
                |d| client.routes_elsewhere(d),
                &mut zipf_tables,
            ),
            mta,
            stop: SimTime::ZERO + sender.stop,
            origins,
            replay,
        };
        let id = index as u32;
        if let Some(first) = replay_rows.first() {
            queue.schedule(
                SimTime::ZERO + first.at,
                Event::Replay { sender: id, row: 0 },
            );
        }
        if let Some(t) = state.process.next(&mut state.rng) {
            queue.schedule_in_slot(id, t, Event::Arrival { sender: id });
        }
        for (b, burst) in sender.bursts.iter().enumerate() {
            if burst.messages > 0 {
                queue.schedule(
                    burst_time(burst, 0),
                    Event::BurstMessage {
                        sender: id,
                        burst: b as u32,
                        k: 0,
                    },
                );
            }
        }
        senders.push(state);
    }
    for m in &mut mtas {
        m.origins_numbered();
    }

    // Source IPs and the MTAs sending from each, to check that DoS protection counts
    // exactly the sessions the MTAs hold open (D2).
    let mut by_ip: std::collections::BTreeMap<std::net::IpAddr, Vec<usize>> = Default::default();
    for (i, m) in model.mtas.iter().enumerate() {
        by_ip.entry(m.source_ip).or_default().push(i);
    }
    let by_ip: Vec<(std::net::IpAddr, Vec<usize>)> = by_ip.into_iter().collect();
    let mut fingerprint = Fnv1a::default();
    // Debug builds check the invariants after every event, or — when there are many
    // users, senders and MTAs, whose walk costs O(entities) — after every `stride`-th,
    // so that the checks cost O(1) per event amortised.
    let entities = model.tenants.iter().map(|t| t.users.len()).sum::<usize>()
        + model.senders.len()
        + model.mtas.len();
    let stride = (entities / INVARIANT_ENTITIES_PER_EVENT).max(1) as u64;
    let mut since_check = 0u64;
    let mut to_relay = Vec::new();
    let mut connections: u64 = 0;
    let mut timer_at: Option<SimTime> = None;
    let last_instant = SimTime(horizon.as_millis().saturating_sub(1));
    let mut usage = observer
        .busiest_users()
        .map(|busiest| UsageBuckets::new(model.bucket, horizon, busiest));
    // The usage meters are kept only for an observer that reads them; without them
    // the quota engine need not keep every user's exact Q2 use either
    // (`relay::quota::unique`: counting windows).
    relay.set_usage_meters(usage.is_some());
    while let Some((now, event)) = queue.pop_until(last_instant) {
        report.events_processed += 1;
        if let Some(u) = &mut usage {
            u.end_buckets_before(now, &mut relay, &mut *observer);
        }
        let mut sink = Sink {
            report: &mut report,
            observer: &mut *observer,
            fingerprint: &mut fingerprint,
            queue: &mut queue,
            connections: &mut connections,
            mta: 0,
        };
        let offered = match event {
            Event::Scenario { index } => {
                relay.apply(now, &model.events[index as usize].command);
                None
            }
            Event::Probe { index } => {
                let key = model.probes[index as usize].key;
                sink.report.probes[index as usize] = Some(relay.quota_reading(now, key));
                None
            }
            Event::Dialogue { index } => {
                let dialogue = &model.dialogues[index as usize];
                sink.report.dialogues[index as usize] =
                    crate::dialogue::run(model, dialogue, &mut relay, now, &mut dialogue_addresses);
                None
            }
            Event::RelayTimer => {
                if timers == TimerOrder::LastInInstant
                    && let Some((t, next)) = sink.queue.peek()
                    && t == now
                {
                    // Two timers of one instant are one (`handle_timeout` is
                    // idempotent): drop this one. Otherwise go behind every other event
                    // of this instant scheduled so far.
                    if *next != Event::RelayTimer {
                        sink.queue.schedule(now, Event::RelayTimer);
                    }
                    continue;
                }
                if timer_at == Some(now) {
                    timer_at = None;
                }
                relay.handle_timeout(now);
                None
            }
            Event::MtaQueueRun { .. }
            | Event::MtaConnectionDone { .. }
            | Event::MtaIdleEnd { .. }
            | Event::MtaSiteUp { .. } => {
                let (mta, event) = event.as_mta().expect("an MTA's event");
                sink.mta = mta;
                mtas[mta as usize].handle(&mut relay, now, event, &envelopes, &mut sink);
                None
            }
            Event::Replay { sender, row } => {
                let spec = &model.senders[sender as usize];
                let state = &mut senders[sender as usize];
                let rows = spec.traffic.replay_rows();
                if let Some(next) = rows.get(row as usize + 1) {
                    let e = Event::Replay {
                        sender,
                        row: row + 1,
                    };
                    sink.queue.schedule(SimTime::ZERO + next.at, e);
                }
                let r = &rows[row as usize];
                let origin = state.replay[row as usize].origin;
                to_relay.clear();
                let routed_elsewhere = match &r.recipients {
                    ReplayRecipients::Count(n) => state.draw_recipients(*n, &mut to_relay),
                    ReplayRecipients::Addresses(_) => {
                        let mut routed = 0;
                        for &(id, elsewhere) in &state.replay[row as usize].recipients {
                            if elsewhere {
                                routed += 1; // M5
                            } else {
                                to_relay.push(id);
                            }
                        }
                        routed
                    }
                };
                Some((sender, origin, routed_elsewhere))
            }
            Event::Arrival { sender } | Event::BurstMessage { sender, .. } => {
                let spec = &model.senders[sender as usize];
                let state = &mut senders[sender as usize];
                match event {
                    Event::Arrival { .. } => {
                        if now >= state.stop {
                            continue;
                        }
                        if let Some(t) = state.process.next(&mut state.rng) {
                            sink.queue
                                .schedule_in_slot(sender, t, Event::Arrival { sender });
                        }
                    }
                    Event::BurstMessage { burst, k, .. } => {
                        let b = &spec.bursts[burst as usize];
                        if k + 1 < b.messages {
                            let next = Event::BurstMessage {
                                sender,
                                burst,
                                k: k + 1,
                            };
                            sink.queue.schedule(burst_time(b, k + 1), next);
                        }
                    }
                    _ => {}
                }
                let origin = state.origins[draw_index(state.origins.len(), &mut state.rng)];
                let count = draw_recipients(&spec.recipients, &mut state.rng);
                to_relay.clear();
                let routed_elsewhere = state.draw_recipients(count, &mut to_relay);
                Some((sender, origin, routed_elsewhere))
            }
        };
        // A sender handed a message to its MTA: `to_relay` holds its relay-bound
        // recipients.
        if let Some((sender, origin, routed_elsewhere)) = offered {
            let state = &senders[sender as usize];
            let message = NewMessage {
                origin,
                recipients: &to_relay,
                routed_elsewhere,
            };
            let tag = mtas[state.mta].origin_of(origin).tag;
            let recipients = to_relay.len() as u32;
            sink.observe(now, &Observation::Offered { tag, recipients });
            sink.mta = state.mta as u32;
            mtas[state.mta].submit(&mut relay, now, message, &envelopes, &mut sink);
        }
        while let Some(e) = relay.poll_limit_event() {
            sink.observe(now, &Observation::Limit(&e));
        }
        if let Some(t) = relay.poll_timeout()
            && timer_at.is_none_or(|scheduled| t < scheduled)
        {
            queue.schedule(t.max(now), Event::RelayTimer);
            timer_at = Some(t.max(now));
        }
        if cfg!(debug_assertions) {
            since_check += 1;
            if since_check >= stride {
                since_check = 0;
                check_invariants(&relay, &mtas, &by_ip, now, false)?;
            }
        }
    }
    if let Some(u) = &mut usage {
        u.end_buckets_before(SimTime::MAX, &mut relay, &mut *observer);
    }
    for e in relay.still_hit(horizon) {
        report.still_hit(&e);
        observer.observe(horizon, &Observation::StillHit(&e));
    }
    check_invariants(&relay, &mtas, &by_ip, horizon, true)?;
    let mut sink = Sink {
        report: &mut report,
        observer,
        fingerprint: &mut fingerprint,
        queue: &mut queue,
        connections: &mut connections,
        mta: 0,
    };
    for mta in &mut mtas {
        mta.settle_at_horizon(horizon, &mut sink);
    }
    report.fingerprint = fingerprint.finish();
    report.finish();
    report.check_conservation().map_err(RunError::NothingLost)?;
    Ok(report)
}

/// Entities whose invariants a debug build may walk per event (see `stride` in
/// [`run_with`]): up to this many, every event is checked.
const INVARIANT_ENTITIES_PER_EVENT: usize = 64;

/// The relay's and the MTAs' invariants, and that DoS protection counts exactly the
/// sessions the MTAs hold open; `full` also walks windows and queues.
fn check_invariants(
    relay: &Relay,
    mtas: &[MtaRuntime],
    by_ip: &[(std::net::IpAddr, Vec<usize>)],
    now: SimTime,
    full: bool,
) -> Result<(), RunError> {
    let fail = |what: String| RunError::Invariant { time: now, what };
    relay.check_invariants(now, full).map_err(fail)?;
    for (i, mta) in mtas.iter().enumerate() {
        mta.check_invariants(full)
            .map_err(|e| fail(format!("MTA {i}: {e}")))?;
    }
    for (ip, senders) in by_ip {
        let held: u32 = senders.iter().map(|&i| mtas[i].live_sessions()).sum();
        let counted = relay.open_connections(*ip);
        if held != counted {
            return Err(fail(format!(
                "{ip}: the MTAs hold {held} sessions open, DoS protection counts {counted}"
            )));
        }
    }
    Ok(())
}

/// Why a run could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    TooManyRecipients(#[from] TooManyRecipients),
    /// A bug in relaysim: generated ≠ delivered + bounced + queued somewhere.
    #[error("the run lost track of mail (a bug in relaysim, please report it): {0}")]
    NothingLost(String),
    /// A bug in relaysim: an invariant of the relay or an MTA does not hold.
    #[error("an invariant does not hold at {time} s (a bug in relaysim, please report it): {what}")]
    Invariant { time: SimTime, what: String },
}

/// Where everything is observed during a run: it counts each observation into the
/// report and the fingerprint, then passes it to the run's observer; and it is the
/// MTAs' way to schedule their timed events on the kernel's queue.
struct Sink<'a, O: Observer> {
    report: &'a mut RunReport,
    observer: &'a mut O,
    fingerprint: &'a mut Fnv1a,
    queue: &'a mut EventQueue<Event>,
    connections: &'a mut u64,
    /// The MTA being driven (whose events `schedule` schedules).
    mta: u32,
}

impl<O: Observer> Observer for Sink<'_, O> {
    // Inlined where each observation is made, the match folds to its one arm.
    #[inline(always)]
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        match *what {
            Observation::Generated { tag, recipients } => {
                self.report.message_generated(tag, recipients);
            }
            Observation::Settled {
                tag,
                fates,
                delay,
                age,
            } => {
                if let (Some(d), false) = (delay, tag.notification) {
                    self.report.delivery_delay(tag, d);
                }
                if fates.queued > 0 {
                    self.report.queued_at_horizon(tag, age);
                }
                self.fingerprint.write_u64(time.as_millis());
                self.fingerprint.write_u64(u64::from(tag.sender));
                self.fingerprint.write_u64(fates.delivered);
                self.fingerprint.write_u64(fates.bounced);
                self.fingerprint.write_u64(fates.queued);
                self.report.message_settled(tag, fates);
            }
            Observation::Attempt { tag, counts, .. } => {
                self.report
                    .deferrals(tag, counts.deferred_rcpts, counts.newly_deferred_rcpts);
            }
            Observation::Connection {
                tag,
                opened,
                replies,
            } => {
                self.replies(tag, replies);
                self.report.connection(tag, opened);
            }
            Observation::Transaction { tag, trace, .. } => {
                self.replies(tag, trace.replies);
                if trace.reply == Reply::MessageAccepted && trace.postmaster_domain.is_some() {
                    self.report.rewritten(tag);
                }
            }
            Observation::Limit(e) => {
                self.fingerprint.write_u64(e.time.as_millis());
                self.fingerprint.write_u64(e.limit_value);
                self.report.limit_change(*e);
            }
            Observation::Offered { .. }
            | Observation::QueueDepth { .. }
            | Observation::StillHit(_)
            | Observation::QuotaUsage { .. } => {}
        }
        self.observer.observe(time, what);
    }
}

impl<O: Observer> Sink<'_, O> {
    /// Counts replies the relay gave a delivery and adds them to the fingerprint.
    #[inline]
    fn replies(&mut self, tag: MessageTag, replies: &[Reply]) {
        let counts = self.report.replies_of(tag);
        // The hash in a local: through `self.fingerprint` it went to memory and back
        // at each reply (the counters written between might alias it), on the chain
        // of multiplications that every reply waits for.
        let mut fingerprint = *self.fingerprint;
        for &reply in replies {
            fingerprint.write_u16(counts.add_coded(reply));
        }
        *self.fingerprint = fingerprint;
    }
}

impl<O: Observer> MtaSink for Sink<'_, O> {
    fn schedule(&mut self, at: SimTime, event: MtaEvent) {
        self.queue.schedule(at, Event::mta(self.mta, event));
    }

    fn reserve_sequence(&mut self) -> u64 {
        self.queue.reserve_sequence()
    }

    fn schedule_in_order(&mut self, at: SimTime, seq: u64, event: MtaEvent) {
        self.queue
            .schedule_in_order(at, seq, Event::mta(self.mta, event));
    }

    fn next_connection(&mut self) -> u64 {
        *self.connections += 1;
        *self.connections
    }
}

/// The run's buckets, ended one by one as the clock passes them: at each end the
/// relay reports its quota windows' highest use in the bucket
/// ([`Observation::QuotaUsage`]).
struct UsageBuckets {
    bucket: SimDuration,
    horizon: SimTime,
    busiest_users: usize,
    /// The start of the bucket being filled.
    start: SimTime,
    rows: Vec<relay::quota::usage::WindowUsage>,
}

impl UsageBuckets {
    fn new(bucket: SimDuration, horizon: SimTime, busiest_users: usize) -> Self {
        UsageBuckets {
            bucket: SimDuration::from_millis(bucket.as_millis().max(1)),
            horizon,
            busiest_users,
            start: SimTime::ZERO,
            rows: Vec::new(),
        }
    }

    /// Ends every bucket that ends at or before `now` (the last one at the horizon),
    /// before anything of `now` happens.
    fn end_buckets_before(
        &mut self,
        now: SimTime,
        relay: &mut Relay,
        observer: &mut impl Observer,
    ) {
        while self.start < self.horizon {
            let end = (self.start + self.bucket).min(self.horizon);
            if end > now {
                break;
            }
            self.rows.clear();
            relay.end_usage_bucket(end, self.busiest_users, &mut self.rows);
            let (start, rows) = (self.start, &self.rows[..]);
            observer.observe(end, &Observation::QuotaUsage { start, rows });
            self.start = end;
        }
    }
}

/// Number of throughput buckets of a run.
pub fn bucket_count(horizon: SimDuration, bucket: SimDuration) -> u64 {
    horizon.as_millis().div_ceil(bucket.as_millis().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event is 16 bytes, so a heap entry (with its 16-byte key) is 32.
    #[test]
    fn an_event_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Event>(), 16);
    }

    /// Q10 (with M5): mail that reaches its recipients another way never reaches the
    /// relay's windows. With a peak limit of 9, 40 internally routed and 9 relayed
    /// recipients in one minute hit nothing, and the relay accepts exactly 9 RCPTs.
    #[test]
    fn q10_mail_routed_elsewhere_consumes_no_relay_quota() {
        let model = Model::parse(
            "q10.toml",
            include_str!("../../../scenarios/regression/q10-other-routes-not-counted.toml"),
        )
        .unwrap();
        let report = run(&model, model.seed, &mut ()).unwrap();
        assert_eq!(report.limit_hits, 0);
        assert_eq!(report.total.recipients.delivered, 49);
        let accepted: u64 = report
            .replies
            .iter()
            .filter(|(r, _)| *r == Reply::RecipientOk)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(accepted, 9);
    }
}
