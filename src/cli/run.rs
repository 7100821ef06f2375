//! `relaysim run`: one scenario to a results folder.

use super::output::{err, errln, outln};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::{QUICKSTART, group_thousands};
use scenario::Model;
use scenario::overrides::Override;

#[derive(Args)]
pub struct RunArgs {
    /// Scenario file (default: the embedded quickstart scenario).
    scenario: Option<PathBuf>,
    /// Output folder (default: results/<scenario name>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of every random stream, 0 to 18446744073709551615 (default: the scenario's).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Also write the transaction trace, one row per SMTP transaction:
    /// transactions.csv.zst (zstd; polars reads it as it is, pandas with the
    /// zstandard package).
    #[arg(long)]
    trace: bool,
    /// The trace's format: `zst` (transactions.csv.zst, the default) or `csv`
    /// (transactions.csv, uncompressed: some eight times larger). Implies --trace.
    #[arg(long, value_name = "zst|csv", value_parser = parse_trace_format)]
    trace_format: Option<report::TraceFormat>,
    /// Replace the output folder even if relaysim did not make it (it is replaced
    /// whole; without this only relaysim's own run folders and empty ones are).
    #[arg(long)]
    overwrite: bool,
    /// Change a scenario key, e.g. `sender.batch.rate=3000/h` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = |s: &str| s.parse::<Override>())]
    set: Vec<Override>,
    /// Run the tenant at this many licences (with --seed, reproduces the row of
    /// `relaysim sweep` at that count and seed).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    licences: Option<u32>,
    /// The tenant --licences changes (needed when the scenario has several).
    #[arg(long, requires = "licences")]
    tenant: Option<String>,
}

/// `--trace-format`: `zst` or `csv`.
fn parse_trace_format(text: &str) -> Result<report::TraceFormat, String> {
    match text.trim() {
        "zst" | "zstd" => Ok(report::TraceFormat::Zstd),
        "csv" => Ok(report::TraceFormat::Csv),
        other => Err(format!(
            "`{other}` is not a trace format: use `zst` (compressed, the default) or `csv`"
        )),
    }
}

/// `--seed`: a whole number from 0 to 2⁶⁴ − 1, said so in words.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.trim().parse::<u64>().map_err(|_| {
        format!(
            "the seed is a whole number from 0 to {}, not `{text}`",
            u64::MAX
        )
    })
}

pub fn run(args: RunArgs) -> ExitCode {
    let mut scenario = match &args.scenario {
        Some(path) => match super::load_or_report(path, &args.set) {
            Some(s) => s,
            None => return ExitCode::FAILURE,
        },
        None if !args.set.is_empty() => {
            errln!(
                "error: --set edits a scenario file, and none was given\nhelp: give the file, e.g. `relaysim run scenarios/quickstart.toml --set ...`"
            );
            return ExitCode::FAILURE;
        }
        None => match Model::parse("quickstart.toml (embedded)", QUICKSTART) {
            Ok(s) => s,
            Err(e) => {
                err!("{}", e.render(super::stderr_is_terminal()));
                return ExitCode::FAILURE;
            }
        },
    };
    if let Some(licences) = args.licences {
        let file = args
            .scenario
            .clone()
            .unwrap_or_else(|| PathBuf::from("quickstart.toml (embedded)"));
        match super::pick_tenant(&scenario, &file, args.tenant.as_deref()) {
            // As a sweep sets a point's licences: the same run.
            Ok(t) => scenario = sim::sweep::with_licences(&scenario, t, licences),
            Err(message) => {
                errln!("error: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let dir = args
        .out
        .unwrap_or_else(|| PathBuf::from("results").join(&scenario.name));
    let trace = match (args.trace, args.trace_format) {
        (_, Some(format)) => Some(format),
        (true, None) => Some(report::TraceFormat::default()),
        (false, None) => None,
    };
    let started = Instant::now();
    let mut progress = Progress::new(scenario.duration);
    let result = report::run_to_folder(&scenario, seed, &dir, trace, args.overwrite, &mut progress);
    progress.bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            errln!(
                "error: could not write results to {}: {e}\nhelp: {}",
                dir.display(),
                e.help()
            );
            return ExitCode::FAILURE;
        }
    };
    outln!(
        "{}: {} messages ({} recipients) generated over {} with seed {}",
        scenario.name,
        group_thousands(report.total.messages.generated),
        group_thousands(report.total.recipients.generated),
        scenario.duration,
        seed
    );
    let (m, r) = (&report.total.messages, &report.total.recipients);
    outln!(
        "messages: {} delivered, {} bounced, {} queued at the end (recipients: {} delivered, {} bounced, {} queued)",
        group_thousands(m.delivered),
        group_thousands(m.bounced),
        group_thousands(m.queued_at_end),
        group_thousands(r.delivered),
        group_thousands(r.bounced),
        group_thousands(r.queued_at_end),
    );
    let headlines = sim::episodes::headlines(&scenario, &report.episodes);
    if headlines.is_empty() {
        outln!("limits: none was hit");
    }
    for line in headlines {
        outln!("limit: {line}");
    }
    if let Some(line) = refusals_line(&report.replies) {
        outln!("{line}");
    }
    let estimated = scenario.estimate().memory.total();
    match super::estimate::peak_resident_bytes() {
        Some(peak) => outln!(
            "{} events in {:.2?}; peak memory {} (estimated {})",
            group_thousands(report.events_processed),
            started.elapsed(),
            super::estimate::megabytes(peak as f64),
            super::estimate::megabytes(estimated)
        ),
        None => outln!(
            "{} events in {:.2?}; estimated memory {}",
            group_thousands(report.events_processed),
            started.elapsed(),
            super::estimate::megabytes(estimated)
        ),
    }
    outln!(
        "wrote {}/: summary.json, throughput.csv, limit_hits.csv, limit_episodes.csv, quota_usage.csv, replies.csv, queue_depth.csv, delivery_delay.hlog{}, the charts (PNG and SVG) and report.html",
        dir.display(),
        trace.map_or(String::new(), |f| format!(", {}", f.file_name()))
    );
    ExitCode::SUCCESS
}

/// A progress bar over simulated time, on stderr when it is a terminal.
struct Progress {
    bar: indicatif::ProgressBar,
    horizon_ms: u64,
    /// Simulated time shown, in thousandths of the horizon.
    shown: u64,
}

impl Progress {
    fn new(horizon: relay::time::SimDuration) -> Self {
        use std::io::IsTerminal;
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(1000);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {percent}% of the simulated time, ETA {eta}",
                )
                .expect("a valid progress template")
                .progress_chars("=> "),
            );
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        Progress {
            bar,
            horizon_ms: horizon.as_millis().max(1),
            shown: 0,
        }
    }
}

/// Moves with the simulated clock (at every message a sender hands over).
impl sim::Observer for Progress {
    fn observe(&mut self, time: relay::time::SimTime, what: &sim::Observation<'_>) {
        if !matches!(what, sim::Observation::Offered { .. }) {
            return;
        }
        let permille = time.as_millis() * 1000 / self.horizon_ms;
        if permille > self.shown {
            self.shown = permille;
            self.bar.set_position(permille);
        }
    }
}

/// The relay's most frequent refusals by reply code, e.g. `refusals: 986 × 530 5.7.0,
/// 436 × 550 5.7.0 (all in replies.csv)`; `None` when it refused nothing.
fn refusals_line(replies: &sim::ReplyCounts) -> Option<String> {
    let mut by_code: std::collections::BTreeMap<String, u64> = Default::default();
    for (reply, n) in replies.iter().filter(|(r, _)| !r.is_positive()) {
        let line = reply.to_string();
        let code = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
        *by_code.entry(code).or_default() += n;
    }
    let mut ranked: Vec<(String, u64)> = by_code.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let shown: Vec<String> = ranked
        .iter()
        .take(4)
        .map(|(code, n)| format!("{} × {code}", group_thousands(*n)))
        .collect();
    (!shown.is_empty()).then(|| {
        let more = if ranked.len() > 4 { ", …" } else { "" };
        format!(
            "refusals: {}{more} (by reply in replies.csv)",
            shown.join(", ")
        )
    })
}
