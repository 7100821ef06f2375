//! `sweep.csv`: one row per run of a sweep (licence count × replicate, and the
//! `--vary` values), every run a search evaluated included.
//!
//! The columns up to `delay_max_s` are those of earlier versions, in the same order;
//! then the replicate, the deferral attempts, the late messages and whether the run
//! met the target; then, per point (the replicates of one licence count and one set
//! of `--vary` values), the mean, min and max of the main figures; last, one column
//! per `--vary` key, named by the key.

use std::collections::BTreeMap;
use std::io::{self, Write};

use sim::sweep::{LIMITS, Point};

/// A figure of a run, by its column name.
type Figure = (&'static str, fn(&Point) -> Option<f64>);

/// The figures whose mean, min and max over a point's replicates each row carries.
const STATS: [Figure; 7] = [
    ("delivered_rcpts", |p| Some(p.delivered as f64)),
    ("deferred_rcpts", |p| Some(p.deferred as f64)),
    ("deferral_attempts", |p| Some(p.deferral_attempts as f64)),
    ("bounced_rcpts", |p| Some(p.bounced as f64)),
    ("queued_at_end_rcpts", |p| Some(p.queued_at_end as f64)),
    ("delay_p99_s", |p| p.delay_s.map(|d| d[2])),
    ("delay_max_s", |p| p.delay_s.map(|d| d[3])),
];

/// The header: the counts are recipients of the swept tenant.
pub fn header(vary_keys: &[String]) -> Vec<String> {
    let mut h: Vec<String> = [
        "licences",
        "seed",
        "generated_rcpts",
        "delivered_rcpts",
        "deferred_rcpts",
        "bounced_rcpts",
        "queued_at_end_rcpts",
    ]
    .map(String::from)
    .to_vec();
    h.extend(LIMITS.map(|l| format!("first_hit_{}_s", l.name())));
    h.extend(
        [
            "delay_p50_s",
            "delay_p90_s",
            "delay_p99_s",
            "delay_max_s",
            "replicate",
            "deferral_attempts",
            "late_msgs",
            "meets_target",
        ]
        .map(String::from),
    );
    for (name, _) in STATS {
        for stat in ["mean", "min", "max"] {
            h.push(format!("{name}_{stat}"));
        }
    }
    h.extend(vary_keys.iter().cloned());
    h
}

/// Writes `points`; `values[v]` are the `--vary` values of variant `v`.
pub fn write(
    out: impl Write,
    points: &[Point],
    vary_keys: &[String],
    values: &[Vec<String>],
) -> io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(header(vary_keys))?;
    let mut groups: BTreeMap<(u32, u32), Vec<&Point>> = BTreeMap::new();
    for p in points {
        groups.entry((p.variant, p.licences)).or_default().push(p);
    }
    let opt = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_default();
    for p in points {
        let mut row = vec![
            p.licences.to_string(),
            p.seed.to_string(),
            p.generated.to_string(),
            p.delivered.to_string(),
            p.deferred.to_string(),
            p.bounced.to_string(),
            p.queued_at_end.to_string(),
        ];
        row.extend(p.first_hits.map(opt));
        for i in 0..4 {
            row.push(opt(p.delay_s.map(|d| d[i])));
        }
        row.push(p.replicate.to_string());
        row.push(p.deferral_attempts.to_string());
        row.push(p.late.max(p.late_by).to_string());
        row.push(match p.meets {
            Some(true) => "yes".into(),
            Some(false) => "no".into(),
            None => String::new(),
        });
        let group = &groups[&(p.variant, p.licences)];
        for (_, figure) in STATS {
            match crate::charts::sweep_data::mean_min_max(group.iter().filter_map(|p| figure(p))) {
                Some((mean, min, max)) => row.extend([mean, min, max].map(|x| format!("{x:.3}"))),
                None => row.extend([String::new(), String::new(), String::new()]),
            }
        }
        if let Some(v) = values.get(p.variant as usize) {
            row.extend(v.iter().cloned());
        }
        csv.write_record(&row)?;
    }
    csv.flush()
}
