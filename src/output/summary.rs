//! `summary.json`: what a run counted, with everything needed to reproduce it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::scenario::{RelayConfig, Scenario};
use crate::sim::{Counts, RunReport};

#[derive(Serialize)]
struct Summary<'a> {
    scenario: &'a str,
    seed: u64,
    relaysim_version: &'static str,
    horizon_s: f64,
    start: Option<String>,
    /// Which parts of the system this version simulates; outcomes of parts that are
    /// not simulated are reported as such, never invented.
    simulated: Simulated,
    note: &'static str,
    messages: crate::sim::Outcomes,
    recipients: crate::sim::Outcomes,
    /// How often the relay gave each reply, by reply line.
    replies: BTreeMap<String, u64>,
    connections: crate::sim::Connections,
    limit_hits: usize,
    tenants: BTreeMap<&'a str, Counts>,
    senders: BTreeMap<&'a str, Counts>,
    events_processed: u64,
    /// Every limit and assumption value the run used (RULEBOOK).
    assumptions: &'a RelayConfig,
    fingerprint: String,
}

#[derive(Serialize)]
struct Simulated {
    traffic: bool,
    mtas: bool,
    relay: bool,
}

/// Renders the summary as pretty JSON with a trailing newline. Map keys are sorted,
/// so the output is byte-identical for identical runs.
pub fn render(scenario: &Scenario, report: &RunReport) -> String {
    let summary = Summary {
        scenario: &report.scenario,
        seed: report.seed,
        relaysim_version: env!("CARGO_PKG_VERSION"),
        horizon_s: report.horizon.as_millis() as f64 / 1_000.0,
        start: scenario.simulation.start.map(|s| s.to_iso()),
        simulated: Simulated {
            traffic: true,
            mtas: false,
            relay: true,
        },
        note: "the relay's policy and quota engine is simulated; each MTA makes one \
               delivery attempt per message over one connection, so recipients deferred \
               with a 4xx are still queued at the horizon (MTA queues, retries, \
               connection caching and DoS protection are not simulated yet)",
        messages: report.total.messages,
        recipients: report.total.recipients,
        replies: report
            .replies
            .iter()
            .fold(BTreeMap::new(), |mut map, (reply, n)| {
                // Distinct replies can share a line (250 2.0.0 OK to DATA and RSET).
                *map.entry(reply.to_string()).or_default() += n;
                map
            }),
        connections: report.connections,
        limit_hits: report
            .limit_events
            .iter()
            .filter(|e| e.change == crate::relay::LimitChange::Hit)
            .count(),
        tenants: report
            .tenants
            .iter()
            .map(|e| (e.id.as_str(), e.counts))
            .collect(),
        senders: report
            .senders
            .iter()
            .map(|e| (e.id.as_str(), e.counts))
            .collect(),
        events_processed: report.events_processed,
        assumptions: &scenario.relay,
        fingerprint: report.fingerprint_hex(),
    };
    serde_json::to_string_pretty(&summary).expect("summary is always serialisable") + "\n"
}
