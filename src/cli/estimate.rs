//! What a run is expected to take, in the user's words, and what it took: the
//! pre-run estimate (`scenario::estimate`) beside the process's measured peak.

use scenario::estimate::Estimate;

use super::group_thousands;

/// The process's peak resident memory so far (`VmHWM` of `/proc/self/status`), on
/// Linux; `None` where the kernel does not say.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Bytes as whole megabytes (10⁶), at least 1.
pub fn megabytes(bytes: f64) -> String {
    format!(
        "{} MB",
        group_thousands((bytes / 1e6).round().max(1.0) as u64)
    )
}

/// One line: expected messages, recipients, deepest queue, memory and rows.
pub fn describe(e: &Estimate) -> String {
    format!(
        "expected: ~{} messages, ~{} recipients, queues up to ~{} messages, ~{} of memory, {} rows per results file",
        group_thousands(e.messages.round() as u64),
        group_thousands(e.recipients.round() as u64),
        group_thousands(e.peak_queue.round() as u64),
        megabytes(e.memory.total()),
        group_thousands(e.rows_per_file()),
    )
}
