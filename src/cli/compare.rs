//! `relaysim compare A B`: two run folders side by side (`report::compare`).

use super::output::{errln, outln};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Args)]
pub struct CompareArgs {
    /// The first run folder (A), written by `relaysim run`.
    a: PathBuf,
    /// The second run folder (B).
    b: PathBuf,
    /// Output folder (default: results/compare-<A>-<B>/), replaced whole.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the output folder even if relaysim did not make it.
    #[arg(long)]
    overwrite: bool,
}

pub fn compare(args: CompareArgs) -> ExitCode {
    let name = |p: &PathBuf| {
        p.file_name()
            .map_or("run".into(), |n| n.to_string_lossy().into_owned())
    };
    let dir = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!("compare-{}-{}", name(&args.a), name(&args.b)))
    });
    let staged = match report::StagedFolder::begin(&dir, args.overwrite) {
        Ok(s) => s,
        Err(e) => {
            errln!(
                "error: cannot write the comparison to {}: {e}\nhelp: {}",
                dir.display(),
                e.help()
            );
            return ExitCode::FAILURE;
        }
    };
    let written = report::compare::write(&args.a, &args.b, staged.path()).and_then(|w| {
        staged.publish()?;
        Ok(w)
    });
    match written {
        Ok(files) => {
            let names: Vec<String> = files
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            outln!("wrote {}/: {}", dir.display(), names.join(", "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            errln!(
                "error: cannot compare {} and {}: {e}\nhelp: give two folders written by `relaysim run` (each needs summary.json, throughput.csv, queue_depth.csv and delivery_delay.hlog)",
                args.a.display(),
                args.b.display()
            );
            ExitCode::FAILURE
        }
    }
}
