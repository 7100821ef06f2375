//! Writers: the run folder's files (PRODUCT.md "Contract"). Every file is written to a
//! temporary name in the target folder and renamed into place when complete, so a
//! killed run never leaves a half-written file behind.

pub mod atomic;
pub mod bucketed;
pub mod charts;
pub mod delays;
pub mod limit_hits;
pub mod queue_depth;
pub mod summary;
pub mod sweep_csv;
pub mod throughput;
pub mod transactions;

pub use atomic::AtomicFile;

use std::io;
use std::path::Path;

use limit_hits::LimitHitsWriter;
use queue_depth::QueueDepthWriter;
use scenario::Model;
use sim::RunReport;
use sim::world::recipients::RecipientSpace;
use throughput::ThroughputWriter;
use transactions::TransactionWriter;

/// Runs `scenario` with `seed` and writes its results folder `dir`: `throughput.csv`,
/// `queue_depth.csv` and, with `trace`, `transactions.csv` (streamed during the run),
/// `limit_hits.csv`, `delivery_delay.hlog`, `summary.json`, then the charts (drawn
/// from those files). `observer` watches the run too (a progress bar). Fails, leaving
/// no partial file, if writing fails or the run fails its own checks.
pub fn run_to_folder(
    model: &Model,
    seed: u64,
    dir: &Path,
    trace: bool,
    observer: &mut impl sim::Observer,
) -> io::Result<RunReport> {
    std::fs::create_dir_all(dir)?;
    remove_stale_partials(dir)?;
    let tenants: Vec<String> = model.tenants.iter().map(|t| t.id.clone()).collect();
    let bucket = model.bucket;
    let file = AtomicFile::create(&dir.join("throughput.csv"))?;
    let throughput = ThroughputWriter::new(file, tenants.clone(), bucket)?;
    let mta_ids: Vec<String> = model.mtas.iter().map(|m| m.id.clone()).collect();
    let file = AtomicFile::create(&dir.join("queue_depth.csv"))?;
    let queues = QueueDepthWriter::new(file, mta_ids, bucket)?;
    let transactions = match trace {
        true => {
            let file = AtomicFile::create(&dir.join("transactions.csv"))?;
            let mtas = model.mtas.iter().map(|m| m.id.clone()).collect();
            let space = RecipientSpace::new(&model.senders).map_err(io::Error::other)?;
            Some(TransactionWriter::new(file, tenants, mtas, space)?)
        }
        false => None,
    };
    let hits = LimitHitsWriter::new(AtomicFile::create(&dir.join("limit_hits.csv"))?, model)?;
    let mut writers = ((((throughput, queues), hits), transactions), observer);
    let report = sim::run(model, seed, &mut writers).map_err(io::Error::other)?;
    let ((((throughput, queues), hits), transactions), _) = writers;
    throughput.finish(report.horizon)?.commit()?;
    queues.finish(report.horizon)?.commit()?;
    if let Some(t) = transactions {
        t.finish()?.commit()?;
    }
    hits.finish()?.commit()?;
    let mut log = Vec::new();
    delays::write_log(&mut log, &report)?;
    AtomicFile::write_all(&dir.join("delivery_delay.hlog"), &log)?;
    AtomicFile::write_all(
        &dir.join("summary.json"),
        summary::render(model, &report).as_bytes(),
    )?;
    charts::draw_all(dir)?;
    Ok(report)
}

/// Removes the temporary files (`.relaysim-*`) a killed earlier run left in `dir`.
fn remove_stale_partials(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let stale = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".relaysim-") && n.contains(".partial"));
        if stale {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
