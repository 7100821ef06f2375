//! Runs the swarm (random valid scenarios, every invariant, the trace oracle; see
//! `sim::swarm`) for as many seeds as asked:
//!
//! ```sh
//! cargo run --release --example swarm -- 10000            # seeds 0..10000
//! cargo run --release --example swarm -- 500 --from 7000  # seeds 7000..7500
//! ```
//!
//! In a release build the invariants are checked once at the end of each run; a debug
//! build (`cargo run --example swarm`) checks them after every event. The first
//! failing seed prints its scenario and the command exits 1.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: swarm [COUNT] [--from SEED]";
    let mut count: u64 = 1_000;
    let mut from: u64 = 0;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let number = |v: Option<&String>| v.and_then(|v| v.replace('_', "").parse::<u64>().ok());
        match arg.as_str() {
            "--from" => match number(it.next()) {
                Some(n) => from = n,
                None => {
                    eprintln!("error: --from needs a seed number\n{usage}");
                    return ExitCode::FAILURE;
                }
            },
            "-h" | "--help" => {
                println!("{usage}");
                return ExitCode::SUCCESS;
            }
            other => match number(Some(&other.to_string())) {
                Some(n) => count = n,
                None => {
                    eprintln!("error: `{other}` is not a count\n{usage}");
                    return ExitCode::FAILURE;
                }
            },
        }
    }
    let started = std::time::Instant::now();
    let (mut transactions, mut hits) = (0u64, 0u64);
    for seed in from..from + count {
        match sim::swarm::check(seed) {
            Ok(o) => {
                transactions += o.transactions;
                hits += o.limit_hits;
            }
            Err(failure) => {
                eprintln!("{failure}");
                return ExitCode::FAILURE;
            }
        }
        let done = seed - from + 1;
        if done.is_multiple_of(100) || done == count {
            eprintln!(
                "{done}/{count} seeds passed ({transactions} transactions, {hits} limit hits, {:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!("{count} passed, 0 failed");
    ExitCode::SUCCESS
}
