//! The pre-run estimate: how much output and work a scenario asks for, from its
//! numbers alone, before anything runs. A plausible typo (`bucket = "1ms"` for "1m",
//! `duration = "10000d"`) would otherwise write billions of rows or run for hours;
//! above [`MAX_ROWS_PER_FILE`] rows in a results file, [`MAX_MESSAGES`] messages or
//! [`MAX_MEMORY`] bytes of working memory the scenario is refused at the setting to
//! change, unless the caller allows it (`--allow-large`).
//!
//! The memory estimate adds up what the run keeps (see [`Memory`]); its one
//! unknown is the deepest the MTAs' queues get, which a fluid model of the
//! customer limits answers (see [`Model::estimate`]).

use relay::limits::EffectiveLimits;

use crate::model::{Model, Traffic};

/// Most rows one results file (`throughput.csv`, `queue_depth.csv`) may get without
/// `--allow-large`: ten million, some 500 MB of CSV.
pub const MAX_ROWS_PER_FILE: u64 = 10_000_000;

/// Most messages a run may generate without `--allow-large`: a hundred million, a
/// year of a busy organisation's relayed mail.
pub const MAX_MESSAGES: f64 = 100e6;

/// Most working memory a run may be expected to need without `--allow-large`: 8 GB,
/// a third of a 24 GB machine, so that two sweep points still fit.
pub const MAX_MEMORY: f64 = 8e9;

/// What the memory estimate charges, measured on release builds (`valgrind
/// --tool=massif` and peak RSS of generated scenarios; the closing note of issue 13
/// has the figures). Each is a little above the measurement.
mod cost {
    /// The program, its allocator, output buffers and the charts: a run of the
    /// quickstart scenario peaks at 10 MB.
    pub const BASE: f64 = 12e6;
    /// A sender with its registered user, MTA share and report rows (18 MB for
    /// 10,000 senders, massif, at the end of the run).
    pub const SENDER: f64 = 2_000.0;
    /// A tenant: its relay state, report rows and delivery-delay histogram (16 KB
    /// until its delays pass a few seconds); 20,000 tenants with an MTA and a sender
    /// each peak at 670 MB, reading the file included.
    pub const TENANT: f64 = 20_000.0;
    /// An MTA: its queue, connections and retry state.
    pub const MTA: f64 = 4_000.0;
    /// A registered user: its address in the directory and its empty quota windows
    /// (a million users of a `users_pattern`, idle, peak at 691 MB).
    pub const USER: f64 = 700.0;
    /// A queued message: its 32-byte slot, its 12-byte place in a queue run and
    /// the vectors' spare room (the 10,000-sender SimPy scenario: 95 MB peak at
    /// 800,000 queued messages of three recipients, about 40 MB of it everything else).
    pub const QUEUED_MESSAGE: f64 = 56.0;
    /// Each of its recipients still to deliver: 4 bytes in the recipient arena, and
    /// its spare room.
    pub const QUEUED_RECIPIENT: f64 = 6.0;
    /// A recipient in a registered user's Q2 window: a 12-byte entry in the expiry
    /// order and a 16-byte hash entry (its key, expiry and holders) with its control
    /// byte, with the spare room of both (the 100,000-member population: 397 MB
    /// peak; 444 MB with 16- and 24-byte entries).
    pub const UNIQUE_RECIPIENT: f64 = 45.0;
    /// A rank of a Zipf alias table (8 bytes) and its build-time weight (8 bytes).
    pub const ZIPF_RANK: f64 = 16.0;
}

/// What a run of a scenario is expected to produce.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Throughput buckets over the horizon.
    pub buckets: u64,
    /// Rows of `throughput.csv` (a bucket per tenant) and `queue_depth.csv` (a
    /// bucket per MTA).
    pub throughput_rows: u64,
    pub queue_depth_rows: u64,
    /// Messages the senders hand over (expected value; bounce reports not counted).
    pub messages: f64,
    /// Their recipients (expected value).
    pub recipients: f64,
    /// The most messages queued in the MTAs at once, all MTAs together.
    pub peak_queue: f64,
    /// Working memory of the run (not of reading the scenario), in bytes.
    pub memory: Memory,
}

/// The parts of the memory estimate, in bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Memory {
    /// The program and its tenants, registered users, MTAs and senders
    /// (`cost::BASE`, `cost::TENANT`, `cost::USER`, `cost::MTA`, `cost::SENDER`).
    pub program_and_senders: f64,
    /// The queued messages at the deepest (`peak_queue`).
    pub queue: f64,
    /// The registered users' unique-recipient windows (Q2) when full.
    pub windows: f64,
    /// The recipient pools' Zipf tables.
    pub tables: f64,
}

/// The parts of [`Memory`], to say which one a refusal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryPart {
    ProgramAndSenders,
    Queue,
    Windows,
    Tables,
}

impl Memory {
    pub fn total(&self) -> f64 {
        self.program_and_senders + self.queue + self.windows + self.tables
    }

    /// The largest part and its bytes.
    pub fn largest(&self) -> (MemoryPart, f64) {
        [
            (MemoryPart::Queue, self.queue),
            (MemoryPart::ProgramAndSenders, self.program_and_senders),
            (MemoryPart::Windows, self.windows),
            (MemoryPart::Tables, self.tables),
        ]
        .into_iter()
        .fold((MemoryPart::Queue, f64::NEG_INFINITY), |best, part| {
            if part.1 > best.1 { part } else { best }
        })
    }
}

impl Estimate {
    /// The larger of the two results files.
    pub fn rows_per_file(&self) -> u64 {
        self.throughput_rows.max(self.queue_depth_rows)
    }
}

impl Model {
    /// The expected output and work of a run (see the module documentation).
    ///
    /// The queue is a fluid model per tenant: recipients arrive at the senders'
    /// mean rate; Q5 lets `customer_peak` through per peak window and defers the
    /// rest (450), so deferred mail piles up at the difference until Q4's day limit
    /// is reached at that pace, after which the relay refuses (550) and the pile is
    /// bounced at its next retry. A burst piles up its recipients beyond one peak
    /// window at once. Not modelled: queues behind DoS refusals or an MTA's own
    /// concurrency, which stay small in every example (tests/estimate.rs).
    pub fn estimate(&self) -> Estimate {
        let horizon = self.duration.as_millis();
        let buckets = horizon.div_ceil(self.bucket.as_millis().max(1));
        let mut messages = 0.0;
        let mut recipients = 0.0;
        // Per tenant: relayed recipients arriving steadily (per ms), in bursts, and
        // the messages they come in.
        let mut steady_rate = vec![0.0; self.tenants.len()];
        // Per tenant, each burst's (start, end, relayed recipients): bursts that
        // overlap in time (one per MTA of a batch) pile up together.
        let mut timed_bursts: Vec<Vec<(u64, u64, f64)>> = vec![Vec::new(); self.tenants.len()];
        let mut per_message = vec![(0.0, 0.0); self.tenants.len()];
        // Per tenant, the shortest `queue_lifetime` its MTAs override (ms).
        let mut lifetime = vec![f64::INFINITY; self.tenants.len()];
        for m in &self.mtas {
            if let Some(d) = m.overrides.queue_lifetime {
                let t = m.tenant.0 as usize;
                lifetime[t] = lifetime[t].min(d.as_millis() as f64);
            }
        }
        for s in &self.senders {
            let stop = s.stop.as_millis().min(horizon);
            let active_ms = stop.saturating_sub(s.start.as_millis()) as f64;
            let steady = match &s.traffic {
                // `rate` is the mean rate, for diurnal traffic the day's mean.
                Traffic::Constant { rate }
                | Traffic::Poisson { rate }
                | Traffic::Diurnal { rate, .. } => rate.per_milli() * active_ms,
                Traffic::Bursts => 0.0,
                Traffic::Replay { rows } => rows.len() as f64,
            };
            let bursts: f64 = s
                .bursts
                .iter()
                .filter(|b| b.at.as_millis() < horizon)
                .map(|b| f64::from(b.messages))
                .sum();
            let n = steady + bursts;
            let mean = s.recipients.mean();
            messages += n;
            recipients += n * mean;
            let t = s.tenant.0 as usize;
            let relayed = mean * (1.0 - s.recipient_pool.internal_share);
            if active_ms > 0.0 {
                steady_rate[t] += steady * relayed / horizon as f64;
            }
            for b in &s.bursts {
                let start = b.at.as_millis();
                let end = start + b.over.as_millis();
                timed_bursts[t].push((start, end, f64::from(b.messages) * relayed));
            }
            per_message[t].0 += n;
            per_message[t].1 += n * relayed;
        }
        // Per tenant, the largest group of overlapping bursts: (recipients, span ms).
        let largest_burst: Vec<(f64, f64)> = timed_bursts
            .iter()
            .map(|list| {
                list.iter()
                    .map(|&(a, b, _)| {
                        let group = list.iter().filter(|&&(c, d, _)| c <= b && a <= d);
                        let start = group.clone().map(|x| x.0).min().unwrap_or(a);
                        let end = group.clone().map(|x| x.1).max().unwrap_or(b);
                        (group.map(|x| x.2).sum::<f64>(), (end - start) as f64)
                    })
                    .fold((0.0, 0.0), |best, g| if g.0 > best.0 { g } else { best })
            })
            .collect();
        let mut peak_queue = 0.0;
        let mut queue_bytes = 0.0;
        let mut windows = 0.0;
        for (t, tenant) in self.tenants.iter().enumerate() {
            let limits = EffectiveLimits::of_tenant(&self.relay.quota, tenant);
            let (n, relayed) = per_message[t];
            let relayed_per_message = if n > 0.0 { relayed / n } else { 1.0 }.max(1e-9);
            let peak = limits.customer_peak as f64;
            let pass_rate = peak / limits.peak_window.as_millis().max(1) as f64;
            let excess_rate = (steady_rate[t] - pass_rate).max(0.0);
            let until_day_limit = limits.customer_day as f64 / pass_rate.max(1e-12);
            let piling = until_day_limit.min(horizon as f64).min(lifetime[t]);
            let steady_pile = excess_rate * piling;
            // A burst longer than the peak window passes a window's worth per window.
            let (burst, span) = largest_burst[t];
            let windows_passed = (span / limits.peak_window.as_millis().max(1) as f64).max(1.0);
            let burst_pile = (burst - peak * windows_passed).max(0.0);
            let pile = steady_pile
                .max(burst_pile)
                .min(limits.customer_day as f64 + steady_pile);
            peak_queue += pile / relayed_per_message;
            queue_bytes +=
                pile / relayed_per_message * cost::QUEUED_MESSAGE + pile * cost::QUEUED_RECIPIENT;
            // Q2 windows hold at most what the tenant relays in a day.
            let users = tenant.users.len() as f64;
            let per_day = (steady_rate[t] * limits.day_window.as_millis() as f64
                + largest_burst[t].0)
                .min(limits.customer_day as f64)
                .min(users * limits.user_unique_recipients as f64);
            windows += per_day * cost::UNIQUE_RECIPIENT;
        }
        let mut shapes: Vec<(u32, u64)> = self
            .senders
            .iter()
            .map(|s| &s.recipient_pool)
            .filter(|p| p.zipf_exponent != 0.0 && p.size > 1 && p.size <= ZIPF_TABLE_LIMIT)
            .map(|p| (p.size, p.zipf_exponent.to_bits()))
            .collect();
        shapes.sort_unstable();
        shapes.dedup();
        let tables = shapes.iter().map(|&(size, _)| f64::from(size)).sum::<f64>() * cost::ZIPF_RANK;
        let tenants = self.tenants.len().max(1) as u64;
        let mtas = self.mtas.len().max(1) as u64;
        Estimate {
            buckets,
            throughput_rows: buckets.saturating_mul(tenants),
            queue_depth_rows: buckets.saturating_mul(mtas),
            messages,
            recipients,
            peak_queue,
            memory: Memory {
                program_and_senders: cost::BASE
                    + self.tenants.len() as f64 * cost::TENANT
                    + self.tenants.iter().map(|t| t.users.len()).sum::<usize>() as f64 * cost::USER
                    + self.mtas.len() as f64 * cost::MTA
                    + self.senders.len() as f64 * cost::SENDER,
                queue: queue_bytes,
                windows,
                tables,
            },
        }
    }
}

/// Pools up to this size get a Zipf alias table (8 bytes a rank: 32 MiB at the
/// limit); larger ones are sampled without a table. The simulator uses this value
/// (`sim::world::zipf::TABLE_LIMIT`), so the estimate charges what it builds.
pub const ZIPF_TABLE_LIMIT: u32 = 4_000_000;
