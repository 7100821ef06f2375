//! The `relaysim` command line (clap). Each subcommand lives in its own module and
//! returns an exit code; errors are printed with a hint, never as a panic.

pub(crate) mod output;

mod compare;
mod estimate;
mod import;
mod limits;
mod run;
mod serve;
mod sweep;
mod sweep_shard;
mod sweep_words;
mod targets;
mod test;
mod validate;

use output::{err, errln, out, outln};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use relay::TenantIx;
use scenario::overrides::Override;
use scenario::{LoadError, Model};

/// The quickstart scenario, embedded so `relaysim run` works anywhere.
pub const QUICKSTART: &str = include_str!("../../scenarios/quickstart.toml");

#[derive(Parser)]
#[command(
    name = "relaysim",
    version,
    about = "Deterministic simulator of the Google Workspace SMTP relay (smtp-relay.gmail.com) and its limits",
    long_about = "relaysim replays scenario files (tenants, mail servers, traffic) on a virtual clock \
                  through the relay's policy and quota rules, and writes limit-hit timelines, \
                  throughput tables and charts. A run is a pure function of scenario, seed and version.",
    after_help = "Examples:\n  relaysim run                       # the embedded quickstart scenario\n  relaysim run scenarios/quickstart.toml --seed 7 --out /tmp/q\n  relaysim validate scenarios/*.toml\n  relaysim limits --licences 250\n  relaysim test scenarios/regression"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Accept scenarios whose pre-run estimate is above the bounds (10 million rows in
    /// a results file, 100 million messages, 8 GB of memory): for whoever means it.
    #[arg(long, global = true)]
    allow_large: bool,
}

/// `--allow-large`, set once from the command line before any scenario is loaded.
static ALLOW_LARGE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How the command line loads scenarios.
fn load_options() -> scenario::Options {
    scenario::Options {
        allow_large: ALLOW_LARGE.load(std::sync::atomic::Ordering::Relaxed),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and write its results folder.
    #[command(
        after_help = "Examples:\n  relaysim run\n  relaysim run scenarios/quickstart.toml --out results/q --seed 42"
    )]
    Run(run::RunArgs),
    /// Check scenario files; errors are printed as file:line:col with a hint.
    #[command(
        after_help = "Examples:\n  relaysim validate scenarios/quickstart.toml\n  relaysim validate scenarios/*.toml scenarios/regression/*.toml"
    )]
    Validate {
        /// Scenario files to check.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Print the effective per-user and per-customer limits (Q1–Q6) of a tenant.
    #[command(
        after_help = "Examples:\n  relaysim limits --licences 250\n  relaysim limits --licences 40000\n  relaysim limits --licences 250 --billing unpaid"
    )]
    Limits(limits::LimitsArgs),
    /// Serve the scenario's relay as a live SMTP server (a sink) with its policy
    /// and limits, for trying a real mail server against them.
    #[command(after_help = "Examples:
  relaysim serve scenarios/quickstart.toml
  relaysim serve scenarios/quickstart.toml --listen 127.0.0.1:2525 --listen-tls 127.0.0.1:2465 --time-scale 60 --store results/serve/maildir --password secret
  swaks --server 127.0.0.1:2525 --tls --from app@acme.example --to someone@example.org")]
    Serve(serve::ServeArgs),
    /// Import mail logs (Postfix, Exim, Exchange message tracking): sends.csv (the
    /// messages, in the replay format), scenario.toml (a scenario replaying them)
    /// and observed_replies.csv (the relay's refusals the logs saw).
    #[command(after_help = "Examples:
  relaysim import postfix /var/log/mail.log.1 /var/log/mail.log --year 2026 --out results/import
  relaysim import auto /var/log/exim4/mainlog.2.gz /var/log/exim4/mainlog --out results/import\n  relaysim import postfix /var/log/mail.log --year 2026 --fit --anonymise --anonymise-key-file import.key
  zcat mail.log.gz | relaysim import postfix - --year 2026")]
    Import(import::ImportArgs),
    /// Run every scenario with [[expect]] blocks under the paths, like a test suite.
    #[command(
        after_help = "Examples:\n  relaysim test\n  relaysim test scenarios/regression/some-rule.toml -v\n  relaysim test scenarios --jobs 2 --junit results/junit.xml\n  relaysim test --filter q05 --seeds 10 --keep-failed results/failed"
    )]
    Test(test::TestArgs),
    /// Run a scenario at many licence counts (and --vary values) × replicates in
    /// parallel, or find the smallest licence count that meets a target.
    #[command(
        after_help = "Examples:\n  relaysim sweep scenarios/helpdesk-burst.toml --licences 50,100,250,500,1000 --seeds 3\n  relaysim sweep scenarios/helpdesk-burst.toml --licences 10..100000:log:25 --jobs 2\n  relaysim sweep scenarios/nightly-batch.toml --licences 50..2000:1 --find-min-licences --deadline 1h --max-bounced 0\n  relaysim sweep scenarios/nightly-batch.toml --licences 150,200,300 --vary sender.batch1.burst.0.over=5m,15m,60m --deadline 1h"
    )]
    #[command(args_conflicts_with_subcommands = true)]
    Sweep(sweep::SweepArgs),
    /// Compare two run folders: compare.md (every summary figure and every limit's
    /// first hit, side by side with the difference) and overlay charts. Or a run
    /// beside what a mail log saw: B is a `relaysim import` folder (or its
    /// observed_replies.csv), and each kind of reply is compared, first time and count.
    #[command(
        after_help = "Examples:\n  relaysim run scenarios/helpdesk-burst.toml --out results/hb-250\n  relaysim run scenarios/helpdesk-burst.toml --licences 400 --out results/hb-400\n  relaysim compare results/hb-250 results/hb-400 --out results/hb-250-vs-400\n\n  relaysim import postfix /var/log/mail.log --year 2026 --out results/import\n  relaysim run results/import/scenario.toml --out results/imported\n  relaysim compare results/imported results/import"
    )]
    Compare(compare::CompareArgs),
    /// Redraw the charts of a results folder from its CSVs and summary.json.
    #[command(
        after_help = "Examples:\n  relaysim plot results/helpdesk-burst\n  relaysim plot results/helpdesk-burst --from 8h45m --to 10h --out results/helpdesk-burst/zoom"
    )]
    Plot {
        /// A folder written by `relaysim run`.
        results_dir: PathBuf,
        /// Show the run from this time on (since its start, e.g. `9h`, `8h 45m`).
        #[arg(long, value_parser = parse_time)]
        from: Option<relay::time::SimDuration>,
        /// Show the run up to this time (since its start, e.g. `10h`).
        #[arg(long, value_parser = parse_time)]
        to: Option<relay::time::SimDuration>,
        /// Write the charts here (created if missing) instead of into the results folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the JSON Schema of the scenario format (for editor completion).
    #[command(after_help = "Example:\n  relaysim schema > relaysim.schema.json")]
    Schema,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  relaysim completions bash > ~/.local/share/bash-completion/completions/relaysim\n  relaysim completions zsh > ~/.zfunc/_relaysim\n  relaysim completions fish > ~/.config/fish/completions/relaysim.fish"
    )]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

/// `--from`, `--to`: a time since the start, as durations are written in scenarios.
fn parse_time(text: &str) -> Result<relay::time::SimDuration, String> {
    scenario::values::parse_duration(text)
}

fn plot(
    dir: &std::path::Path,
    from: Option<relay::time::SimDuration>,
    to: Option<relay::time::SimDuration>,
    out: Option<&std::path::Path>,
) -> ExitCode {
    let view = match (from, to) {
        (None, None) => None,
        (f, t) => {
            let f = f.map_or(0.0, |d| d.as_secs_f64());
            let t = t.map_or(f64::INFINITY, |d| d.as_secs_f64());
            if f >= t {
                errln!(
                    "error: --from must come before --to\nhelp: e.g. `relaysim plot {} --from 9h --to 10h`",
                    dir.display()
                );
                return ExitCode::FAILURE;
            }
            Some((f, t))
        }
    };
    let target = out.unwrap_or(dir);
    if let Err(e) = std::fs::create_dir_all(target) {
        errln!("error: cannot create {}: {e}", target.display());
        return ExitCode::FAILURE;
    }
    let drawn = if view.is_none() && out.is_none() {
        report::charts::draw_all(dir)
    } else {
        report::charts::draw_run(dir, target, view)
    };
    match drawn {
        Ok(files) => {
            for f in files {
                outln!("wrote {}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            errln!(
                "error: cannot draw the charts of {}: {e}\nhelp: give a folder written by `relaysim run` (it needs summary.json and throughput.csv)",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    ALLOW_LARGE.store(cli.allow_large, std::sync::atomic::Ordering::Relaxed);
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate { scenarios } => validate::validate(&scenarios),
        Command::Limits(args) => limits::limits(args),
        Command::Test(args) => test::test(args),
        Command::Serve(args) => serve::serve(args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "relaysim", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            ExitCode::SUCCESS
        }
        Command::Plot {
            results_dir,
            from,
            to,
            out,
        } => plot(&results_dir, from, to, out.as_deref()),
        Command::Compare(args) => compare::compare(args),
        Command::Import(args) => import::import(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Schema => {
            out!("{}", scenario::json_schema());
            ExitCode::SUCCESS
        }
    }
}

/// Whether stderr is a terminal (colours, progress).
fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Loads a scenario with `--set` overrides, printing diagnostics to stderr on failure.
fn load_or_report(path: &std::path::Path, set: &[Override]) -> Option<Model> {
    match Model::load_with_overrides(path, load_options(), set) {
        Ok(s) => Some(s),
        Err(e) => {
            report_load_error(&e);
            if matches!(e, LoadError::Invalid(_)) && !set.is_empty() {
                let set: Vec<String> = set.iter().map(|o| format!("--set {o}")).collect();
                errln!(
                    "note: the lines shown are the file as edited by {}",
                    set.join(" ")
                );
            }
            None
        }
    }
}

fn report_load_error(e: &LoadError) {
    match e {
        LoadError::Invalid(invalid) => err!("{}", invalid.render(stderr_is_terminal())),
        LoadError::Io { .. }
        | LoadError::Encoding { .. }
        | LoadError::TooLarge { .. }
        | LoadError::Override { .. } => errln!("error: {e}"),
    }
}

/// The tenant `id` of `model`, or its only tenant; the error says which to name.
fn pick_tenant(
    model: &Model,
    file: &std::path::Path,
    id: Option<&str>,
) -> Result<TenantIx, String> {
    let ids: Vec<&str> = model.tenants.iter().map(|t| t.id.as_str()).collect();
    match (id, ids.len()) {
        (Some(id), _) => model.tenant_ix(id).ok_or_else(|| {
            format!(
                "no tenant `{id}` in {}\nhelp: the tenants are: {}",
                file.display(),
                ids.join(", ")
            )
        }),
        (None, 1) => Ok(TenantIx(0)),
        (None, _) => Err(format!(
            "{} has several tenants; say whose licences to change\nhelp: add --tenant ID, one of: {}",
            file.display(),
            ids.join(", ")
        )),
    }
}

pub use sim::numbers::group_thousands;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_quickstart_is_valid() {
        Model::parse("quickstart.toml", QUICKSTART).unwrap();
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
