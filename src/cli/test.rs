//! `relaysim test`: scenarios with `[[expect]]` blocks as a test suite.

use super::output::{errln, outln};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sim::expectations::evaluate;

pub fn test(paths: &[PathBuf], set: &[scenario::overrides::Override]) -> ExitCode {
    let mut files = Vec::new();
    for path in paths {
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
    let (mut passed, mut failed) = (0u32, 0u32);
    for file in &files {
        let Some(scenario) = super::load_or_report(file, set) else {
            outln!("FAIL {} (invalid scenario, see above)", file.display());
            failed += 1;
            continue;
        };
        if scenario.expectations.is_empty() {
            continue;
        }
        let (verdicts, run_error) = match sim::run(&scenario, scenario.seed, &mut ()) {
            Ok(report) => (evaluate(&scenario, &report), None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let ok = verdicts.iter().all(|v| v.passed) && run_error.is_none();
        outln!(
            "{} {} ({} expectations)",
            if ok { "PASS" } else { "FAIL" },
            file.display(),
            scenario.expectations.len()
        );
        for v in verdicts.iter().filter(|v| !v.passed) {
            outln!("    ✗ {}: {}", v.name, v.detail);
        }
        if let Some(e) = run_error {
            outln!("    ✗ the run failed its own checks: {e}");
        }
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    if passed + failed == 0 {
        errln!(
            "error: no scenario with [[expect]] blocks under {}\nhelp: add [[expect]] blocks, or pass other paths",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        outln!("0 passed, 0 failed");
        return ExitCode::FAILURE;
    }
    outln!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
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
