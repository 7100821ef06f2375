//! `relaysim sweep`: a scenario at many licence counts (and `--vary` values) ×
//! replicates, in parallel; or the smallest licence count that meets a target
//! (`--find-min-licences`). What it prints is in `sweep_words.rs`.

use super::output::{errln, outln};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::group_thousands;
use super::sweep_shard;
use super::sweep_words;
use super::targets::TargetArgs;
use report::AtomicFile;
use report::sweep_meta::SweepMeta;
use scenario::overrides::Override;
use sim::sweep::{self, LicenceSpec, Point, PointId, PointObserver, Sweeper, Variant, VarySpec};

#[derive(Args)]
pub struct SweepArgs {
    /// Scenario file.
    scenario: Option<PathBuf>,
    /// Licence counts: `50,100,250`, `100..1000:100` or `10..100000:log:25`; with
    /// --find-min-licences, the range searched (its lowest and highest).
    #[arg(long, value_parser = |s: &str| s.parse::<LicenceSpec>())]
    licences: Option<LicenceSpec>,
    /// Replicates per point, 1 to 10,000 (default 5 with --find-min-licences, else 1).
    /// Replicate 0 runs with the scenario's seed, replicate k with a seed derived from
    /// it; every licence count sees the same traffic at the same replicate.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    seeds: Option<u32>,
    /// Worker threads (default: one per core), 1 to 1,024.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    /// Output folder (default: results/<scenario name>-sweep/, with --shard I/N
    /// results/<scenario name>-sweep-shard-I-of-N/), replaced whole (a shard's is
    /// kept and resumed).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the output folder even if relaysim did not make it.
    #[arg(long)]
    overwrite: bool,
    /// The tenant whose licences change (needed when the scenario has several).
    #[arg(long)]
    tenant: Option<String>,
    /// Search the licence range for the smallest count that meets the target at
    /// every replicate.
    #[arg(long)]
    find_min_licences: bool,
    /// Also write each run's whole results folder, as points/licences-N-seed-K/.
    #[arg(long)]
    keep_runs: bool,
    /// Change a scenario key for every run, e.g. `sender.batch.rate=3000/h` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = |s: &str| s.parse::<Override>())]
    set: Vec<Override>,
    /// Sweep a scenario key too, as a grid with the licence counts (repeatable):
    /// `sender.batch.rate=4000/h..12000/h:2000`, `relay.dos.max_messages_per_connection=100,500`.
    #[arg(long = "vary", value_name = "KEY=VALUES", value_parser = |s: &str| s.parse::<VarySpec>())]
    vary: Vec<VarySpec>,
    /// Run only shard I of N (from 0): runs I, I+N, I+2N … of the sweep's list, into
    /// a partial folder (--out) that `relaysim sweep merge` joins with the others.
    /// A shard started again skips the runs it finished.
    #[arg(long, value_name = "I/N", value_parser = |s: &str| s.parse::<sweep_shard::Shard>())]
    shard: Option<sweep_shard::Shard>,
    /// Write a Slurm job array of this sweep into DIR (sweep.sbatch, merge.sbatch,
    /// submit.sh, README.md) instead of running it; with --shards.
    #[arg(
        long,
        value_name = "DIR",
        requires = "shards",
        conflicts_with = "shard"
    )]
    emit_slurm: Option<PathBuf>,
    /// With --emit-slurm: how many shards (array tasks), 1 to the number of runs.
    #[arg(long, requires = "emit_slurm", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    shards: Option<u32>,
    #[command(subcommand)]
    action: Option<SweepAction>,
    // Last: its options get their own heading in --help, and the heading would
    // carry over to the options after it.
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(clap::Subcommand)]
pub enum SweepAction {
    /// Join the folders of a sweep's shards into the sweep's folder, byte for byte
    /// what the sweep writes on one machine.
    Merge(sweep_shard::MergeArgs),
}

pub fn sweep(args: SweepArgs) -> ExitCode {
    match sweep_or_explain(args) {
        Ok(code) => code,
        Err(message) => {
            errln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn sweep_or_explain(mut args: SweepArgs) -> Result<ExitCode, String> {
    if let Some(SweepAction::Merge(merge)) = args.action.take() {
        return Ok(sweep_shard::merge(merge));
    }
    let (Some(path), Some(licences)) = (args.scenario.clone(), args.licences.clone()) else {
        return Err("a sweep needs a scenario and --licences\nhelp: e.g. relaysim sweep scenarios/helpdesk-burst.toml --licences 100,200,400".into());
    };
    if (args.shard.is_some() || args.emit_slurm.is_some()) && args.find_min_licences {
        return Err("--find-min-licences does not shard: each count of its bisection depends on the answer before\nhelp: sweep the grid with the target across shards (every row of sweep.csv says whether it meets it), then search the narrow range around the answer on one machine".into());
    }
    if (args.shard.is_some() || args.emit_slurm.is_some()) && args.keep_runs {
        return Err("--keep-runs writes each run's folder into one sweep folder; shards have no such folder\nhelp: drop --keep-runs, or rerun the points you want with relaysim run --licences N --seed S".into());
    }
    let Some(scenario) = super::load_or_report(&path, &args.set) else {
        return Ok(ExitCode::FAILURE);
    };
    let tenant = super::pick_tenant(&scenario, &path, args.tenant.as_deref())?;
    let target = args.target.target(&scenario, &path)?;
    if args.find_min_licences && target.is_empty() {
        return Err(
            "--find-min-licences needs a target\nhelp: add e.g. --deadline 1h --max-bounced 0 (see `relaysim sweep --help`, \"Targets\")"
                .into(),
        );
    }
    if args.find_min_licences && !args.vary.is_empty() {
        return Err("--find-min-licences searches one scenario; --vary makes a grid\nhelp: drop --vary (or give it with --set), or sweep the grid with the target: every point then says whether it meets it".into());
    }
    let variants = variants(&path, &args.set, &args.vary, scenario)?;
    let replicates = args
        .seeds
        .unwrap_or(if args.find_min_licences { 5 } else { 1 });
    let jobs = args
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let name = variants[0].model.name.clone();
    // A shard's own folder by default, beside the sweep's (where its merge goes).
    let default_dir = match args.shard {
        Some(s) => format!("{name}-sweep-shard-{}-of-{}", s.index, s.count),
        None => format!("{name}-sweep"),
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(default_dir));
    let spec = &licences.0;
    if args.shard.is_some() || args.emit_slurm.is_some() {
        let sweep = Wide {
            path: &path,
            variants: &variants,
            tenant,
            target: &target,
            replicates,
            jobs,
            dir: &dir,
            name: &name,
        };
        return shard_or_emit(&args, &sweep, spec);
    }
    // Checked before any run: a folder relaysim may not replace fails now, not after
    // an hour of sweeping.
    let staged = stage(&dir, args.overwrite)?;
    let (lo, hi) = (spec[0], spec[spec.len() - 1]);
    let total = if args.find_min_licences {
        // About log2(range) + 1 counts.
        let range = hi - lo + 1;
        u64::from(replicates) * (u64::from(u32::BITS - range.leading_zeros()) + 1)
    } else {
        (spec.len() * variants.len()) as u64 * u64::from(replicates)
    };
    let bar = progress_bar(total);
    let tick = || bar.inc(1);
    let started = Instant::now();
    let tenant_id = variants[0].model.tenant(tenant).id.clone();
    let vary_keys: Vec<String> = args.vary.iter().map(|v| v.key.clone()).collect();
    let points_dir = staged.path().join("points");
    let mut sweeper = Sweeper::new(&variants, tenant, replicates, &target, jobs, &tick)?;
    if args.keep_runs {
        std::fs::create_dir_all(&points_dir)
            .map_err(|e| format!("cannot create {}: {e}", points_dir.display()))?;
        let (points_dir, variants, keys) = (&points_dir, &variants, &vary_keys);
        sweeper = sweeper.with_runner(Box::new(
            move |model: &scenario::Model, id: PointId, observer: &mut PointObserver| {
                let folder = points_dir.join(point_folder(
                    id,
                    keys,
                    &variants[id.variant as usize].values,
                ));
                report::run_to_folder(model, id.seed, &folder, None, false, observer)
                    .map_err(|e| format!("cannot write {}: {e}", folder.display()))
            },
        ));
    }
    let mut meta = SweepMeta {
        scenario: name.clone(),
        tenant: tenant_id.clone(),
        replicates,
        target: target.describe(),
        delay_bound_s: target.delay_bound().map(|d| d.as_secs_f64()),
        vary: vary_keys.clone(),
        heatmap_metric: heatmap_metric(&target).into(),
        ..SweepMeta::default()
    };
    let (points, code) = if args.find_min_licences {
        let search = sweep::find_min_licences(&sweeper, (lo, hi));
        bar.finish_and_clear();
        let search = search?;
        let code =
            sweep_words::explain_search(&search, &sweeper, (&variants[0].model, &path), (lo, hi));
        match search.verdict {
            sweep::Verdict::Found { licences } => {
                meta.answer = Some(licences);
                meta.verdict = Some("found".into());
            }
            sweep::Verdict::RangeTooSmall { .. } => meta.verdict = Some("range_too_small".into()),
            sweep::Verdict::Unfixable { from, .. } => {
                meta.verdict = Some("licences_cannot_fix".into());
                meta.unfixable_from = Some(from);
            }
        }
        (search.points().cloned().collect::<Vec<Point>>(), code)
    } else {
        let grid: Vec<(u32, u32)> = (0..variants.len() as u32)
            .flat_map(|v| spec.iter().map(move |&l| (v, l)))
            .collect();
        let points = sweeper.run(&grid);
        bar.finish_and_clear();
        let points = points?;
        let values: Vec<Vec<String>> = variants.iter().map(|v| v.values.clone()).collect();
        sweep_words::print_table(&points, &tenant_id, &values, &vary_keys, !target.is_empty());
        (points, ExitCode::SUCCESS)
    };
    let values: Vec<Vec<String>> = variants.iter().map(|v| v.values.clone()).collect();
    let charts = write(staged.path(), &points, &meta, &values)
        .and_then(|charts| staged.publish().map(|()| charts))
        .map_err(|e| {
            format!(
                "could not write the sweep to {}: {e}\nhelp: check that the folder is writable, or choose another with --out DIR",
                dir.display()
            )
        })?;
    let kept = if args.keep_runs {
        format!(", and every run's folder under {}/points/", dir.display())
    } else {
        String::new()
    };
    outln!(
        "{} run{} ({} replicate{} each) on {jobs} threads in {:.2?}; wrote {}/sweep.csv (every run), sweep.json{charts}{kept}",
        group_thousands(points.len() as u64),
        if points.len() == 1 { "" } else { "s" },
        replicates,
        if replicates == 1 { "" } else { "s" },
        started.elapsed(),
        dir.display()
    );
    Ok(code)
}

/// A sweep to run wide: its parts a shard or a job array needs.
struct Wide<'a> {
    path: &'a Path,
    variants: &'a [Variant],
    tenant: relay::TenantIx,
    target: &'a sim::sweep::Target,
    replicates: u32,
    jobs: usize,
    dir: &'a Path,
    name: &'a str,
}

/// `--emit-slurm` (the job array written) or `--shard I/N` (its runs run into its
/// folder, resumed where it stopped).
fn shard_or_emit(args: &SweepArgs, sweep: &Wide, spec: &[u32]) -> Result<ExitCode, String> {
    let runs: Vec<(u32, u32, u32)> = (0..sweep.variants.len() as u32)
        .flat_map(|v| spec.iter().map(move |&l| (v, l)))
        .flat_map(|(v, l)| (0..sweep.replicates).map(move |k| (v, l, k)))
        .collect();
    if let (Some(out), Some(shards)) = (&args.emit_slurm, args.shards) {
        if shards as usize > runs.len() {
            return Err(format!(
                "--shards {shards} is more than the sweep's {} runs\nhelp: at most --shards {}",
                runs.len(),
                runs.len()
            ));
        }
        let cpus = args.jobs.unwrap_or(1);
        let files = sweep_shard::emit_slurm(out, shards, cpus, runs.len(), sweep.path, sweep.name)?;
        outln!(
            "wrote {}/: {} — {} runs in {shards} shards of {cpus} CPU(s); submit with {}/submit.sh",
            out.display(),
            files.join(", "),
            runs.len(),
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let shard = args.shard.expect("--shard or --emit-slurm");
    let values: Vec<Vec<String>> = sweep.variants.iter().map(|v| v.values.clone()).collect();
    let manifest = sweep_shard::Manifest {
        relaysim_version: env!("CARGO_PKG_VERSION").into(),
        scenario_hash: sweep_hash(sweep.path, args, spec, sweep.replicates, sweep.target)?,
        shard: shard.index,
        shards: shard.count,
        runs,
        values,
        meta: SweepMeta {
            scenario: sweep.name.to_string(),
            tenant: sweep.variants[0].model.tenant(sweep.tenant).id.clone(),
            replicates: sweep.replicates,
            target: sweep.target.describe(),
            delay_bound_s: sweep.target.delay_bound().map(|d| d.as_secs_f64()),
            vary: args.vary.iter().map(|v| v.key.clone()).collect(),
            heatmap_metric: heatmap_metric(sweep.target).into(),
            ..SweepMeta::default()
        },
    };
    let todo = sweep_shard::prepare(sweep.dir, &manifest, args.overwrite)?;
    let mine = manifest.runs_of(shard.index).count();
    let bar = progress_bar(todo.len() as u64);
    let tick = || bar.inc(1);
    let started = Instant::now();
    let sweeper = Sweeper::new(
        sweep.variants,
        sweep.tenant,
        1,
        sweep.target,
        sweep.jobs,
        &tick,
    )?;
    let work: Vec<(u32, u32, u32)> = todo.iter().map(|&i| manifest.runs[i]).collect();
    let ran = sweeper.run_items(&work, &|j, point| {
        sweep_shard::save(sweep.dir, todo[j], point)
    });
    bar.finish_and_clear();
    ran?;
    outln!(
        "shard {}/{}: ran {} of its {mine} runs ({} done before) on {} threads in {:.2?}; wrote {}/\nnext: relaysim sweep merge PARTS… --out DIR, once every shard is done",
        shard.index,
        shard.count,
        todo.len(),
        mine - todo.len(),
        sweep.jobs,
        started.elapsed(),
        sweep.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What makes two shards parts of one sweep: the scenario file and every option
/// that changes a run or the list of runs.
fn sweep_hash(
    path: &Path,
    args: &SweepArgs,
    licences: &[u32],
    replicates: u32,
    target: &sim::sweep::Target,
) -> Result<String, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut h = sim::kernel::Fnv1a::default();
    // Each field with its length first, so no two lists of fields hash alike.
    let mut field = |bytes: &[u8]| {
        h.write_u64(bytes.len() as u64);
        h.write(bytes);
    };
    field(&text);
    for o in &args.set {
        field(o.to_string().as_bytes());
    }
    for v in &args.vary {
        field(v.key.as_bytes());
        for x in &v.values {
            field(x.as_bytes());
        }
    }
    field(format!("{licences:?} {replicates} {:?}", args.tenant).as_bytes());
    field(target.describe().as_bytes());
    Ok(format!("{:016x}", h.finish()))
}

/// The sweep's folder, staged (published whole at the end), or why it cannot be.
pub(super) fn stage(dir: &Path, overwrite: bool) -> Result<report::StagedFolder, String> {
    report::StagedFolder::begin(dir, overwrite).map_err(|e| {
        format!(
            "cannot write the sweep to {}: {e}\nhelp: {}",
            dir.display(),
            e.help()
        )
    })
}

/// The scenario once per combination of `--vary` values (the first key varies
/// slowest), each loaded from the file with `--set` and those values.
fn variants(
    path: &Path,
    set: &[Override],
    vary: &[VarySpec],
    scenario: scenario::Model,
) -> Result<Vec<Variant>, String> {
    if vary.is_empty() {
        return Ok(vec![Variant {
            model: scenario,
            values: Vec::new(),
        }]);
    }
    let count: usize = vary.iter().map(|v| v.values.len()).product();
    if count > sweep::MAX_POINTS as usize {
        return Err(format!(
            "the --vary grid has {count} combinations, more than the {} a sweep runs\nhelp: use bigger steps",
            sweep::MAX_POINTS
        ));
    }
    let mut combos: Vec<Vec<String>> = vec![Vec::new()];
    for v in vary {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                v.values.iter().map(move |x| {
                    let mut c = c.clone();
                    c.push(x.clone());
                    c
                })
            })
            .collect();
    }
    combos
        .into_iter()
        .map(|values| {
            let mut overrides = set.to_vec();
            overrides.extend(vary.iter().zip(&values).map(|(v, x)| Override {
                key: v.key.clone(),
                value: x.clone(),
            }));
            let with: Vec<String> = vary
                .iter()
                .zip(&values)
                .map(|(v, x)| format!("{}={x}", v.key))
                .collect();
            match scenario::Model::load_with_overrides(path, super::load_options(), &overrides) {
                Ok(model) => Ok(Variant { model, values }),
                Err(e) => {
                    super::report_load_error(&e);
                    Err(format!(
                        "the scenario with --vary {} is not valid (above)",
                        with.join(" ")
                    ))
                }
            }
        })
        .collect()
}

/// `licences-288-seed-3`, with `-KEY-VALUE` per `--vary` key (its last step, the
/// value's letters and digits).
fn point_folder(id: PointId, keys: &[String], values: &[String]) -> String {
    let mut name = format!("licences-{}-seed-{}", id.licences, id.replicate);
    for (k, v) in keys.iter().zip(values) {
        let k = k.rsplit('.').next().unwrap_or(k);
        let v: String = v
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        name.push_str(&format!("-{k}-{v}"));
    }
    name
}

/// The sweep.csv column a two-key grid's heatmap shows: the figure the target
/// judges first, or the share delivered.
fn heatmap_metric(target: &sim::sweep::Target) -> &'static str {
    if target.deadline.is_some() || target.deliver_by.is_some() {
        "late_msgs"
    } else if target.max_delay.is_some() && target.quantile.is_none() {
        "delay_max_s"
    } else if target.max_p99_delay.is_some() {
        "delay_p99_s"
    } else if target.max_deferred.is_some() {
        "deferred_rcpts"
    } else if target.max_bounced.is_some() {
        "bounced_rcpts"
    } else if target.max_queued.is_some() {
        "queued_at_end_rcpts"
    } else {
        "delivered_rcpts"
    }
}

fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} runs, ETA {eta}")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    bar
}

/// The sweep's files into the staging folder `dir`; returns the charts drawn, in
/// words: ` and capacity.png/.svg`, or why there are none.
pub(super) fn write(
    dir: &Path,
    points: &[Point],
    meta: &SweepMeta,
    values: &[Vec<String>],
) -> std::io::Result<String> {
    let mut csv = Vec::new();
    report::sweep_csv::write(&mut csv, points, &meta.vary, values)?;
    AtomicFile::write_all(&dir.join("sweep.csv"), &csv)?;
    AtomicFile::write_all(&dir.join("sweep.json"), meta.to_json().as_bytes())?;
    let drawn = if points.is_empty() {
        Vec::new()
    } else {
        report::charts::draw_sweep(dir)?
    };
    let pngs: Vec<String> = drawn
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "png"))
        .filter_map(|f| {
            f.file_stem()
                .map(|n| format!("{}.png/.svg", n.to_string_lossy()))
        })
        .collect();
    Ok(if pngs.is_empty() {
        " (no chart: more than two dimensions change)".into()
    } else {
        format!(" and {}", pngs.join(", "))
    })
}
