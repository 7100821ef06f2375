//! `relaysim sweep`: a scenario at many licence counts × seeds, in parallel; or the
//! smallest licence count that meets a target (`--find-min-licences`).

use super::output::{errln, outln};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::group_thousands;
use relay::TenantIx;
use relay::time::SimDuration;
use report::AtomicFile;
use scenario::values::parse_duration;
use sim::sweep::{self, LicenceSpec, Point, Target};

#[derive(Args)]
pub struct SweepArgs {
    /// Scenario file.
    scenario: PathBuf,
    /// Licence counts: `50,100,250`, `100..1000:100` or `10..100000:log:25`.
    #[arg(long, value_parser = |s: &str| s.parse::<LicenceSpec>())]
    licences: LicenceSpec,
    /// Replications per licence count (seeds derived from the scenario seed), 1 to 10,000.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    seeds: u32,
    /// Worker threads (default: one per core), 1 to 1,024.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    /// Output folder (default: results/<scenario name>-sweep/), replaced whole.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the output folder even if relaysim did not make it.
    #[arg(long)]
    overwrite: bool,
    /// The tenant whose licences change (needed when the scenario has several).
    #[arg(long)]
    tenant: Option<String>,
    /// Search the licence range for the smallest count that meets the --max-* target.
    #[arg(long)]
    find_min_licences: bool,
    /// Target: at most this many bounced recipients.
    #[arg(long)]
    max_bounced: Option<u64>,
    /// Target: at most this many recipient deferrals.
    #[arg(long)]
    max_deferred: Option<u64>,
    /// Target: at most this many recipients still queued at the end.
    #[arg(long)]
    max_queued: Option<u64>,
    /// Target: p99 delivery delay at most this, e.g. "15m".
    #[arg(long, value_parser = |s: &str| parse_duration(s).map_err(|e| scenario::diagnostic::split_hint(&e).0.to_string()))]
    max_p99_delay: Option<SimDuration>,
}

pub fn sweep(args: SweepArgs) -> ExitCode {
    let Some(scenario) = super::load_or_report(&args.scenario) else {
        return ExitCode::FAILURE;
    };
    let ids: Vec<&str> = scenario.tenants.iter().map(|t| t.id.as_str()).collect();
    let tenant = match (&args.tenant, ids.len()) {
        (Some(id), _) => scenario.tenant_ix(id).ok_or_else(|| {
            format!(
                "no tenant `{id}` in {}\nhelp: the tenants are: {}",
                args.scenario.display(),
                ids.join(", ")
            )
        }),
        (None, 1) => Ok(TenantIx(0)),
        (None, _) => Err(format!(
            "{} has several tenants; say whose licences to sweep\nhelp: add --tenant ID, one of: {}",
            args.scenario.display(),
            ids.join(", ")
        )),
    };
    let tenant = match tenant {
        Ok(t) => t,
        Err(message) => {
            errln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let target = Target {
        max_bounced: args.max_bounced,
        max_deferred: args.max_deferred,
        max_queued: args.max_queued,
        max_p99_delay: args.max_p99_delay,
    };
    if args.find_min_licences && target == Target::default() {
        errln!(
            "error: --find-min-licences needs a target\nhelp: add e.g. --max-bounced 0 --max-p99-delay 15m"
        );
        return ExitCode::FAILURE;
    }
    let seeds = args.seeds;
    let jobs = args
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let dir = args
        .out
        .unwrap_or_else(|| PathBuf::from("results").join(format!("{}-sweep", scenario.name)));
    // Checked before any run: a folder relaysim may not replace fails now, not after
    // an hour of sweeping.
    let staged = match report::StagedFolder::begin(&dir, args.overwrite) {
        Ok(s) => s,
        Err(e) => {
            errln!(
                "error: cannot write the sweep to {}: {e}\nhelp: {}",
                dir.display(),
                e.help()
            );
            return ExitCode::FAILURE;
        }
    };
    let spec = &args.licences.0;
    let total = if args.find_min_licences {
        // About log2(range) + 1 evaluations.
        let range = spec[spec.len() - 1] - spec[0] + 1;
        u64::from(seeds) * (u64::from(u32::BITS - range.leading_zeros()) + 1)
    } else {
        (spec.len() as u64) * u64::from(seeds)
    };
    let bar = progress_bar(total);
    let tick = || bar.inc(1);
    let started = Instant::now();
    let tenant_id = scenario.tenant(tenant).id.clone();
    let result = if args.find_min_licences {
        let range = (spec[0], spec[spec.len() - 1]);
        sweep::find_min_licences(&scenario, tenant, range, seeds, jobs, &target, &tick).map(
            |search| {
                explain(&search, &tenant_id, range, &target);
                // sweep.csv holds the runs of the answer.
                let points = search
                    .found
                    .as_ref()
                    .map(|f| f.1.clone())
                    .unwrap_or_default();
                (points, search.found.is_some())
            },
        )
    } else {
        sweep::sweep(&scenario, tenant, spec, seeds, jobs, &tick).map(|p| (p, true))
    };
    bar.finish_and_clear();
    let (points, ok) = match result {
        Ok(r) => r,
        Err(e) => {
            errln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !args.find_min_licences {
        print_table(&points, &tenant_id);
    }
    if let Err(e) = write(staged.path(), &points, &scenario.name).and_then(|()| staged.publish()) {
        errln!(
            "error: could not write the sweep to {}: {e}\nhelp: check that the folder is writable, or choose another with --out DIR",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    outln!(
        "{} runs on {jobs} threads in {:.2?}; wrote {}/sweep.csv and capacity.png/.svg",
        group_thousands(points.len() as u64),
        started.elapsed(),
        dir.display()
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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

/// The sweep's files into the (empty) staging folder `dir`.
fn write(dir: &std::path::Path, points: &[Point], name: &str) -> std::io::Result<()> {
    let mut csv = Vec::new();
    report::sweep_csv::write(&mut csv, points)?;
    AtomicFile::write_all(&dir.join("sweep.csv"), &csv)?;
    if !points.is_empty() {
        report::charts::draw_sweep(dir, &format!("{name} — outcome against licences"))?;
    }
    Ok(())
}

/// One line per licence count: means over the seeds.
fn print_table(points: &[Point], tenant: &str) {
    outln!("tenant {tenant}:");
    outln!(
        "{:>9}  {:>11}  {:>9}  {:>9}  {:>9}  {:>10}  first hit of",
        "licences",
        "delivered %",
        "deferred",
        "bounced",
        "queued",
        "p99 delay"
    );
    let mut i = 0;
    while i < points.len() {
        let l = points[i].licences;
        let group: Vec<&Point> = points[i..].iter().take_while(|p| p.licences == l).collect();
        i += group.len();
        let n = group.len() as f64;
        let mean = |f: &dyn Fn(&Point) -> f64| group.iter().map(|p| f(p)).sum::<f64>() / n;
        let delivered = mean(&|p| 100.0 * p.delivered as f64 / p.generated.max(1) as f64);
        let p99 = mean(&|p| p.delay_s.map_or(0.0, |d| d[2]));
        let hits: Vec<String> = sweep::LIMITS
            .iter()
            .enumerate()
            .filter_map(|(k, limit)| {
                let first = group
                    .iter()
                    .filter_map(|p| p.first_hits[k])
                    .fold(f64::INFINITY, f64::min);
                first.is_finite().then(|| {
                    format!(
                        "{} at {}",
                        limit.name(),
                        SimDuration::from_millis((first * 1000.0) as u64)
                    )
                })
            })
            .collect();
        outln!(
            "{:>9}  {:>10.2}%  {:>9.0}  {:>9.0}  {:>9.0}  {:>9.0}s  {}",
            group_thousands(u64::from(l)),
            delivered,
            mean(&|p| p.deferred as f64),
            mean(&|p| p.bounced as f64),
            mean(&|p| p.queued_at_end as f64),
            p99,
            if hits.is_empty() {
                "-".to_string()
            } else {
                hits.join(", ")
            }
        );
    }
}

fn explain(search: &sweep::Search, tenant: &str, (lo, hi): (u32, u32), target: &Target) {
    let tried: Vec<String> = search
        .tried
        .iter()
        .map(|(l, ok)| format!("{l} {}", if *ok { "meets" } else { "misses" }))
        .collect();
    outln!(
        "searched {lo}..{hi} licences for tenant {tenant}: {}",
        tried.join(", ")
    );
    match (&search.found, &search.below) {
        (Some((l, points)), below) => {
            let worst_p99 = points
                .iter()
                .filter_map(|p| p.delay_s.map(|d| d[2]))
                .fold(0.0, f64::max);
            let bounced: u64 = points.iter().map(|p| p.bounced).max().unwrap_or(0);
            outln!(
                "answer: {l} licences meet the target at every seed (worst seed: {bounced} bounced, p99 delay {worst_p99:.0} s)"
            );
            if let Some((b, why)) = below {
                outln!("because at {b} licences: {why}");
            } else if *l == lo {
                outln!("the lowest count tried already meets it; try a lower --licences range");
            }
        }
        (None, Some((b, why))) => {
            outln!("answer: none — even {b} licences miss the target: {why}");
            outln!(
                "help: widen the range (--licences {lo}..{}:1) or relax the target ({target:?})",
                b * 10
            );
        }
        (None, None) => outln!("answer: nothing was run"),
    }
}
