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
    /// Also fit a model of the traffic: fitted.toml (diurnal senders with the log's
    /// hourly profile, recipient counts, recipient pool and sizes; scalable with
    /// --set simulation.traffic_growth=…) and fit_hours.csv (each hour of the log
    /// beside the fit's expectation and a simulation of it).
    #[arg(long)]
    fit: bool,
    /// Replace the local part of every address by a stable pseudonym (a keyed hash),
    /// so the folder can be shared; the secret comes from --anonymise-key-file or
    /// the RELAYSIM_ANONYMISE_KEY environment variable. Same secret, same pseudonyms.
    #[arg(long)]
    anonymise: bool,
    /// Domains as pseudonyms too (`d….example`, in reply texts as well); implies
    /// --anonymise.
    #[arg(long)]
    anonymise_domains: bool,
    /// The secret for --anonymise (the file's bytes). Keep it private: whoever has
    /// it can check a guessed address against its pseudonym.
    #[arg(long, value_name = "FILE")]
    anonymise_key_file: Option<PathBuf>,
}

/// The secret of `--anonymise`: the key file's bytes, or the environment's.
fn anonymiser(args: &ImportArgs) -> Result<Option<import::anonymise::Anonymiser>, String> {
    if !args.anonymise && !args.anonymise_domains {
        if args.anonymise_key_file.is_some() {
            return Err("--anonymise-key-file is given without --anonymise".into());
        }
        return Ok(None);
    }
    let secret = match &args.anonymise_key_file {
        Some(path) => std::fs::read(path)
            .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?,
        None => std::env::var("RELAYSIM_ANONYMISE_KEY")
            .map(String::into_bytes)
            .map_err(|_| {
                "--anonymise needs a secret: --anonymise-key-file FILE, or RELAYSIM_ANONYMISE_KEY in the environment (e.g. head -c 32 /dev/urandom > import.key; keep it to get the same pseudonyms next time)".to_string()
            })?,
    };
    if secret.len() < 16 {
        return Err(format!(
            "the --anonymise secret has {} bytes; give at least 16 (e.g. head -c 32 /dev/urandom > import.key), or a guessed secret undoes the pseudonyms",
            secret.len()
        ));
    }
    Ok(Some(import::anonymise::Anonymiser::new(
        &secret,
        args.anonymise_domains,
    )))
}

pub fn import(args: ImportArgs) -> ExitCode {
    let anonymise = match anonymiser(&args) {
        Ok(a) => a,
        Err(message) => {
            errln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
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
        fit: args
            .fit
            .then_some(simulate_fitted as import::output::Simulate),
        anonymise,
    };
    match import::write_folder(&options) {
        Ok(imported) => {
            print_summary(imported.format, &imported.summary, imported.start);
            if let Some(fit) = &imported.fit {
                print_fit(fit);
            }
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
                ImportError::Fit { .. } => {
                    "nothing was written; import without --fit to get the replay, and report the error above"
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

/// `--fit`'s check: the fitted scenario simulated at its own seed.
fn simulate_fitted(text: &str) -> Result<Vec<[u64; 2]>, String> {
    let model = scenario::Model::parse("fitted.toml", text).map_err(|e| e.render(false))?;
    sim::hourly::generated_per_hour(&model, model.seed).map_err(|e| e.to_string())
}

/// The fit in a few lines: its senders, and how its hours compare with the log's.
fn print_fit(fit: &import::output::FitReport) {
    outln!(
        "fit: {} (fitted.toml); each hour of the log beside the fit in fit_hours.csv",
        plural(fit.senders.len() as u64, "diurnal sender")
    );
    for s in &fit.senders {
        let pool = s.pool.as_ref().map_or(
            "no recipient addresses in the log".to_string(),
            |p| {
                format!(
                    "{} distinct of a pool of {} (Chao1), Zipf {:.2}; addressed once: {} seen, {:.0} expected",
                    p.distinct, p.size, p.zipf_exponent, p.once, p.expected_once
                )
            },
        );
        let who = match s.envelope_from.as_slice() {
            [one] => one.clone(),
            many => format!("{} senders", many.len()),
        };
        outln!(
            "  {} {who}: {}, {:.2}/h as the day's mean; recipients {}; {pool}",
            s.host,
            plural(s.messages, "message"),
            s.rate_per_hour,
            s.recipients.toml.trim_matches('"')
        );
    }
    let observed: u64 = fit.hours.iter().map(|h| h.observed).sum();
    let simulated: u64 = fit.hours.iter().map(|h| h.simulated).sum();
    let expected: f64 = fit.hours.iter().map(|h| h.expected).sum();
    // The hours that differ most from the fit's expectation, as a z-score of the
    // Poisson count.
    let worst = fit
        .hours
        .iter()
        .enumerate()
        .max_by(|a, b| z(a.1).total_cmp(&z(b.1)).then(b.0.cmp(&a.0)));
    outln!(
        "  messages over {}: observed {observed}, expected {expected:.0}, simulated {simulated} (seed of the scenario)",
        plural(fit.hours.len() as u64, "hour"),
    );
    if let Some((i, h)) = worst {
        outln!(
            "  the hour furthest from the fit: hour {i} from the start, observed {} vs expected {:.1} ({:+.1} standard deviations)",
            h.observed,
            h.expected,
            (h.observed as f64 - h.expected) / h.expected.max(1.0).sqrt()
        );
    }
}

/// How far an hour's count is from its Poisson expectation, in standard deviations.
fn z(h: &import::output::HourFit) -> f64 {
    (h.observed as f64 - h.expected).abs() / h.expected.max(1.0).sqrt()
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
