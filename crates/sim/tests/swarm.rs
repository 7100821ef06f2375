//! The swarm in `cargo test`: a fixed set of random scenarios, every invariant on,
//! each run re-checked by the trace oracle (see `sim::swarm`). More seeds by hand:
//! `cargo run --release --example swarm -- 10000`.

/// Seeds checked on every `cargo test` (a debug build: invariants after every event).
const SEEDS: u64 = 60;

#[test]
fn random_scenarios_keep_every_invariant() {
    let mut transactions = 0;
    let mut hits = 0;
    for seed in 0..SEEDS {
        match sim::swarm::check(seed) {
            Ok(outcome) => {
                transactions += outcome.transactions;
                hits += outcome.limit_hits;
            }
            Err(failure) => panic!("{failure}"),
        }
    }
    // The swarm must exercise the limits, not only pass.
    assert!(transactions > 1_000, "{transactions} transactions");
    assert!(hits > 10, "{hits} limit hits");
}
