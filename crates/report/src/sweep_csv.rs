//! `sweep.csv`: one row per licence count and seed of a sweep.

use std::io::{self, Write};

use sim::sweep::{LIMITS, Point};

/// The header: the counts are recipients of the swept tenant.
pub fn header() -> Vec<String> {
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
    h.extend(["delay_p50_s", "delay_p90_s", "delay_p99_s", "delay_max_s"].map(String::from));
    h
}

pub fn write(out: impl Write, points: &[Point]) -> io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(header())?;
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
        csv.write_record(&row)?;
    }
    csv.flush()
}
