//! `relaysim compare RUN IMPORT`: a simulated run beside the relay's replies a mail
//! log recorded (`observed_replies.csv` of `relaysim import`). Per kind of reply
//! ("450 4.2.1 Peak SMTP relay limit exceeded for customer"): how many the log saw
//! and when first, how many the run gave and when first, and the difference —
//! "the log saw the first 450 4.2.1 at 09:07:12; the simulation predicts 09:07:30".
//!
//! Times are put on one clock: the log's rows carry their own date-time, the run's
//! `summary.json` its start. A run without a start is compared by seconds from each
//! one's start (an import's scenario starts at the log's first minute).
//!
//! The run's first time of a reply is exact when a limit gave it (`limit_hits.csv`
//! has every hit), else the start of the first bucket of `replies.csv` holding it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use scenario::values::StartTime;

use crate::AtomicFile;

/// A reply by its kind: the code, the enhanced code and the first sentence, with
/// what varies between servers and runs (`[203.0.113.5]`) blanked: `450 4.2.1 Peak
/// SMTP relay limit exceeded for customer`.
pub fn reply_kind(reply: &str) -> String {
    let mut text = String::with_capacity(reply.len());
    let mut depth = 0;
    for c in reply.chars() {
        match c {
            '[' => {
                depth += 1;
                if depth == 1 {
                    text.push_str("[…]");
                }
            }
            ']' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => text.push(c),
        }
    }
    // The first sentence: to the first ". " or the end.
    let sentence = match text.find(". ") {
        Some(i) => &text[..i],
        None => text.trim_end_matches('.'),
    };
    sentence.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One kind of reply, in the log and in the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KindComparison {
    pub kind: String,
    pub observed: u64,
    /// Seconds from the run's start (or the log's, without a run start).
    pub observed_first_s: Option<f64>,
    pub observed_last_s: Option<f64>,
    pub simulated: u64,
    pub simulated_first_s: Option<f64>,
    /// Whether `simulated_first_s` is a bucket's start (a refusal no limit gave).
    pub simulated_first_is_bucket: bool,
}

impl KindComparison {
    /// Simulated first minus observed first, in seconds.
    pub fn difference_s(&self) -> Option<f64> {
        Some(self.simulated_first_s? - self.observed_first_s?)
    }
}

/// The comparison, in kind order (most observed first).
pub struct Comparison {
    pub kinds: Vec<KindComparison>,
    /// The run's start, when its summary has one.
    pub start: Option<StartTime>,
    /// Observed rows before the run's start (not comparable), and after its horizon.
    pub before_run: u64,
    pub after_run: u64,
    /// The run's length in seconds: clock times carry their date beyond a day.
    pub horizon_s: f64,
}

impl Comparison {
    /// `s` seconds from the start as a clock time, or as seconds without a start.
    pub fn clock(&self, s: f64) -> String {
        match self.start {
            Some(start) => {
                let t = start.after(relay::time::SimTime((s.max(0.0) * 1000.0) as u64));
                let ms = (s * 1000.0).rem_euclid(1000.0).round() as u64;
                let hm = t.clock(self.horizon_s > 86_400.0);
                if ms == 0 {
                    format!("{hm}:{:02}", t.second_of_day % 60)
                } else {
                    format!("{hm}:{:02}.{ms:03}", t.second_of_day % 60)
                }
            }
            None => format!("{s:.3} s"),
        }
    }
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {message}", path.display()),
    )
}

/// A CSV file's rows by column name.
fn rows(path: &Path) -> io::Result<(csv::StringRecord, Vec<csv::StringRecord>)> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| invalid(path, e))?;
    let header = reader.headers().map_err(|e| invalid(path, e))?.clone();
    let rows = reader
        .records()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, e))?;
    Ok((header, rows))
}

fn column(header: &csv::StringRecord, path: &Path, name: &str) -> io::Result<usize> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| invalid(path, format!("no `{name}` column")))
}

fn number(path: &Path, row: &csv::StringRecord, i: usize) -> io::Result<f64> {
    row[i]
        .parse()
        .map_err(|_| invalid(path, format!("`{}` is not a number", &row[i])))
}

/// Milliseconds since 1970 (UTC) of an RFC 3339 date-time (no offset: UTC, as a
/// scenario's start).
fn epoch_ms(text: &str) -> Option<i64> {
    let dt: toml::value::Datetime = text.parse().ok()?;
    let start = StartTime::from_datetime(&dt).ok()?;
    Some(start_ms(start))
}

fn start_ms(s: StartTime) -> i64 {
    (s.days_since_epoch * 86_400 + i64::from(s.second_of_day) - i64::from(s.offset_minutes) * 60)
        * 1000
}

/// Reads the run folder `run` and the observed replies `observed` (a file, or an
/// import folder holding `observed_replies.csv`).
pub fn compare(run: &Path, observed: &Path) -> io::Result<Comparison> {
    let summary_path = run.join("summary.json");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{}: {e} (is it a folder written by `relaysim run`?)",
                    summary_path.display()
                ),
            )
        })?)
        .map_err(|e| invalid(&summary_path, e))?;
    let start = summary["start"]
        .as_str()
        .and_then(|s| s.parse::<toml::value::Datetime>().ok())
        .and_then(|dt| StartTime::from_datetime(&dt).ok());
    let horizon_s = summary["horizon_s"].as_f64().unwrap_or(f64::INFINITY);
    let mut kinds: BTreeMap<String, KindComparison> = BTreeMap::new();

    // The log.
    let path = if observed.is_dir() {
        observed.join("observed_replies.csv")
    } else {
        observed.to_path_buf()
    };
    let (header, observed_rows) = rows(&path)?;
    let (time_s, reply) = (
        column(&header, &path, "time_s")?,
        column(&header, &path, "reply")?,
    );
    let time = header.iter().position(|h| h == "time");
    let (mut before_run, mut after_run) = (0, 0);
    for row in &observed_rows {
        let since_log_start = number(&path, row, time_s)?;
        // On the run's clock when both have one: the row's date-time (to the
        // second) with the milliseconds of its time_s.
        let at = match (start, time.and_then(|i| epoch_ms(&row[i]))) {
            (Some(start), Some(ms)) => {
                let frac = (since_log_start * 1000.0).rem_euclid(1000.0).round() as i64;
                (ms + frac - start_ms(start)) as f64 / 1000.0
            }
            _ => since_log_start,
        };
        if at < 0.0 {
            before_run += 1;
            continue;
        }
        if at > horizon_s {
            after_run += 1;
            continue;
        }
        let k = kind_entry(&mut kinds, &row[reply]);
        k.observed += 1;
        k.observed_first_s = Some(k.observed_first_s.map_or(at, |f| f.min(at)));
        k.observed_last_s = Some(k.observed_last_s.map_or(at, |l| l.max(at)));
    }

    // The run: refusals per bucket, and the exact hits of limits.
    let path = run.join("replies.csv");
    let (header, reply_rows) = rows(&path)?;
    let (bucket, reply, refusals) = (
        column(&header, &path, "bucket_start_s")?,
        column(&header, &path, "reply")?,
        column(&header, &path, "refusals")?,
    );
    for row in &reply_rows {
        let k = kind_entry(&mut kinds, &row[reply]);
        let n = number(&path, row, refusals)?;
        let at = number(&path, row, bucket)?;
        k.simulated += n as u64;
        if n > 0.0 && k.simulated_first_s.is_none_or(|f| at < f) {
            k.simulated_first_s = Some(at);
            k.simulated_first_is_bucket = true;
        }
    }
    let path = run.join("limit_hits.csv");
    if path.exists() {
        let (header, hit_rows) = rows(&path)?;
        let (time_s, event, reply) = (
            column(&header, &path, "time_s")?,
            column(&header, &path, "event")?,
            column(&header, &path, "reply")?,
        );
        for row in hit_rows.iter().filter(|r| &r[event] == "hit") {
            let kind = reply_kind(&row[reply]);
            let at = number(&path, row, time_s)?;
            if let Some(k) = kinds.get_mut(&kind) {
                // A hit is the limit's first refusal: exact, within the bucket.
                let in_first_bucket =
                    k.simulated_first_is_bucket && k.simulated_first_s.is_some_and(|b| at >= b);
                if in_first_bucket || k.simulated_first_s.is_some_and(|f| at < f) {
                    k.simulated_first_s = Some(at);
                    k.simulated_first_is_bucket = false;
                }
            }
        }
    }
    let mut kinds: Vec<KindComparison> = kinds.into_values().collect();
    kinds.sort_by(|a, b| {
        (b.observed, b.simulated)
            .cmp(&(a.observed, a.simulated))
            .then(a.kind.cmp(&b.kind))
    });
    Ok(Comparison {
        kinds,
        start,
        before_run,
        after_run,
        horizon_s,
    })
}

fn kind_entry<'a>(
    kinds: &'a mut BTreeMap<String, KindComparison>,
    reply: &str,
) -> &'a mut KindComparison {
    let kind = reply_kind(reply);
    kinds.entry(kind.clone()).or_insert_with(|| KindComparison {
        kind,
        ..KindComparison::default()
    })
}

/// One sentence per kind: what the log saw, what the run predicts.
pub fn sentences(c: &Comparison) -> Vec<String> {
    c.kinds
        .iter()
        .map(|k| {
            let seen = match k.observed_first_s {
                Some(f) => format!(
                    "the log saw the first at {} ({} in all)",
                    c.clock(f),
                    k.observed
                ),
                None => "the log saw none".into(),
            };
            let predicted = match (k.simulated_first_s, k.difference_s()) {
                (Some(f), Some(d)) => format!(
                    "the simulation predicts {}{} ({}; {} in all)",
                    if k.simulated_first_is_bucket {
                        "the minute bucket from "
                    } else {
                        ""
                    },
                    c.clock(f),
                    signed_duration(d),
                    k.simulated
                ),
                (Some(f), None) => format!(
                    "the simulation gives the first at {} ({} in all)",
                    c.clock(f),
                    k.simulated
                ),
                _ => "the simulation gives none".into(),
            };
            format!("{}: {seen}; {predicted}", k.kind)
        })
        .collect()
}

/// `+18 s`, `−2m 5s`.
fn signed_duration(s: f64) -> String {
    let sign = if s < 0.0 { "−" } else { "+" };
    let ms = (s.abs() * 1000.0).round() as u64;
    let d = relay::time::SimDuration::from_millis(ms);
    format!("{sign}{d}")
}

/// Writes `observed.md` and `observed.csv` into the (empty) folder `out`.
pub fn write(run: &Path, observed: &Path, out: &Path) -> io::Result<(Comparison, Vec<PathBuf>)> {
    let c = compare(run, observed)?;
    let csv_path = out.join("observed.csv");
    let mut w = csv::Writer::from_writer(Vec::new());
    let fmt = |v: Option<f64>| v.map_or(String::new(), |s| format!("{s:.3}"));
    w.write_record([
        "reply",
        "observed",
        "observed_first_s",
        "observed_last_s",
        "simulated",
        "simulated_first_s",
        "simulated_first_is_bucket",
        "difference_s",
    ])
    .map_err(|e| invalid(&csv_path, e))?;
    for k in &c.kinds {
        w.write_record([
            k.kind.clone(),
            k.observed.to_string(),
            fmt(k.observed_first_s),
            fmt(k.observed_last_s),
            k.simulated.to_string(),
            fmt(k.simulated_first_s),
            k.simulated_first_is_bucket.to_string(),
            fmt(k.difference_s()),
        ])
        .map_err(|e| invalid(&csv_path, e))?;
    }
    let bytes = w.into_inner().map_err(|e| invalid(&csv_path, e))?;
    AtomicFile::write_all(&csv_path, &bytes)?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# {} beside the replies {} recorded\n",
        run.display(),
        observed.display()
    );
    for s in sentences(&c) {
        let _ = writeln!(md, "- {s}");
    }
    if c.before_run + c.after_run > 0 {
        let _ = writeln!(
            md,
            "\n{} observed replies fall outside the run ({} before its start, {} after its horizon) and are not counted.",
            c.before_run + c.after_run,
            c.before_run,
            c.after_run
        );
    }
    let _ = writeln!(
        md,
        "\nCounts are replies to recipients (the log has one per recipient and attempt) beside the run's refusals; a first time marked as a minute bucket is the start of the first bucket of `replies.csv` with that reply (no limit gave it, so `limit_hits.csv` has no exact time)."
    );
    let md_path = out.join("observed.md");
    AtomicFile::write_all(&md_path, md.as_bytes())?;
    Ok((c, vec![md_path, csv_path]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_one_kind_have_one_kind() {
        let google = "450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error. For more information on SMTP relay limits, please contact your administrator or visit https://support.google.com/a/answer/6140680";
        assert_eq!(
            reply_kind(google),
            "450 4.2.1 Peak SMTP relay limit exceeded for customer"
        );
        assert_eq!(
            reply_kind(
                "450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error."
            ),
            reply_kind(google)
        );
        assert_eq!(
            reply_kind("550 5.7.0 Mail relay denied [203.0.113.5]. Invalid credentials"),
            reply_kind("550  5.7.0 Mail relay denied [192.0.2.1].")
        );
        assert_ne!(
            reply_kind("450 4.2.1 Daily SMTP relay limit exceeded for customer."),
            reply_kind(google)
        );
    }

    #[test]
    fn rfc3339_times_are_instants() {
        assert_eq!(epoch_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(epoch_ms("1970-01-01T01:00:01+01:00"), Some(1000));
        assert_eq!(epoch_ms("1970-01-01T00:00:01"), Some(1000));
    }

    /// A run folder's files and an import's rows, on clocks in different offsets.
    #[test]
    fn a_run_is_set_beside_the_log_on_one_clock() {
        let dir = tempfile::tempdir().unwrap();
        let (run, import, out) = (
            dir.path().join("run"),
            dir.path().join("import"),
            dir.path().join("out"),
        );
        for d in [&run, &import, &out] {
            std::fs::create_dir(d).unwrap();
        }
        // The run starts at 09:00 UTC and lasts 2 h.
        std::fs::write(
            run.join("summary.json"),
            r#"{"start": "2026-03-02T09:00:00Z", "horizon_s": 7200}"#,
        )
        .unwrap();
        std::fs::write(
            run.join("replies.csv"),
            "bucket_start_s,reply,refusals,time\n\
             420.000,450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.,5,x\n\
             480.000,450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.,3,x\n\
             600.000,550 5.7.0 Mail relay denied [192.0.2.1].,2,x\n",
        )
        .unwrap();
        std::fs::write(
            run.join("limit_hits.csv"),
            "time_s,tenant,scope,subject,limit,event,reply,used,limit_value,time\n\
             430.500,acme,customer,acme,customer_peak,hit,450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.,90,90,x\n\
             470.000,acme,customer,acme,customer_peak,cleared,450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.,80,90,x\n",
        )
        .unwrap();
        // The log's clock is +01:00 and starts at 10:05 local (09:05 UTC): its
        // time_s are from there. One row an hour before the run, one after it.
        std::fs::write(
            import.join("observed_replies.csv"),
            "time_s,envelope_from,recipient,status,reply,time\n\
             -3600.000,a@acme.example,x@example.org,deferred,450 4.2.1 Peak SMTP relay limit exceeded for customer.,2026-03-02T09:05:00+01:00\n\
             132.250,a@acme.example,x@example.org,deferred,\"450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error. For more information, visit https://support.google.com/a/answer/6140680\",2026-03-02T10:07:12+01:00\n\
             200.000,a@acme.example,y@example.org,deferred,450 4.2.1 Peak SMTP relay limit exceeded for customer.,2026-03-02T10:08:20+01:00\n\
             300.000,b@acme.example,z@example.org,bounced,450 4.2.1 Daily SMTP relay limit exceeded for customer.,2026-03-02T10:10:00+01:00\n\
             9000.000,a@acme.example,x@example.org,deferred,450 4.2.1 Peak SMTP relay limit exceeded for customer.,2026-03-02T12:35:00+01:00\n",
        )
        .unwrap();
        let (c, files) = write(&run, &import, &out).unwrap();
        assert_eq!((c.before_run, c.after_run), (1, 1));
        type Row<'a> = (&'a str, u64, Option<f64>, u64, Option<f64>, bool);
        let kinds: Vec<Row> = c
            .kinds
            .iter()
            .map(|k| {
                (
                    k.kind.as_str(),
                    k.observed,
                    k.observed_first_s,
                    k.simulated,
                    k.simulated_first_s,
                    k.simulated_first_is_bucket,
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                // 10:07:12.250 local = 09:07:12.250 UTC = 432.25 s into the run; the
                // run's first is the exact hit at 430.5 s.
                (
                    "450 4.2.1 Peak SMTP relay limit exceeded for customer",
                    2,
                    Some(432.25),
                    8,
                    Some(430.5),
                    false
                ),
                (
                    "450 4.2.1 Daily SMTP relay limit exceeded for customer",
                    1,
                    Some(600.0),
                    0,
                    None,
                    false
                ),
                // No limit gave it: the bucket's start.
                (
                    "550 5.7.0 Mail relay denied […]",
                    0,
                    None,
                    2,
                    Some(600.0),
                    true
                ),
            ]
        );
        let lines = sentences(&c);
        assert_eq!(
            lines[0],
            "450 4.2.1 Peak SMTP relay limit exceeded for customer: the log saw the first at 09:07:12.250 (2 in all); the simulation predicts 09:07:10.500 (−1s 750ms; 8 in all)"
        );
        assert_eq!(
            lines[2],
            "550 5.7.0 Mail relay denied […]: the log saw none; the simulation gives the first at 09:10:00 (2 in all)"
        );
        let csv = std::fs::read_to_string(&files[1]).unwrap();
        assert!(csv.contains("\n450 4.2.1 Peak SMTP relay limit exceeded for customer,2,432.250,500.000,8,430.500,false,-1.750\n"), "{csv}");
    }

    #[test]
    fn durations_are_signed() {
        assert_eq!(signed_duration(18.0), "+18s");
        assert_eq!(signed_duration(-125.5), "−2m 5s 500ms");
    }
}
