//! `limit_hits.csv`: the limit-hit timeline, one row per state change, in time order:
//! `time_s,tenant,scope,subject,limit,event,reply,used,limit_value`, streamed while the
//! run goes.

use std::io::{self, Write};

use relay::time::SimTime;
use relay::{LimitChange, LimitEvent};
use scenario::Model;
use sim::{Observation, Observer};

use super::subject_csv::SubjectCsv;

pub const HEADER: [&str; 9] = [
    "time_s",
    "tenant",
    "scope",
    "subject",
    "limit",
    "event",
    "reply",
    "used",
    "limit_value",
];

/// Streams the timeline as the run observes it (an `Observer`); names come from the
/// model (tenant ids, user addresses).
pub struct LimitHitsWriter<'m, W: Write>(SubjectCsv<'m, W>);

impl<'m, W: Write> LimitHitsWriter<'m, W> {
    pub fn new(out: W, model: &'m Model) -> io::Result<Self> {
        SubjectCsv::new(out, model, &HEADER).map(LimitHitsWriter)
    }

    pub fn finish(self) -> io::Result<W> {
        self.0.finish()
    }

    /// The rows so far, written through (`relaysim serve` keeps the file current).
    pub fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }

    pub fn limit_event(&mut self, r: &LimitEvent) {
        let event = match r.change {
            LimitChange::Hit => "hit",
            LimitChange::Cleared => "cleared",
        };
        let rest = [
            event.to_string(),
            r.reply.to_string(),
            r.used.to_string(),
            r.limit_value.to_string(),
        ];
        self.0.row(r.time, r.tenant, r.key, &rest);
    }
}

impl<W: Write> Observer for LimitHitsWriter<'_, W> {
    fn observe(&mut self, _: SimTime, what: &Observation<'_>) {
        if let Observation::Limit(event) = *what {
            self.limit_event(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay::{LimitKey, LimitKind, Reply, Subject, TenantIx};

    #[test]
    fn rows_carry_every_column() {
        let model = Model::parse(
            "t.toml",
            "[simulation]\nname = \"t\"\nduration = \"1h\"\n[[tenant]]\nid = \"acme\"\nlicences = 1\nprimary_domain = \"acme.example\"\n",
        )
        .unwrap();
        let event = LimitEvent {
            time: SimTime(600_000),
            tenant: Some(TenantIx(0)),
            key: LimitKey {
                limit: LimitKind::CustomerPeak,
                subject: Subject::Customer(TenantIx(0)),
            },
            change: LimitChange::Hit,
            reply: Reply::PeakCustomerLimit,
            used: 9,
            limit_value: 9,
            refusals: 1,
        };
        let mut w = LimitHitsWriter::new(Vec::new(), &model).unwrap();
        w.limit_event(&event);
        assert_eq!(
            String::from_utf8(w.finish().unwrap()).unwrap(),
            "time_s,tenant,scope,subject,limit,event,reply,used,limit_value\n\
             600.000,acme,customer,acme,customer_peak,hit,450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.,9,9\n"
        );
    }
}
