//! Writers: the run folder's files (PRODUCT.md "Contract"). Every file is written to a
//! temporary name in the target folder and renamed into place when complete, so a
//! killed run never leaves a half-written file behind.

pub mod atomic;
pub mod limit_hits;
pub mod summary;
pub mod throughput;
pub mod transactions;

pub use atomic::AtomicFile;

use std::io;
use std::path::Path;

use crate::scenario::Scenario;
use crate::sim::{self, RunReport};
use crate::world::recipients::RecipientSpace;
use throughput::ThroughputWriter;
use transactions::TransactionWriter;

/// Runs `scenario` with `seed` and writes its results folder `dir`: `throughput.csv`
/// and, with `trace`, `transactions.csv` (both streamed during the run),
/// `limit_hits.csv` and `summary.json`. Fails, leaving no partial file, if writing
/// fails or the run loses a message.
pub fn run_to_folder(
    scenario: &Scenario,
    seed: u64,
    dir: &Path,
    trace: bool,
) -> io::Result<RunReport> {
    std::fs::create_dir_all(dir)?;
    let tenants: Vec<String> = scenario
        .tenants
        .iter()
        .map(|t| t.id.get_ref().clone())
        .collect();
    let file = AtomicFile::create(&dir.join("throughput.csv"))?;
    let throughput =
        ThroughputWriter::new(file, tenants.clone(), *scenario.simulation.bucket.get_ref())?;
    let transactions = match trace {
        true => {
            let file = AtomicFile::create(&dir.join("transactions.csv"))?;
            let mtas = scenario
                .mtas
                .iter()
                .map(|m| m.id.get_ref().clone())
                .collect();
            let space = RecipientSpace::new(&scenario.senders).map_err(io::Error::other)?;
            Some(TransactionWriter::new(file, tenants, mtas, space)?)
        }
        false => None,
    };
    let mut recorders = (throughput, transactions);
    let report = sim::run(scenario, seed, &mut recorders);
    report
        .check_conservation()
        .map_err(|e| io::Error::other(format!("internal error, a message was lost: {e}")))?;
    let (throughput, transactions) = recorders;
    throughput.finish(report.horizon)?.commit()?;
    if let Some(t) = transactions {
        t.finish()?.commit()?;
    }
    let mut hits = Vec::new();
    limit_hits::write(&mut hits, &report.limit_events)?;
    AtomicFile::write_all(&dir.join("limit_hits.csv"), &hits)?;
    AtomicFile::write_all(
        &dir.join("summary.json"),
        summary::render(scenario, &report).as_bytes(),
    )?;
    Ok(report)
}
