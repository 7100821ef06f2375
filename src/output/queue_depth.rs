//! `queue_depth.csv`: per time bucket and MTA, the most messages its queue held
//! (`bucket_start_s,mta,queued_messages_max`), streamed like `throughput.csv`. Feeds
//! the `queue_depth` chart.

use std::io::{self, Write};

use crate::sim::Recorder;
use crate::time::{SimDuration, SimTime};

pub const HEADER: [&str; 3] = ["bucket_start_s", "mta", "queued_messages_max"];

pub struct QueueDepthWriter<W: Write> {
    out: csv::Writer<W>,
    mtas: Vec<String>,
    bucket: SimDuration,
    current: u64,
    /// Per MTA: the depth now, and the most within the current bucket.
    depth: Vec<(usize, usize)>,
    error: Option<io::Error>,
}

impl<W: Write> QueueDepthWriter<W> {
    pub fn new(out: W, mtas: Vec<String>, bucket: SimDuration) -> io::Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(HEADER)?;
        let depth = vec![(0, 0); mtas.len()];
        Ok(QueueDepthWriter {
            out,
            mtas,
            bucket,
            current: 0,
            depth,
            error: None,
        })
    }

    fn advance_to(&mut self, bucket_index: u64) {
        while self.current < bucket_index {
            if let Err(e) = self.write_current() {
                self.error.get_or_insert(e);
            }
            for d in &mut self.depth {
                d.1 = d.0;
            }
            self.current += 1;
        }
    }

    fn write_current(&mut self) -> io::Result<()> {
        let start = SimTime(self.current * self.bucket.as_millis()).to_string();
        for (mta, (_, max)) in self.mtas.iter().zip(&self.depth) {
            self.out
                .write_record([start.as_str(), mta, &max.to_string()])?;
        }
        Ok(())
    }

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

impl<W: Write> Recorder for QueueDepthWriter<W> {
    fn queue_depth(&mut self, time: SimTime, mta: usize, depth: usize) {
        self.advance_to(time.as_millis() / self.bucket.as_millis().max(1));
        let d = &mut self.depth[mta];
        d.0 = depth;
        d.1 = d.1.max(depth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_per_bucket_carries_over_to_quiet_buckets() {
        let mut w =
            QueueDepthWriter::new(Vec::new(), vec!["m".into()], SimDuration::MINUTE).unwrap();
        w.queue_depth(SimTime(1_000), 0, 3);
        w.queue_depth(SimTime(2_000), 0, 1);
        w.queue_depth(SimTime(130_000), 0, 0);
        let out = String::from_utf8(w.finish(SimTime(180_000)).unwrap()).unwrap();
        assert_eq!(
            out,
            "bucket_start_s,mta,queued_messages_max\n0.000,m,3\n60.000,m,1\n120.000,m,1\n"
        );
    }
}
