//! `relaysim test`: scenarios with `[[expect]]` blocks as a test suite. Files are
//! loaded in path order, their runs (one per file and seed) go to a rayon pool of
//! `--jobs` threads, and the report is assembled in path order, so it is the same
//! for every `--jobs`.

mod expect_error;
mod junit;
mod outcome;

use super::output::{errln, outln};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use rayon::prelude::*;
use scenario::overrides::Override;
use scenario::{LoadError, Model};
use sim::expectations::{Verdict, Witness, evaluate};

use outcome::{Suite, TestReport};

#[derive(Args)]
pub struct TestArgs {
    /// Files or folders (searched recursively for *.toml).
    #[arg(default_value = "scenarios/regression")]
    paths: Vec<PathBuf>,
    /// Change a scenario key in every file, e.g. `relay.dos.max_messages_per_connection=500` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = |s: &str| s.parse::<Override>())]
    set: Vec<Override>,
    /// Only files whose path, or expectations whose name, contains PATTERN.
    #[arg(long, value_name = "PATTERN")]
    filter: Option<String>,
    /// Run with this seed instead of each scenario's own.
    #[arg(long)]
    seed: Option<u64>,
    /// Check every expectation at K seeds, 1 to 10,000: the scenario's (or --seed)
    /// and K − 1 derived from it, as `sweep --seeds` derives them.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    seeds: u32,
    /// Worker threads (default: one per core), 1 to 1,024.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    /// List passing expectations too.
    #[arg(short, long)]
    verbose: bool,
    /// Write the report as JUnit XML (one testsuite per file, one testcase per [[expect]]).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Keep the run folder (with the trace) of each failing scenario, at the seed it
    /// failed, in DIR/<file name>[-seed-N].
    #[arg(long, value_name = "DIR")]
    keep_failed: Option<PathBuf>,
}

/// A scenario file to test.
enum Slot {
    /// Judged when loaded: a file that could not be loaded, or one that declares the
    /// errors its validation must report (`#! expect-error:`).
    Decided(Suite),
    /// Its model with the selected expectations, and the seeds to run it at.
    Ready {
        file: String,
        model: Box<Model>,
        seeds: Vec<u64>,
    },
}

pub fn test(args: TestArgs) -> ExitCode {
    let mut files = Vec::new();
    for path in &args.paths {
        if let Err(e) = collect_toml(path, &mut files) {
            errln!(
                "error: cannot read {}: {e}\nhelp: pass scenario files or folders that exist",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    }
    files.sort();
    files.dedup();
    // Load in path order (diagnostics print in that order); an invalid file is a
    // failed suite unless the filter leaves it out by its path.
    let mut slots: Vec<Slot> = Vec::new();
    for path in &files {
        let file = path.display().to_string();
        let file_selected = args
            .filter
            .as_ref()
            .is_none_or(|p| file.contains(p.as_str()));
        let pattern = args.filter.as_deref().unwrap_or_default();
        if let Some(mut suite) = expected_invalid(path, &file, &args.set) {
            if !file_selected {
                suite.cases.retain(|c| c.name.contains(pattern));
            }
            if file_selected || !suite.cases.is_empty() {
                slots.push(Slot::Decided(suite));
            }
            continue;
        }
        // A file the filter leaves out by its path is loaded quietly: should it be
        // invalid, it is not part of this report.
        match load(path, &args.set, file_selected) {
            Err(why) if file_selected => slots.push(Slot::Decided(Suite::invalid(file, why))),
            Err(_) => {}
            Ok(mut model) => {
                if !file_selected {
                    model.expectations.retain(|e| e.name.contains(pattern));
                }
                if model.expectations.is_empty() {
                    continue;
                }
                let base = args.seed.unwrap_or(model.seed);
                let seeds = (0..args.seeds)
                    .map(|k| sim::sweep::replicate_seed(base, k))
                    .collect();
                slots.push(Slot::Ready {
                    file,
                    model: Box::new(model),
                    seeds,
                });
            }
        }
    }
    if slots.is_empty() {
        let filter = args
            .filter
            .as_ref()
            .map(|p| format!(" matching `{p}`"))
            .unwrap_or_default();
        errln!(
            "error: no scenario with [[expect]] blocks{filter} under {}\nhelp: add [[expect]] blocks, or pass other paths{}",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if filter.is_empty() {
                ""
            } else {
                " or another --filter"
            }
        );
        outln!("0 passed, 0 failed");
        return ExitCode::FAILURE;
    }
    let suites = match run_all(&slots, args.jobs) {
        Ok(s) => s,
        Err(e) => {
            errln!("error: {e}\nhelp: pass a smaller --jobs");
            return ExitCode::FAILURE;
        }
    };
    let report = TestReport::new(suites);
    print(&report, args.verbose);
    let mut ok = report.failed == 0;
    if let Some(dir) = &args.keep_failed {
        ok &= keep_failed(&report, &slots, dir);
    }
    if let Some(path) = &args.junit {
        ok &= write_report(path, "JUnit XML", junit::to_xml(&report));
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string());
        ok &= write_report(path, "JSON report", json.map(|j| j + "\n"));
    }
    outln!("{} passed, {} failed", report.passed, report.failed);
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The suite of a file with `#! expect-error:` directives (`None` for other files):
/// its validation, quietly, against them.
fn expected_invalid(path: &Path, file: &str, set: &[Override]) -> Option<Suite> {
    let text = std::fs::read_to_string(path).ok()?;
    let expected = match expect_error::directives(&text) {
        Ok(e) if e.is_empty() => return None,
        Ok(e) => e,
        Err(why) => {
            let why = format!("{file}: {why}");
            errln!("error: {why}");
            return Some(Suite::invalid(file.to_string(), why));
        }
    };
    Some(
        match Model::load_with_overrides(path, super::load_options(), set) {
            Ok(_) => expect_error::suite(file.to_string(), &expected, None),
            Err(LoadError::Invalid(e)) => {
                expect_error::suite(file.to_string(), &expected, Some(&e.diagnostics))
            }
            Err(e) => {
                super::report_load_error(&e);
                Suite::invalid(file.to_string(), e.to_string())
            }
        },
    )
}

/// Loads `path` with the overrides; on failure prints the diagnostics (as `validate`
/// does) when `loud`, and returns them as plain text for the reports.
fn load(path: &Path, set: &[Override], loud: bool) -> Result<Model, String> {
    match Model::load_with_overrides(path, super::load_options(), set) {
        Ok(model) => Ok(model),
        Err(e) => {
            if loud {
                super::report_load_error(&e);
            }
            Err(match &e {
                LoadError::Invalid(invalid) => invalid.render(false),
                _ => e.to_string(),
            })
        }
    }
}

/// Every run (file × seed) on a pool of `jobs` threads, gathered back per file in
/// order.
fn run_all(slots: &[Slot], jobs: Option<u16>) -> Result<Vec<Suite>, String> {
    let runs: Vec<(&Model, u64)> = slots
        .iter()
        .flat_map(|slot| match slot {
            Slot::Ready { model, seeds, .. } => {
                seeds.iter().map(|&seed| (&**model, seed)).collect()
            }
            Slot::Decided(_) => Vec::new(),
        })
        .collect();
    let jobs = jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| format!("cannot start {jobs} worker threads: {e}"))?;
    // The longest runs (by the pre-run estimate of recipients) start first, so that
    // one does not start last and leave the other threads idle; results go back to
    // their places.
    let mut order: Vec<usize> = (0..runs.len()).collect();
    let work: Vec<f64> = runs.iter().map(|(m, _)| m.estimate().recipients).collect();
    order.sort_by(|a, b| work[*b].total_cmp(&work[*a]).then(a.cmp(b)));
    let done: Vec<(usize, Result<Vec<Verdict>, String>)> = pool.install(|| {
        // One run per task: runs differ in length a thousandfold, so an idle thread
        // must be able to take any of them.
        order
            .par_iter()
            .with_max_len(1)
            .map(|&i| {
                let (model, seed) = runs[i];
                let mut witness = Witness::new(model);
                let verdicts = sim::run(model, seed, &mut witness)
                    .map(|report| evaluate(model, &report, &witness))
                    .map_err(|e| e.to_string());
                (i, verdicts)
            })
            .collect()
    });
    let mut verdicts: Vec<Option<Result<Vec<Verdict>, String>>> = vec![None; runs.len()];
    for (i, v) in done {
        verdicts[i] = Some(v);
    }
    let mut verdicts = verdicts.into_iter().flatten();
    let suites = slots
        .iter()
        .map(|slot| match slot {
            Slot::Decided(suite) => suite.clone(),
            Slot::Ready { file, model, seeds } => {
                let lines: Vec<usize> = model.expectations.iter().map(|e| e.line).collect();
                let runs = verdicts.by_ref().take(seeds.len()).collect();
                Suite::checked(file.clone(), &lines, seeds.clone(), runs)
            }
        })
        .collect();
    Ok(suites)
}

/// The terminal report: a line per file, a line per failed expectation (with
/// `-v` every expectation), `file:line` first so that terminals and editors link it.
fn print(report: &TestReport, verbose: bool) {
    for suite in &report.suites {
        if suite.is_invalid() {
            outln!("FAIL {} (invalid scenario, see above)", suite.file);
            continue;
        }
        let what = match suite.seeds.len() {
            0 => format!("{} expected validation errors", suite.cases.len()),
            1 => plural(suite.cases.len(), "expectation"),
            n => format!("{}, {n} seeds", plural(suite.cases.len(), "expectation")),
        };
        outln!(
            "{} {} ({what})",
            if suite.passed() { "PASS" } else { "FAIL" },
            suite.file,
        );
        if let Some(why) = &suite.error {
            outln!("    ✗ {}: {why}", suite.file);
        }
        for c in suite.cases.iter().filter(|c| verbose || !c.passed) {
            let seed = match c.failed_seed {
                Some(s) if suite.seeds.len() > 1 => format!(" (seed {s})"),
                _ => String::new(),
            };
            let mark = if c.passed { '✓' } else { '✗' };
            outln!(
                "    {mark} {}: {}: {}{seed}",
                suite.location(c),
                c.name,
                c.detail
            );
        }
    }
}

/// Reruns each failing file at the seed it failed with, writing its run folder and
/// trace to `dir`; false if one could not be written.
fn keep_failed(report: &TestReport, slots: &[Slot], dir: &Path) -> bool {
    let mut ok = true;
    for (suite, slot) in report.suites.iter().zip(slots) {
        let (Some(seed), Slot::Ready { model, .. }) = (suite.failing_seed(), slot) else {
            continue;
        };
        let stem = Path::new(&suite.file)
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
        let name = if suite.seeds.len() > 1 {
            format!("{stem}-seed-{seed}")
        } else {
            stem
        };
        let target = dir.join(name);
        let trace = Some(report::TraceFormat::default());
        match report::run_to_folder(model, seed, &target, trace, false, &mut ()) {
            Ok(_) => outln!(
                "kept the failing run of {} in {}/",
                suite.file,
                target.display()
            ),
            Err(e) => {
                errln!(
                    "error: could not keep the run of {} in {}: {e}\nhelp: {}",
                    suite.file,
                    target.display(),
                    e.help()
                );
                ok = false;
            }
        }
    }
    ok
}

/// Writes a report file whole or not at all; false (after saying why) if it failed.
fn write_report(path: &Path, what: &str, text: Result<String, String>) -> bool {
    let written = text
        .and_then(|t| report::AtomicFile::write_all(path, t.as_bytes()).map_err(|e| e.to_string()));
    match written {
        Ok(()) => true,
        Err(e) => {
            errln!(
                "error: cannot write the {what} {}: {e}\nhelp: give a path in a folder that exists and can be written",
                path.display()
            );
            false
        }
    }
}

/// An explicit file is taken as it is; a folder is searched for `*.toml`.
fn collect_toml(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?.path();
            if entry.is_dir() || entry.extension().is_some_and(|e| e == "toml") {
                collect_toml(&entry, out)?;
            }
        }
    } else {
        std::fs::metadata(path)?;
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// "1 expectation", "3 expectations".
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
