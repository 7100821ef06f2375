//! `relaysim compare A B`: two run folders side by side (`report::compare`), or a
//! run beside the replies a mail log recorded (`report::observed`) when B is a
//! `relaysim import` folder or its `observed_replies.csv`.

use super::output::{errln, outln};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Args)]
pub struct CompareArgs {
    /// The first run folder (A), written by `relaysim run`.
    a: PathBuf,
    /// The second run folder (B); or a `relaysim import` folder (or its
    /// observed_replies.csv) to put the run beside what the log saw.
    b: PathBuf,
    /// Output folder (default: results/compare-<A>-<B>/), replaced whole.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the output folder even if relaysim did not make it.
    #[arg(long)]
    overwrite: bool,
}

/// Whether `b` is what `relaysim import` wrote rather than a run folder.
fn is_observed(b: &std::path::Path) -> bool {
    if b.is_dir() {
        b.join("observed_replies.csv").exists() && !b.join("summary.json").exists()
    } else {
        b.extension().is_some_and(|e| e == "csv")
    }
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
    if is_observed(&args.b) {
        return beside_observed(&args, &dir, staged);
    }
    let written = report::compare::write(&args.a, &args.b, staged.path()).and_then(|w| {
        staged.publish()?;
        Ok(w)
    });
    match written {
        Ok(files) => {
            print_written(&dir, &files);
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

/// A run beside the replies a log recorded: one line per kind of reply.
fn beside_observed(
    args: &CompareArgs,
    dir: &std::path::Path,
    staged: report::StagedFolder,
) -> ExitCode {
    let written = report::observed::write(&args.a, &args.b, staged.path()).and_then(|w| {
        staged.publish()?;
        Ok(w)
    });
    match written {
        Ok((comparison, files)) => {
            if comparison.kinds.is_empty() {
                outln!("neither the log nor the run has a refusal: nothing to set side by side");
            }
            for line in report::observed::sentences(&comparison) {
                outln!("{line}");
            }
            if comparison.before_run + comparison.after_run > 0 {
                outln!(
                    "{} observed replies fall outside the run and are not counted ({} before its start, {} after its end)",
                    comparison.before_run + comparison.after_run,
                    comparison.before_run,
                    comparison.after_run
                );
            }
            print_written(dir, &files);
            ExitCode::SUCCESS
        }
        Err(e) => {
            errln!(
                "error: cannot compare {} with {}: {e}\nhelp: give a folder written by `relaysim run` (summary.json, replies.csv) and a folder written by `relaysim import` (observed_replies.csv), e.g. relaysim compare results/imported results/import",
                args.a.display(),
                args.b.display()
            );
            ExitCode::FAILURE
        }
    }
}

/// `wrote DIR/: a, b, c`.
fn print_written(dir: &std::path::Path, files: &[PathBuf]) {
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    outln!("wrote {}/: {}", dir.display(), names.join(", "));
}
