//! Whole runs, the relay and the world together: the embedded quickstart (a day of
//! a 250-licence company through one Postfix host) and the 36,000-licence day
//! (`scenarios/large-tenant-cap.toml`: four hubs, ~5.2 M recipients against the
//! 4.6 M cap). No output files: the run alone. And the SimPy-equivalent scenario
//! (`benches/data/`, written by `../shared/bench/gen_scenario.py`, the counterpart
//! of `simpy_relay.py`) at 1× and 10× traffic, per simulated message. And what
//! `quota_usage.csv` costs a run: the same runs with an observer that asks for the
//! windows' highest use per bucket (as the run folder's writer does), against none.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use relaysim::relay::time::SimTime;
use relaysim::scenario::Model;
use relaysim::sim::{self, Observation, Observer};

/// Asks for the quota usage of every bucket, as the run folder's `quota_usage.csv`
/// writer does, and drops what it is told.
struct SamplesUsage;

impl Observer for SamplesUsage {
    fn observe(&mut self, _: SimTime, _: &Observation<'_>) {}
    fn busiest_users(&self) -> Option<usize> {
        Some(10)
    }
}

fn runs(c: &mut Criterion) {
    relaysim::allocator::tune_for_runs();
    let quickstart = Model::parse(
        "quickstart.toml",
        include_str!("../scenarios/quickstart.toml"),
    )
    .expect("the quickstart is valid");
    let large = Model::load(std::path::Path::new("scenarios/large-tenant-cap.toml"))
        .expect("the large-tenant scenario is valid");
    let mut group = c.benchmark_group("run");
    group.sample_size(10);
    group.bench_function("quickstart_day", |b| {
        b.iter(|| black_box(sim::run(&quickstart, 1, &mut ()).expect("the run checks out")))
    });
    group.bench_function("large_tenant_36000_licences_day", |b| {
        b.iter(|| black_box(sim::run(&large, 36, &mut ()).expect("the run checks out")))
    });
    group.finish();

    let mut group = c.benchmark_group("usage_sampling");
    group.sample_size(10);
    group.bench_function("quickstart_day", |b| {
        b.iter(|| {
            black_box(sim::run(&quickstart, 1, &mut SamplesUsage).expect("the run checks out"))
        })
    });
    group.bench_function("large_tenant_36000_licences_day", |b| {
        b.iter(|| black_box(sim::run(&large, 36, &mut SamplesUsage).expect("the run checks out")))
    });
    group.finish();

    let mut group = c.benchmark_group("simpy_equivalent");
    group.sample_size(10);
    for (name, file) in [
        ("1x", "benches/data/simpy-equivalent.toml"),
        ("10x", "benches/data/simpy-equivalent-10x.toml"),
    ] {
        let model = Model::load(std::path::Path::new(file)).expect("the scenario is valid");
        let messages = sim::run(&model, model.seed, &mut ())
            .expect("the run checks out")
            .total
            .messages
            .generated;
        // Elements are simulated messages: criterion's time per element is the
        // figure to set beside SimPy's.
        group.throughput(Throughput::Elements(messages));
        group.bench_function(name, |b| {
            b.iter(|| black_box(sim::run(&model, model.seed, &mut ()).expect("the run checks out")))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = runs
}
criterion_main!(benches);
