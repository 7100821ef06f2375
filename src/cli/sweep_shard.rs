//! Sweeps beyond one machine. `relaysim sweep … --shard I/N` runs every N-th run of
//! the sweep's list (runs I, I+N, I+2N …: round-robin over the list in order of
//! variant, licence count and replicate, so every shard gets cheap and dear counts
//! alike) into a partial folder: `manifest.json` (what sweep it is part of) and one
//! `runs/NNNNNN.json` per run, each written whole as soon as it is run, so a shard
//! that is stopped and started again runs only what it had not finished.
//! `relaysim sweep merge PART…` checks the parts belong together and writes the
//! folder the sweep writes on one machine, byte for byte. `--emit-slurm DIR` writes
//! a Slurm job array of the shards and the merge after it.
//!
//! `--find-min-licences` does not shard: bisection picks each licence count from the
//! last answer, so its rounds cannot run side by side. On a cluster, sweep the grid
//! wide with the target instead (every row of `sweep.csv` says whether it meets it),
//! then search the narrow range around the answer on one machine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::output::{errln, outln};
use report::AtomicFile;
use report::sweep_meta::SweepMeta;
use sim::sweep::Point;

/// `--shard I/N`: shard I (from 0) of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Shard, String> {
        let hint = "write I/N, the shard from 0 to N−1 of N, e.g. --shard 3/8 (Slurm: --shard $SLURM_ARRAY_TASK_ID/8)";
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not a shard; {hint}"))?;
        let (index, count): (u32, u32) = match (i.trim().parse(), n.trim().parse()) {
            (Ok(i), Ok(n)) => (i, n),
            _ => return Err(format!("`{text}` is not a shard; {hint}")),
        };
        if count == 0 || index >= count {
            return Err(format!("shard {index} of {count} does not exist; {hint}"));
        }
        Ok(Shard { index, count })
    }
}

/// What sweep a part belongs to: equal in every part but for `shard`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub relaysim_version: String,
    /// A hash of the scenario file, `--set`, `--vary`, the licence counts, the
    /// replicates, the tenant and the target.
    pub scenario_hash: String,
    pub shard: u32,
    pub shards: u32,
    /// Every run of the sweep, in order: (variant, licence count, replicate).
    pub runs: Vec<(u32, u32, u32)>,
    /// Per variant, its `--vary` values.
    pub values: Vec<Vec<String>>,
    /// `sweep.json` of the merged sweep.
    pub meta: SweepMeta,
}

impl Manifest {
    /// Whether `other` is a part of the same sweep (any shard).
    fn same_sweep(&self, other: &Manifest) -> bool {
        Manifest {
            shard: other.shard,
            ..self.clone()
        } == *other
    }

    /// The indices of `runs` shard `shard` runs.
    pub fn runs_of(&self, shard: u32) -> impl Iterator<Item = usize> + '_ {
        (shard as usize..self.runs.len()).step_by(self.shards as usize)
    }

    fn describe_run(&self, i: usize) -> String {
        let (v, l, k) = self.runs[i];
        let values = &self.values[v as usize];
        let with = if values.is_empty() {
            String::new()
        } else {
            let keys: Vec<String> = self
                .meta
                .vary
                .iter()
                .zip(values)
                .map(|(k, x)| format!("{k}={x}"))
                .collect();
            format!(" with {}", keys.join(", "))
        };
        format!("{l} licences replicate {k}{with}")
    }
}

fn run_file(dir: &Path, i: usize) -> PathBuf {
    dir.join("runs").join(format!("{i:06}.json"))
}

fn read_manifest(dir: &Path) -> Result<Option<Manifest>, String> {
    let path = dir.join("manifest.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e} (not a sweep shard's manifest)", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Prepares the shard's folder: its manifest written, or the one there checked to be
/// this shard's. Returns the indices of the runs still to do.
pub fn prepare(dir: &Path, manifest: &Manifest, overwrite: bool) -> Result<Vec<usize>, String> {
    match read_manifest(dir)? {
        Some(found) if found == *manifest => {}
        Some(found) if !overwrite => {
            let what = if found.same_sweep(manifest) {
                format!("shard {}/{} of this sweep", found.shard, found.shards)
            } else {
                "a shard of another sweep (another scenario, options or relaysim version)".into()
            };
            return Err(format!(
                "{} holds {what}\nhelp: give each shard its own --out folder, or --overwrite to start this one afresh there",
                dir.display()
            ));
        }
        Some(_) => std::fs::remove_dir_all(dir.join("runs"))
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?,
        None => {
            let holds_files = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
            if holds_files && !overwrite {
                return Err(format!(
                    "{} exists and is not a sweep shard's folder\nhelp: choose another --out, or --overwrite",
                    dir.display()
                ));
            }
        }
    }
    std::fs::create_dir_all(dir.join("runs"))
        .map_err(|e| format!("cannot create {}: {e}", dir.join("runs").display()))?;
    let text = serde_json::to_string_pretty(manifest).expect("serialisable") + "\n";
    AtomicFile::write_all(&dir.join("manifest.json"), text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", dir.join("manifest.json").display()))?;
    Ok(manifest
        .runs_of(manifest.shard)
        .filter(|&i| !run_file(dir, i).exists())
        .collect())
}

/// Writes run `i`'s point, whole or not at all.
pub fn save(dir: &Path, i: usize, point: &Point) -> Result<(), String> {
    let path = run_file(dir, i);
    let text = serde_json::to_string(point).expect("serialisable") + "\n";
    AtomicFile::write_all(&path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// The shards' folders (`relaysim sweep … --shard I/N --out DIR`), any order.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// Output folder (default: results/<scenario name>-sweep/), replaced whole.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the output folder even if relaysim did not make it.
    #[arg(long)]
    overwrite: bool,
}

pub fn merge(args: MergeArgs) -> ExitCode {
    match merge_or_explain(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            errln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn merge_or_explain(args: &MergeArgs) -> Result<(), String> {
    let mut parts: Vec<(Manifest, &PathBuf)> = Vec::new();
    for dir in &args.parts {
        let manifest = read_manifest(dir)?.ok_or_else(|| {
            format!(
                "{} has no manifest.json: it is not a shard's folder\nhelp: give the --out folders of `relaysim sweep … --shard I/N`",
                dir.display()
            )
        })?;
        if let Some((first, first_dir)) = parts.first()
            && !first.same_sweep(&manifest)
        {
            return Err(format!(
                "{} and {} are shards of different sweeps (scenario, options, licence counts, replicates or relaysim version differ)",
                first_dir.display(),
                dir.display()
            ));
        }
        if let Some((_, twice)) = parts.iter().find(|(m, _)| m.shard == manifest.shard) {
            return Err(format!(
                "{} and {} are both shard {}/{}\nhelp: give each shard once",
                twice.display(),
                dir.display(),
                manifest.shard,
                manifest.shards
            ));
        }
        parts.push((manifest, dir));
    }
    let manifest = parts[0].0.clone();
    let mut points = Vec::with_capacity(manifest.runs.len());
    let mut missing: Vec<(usize, u32)> = Vec::new();
    for i in 0..manifest.runs.len() {
        let shard = (i % manifest.shards as usize) as u32;
        let Some((_, dir)) = parts.iter().find(|(m, _)| m.shard == shard) else {
            missing.push((i, shard));
            continue;
        };
        let path = run_file(dir, i);
        match std::fs::read_to_string(&path) {
            Ok(text) => points.push(
                serde_json::from_str::<Point>(&text)
                    .map_err(|e| format!("{}: {e}", path.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push((i, shard)),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        }
    }
    if !missing.is_empty() {
        let mut shards: Vec<u32> = missing.iter().map(|&(_, s)| s).collect();
        shards.dedup();
        shards.sort_unstable();
        shards.dedup();
        let named: Vec<String> = missing
            .iter()
            .take(5)
            .map(|&(i, s)| format!("{} (shard {s})", manifest.describe_run(i)))
            .collect();
        let list: Vec<String> = shards.iter().map(u32::to_string).collect();
        return Err(format!(
            "{} of {} runs are missing: {}{}\nhelp: run shard{} {} again (`--shard I/{}` with the same options; Slurm: sbatch --array={} sweep.sbatch), then merge",
            missing.len(),
            manifest.runs.len(),
            named.join(", "),
            if missing.len() > 5 { ", …" } else { "" },
            if shards.len() == 1 { "" } else { "s" },
            list.join(", "),
            manifest.shards,
            list.join(",")
        ));
    }
    let dir = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!("{}-sweep", manifest.meta.scenario))
    });
    let staged = super::sweep::stage(&dir, args.overwrite)?;
    let meta = &manifest.meta;
    super::sweep_words::print_table(
        &points,
        &meta.tenant,
        &manifest.values,
        &meta.vary,
        !meta.target.is_empty(),
    );
    let charts = super::sweep::write(staged.path(), &points, meta, &manifest.values)
        .and_then(|charts| staged.publish().map(|()| charts))
        .map_err(|e| format!("could not write the sweep to {}: {e}", dir.display()))?;
    outln!(
        "merged {} runs from {} shards; wrote {}/sweep.csv (every run), sweep.json{charts}",
        points.len(),
        manifest.shards,
        dir.display()
    );
    Ok(())
}

/// `'text'` for a POSIX shell.
fn quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The command line of this sweep as given, without the options `--emit-slurm`
/// replaces (its own, `--shards`, `--out`, `--jobs`, `--overwrite`).
pub fn sweep_arguments() -> Vec<String> {
    let with_value = ["--emit-slurm", "--shards", "--out", "--jobs"];
    let mut kept = Vec::new();
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        if with_value.contains(&a.as_str()) {
            args.next();
        } else if a == "--overwrite" || with_value.iter().any(|o| a.starts_with(&format!("{o}="))) {
        } else {
            kept.push(a);
        }
    }
    kept
}

/// Writes the Slurm files into `dir`: `sweep.sbatch` (a job array of `shards`
/// tasks, each `cpus` CPUs), `merge.sbatch`, `submit.sh` and a README.
pub fn emit_slurm(
    dir: &Path,
    shards: u32,
    cpus: u16,
    runs: usize,
    scenario_path: &Path,
    name: &str,
) -> Result<Vec<String>, String> {
    // logs/ before any job: Slurm cannot open an output file in a missing folder.
    std::fs::create_dir_all(dir.join("logs"))
        .map_err(|e| format!("cannot create {}: {e}", dir.join("logs").display()))?;
    let absolute = |p: &Path| {
        std::path::absolute(p).map_err(|e| format!("cannot resolve {}: {e}", p.display()))
    };
    let dir = absolute(dir)?;
    let binary =
        std::env::current_exe().map_err(|e| format!("cannot find relaysim itself: {e}"))?;
    let scenario = absolute(scenario_path)?;
    // The user's arguments, with the scenario made absolute (the jobs run in `dir`).
    let args: Vec<String> = sweep_arguments()
        .into_iter()
        .map(|a| {
            if Path::new(&a) == scenario_path {
                scenario.display().to_string()
            } else {
                a
            }
        })
        .collect();
    let command: Vec<String> = std::iter::once(binary.display().to_string())
        .chain(args)
        .map(|a| quote(&a))
        .collect();
    let last = shards - 1;
    let sweep = format!(
        "#!/bin/bash\n\
         # relaysim sweep of {name}: {runs} runs in {shards} shards, one array task each.\n\
         # Submit with ./submit.sh (or: sbatch sweep.sbatch; rerun one shard, e.g. shard 1: sbatch --array=1 sweep.sbatch).\n\
         #SBATCH --job-name=relaysim-{name}\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --chdir={dir}\n\
         #SBATCH --output={dir}/logs/shard-%a.out\n\
         set -euo pipefail\n\
         exec {} --shard \"$SLURM_ARRAY_TASK_ID/{shards}\" --jobs \"${{SLURM_CPUS_PER_TASK:-{cpus}}}\" --out \"{dir}/shards/shard-$SLURM_ARRAY_TASK_ID\"\n",
        command.join(" "),
        dir = quote(&dir.display().to_string()),
    );
    let parts: Vec<String> = (0..shards)
        .map(|i| {
            quote(
                &dir.join("shards")
                    .join(format!("shard-{i}"))
                    .display()
                    .to_string(),
            )
        })
        .collect();
    let merge = format!(
        "#!/bin/bash\n\
         # Merges the {shards} shards of the relaysim sweep of {name} into {merged}/ (run after the array: see submit.sh).\n\
         #SBATCH --job-name=relaysim-{name}-merge\n\
         #SBATCH --cpus-per-task=1\n\
         #SBATCH --chdir={dir}\n\
         #SBATCH --output={dir}/logs/merge.out\n\
         set -euo pipefail\n\
         exec {binary} sweep merge {parts} --out {merged} --overwrite\n",
        dir = quote(&dir.display().to_string()),
        binary = quote(&binary.display().to_string()),
        parts = parts.join(" "),
        merged = quote(&dir.join("merged").display().to_string()),
    );
    let submit = format!(
        "#!/bin/bash\n\
         # Submits the shards as a job array and the merge after every task of it succeeded.\n\
         set -euo pipefail\n\
         cd {dir}\n\
         mkdir -p logs\n\
         array=$(sbatch --parsable sweep.sbatch)\n\
         merge=$(sbatch --parsable --dependency=afterok:\"${{array%%;*}}\" merge.sbatch)\n\
         echo \"submitted job array $array ({shards} shards) and merge job $merge\"\n",
        dir = quote(&dir.display().to_string()),
    );
    let readme = format!(
        "# A relaysim sweep as a Slurm job array\n\n\
         `{name}`: {runs} runs in {shards} shards of {cpus} CPU{s} each.\n\n\
         - `./submit.sh` submits `sweep.sbatch` (array tasks 0–{last}, each `relaysim sweep … --shard $SLURM_ARRAY_TASK_ID/{shards}` into `shards/shard-N/`) and `merge.sbatch` with `--dependency=afterok` on the array.\n\
         - The merged sweep lands in `merged/` (`sweep.csv`, `sweep.json`, the capacity chart), byte for byte what `relaysim sweep` writes on one machine. Each task's output is in `logs/`.\n\
         - A shard that failed or was preempted, e.g. shard {last}: `sbatch --array={last} sweep.sbatch` runs it again; it skips the runs it finished. Then `sbatch merge.sbatch`. The merge names any shard whose runs are missing.\n",
        s = if cpus == 1 { "" } else { "s" },
    );
    let files = [
        ("sweep.sbatch", sweep),
        ("merge.sbatch", merge),
        ("submit.sh", submit),
        ("README.md", readme),
    ];
    for (file, text) in &files {
        let path = dir.join(file);
        AtomicFile::write_all(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if file.ends_with(".sh") || file.ends_with(".sbatch") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("cannot make {} executable: {e}", path.display()))?;
        }
    }
    Ok(files.iter().map(|(f, _)| f.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_i_of_n() {
        assert_eq!("3/8".parse::<Shard>(), Ok(Shard { index: 3, count: 8 }));
        assert!(
            "8/8"
                .parse::<Shard>()
                .unwrap_err()
                .contains("does not exist")
        );
        assert!("x".parse::<Shard>().unwrap_err().contains("write I/N"));
        assert!("1/0".parse::<Shard>().is_err());
    }

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(quote("--licences"), "--licences");
        assert_eq!(quote("550 5.7.1=0"), "'550 5.7.1=0'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
