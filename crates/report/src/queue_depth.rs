//! `queue_depth.csv`: per time bucket and MTA, the most messages its queue held
//! (`bucket_start_s,mta,queued_messages_max`), streamed like `throughput.csv`. Feeds
//! the `queue_depth` chart.

use super::clock::Clock;
use std::io::{self, Write};

use super::bucketed::{BucketRow, BucketedCsv};
use relay::time::{SimDuration, SimTime};
use sim::{Observation, Observer};

pub const HEADER: [&str; 3] = ["bucket_start_s", "mta", "queued_messages_max"];

/// An MTA's queue depth now, and the most within the current bucket.
#[derive(Clone, Copy, Debug, Default)]
pub struct Depth {
    now: usize,
    most: usize,
}

impl BucketRow for Depth {
    fn cells(&self) -> impl Iterator<Item = String> {
        std::iter::once(self.most.to_string())
    }
    fn next_bucket(&mut self) {
        self.most = self.now;
    }
}

pub struct QueueDepthWriter<W: Write>(BucketedCsv<W, Depth>);

impl<W: Write> QueueDepthWriter<W> {
    pub fn new(out: W, mtas: Vec<String>, bucket: SimDuration, clock: Clock) -> io::Result<Self> {
        BucketedCsv::new(out, &HEADER, mtas, bucket, Depth::default(), clock).map(QueueDepthWriter)
    }

    pub fn finish(self, horizon: SimTime) -> io::Result<W> {
        self.0.finish(horizon)
    }
}

impl<W: Write> QueueDepthWriter<W> {
    /// MTA `mta` holds `depth` messages from `time` on.
    pub fn depth(&mut self, time: SimTime, mta: usize, depth: usize) {
        let d = self.0.row(time, mta);
        d.now = depth;
        d.most = d.most.max(depth);
    }
}

impl<W: Write> Observer for QueueDepthWriter<W> {
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        if let Observation::QueueDepth { mta, depth } = *what {
            self.depth(time, mta as usize, depth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_per_bucket_carries_over_to_quiet_buckets() {
        let mut w = QueueDepthWriter::new(
            Vec::new(),
            vec!["m".into()],
            SimDuration::MINUTE,
            Clock::NONE,
        )
        .unwrap();
        w.depth(SimTime(1_000), 0, 3);
        w.depth(SimTime(2_000), 0, 1);
        w.depth(SimTime(130_000), 0, 0);
        let out = String::from_utf8(w.finish(SimTime(180_000)).unwrap()).unwrap();
        assert_eq!(
            out,
            "bucket_start_s,mta,queued_messages_max\n0.000,m,3\n60.000,m,1\n120.000,m,1\n"
        );
    }
}
