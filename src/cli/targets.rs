//! The targets of `relaysim sweep`, as options: what a planner states ("delivered
//! within an hour, nothing bounced, no `550 5.7.1`").

use std::path::Path;

use clap::Args;

use relay::time::SimDuration;
use scenario::values::parse_duration;
use sim::sweep::{DeliverBy, Target};

/// Targets (what --find-min-licences must meet at every replicate; a plain sweep
/// marks each run that meets them).
#[derive(Args, Default)]
#[command(next_help_heading = "Targets")]
pub struct TargetArgs {
    /// At most this many recipients bounced.
    #[arg(long, value_name = "N")]
    max_bounced: Option<u64>,
    /// At most this many recipients deferred at least once (a recipient retried
    /// three times counts once; sweep.csv has the attempts too).
    #[arg(long, value_name = "N")]
    max_deferred: Option<u64>,
    /// At most this many recipients still queued at the end of the run.
    #[arg(long, value_name = "N")]
    max_queued: Option<u64>,
    /// The p99 delivery delay at most this, e.g. `15m` (as --quantile 0.99 --max-delay).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    max_p99_delay: Option<SimDuration>,
    /// Every delivered message's delay at most this (exact); with --quantile, the
    /// delay at that quantile (3 significant digits).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    max_delay: Option<SimDuration>,
    /// With --max-delay: the quantile it bounds, above 0 and at most 1, e.g. 0.95.
    #[arg(long, value_name = "Q", requires = "max_delay", value_parser = quantile)]
    quantile: Option<f64>,
    /// Every message delivered within this of its generation, e.g. `1h`. A message
    /// still queued at the end of the run misses it if older than that; if younger,
    /// the run cannot tell, and says so.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    deadline: Option<SimDuration>,
    /// Every message generated before this clock time delivered by it, e.g. `06:00`
    /// (the first 06:00 after the scenario's `start`, which it needs).
    #[arg(long, value_name = "HH:MM")]
    deliver_by: Option<String>,
    /// At most N replies whose line starts with REPLY, e.g. `'550 5.7.1=0'`
    /// (repeatable).
    #[arg(long, value_name = "REPLY=N", value_parser = refused)]
    max_refused: Vec<(String, u64)>,
}

impl TargetArgs {
    /// The target; `--deliver-by` is read on the clock of `model`.
    pub fn target(&self, model: &scenario::Model, file: &Path) -> Result<Target, String> {
        let deliver_by = self
            .deliver_by
            .as_deref()
            .map(|t| DeliverBy::parse(t, model, &file.display().to_string()))
            .transpose()?;
        Ok(Target {
            max_bounced: self.max_bounced,
            max_deferred: self.max_deferred,
            max_queued: self.max_queued,
            max_p99_delay: self.max_p99_delay,
            max_delay: self.max_delay,
            quantile: self.quantile,
            deadline: self.deadline,
            deliver_by,
            max_refused: self.max_refused.clone(),
        })
    }
}

fn duration(text: &str) -> Result<SimDuration, String> {
    parse_duration(text).map_err(|e| scenario::diagnostic::split_hint(&e).0.to_string())
}

fn quantile(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|q| *q > 0.0 && *q <= 1.0)
        .ok_or_else(|| {
            format!("`{text}` is not a quantile: write a number above 0 and at most 1, e.g. 0.95")
        })
}

/// `550 5.7.1=0`: a reply's start and a count.
fn refused(text: &str) -> Result<(String, u64), String> {
    let hint =
        "write REPLY=N, e.g. '550 5.7.1=0' (the start of the reply line, then the most allowed)";
    let (reply, n) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("`{text}` has no `=`; {hint}"))?;
    let reply = reply.trim();
    if reply.len() < 3 || !reply.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "`{reply}` does not start with a reply code such as 550; {hint}"
        ));
    }
    let n = n
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("`{n}` is not a count; {hint}"))?;
    Ok((reply.to_string(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_a_reply_and_a_count() {
        assert_eq!(
            refused("550 5.7.1=0").unwrap(),
            ("550 5.7.1".to_string(), 0)
        );
        assert_eq!(refused("421=12").unwrap(), ("421".to_string(), 12));
        for bad in ["550 5.7.1", "5.7.1=0", "550=x", "=3"] {
            assert!(refused(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantiles_are_between_0_and_1() {
        assert_eq!(quantile("0.95"), Ok(0.95));
        assert_eq!(quantile("1"), Ok(1.0));
        for bad in ["0", "1.5", "-0.1", "x"] {
            assert!(quantile(bad).is_err(), "{bad}");
        }
    }
}
