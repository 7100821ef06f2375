//! `relaysim run`: one scenario to a results folder.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::{QUICKSTART, group_thousands};
use crate::scenario::Scenario;

#[derive(Args)]
pub struct RunArgs {
    /// Scenario file (default: the embedded quickstart scenario).
    scenario: Option<PathBuf>,
    /// Output folder (default: results/<scenario name>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of every random stream (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Also write transactions.csv, one row per SMTP transaction.
    #[arg(long)]
    trace: bool,
}

pub fn run(args: RunArgs) -> ExitCode {
    let scenario = match &args.scenario {
        Some(path) => match super::load_or_report(path) {
            Some(s) => s,
            None => return ExitCode::FAILURE,
        },
        None => Scenario::parse("quickstart.toml (embedded)", QUICKSTART)
            .expect("the embedded quickstart scenario is valid (tested)"),
    };
    let seed = args.seed.unwrap_or(scenario.simulation.seed);
    let dir = args
        .out
        .unwrap_or_else(|| PathBuf::from("results").join(scenario.name()));
    let started = Instant::now();
    let report = match crate::output::run_to_folder(&scenario, seed, &dir, args.trace) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "error: could not write results to {}: {e}\nhelp: check that the folder is writable, or choose another with --out DIR",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{}: {} messages ({} recipients) generated over {} with seed {}",
        scenario.name(),
        group_thousands(report.total.messages.generated),
        group_thousands(report.total.recipients.generated),
        scenario.duration(),
        seed
    );
    let m = &report.total.messages;
    println!(
        "messages: {} delivered, {} bounced, {} queued at the end; {} limit hits",
        group_thousands(m.delivered),
        group_thousands(m.bounced),
        group_thousands(m.queued_at_end),
        group_thousands(
            report
                .limit_events
                .iter()
                .filter(|e| e.change == crate::relay::LimitChange::Hit)
                .count() as u64
        )
    );
    println!(
        "{} events in {:.2?}",
        group_thousands(report.events_processed),
        started.elapsed()
    );
    println!(
        "wrote {}/: summary.json, throughput.csv, limit_hits.csv, queue_depth.csv, delivery_delay.hlog{}, and the charts (PNG and SVG)",
        dir.display(),
        if args.trace { ", transactions.csv" } else { "" }
    );
    ExitCode::SUCCESS
}
