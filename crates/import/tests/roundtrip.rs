//! Property: logs rendered from random messages (each format's lines as the
//! parsers' `render` writes them, interleaved in time order) import back to the
//! same replay rows and the same observed replies.

use std::path::Path;

use import::output::Options;
use import::{Format, Outcome, Record, Stamp};
use proptest::prelude::*;

/// A message as a replay row sees it, and what happened to each recipient.
#[derive(Clone, Debug)]
struct Sent {
    arrival_s: i64,
    from: String,
    size: u64,
    /// Per recipient: how many deferrals before it went, and whether it bounced.
    recipients: Vec<(String, u8, bool)>,
}

fn message() -> impl Strategy<Value = Sent> {
    (
        0..3_600i64,
        prop_oneof![Just(String::new()), "[a-z]{1,8}@acme\\.example"],
        1..100_000u64,
        proptest::collection::btree_set("[a-z]{1,6}@example\\.(org|com)", 1..6),
        proptest::collection::vec((0..3u8, any::<bool>()), 6),
    )
        .prop_map(|(arrival_s, from, size, rcpts, fates)| Sent {
            arrival_s,
            from,
            size,
            recipients: rcpts
                .into_iter()
                .zip(fates)
                .map(|(r, (d, b))| (r, d, b))
                .collect(),
        })
}

const T0: i64 = 1_772_438_400_000; // 2026-03-02T08:00:00Z

fn at(s: i64) -> Stamp {
    Stamp {
        ms: T0 + s * 1000,
        offset: Some(0),
    }
}

/// Each message's records, timed: arrival, its attempts a minute apart, removal.
fn records(messages: &[Sent], id: impl Fn(usize) -> String) -> Vec<(i64, usize, Record)> {
    let mut all = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let mut seq = 0;
        let mut push = |t: i64, r: Record| {
            all.push((t, i * 1000 + seq, r));
            seq += 1;
        };
        push(
            m.arrival_s,
            Record::Queued {
                id: id(i),
                at: at(m.arrival_s),
                from: m.from.clone(),
                size: Some(m.size),
                recipients: Some(m.recipients.len() as u32),
                host: "mx".into(),
            },
        );
        let mut last = m.arrival_s;
        for (rcpt, deferrals, bounced) in &m.recipients {
            for d in 0..=*deferrals {
                let t = m.arrival_s + 1 + 60 * i64::from(d);
                last = last.max(t);
                let outcome = match (d == *deferrals, bounced) {
                    (false, _) => Outcome::Deferred,
                    (true, true) => Outcome::Bounced,
                    (true, false) => Outcome::Sent,
                };
                let reply = match outcome {
                    Outcome::Sent => None,
                    Outcome::Deferred => {
                        Some("450 4.2.1 Peak SMTP relay limit exceeded for customer.".to_string())
                    }
                    Outcome::Bounced => {
                        Some("550 5.7.0 Mail relay denied [192.0.2.1].".to_string())
                    }
                };
                push(
                    t,
                    Record::Attempt {
                        id: id(i),
                        at: at(t),
                        rcpt: rcpt.clone(),
                        outcome,
                        reply,
                    },
                );
            }
        }
        push(last, Record::Removed { id: id(i) });
    }
    all.sort_by_key(|(t, seq, _)| (*t, *seq));
    all
}

fn import_lines(format: Format, lines: &[String], dir: &Path) -> (String, String) {
    let log = dir.join("log");
    std::fs::write(&log, lines.join("\n")).unwrap();
    let out = dir.join("out");
    import::write_folder(&Options {
        format: Some(format),
        logs: vec![log],
        year: None,
        out: out.clone(),
        overwrite: true,
        fit: None,
        anonymise: None,
    })
    .unwrap();
    let sorted = |file: &str| {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        let mut rows: Vec<&str> = text.lines().skip(1).collect();
        rows.sort();
        rows.join("\n")
    };
    (sorted("sends.csv"), sorted("observed_replies.csv"))
}

/// The rows the import must give: times from the first stamp's minute.
fn expected(messages: &[Sent], all: &[(i64, usize, Record)]) -> (String, String) {
    let start = all[0].0 - all[0].0.rem_euclid(60);
    let mut sends: Vec<String> = messages
        .iter()
        .map(|m| {
            let from = if m.from.is_empty() { "<>" } else { &m.from };
            let rcpts: Vec<&str> = m.recipients.iter().map(|r| r.0.as_str()).collect();
            format!(
                "{}.000,{from},{},{}",
                m.arrival_s - start,
                rcpts.join(";"),
                m.size
            )
        })
        .collect();
    sends.sort();
    let mut replies: Vec<String> = all
        .iter()
        .filter_map(|(t, seq, r)| match r {
            Record::Attempt {
                rcpt,
                outcome,
                reply: Some(reply),
                ..
            } => {
                let from = &messages[seq / 1000].from;
                Some(format!(
                    "{}.000,{from},{rcpt},{},{reply},{}",
                    t - start,
                    outcome.name(),
                    at(*t).to_iso()
                ))
            }
            _ => None,
        })
        .collect();
    replies.sort();
    (sends.join("\n"), replies.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn postfix_lines_import_back(messages in proptest::collection::vec(message(), 1..12)) {
        let all = records(&messages, |i| format!("mx/postfix:Q{i}X"));
        let lines: Vec<String> = all
            .iter()
            .map(|(t, _, r)| import::postfix::render(r, "mx", at(*t)))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        prop_assert_eq!(import_lines(Format::Postfix, &lines, dir.path()), expected(&messages, &all));
    }

    #[test]
    fn exim_lines_import_back(messages in proptest::collection::vec(message(), 1..12)) {
        let all = records(&messages, |i| format!("1abcde-{i:06}-AA"));
        let lines: Vec<String> = all.iter().map(|(t, _, r)| import::exim::render(r, at(*t))).collect();
        let dir = tempfile::tempdir().unwrap();
        prop_assert_eq!(import_lines(Format::Exim, &lines, dir.path()), expected(&messages, &all));
    }

    #[test]
    fn exchange_rows_import_back(messages in proptest::collection::vec(message(), 1..12)) {
        let all = records(&messages, |i| format!("EX01/{}", 1000 + i));
        let mut lines = vec![import::exchange::FIELDS.to_string()];
        lines.extend(all.iter().filter_map(|(_, _, r)| import::exchange::render(r)));
        let dir = tempfile::tempdir().unwrap();
        prop_assert_eq!(import_lines(Format::Exchange, &lines, dir.path()), expected(&messages, &all));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// No line, however garbled, stops a parser: it is a record or a counted skip.
    #[test]
    fn any_line_parses_or_is_counted(line in "\\PC{0,200}", prefix in prop_oneof![
        Just(""),
        Just("Nov 29 11:05:01 mx postfix/smtp[1]: ABC: to=<"),
        Just("2026-03-02 09:00:01.250 +0100 [1] 1aB2cD-000001-AA == "),
        Just("2026-03-02T08:00:01.123Z,192.0.2.10,EX01,DEFER,1,"),
    ]) {
        let line = format!("{prefix}{line}");
        for format in [Format::Postfix, Format::Exim, Format::Exchange] {
            let mut parser = import::parser(format, Some(2026));
            if format == Format::Exchange {
                parser.parse(import::exchange::FIELDS);
            }
            let _ = parser.parse(&line);
        }
    }
}
