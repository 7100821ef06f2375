//! Scenario files: the TOML format (one module per section), loading with precise
//! diagnostics, the cross-checks between sections, and the compiled [`Model`] that
//! a run reads.
//!
//! Loading never panics and never stops at the first problem: syntax errors, unknown
//! keys, bad values and broken references are all collected, each with its
//! `file:line:col`, the offending text and a hint (see [`diagnostic`]). The file
//! format's types (`Spanned` values, optional keys) end here: [`Model::load`] and
//! [`Model::parse`] return the compiled model.

mod check;
mod compile;
pub mod diagnostic;
mod dialogue;
pub mod estimate;
mod event;
mod expect;
mod expect_check;
mod expect_compile;
mod load;
pub mod model;
mod mta;
pub mod overrides;
pub mod population;
mod relay_config;
pub mod replay;
mod schema;
mod sender;
mod tenant;
pub mod values;

use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

pub use diagnostic::{Diagnostic, render};
pub use dialogue::{Connect, Dialogue};
pub use event::{Event, EventKind};
pub use expect::{Bound, Check, Expectation, Instants, LimitKind, Metric, Quantile};
pub use model::Model;
pub use mta::{Mta, MtaOverrides, MtaProfile, SmtpAuth, TlsMode};
pub use relay_config::{DosConfig, PolicyConfig, QuotaConfig, RelayConfig, WindowModel};
pub use schema::json_schema;
pub use sender::{Burst, Pattern, RecipientPool, Sender};
pub use tenant::{AllowedSenders, Billing, IpRange, RelaySetting, Tenant};
pub use values::StartTime;

use relay::time::SimDuration;
use values::Duration;

// The file format: the JSON Schema is generated from these types (their doc
// comments are its descriptions). Runs read the compiled `Model`.
/// A whole scenario, validated.
#[derive(Clone, Debug, JsonSchema)]
#[schemars(deny_unknown_fields, title = "relaysim scenario")]
pub struct Scenario {
    pub simulation: Simulation,
    #[serde(default)]
    pub relay: RelayConfig,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<Tenant>,
    #[serde(default, rename = "mta")]
    pub mtas: Vec<Mta>,
    #[serde(default, rename = "sender")]
    pub senders: Vec<Sender>,
    #[serde(default, rename = "event")]
    pub events: Vec<Event>,
    #[serde(default, rename = "expect")]
    pub expectations: Vec<Expectation>,
    #[serde(default, rename = "dialogue")]
    pub dialogues: Vec<Dialogue>,
}

/// `[simulation]`: what to run and for how long.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Simulation {
    /// Names the default output folder `results/<name>/`: letters, digits, `-`, `_`, `.`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// What question the scenario answers.
    pub description: Option<String>,
    /// Seed of every random stream (`--seed` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// Horizon of the run, e.g. "48h".
    #[schemars(with = "Duration")]
    pub duration: Spanned<Duration>,
    /// Bucket length of throughput.csv (default 60s).
    #[serde(default = "default_bucket")]
    #[schemars(with = "Duration")]
    pub bucket: Spanned<Duration>,
    /// Wall-clock start, for diurnal traffic and clock-time axes.
    pub start: Option<StartTime>,
    /// Limit episodes (`limit_episodes.csv`, the run summary): a limit hit again
    /// within this long of its clear continues the same episode (default 60s).
    #[serde(default = "default_episode_gap")]
    #[schemars(with = "Duration")]
    pub episode_gap: Duration,
    /// Scales the traffic of every generated sender (default 1): each rate and each
    /// burst's message count is multiplied by it, e.g. 1.5 for 50 % growth (`--set
    /// simulation.traffic_growth=1.5`). Replayed logs are as recorded and cannot be
    /// scaled; a fitted scenario (`relaysim import --fit`) can.
    #[serde(default = "default_traffic_growth")]
    #[schemars(with = "f64", range(min = 0.0, max = 100.0))]
    pub traffic_growth: Spanned<f64>,
}

fn default_traffic_growth() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}

fn default_bucket() -> Spanned<Duration> {
    Spanned::new(0..0, Duration(SimDuration::MINUTE))
}

fn default_episode_gap() -> Duration {
    Duration(SimDuration::MINUTE)
}

/// Sections as parsed, before cross-checks; `None` marks a section that had errors.
#[derive(Default)]
struct RawScenario {
    simulation: Option<Simulation>,
    simulation_seen: bool,
    relay: Option<RelayConfig>,
    tenants: Vec<Option<Tenant>>,
    mtas: Vec<Option<Mta>>,
    senders: Vec<Option<Sender>>,
    events: Vec<Option<Event>>,
    expectations: Vec<Option<Expectation>>,
    dialogues: Vec<Option<Dialogue>>,
}

/// A scenario file that could not be loaded, with every problem found in it.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {} error(s) in scenario", diagnostics.len())]
pub struct ScenarioError {
    pub file: String,
    pub source_text: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl ScenarioError {
    /// The full report, `file:line:col: error: …` with excerpts and hints.
    pub fn render(&self, color: bool) -> String {
        render(&self.file, &self.source_text, &self.diagnostics, color)
    }
}

/// Why a scenario could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "cannot read scenario {path}: {source}\nhelp: check the path; `relaysim validate FILE` checks a file"
    )]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file is not UTF-8 text: where the first bad byte is.
    #[error(
        "{path}:{line}:{column}: {what}; scenario files are UTF-8 text\nhelp: save the file as UTF-8 (in most editors: \"Save with encoding\" → UTF-8)"
    )]
    Encoding {
        path: String,
        line: usize,
        column: usize,
        what: String,
    },
    /// The file is larger than [`MAX_SCENARIO_BYTES`] (or endless, as `/dev/zero`).
    #[error(
        "scenario {path} is larger than {} MiB; a scenario that big is mostly listings\nhelp: move long address lists into a replay file or shorten them; many similar senders are one [[sender]] with a higher rate",
        MAX_SCENARIO_BYTES >> 20
    )]
    TooLarge { path: String },
    /// A `--set` that names no key of the file.
    #[error("{path}: {message}")]
    Override { path: String, message: String },
    #[error(transparent)]
    Invalid(#[from] ScenarioError),
}

/// The largest scenario file read: 64 MiB. Reading one takes some 25 bytes of memory
/// per byte of TOML (the document with every value's place, for the diagnostics),
/// so this bounds reading at about 1.6 GB; a bigger or endless input is refused
/// after this many bytes, not read whole.
pub const MAX_SCENARIO_BYTES: u64 = 64 << 20;

/// The bytes of `path` if it holds at most `max` (`None` if it holds more); reads at
/// most `max + 1` bytes, so an endless input such as a device ends the read too.
pub(crate) fn read_at_most(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// The text of a scenario file's bytes, or where and why it is not UTF-8.
fn utf8_text(path: &str, bytes: Vec<u8>) -> Result<String, LoadError> {
    let encoding = |line, column, what: String| LoadError::Encoding {
        path: path.to_string(),
        line,
        column,
        what,
    };
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(encoding(
            1,
            1,
            "the file is UTF-16 (it starts with a UTF-16 byte order mark)".into(),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        // Columns count characters, as the other diagnostics do.
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        let what = if bytes.contains(&0) {
            format!(
                "byte 0x{:02X} is not UTF-8, and the file holds NUL bytes: it looks binary",
                bytes[at]
            )
        } else {
            format!(
                "byte 0x{:02X} is not UTF-8 (Latin-1 or Windows-1252 text, perhaps)",
                bytes[at]
            )
        };
        encoding(line, column, what)
    })
}

impl Model {
    /// Reads, validates and compiles a scenario file.
    pub fn load(path: &Path) -> Result<Model, LoadError> {
        Model::load_with(path, Options::default())
    }

    /// [`Model::load`] with `options`.
    pub fn load_with(path: &Path, options: Options) -> Result<Model, LoadError> {
        Model::load_with_overrides(path, options, &[])
    }

    /// [`Model::load_with`], the file's text edited by `overrides` first (`--set`);
    /// the edited text is checked like the file.
    pub fn load_with_overrides(
        path: &Path,
        options: Options,
        overrides: &[overrides::Override],
    ) -> Result<Model, LoadError> {
        let name = path.display().to_string();
        let bytes = read_at_most(path, MAX_SCENARIO_BYTES)
            .map_err(|source| LoadError::Io {
                path: name.clone(),
                source,
            })?
            .ok_or_else(|| LoadError::TooLarge { path: name.clone() })?;
        let mut text = utf8_text(&name, bytes)?;
        if !overrides.is_empty() {
            text = overrides::apply(&text, overrides).map_err(|message| LoadError::Override {
                path: name.clone(),
                message,
            })?;
        }
        Ok(Model::parse_with(&name, &text, options)?)
    }

    /// Validates and compiles scenario text; `file` names it in diagnostics, and
    /// replay files are read relative to it.
    pub fn parse(file: &str, text: &str) -> Result<Model, ScenarioError> {
        Model::parse_with(file, text, Options::default())
    }

    /// [`Model::parse`] with `options`.
    pub fn parse_with(file: &str, text: &str, options: Options) -> Result<Model, ScenarioError> {
        let mut sink = diagnostic::DiagnosticSink::new(text);
        let mut scenario =
            load::parse_sections(text, &mut sink).and_then(|raw| check::assemble(raw, &mut sink));
        if let Some(s) = &mut scenario {
            let base = Path::new(file).parent().unwrap_or(Path::new(""));
            read_replay_files(s, base, &mut sink);
        }
        let model = match &scenario {
            Some(s) if sink.is_empty() => {
                let model = compile::compile(s).map(|mut m| {
                    m.question = opening_comment(text);
                    for (e, raw) in m.expectations.iter_mut().zip(&s.expectations) {
                        e.line = block_line(text, raw.check.span().start, "[[expect]]");
                    }
                    for (d, raw) in m.dialogues.iter_mut().zip(&s.dialogues) {
                        d.line = block_line(text, raw.at.span().start, "[[dialogue]]");
                        for (step, raw) in d.steps.iter_mut().zip(raw.script.get_ref()) {
                            step.line = line_of(text, raw.span().start);
                        }
                    }
                    // A dialogue is checked as one more expectation (compile.rs).
                    for e in &mut m.expectations {
                        if let model::Check::Dialogue { index } = e.check {
                            e.line = m.dialogues[index].line;
                        }
                    }
                    m
                });
                if let Some(m) = &model {
                    check::address_space(s, m, &mut sink);
                    if !options.allow_large {
                        check::estimate_within_bounds(s, m, &mut sink);
                    }
                } else {
                    sink.error_with_help(
                        0..0,
                        "relaysim could not compile this scenario although every check passed",
                        "here",
                        "this is a bug in relaysim: please report it with the scenario file",
                    );
                }
                model
            }
            _ => None,
        };
        let diagnostics = sink.finish();
        match model {
            Some(m) if diagnostics.is_empty() => Ok(m),
            _ => Err(ScenarioError {
                file: file.to_string(),
                source_text: text.to_string(),
                diagnostics,
            }),
        }
    }
}

/// How a scenario is loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Accept scenarios whose pre-run estimate is above the bounds of `estimate.rs`.
    pub allow_large: bool,
}

impl Scenario {
    /// The scenario's name.
    pub fn name(&self) -> &str {
        self.simulation.name.get_ref()
    }

    pub fn duration(&self) -> SimDuration {
        self.simulation.duration.get_ref().get()
    }
}

/// Reads the CSV of every replay sender; its problems are reported at the sender's
/// `replay` key, each naming the CSV line.
fn read_replay_files(scenario: &mut Scenario, base: &Path, sink: &mut diagnostic::DiagnosticSink) {
    let start = scenario.simulation.start;
    let horizon = scenario.duration();
    for sender in &mut scenario.senders {
        let Some(file) = &sender.replay else { continue };
        let path = base.join(file.get_ref());
        match replay::read(&path, start, horizon) {
            Ok(rows) => sender.replay_rows = rows,
            Err(problems) => {
                for p in problems {
                    sink.error_with_help(
                        file.span(),
                        &format!("{}: {p}", path.display()),
                        "in this replay file",
                        "columns: time (seconds from the start, or a date-time), envelope_from, recipients (a count or addresses separated by `;`), size",
                    );
                }
            }
        }
    }
}

/// The comment lines a scenario file opens with, before its first key or section,
/// without their `#` (the `#:schema` directive left out); paragraphs kept.
/// The 1-based line of the `header` (e.g. `[[expect]]`) of the block holding byte
/// `offset`: the last line starting with it before `offset`, else `offset`'s own line.
fn block_line(text: &str, offset: usize, header: &str) -> usize {
    let own_line = line_of(text, offset);
    let before = &text[..offset.min(text.len())];
    before
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with(header))
        .last()
        .map_or(own_line, |(i, _)| i + 1)
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn opening_comment(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("#:") {
            continue;
        }
        match line.strip_prefix('#') {
            Some(rest) => lines.push(rest.strip_prefix(' ').unwrap_or(rest).trim_end()),
            None if line.is_empty() => lines.push(""),
            None => break,
        }
    }
    lines.join("\n").trim().to_string()
}

#[cfg(test)]
mod opening_comment_tests {
    #[test]
    fn the_opening_comment_is_the_question() {
        let text =
            "#:schema ../x.json\n# Question: why?\n#\n# Because.\n\n[simulation]\n# not this\n";
        assert_eq!(super::opening_comment(text), "Question: why?\n\nBecause.");
        assert_eq!(super::opening_comment("[simulation]\n"), "");
    }
}
