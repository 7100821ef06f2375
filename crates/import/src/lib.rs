//! `relaysim import`: real mail logs in. A log's lines become the messages it saw
//! (`sends.csv`, the replay format), a ready scenario that replays them
//! (`scenario.toml`), and the relay's refusals the log recorded
//! (`observed_replies.csv`).
//!
//! - `input.rs`: the log files (plain, `.gz`, `.zst`, stdin), in time order;
//! - `stamp.rs`: the formats' time stamps;
//! - `postfix.rs`, `exim.rs`, `exchange.rs`: one line into a [`Parsed`];
//! - `assemble.rs`: records into messages, keyed by queue id: memory holds the
//!   messages open at one time, never the file;
//! - `output.rs`: the folder's files and the summary;
//! - `anonymise.rs`: with `--anonymise`, addresses as keyed-hash pseudonyms;
//! - `fit.rs`: with `--fit`, a fitted model of the traffic (`fitted.toml`) and how
//!   well it fits (`fit_hours.csv`).
//!
//! A line that is not understood is counted by kind (the first few kept with their
//! place) and skipped: one bad line never stops an import.

pub mod anonymise;
mod assemble;
pub mod exchange;
pub mod exim;
pub mod fit;
pub mod input;
pub mod output;
pub mod postfix;
pub mod stamp;

use std::path::PathBuf;

pub use assemble::{Message, Summary};
pub use output::write_folder;
pub use stamp::Stamp;

/// A log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Postfix,
    Exim,
    /// Exchange message tracking logs (CSV with a `#Fields:` header).
    Exchange,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Postfix => "postfix",
            Format::Exim => "exim",
            Format::Exchange => "exchange",
        }
    }

    /// The MTA profile of relaysim that models this server.
    pub fn profile(self) -> &'static str {
        match self {
            Format::Postfix => "postfix",
            Format::Exim => "exim",
            Format::Exchange => "exchange-2010",
        }
    }

    /// The format of a log, from its first lines; `None` when none fits.
    pub fn detect(lines: &[String]) -> Option<Format> {
        lines.iter().find_map(|line| {
            if line.starts_with("#Fields:") || line.starts_with("#Software: Microsoft Exchange") {
                Some(Format::Exchange)
            } else if exim::looks_like(line) {
                Some(Format::Exim)
            } else if postfix::looks_like(line) {
                Some(Format::Postfix)
            } else {
                None
            }
        })
    }
}

/// How a delivery attempt of one recipient ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Deferred,
    Bounced,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Deferred => "deferred",
            Outcome::Bounced => "bounced",
        }
    }
}

/// What a line says about a message. `id` is unique within the log (a Postfix
/// queue id is prefixed with its host and instance).
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// The message is in the queue (the first such line is its arrival).
    Queued {
        id: String,
        at: Stamp,
        /// The envelope sender; empty for `<>`.
        from: String,
        size: Option<u64>,
        recipients: Option<u32>,
        /// The server that queued it (the syslog host, Exchange's server name).
        host: String,
    },
    /// A delivery attempt to one recipient ended.
    Attempt {
        id: String,
        at: Stamp,
        rcpt: String,
        outcome: Outcome,
        /// The remote server's reply, when the log gives one.
        reply: Option<String>,
    },
    /// The message left the queue.
    Removed { id: String },
}

/// One line, understood or not.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    Record(Record),
    /// Several records (an Exchange line with many recipients).
    Records(Vec<Record>),
    /// Understood, and about nothing the import keeps (a connection, a warning).
    Ignored(&'static str),
    /// Not understood: the kind, counted and reported.
    Unknown(&'static str),
}

/// A line parser of one format. Stateful: syslog years roll over, Exchange's
/// columns come from its `#Fields:` line.
pub trait LineParser {
    fn parse(&mut self, line: &str) -> Parsed;
}

/// A parser for `format`; `year` for syslog time stamps without one.
pub fn parser(format: Format, year: Option<i32>) -> Box<dyn LineParser> {
    match format {
        Format::Postfix => Box::new(postfix::Parser::new(year)),
        Format::Exim => Box::new(exim::Parser),
        Format::Exchange => Box::new(exchange::Parser::default()),
    }
}

/// Why an import could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: the format is not recognised from its first lines (a Postfix syslog line, an Exim mainlog line or an Exchange #Fields: header); name it: relaysim import postfix|exim|exchange"
    )]
    Unrecognised { path: PathBuf },
    #[error(
        "{place}: syslog time stamps carry no year; give the year of the first line with --year (later lines roll over at New Year)"
    )]
    NoYear { place: String },
    #[error("{logs}: no message found as {format} log in {lines} lines; {skipped}")]
    Empty {
        logs: String,
        format: &'static str,
        lines: u64,
        /// What was skipped, by kind, with the first place of each.
        skipped: String,
    },
    #[error("cannot write the import to {path}: {message}")]
    Folder {
        path: PathBuf,
        message: String,
        help: &'static str,
    },
    #[error("the fitted scenario could not be simulated: {message}")]
    Fit { message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}
