//! Scenario text in, `validate` then (when small) `run`: no input may panic, hang or
//! run away. libFuzzer's `-timeout` and `-rss_limit_mb` catch the last two. The seed
//! corpus is the shipped scenarios (`fuzz/seed-corpus`, filled by `.ci/fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relaysim::scenario::Model;
use relaysim::sim;

/// Runs with more expected messages than this are only validated: the fuzzer wants
/// many inputs a second, and the run of a big scenario is the benchmarks' business.
const RUN_AT_MOST_MESSAGES: f64 = 2_000.0;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(model) = Model::parse("fuzz.toml", text) else {
        return;
    };
    let estimate = model.estimate();
    if estimate.messages <= RUN_AT_MOST_MESSAGES && estimate.rows_per_file() <= 100_000 {
        let report = sim::run(&model, model.seed, &mut ()).expect("a valid scenario runs");
        let _ = report.total;
    }
});
