//! A streamed CSV whose rows are about limits of subjects (`limit_hits.csv`,
//! `quota_usage.csv`): its rows begin with a time and the subject's tenant, scope and
//! name as the model names them, end with the `time` column when the scenario has a
//! start (`clock.rs`), and a failed write is kept and reported at `finish`, so an
//! observer never has to fail mid-run.

use std::io::{self, Write};

use relay::time::SimTime;
use relay::{LimitKey, TenantIx};
use scenario::Model;

use super::clock::Clock;

pub struct SubjectCsv<'m, W: Write> {
    out: csv::Writer<W>,
    model: &'m Model,
    clock: Clock,
    error: Option<io::Error>,
}

impl<'m, W: Write> SubjectCsv<'m, W> {
    /// Writes `header` (and `time`, with a start).
    pub fn new(out: W, model: &'m Model, header: &[&str]) -> io::Result<Self> {
        let clock = Clock::of(model);
        let mut out = csv::Writer::from_writer(out);
        out.write_record(clock.header(header, &["time"]))?;
        Ok(SubjectCsv {
            out,
            model,
            clock,
            error: None,
        })
    }

    /// One row: `time`, the tenant, scope and subject of `key`, its limit's name,
    /// then `rest`, then the clock time (with a start). After a failed write, nothing.
    pub fn row(&mut self, time: SimTime, tenant: Option<TenantIx>, key: LimitKey, rest: &[String]) {
        if self.error.is_some() {
            return;
        }
        let (scope, subject) = self.model.limit_subject(key.subject);
        let mut row = Vec::with_capacity(6 + rest.len());
        row.extend([
            time.to_string(),
            self.model.tenant_id(tenant).to_string(),
            scope.to_string(),
            subject.into_owned(),
            key.limit.name().to_string(),
        ]);
        row.extend_from_slice(rest);
        row.extend(self.clock.at(time));
        if let Err(e) = self.out.write_record(&row) {
            self.error = Some(e.into());
        }
    }

    /// The inner writer, or the first write error.
    /// Writes the rows so far through to the output (a live server's readers see
    /// them at once).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn finish(self) -> io::Result<W> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.into_inner().map_err(|e| e.into_error())
    }
}
