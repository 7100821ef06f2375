//! Postfix's syslog lines (also Postfix's own `maillog_file`):
//! `STAMP HOST SYSLOG_NAME/SERVICE[PID]: QUEUE_ID: FIELDS`, STAMP traditional
//! (`Nov 29 11:05:01`, with `--year`) or RFC 3339. The services read
//! (postconf(5), the Postfix "logging" README):
//! - `qmgr`: `from=<…>, size=…, nrcpt=… (queue active)` — the message is queued
//!   (logged again at each retry: the first is its arrival); `removed` — it left;
//! - `smtp`, `lmtp`, `local`, `virtual`, `pipe`, `error`, `discard`: `to=<…>,
//!   relay=…, delay=…, …, status=sent|deferred|bounced|expired (TEXT)`, with the
//!   remote reply in TEXT as `host H[IP] said: 450 4.2.1 … (in reply to RCPT TO
//!   command)`.
//!
//! Several instances (`postfix-out/qmgr`) and hosts share one log: a queue id is
//! keyed with its host and instance.

use crate::stamp::{self, Stamp, SyslogYear};
use crate::{LineParser, Outcome, Parsed, Record};

pub struct Parser {
    year: Option<SyslogYear>,
}

impl Parser {
    pub fn new(year: Option<i32>) -> Self {
        Parser {
            year: year.map(SyslogYear::new),
        }
    }
}

/// Whether `line` reads as a Postfix syslog line.
pub fn looks_like(line: &str) -> bool {
    line.split_ascii_whitespace()
        .take(6)
        .any(|w| w.contains("postfix") && w.contains('[') && w.ends_with("]:"))
}

/// The next word and the text after it.
fn word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if text.is_empty() {
        return None;
    }
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    Some((&text[..end], &text[end..]))
}

/// A missing year for a traditional stamp is reported once by the caller, as
/// the kind [`NO_YEAR`].
pub const NO_YEAR: &str = "a syslog time stamp without a year (give --year)";

impl LineParser for Parser {
    fn parse(&mut self, line: &str) -> Parsed {
        let Some((first, rest)) = word(line) else {
            return Parsed::Ignored("an empty line");
        };
        let (at, rest) = if stamp::is_month(first) {
            let Some(((day, rest), year)) = word(rest).zip(self.year.as_mut()) else {
                return Parsed::Unknown(NO_YEAR);
            };
            let Some((time, rest)) = word(rest) else {
                return Parsed::Unknown("a line cut short");
            };
            match year.stamp(first, day, time) {
                Some(at) => (at, rest),
                None => return Parsed::Unknown("a bad time stamp"),
            }
        } else {
            match stamp::rfc3339(first) {
                Some(at) => (at, rest),
                None => return Parsed::Unknown("no time stamp"),
            }
        };
        let Some((host, rest)) = word(rest) else {
            return Parsed::Unknown("a line cut short");
        };
        let Some((program, rest)) = word(rest) else {
            return Parsed::Unknown("a line cut short");
        };
        let Some(program) = program.strip_suffix(':') else {
            return Parsed::Unknown("no program name");
        };
        let name = program.split('[').next().unwrap_or(program);
        let Some((instance, service)) = name.rsplit_once('/') else {
            return Parsed::Ignored("another program's line");
        };
        if !instance.starts_with("postfix") {
            return Parsed::Ignored("another program's line");
        }
        let rest = rest.trim_start();
        let Some((queue_id, fields)) = rest.split_once(": ") else {
            // A lone queue id is a line cut short (by rotation, or a full disk).
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Parsed::Unknown("a line cut short");
            }
            return Parsed::Ignored("a line about no message (connect, warning, statistics)");
        };
        if queue_id.is_empty() || !queue_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Parsed::Ignored("a line about no message (connect, warning, statistics)");
        }
        let id = format!("{host}/{instance}:{queue_id}");
        match service {
            "qmgr" => qmgr(id, at, host, fields),
            "smtp" | "lmtp" | "local" | "virtual" | "pipe" | "error" | "discard" | "retry" => {
                delivery(id, at, fields)
            }
            _ => Parsed::Ignored("message bookkeeping (pickup, cleanup, smtpd, bounce)"),
        }
    }
}

fn qmgr(id: String, at: Stamp, host: &str, fields: &str) -> Parsed {
    if fields == "removed" {
        return Parsed::Record(Record::Removed { id });
    }
    let Some(from) = fields.strip_prefix("from=<") else {
        return Parsed::Ignored("a queue manager note (expired, skipped)");
    };
    let Some((from, rest)) = from.split_once('>') else {
        return Parsed::Unknown("a qmgr from= line cut short");
    };
    Parsed::Record(Record::Queued {
        id,
        at,
        from: from.to_ascii_lowercase(),
        size: field(rest, "size=").and_then(|s| s.parse().ok()),
        recipients: field(rest, "nrcpt=").and_then(|s| s.parse().ok()),
        host: host.to_string(),
    })
}

fn delivery(id: String, at: Stamp, fields: &str) -> Parsed {
    let Some(to) = fields.strip_prefix("to=<") else {
        return Parsed::Ignored("a delivery agent note (conversation, TLS)");
    };
    let Some((rcpt, rest)) = to.split_once('>') else {
        return Parsed::Unknown("a to= line cut short");
    };
    let Some(status) = rest.find(" status=").map(|i| &rest[i + 8..]) else {
        return Parsed::Unknown("a to= line without status=");
    };
    let (word, text) = status.split_once(' ').unwrap_or((status, ""));
    let outcome = match word {
        "sent" => Outcome::Sent,
        "deferred" => Outcome::Deferred,
        "bounced" | "expired" => Outcome::Bounced,
        _ => return Parsed::Unknown("an unknown status="),
    };
    Parsed::Record(Record::Attempt {
        id,
        at,
        rcpt: rcpt.to_ascii_lowercase(),
        outcome,
        reply: remote_reply(text),
    })
}

/// `(host H[IP] said: 450 4.2.1 text (in reply to RCPT TO command))` → the reply.
fn remote_reply(text: &str) -> Option<String> {
    let said = &text[text.find(" said: ")? + 7..];
    let reply = match said.rfind(" (in reply to ") {
        Some(i) => &said[..i],
        None => said.strip_suffix(')').unwrap_or(said),
    };
    Some(reply.trim().to_string())
}

/// The value of `name` in `, name=value, …`.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(name)? + name.len();
    let value = &text[start..];
    Some(&value[..value.find([',', ' ']).unwrap_or(value.len())])
}

/// A Postfix log line for `record`, RFC 3339 stamped to the second (`removed`
/// lines at `removed_at`): the parser's inverse, for tests.
pub fn render(record: &Record, host: &str, removed_at: Stamp) -> String {
    let stamp = |at: &Stamp| at.to_iso();
    // The record's id is keyed with host and instance; the line has the queue id.
    let qid = |id: &str| id.rsplit_once(':').map_or(id, |(_, q)| q).to_string();
    match record {
        Record::Queued {
            id,
            at,
            from,
            size,
            recipients,
            ..
        } => format!(
            "{} {host} postfix/qmgr[100]: {}: from=<{from}>, size={}, nrcpt={} (queue active)",
            stamp(at),
            qid(id),
            size.unwrap_or(0),
            recipients.unwrap_or(0)
        ),
        Record::Attempt {
            id,
            at,
            rcpt,
            outcome,
            reply,
        } => {
            let text = match reply {
                Some(r) => format!("host relay[192.0.2.1] said: {r} (in reply to RCPT TO command)"),
                None => "250 2.0.0 OK".to_string(),
            };
            format!(
                "{} {host} postfix/smtp[101]: {}: to=<{rcpt}>, relay=relay[192.0.2.1]:587, delay=1.2, delays=0.1/0/0.5/0.6, dsn=4.0.0, status={} ({text})",
                stamp(at),
                qid(id),
                outcome.name()
            )
        }
        Record::Removed { id } => format!(
            "{} {host} postfix/qmgr[100]: {}: removed",
            stamp(&removed_at),
            qid(id)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Parsed {
        Parser::new(Some(2026)).parse(line)
    }

    #[test]
    fn queued_attempts_and_removal() {
        let q = parse(
            "Nov 29 11:05:01 mx1 postfix/qmgr[1234]: 3F2A1C0123: from=<App@Acme.example>, size=326, nrcpt=2 (queue active)",
        );
        let Parsed::Record(Record::Queued {
            id,
            from,
            size,
            recipients,
            host,
            at,
        }) = q
        else {
            panic!("{q:?}")
        };
        assert_eq!(id, "mx1/postfix:3F2A1C0123");
        assert_eq!(
            (from.as_str(), size, recipients, host.as_str()),
            ("app@acme.example", Some(326), Some(2), "mx1")
        );
        assert_eq!(at.to_iso(), "2026-11-29T11:05:01");
        let d = parse(
            "Nov  9 11:05:02 mx1 postfix-out/smtp[99]: 4Xk2Lq1bV3z9mNP: to=<r@example.org>, relay=smtp-relay.gmail.com[142.250.1.1]:587, delay=4.1, delays=0.01/0/2/2, dsn=4.2.1, status=deferred (host smtp-relay.gmail.com[142.250.1.1] said: 450 4.2.1 Peak SMTP relay limit exceeded for customer. (in reply to RCPT TO command))",
        );
        assert_eq!(
            d,
            Parsed::Record(Record::Attempt {
                id: "mx1/postfix-out:4Xk2Lq1bV3z9mNP".into(),
                at: Parser::new(Some(2026))
                    .year
                    .unwrap()
                    .stamp("Nov", "9", "11:05:02")
                    .unwrap(),
                rcpt: "r@example.org".into(),
                outcome: Outcome::Deferred,
                reply: Some("450 4.2.1 Peak SMTP relay limit exceeded for customer.".into()),
            })
        );
        assert_eq!(
            parse("Nov 29 11:05:03 mx1 postfix/qmgr[1234]: 3F2A1C0123: removed"),
            Parsed::Record(Record::Removed {
                id: "mx1/postfix:3F2A1C0123".into()
            })
        );
    }

    #[test]
    fn other_lines_are_counted_not_fatal() {
        assert!(matches!(
            parse("Nov 29 11:05:01 mx1 postfix/smtpd[1]: connect from a[192.0.2.1]"),
            Parsed::Ignored(_)
        ));
        assert!(matches!(
            parse("Nov 29 11:05:01 mx1 dovecot[1]: imap-login: x"),
            Parsed::Ignored(_)
        ));
        assert!(matches!(parse("Nov 29 11:05"), Parsed::Unknown(_)));
        assert!(matches!(parse("garbage"), Parsed::Unknown(_)));
        assert_eq!(
            Parser::new(None).parse("Nov 29 11:05:01 mx1 postfix/qmgr[1]: A: removed"),
            Parsed::Unknown(NO_YEAR)
        );
        // RFC 3339 stamps need no year; IPv6 clients in the text are fine.
        let r = Parser::new(None).parse("2026-11-29T11:05:01.123456+01:00 mx1 postfix/smtp[9]: ABC: to=<a@b.example>, relay=[2001:db8::1]:25, delay=0.2, status=sent (250 2.0.0 OK)");
        assert!(
            matches!(
                r,
                Parsed::Record(Record::Attempt {
                    outcome: Outcome::Sent,
                    reply: None,
                    ..
                })
            ),
            "{r:?}"
        );
    }
}
