//! Writers: the run folder's files (PRODUCT.md "Contract"). A run is written into a
//! hidden staging folder and swapped in whole (`folder.rs`), so a reader sees one
//! complete run or none; single files elsewhere are written whole (`atomic.rs`).

pub mod atomic;
pub mod bucketed;
pub mod charts;
pub mod clock;
pub mod compare;
pub mod delays;
pub mod folder;
pub mod html;
pub mod limit_episodes;
pub mod limit_hits;
pub mod observed;
pub mod queue_depth;
pub mod quota_usage;
pub mod replies;
pub mod subject_csv;
pub mod summary;
pub mod sweep_csv;
pub mod sweep_meta;
pub mod throughput;
pub mod transactions;

pub use atomic::AtomicFile;
pub use folder::{FolderError, StagedFolder};

use std::io;
use std::path::Path;

use limit_hits::LimitHitsWriter;
use queue_depth::QueueDepthWriter;
use quota_usage::QuotaUsageWriter;
use scenario::Model;
use sim::RunReport;
use sim::world::recipients::RecipientSpace;
use throughput::ThroughputWriter;
pub use transactions::TraceFormat;
use transactions::{TraceFile, TransactionWriter};

/// Runs `scenario` with `seed` and writes its results folder `target`:
/// `throughput.csv`, `queue_depth.csv` and, with `trace`, `transactions.csv.zst` (streamed
/// during the run), `limit_hits.csv`, `delivery_delay.hlog`, `summary.json`, then the
/// charts (drawn from those files). Everything is written into a staging folder that
/// replaces `target` whole at the end (`folder.rs`); `overwrite` allows replacing a
/// folder relaysim did not make. `observer` watches the run too (a progress bar).
/// Fails, leaving `target` as it was, if writing fails or the run fails its checks.
pub fn run_to_folder(
    model: &Model,
    seed: u64,
    target: &Path,
    trace: Option<TraceFormat>,
    overwrite: bool,
    observer: &mut impl sim::Observer,
) -> Result<RunReport, FolderError> {
    let staged = StagedFolder::begin(target, overwrite)?;
    let report = write_run(model, seed, staged.path(), trace, observer)?;
    staged.publish()?;
    Ok(report)
}

/// The files of one run, into the (empty) folder `dir`.
fn write_run(
    model: &Model,
    seed: u64,
    dir: &Path,
    trace: Option<TraceFormat>,
    observer: &mut impl sim::Observer,
) -> io::Result<RunReport> {
    let tenants: Vec<String> = model.tenants.iter().map(|t| t.id.clone()).collect();
    let bucket = model.bucket;
    let file = AtomicFile::create(&dir.join("throughput.csv"))?;
    let clock = clock::Clock::of(model);
    let throughput = ThroughputWriter::new(file, tenants.clone(), bucket, clock)?;
    let mta_ids: Vec<String> = model.mtas.iter().map(|m| m.id.clone()).collect();
    let file = AtomicFile::create(&dir.join("queue_depth.csv"))?;
    let queues = QueueDepthWriter::new(file, mta_ids, bucket, clock)?;
    let transactions = match trace {
        Some(format) => {
            let file = TraceFile::create(dir, format)?;
            let mtas = model.mtas.iter().map(|m| m.id.clone()).collect();
            let space = RecipientSpace::new(&model.senders).map_err(io::Error::other)?;
            Some(TransactionWriter::new(file, tenants, mtas, space, clock)?)
        }
        None => None,
    };
    let hits = LimitHitsWriter::new(AtomicFile::create(&dir.join("limit_hits.csv"))?, model)?;
    let usage = QuotaUsageWriter::new(AtomicFile::create(&dir.join("quota_usage.csv"))?, model)?;
    let replies =
        replies::RepliesWriter::new(AtomicFile::create(&dir.join("replies.csv"))?, bucket, clock)?;
    let files = (((throughput, queues), hits), (usage, replies));
    let mut writers = ((files, transactions), observer);
    let report = sim::run(model, seed, &mut writers).map_err(io::Error::other)?;
    let (((((throughput, queues), hits), (usage, replies)), transactions), _) = writers;
    usage.finish()?.commit()?;
    replies.finish()?.commit()?;
    let mut episodes = AtomicFile::create(&dir.join("limit_episodes.csv"))?;
    limit_episodes::write(&mut episodes, model, &report.episodes)?;
    episodes.commit()?;
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
    html::write(dir, model, &report)?;
    Ok(report)
}
