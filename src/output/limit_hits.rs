//! `limit_hits.csv`: the limit-hit timeline, one row per state change, in time order:
//! `time_s,tenant,scope,subject,limit,event,reply,used,limit_value`.

use std::io::{self, Write};

use crate::relay::LimitChange;
use crate::sim::LimitRecord;

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

/// Writes the timeline to `out`.
pub fn write(out: impl Write, records: &[LimitRecord]) -> io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(HEADER)?;
    for r in records {
        csv.write_record([
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
    }
    csv.flush()
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
        let mut out = Vec::new();
        write(&mut out, &[record]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "time_s,tenant,scope,subject,limit,event,reply,used,limit_value\n\
             600.000,acme,customer,acme,customer_peak,hit,450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.,9,9\n"
        );
    }
}
