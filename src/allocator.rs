//! How the process's allocator (glibc's malloc) is tuned, set once at start-up by
//! every program that runs simulations: `relaysim`, `examples/run_bare` and the
//! benchmarks, so that what is measured is what users run.

/// Sets glibc's allocator for runs, before any thread starts:
///
/// - **Large blocks in their own mappings** (`M_MMAP_THRESHOLD` 256 KiB, fixed):
///   glibc raises its threshold (up to 32 MiB) each time a large block is freed,
///   after which blocks up to that size come from the heap and, once freed, stay
///   resident: the parse of a large scenario and every doubling of a queue's vectors
///   would leave their old blocks behind (the 10,000-sender scenario: 119 MB peak
///   RSS for 100 MB of live data). A fixed threshold keeps blocks of 256 KiB and more
///   in their own mappings, which `realloc` grows in place and `free` returns at once.
/// - **Freed heap kept for the next run** (`M_TRIM_THRESHOLD` 64 MiB): by default
///   glibc gives the top of the heap back to the system as soon as 128 KiB of it is
///   free, that is at the end of every run, and the next run of a sweep (or of a
///   benchmark) takes every page back with a page fault: 1,550 faults, 6 % of a
///   SimPy-equivalent day's time. Kept, the pages serve the next run; peak RSS is
///   unchanged (the same blocks are reused: 10,000 senders 89.2 → 89.4 MB,
///   100,000-member population 388.6 → 388.6 MB).
pub fn tune_for_runs() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters; called before any thread is
    // started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    }
}
