//! The kernel's event queue in the classic hold model (pop the earliest event,
//! schedule one a random increment later) next to a bare `BinaryHeap` doing the same,
//! at 100, 10,000 and 1,000,000 pending events. The ratio is the kernel's overhead.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use relaysim::kernel::EventQueue;
use relaysim::time::SimTime;

const HOLDS: u64 = 100_000;

/// A cheap deterministic increment generator (xorshift), identical for both loops.
fn increments() -> impl FnMut() -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % 10_000
    }
}

fn hold(c: &mut Criterion) {
    let mut group = c.benchmark_group("hold");
    group.throughput(Throughput::Elements(HOLDS));
    for pending in [100u64, 10_000, 1_000_000] {
        group.bench_with_input(
            BenchmarkId::new("kernel", pending),
            &pending,
            |b, &pending| {
                let mut next = increments();
                let mut q: EventQueue<u32> = EventQueue::with_capacity(pending as usize + 1);
                for i in 0..pending {
                    q.schedule(SimTime(next()), i as u32);
                }
                b.iter(|| {
                    for _ in 0..HOLDS {
                        let (t, e) = q.pop_until(SimTime(u64::MAX)).unwrap();
                        q.schedule(SimTime(t.as_millis() + next()), black_box(e));
                    }
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("bare_heap", pending),
            &pending,
            |b, &pending| {
                let mut next = increments();
                let mut heap: BinaryHeap<Reverse<(u64, u32)>> =
                    BinaryHeap::with_capacity(pending as usize + 1);
                for i in 0..pending {
                    heap.push(Reverse((next(), i as u32)));
                }
                b.iter(|| {
                    for _ in 0..HOLDS {
                        let Reverse((t, e)) = heap.pop().unwrap();
                        heap.push(Reverse((t + next(), black_box(e))));
                    }
                });
            },
        );
    }
    group.finish();
}

// Criterion's own charts are off: plotters here has only the bundled-font backend,
// which criterion does not register; the numbers are what matter.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = hold
}
criterion_main!(benches);
