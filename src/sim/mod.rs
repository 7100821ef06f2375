//! The simulation driver: builds the world and the relay from a scenario, runs the
//! kernel's event queue to the horizon, feeds the relay (a sans-IO core) the SMTP
//! conversations of the MTAs, and reports to recorders. A run is a pure function of
//! (scenario, seed, relaysim version).
//!
//! What is simulated: the senders' traffic; each message's one delivery attempt by
//! its MTA over one connection (`world::client`) through the relay's full policy and
//! quota engine; timed `[[event]]`s; limit hits and clears at their exact instants.
//! Not yet: MTA queues and retries, connection caching, DoS protection, bounces sent
//! back through the relay. A recipient deferred (4xx) is therefore still queued at its
//! MTA at the horizon, and the report says so.

mod recorder;
mod report;

use rand_chacha::ChaCha12Rng;

use crate::kernel::{EntityKind, EventQueue, Fnv1a, RandomStreams};
use crate::relay::{LimitEvent, Relay, Reply, Subject};
use crate::scenario::Scenario;
use crate::time::{SimDuration, SimTime};
use crate::world::client::{self, Fate, MtaClient, Scratch, SessionObserver, TransactionTrace};
use crate::world::recipients::{RecipientSampler, RecipientSpace};
use crate::world::traffic::{ArrivalProcess, burst_time, draw_index, draw_recipients};

pub use recorder::{AttemptCounts, Recorder};
pub use report::{
    Connections, Counts, EntityReport, LimitRecord, Outcomes, RecipientFates, ReplyCounts,
    RunReport,
};

/// Everything the kernel schedules. Plain data: a few integers, no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// A timed `[[event]]` of the scenario (index into `scenario.events`).
    Scenario { index: u32 },
    /// The next message of a sender's steady traffic.
    Arrival { sender: u32 },
    /// Message `k` of burst `burst` of a sender.
    BurstMessage { sender: u32, burst: u32, k: u32 },
    /// The relay asked to be woken (a hit limit's window frees room).
    RelayTimer,
}

struct SenderState {
    process: ArrivalProcess,
    rng: ChaCha12Rng,
    recipients: RecipientSampler,
    mta: usize,
    tenant: usize,
    stop: SimTime,
}

/// Runs `scenario` with `seed` to its horizon.
pub fn run(scenario: &Scenario, seed: u64, recorder: &mut impl Recorder) -> RunReport {
    let streams = RandomStreams::new(seed);
    let horizon = SimTime::ZERO + scenario.duration();
    let start = scenario.simulation.start;
    let mut report = RunReport::new(scenario, seed, horizon);
    let mut queue: EventQueue<Event> = EventQueue::with_capacity(scenario.senders.len() * 2 + 8);
    let mut relay = Relay::new(scenario, streams.stream(EntityKind::Relay, "relay"));
    let space = RecipientSpace::new(&scenario.senders).expect("validated: pools fit 2^32 ids");
    let clients: Vec<MtaClient> = scenario.mtas.iter().map(MtaClient::new).collect();
    let mta_tenants: Vec<usize> = scenario
        .mtas
        .iter()
        .map(|m| {
            index_of(
                scenario.tenants.iter().map(|t| t.id.get_ref()),
                m.tenant.get_ref(),
            )
        })
        .collect();

    for (index, event) in scenario.events.iter().enumerate() {
        queue.schedule(
            SimTime::ZERO + event.at,
            Event::Scenario {
                index: index as u32,
            },
        );
    }
    let mut senders: Vec<SenderState> = Vec::with_capacity(scenario.senders.len());
    for (index, sender) in scenario.senders.iter().enumerate() {
        let mta = index_of(
            scenario.mtas.iter().map(|m| m.id.get_ref()),
            sender.mta.get_ref(),
        );
        let client = &clients[mta];
        let mut state = SenderState {
            process: ArrivalProcess::for_sender(sender, start),
            rng: streams.stream(EntityKind::Sender, sender.id.get_ref()),
            recipients: RecipientSampler::new(sender, &space, |d| client.routes_elsewhere(d)),
            mta,
            tenant: mta_tenants[mta],
            stop: SimTime::ZERO + sender.stop.unwrap_or(scenario.duration()),
        };
        let id = index as u32;
        if let Some(t) = state.process.next(&mut state.rng) {
            queue.schedule(t, Event::Arrival { sender: id });
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

    let mut fingerprint = Fnv1a::default();
    let mut to_relay = Vec::new();
    let mut fates = Vec::new();
    let mut scratch = Scratch::default();
    let mut connections: u64 = 0;
    let mut timer_at: Option<SimTime> = None;
    let last_instant = SimTime(horizon.as_millis().saturating_sub(1));
    while let Some((now, event)) = queue.pop_until(last_instant) {
        report.events_processed += 1;
        let sender_index = match event {
            Event::Scenario { index } => {
                relay.apply(now, &scenario.events[index as usize]);
                None
            }
            Event::RelayTimer => {
                if timer_at == Some(now) {
                    timer_at = None;
                }
                relay.handle_timeout(now);
                None
            }
            Event::Arrival { sender } => {
                let state = &mut senders[sender as usize];
                if now >= state.stop {
                    None
                } else {
                    if let Some(t) = state.process.next(&mut state.rng) {
                        queue.schedule(t, Event::Arrival { sender });
                    }
                    Some(sender as usize)
                }
            }
            Event::BurstMessage { sender, burst, k } => {
                let spec = &scenario.senders[sender as usize].bursts[burst as usize];
                if k + 1 < spec.messages {
                    queue.schedule(
                        burst_time(spec, k + 1),
                        Event::BurstMessage {
                            sender,
                            burst,
                            k: k + 1,
                        },
                    );
                }
                Some(sender as usize)
            }
        };
        if let Some(sender_index) = sender_index {
            let spec = &scenario.senders[sender_index];
            let state = &mut senders[sender_index];
            let from = &spec.envelope_from.get_ref()
                [draw_index(spec.envelope_from.get_ref().len(), &mut state.rng)];
            let count = draw_recipients(&spec.recipients, &mut state.rng);
            to_relay.clear();
            let mut routed_elsewhere = 0u64;
            for _ in 0..count {
                let r = state.recipients.draw(&mut state.rng);
                if r.routed_elsewhere {
                    routed_elsewhere += 1; // M5: delivered by another route.
                } else {
                    to_relay.push(r.id);
                }
            }
            let (tenant, mta) = (state.tenant, state.mta);
            report.message_generated(tenant, sender_index, count);
            recorder.message_offered(now, tenant, to_relay.len() as u32);
            let mut observer = Observer {
                report: &mut report,
                recorder: &mut *recorder,
                fingerprint: &mut fingerprint,
                time: now,
                tenant,
                sender: sender_index,
                mta,
                connection: connections,
                accepted_msgs: 0,
            };
            let mut fates_out = RecipientFates {
                delivered: routed_elsewhere,
                ..RecipientFates::default()
            };
            let mut attempt = AttemptCounts::default();
            if !to_relay.is_empty() {
                connections += 1;
                observer.connection = connections;
                client::deliver(
                    &mut relay,
                    now,
                    &clients[mta],
                    from,
                    &to_relay,
                    &mut fates,
                    &mut scratch,
                    &mut observer,
                );
                attempt.accepted_msgs = observer.accepted_msgs;
                for fate in &fates {
                    match fate {
                        Fate::Delivered => {
                            fates_out.delivered += 1;
                            attempt.accepted_rcpts += 1;
                        }
                        Fate::Deferred => {
                            fates_out.queued += 1;
                            attempt.deferred_rcpts += 1;
                        }
                        Fate::Bounced => {
                            fates_out.bounced += 1;
                            attempt.rejected_rcpts += 1;
                        }
                    }
                }
                recorder.attempt(now, tenant, &attempt);
            }
            fingerprint.write_u64(now.as_millis());
            fingerprint.write_u64(sender_index as u64);
            fingerprint.write_u64(u64::from(count));
            fingerprint.write_u64(fates_out.delivered);
            fingerprint.write_u64(fates_out.bounced);
            fingerprint.write_u64(fates_out.queued);
            report.message_settled(tenant, sender_index, fates_out);
        }
        while let Some(e) = relay.poll_limit_event() {
            let record = limit_record(scenario, &relay, &e);
            fingerprint.write_u64(e.time.as_millis());
            fingerprint.write_u64(e.limit_value);
            recorder.limit_event(&record);
            report.limit_events.push(record);
        }
        if let Some(t) = relay.poll_timeout()
            && timer_at.is_none_or(|scheduled| t < scheduled)
        {
            queue.schedule(t.max(now), Event::RelayTimer);
            timer_at = Some(t.max(now));
        }
    }
    report.fingerprint = fingerprint.finish();
    report
}

/// Counts what the relay says during one attempt and passes transactions on.
struct Observer<'a, R: Recorder> {
    report: &'a mut RunReport,
    recorder: &'a mut R,
    fingerprint: &'a mut Fnv1a,
    time: SimTime,
    tenant: usize,
    sender: usize,
    mta: usize,
    connection: u64,
    accepted_msgs: u64,
}

impl<R: Recorder> SessionObserver for Observer<'_, R> {
    fn reply(&mut self, reply: Reply) {
        self.fingerprint.write_u64(u64::from(reply.code()));
        self.report.reply(self.tenant, self.sender, reply);
        if reply == Reply::MessageAccepted {
            self.accepted_msgs += 1;
        }
    }

    fn connection(&mut self, opened: bool) {
        self.report.connection(self.tenant, self.sender, opened);
        self.recorder.connection(self.time, self.tenant, opened);
    }

    fn transaction(&mut self, trace: &TransactionTrace<'_>) {
        if trace.reply == Reply::MessageAccepted && trace.postmaster_domain.is_some() {
            self.report.rewritten(self.tenant, self.sender);
        }
        let tenant = trace.charged_tenant.unwrap_or(self.tenant);
        self.recorder
            .transaction(tenant, self.mta, self.connection, trace);
    }
}

fn limit_record(scenario: &Scenario, relay: &Relay, e: &LimitEvent) -> LimitRecord {
    let tenant = e
        .tenant
        .map(|t| scenario.tenants[t.0 as usize].id.get_ref().clone())
        .unwrap_or_default();
    let (scope, subject) = match e.key.subject {
        Subject::User(u) => ("user", relay.directory().user_address(u).to_string()),
        Subject::Customer(_) => ("customer", tenant.clone()),
        Subject::SourceIp(ip) => ("dos", ip.to_string()),
        Subject::GenericHeloPool => ("dos", "generic-helo-pool".to_string()),
    };
    LimitRecord {
        time: e.time,
        tenant,
        scope,
        subject,
        limit: e.key.limit,
        change: e.change,
        reply: e.reply,
        used: e.used,
        limit_value: e.limit_value,
    }
}

/// Position of `id` among `ids` (validated to exist).
fn index_of<'a>(mut ids: impl Iterator<Item = &'a String>, id: &str) -> usize {
    ids.position(|x| x == id)
        .expect("validated: references name existing ids")
}

/// Number of throughput buckets of a run.
pub fn bucket_count(horizon: SimDuration, bucket: SimDuration) -> u64 {
    horizon.as_millis().div_ceil(bucket.as_millis().max(1))
}
