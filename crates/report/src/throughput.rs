//! `throughput.csv`: one row per time bucket and tenant, streamed while the run goes,
//! so memory does not grow with the length of the run. Recipients and messages are
//! counted in the tenant of the sending MTA; a deferred recipient is counted at each
//! attempt that defers it, and `first_attempt_rcpts` counts each recipient once, in
//! the bucket of its first attempt (so offered load and retries can be told apart);
//! the `first_attempt_*_rcpts` columns split those by what the relay did with them,
//! so a bucket's retries are `accepted + deferred + rejected − first_attempt`.

use std::io::{self, Write};

use super::bucketed::{BucketRow, BucketedCsv};
use super::clock::Clock;
use relay::time::{SimDuration, SimTime};
use sim::{AttemptCounts, Observation, Observer};

pub const HEADER: [&str; 2 + COLUMNS] = [
    "bucket_start_s",
    "tenant",
    "offered_rcpts",
    "accepted_rcpts",
    "deferred_rcpts",
    "rejected_rcpts",
    "accepted_msgs",
    "connections_opened",
    "connections_refused",
    "first_attempt_rcpts",
    "first_attempt_accepted_rcpts",
    "first_attempt_deferred_rcpts",
    "first_attempt_rejected_rcpts",
];

/// The count columns (after `bucket_start_s` and `tenant`).
const COLUMNS: usize = 11;

/// The counts of the columns after `tenant`, per bucket.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts([u64; COLUMNS]);

impl BucketRow for Counts {
    fn cells(&self) -> impl Iterator<Item = String> {
        self.0.iter().map(u64::to_string)
    }
    fn next_bucket(&mut self) {
        self.0 = [0; COLUMNS];
    }
}

pub struct ThroughputWriter<W: Write>(BucketedCsv<W, Counts>);

const OFFERED: usize = 0;
const ACCEPTED: usize = 1;
const DEFERRED: usize = 2;
const REJECTED: usize = 3;
const ACCEPTED_MSGS: usize = 4;
const OPENED: usize = 5;
const REFUSED: usize = 6;
const FIRST_ATTEMPT: usize = 7;
const FIRST_ACCEPTED: usize = 8;
const FIRST_DEFERRED: usize = 9;
const FIRST_REJECTED: usize = 10;

impl<W: Write> ThroughputWriter<W> {
    pub fn new(
        out: W,
        tenants: Vec<String>,
        bucket: SimDuration,
        clock: Clock,
    ) -> io::Result<Self> {
        BucketedCsv::new(out, &HEADER, tenants, bucket, Counts::default(), clock)
            .map(ThroughputWriter)
    }

    /// Writes the buckets up to the horizon and returns the inner writer.
    pub fn finish(self, horizon: SimTime) -> io::Result<W> {
        self.0.finish(horizon)
    }

    /// Writes and flushes the buckets that ended before `time`
    /// ([`BucketedCsv::write_ended`]).
    pub fn write_ended(&mut self, time: SimTime) -> io::Result<()> {
        self.0.write_ended(time)
    }

    fn row(&mut self, time: SimTime, tenant: usize) -> &mut [u64; COLUMNS] {
        &mut self.0.row(time, tenant).0
    }
}

impl<W: Write> ThroughputWriter<W> {
    pub fn offered(&mut self, time: SimTime, tenant: usize, recipients: u32) {
        self.row(time, tenant)[OFFERED] += u64::from(recipients);
    }

    pub fn attempt(&mut self, time: SimTime, tenant: usize, c: &AttemptCounts) {
        let row = self.row(time, tenant);
        row[ACCEPTED] += c.accepted_rcpts;
        row[DEFERRED] += c.deferred_rcpts;
        row[REJECTED] += c.rejected_rcpts;
        row[ACCEPTED_MSGS] += c.accepted_msgs;
        row[FIRST_ATTEMPT] += c.first_attempt_rcpts;
        if c.is_first() {
            row[FIRST_ACCEPTED] += c.accepted_rcpts;
            row[FIRST_DEFERRED] += c.deferred_rcpts;
            row[FIRST_REJECTED] += c.rejected_rcpts;
        }
    }

    pub fn connection(&mut self, time: SimTime, tenant: usize, opened: bool) {
        self.row(time, tenant)[if opened { OPENED } else { REFUSED }] += 1;
    }
}

/// Rows are per tenant of the sending MTA.
impl<W: Write> Observer for ThroughputWriter<W> {
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        match *what {
            Observation::Offered { tag, recipients } => {
                self.offered(time, tag.tenant as usize, recipients);
            }
            Observation::Attempt { tag, counts, .. } => {
                self.attempt(time, tag.tenant as usize, counts)
            }
            Observation::Connection { tag, opened, .. } => {
                self.connection(time, tag.tenant as usize, opened);
            }
            _ => {}
        }
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
            Clock::NONE,
        )
        .unwrap();
        w.offered(SimTime(1_000), 0, 3);
        w.connection(SimTime(1_000), 0, true);
        w.attempt(
            SimTime(1_000),
            0,
            &AttemptCounts {
                accepted_rcpts: 2,
                deferred_rcpts: 1,
                newly_deferred_rcpts: 1,
                rejected_rcpts: 0,
                accepted_msgs: 1,
                first_attempt_rcpts: 3,
            },
        );
        w.attempt(
            SimTime(70_000),
            0,
            &AttemptCounts {
                accepted_rcpts: 1,
                deferred_rcpts: 0,
                newly_deferred_rcpts: 0,
                rejected_rcpts: 0,
                accepted_msgs: 1,
                first_attempt_rcpts: 0,
            },
        );
        w.offered(SimTime(130_000), 1, 2);
        w.connection(SimTime(130_000), 1, false);
        let out = String::from_utf8(w.finish(SimTime(180_000)).unwrap()).unwrap();
        let expected = "bucket_start_s,tenant,offered_rcpts,accepted_rcpts,deferred_rcpts,rejected_rcpts,accepted_msgs,connections_opened,connections_refused,first_attempt_rcpts,first_attempt_accepted_rcpts,first_attempt_deferred_rcpts,first_attempt_rejected_rcpts\n\
0.000,a,3,2,1,0,1,1,0,3,2,1,0\n0.000,b,0,0,0,0,0,0,0,0,0,0,0\n\
60.000,a,0,1,0,0,1,0,0,0,0,0,0\n60.000,b,0,0,0,0,0,0,0,0,0,0,0\n\
120.000,a,0,0,0,0,0,0,0,0,0,0,0\n120.000,b,2,0,0,0,0,0,1,0,0,0,0\n";
        assert_eq!(out, expected);
    }
}
