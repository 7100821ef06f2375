//! Replay traffic: a sender with `pattern = "replay"` sends the messages listed in a
//! CSV file of real sends, so last week's traffic can be pushed through the relay.
//!
//! The file (its path relative to the scenario file) has a header row and the columns
//! `time,envelope_from,recipients` and optionally `size`:
//! - `time`: seconds from the scenario start (`3600`, `0.25`), or a date-time
//!   (`2026-03-02T09:15:00Z`, `2026-03-02 09:15:00+01:00`) when the scenario has a
//!   `start`;
//! - `envelope_from`: an address, or `<>` (empty) for the empty sender;
//! - `recipients`: a count (drawn from the sender's `recipient_pool`), or the
//!   addresses themselves separated by `;`;
//! - `size`: bytes or `"20KB"` (default: the sender's `message_size`).
//!
//! Rows need not be in time order; rows at or after the horizon are left out. Every
//! bad row is reported with its line number.

use std::path::Path;
use std::str::FromStr;

use super::values::{ByteSize, EmailAddress, EnvelopeSender, StartTime};
use relay::time::SimDuration;

/// One message of a replay file.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayRow {
    pub at: SimDuration,
    pub from: EnvelopeSender,
    pub recipients: ReplayRecipients,
    pub size: Option<ByteSize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ReplayRecipients {
    /// So many recipients, drawn from the sender's pool.
    Count(u32),
    /// These addresses.
    Addresses(Vec<EmailAddress>),
}

/// Problems stop after this many, so a wrong file does not flood the screen.
const MAX_PROBLEMS: usize = 20;

/// Reads a replay file. `Err` lists the problems, each naming its line.
pub fn read(
    path: &Path,
    start: Option<StartTime>,
    horizon: SimDuration,
) -> Result<Vec<ReplayRow>, Vec<String>> {
    let text = read_bounded(path).map_err(|e| vec![e])?;
    parse(&text, start, horizon)
}

/// The largest replay file read: 256 MiB, some five million rows — months of a busy
/// relay host's log. A bigger one is refused before it is read.
pub const MAX_REPLAY_BYTES: u64 = 256 << 20;

/// Reads a regular file of at most [`MAX_REPLAY_BYTES`] that is UTF-8 text.
fn read_bounded(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let cannot = |e: std::io::Error| {
        format!("cannot read replay file {shown}: {e}; the path is relative to the scenario file")
    };
    if !std::fs::metadata(path).map_err(cannot)?.is_file() {
        return Err(format!(
            "replay file {shown} is not a regular file; give a CSV file"
        ));
    }
    let bytes = crate::read_at_most(path, MAX_REPLAY_BYTES)
        .map_err(cannot)?
        .ok_or_else(|| {
            format!(
                "replay file {shown} is larger than {} MiB; split it into several replay senders, or aggregate it (a `recipients` count per row instead of addresses)",
                MAX_REPLAY_BYTES >> 20
            )
        })?;
    String::from_utf8(bytes).map_err(|e| {
        let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        format!("line {line}: replay file {shown} is not UTF-8 text; save it as UTF-8")
    })
}

/// Parses the text of a replay file.
pub fn parse(
    text: &str,
    start: Option<StartTime>,
    horizon: SimDuration,
) -> Result<Vec<ReplayRow>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_ascii_lowercase).collect(),
        Err(e) => return Err(vec![format!("line 1: {e}")]),
    };
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(time), Some(from), Some(rcpts)) = (
        column("time"),
        column("envelope_from"),
        column("recipients"),
    ) else {
        return Err(vec![format!(
            "line 1: the header is `{}`; it needs the columns time,envelope_from,recipients (and optionally size)",
            header.join(",")
        )]);
    };
    let size = column("size");
    if let Some(extra) = header
        .iter()
        .find(|h| !["time", "envelope_from", "recipients", "size"].contains(&h.as_str()))
    {
        return Err(vec![format!(
            "line 1: unknown column `{extra}`; the columns are time,envelope_from,recipients,size"
        )]);
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        if problems.len() >= MAX_PROBLEMS {
            problems.push("… and possibly more; fix these first".to_string());
            break;
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("");
        let row = (|| -> Result<Option<ReplayRow>, String> {
            let at = parse_time(field(time), start)?;
            if at >= horizon {
                return Ok(None);
            }
            let from = EnvelopeSender::from_str(field(from))
                .map_err(|e| format!("envelope_from: {}", first_line(&e)))?;
            let recipients = parse_recipients(field(rcpts))?;
            let size = match size.map(field).filter(|s| !s.is_empty()) {
                Some(s) => {
                    Some(ByteSize::from_str(s).map_err(|e| format!("size: {}", first_line(&e)))?)
                }
                None => None,
            };
            Ok(Some(ReplayRow {
                at,
                from,
                recipients,
                size,
            }))
        })();
        match row {
            Ok(Some(r)) => rows.push(r),
            Ok(None) => {}
            Err(e) => problems.push(format!("line {line}: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    rows.sort_by_key(|r| r.at);
    Ok(rows)
}

fn first_line(text: &str) -> &str {
    super::diagnostic::split_hint(text).0
}

fn parse_time(text: &str, start: Option<StartTime>) -> Result<SimDuration, String> {
    if let Ok(secs) = text.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(format!(
                "time `{text}` must be seconds from the start, 0 or more"
            ));
        }
        return Ok(SimDuration::from_millis((secs * 1000.0).round() as u64));
    }
    let dt = toml::value::Datetime::from_str(&text.replacen(' ', "T", 1)).map_err(|_| {
        format!("time `{text}` is neither seconds from the start nor a date-time such as 2026-03-02T09:15:00Z")
    })?;
    let Some(start) = start else {
        return Err(format!(
            "time `{text}` is a date-time, but the scenario has no [simulation] start to count from"
        ));
    };
    let at = StartTime::from_datetime(&dt).map_err(|e| format!("time {e}"))?;
    let ms = at.utc_millis() - start.utc_millis();
    if ms < 0 {
        return Err(format!("time `{text}` is before the scenario start"));
    }
    Ok(SimDuration::from_millis(ms as u64))
}

fn parse_recipients(text: &str) -> Result<ReplayRecipients, String> {
    if let Ok(n) = text.parse::<u32>() {
        if n == 0 {
            return Err("recipients: a message needs at least one recipient".into());
        }
        if n > crate::values::MAX_RECIPIENTS_PER_MESSAGE {
            return Err(format!(
                "recipients: {}",
                first_line(&crate::values::too_many_recipients(&n.to_string()))
            ));
        }
        return Ok(ReplayRecipients::Count(n));
    }
    let addresses = text
        .split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| EmailAddress::from_str(a).map_err(|e| format!("recipients: {}", first_line(&e))))
        .collect::<Result<Vec<_>, _>>()?;
    if addresses.is_empty() {
        return Err("recipients: give a count or addresses separated by `;`".into());
    }
    Ok(ReplayRecipients::Addresses(addresses))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: SimDuration = SimDuration::DAY;

    #[test]
    fn rows_in_seconds_and_addresses() {
        let text = "time,envelope_from,recipients,size\n\
                    60,app@acme.example,3,20KB\n\
                    0.5,<>,a@x.example;b@y.example,\n";
        let rows = parse(text, None, DAY).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].at, SimDuration::from_millis(500), "sorted by time");
        assert_eq!(rows[0].from, EnvelopeSender::Null);
        assert!(matches!(&rows[0].recipients, ReplayRecipients::Addresses(a) if a.len() == 2));
        assert_eq!(rows[1].recipients, ReplayRecipients::Count(3));
        assert_eq!(rows[1].size, Some(ByteSize(20_000)));
    }

    /// A device or a huge file is refused before it is read whole.
    #[test]
    fn a_replay_file_that_is_not_a_bounded_regular_file_is_refused() {
        let h = SimDuration::from_secs(3600);
        let err = read(Path::new("/dev/zero"), None, h).unwrap_err();
        assert!(err[0].contains("is not a regular file"), "{err:?}");
        let dir = tempfile::tempdir().unwrap();
        let latin1 = dir.path().join("l.csv");
        std::fs::write(
            &latin1,
            b"time,envelope_from,recipients\n0,caf\xe9@a.example,1\n",
        )
        .unwrap();
        let err = read(&latin1, None, h).unwrap_err();
        assert!(
            err[0].starts_with("line 2:") && err[0].contains("not UTF-8"),
            "{err:?}"
        );
    }

    #[test]
    fn date_times_count_from_the_start() {
        let start = StartTime::from_datetime(&"2026-03-02T08:00:00Z".parse().unwrap()).unwrap();
        let text = "time,envelope_from,recipients\n2026-03-02 09:00:00+01:00,a@b.example,1\n2026-03-02T09:30:00Z,a@b.example,1\n";
        let rows = parse(text, Some(start), DAY).unwrap();
        assert_eq!(rows[0].at, SimDuration::ZERO);
        assert_eq!(rows[1].at, SimDuration::from_secs(5400));
    }

    #[test]
    fn bad_rows_are_reported_with_their_line() {
        let text = "time,envelope_from,recipients\n\
                    10,a@b.example,1\n\
                    soon,a@b.example,1\n\
                    20,not an address,1\n\
                    30,a@b.example,0\n\
                    2026-03-02T09:00:00Z,a@b.example,1\n";
        let problems = parse(text, None, DAY).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].starts_with("line 3: time `soon`"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].starts_with("line 4: envelope_from"),
            "{}",
            problems[1]
        );
        assert!(
            problems[2].starts_with("line 5: recipients"),
            "{}",
            problems[2]
        );
        assert!(
            problems[3].contains("no [simulation] start"),
            "{}",
            problems[3]
        );
    }

    #[test]
    fn rows_after_the_horizon_are_left_out() {
        let text = "time,envelope_from,recipients\n10,a@b.example,1\n100000,a@b.example,1\n";
        assert_eq!(parse(text, None, DAY).unwrap().len(), 1);
    }

    #[test]
    fn the_header_is_checked() {
        let problems = parse("when,from,to\n1,a@b.example,1\n", None, DAY).unwrap_err();
        assert!(problems[0].contains("needs the columns"), "{problems:?}");
        let problems = parse("time,envelope_from,recipients,colour\n", None, DAY).unwrap_err();
        assert!(
            problems[0].contains("unknown column `colour`"),
            "{problems:?}"
        );
    }
}
