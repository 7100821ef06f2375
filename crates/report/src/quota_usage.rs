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

pub struct QuotaUsageWriter<'m, W: Write> {
    out: csv::Writer<W>,
    model: &'m Model,
    error: Option<io::Error>,
}

impl<'m, W: Write> QuotaUsageWriter<'m, W> {
    pub fn new(out: W, model: &'m Model) -> io::Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(super::clock::Clock::of(model).header(&HEADER, &["time"]))?;
        Ok(QuotaUsageWriter {
            out,
            model,
            error: None,
        })
    }

    pub fn finish(self) -> io::Result<W> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.into_inner().map_err(|e| e.into_error())
    }

    /// The rows of the bucket that starts at `start`.
    pub fn bucket(&mut self, start: SimTime, rows: &[WindowUsage]) {
        if self.error.is_some() {
            return;
        }
        let time = super::clock::Clock::of(self.model).at(start);
        let start = start.to_string();
        for r in rows {
            let (scope, subject) = self.model.limit_subject(r.key.subject);
            let mut row = vec![
                start.clone(),
                self.model.tenant_id(Some(r.tenant)).to_string(),
                scope.to_string(),
                subject.into_owned(),
                r.key.limit.name().to_string(),
                r.max_used.to_string(),
                r.limit_value.to_string(),
            ];
            row.extend(time.clone());
            let written = self.out.write_record(&row);
            if let Err(e) = written {
                self.error = Some(e.into());
                return;
            }
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
