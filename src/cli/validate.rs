//! `relaysim validate`: check scenario files, report every problem.

use std::path::PathBuf;
use std::process::ExitCode;

pub fn validate(paths: &[PathBuf]) -> ExitCode {
    let mut failed = 0;
    for path in paths {
        match super::load_or_report(path) {
            Some(s) => println!(
                "ok: {} (scenario `{}`: {} tenants, {} MTAs, {} senders, {} expectations)",
                path.display(),
                s.name,
                s.tenants.len(),
                s.mtas.len(),
                s.senders.len(),
                s.expectations.len()
            ),
            None => failed += 1,
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} scenario files have errors", paths.len());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
