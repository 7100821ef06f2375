//! `relaysim import FORMAT LOG...`: mail logs into a replay file and a scenario
//! (the `import` crate); prints what was found and what was skipped.

use super::output::{errln, outln};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use import::{Format, ImportError, Stamp, Summary};

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Postfix syslog lines (qmgr, smtp, …), or Postfix's own maillog_file.
    Postfix,
    /// Exim's mainlog.
    Exim,
    /// Exchange message tracking logs (CSV with a #Fields: header).
    Exchange,
    /// Recognised from the first lines of the first log.
    Auto,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The log format.
    format: FormatArg,
    /// Log files, plain, .gz or .zst, read in time order whatever the order given;
    /// `-` for stdin (alone).
    #[arg(required = true)]
    logs: Vec<PathBuf>,
    /// Output folder, replaced whole.
    #[arg(long, default_value = "results/import")]
    out: PathBuf,
    /// The year of the first line, for syslog time stamps without one (`Nov 29
    /// 11:05:01`); later lines roll over at New Year.
    #[arg(long)]
    year: Option<i32>,
    /// Replace the output folder even if relaysim did not make it.
    #[arg(long)]
    overwrite: bool,
}

pub fn import(args: ImportArgs) -> ExitCode {
    let options = import::output::Options {
        format: match args.format {
            FormatArg::Postfix => Some(Format::Postfix),
            FormatArg::Exim => Some(Format::Exim),
            FormatArg::Exchange => Some(Format::Exchange),
            FormatArg::Auto => None,
        },
        logs: args.logs,
        year: args.year,
        out: args.out.clone(),
        overwrite: args.overwrite,
    };
    match import::write_folder(&options) {
        Ok(imported) => {
            print_summary(imported.format, &imported.summary, imported.start);
            outln!(
                "wrote {}/: {}",
                args.out.display(),
                imported.files.join(", ")
            );
            outln!(
                "next: fill in what scenario.toml marks FILL IN (licences, IPs), then: relaysim run {}/scenario.toml",
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let help = match &e {
                ImportError::NoYear { .. } => "e.g. --year 2026",
                ImportError::Folder { help, .. } => help,
                ImportError::Unrecognised { .. } => {
                    "e.g. relaysim import postfix /var/log/mail.log"
                }
                ImportError::Empty { .. } => {
                    "a Postfix log needs qmgr from= lines, an Exim mainlog <= lines, an Exchange log RECEIVE events"
                }
                _ => "check the paths and that the output folder can be written",
            };
            errln!("error: {e}\nhelp: {help}");
            ExitCode::FAILURE
        }
    }
}

fn print_summary(format: Format, s: &Summary, start: Stamp) {
    let span = match (s.first, s.last) {
        (Some(f), Some(l)) => format!(
            "from {} to {} ({})",
            f.to_iso(),
            l.to_iso(),
            report_duration((l.ms - f.ms) / 1000)
        ),
        _ => String::new(),
    };
    outln!(
        "{}: {} ({}) in {} of {}, {span}",
        format.name(),
        plural(s.messages, "message"),
        plural(s.recipients, "recipient"),
        plural(s.lines, "line"),
        plural(s.files as u64, "file")
    );
    let hosts: Vec<String> = s.hosts.iter().map(|(h, n)| format!("{h} ({n})")).collect();
    outln!(
        "sending hosts: {}; sender domains: {}; scenario start {}",
        hosts.join(", "),
        s.domains.len(),
        start.to_iso()
    );
    if s.still_queued > 0 {
        outln!(
            "{} still queued when the log ended (written with the recipients seen)",
            plural(s.still_queued, "message")
        );
    }
    if s.before_start > 0 {
        outln!(
            "left out {} queued before the first time stamp (logs out of time order: are the files of one server, and --year right?)",
            plural(s.before_start, "message")
        );
    }
    outln!(
        "replies of 4xx/5xx the log recorded: {} (observed_replies.csv)",
        s.replies
    );
    let ignored: u64 = s.ignored.values().sum();
    if ignored > 0 {
        outln!("ignored {} about nothing kept:", plural(ignored, "line"));
        for (kind, n) in &s.ignored {
            outln!("  {n} × {kind}");
        }
    }
    let unknown: u64 = s.unknown.values().map(|u| u.count).sum();
    if unknown > 0 {
        outln!("skipped {} not understood:", plural(unknown, "line"));
        for (kind, u) in &s.unknown {
            outln!("  {} × {kind}: {}", u.count, u.examples.join(", "));
        }
    }
}

/// `1 message`, `2 messages`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Whole seconds as `1h 5m 3s`.
fn report_duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}
