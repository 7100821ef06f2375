//! `throughput.csv`: one row per time bucket and tenant, streamed while the run goes,
//! so memory does not grow with the length of the run.
//!
//! Columns the run does not simulate yet (everything behind the relay) are left
//! empty rather than written as zeros: an empty cell means "not simulated", a 0 means
//! "simulated, none".

use std::io::{self, Write};

use crate::sim::Recorder;
use crate::time::{SimDuration, SimTime};

pub const HEADER: [&str; 9] = [
    "bucket_start_s",
    "tenant",
    "offered_rcpts",
    "accepted_rcpts",
    "deferred_rcpts",
    "rejected_rcpts",
    "accepted_msgs",
    "connections_opened",
    "connections_refused",
];

pub struct ThroughputWriter<W: Write> {
    out: csv::Writer<W>,
    tenants: Vec<String>,
    bucket: SimDuration,
    /// Index of the bucket being filled.
    current: u64,
    offered: Vec<u64>,
    error: Option<io::Error>,
}

impl<W: Write> ThroughputWriter<W> {
    pub fn new(out: W, tenants: Vec<String>, bucket: SimDuration) -> io::Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(HEADER)?;
        let offered = vec![0; tenants.len()];
        Ok(ThroughputWriter {
            out,
            tenants,
            bucket,
            current: 0,
            offered,
            error: None,
        })
    }

    /// Writes every bucket before `bucket_index`.
    fn advance_to(&mut self, bucket_index: u64) {
        while self.current < bucket_index {
            if let Err(e) = self.write_current() {
                self.error.get_or_insert(e);
            }
            self.offered.iter_mut().for_each(|c| *c = 0);
            self.current += 1;
        }
    }

    fn write_current(&mut self) -> io::Result<()> {
        let start = SimTime(self.current * self.bucket.as_millis()).to_string();
        for (tenant, offered) in self.tenants.iter().zip(&self.offered) {
            let offered = offered.to_string();
            self.out
                .write_record([start.as_str(), tenant, &offered, "", "", "", "", "", ""])?;
        }
        Ok(())
    }

    /// Writes the buckets up to the horizon and returns the inner writer.
    pub fn finish(mut self, horizon: SimTime) -> io::Result<W> {
        self.advance_to(crate::sim::bucket_count(
            horizon - SimTime::ZERO,
            self.bucket,
        ));
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

impl<W: Write> Recorder for ThroughputWriter<W> {
    fn message_offered(&mut self, time: SimTime, tenant: usize, recipients: u32) {
        self.advance_to(time.as_millis() / self.bucket.as_millis());
        self.offered[tenant] += u64::from(recipients);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_dense_per_bucket_and_tenant() {
        let mut w = ThroughputWriter::new(
            Vec::new(),
            vec!["a".into(), "b".into()],
            SimDuration::MINUTE,
        )
        .unwrap();
        w.message_offered(SimTime(1_000), 0, 3);
        w.message_offered(SimTime(130_000), 1, 2);
        let out = String::from_utf8(w.finish(SimTime(180_000)).unwrap()).unwrap();
        let expected = "bucket_start_s,tenant,offered_rcpts,accepted_rcpts,deferred_rcpts,rejected_rcpts,accepted_msgs,connections_opened,connections_refused\n\
0.000,a,3,,,,,,\n0.000,b,0,,,,,,\n60.000,a,0,,,,,,\n60.000,b,0,,,,,,\n120.000,a,0,,,,,,\n120.000,b,2,,,,,,\n";
        assert_eq!(out, expected);
    }
}
