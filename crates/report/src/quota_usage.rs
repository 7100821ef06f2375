//! `quota_usage.csv`: per bucket, the quota engine's own highest use of each
//! customer window (Q4, Q5) and of the busiest users' windows (Q1, Q2), with the
//! limit in force — `bucket_start_s,tenant,scope,subject,limit,max_used,limit_value`,
//! streamed as the run ends each bucket (`relay::quota::usage`). The utilisation
//! chart draws this file, so it shows what the engine counted, charged to the
//! customer the engine charged (Q8), against the limit of the moment.

use std::io::{self, Write};

use relay::quota::usage::WindowUsage;
use relay::time::SimTime;
use scenario::Model;
use sim::{Observation, Observer};

use super::subject_csv::SubjectCsv;

pub const HEADER: [&str; 7] = [
    "bucket_start_s",
    "tenant",
    "scope",
    "subject",
    "limit",
    "max_used",
    "limit_value",
];

/// Per bucket and user limit, the users reported: those with the highest use.
pub const BUSIEST_USERS: usize = 10;

pub struct QuotaUsageWriter<'m, W: Write>(SubjectCsv<'m, W>);

impl<'m, W: Write> QuotaUsageWriter<'m, W> {
    pub fn new(out: W, model: &'m Model) -> io::Result<Self> {
        SubjectCsv::new(out, model, &HEADER).map(QuotaUsageWriter)
    }

    pub fn finish(self) -> io::Result<W> {
        self.0.finish()
    }

    /// The rows of the bucket that starts at `start`.
    pub fn bucket(&mut self, start: SimTime, rows: &[WindowUsage]) {
        for r in rows {
            let rest = [r.max_used.to_string(), r.limit_value.to_string()];
            self.0.row(start, Some(r.tenant), r.key, &rest);
        }
    }
}

impl<W: Write> Observer for QuotaUsageWriter<'_, W> {
    fn observe(&mut self, _: SimTime, what: &Observation<'_>) {
        if let Observation::QuotaUsage { start, rows } = *what {
            self.bucket(start, rows);
        }
    }

    fn busiest_users(&self) -> Option<usize> {
        Some(BUSIEST_USERS)
    }
}
