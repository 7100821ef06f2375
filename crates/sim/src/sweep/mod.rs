//! Capacity sweeps: one scenario at many licence counts (and values of other keys,
//! `--vary`) × replicates, in parallel, with common random numbers.
//!
//! **Common random numbers.** Replicate `k` of every point runs with the same seed
//! ([`replicate_seed`]). Each entity draws from its own stream, derived from the seed
//! and the entity alone, and the only draws are the traffic's (arrivals, recipients,
//! sizes) and the relay's D3 background load, none of which looks at the relay's
//! answers. So replicate `k` offers the same traffic at every licence count; only the
//! relay's answers (and what the MTAs do about them) change, and
//! `relaysim run --licences N --seed S` reproduces the sweep's row (N, S).
//!
//! Points run on a rayon pool and come back in input order: the output is the same
//! whatever the number of threads.

mod point;
mod search;
mod spec;
mod target;

pub use point::{FixedLimitHit, Point, PointObserver};
pub use search::{Evaluated, Search, Verdict, find_min_licences};
pub use spec::{LicenceSpec, MAX_POINTS, VarySpec};
pub use target::{DeliverBy, Target};

use rayon::prelude::*;

use crate::kernel::Fnv1a;
use crate::{RunReport, ZipfTables};
use relay::{LimitKind, TenantIx};
use scenario::Model;

/// The limits whose first hit a sweep row reports.
pub const LIMITS: [LimitKind; 4] = [
    LimitKind::CustomerDay,
    LimitKind::CustomerPeak,
    LimitKind::UserMessages,
    LimitKind::UserUniqueRecipients,
];

/// The seed of replicate `k`: the scenario's own seed for replicate 0 (so `run` with
/// the scenario as it is reproduces it), a hash of the seed and `k` for the others.
/// It does not depend on the licence count: that is what makes the random numbers
/// common to every point.
pub fn replicate_seed(scenario_seed: u64, k: u32) -> u64 {
    if k == 0 {
        return scenario_seed;
    }
    let mut h = Fnv1a::default();
    h.write_u64(scenario_seed);
    h.write_u64(u64::from(k));
    h.finish()
}

/// The scenario with `tenant` at `licences` licences.
pub fn with_licences(model: &Model, tenant: TenantIx, licences: u32) -> Model {
    let mut m = model.clone();
    m.tenant_mut(tenant).licences = licences;
    m
}

/// One variant of the scenario a sweep runs: the scenario itself, or the scenario
/// with one combination of `--vary` values (`values`, one per varied key).
#[derive(Clone, Debug)]
pub struct Variant {
    pub model: Model,
    pub values: Vec<String>,
}

/// Which run of a sweep: variant, licence count, replicate and its seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointId {
    pub variant: u32,
    pub licences: u32,
    pub replicate: u32,
    pub seed: u64,
}

/// How a sweep runs one point: in memory by default ([`Sweeper::new`]); the command
/// line's `--keep-runs` writes each point's run folder instead.
pub type Runner<'a> =
    dyn Fn(&Model, PointId, &mut PointObserver) -> Result<RunReport, String> + Sync + 'a;

/// Runs the points of a sweep on a thread pool.
pub struct Sweeper<'a> {
    pub variants: &'a [Variant],
    pub tenant: TenantIx,
    pub replicates: u32,
    pub target: &'a Target,
    pool: rayon::ThreadPool,
    runner: Box<Runner<'a>>,
    progress: &'a (dyn Fn() + Sync),
}

impl<'a> Sweeper<'a> {
    /// A sweep of `variants` (at least one) run in memory on `jobs` threads; the
    /// Zipf tables of every variant are built once, here, and shared by every run;
    /// `progress` is called after each run, from any thread.
    pub fn new(
        variants: &'a [Variant],
        tenant: TenantIx,
        replicates: u32,
        target: &'a Target,
        jobs: usize,
        progress: &'a (dyn Fn() + Sync),
    ) -> Result<Self, String> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build()
            .map_err(|e| format!("cannot start {jobs} worker threads: {e}"))?;
        let mut tables = ZipfTables::default();
        for v in variants {
            tables.add_model(&v.model);
        }
        let runner = Box::new(move |model: &Model, id: PointId, obs: &mut PointObserver| {
            crate::run_with_tables(model, id.seed, obs, crate::TimerOrder::AsScheduled, &tables)
                .map_err(|e| e.to_string())
        });
        Ok(Sweeper {
            variants,
            tenant,
            replicates: replicates.max(1),
            target,
            pool,
            runner,
            progress,
        })
    }

    /// Runs each point with `runner` instead (e.g. to keep its run folder).
    pub fn with_runner(mut self, runner: Box<Runner<'a>>) -> Self {
        self.runner = runner;
        self
    }

    /// Runs every (variant, licence count) of `points` at every replicate. Results
    /// are in input order, replicates in order, whatever the number of threads.
    pub fn run(&self, points: &[(u32, u32)]) -> Result<Vec<Point>, String> {
        let work: Vec<(u32, u32, u32)> = points
            .iter()
            .flat_map(|&(v, l)| (0..self.replicates).map(move |k| (v, l, k)))
            .collect();
        self.pool.install(|| {
            work.par_iter()
                .map(|&(v, l, k)| {
                    let p = self.run_point(v, l, k);
                    (self.progress)();
                    p
                })
                .collect()
        })
    }

    /// Runs the (variant, licence count, replicate) items of `work`, calling `done`
    /// with each item's index and point as soon as it is run (a shard writes it
    /// there, so an interrupted shard keeps what it ran). Results in input order.
    pub fn run_items(
        &self,
        work: &[(u32, u32, u32)],
        done: &(dyn Fn(usize, &Point) -> Result<(), String> + Sync),
    ) -> Result<Vec<Point>, String> {
        self.pool.install(|| {
            work.par_iter()
                .enumerate()
                .map(|(i, &(v, l, k))| {
                    let p = self.run_point(v, l, k)?;
                    done(i, &p)?;
                    (self.progress)();
                    Ok(p)
                })
                .collect()
        })
    }

    fn run_point(&self, variant: u32, licences: u32, k: u32) -> Result<Point, String> {
        let v = &self.variants[variant as usize];
        let id = PointId {
            variant,
            licences,
            replicate: k,
            seed: replicate_seed(v.model.seed, k),
        };
        let model = with_licences(&v.model, self.tenant, licences);
        let mut observer = PointObserver::new(self.tenant, self.target, &model);
        let report = (self.runner)(&model, id, &mut observer).map_err(|e| {
            let at = if v.values.is_empty() {
                String::new()
            } else {
                format!(" with {}", v.values.join(", "))
            };
            format!("the run at {licences} licences{at}, seed {}: {e}", id.seed)
        })?;
        let mut point = Point::of(&report, &model, self.tenant, id, &observer, self.target);
        if !self.target.is_empty() {
            point.meets = Some(self.target.misses(&point).is_empty());
        }
        Ok(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_the_replicate_only() {
        assert_eq!(
            replicate_seed(9, 0),
            9,
            "replicate 0 is the scenario's own run"
        );
        assert_eq!(replicate_seed(9, 3), replicate_seed(9, 3));
        assert_ne!(replicate_seed(9, 1), replicate_seed(9, 2));
        assert_ne!(replicate_seed(9, 1), replicate_seed(10, 1));
    }
}
