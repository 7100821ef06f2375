//! Exim's `mainlog` (the Exim specification, "Log files"): `STAMP [+ZONE] [[PID]]
//! MESSAGE_ID FLAG ADDRESS FIELDS`:
//! - `<=` the message arrived (`<= sender … S=size`; `<>` for a bounce);
//! - `=>` delivered, `->` another address of the same delivery, `*>` suppressed;
//! - `==` deferred, `**` failed: the reason after the address, with the remote
//!   reply as `…: SMTP error from remote mail server after RCPT TO:<…>: 450 4.2.1 …`;
//! - `Completed`: the message left the queue.
//!
//! Lines about no message (`Start queue run`) or other events of one (`Frozen`,
//! TLS errors) are counted as ignored.

use crate::stamp::{self, Stamp};
use crate::{LineParser, Outcome, Parsed, Record};

pub struct Parser;

/// Whether `line` reads as an Exim mainlog line about a message.
pub fn looks_like(line: &str) -> bool {
    let words: Vec<&str> = line.split_ascii_whitespace().take(6).collect();
    let Some((_, used)) = stamp::exim(&words) else {
        return false;
    };
    let rest = &words[used..];
    let rest = if rest.first().is_some_and(|w| w.starts_with('[')) {
        &rest[1..]
    } else {
        rest
    };
    rest.len() >= 2 && is_message_id(rest[0])
}

/// `1xXcm2-0001kV-0y` (4.96) and `1rnxW1-0003Fa-2B`-like ids: three dash-joined
/// base-62 parts.
fn is_message_id(word: &str) -> bool {
    let parts: Vec<&str> = word.split('-').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl LineParser for Parser {
    fn parse(&mut self, line: &str) -> Parsed {
        if line.starts_with([' ', '\t']) {
            return Parsed::Ignored("a continuation of the line before");
        }
        let words: Vec<&str> = line
            .splitn(8, ' ')
            .filter(|w| !w.is_empty())
            .take(6)
            .collect();
        let Some((at, used)) = stamp::exim(&words) else {
            return if line.trim().is_empty() {
                Parsed::Ignored("an empty line")
            } else {
                Parsed::Unknown("no time stamp")
            };
        };
        // After the stamp: an optional [pid], the message id, the flag.
        let mut rest = skip_words(line, used);
        if rest.starts_with('[') {
            rest = skip_words(rest, 1);
        }
        if rest.is_empty() {
            return Parsed::Unknown("a line cut short");
        }
        let Some((id, after)) = rest.split_once(' ') else {
            return Parsed::Ignored("a line about no message (queue runs, daemon)");
        };
        if !is_message_id(id) {
            return Parsed::Ignored("a line about no message (queue runs, daemon)");
        }
        let id = id.to_string();
        let (flag, fields) = after.split_once(' ').unwrap_or((after, ""));
        match flag {
            "<=" => arrival(id, at, fields),
            "=>" | "->" | "*>" => attempt(id, at, fields, Outcome::Sent),
            "==" => attempt(id, at, fields, Outcome::Deferred),
            "**" => attempt(id, at, fields, Outcome::Bounced),
            "Completed" => Parsed::Record(Record::Removed { id }),
            _ => Parsed::Ignored("another event of a message (frozen, TLS, SMTP connection)"),
        }
    }
}

fn skip_words(text: &str, n: usize) -> &str {
    let mut rest = text.trim_start();
    for _ in 0..n {
        rest = rest[rest.find(' ').unwrap_or(rest.len())..].trim_start();
    }
    rest
}

fn arrival(id: String, at: Stamp, fields: &str) -> Parsed {
    let Some(sender) = fields.split(' ').next().filter(|s| !s.is_empty()) else {
        return Parsed::Unknown("an arrival (<=) without a sender");
    };
    let from = if sender == "<>" {
        String::new()
    } else {
        sender.to_ascii_lowercase()
    };
    Parsed::Record(Record::Queued {
        id,
        at,
        from,
        size: field(fields, "S=").and_then(|s| s.parse().ok()),
        recipients: None,
        host: "exim".to_string(),
    })
}

fn attempt(id: String, at: Stamp, fields: &str, outcome: Outcome) -> Parsed {
    let Some(address) = fields.split(' ').next().filter(|s| !s.is_empty()) else {
        return Parsed::Unknown("a delivery line without an address");
    };
    // `local@domain <original@domain>`: the address as routed comes first.
    let rcpt = address.trim_matches(['<', '>']).to_ascii_lowercase();
    Parsed::Record(Record::Attempt {
        id,
        at,
        rcpt,
        outcome,
        reply: match outcome {
            Outcome::Sent => None,
            _ => remote_reply(fields),
        },
    })
}

/// The last `: NNN …` in the text, NNN a 4xx or 5xx code: the remote reply.
fn remote_reply(text: &str) -> Option<String> {
    let mut found = None;
    let mut from = 0;
    while let Some(i) = text[from..].find(": ") {
        let at = from + i + 2;
        let b = text.as_bytes();
        if b.len() > at + 3
            && matches!(b[at], b'4' | b'5')
            && b[at + 1].is_ascii_digit()
            && b[at + 2].is_ascii_digit()
            && matches!(b[at + 3], b' ' | b'-')
        {
            found = Some(text[at..].trim().to_string());
        }
        from = at;
    }
    found
}

/// The value of ` NAME=value` (space-separated fields).
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split(' ').find_map(|w| w.strip_prefix(name))
}

/// An Exim mainlog line for `record` (`Completed` at `removed_at`): the parser's
/// inverse, for tests.
pub fn render(record: &Record, removed_at: Stamp) -> String {
    let stamp = |at: &Stamp| {
        let local = Stamp {
            ms: at.ms + i64::from(at.offset.unwrap_or(0)) * 60_000,
            offset: None,
        };
        let text = local.to_iso().replace('T', " ");
        match at.offset {
            Some(m) => format!(
                "{text}.{:03} {}{:02}{:02}",
                at.ms.rem_euclid(1000),
                if m < 0 { '-' } else { '+' },
                m.abs() / 60,
                m.abs() % 60
            ),
            None => format!("{text}.{:03}", at.ms.rem_euclid(1000)),
        }
    };
    match record {
        Record::Queued {
            id, at, from, size, ..
        } => {
            let from = if from.is_empty() { "<>" } else { from };
            format!(
                "{} {id} <= {from} U=root P=local S={}",
                stamp(at),
                size.unwrap_or(0)
            )
        }
        Record::Attempt {
            id,
            at,
            rcpt,
            outcome,
            reply,
        } => match (outcome, reply) {
            (Outcome::Sent, _) => format!(
                "{} {id} => {rcpt} R=relay T=remote_smtp H=relay [192.0.2.1] C=\"250 2.0.0 OK\"",
                stamp(at)
            ),
            (o, r) => format!(
                "{} {id} {} {rcpt} R=relay T=remote_smtp: SMTP error from remote mail server after RCPT TO:<{rcpt}>: {}",
                stamp(at),
                if *o == Outcome::Deferred { "==" } else { "**" },
                r.as_deref().unwrap_or("451 4.3.0 try later")
            ),
        },
        Record::Removed { id } => format!("{} {id} Completed", stamp(&removed_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_of_a_message() {
        let mut p = Parser;
        let q = p.parse(
            "2026-11-29 11:08:50.446 1xXcm2-0001ku-1N <= app@acme.example U=root P=local S=326",
        );
        assert!(
            matches!(&q, Parsed::Record(Record::Queued { from, size: Some(326), .. }) if from == "app@acme.example"),
            "{q:?}"
        );
        let d = p.parse("2026-11-29 11:08:50.454 [1234] 1xXcm2-0001kl-1F == p10@example.org R=relaysim T=relaysim_smtp defer (-44) H=127.0.0.1 [127.0.0.1] DT=0.000s: SMTP error from remote mail server after RCPT TO:<p10@example.org>: 450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.");
        let Parsed::Record(Record::Attempt {
            outcome,
            reply,
            rcpt,
            ..
        }) = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(
            (outcome, rcpt.as_str()),
            (Outcome::Deferred, "p10@example.org")
        );
        assert_eq!(
            reply.as_deref(),
            Some(
                "450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error."
            )
        );
        let b = p.parse("2026-11-29 11:08:52 1xXcm4-0001n7-27 <= <> R=1xXcm2-0001ku-1N U=Debian-exim P=local S=1531");
        assert!(matches!(&b, Parsed::Record(Record::Queued { from, .. }) if from.is_empty()));
        assert_eq!(
            p.parse("2026-11-29 11:08:52 1xXcm4-0001n7-27 Completed"),
            Parsed::Record(Record::Removed {
                id: "1xXcm4-0001n7-27".into()
            })
        );
        assert!(matches!(
            p.parse("2026-11-29 11:08:50.624 Start queue run: pid=6786"),
            Parsed::Ignored(_)
        ));
        assert!(matches!(p.parse("11:08 garbage"), Parsed::Unknown(_)));
        assert!(looks_like(
            "2026-11-29 11:08:50.446 1xXcm2-0001ku-1N <= app@acme.example U=root P=local S=326"
        ));
        assert!(!looks_like(
            "Nov 29 11:05:01 mx1 postfix/qmgr[1234]: 3F2A1C0123: removed"
        ));
    }
}
