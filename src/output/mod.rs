//! Writers: the run folder's files (PRODUCT.md "Contract"). Every file is written to a
//! temporary name in the target folder and renamed into place when complete, so a
//! killed run never leaves a half-written file behind.

pub mod atomic;
pub mod summary;
pub mod throughput;

pub use atomic::AtomicFile;

use std::io;
use std::path::Path;

use crate::scenario::Scenario;
use crate::sim::{self, RunReport};
use throughput::ThroughputWriter;

/// Runs `scenario` with `seed` and writes its results folder `dir`: `throughput.csv`
/// (streamed during the run) and `summary.json`. Fails, leaving no partial file, if
/// writing fails or the run loses a message.
pub fn run_to_folder(scenario: &Scenario, seed: u64, dir: &Path) -> io::Result<RunReport> {
    std::fs::create_dir_all(dir)?;
    let tenants = scenario
        .tenants
        .iter()
        .map(|t| t.id.get_ref().clone())
        .collect();
    let file = AtomicFile::create(&dir.join("throughput.csv"))?;
    let mut throughput =
        ThroughputWriter::new(file, tenants, *scenario.simulation.bucket.get_ref())?;
    let report = sim::run(scenario, seed, &mut throughput);
    report
        .check_conservation()
        .map_err(|e| io::Error::other(format!("internal error, a message was lost: {e}")))?;
    throughput.finish(report.horizon)?.commit()?;
    AtomicFile::write_all(
        &dir.join("summary.json"),
        summary::render(scenario, &report).as_bytes(),
    )?;
    Ok(report)
}
