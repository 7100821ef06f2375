//! A CSV streamed bucket by bucket: one row per time bucket and entity (tenant, MTA),
//! written as soon as the run has moved past the bucket, so memory does not grow with
//! the length of the run. `throughput.csv` and `queue_depth.csv` are two of them.

use std::io::{self, Write};

use super::clock::Clock;
use relay::time::{SimDuration, SimTime};

/// What one entity holds in one bucket.
pub trait BucketRow: Clone {
    /// The cells after `bucket_start_s` and the entity's name.
    fn cells(&self) -> impl Iterator<Item = String>;
    /// The row's state when the next bucket starts.
    fn next_bucket(&mut self);
}

pub struct BucketedCsv<W: Write, R: BucketRow> {
    out: csv::Writer<W>,
    names: Vec<String>,
    bucket: SimDuration,
    /// Index of the bucket being filled.
    current: u64,
    rows: Vec<R>,
    clock: Clock,
    error: Option<io::Error>,
}

impl<W: Write, R: BucketRow> BucketedCsv<W, R> {
    pub fn new(
        out: W,
        header: &[&str],
        names: Vec<String>,
        bucket: SimDuration,
        empty: R,
        clock: Clock,
    ) -> io::Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(clock.header(header, &["time"]))?;
        // The header is in the file at once (a live folder is read while written).
        out.flush()?;
        let rows = vec![empty; names.len()];
        Ok(BucketedCsv {
            out,
            names,
            bucket,
            current: 0,
            rows,
            clock,
            error: None,
        })
    }

    /// The row of entity `i` in the bucket of `time` (earlier buckets are written).
    pub fn row(&mut self, time: SimTime, i: usize) -> &mut R {
        self.advance_to(time.as_millis() / self.bucket.as_millis().max(1));
        &mut self.rows[i]
    }

    /// Writes the buckets that ended before `time` and flushes them to the output
    /// (for a run folder read while it is written: `relaysim serve`). Nothing is
    /// flushed when no bucket ended.
    pub fn write_ended(&mut self, time: SimTime) -> io::Result<()> {
        let before = self.current;
        self.advance_to(time.as_millis() / self.bucket.as_millis().max(1));
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.current > before {
            self.out.flush()?;
        }
        Ok(())
    }

    fn advance_to(&mut self, bucket_index: u64) {
        while self.current < bucket_index {
            if let Err(e) = self.write_current() {
                self.error.get_or_insert(e);
            }
            self.rows.iter_mut().for_each(R::next_bucket);
            self.current += 1;
        }
    }

    fn write_current(&mut self) -> io::Result<()> {
        let t = SimTime(self.current * self.bucket.as_millis());
        let (start, time) = (t.to_string(), self.clock.at(t));
        for (name, row) in self.names.iter().zip(&self.rows) {
            self.out.write_field(&start)?;
            self.out.write_field(name)?;
            for cell in row.cells() {
                self.out.write_field(cell)?;
            }
            if let Some(time) = &time {
                self.out.write_field(time)?;
            }
            self.out.write_record(None::<&[u8]>)?;
        }
        Ok(())
    }

    /// Writes the buckets up to the horizon and returns the inner writer.
    pub fn finish(mut self, horizon: SimTime) -> io::Result<W> {
        self.advance_to(sim::bucket_count(horizon - SimTime::ZERO, self.bucket));
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.into_inner().map_err(|e| e.into_error())
    }
}
