//! Capacity sweeps: the same scenario at many licence counts × seeds, in parallel.
//!
//! Each point is an independent run (`sim::run`), so points run on a rayon pool and
//! are collected in input order: the output is the same whatever the number of
//! threads. Seeds are derived from the scenario seed, the licence count and the
//! replication number, so a point's result does not depend on which other points
//! are in the sweep.

use std::str::FromStr;

use rayon::prelude::*;

use crate::kernel::Fnv1a;
use crate::{RunError, RunReport, ZipfTables};
use relay::time::SimDuration;
use relay::{LimitChange, LimitKind, TenantIx};
use scenario::Model;

/// A list of licence counts: `50,100,250`, `100..1000:100` (inclusive, step), or
/// `10..100000:log:25` (25 points spaced evenly on a log scale, rounded, deduplicated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenceSpec(pub Vec<u32>);

/// Most licence counts one sweep runs (each is a run per seed).
pub const MAX_POINTS: u32 = 10_000;

impl FromStr for LicenceSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let hint =
            "write a list `50,100,250`, a range `100..1000:100` or a log range `10..100000:log:25`";
        let number = |s: &str| -> Result<u32, String> {
            s.trim()
                .replace('_', "")
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("`{s}` is not a licence count of 1 or more; {hint}"))
        };
        let too_many = |n: u64| {
            format!(
                "`{text}` names {n} licence counts, more than the {MAX_POINTS} a sweep runs; use a bigger step or a log range such as `10..100000:log:25`"
            )
        };
        let mut values = if let Some((range, rest)) = text.split_once(':') {
            let (lo, hi) = range
                .split_once("..")
                .ok_or_else(|| format!("`{text}`: a range needs `..`; {hint}"))?;
            let (lo, hi) = (number(lo)?, number(hi)?);
            if lo > hi {
                return Err(format!("`{text}` runs backwards; {hint}"));
            }
            let count = |s: &str, what: &str| -> Result<u32, String> {
                s.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        format!("`{s}` in `{text}` is not a {what} of 1 or more; {hint}")
                    })
            };
            if let Some(points) = rest.strip_prefix("log:") {
                let n = count(points, "number of points")?.max(2);
                if n > MAX_POINTS {
                    return Err(too_many(u64::from(n)));
                }
                // libm: the same points on every platform.
                let (a, b) = (libm::log(f64::from(lo)), libm::log(f64::from(hi)));
                (0..n)
                    .map(|i| {
                        libm::exp(a + (b - a) * f64::from(i) / f64::from(n - 1)).round() as u32
                    })
                    .collect()
            } else {
                let step = count(rest, "step")?;
                let n = u64::from(hi - lo) / u64::from(step) + 1;
                if n > u64::from(MAX_POINTS) {
                    return Err(too_many(n));
                }
                (lo..=hi).step_by(step as usize).collect()
            }
        } else {
            let list = text.split(',').map(number).collect::<Result<Vec<_>, _>>()?;
            if list.len() > MAX_POINTS as usize {
                return Err(too_many(list.len() as u64));
            }
            list
        };
        values.sort_unstable();
        values.dedup();
        if values.is_empty() {
            return Err(format!("`{text}` names no licence count; {hint}"));
        }
        Ok(LicenceSpec(values))
    }
}

/// The limits whose first hit a sweep row reports.
pub const LIMITS: [LimitKind; 4] = [
    LimitKind::CustomerDay,
    LimitKind::CustomerPeak,
    LimitKind::UserMessages,
    LimitKind::UserUniqueRecipients,
];

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub licences: u32,
    pub replication: u32,
    pub seed: u64,
    pub generated: u64,
    pub delivered: u64,
    /// Recipient deferrals over all attempts (4xx, refused connections).
    pub deferred: u64,
    pub bounced: u64,
    pub queued_at_end: u64,
    /// First hit of each of `LIMITS` for the tenant, if any.
    pub first_hits: [Option<f64>; 4],
    /// Delivery-delay percentiles in seconds: p50, p90, p99, max.
    pub delay_s: Option<[f64; 4]>,
}

/// The seed of replication `k` at `licences`: a hash of the scenario seed, the point
/// and `k`, so adding points or seeds changes no other point's seed.
pub fn point_seed(scenario_seed: u64, licences: u32, k: u32) -> u64 {
    let mut h = Fnv1a::default();
    h.write_u64(scenario_seed);
    h.write_u64(u64::from(licences));
    h.write_u64(u64::from(k));
    h.finish()
}

/// The scenario with `tenant` at `licences` licences.
pub fn with_licences(model: &Model, tenant: TenantIx, licences: u32) -> Model {
    let mut m = model.clone();
    m.tenant_mut(tenant).licences = licences;
    m
}

/// Runs one point; `tables` are the scenario's Zipf tables, built once for the sweep
/// (`ZipfTables::for_model`).
pub fn run_point(
    model: &Model,
    tables: &ZipfTables,
    tenant: TenantIx,
    licences: u32,
    k: u32,
) -> Result<Point, RunError> {
    let seed = point_seed(model.seed, licences, k);
    let point_model = with_licences(model, tenant, licences);
    let report = crate::run_with_tables(
        &point_model,
        seed,
        &mut (),
        crate::TimerOrder::AsScheduled,
        tables,
    )?;
    Ok(point(&report, tenant, licences, k))
}

fn point(report: &RunReport, tenant: TenantIx, licences: u32, k: u32) -> Point {
    let t = &report.tenants[tenant.0 as usize];
    let first_hits = LIMITS.map(|limit| {
        report
            .limit_events
            .iter()
            .find(|e| {
                e.change == LimitChange::Hit && e.key.limit == limit && e.tenant == Some(tenant)
            })
            .map(|e| e.time.as_millis() as f64 / 1000.0)
    });
    let d = &report.tenant_delays[tenant.0 as usize];
    let s = |ms: u64| ms as f64 / 1000.0;
    Point {
        licences,
        replication: k,
        seed: report.seed,
        generated: t.counts.recipients.generated,
        delivered: t.counts.recipients.delivered,
        deferred: t.deferrals,
        bounced: t.counts.recipients.bounced,
        queued_at_end: t.counts.recipients.queued_at_end,
        first_hits,
        delay_s: (!d.is_empty()).then(|| {
            [
                s(d.value_at_quantile(0.5)),
                s(d.value_at_quantile(0.9)),
                s(d.value_at_quantile(0.99)),
                s(d.max()),
            ]
        }),
    }
}

/// Runs every licence count × `seeds` replications on `jobs` threads; `progress` is
/// called after each run (from any thread). Results are in (licences, replication)
/// order whatever `jobs` is.
pub fn sweep(
    model: &Model,
    tenant: TenantIx,
    licences: &[u32],
    seeds: u32,
    jobs: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Point>, String> {
    let work: Vec<(u32, u32)> = licences
        .iter()
        .flat_map(|&l| (0..seeds).map(move |k| (l, k)))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| format!("cannot start {jobs} worker threads: {e}"))?;
    let tables = ZipfTables::for_model(model);
    pool.install(|| {
        work.par_iter()
            .map(|&(l, k)| {
                let p = run_point(model, &tables, tenant, l, k);
                progress();
                p.map_err(|e| format!("the run at {l} licences, seed {k}: {e}"))
            })
            .collect()
    })
}

/// What `--find-min-licences` must meet, at every seed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Target {
    pub max_bounced: Option<u64>,
    pub max_deferred: Option<u64>,
    pub max_queued: Option<u64>,
    pub max_p99_delay: Option<SimDuration>,
}

impl Target {
    /// Why `p` misses the target (`None`: it meets it).
    pub fn miss(&self, p: &Point) -> Option<String> {
        let over = |what: &str, got: u64, max: Option<u64>| {
            max.filter(|m| got > *m)
                .map(|m| format!("{got} recipients {what} (at most {m} wanted)"))
        };
        over("bounced", p.bounced, self.max_bounced)
            .or_else(|| over("deferred", p.deferred, self.max_deferred))
            .or_else(|| over("still queued at the end", p.queued_at_end, self.max_queued))
            .or_else(|| {
                let max = self.max_p99_delay?;
                let p99 = p.delay_s.map_or(0.0, |d| d[2]);
                (p99 > max.as_secs_f64())
                    .then(|| format!("p99 delivery delay {p99:.0} s (at most {} wanted)", max))
            })
    }
}

/// The outcome of `--find-min-licences`.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    /// The smallest count that met the target, with its points.
    pub found: Option<(u32, Vec<Point>)>,
    /// The largest count that missed it, with the reason.
    pub below: Option<(u32, String)>,
    /// Every count tried, in order, with whether it met the target.
    pub tried: Vec<(u32, bool)>,
}

/// Binary search for the smallest licence count in `[lo, hi]` whose runs (every
/// seed) meet `target`, assuming more licences never make things worse.
pub fn find_min_licences(
    model: &Model,
    tenant: TenantIx,
    (lo, hi): (u32, u32),
    seeds: u32,
    jobs: usize,
    target: &Target,
    progress: &(dyn Fn() + Sync),
) -> Result<Search, String> {
    let mut search = Search {
        found: None,
        below: None,
        tried: Vec::new(),
    };
    let evaluate = |licences: u32, search: &mut Search| -> Result<bool, String> {
        let points = sweep(model, tenant, &[licences], seeds, jobs, progress)?;
        let miss = points.iter().find_map(|p| target.miss(p));
        search.tried.push((licences, miss.is_none()));
        match miss {
            None => {
                if search.found.as_ref().is_none_or(|(f, _)| licences < *f) {
                    search.found = Some((licences, points));
                }
                Ok(true)
            }
            Some(why) => {
                if search.below.as_ref().is_none_or(|(b, _)| licences > *b) {
                    search.below = Some((licences, why));
                }
                Ok(false)
            }
        }
    };
    if !evaluate(hi, &mut search)? {
        return Ok(search);
    }
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if evaluate(mid, &mut search)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(search)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_specs() {
        let table = [
            ("50,100,250", vec![50, 100, 250]),
            ("250, 50,50", vec![50, 250]),
            ("100..500:100", vec![100, 200, 300, 400, 500]),
            ("10..1000:log:3", vec![10, 100, 1000]),
            ("1_000", vec![1000]),
        ];
        for (text, expected) in table {
            assert_eq!(text.parse::<LicenceSpec>().unwrap().0, expected, "{text}");
        }
        for bad in ["", "0", "a,b", "500..100:10", "10..100", "10..100:log:x"] {
            assert!(bad.parse::<LicenceSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn seeds_depend_on_the_point_only() {
        assert_eq!(point_seed(1, 100, 0), point_seed(1, 100, 0));
        assert_ne!(point_seed(1, 100, 0), point_seed(1, 100, 1));
        assert_ne!(point_seed(1, 100, 0), point_seed(1, 101, 0));
        assert_ne!(point_seed(1, 100, 0), point_seed(2, 100, 0));
    }
}
