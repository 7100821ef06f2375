//! `relaysim validate`: check scenario files, report every problem.

use super::output::{errln, outln};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn validate(paths: &[PathBuf]) -> ExitCode {
    let mut failed = 0;
    for path in paths {
        match super::load_or_report(path, &[]) {
            Some(s) => {
                let members = if s.senders.len() == s.declared_senders.len() {
                    String::new()
                } else {
                    format!(
                        " ({} members)",
                        super::group_thousands(s.senders.len() as u64)
                    )
                };
                outln!(
                    "ok: {} (scenario `{}`: {}, {}, {}{members}, {})",
                    path.display(),
                    s.name,
                    count(s.tenants.len(), "tenant"),
                    count(s.mtas.len(), "MTA"),
                    count(s.declared_senders.len(), "sender"),
                    count(s.expectations.len(), "expectation")
                );
                outln!("  {}", super::estimate::describe(&s.estimate()));
            }
            None => failed += 1,
        }
    }
    if failed > 0 {
        errln!("{failed} of {} scenario files have errors", paths.len());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `1 tenant`, `2 tenants`, `10,000 senders`.
fn count(n: usize, what: &str) -> String {
    let plural = if n == 1 { "" } else { "s" };
    format!("{} {what}{plural}", super::group_thousands(n as u64))
}
