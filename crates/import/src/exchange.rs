//! Exchange message tracking logs (`MSGTRK*.LOG`): CSV whose columns a
//! `#Fields:` line names (other `#` lines are headers). The events read:
//! `RECEIVE` (the message arrived: `sender-address`, `total-bytes`,
//! `recipient-count`, `server-hostname`), `SEND` (delivered to the next hop),
//! `DEFER` and `FAIL` (with the remote reply in `recipient-status`), one line per
//! event with its recipients `;`-joined. A message is keyed by the server and its
//! `internal-message-id`; it has left once each recipient was sent or failed.

use crate::stamp::{self, Stamp};
use crate::{LineParser, Outcome, Parsed, Record};

/// The columns the import reads, by their `#Fields:` names.
const COLUMNS: [&str; 8] = [
    "date-time",
    "event-id",
    "internal-message-id",
    "recipient-address",
    "recipient-status",
    "total-bytes",
    "sender-address",
    "server-hostname",
];

#[derive(Default)]
pub struct Parser {
    /// Where each of [`COLUMNS`] is, once `#Fields:` was read.
    columns: Option<[Option<usize>; COLUMNS.len()]>,
    /// `recipient-count`'s column.
    count: Option<usize>,
}

impl LineParser for Parser {
    fn parse(&mut self, line: &str) -> Parsed {
        if let Some(fields) = line.strip_prefix("#Fields:") {
            let names: Vec<&str> = fields.trim().split(',').map(str::trim).collect();
            let position = |name: &str| names.iter().position(|n| *n == name);
            self.columns = Some(COLUMNS.map(position));
            self.count = position("recipient-count");
            return Parsed::Ignored("a header line");
        }
        if line.starts_with('#') || line.trim().is_empty() {
            return Parsed::Ignored("a header line");
        }
        let Some(columns) = self.columns else {
            return Parsed::Unknown("a line before the #Fields: header");
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let Some(Ok(row)) = reader.records().next() else {
            return Parsed::Unknown("a line that is no CSV row");
        };
        let get = |i: usize| columns[i].and_then(|c| row.get(c)).unwrap_or("");
        let Some(at) = stamp::rfc3339(get(0)) else {
            return Parsed::Unknown("a row without a date-time");
        };
        let key = get(2);
        if key.is_empty() {
            return Parsed::Unknown("a row without an internal-message-id");
        }
        let id = format!("{}/{key}", get(7));
        let recipients = get(3).split(';').filter(|r| !r.is_empty());
        let outcome = match get(1) {
            "RECEIVE" => {
                return Parsed::Record(Record::Queued {
                    id,
                    at,
                    from: get(6).to_ascii_lowercase(),
                    size: get(5).parse().ok(),
                    recipients: self
                        .count
                        .and_then(|c| row.get(c))
                        .and_then(|n| n.parse().ok())
                        .or(Some(recipients.count() as u32)),
                    host: get(7).to_string(),
                });
            }
            "SEND" => Outcome::Sent,
            "DEFER" => Outcome::Deferred,
            "FAIL" => Outcome::Bounced,
            _ => return Parsed::Ignored("another event (DELIVER, SUBMIT, TRANSFER, EXPAND …)"),
        };
        // The remote reply of a DEFER or FAIL event, for each of its recipients.
        let reply = match outcome {
            Outcome::Sent => None,
            _ => reply_in(get(4)),
        };
        let records: Vec<Record> = recipients
            .map(|rcpt| Record::Attempt {
                id: id.clone(),
                at,
                rcpt: rcpt.to_ascii_lowercase(),
                outcome,
                reply: reply.clone(),
            })
            .collect();
        if records.is_empty() {
            return Parsed::Unknown("a delivery event without recipients");
        }
        Parsed::Records(records)
    }
}

/// The first `NNN …` reply (a 4xx or 5xx code) in a recipient status such as
/// `[{LRT=};{LED=450 4.2.1 Peak SMTP relay limit exceeded …};{FQDN=}]`.
fn reply_in(status: &str) -> Option<String> {
    let b = status.as_bytes();
    (0..b.len().saturating_sub(3)).find_map(|i| {
        let starts = i == 0 || !b[i - 1].is_ascii_digit();
        (starts
            && matches!(b[i], b'4' | b'5')
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
            && b[i + 3] == b' ')
            .then(|| {
                // Up to the end of its `{LED=…}` item (an address in it has brackets).
                let text = &status[i..];
                text[..text.find('}').unwrap_or(text.len())]
                    .trim()
                    .to_string()
            })
    })
}

fn host_of(id: &str) -> &str {
    id.rsplit_once('/').map_or("", |(h, _)| h)
}

/// The `#Fields:` line [`render`] writes rows for.
pub const FIELDS: &str = "#Fields: date-time,client-ip,server-hostname,event-id,internal-message-id,recipient-address,recipient-status,total-bytes,recipient-count,sender-address";

/// A message tracking row for `record` (after [`FIELDS`]): the parser's inverse,
/// for tests. `Removed` has no row (a message leaves when its recipients are done).
pub fn render(record: &Record) -> Option<String> {
    let stamp = |at: &Stamp| {
        let s = Stamp {
            ms: at.ms,
            offset: Some(0),
        }
        .to_iso();
        format!("{}.{:03}Z", s.trim_end_matches('Z'), at.ms.rem_euclid(1000))
    };
    let key = |id: &str| id.rsplit_once('/').map_or(id, |(_, k)| k).to_string();
    match record {
        // The server is the id's (the parser keys a message by server and id).
        Record::Queued {
            id,
            at,
            from,
            size,
            recipients,
            ..
        } => Some(format!(
            "{},192.0.2.10,{},RECEIVE,{},,,{},{},{from}",
            stamp(at),
            host_of(id),
            key(id),
            size.unwrap_or(0),
            recipients.unwrap_or(0)
        )),
        Record::Attempt {
            id,
            at,
            rcpt,
            outcome,
            reply,
        } => {
            let host = host_of(id);
            let (event, status) = match outcome {
                Outcome::Sent => ("SEND", "250 2.6.0 Queued mail for delivery".to_string()),
                Outcome::Deferred => (
                    "DEFER",
                    format!("[{{LED={}}}]", reply.as_deref().unwrap_or("")),
                ),
                Outcome::Bounced => (
                    "FAIL",
                    format!("[{{LED={}}}]", reply.as_deref().unwrap_or("")),
                ),
            };
            Some(format!(
                "{},192.0.2.10,{host},{event},{},{rcpt},\"{status}\",0,1,",
                stamp(at),
                key(id)
            ))
        }
        Record::Removed { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_by_the_fields_header() {
        let mut p = Parser::default();
        assert_eq!(
            p.parse("2026-11-29T11:05:01.000Z,x"),
            Parsed::Unknown("a line before the #Fields: header")
        );
        assert!(matches!(
            p.parse("#Software: Microsoft Exchange Server"),
            Parsed::Ignored(_)
        ));
        assert!(matches!(p.parse(FIELDS), Parsed::Ignored(_)));
        let r = p.parse("2026-11-29T11:05:01.123Z,192.0.2.10,EX01,RECEIVE,4242,a@example.org;b@example.org,,5000,2,App@Acme.example");
        assert!(
            matches!(&r, Parsed::Record(Record::Queued { id, from, size: Some(5000), recipients: Some(2), .. }) if id == "EX01/4242" && from == "app@acme.example"),
            "{r:?}"
        );
        let d = p.parse("2026-11-29T11:05:02.000Z,192.0.2.10,EX01,DEFER,4242,a@example.org;b@example.org,\"[{LRT=};{LED=450 4.2.1 Peak SMTP relay limit exceeded for customer.};{FQDN=smtp-relay.gmail.com}]\",5000,2,");
        let Parsed::Records(rs) = d else {
            panic!("{d:?}")
        };
        assert_eq!(rs.len(), 2);
        assert!(
            matches!(&rs[1], Record::Attempt { outcome: Outcome::Deferred, reply: Some(r), .. } if r == "450 4.2.1 Peak SMTP relay limit exceeded for customer.")
        );
        assert!(matches!(
            p.parse("2026-11-29T11:05:02.000Z,192.0.2.10,EX01,DELIVER,4242,a@x,,1,1,"),
            Parsed::Ignored(_)
        ));
    }
}
