//! The simulation driver: builds the world from a scenario, feeds the kernel's event
//! queue, and reports what happened to recorders. A run is a pure function of
//! (scenario, seed, relaysim version).
//!
//! What is simulated so far: the senders' traffic (arrivals, envelope senders,
//! recipient counts) handed to their MTAs. The relay and the MTAs' delivery are not
//! simulated yet, so every generated message is still queued at its MTA at the
//! horizon; the report says so rather than inventing outcomes.

mod report;

use rand_chacha::ChaCha12Rng;

use crate::kernel::{EntityKind, EventQueue, Fnv1a, RandomStreams};
use crate::scenario::Scenario;
use crate::time::{SimDuration, SimTime};
use crate::world::traffic::{ArrivalProcess, burst_time, draw_index, draw_recipients};

pub use report::{Counts, EntityReport, Outcomes, RunReport};

/// Everything the kernel schedules. Plain data: a few integers, no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// The next message of a sender's steady traffic.
    Arrival { sender: u32 },
    /// Message `k` of burst `burst` of a sender.
    BurstMessage { sender: u32, burst: u32, k: u32 },
}

/// Observes a run as it happens (e.g. the streamed throughput table). Recorders
/// never change the run.
pub trait Recorder {
    /// A sender handed a message with `recipients` recipients to its MTA.
    fn message_offered(&mut self, time: SimTime, tenant: usize, recipients: u32);
}

/// A recorder that records nothing.
impl Recorder for () {
    fn message_offered(&mut self, _: SimTime, _: usize, _: u32) {}
}

struct SenderState {
    process: ArrivalProcess,
    rng: ChaCha12Rng,
    tenant: usize,
    stop: SimTime,
}

/// Runs `scenario` with `seed` to its horizon.
pub fn run(scenario: &Scenario, seed: u64, recorder: &mut impl Recorder) -> RunReport {
    let streams = RandomStreams::new(seed);
    let horizon = SimTime::ZERO + scenario.duration();
    let start = scenario.simulation.start;
    let mut report = RunReport::new(scenario, seed, horizon);
    let mut queue: EventQueue<Event> = EventQueue::with_capacity(scenario.senders.len() * 2);

    let mut senders: Vec<SenderState> = Vec::with_capacity(scenario.senders.len());
    for (index, sender) in scenario.senders.iter().enumerate() {
        let tenant = tenant_of_sender(scenario, index);
        let mut state = SenderState {
            process: ArrivalProcess::for_sender(sender, start),
            rng: streams.stream(EntityKind::Sender, sender.id.get_ref()),
            tenant,
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
    let last_instant = SimTime(horizon.as_millis().saturating_sub(1));
    while let Some((now, event)) = queue.pop_until(last_instant) {
        report.events_processed += 1;
        let sender_index = match event {
            Event::Arrival { sender } => {
                let state = &mut senders[sender as usize];
                if now >= state.stop {
                    continue;
                }
                if let Some(t) = state.process.next(&mut state.rng) {
                    queue.schedule(t, Event::Arrival { sender });
                }
                sender as usize
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
                sender as usize
            }
        };
        let spec = &scenario.senders[sender_index];
        let state = &mut senders[sender_index];
        let from = draw_index(spec.envelope_from.get_ref().len(), &mut state.rng);
        let recipients = draw_recipients(&spec.recipients, &mut state.rng);
        fingerprint.write_u64(now.as_millis());
        fingerprint.write_u64(sender_index as u64);
        fingerprint.write_u64(from as u64);
        fingerprint.write_u64(u64::from(recipients));
        report.message_generated(state.tenant, sender_index, recipients);
        recorder.message_offered(now, state.tenant, recipients);
    }
    // Not simulated yet: hand-off from the MTAs to the relay. Every message is
    // therefore still queued at its MTA when the run ends.
    report.finish_with_all_queued();
    report.fingerprint = fingerprint.finish();
    report
}

/// Index of the tenant whose relay a sender's MTA uses (validated to exist).
fn tenant_of_sender(scenario: &Scenario, sender: usize) -> usize {
    let mta_id = scenario.senders[sender].mta.get_ref();
    let mta = scenario
        .mtas
        .iter()
        .find(|m| m.id.get_ref() == mta_id)
        .expect("validated: a sender's MTA exists");
    scenario
        .tenants
        .iter()
        .position(|t| t.id.get_ref() == mta.tenant.get_ref())
        .expect("validated: an MTA's tenant exists")
}

/// Number of throughput buckets of a run.
pub fn bucket_count(horizon: SimDuration, bucket: SimDuration) -> u64 {
    horizon.as_millis().div_ceil(bucket.as_millis().max(1))
}
