//! A sweep folder's `sweep.csv` (and `sweep.json`, when there is one), read back for
//! its charts: the runs grouped into points (one set of `--vary` values and one
//! licence count), each with its replicates' figures.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::sweep_meta::SweepMeta;

/// The replicates of one point.
#[derive(Clone, Debug, Default)]
pub struct SweepPoint {
    pub licences: u32,
    /// The `--vary` values, in the order of `SweepMeta::vary`.
    pub values: Vec<String>,
    /// Per replicate, every numeric column by name.
    pub runs: Vec<BTreeMap<String, f64>>,
    /// Per replicate: met the target (`None`: no target).
    pub meets: Vec<Option<bool>>,
}

impl SweepPoint {
    /// Mean, min and max of `column` over the replicates (missing values skipped).
    pub fn stats(&self, column: &str) -> Option<(f64, f64, f64)> {
        mean_min_max(self.runs.iter().filter_map(|r| r.get(column).copied()))
    }

    /// Whether every replicate met the target (`None`: no target was given).
    pub fn meets(&self) -> Option<bool> {
        if self.meets.iter().any(Option::is_none) {
            return None;
        }
        Some(self.meets.iter().all(|m| *m == Some(true)))
    }

    /// `column` over `generated_rcpts`, in per cent (mean, min, max).
    pub fn share(&self, column: &str) -> Option<(f64, f64, f64)> {
        mean_min_max(self.runs.iter().filter_map(|r| {
            let total = r.get("generated_rcpts").copied()?.max(1.0);
            Some(100.0 * r.get(column).copied()? / total)
        }))
    }
}

/// (mean, min, max) of `xs`, `None` when empty.
pub fn mean_min_max(xs: impl Iterator<Item = f64>) -> Option<(f64, f64, f64)> {
    let (mut n, mut sum, mut min, mut max) = (0u32, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    for x in xs {
        n += 1;
        sum += x;
        min = min.min(x);
        max = max.max(x);
    }
    (n > 0).then(|| (sum / f64::from(n), min, max))
}

/// A sweep read back: its description and its points in file order.
#[derive(Clone, Debug, Default)]
pub struct Sweep {
    pub meta: SweepMeta,
    pub points: Vec<SweepPoint>,
}

impl Sweep {
    /// The distinct values of dimension `d` (0: licences, k: the k-th `--vary` key), in
    /// increasing numeric order.
    pub fn dimension(&self, d: usize) -> Vec<String> {
        let mut values: Vec<String> = Vec::new();
        for p in &self.points {
            let v = self.value(p, d);
            if !values.contains(&v) {
                values.push(v);
            }
        }
        values.sort_by(|a, b| leading_number(a).total_cmp(&leading_number(b)));
        values
    }

    /// The value of dimension `d` at `p`.
    pub fn value(&self, p: &SweepPoint, d: usize) -> String {
        if d == 0 {
            p.licences.to_string()
        } else {
            p.values.get(d - 1).cloned().unwrap_or_default()
        }
    }

    /// The name of dimension `d`.
    pub fn dimension_name(&self, d: usize) -> String {
        if d == 0 {
            "licences".into()
        } else {
            self.meta.vary.get(d - 1).cloned().unwrap_or_default()
        }
    }

    /// The dimensions with more than one value.
    pub fn varied(&self) -> Vec<usize> {
        (0..=self.meta.vary.len())
            .filter(|&d| self.dimension(d).len() > 1)
            .collect()
    }
}

/// `4000/h` → 4000: the number a value starts with, for ordering and axes.
pub fn leading_number(text: &str) -> f64 {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(text.len());
    text[..end].parse().unwrap_or(0.0)
}

pub fn read(dir: &Path) -> io::Result<Sweep> {
    let path = dir.join("sweep.csv");
    let bad = |e: &dyn std::fmt::Display| io::Error::other(format!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_path(&path).map_err(|e| bad(&e))?;
    let header = reader.headers().map_err(|e| bad(&e))?.clone();
    let meta = SweepMeta::read(dir)?.unwrap_or_default();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(licences), Some(_)) = (col("licences"), col("generated_rcpts")) else {
        return Err(bad(
            &"not a sweep.csv (no licences and generated_rcpts columns)",
        ));
    };
    let vary: Vec<Option<usize>> = meta.vary.iter().map(|k| col(k)).collect();
    let meets = col("meets_target");
    let mut points: Vec<SweepPoint> = Vec::new();
    let mut index: BTreeMap<(u32, Vec<String>), usize> = BTreeMap::new();
    for record in reader.records() {
        let r = record.map_err(|e| bad(&e))?;
        let l = r
            .get(licences)
            .and_then(|x| x.parse::<u32>().ok())
            .ok_or_else(|| bad(&"a row without a licence count"))?;
        let values: Vec<String> = vary
            .iter()
            .map(|c| c.and_then(|c| r.get(c)).unwrap_or("").to_string())
            .collect();
        let run: BTreeMap<String, f64> = header
            .iter()
            .zip(r.iter())
            .filter_map(|(h, x)| Some((h.to_string(), x.parse::<f64>().ok()?)))
            .collect();
        let met = meets.and_then(|c| match r.get(c) {
            Some("yes") => Some(true),
            Some("no") => Some(false),
            _ => None,
        });
        match index.get(&(l, values.clone())) {
            Some(&i) => {
                points[i].runs.push(run);
                points[i].meets.push(met);
            }
            None => {
                index.insert((l, values.clone()), points.len());
                points.push(SweepPoint {
                    licences: l,
                    values,
                    runs: vec![run],
                    meets: vec![met],
                });
            }
        }
    }
    Ok(Sweep { meta, points })
}
