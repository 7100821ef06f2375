//! `sweep.json`: what a sweep was asked and what it found, beside `sweep.csv`: the
//! target, the search's answer, the `--vary` keys. The sweep's charts read it (they
//! are drawn from the folder's files only, so `relaysim plot` redraws them).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepMeta {
    pub scenario: String,
    /// The tenant whose licences change.
    pub tenant: String,
    pub replicates: u32,
    /// The target as command-line options (empty: none).
    pub target: String,
    /// The delay the target bounds (deadline, max delay or p99), seconds.
    pub delay_bound_s: Option<f64>,
    /// `--find-min-licences`: the smallest count meeting the target at every replicate.
    pub answer: Option<u32>,
    /// `--find-min-licences`: `found`, `range_too_small` or `licences_cannot_fix`.
    pub verdict: Option<String>,
    /// With `licences_cannot_fix`: the count from which every count runs alike.
    pub unfixable_from: Option<u32>,
    /// The `--vary` keys (columns of sweep.csv), in order.
    pub vary: Vec<String>,
    /// The sweep.csv column the heatmap of a two-dimensional grid shows.
    pub heatmap_metric: String,
}

impl SweepMeta {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("always serialisable") + "\n"
    }

    /// `dir/sweep.json`, if there is one (sweeps of earlier versions have none).
    pub fn read(dir: &std::path::Path) -> std::io::Result<Option<SweepMeta>> {
        let path = dir.join("sweep.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}
