//! Whole runs, the relay and the world together: the embedded quickstart (a day of
//! a 250-licence company through one Postfix host) and the 36,000-licence day
//! (`scenarios/large-tenant-cap.toml`: four hubs, ~5.2 M recipients against the
//! 4.6 M cap). No output files: the run alone.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use relaysim::scenario::Model;
use relaysim::sim;

fn runs(c: &mut Criterion) {
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
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = runs
}
criterion_main!(benches);
