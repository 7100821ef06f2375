//! `limit_hits.csv`: the limit-hit timeline, one row per state change, in time order:
//! `time_s,tenant,scope,subject,limit,event,reply,used,limit_value`, streamed while the
//! run goes.

use std::io::{self, Write};

use crate::relay::LimitChange;
use crate::sim::{LimitRecord, Recorder};

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

/// Streams the timeline as the run records it (a `Recorder`).
pub struct LimitHitsWriter<W: Write> {
    out: csv::Writer<W>,
    error: Option<io::Error>,
}

impl<W: Write> LimitHitsWriter<W> {
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(HEADER)?;
        Ok(LimitHitsWriter { out, error: None })
    }

    pub fn finish(self) -> io::Result<W> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.into_inner().map_err(|e| e.into_error())
    }

    fn write_row(&mut self, r: &LimitRecord) -> io::Result<()> {
        self.out.write_record([
            r.time.to_string().as_str(),
            &r.tenant,
            r.scope,
            &r.subject,
            r.limit.name(),
            match r.change {
                LimitChange::Hit => "hit",
                LimitChange::Cleared => "cleared",
            },
            &r.reply.to_string(),
            &r.used.to_string(),
            &r.limit_value.to_string(),
        ])?;
        Ok(())
    }
}

impl<W: Write> Recorder for LimitHitsWriter<W> {
    fn limit_event(&mut self, record: &LimitRecord) {
        if self.error.is_none()
            && let Err(e) = self.write_row(record)
        {
            self.error = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::Reply;
    use crate::scenario::LimitKind;
    use crate::time::SimTime;

    #[test]
    fn limit_names_are_the_scenario_spelling() {
        for limit in [
            LimitKind::UserMessages,
            LimitKind::UserUniqueRecipients,
            LimitKind::CustomerDay,
            LimitKind::CustomerPeak,
            LimitKind::DosConnectionRate,
            LimitKind::DosConcurrency,
            LimitKind::DosGenericHelo,
            LimitKind::DosMessagesPerConnection,
        ] {
            assert_eq!(
                serde_json::to_value(limit).unwrap().as_str().unwrap(),
                limit.name()
            );
        }
    }

    #[test]
    fn rows_carry_every_column() {
        let record = LimitRecord {
            time: SimTime(600_000),
            tenant: "acme".into(),
            scope: "customer",
            subject: "acme".into(),
            limit: LimitKind::CustomerPeak,
            change: LimitChange::Hit,
            reply: Reply::PeakCustomerLimit,
            used: 9,
            limit_value: 9,
        };
        let mut w = LimitHitsWriter::new(Vec::new()).unwrap();
        w.limit_event(&record);
        assert_eq!(
            String::from_utf8(w.finish().unwrap()).unwrap(),
            "time_s,tenant,scope,subject,limit,event,reply,used,limit_value\n\
             600.000,acme,customer,acme,customer_peak,hit,450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.,9,9\n"
        );
    }
}
