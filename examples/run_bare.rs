//! A scenario's run alone — no output files, no observer — timed per simulated
//! message: the figure set beside SimPy's (`../shared/bench/`), and a steady target
//! for `perf record` and `valgrind --tool=callgrind`.
//!
//! ```text
//! cargo run --release --example run_bare -- benches/data/simpy-equivalent.toml [runs]
//! ```

use std::io::Write;
use std::time::Instant;

use relaysim::scenario::Model;
use relaysim::sim;

fn main() {
    // The allocator as `relaysim` has it: what is timed is what users run.
    relaysim::allocator::tune_for_runs();
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: run_bare SCENARIO [RUNS]");
        std::process::exit(2);
    };
    let runs: u32 = match args.next().map(|r| r.parse()) {
        None => 1,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("RUNS must be a whole number above 0");
            std::process::exit(2);
        }
    };
    let model = match Model::load(std::path::Path::new(&path)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    for _ in 0..runs {
        let start = Instant::now();
        let report = match sim::run(&model, model.seed, &mut ()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        };
        let took = start.elapsed();
        let messages = report.total.messages.generated;
        let line = writeln!(
            std::io::stdout(),
            "{messages} messages, {} events in {:.1} ms: {:.3} µs per message (fingerprint {})",
            report.events_processed,
            took.as_secs_f64() * 1e3,
            took.as_secs_f64() * 1e6 / messages.max(1) as f64,
            report.fingerprint_hex(),
        );
        if line.is_err() {
            return; // stdout closed (`run_bare … | head -1`): nobody reads the rest
        }
    }
}
