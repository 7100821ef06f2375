//! The import's folder, written whole or not at all (a staged folder published at
//! the end):
//! - `sends.csv`: one row per message as it was first queued, in the replay format
//!   (`time` in seconds from the scenario's start, `envelope_from`, `recipients` as
//!   the addresses tried, `;`-joined, or a count when the log named none, `size`),
//!   in the order messages left the queue (a replay needs no time order); with
//!   several sending hosts also `sends-HOST.csv` per host;
//! - `observed_replies.csv`: every 4xx/5xx reply the log recorded
//!   (`time_s,envelope_from,recipient,status,reply,time`), `time_s` as `time` in
//!   `sends.csv`, `time` the log's stamp;
//! - `scenario.toml`: a scenario that replays `sends.csv`, with comments on what was
//!   inferred and what to fill in;
//! - with `--fit`, `fitted.toml` (the same scenario with fitted senders, `fit.rs`)
//!   and `fit_hours.csv` (messages and recipients per hour: observed, expected under
//!   the fit, simulated from it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use report::StagedFolder;

use crate::assemble::{Assembler, Message, ObservedReply, Sink, Summary};
use crate::input::{self, stamp_of};
use crate::stamp::Stamp;
use crate::{Format, ImportError, Parsed};

/// How to import.
#[derive(Clone, Debug)]
pub struct Options {
    pub format: Option<Format>,
    pub logs: Vec<PathBuf>,
    /// The year of syslog stamps that carry none.
    pub year: Option<i32>,
    pub out: PathBuf,
    pub overwrite: bool,
    /// With `--fit`: how to simulate the fitted scenario (its text) into messages
    /// and recipients generated per hour from its start. The import crate does not
    /// run simulations; the CLI passes one.
    pub fit: Option<Simulate>,
    /// With `--anonymise`: every address as its pseudonym, from the first record
    /// on (the summary, the scenario and the fit see pseudonyms only).
    pub anonymise: Option<crate::anonymise::Anonymiser>,
}

/// Runs a scenario (its text) and counts the messages and recipients generated per
/// hour from its start.
pub type Simulate = fn(&str) -> Result<Vec<[u64; 2]>, String>;

/// How well the fit fits: `fit_hours.csv`'s rows and the fitted senders.
#[derive(Debug)]
pub struct FitReport {
    pub senders: Vec<crate::fit::FittedSender>,
    /// Per hour from the start: observed messages, expected, simulated messages;
    /// observed recipients, simulated recipients.
    pub hours: Vec<HourFit>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HourFit {
    pub observed: u64,
    pub expected: f64,
    pub simulated: u64,
    pub observed_recipients: u64,
    pub simulated_recipients: u64,
}

/// What an import did.
#[derive(Debug)]
pub struct Imported {
    pub format: Format,
    pub summary: Summary,
    /// The scenario's start: the first time stamp, to the minute.
    pub start: Stamp,
    /// The files written, by name.
    pub files: Vec<String>,
    /// With `--fit`.
    pub fit: Option<FitReport>,
}

/// Imports the logs into `options.out`.
pub fn write_folder(options: &Options) -> Result<Imported, ImportError> {
    let format = match options.format {
        Some(f) => f,
        None => {
            let first = &options.logs[0];
            Format::detect(&input::first_lines(first, 50)?).ok_or_else(|| {
                ImportError::Unrecognised {
                    path: first.clone(),
                }
            })?
        }
    };
    let logs = input::in_time_order(&options.logs, format, options.year)?;
    let folder =
        StagedFolder::begin(&options.out, options.overwrite).map_err(|e| ImportError::Folder {
            path: options.out.clone(),
            message: e.to_string(),
            help: e.help(),
        })?;
    let dir = folder.path().to_path_buf();
    let mut out = Output {
        dir: dir.clone(),
        sends: csv_file(&dir.join("sends.csv"), &SENDS_HEADER)?,
        replies: csv_file(&dir.join("observed_replies.csv"), &REPLIES_HEADER)?,
        per_host: BTreeMap::new(),
        start: None,
        before_start: (0, 0),
        replies_before_start: 0,
        fitter: options.fit.map(|_| crate::fit::Fitter::default()),
    };
    let mut assembler = Assembler::default();
    let mut parser = crate::parser(format, options.year);
    for log in &logs {
        assembler.summary.files += 1;
        let name = log.display().to_string();
        input::for_each_line(log, input::open(log)?, |number, line| {
            assembler.summary.lines += 1;
            let parsed = parser.parse(line);
            if let Some(at) = stamp_of(&parsed) {
                assembler.summary.seen(at);
                out.start.get_or_insert(at.floor_minute());
            }
            let private = |r| match &options.anonymise {
                Some(a) => a.record(r),
                None => r,
            };
            match parsed {
                Parsed::Record(r) => assembler.record(private(r), &mut out)?,
                Parsed::Records(rs) => {
                    for r in rs {
                        assembler.record(private(r), &mut out)?;
                    }
                }
                Parsed::Ignored(kind) => *assembler.summary.ignored.entry(kind).or_default() += 1,
                Parsed::Unknown(crate::postfix::NO_YEAR) => {
                    return Err(ImportError::NoYear {
                        place: format!("{name}:{number}"),
                    });
                }
                Parsed::Unknown(kind) => assembler
                    .summary
                    .unknown(kind, || format!("{name}:{number}")),
            }
            Ok(())
        })?;
    }
    let mut summary = assembler.finish(&mut out)?;
    summary.before_start = out.before_start.0;
    summary.replies_before_start = out.replies_before_start;
    summary.replies -= out.replies_before_start;
    summary.messages -= out.before_start.0;
    summary.recipients -= out.before_start.1;
    let Some(start) = out.start.filter(|_| summary.messages > 0) else {
        let mut kinds: Vec<String> = summary
            .unknown
            .iter()
            .map(|(kind, s)| format!("{} × {kind} (first at {})", s.count, s.examples[0]))
            .chain(
                summary
                    .ignored
                    .iter()
                    .map(|(kind, n)| format!("{n} × {kind}")),
            )
            .collect();
        if kinds.is_empty() {
            kinds.push("the logs are empty".into());
        }
        return Err(ImportError::Empty {
            logs: logs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            format: format.name(),
            lines: summary.lines,
            skipped: kinds.join(", "),
        });
    };
    let host_files: Vec<String> = if out.per_host.len() > 1 {
        out.per_host.keys().map(|h| host_file(h)).collect()
    } else {
        Vec::new()
    };
    let fitter = out.fitter.take();
    out.finish()?;
    let head = scenario_head(format, &summary, start, &logs, options.anonymise.as_ref());
    let path = dir.join("scenario.toml");
    let scenario = head.text.clone() + &replay_senders(&head);
    std::fs::write(&path, scenario).map_err(write_error(&path))?;
    let mut files = vec!["sends.csv".to_string()];
    files.extend(host_files);
    files.extend(["observed_replies.csv".into(), "scenario.toml".into()]);
    let fit = match (fitter, options.fit) {
        (Some(fitter), Some(simulate)) => {
            let report = write_fit(fitter, simulate, &head, &summary, start, &dir)?;
            files.extend(["fitted.toml".into(), "fit_hours.csv".into()]);
            Some(report)
        }
        _ => None,
    };
    folder.publish().map_err(write_error(&options.out))?;
    Ok(Imported {
        format,
        summary,
        start,
        files,
        fit,
    })
}

/// `fitted.toml` and `fit_hours.csv`: the fit, checked by simulating it.
fn write_fit(
    fitter: crate::fit::Fitter,
    simulate: Simulate,
    head: &Head,
    summary: &Summary,
    start: Stamp,
    dir: &Path,
) -> Result<FitReport, ImportError> {
    // In whole seconds, at least one: the fitted senders stop there (`stop` is in
    // seconds), so the hours' exposure must end there too.
    let span_ms = summary
        .last
        .map_or(0, |l| (l.ms - start.ms).max(0) as u64)
        .div_ceil(1000)
        .max(1)
        * 1000;
    let domains: Vec<String> = summary.domains.keys().cloned().collect();
    let fit = fitter.finish(start, span_ms, &domains);
    let mut text = head
        .text
        .replacen("name = \"imported\"", "name = \"fitted\"", 1);
    let _ = writeln!(
        text,
        "\n# Fitted senders (relaysim import --fit): diurnal Poisson traffic per envelope\n# sender, or per host for the small ones. Scale it with --set\n# simulation.traffic_growth=1.5, vary it with --seed; fit_hours.csv compares each\n# hour of the log with the fit."
    );
    let mut per_host: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &fit.senders {
        let mta = head
            .mtas
            .iter()
            .find(|(host, _)| *host == s.host)
            .map_or("mta", |(_, id)| id.as_str());
        *per_host.entry(&s.host).or_default() += 1;
        let _ = writeln!(text);
        text += &s.toml(&format!("{mta}-{}", s.name), mta, &head.primary, span_ms);
    }
    let path = dir.join("fitted.toml");
    std::fs::write(&path, &text).map_err(write_error(&path))?;
    let simulated = simulate(&text).map_err(|message| ImportError::Fit { message })?;
    let expected = fit.expected_per_hour(start, span_ms);
    let hours: Vec<HourFit> = (0..fit.hours)
        .map(|h| {
            let sim = simulated.get(h).copied().unwrap_or_default();
            HourFit {
                observed: fit.observed[h][0],
                expected: expected[h],
                simulated: sim[0],
                observed_recipients: fit.observed[h][1],
                simulated_recipients: sim[1],
            }
        })
        .collect();
    let path = dir.join("fit_hours.csv");
    let mut w = csv_file(
        &path,
        &[
            "hour_start_s",
            "observed_messages",
            "expected_messages",
            "simulated_messages",
            "observed_recipients",
            "simulated_recipients",
            "time",
        ],
    )?;
    for (i, h) in hours.iter().enumerate() {
        let at = Stamp {
            ms: start.ms + i as i64 * 3_600_000,
            offset: start.offset,
        };
        w.write_record([
            (i * 3600).to_string(),
            h.observed.to_string(),
            format!("{:.2}", h.expected),
            h.simulated.to_string(),
            h.observed_recipients.to_string(),
            h.simulated_recipients.to_string(),
            at.to_iso(),
        ])
        .map_err(write_error(&path))?;
    }
    w.flush().map_err(write_error(&path))?;
    Ok(FitReport {
        senders: fit.senders,
        hours,
    })
}

const SENDS_HEADER: [&str; 4] = ["time", "envelope_from", "recipients", "size"];

/// `observed_replies.csv`: `time_s` from the scenario's start, `time` the log's own
/// stamp (RFC 3339, with its offset when the log gives one).
pub const REPLIES_HEADER: [&str; 6] = [
    "time_s",
    "envelope_from",
    "recipient",
    "status",
    "reply",
    "time",
];

/// The error of writing `path`, for `map_err` (I/O and CSV errors alike).
fn write_error<E: Into<std::io::Error>>(path: &Path) -> impl FnOnce(E) -> ImportError {
    let path = path.to_path_buf();
    move |e| ImportError::Write {
        path,
        source: e.into(),
    }
}

fn csv_file(path: &Path, header: &[&str]) -> Result<csv::Writer<File>, ImportError> {
    let mut w = csv::Writer::from_writer(File::create(path).map_err(write_error(path))?);
    w.write_record(header).map_err(write_error(path))?;
    Ok(w)
}

struct Output {
    dir: PathBuf,
    sends: csv::Writer<File>,
    replies: csv::Writer<File>,
    /// `sends-HOST.csv` for each sending host, all rows of `sends.csv` split.
    per_host: BTreeMap<String, csv::Writer<File>>,
    start: Option<Stamp>,
    /// Messages (and their recipients) queued before `start`, left out.
    before_start: (u64, u64),
    /// Replies logged before `start`, left out.
    replies_before_start: u64,
    fitter: Option<crate::fit::Fitter>,
}

impl Output {
    fn seconds(&self, at: Stamp) -> String {
        let ms = at.ms - self.start.map_or(at.ms, |s| s.ms);
        format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
    }

    fn finish(mut self) -> Result<(), ImportError> {
        self.sends
            .flush()
            .map_err(write_error(&self.dir.join("sends.csv")))?;
        self.replies
            .flush()
            .map_err(write_error(&self.dir.join("observed_replies.csv")))?;
        let only_one = self.per_host.len() == 1;
        for (host, mut w) in std::mem::take(&mut self.per_host) {
            let path = self.dir.join(host_file(&host));
            w.flush().map_err(write_error(&path))?;
            if only_one {
                std::fs::remove_file(&path).map_err(write_error(&path))?;
            }
        }
        Ok(())
    }
}

/// `sends-HOST.csv`, the host's name made safe for a file name.
fn host_file(host: &str) -> String {
    let safe: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("sends-{safe}.csv")
}

impl Sink for Output {
    fn message(&mut self, m: &Message) -> Result<(), ImportError> {
        // Logs out of time order (overlapping files, a clock set back): a message
        // before the scenario's start cannot be replayed.
        if self.start.is_some_and(|s| m.at.ms < s.ms) {
            self.before_start.0 += 1;
            self.before_start.1 += m.recipient_count();
            return Ok(());
        }
        let from = if m.from.is_empty() { "<>" } else { &m.from };
        // Addresses replay exactly (Q2 counts unique recipients); a log that names
        // none, or names one without a domain, gives the count.
        let recipients = if !m.recipients.is_empty() && m.recipients.iter().all(|r| r.contains('@'))
        {
            m.recipients.join(";")
        } else {
            m.recipient_count().to_string()
        };
        let size = m.size.map(|s| s.to_string()).unwrap_or_default();
        if let (Some(fitter), Some(start)) = (&mut self.fitter, self.start) {
            fitter.message(m, from, (m.at.ms - start.ms) as u64);
        }
        let row = [self.seconds(m.at), from.to_string(), recipients, size];
        self.sends
            .write_record(&row)
            .map_err(write_error(&self.dir.join("sends.csv")))?;
        let path = self.dir.join(host_file(&m.host));
        if !self.per_host.contains_key(&m.host) {
            let w = csv_file(&path, &SENDS_HEADER)?;
            self.per_host.insert(m.host.clone(), w);
        }
        let w = self.per_host.get_mut(&m.host).expect("inserted above");
        w.write_record(&row).map_err(write_error(&path))
    }

    fn reply(&mut self, r: &ObservedReply<'_>) -> Result<(), ImportError> {
        // As for messages: a reply before the start has no time in the run.
        if self.start.is_some_and(|s| r.at.ms < s.ms) {
            self.replies_before_start += 1;
            return Ok(());
        }
        let row = [
            self.seconds(r.at),
            r.from.to_string(),
            r.rcpt.to_string(),
            r.outcome.name().to_string(),
            r.reply.to_string(),
            r.at.to_iso(),
        ];
        self.replies
            .write_record(&row)
            .map_err(write_error(&self.dir.join("observed_replies.csv")))
    }
}

/// A TOML string.
fn quoted(text: &str) -> String {
    format!("{:?}", text)
}

/// An id for a host: what scenario ids allow.
fn host_id(host: &str) -> String {
    let id: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if id.is_empty() { "mta".into() } else { id }
}

/// The scenario's sections but its senders: the simulation, the tenant and one
/// `[[mta]]` per sending host.
struct Head {
    text: String,
    /// (host, its `[[mta]]` id).
    mtas: Vec<(String, String)>,
    primary: String,
}

/// The scenario's head, commented: what was inferred and what to fill in.
fn scenario_head(
    format: Format,
    s: &Summary,
    start: Stamp,
    logs: &[PathBuf],
    anonymised: Option<&crate::anonymise::Anonymiser>,
) -> Head {
    let mut t = String::new();
    let span_s = s.last.zip(s.first).map_or(0, |(l, f)| (l.ms - f.ms) / 1000);
    let names: Vec<String> = logs.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(
        t,
        "# Imported by `relaysim import {}` from {}:",
        format.name(),
        names.join(", ")
    );
    let _ = writeln!(
        t,
        "# {} messages ({} recipients) from {} to {}; {} lines read.",
        s.messages,
        s.recipients,
        s.first.map_or(String::new(), Stamp::to_iso),
        s.last.map_or(String::new(), Stamp::to_iso),
        s.lines
    );
    if let Some(a) = anonymised {
        let _ = writeln!(
            t,
            "# Addresses are pseudonyms (keyed hashes, relaysim import --anonymise): {}.",
            if a.domains() {
                "local parts and domains"
            } else {
                "local parts; domains as logged"
            }
        );
    }
    let _ = writeln!(
        t,
        "# Inferred: the tenant's domains (the envelope senders'), one [[mta]] per"
    );
    let _ = writeln!(
        t,
        "# sending host with the `{}` profile, the traffic (sends.csv).",
        format.profile()
    );
    let _ = writeln!(
        t,
        "# FILL IN what a log cannot tell (marked FILL IN below): your licences, your"
    );
    let _ = writeln!(
        t,
        "# servers' public IPs, their HELO names, TLS and AUTH, your registered users."
    );
    let _ = writeln!(t);
    let _ = writeln!(t, "[simulation]");
    let _ = writeln!(t, "name = \"imported\"");
    let _ = writeln!(t, "seed = 1");
    let _ = writeln!(t, "start = {}", start.to_iso());
    // The log's span, an hour more for the retries, in whole minutes.
    let minutes = (span_s + 3600 + 59) / 60;
    let _ = writeln!(t, "duration = \"{minutes}m\"");
    let _ = writeln!(t);
    let mut domains: Vec<(&String, &u64)> = s.domains.iter().collect();
    domains.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let primary = domains.first().map_or("example.com", |d| d.0.as_str());
    let _ = writeln!(t, "[[tenant]]");
    let _ = writeln!(t, "id = \"imported\"");
    let _ = writeln!(
        t,
        "licences = 100  # FILL IN: your Google Workspace licences (Q4: 130 ×, Q5: 9 × per 10 min)"
    );
    let _ = writeln!(t, "primary_domain = {}", quoted(primary));
    if domains.len() > 1 {
        let rest: Vec<String> = domains[1..].iter().map(|d| quoted(d.0)).collect();
        let _ = writeln!(t, "secondary_domains = [{}]", rest.join(", "));
    }
    let _ = writeln!(
        t,
        "# FILL IN: users = [\"…\"]: your registered users (Q1, Q2 count only them)"
    );
    let _ = writeln!(t);
    let hosts: Vec<&String> = s.hosts.keys().collect();
    let ips: Vec<String> = (0..hosts.len())
        .map(|i| format!("192.0.2.{}", i + 1))
        .collect();
    let _ = writeln!(t, "[[tenant.relay_setting]]");
    let _ = writeln!(t, "name = \"imported\"");
    let _ = writeln!(
        t,
        "allowed_senders = \"domain_addresses\"  # any address of the domains above; FILL IN if you use registered_users"
    );
    let _ = writeln!(t, "only_listed_ips = true");
    let ranges: Vec<String> = ips
        .iter()
        .map(|ip| format!("{{ cidr = \"{ip}/32\" }}"))
        .collect();
    let _ = writeln!(
        t,
        "ip_ranges = [{}]  # FILL IN: your servers' public IPs",
        ranges.join(", ")
    );
    let mut mtas = Vec::new();
    for (host, ip) in hosts.iter().zip(&ips) {
        let id = host_id(host);
        let _ = writeln!(t);
        let _ = writeln!(t, "# {} messages queued by {host}", s.hosts[*host]);
        let _ = writeln!(t, "[[mta]]");
        let _ = writeln!(t, "id = {}", quoted(&id));
        let _ = writeln!(t, "tenant = \"imported\"");
        let _ = writeln!(t, "profile = \"{}\"", format.profile());
        let _ = writeln!(t, "source_ip = \"{ip}\"  # FILL IN: its public IP");
        let _ = writeln!(
            t,
            "helo = {}  # FILL IN: the name it greets with",
            quoted(&format!("mail.{primary}"))
        );
        let _ = writeln!(t, "port = 587");
        let _ = writeln!(
            t,
            "tls = \"starttls\"  # FILL IN: and `auth = {{ username = \"…\" }}` if it authenticates"
        );
        mtas.push(((*host).clone(), id));
    }
    Head {
        text: t,
        mtas,
        primary: primary.to_string(),
    }
}

/// One replay `[[sender]]` per sending host.
fn replay_senders(head: &Head) -> String {
    let mut t = String::new();
    for (host, id) in &head.mtas {
        let replay = if head.mtas.len() > 1 {
            host_file(host)
        } else {
            "sends.csv".into()
        };
        let _ = writeln!(t);
        let _ = writeln!(t, "[[sender]]");
        let _ = writeln!(t, "id = {}", quoted(id));
        let _ = writeln!(t, "mta = {}", quoted(id));
        let _ = writeln!(t, "pattern = \"replay\"");
        let _ = writeln!(t, "replay = {}", quoted(&replay));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_make_safe_ids_and_files() {
        assert_eq!(host_id("mx1.acme.example"), "mx1-acme-example");
        assert_eq!(host_file("EX01/x"), "sends-EX01_x.csv");
    }
}
