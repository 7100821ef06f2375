//! `replies.csv`: per bucket, how often the relay refused with each reply —
//! `bucket_start_s,reply,refusals` — one row per bucket and reply that refused
//! something (4xx or 5xx), streamed as the run goes. A refusal is one refused
//! command: at RCPT TO it is one recipient, at the greeting, HELO, MAIL FROM or DATA
//! one attempt at a message. The replies chart draws it, so a `550 5.7.0` for an
//! unlisted IP shows as plainly as a limit does.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::clock::Clock;
use relay::Reply;
use relay::time::{SimDuration, SimTime};
use sim::{Observation, Observer};

pub const HEADER: [&str; 3] = ["bucket_start_s", "reply", "refusals"];

pub struct RepliesWriter<W: Write> {
    out: csv::Writer<W>,
    bucket: SimDuration,
    /// Index of the bucket being counted.
    current: u64,
    counts: BTreeMap<Reply, u64>,
    clock: Clock,
    error: Option<io::Error>,
}

impl<W: Write> RepliesWriter<W> {
    pub fn new(out: W, bucket: SimDuration, clock: Clock) -> io::Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(clock.header(&HEADER, &["time"]))?;
        Ok(RepliesWriter {
            out,
            bucket: SimDuration::from_millis(bucket.as_millis().max(1)),
            current: 0,
            counts: BTreeMap::new(),
            clock,
            error: None,
        })
    }

    pub fn refusal(&mut self, time: SimTime, reply: Reply) {
        let bucket = time.as_millis() / self.bucket.as_millis();
        if bucket != self.current {
            self.write_bucket();
            self.current = bucket;
        }
        *self.counts.entry(reply).or_default() += 1;
    }

    fn write_bucket(&mut self) {
        if self.counts.is_empty() {
            return;
        }
        let t = SimTime(self.current * self.bucket.as_millis());
        let (start, time) = (t.to_string(), self.clock.at(t));
        for (reply, n) in std::mem::take(&mut self.counts) {
            let mut row = vec![start.clone(), reply.to_string(), n.to_string()];
            row.extend(time.clone());
            let written = self.out.write_record(&row);
            if let Err(e) = written {
                self.error.get_or_insert(e.into());
            }
        }
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.write_bucket();
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

impl<W: Write> Observer for RepliesWriter<W> {
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        for &reply in what.replies() {
            if !reply.is_positive() {
                self.refusal(time, reply);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_per_bucket_and_reply() {
        let mut w = RepliesWriter::new(Vec::new(), SimDuration::MINUTE, Clock::NONE).unwrap();
        w.refusal(SimTime(1_000), Reply::PeakCustomerLimit);
        w.refusal(SimTime(2_000), Reply::PeakCustomerLimit);
        w.refusal(SimTime(130_000), Reply::DailyCustomerLimit);
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            out,
            "bucket_start_s,reply,refusals\n\
             0.000,450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.,2\n\
             120.000,550 5.7.1 Daily SMTP relay limit exceeded for customer.,1\n"
        );
    }
}
