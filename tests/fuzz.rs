//! Mutation fuzzing of the scenario format and the run: the shipped scenarios,
//! mutated line by line (deleted, duplicated, numbers and durations replaced by
//! extreme values, truncated, random bytes inserted), are validated; every mutant that
//! validates and is small enough is run with a wall-clock budget. Any panic, hang or
//! run that fails its own checks fails the test, with the mutant to reproduce it.
//!
//! `cargo test` checks `MUTANTS` inputs (about a minute in a debug build);
//! `RELAYSIM_FUZZ=N cargo test --release --test fuzz` checks N.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha12Rng;
use relaysim::scenario::Model;
use relaysim::sim;

const MUTANTS: u64 = 2_000;
/// Runs longer than this are a hang.
const RUN_BUDGET: Duration = Duration::from_secs(20);
/// Mutants expected to generate more messages than this are only validated.
const RUN_AT_MOST_MESSAGES: f64 = 20_000.0;

const EXTREME_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "1e308",
    "inf",
    "nan",
    "0.0000001",
    "99999999999",
    "-0",
    "1_000",
];
const EXTREME_DURATIONS: &[&str] = &[
    "\"0s\"",
    "\"1ms\"",
    "\"10000d\"",
    "\"-1s\"",
    "\"\"",
    "\"1y\"",
    "\"999999999999h\"",
];

fn shipped() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in ["scenarios", "scenarios/regression"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path.display().to_string(), text));
            }
        }
    }
    files.sort();
    files
}

/// One random mutation of `text`.
fn mutate(text: &str, rng: &mut ChaCha12Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return String::new();
    }
    let i = rng.random_range(0..lines.len());
    match rng.random_range(0..6u8) {
        0 => {
            lines.remove(i);
        }
        1 => {
            let copy = lines[i].clone();
            lines.insert(i, copy);
        }
        2 | 3 => {
            // The value of a `key = value` line, replaced by an extreme one.
            if let Some((key, _)) = lines[i].split_once('=') {
                let pool = if rng.random_range(0..2u8) == 0 {
                    EXTREME_NUMBERS
                } else {
                    EXTREME_DURATIONS
                };
                let value = pool[rng.random_range(0..pool.len())];
                lines[i] = format!("{key}= {value}");
            }
        }
        4 => {
            let joined = lines.join("\n");
            let mut cut = rng.random_range(0..=joined.len());
            while !joined.is_char_boundary(cut) {
                cut -= 1;
            }
            return joined[..cut].to_string();
        }
        _ => {
            let noise: String = (0..rng.random_range(1..8))
                .map(|_| char::from(rng.random_range(0x20u8..0x7f)))
                .collect();
            let at = rng.random_range(0..=lines[i].len());
            if lines[i].is_char_boundary(at) {
                lines[i].insert_str(at, &noise);
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Validates `text` (named `file`); runs it if it is valid and small. `Err` says what
/// went wrong.
fn check(file: &str, text: &str) -> Result<(), String> {
    let parsed =
        catch_unwind(|| Model::parse(file, text)).map_err(|_| "validation panicked".to_string())?;
    let Ok(model) = parsed else { return Ok(()) };
    if model.estimate().messages > RUN_AT_MOST_MESSAGES {
        return Ok(());
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(|| sim::run(&model, model.seed, &mut ())));
        let _ = tx.send(match outcome {
            Err(_) => Err("the run panicked".to_string()),
            Ok(Err(sim::RunError::TooManyRecipients(_))) | Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the run failed its own checks: {e}")),
        });
    });
    rx.recv_timeout(RUN_BUDGET)
        .map_err(|_| format!("the run took more than {RUN_BUDGET:?}"))?
}

#[test]
fn mutated_scenarios_never_panic_hang_or_break_a_run() {
    let n = std::env::var("RELAYSIM_FUZZ")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MUTANTS);
    let files = shipped();
    let mut rng = ChaCha12Rng::seed_from_u64(13);
    let mut valid = 0u64;
    for k in 0..n {
        let (file, text) = &files[rng.random_range(0..files.len())];
        let mut mutant = mutate(text, &mut rng);
        if rng.random_range(0..3u8) == 0 {
            mutant = mutate(&mutant, &mut rng);
        }
        if Model::parse(file, &mutant).is_ok() {
            valid += 1;
        }
        if let Err(problem) = check(file, &mutant) {
            panic!("mutant {k} of {file}: {problem}\n--- the mutant ---\n{mutant}");
        }
    }
    // The mutations must leave many inputs valid, or the runs are never exercised.
    assert!(valid > n / 10, "only {valid} of {n} mutants were valid");
}

/// Random bytes are never a panic.
#[test]
fn random_bytes_are_refused_cleanly() {
    let mut rng = ChaCha12Rng::seed_from_u64(7);
    for _ in 0..2_000 {
        let len = rng.random_range(0..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let text = String::from_utf8_lossy(&bytes);
        let result = catch_unwind(|| Model::parse("bytes.toml", &text));
        assert!(result.is_ok(), "panicked on {bytes:?}");
    }
}
