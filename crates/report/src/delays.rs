//! Delivery delays: percentiles for `summary.json`, and the histograms themselves in
//! the HdrHistogram interval-log format (`delivery_delay.hlog`, values in
//! milliseconds), one interval for the whole run per tenant (tagged with its id) and
//! one untagged for all, so HdrHistogram tools (HistogramLogProcessor, hdrhistogram
//! crates in other languages) can read them.

use std::io;
use std::time::Duration;

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use serde::Serialize;

use sim::{Delays, RunReport};

/// Delay percentiles in seconds (millisecond precision); `null` when nothing was
/// delivered.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DelayPercentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

impl DelayPercentiles {
    /// The percentiles of `h` (3 significant digits) and the exact longest delay
    /// `max` (the histogram's own is rounded up to its bucket).
    pub fn of(h: &Delays, max: Option<relay::time::SimDuration>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let s = |ms: u64| ms as f64 / 1000.0;
        Some(DelayPercentiles {
            count: h.len(),
            p50: s(h.value_at_quantile(0.5)),
            p90: s(h.value_at_quantile(0.9)),
            p99: s(h.value_at_quantile(0.99)),
            p99_9: s(h.value_at_quantile(0.999)),
            max: s(max.map_or_else(|| h.max(), |m| m.as_millis())),
        })
    }
}

/// Writes the interval log of a run's delays.
pub fn write_log(out: &mut Vec<u8>, report: &RunReport) -> io::Result<()> {
    let horizon = Duration::from_millis(report.horizon.as_millis());
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "relaysim {} delivery delays of scenario {} (seed {}), values in milliseconds",
            env!("CARGO_PKG_VERSION"),
            report.scenario,
            report.seed
        ))
        .with_max_value_divisor(1000.0)
        .begin_log_with(out, &mut serializer)
        .map_err(io::Error::other)?;
    writer
        .write_histogram(
            &sim::full_range(&report.delays),
            Duration::ZERO,
            horizon,
            None,
        )
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    for (tenant, delays) in report.tenants.iter().zip(&report.tenant_delays) {
        // A tag may not hold commas, white space or '='.
        let name: String = tenant
            .id
            .chars()
            .map(|c| {
                if c == ',' || c == '=' || c.is_whitespace() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let tag = Tag::new(&name);
        writer
            .write_histogram(&sim::full_range(delays), Duration::ZERO, horizon, tag)
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
    }
    Ok(())
}
