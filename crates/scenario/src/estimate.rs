//! The pre-run estimate: how much output and work a scenario asks for, from its
//! numbers alone, before anything runs. A plausible typo (`bucket = "1ms"` for "1m",
//! `duration = "10000d"`) would otherwise write billions of rows or run for hours;
//! above [`MAX_ROWS_PER_FILE`] rows in a results file or [`MAX_MESSAGES`] messages
//! the scenario is refused at the setting to change, unless the caller allows it
//! (`--allow-large`).

use crate::model::{Model, Traffic};

/// Most rows one results file (`throughput.csv`, `queue_depth.csv`) may get without
/// `--allow-large`: ten million, some 500 MB of CSV.
pub const MAX_ROWS_PER_FILE: u64 = 10_000_000;

/// Most messages a run may generate without `--allow-large`: a hundred million, a
/// year of a busy organisation's relayed mail.
pub const MAX_MESSAGES: f64 = 100e6;

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
}

impl Estimate {
    /// The larger of the two results files.
    pub fn rows_per_file(&self) -> u64 {
        self.throughput_rows.max(self.queue_depth_rows)
    }
}

impl Model {
    /// The expected output and work of a run (see the module documentation).
    pub fn estimate(&self) -> Estimate {
        let horizon = self.duration.as_millis();
        let buckets = horizon.div_ceil(self.bucket.as_millis().max(1));
        let mut messages = 0.0;
        let mut recipients = 0.0;
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
            messages += n;
            recipients += n * s.recipients.mean();
        }
        let tenants = self.tenants.len().max(1) as u64;
        let mtas = self.mtas.len().max(1) as u64;
        Estimate {
            buckets,
            throughput_rows: buckets.saturating_mul(tenants),
            queue_depth_rows: buckets.saturating_mul(mtas),
            messages,
            recipients,
        }
    }
}
