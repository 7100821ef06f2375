//! Sweeps in shards (`relaysim sweep … --shard I/N`, `relaysim sweep merge`): the
//! merged folder is byte for byte the one-process sweep's, for every N from 1 to the
//! number of runs and every `--jobs`; interrupted shards resume; merge names what is
//! missing; `--emit-slurm` writes the job array.

mod common;

use common::{relaysim, stderr, stdout};
use std::path::Path;

const SCENARIO: &str = "scenarios/helpdesk-burst.toml";
/// 3 licence counts × 2 replicates: 6 runs.
const SWEEP: [&str; 6] = [
    "--licences",
    "200,300,400",
    "--seeds",
    "2",
    "--deadline",
    "10m",
];

fn ok(args: &[&str]) -> String {
    let o = relaysim(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

fn sweep(extra: &[&str], out: &Path) -> String {
    let mut args = vec!["sweep", SCENARIO];
    args.extend(SWEEP);
    args.extend(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    ok(&args)
}

fn shards(n: u32, jobs: &str, root: &Path, extra: &[&str]) -> Vec<String> {
    (0..n)
        .map(|i| {
            let part = root.join(format!("n{n}-j{jobs}-part{i}"));
            let shard = format!("{i}/{n}");
            let mut args = extra.to_vec();
            args.extend(["--shard", &shard, "--jobs", jobs]);
            sweep(&args, &part);
            part.to_str().unwrap().to_string()
        })
        .collect()
}

fn merge(parts: &[String], out: &Path) -> String {
    let mut args = vec!["sweep", "merge"];
    args.extend(parts.iter().map(String::as_str));
    args.extend(["--out", out.to_str().unwrap()]);
    ok(&args)
}

/// Both folders hold the same files, byte for byte (sweep.csv, sweep.json and the
/// charts: capacity, or a grid's).
fn same_files(a: &Path, b: &Path) {
    let names = |d: &Path| {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let files = names(a);
    assert_eq!(files, names(b));
    assert!(
        files.len() >= 4 && files.contains(&"sweep.csv".to_string()),
        "{files:?}"
    );
    for f in files {
        let (x, y) = (
            std::fs::read(a.join(&f)).unwrap(),
            std::fs::read(b.join(&f)).unwrap(),
        );
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn merged_shards_are_the_whole_sweep_for_every_n_and_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let table = sweep(&["--jobs", "2"], &whole);
    for jobs in ["1", "2"] {
        for n in 1..=6 {
            let mut parts = shards(n, jobs, tmp.path(), &[]);
            parts.reverse(); // any order
            let merged = tmp.path().join(format!("merged-{n}-{jobs}"));
            let said = merge(&parts, &merged);
            same_files(&whole, &merged);
            // The same table as the one-process sweep.
            let lines = |t: &str| t.lines().take(5).map(str::to_string).collect::<Vec<_>>();
            assert_eq!(lines(&said), lines(&table));
        }
    }
}

#[test]
fn a_grid_with_vary_merges_to_the_same_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let vary = ["--vary", "relay.dos.max_messages_per_connection=100,500"];
    let whole = tmp.path().join("whole");
    sweep(&vary, &whole);
    let parts = shards(4, "1", tmp.path(), &vary);
    let merged = tmp.path().join("merged");
    merge(&parts, &merged);
    same_files(&whole, &merged);
}

#[test]
fn an_interrupted_shard_resumes_and_merge_names_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let parts = shards(3, "1", tmp.path(), &[]);
    // A shard's run lost (preempted before it was written): merge names it and the
    // shard to run again.
    let lost = Path::new(&parts[1]).join("runs/000004.json");
    std::fs::remove_file(&lost).unwrap();
    let o = relaysim(&[
        "sweep",
        "merge",
        &parts[0],
        &parts[1],
        &parts[2],
        "--out",
        tmp.path().join("m").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("1 of 6 runs are missing: 400 licences replicate 0 (shard 1)"),
        "{err}"
    );
    assert!(
        err.contains("Slurm: sbatch --array=1 sweep.sbatch"),
        "{err}"
    );
    assert!(!tmp.path().join("m").exists());
    // A shard left out: every run of it.
    let o = relaysim(&[
        "sweep",
        "merge",
        &parts[0],
        &parts[2],
        "--out",
        tmp.path().join("m").to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("2 of 6 runs are missing"),
        "{}",
        stderr(&o)
    );
    // Started again, the shard runs only the lost run.
    let said = sweep(&["--shard", "1/3"], Path::new(&parts[1]));
    assert!(
        said.contains("shard 1/3: ran 1 of its 2 runs (1 done before)"),
        "{said}"
    );
    let whole = tmp.path().join("whole");
    sweep(&[], &whole);
    let merged = tmp.path().join("merged");
    merge(&parts, &merged);
    same_files(&whole, &merged);
}

#[test]
fn parts_of_different_sweeps_or_shards_given_twice_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let parts = shards(2, "1", tmp.path(), &[]);
    let other = tmp.path().join("other");
    let mut args = vec![
        "sweep",
        SCENARIO,
        "--licences",
        "200,300,400",
        "--seeds",
        "2",
        "--deadline",
        "20m",
    ];
    args.extend(["--shard", "1/2", "--out", other.to_str().unwrap()]);
    ok(&args);
    let o = relaysim(&["sweep", "merge", &parts[0], other.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("are shards of different sweeps"),
        "{}",
        stderr(&o)
    );
    let o = relaysim(&["sweep", "merge", &parts[0], &parts[0]]);
    assert!(stderr(&o).contains("are both shard 0/2"), "{}", stderr(&o));
    // A shard folder of another sweep is not overwritten by accident.
    let o = relaysim(
        &args
            .iter()
            .map(|a| if *a == "20m" { "10m" } else { a })
            .collect::<Vec<_>>(),
    );
    assert!(
        stderr(&o).contains("holds a shard of another sweep"),
        "{}",
        stderr(&o)
    );
    // The search does not shard, and says why.
    let o = relaysim(&[
        "sweep",
        SCENARIO,
        "--licences",
        "100..400:1",
        "--find-min-licences",
        "--deadline",
        "10m",
        "--shard",
        "0/2",
    ]);
    assert!(
        stderr(&o).contains("--find-min-licences does not shard"),
        "{}",
        stderr(&o)
    );
    let o = relaysim(&["sweep", SCENARIO, "--licences", "100", "--shard", "2/2"]);
    assert!(
        stderr(&o).contains("shard 2 of 2 does not exist"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn emit_slurm_writes_a_job_array_and_a_merge_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("slurm");
    let said = sweep(
        &[
            "--emit-slurm",
            dir.to_str().unwrap(),
            "--shards",
            "4",
            "--jobs",
            "2",
        ],
        &tmp.path().join("unused"),
    );
    assert!(said.contains("6 runs in 4 shards of 2 CPU(s)"), "{said}");
    let sbatch = std::fs::read_to_string(dir.join("sweep.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0-3",
        "#SBATCH --cpus-per-task=2",
        "--shard \"$SLURM_ARRAY_TASK_ID/4\"",
        "--jobs \"${SLURM_CPUS_PER_TASK:-2}\"",
        "--licences 200,300,400 --seeds 2 --deadline 10m",
    ] {
        assert!(sbatch.contains(line), "{line} not in {sbatch}");
    }
    assert!(
        !sbatch.contains("unused") && !sbatch.contains("--emit-slurm"),
        "{sbatch}"
    );
    let merge = std::fs::read_to_string(dir.join("merge.sbatch")).unwrap();
    assert!(
        merge.contains("sweep merge") && merge.contains("shards/shard-3"),
        "{merge}"
    );
    let submit = std::fs::read_to_string(dir.join("submit.sh")).unwrap();
    assert!(submit.contains("--dependency=afterok:"), "{submit}");
    assert!(dir.join("logs").is_dir() && dir.join("README.md").exists());
    // The array's task, run by hand as Slurm would, writes a shard that merges.
    let o = relaysim(&[
        "sweep",
        SCENARIO,
        "--licences",
        "100",
        "--emit-slurm",
        dir.to_str().unwrap(),
        "--shards",
        "2",
    ]);
    assert!(
        stderr(&o).contains("--shards 2 is more than the sweep's 1 runs"),
        "{}",
        stderr(&o)
    );
}
