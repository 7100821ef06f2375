//! `relaysim compare A B`: two run folders side by side — `compare.md` (every figure of
//! `summary.json` with the difference, every limit's first hit in both) and overlay
//! charts of the two runs on the same axes (`charts::compare`). Read from the folders'
//! files only, like the charts of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::AtomicFile;

/// A run folder, read for comparison.
pub struct RunFolder {
    pub dir: PathBuf,
    /// Every leaf of summary.json by its dotted path (`tenants.acme.recipients.delivered`).
    pub figures: BTreeMap<String, Value>,
    /// The first hit of each limit of each subject: (`limit`, `scope subject`) → seconds.
    pub first_hits: BTreeMap<(String, String), f64>,
}

impl RunFolder {
    pub fn read(dir: &Path) -> io::Result<RunFolder> {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{}: {e} (is it a folder written by `relaysim run`?)",
                    path.display()
                ),
            )
        })?;
        let summary: Value = serde_json::from_str(&text)
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        let mut figures = BTreeMap::new();
        flatten("", &summary, &mut figures);
        let mut first_hits = BTreeMap::new();
        let hits = dir.join("limit_hits.csv");
        if hits.exists() {
            let mut reader = csv::Reader::from_path(&hits)
                .map_err(|e| io::Error::other(format!("{}: {e}", hits.display())))?;
            let header = reader
                .headers()
                .map_err(|e| io::Error::other(format!("{}: {e}", hits.display())))?
                .clone();
            let col = |name: &str| {
                header.iter().position(|h| h == name).ok_or_else(|| {
                    io::Error::other(format!("{}: no `{name}` column", hits.display()))
                })
            };
            let (time, scope, subject, limit, event) = (
                col("time_s")?,
                col("scope")?,
                col("subject")?,
                col("limit")?,
                col("event")?,
            );
            for record in reader.records() {
                let r = record.map_err(|e| io::Error::other(format!("{}: {e}", hits.display())))?;
                if r.get(event) != Some("hit") {
                    continue;
                }
                let key = (
                    r.get(limit).unwrap_or("").to_string(),
                    format!(
                        "{} {}",
                        r.get(scope).unwrap_or(""),
                        r.get(subject).unwrap_or("")
                    ),
                );
                let t: f64 = r.get(time).and_then(|t| t.parse().ok()).unwrap_or(f64::NAN);
                first_hits.entry(key).or_insert(t);
            }
        }
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            figures,
            first_hits,
        })
    }

    fn describe(&self) -> String {
        let s = |k: &str| {
            self.figures
                .get(k)
                .map(|v| v.to_string().trim_matches('"').to_string())
                .unwrap_or_default()
        };
        format!(
            "`{}`: scenario {}, seed {}, relaysim {}",
            self.dir.display(),
            s("scenario"),
            s("seed"),
            s("relaysim_version")
        )
    }
}

/// Every leaf of `v` under `prefix`, by dotted path.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

use sim::numbers::figure as number;

fn signed(d: f64) -> String {
    if d > 0.0 {
        format!("+{}", number(d))
    } else if d == 0.0 {
        "0".into()
    } else {
        number(d)
    }
}

/// A cell for a Markdown table (pipes escaped).
fn cell(v: Option<&Value>) -> String {
    match v {
        None => "—".into(),
        Some(Value::Number(n)) => n.as_f64().map_or(n.to_string(), number),
        Some(Value::String(s)) => s.replace('|', "\\|"),
        Some(Value::Null) => "—".into(),
        Some(other) => other.to_string().replace('|', "\\|"),
    }
}

/// `compare.md` for runs `a` and `b`, linking the charts `charts`.
pub fn markdown(a: &RunFolder, b: &RunFolder, charts: &[&str]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# relaysim compare\n");
    let _ = writeln!(md, "- **A**: {}", a.describe());
    let _ = writeln!(md, "- **B**: {}\n", b.describe());
    let keys: std::collections::BTreeSet<&String> =
        a.figures.keys().chain(b.figures.keys()).collect();
    let mut changed = 0;
    let mut rows = String::new();
    let mut same_rows = String::new();
    let mut other_rows = String::new();
    for key in keys {
        let (x, y) = (a.figures.get(key), b.figures.get(key));
        let diff = match (x.and_then(Value::as_f64), y.and_then(Value::as_f64)) {
            (Some(x), Some(y)) => Some(y - x),
            _ => None,
        };
        let differs = x != y;
        changed += usize::from(differs);
        match diff {
            Some(d) => {
                let table = if differs { &mut rows } else { &mut same_rows };
                let _ = writeln!(
                    table,
                    "| {key} | {} | {} | {} |",
                    cell(x),
                    cell(y),
                    signed(d)
                );
            }
            None if differs => {
                let _ = writeln!(other_rows, "| {key} | {} | {} |", cell(x), cell(y));
            }
            None => {}
        }
    }
    let _ = writeln!(
        md,
        "## Summary figures\n\nEvery number of `summary.json`, by its path in the file: first the {changed} that differ, then those equal in both.\n"
    );
    let header = "| figure | A | B | B − A |\n|---|---:|---:|---:|";
    let _ = writeln!(md, "{header}");
    md.push_str(&rows);
    let _ = writeln!(
        md,
        "\n<details><summary>Figures equal in both</summary>\n\n{header}"
    );
    md.push_str(&same_rows);
    let _ = writeln!(md, "\n</details>");
    if !other_rows.is_empty() {
        let _ = writeln!(md, "\n### Other entries that differ\n");
        let _ = writeln!(md, "| entry | A | B |\n|---|---|---|");
        md.push_str(&other_rows);
    }
    let _ = writeln!(
        md,
        "\n## First hit of each limit\n\nFrom `limit_hits.csv`: seconds after the start; — never hit.\n"
    );
    let limits: std::collections::BTreeSet<&(String, String)> =
        a.first_hits.keys().chain(b.first_hits.keys()).collect();
    if limits.is_empty() {
        let _ = writeln!(md, "No limit was hit in either run.");
    } else {
        let _ = writeln!(
            md,
            "| limit | subject | A | B | B − A |\n|---|---|---:|---:|---:|"
        );
        for key in limits {
            let (x, y) = (a.first_hits.get(key), b.first_hits.get(key));
            let show = |t: Option<&f64>| t.map_or("—".to_string(), |t| format!("{t:.3}"));
            let diff = match (x, y) {
                (Some(x), Some(y)) => signed(((y - x) * 1000.0).round() / 1000.0),
                _ => "—".into(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {diff} |",
                key.0,
                key.1,
                show(x),
                show(y)
            );
        }
    }
    let _ = writeln!(
        md,
        "\n## Charts\n\nBoth runs on the same axes: A blue, B orange.\n"
    );
    for c in charts {
        let _ = writeln!(md, "![{c}]({c}.png)\n");
    }
    md
}

/// Writes `compare.md` and the overlay charts into the (empty) folder `out`.
pub fn write(a: &Path, b: &Path, out: &Path) -> io::Result<Vec<PathBuf>> {
    let (ra, rb) = (RunFolder::read(a)?, RunFolder::read(b)?);
    let mut written = crate::charts::draw_compare(a, b, out)?;
    let names: Vec<String> = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let md = out.join("compare.md");
    AtomicFile::write_all(&md, markdown(&ra, &rb, &names).as_bytes())?;
    written.insert(0, md);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_flattened_to_dotted_figures() {
        let v: Value = serde_json::json!({"a": {"b": 1, "c": {"d": "x"}}, "e": 2.5});
        let mut out = BTreeMap::new();
        flatten("", &v, &mut out);
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a.b", "a.c.d", "e"]);
    }

    #[test]
    fn numbers_read_as_in_the_summary() {
        assert_eq!(number(32500.0), "32,500");
        assert_eq!(number(-4.0), "−4");
        assert_eq!(number(1.5), "1.500");
        assert_eq!(signed(3.0), "+3");
        assert_eq!(signed(0.0), "0");
    }
}
