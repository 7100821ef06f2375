//! What a capacity search must meet, in the terms planners state it: counts of
//! bounced, deferred or queued recipients, delivery delays (every message, a
//! quantile, a deadline after generation, a clock time), and refusals by reply.

use relay::time::{SimDuration, SimTime};
use scenario::Model;

use super::Point;
use crate::numbers::group_thousands;

/// `--deliver-by HH:MM`: every message generated before that clock time is delivered
/// by it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliverBy {
    /// The first time after the scenario's start that the clock shows `text`.
    pub at: SimTime,
    /// As written, e.g. `06:00`.
    pub text: String,
}

impl DeliverBy {
    /// `HH:MM` (or `HH:MM:SS`) on the scenario's clock: the first such moment after
    /// its `start` (the next day's when the start is at or past it).
    pub fn parse(text: &str, model: &Model, file: &str) -> Result<Self, String> {
        let Some(start) = model.start else {
            return Err(format!(
                "--deliver-by {text} is a clock time, and {file} has no start\nhelp: add `start = 2026-03-02T00:00:00Z` (its date and time) to [simulation], or use --deadline DURATION"
            ));
        };
        let bad = || {
            format!(
                "--deliver-by `{text}` is not a clock time\nhelp: write it as HH:MM, e.g. 06:00"
            )
        };
        let parts: Vec<u32> = text
            .trim()
            .split(':')
            .map(|p| p.parse::<u32>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let (h, m, s) = match parts[..] {
            [h, m] => (h, m, 0),
            [h, m, s] => (h, m, s),
            _ => return Err(bad()),
        };
        if h > 23 || m > 59 || s > 59 {
            return Err(bad());
        }
        let want = i64::from(h * 3600 + m * 60 + s);
        let mut ahead = (want - i64::from(start.second_of_day)).rem_euclid(86_400);
        if ahead == 0 {
            ahead = 86_400;
        }
        Ok(DeliverBy {
            at: SimTime(ahead as u64 * 1000),
            text: text.trim().to_string(),
        })
    }
}

/// What `--find-min-licences` must meet at every replicate. Every part is optional;
/// a run meets the target when it meets every part given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Target {
    pub max_bounced: Option<u64>,
    /// Recipients deferred at least once.
    pub max_deferred: Option<u64>,
    pub max_queued: Option<u64>,
    pub max_p99_delay: Option<SimDuration>,
    /// Every delivered message (or, with `quantile`, that quantile of them).
    pub max_delay: Option<SimDuration>,
    pub quantile: Option<f64>,
    /// Every message delivered within this of its generation.
    pub deadline: Option<SimDuration>,
    pub deliver_by: Option<DeliverBy>,
    /// Replies (by the start of their line, e.g. `550 5.7.1`) given at most so often.
    pub max_refused: Vec<(String, u64)>,
}

impl Target {
    pub fn is_empty(&self) -> bool {
        *self == Target::default()
    }

    /// Every way `p` misses the target, in words (empty: it meets it).
    pub fn misses(&self, p: &Point) -> Vec<String> {
        let mut why = Vec::new();
        let n = |x: u64| group_thousands(x);
        let mut over = |what: String, got: u64, max: Option<u64>| {
            if let Some(m) = max.filter(|m| got > *m) {
                why.push(format!("{what} (at most {} wanted)", n(m)));
            }
        };
        over(
            format!("{} recipients bounced", n(p.bounced)),
            p.bounced,
            self.max_bounced,
        );
        over(
            format!(
                "{} recipients deferred at least once, {} deferrals in all",
                n(p.deferred),
                n(p.deferral_attempts)
            ),
            p.deferred,
            self.max_deferred,
        );
        over(
            format!("{} recipients still queued at the end", n(p.queued_at_end)),
            p.queued_at_end,
            self.max_queued,
        );
        for ((prefix, max), got) in self.max_refused.iter().zip(&p.refused) {
            over(format!("{} replies `{prefix}…`", n(*got)), *got, Some(*max));
        }
        // Judged to the millisecond, shown to the second (rounded up, so a delay just
        // over the bound never reads as the bound).
        let secs = |s: f64| SimDuration::from_millis((s * 1000.0).round() as u64);
        let show = |s: f64| SimDuration::from_millis((s.ceil() * 1000.0) as u64);
        if let Some(max) = self.max_p99_delay {
            let p99 = p.delay_s.map_or(0.0, |d| d[2]);
            if secs(p99) > max {
                why.push(format!(
                    "p99 delivery delay {} (at most {max} wanted)",
                    show(p99)
                ));
            }
        }
        if let Some(max) = self.max_delay {
            match self.quantile {
                Some(q) => {
                    let got = p.quantile_delay_s.unwrap_or(0.0);
                    if secs(got) > max {
                        why.push(format!(
                            "the {} quantile of delivery delay is {} (at most {max} wanted)",
                            q,
                            show(got)
                        ));
                    }
                }
                None => {
                    let got = p.delay_s.map_or(0.0, |d| d[3]);
                    if secs(got) > max {
                        why.push(format!(
                            "the slowest message took {} (at most {max} wanted)",
                            show(got)
                        ));
                    }
                }
            }
        }
        if let Some(deadline) = self.deadline
            && p.late > 0
        {
            let slowest = p.delay_s.map_or(String::new(), |d| {
                format!("; the slowest delivered took {}", show(d[3]))
            });
            why.push(format!(
                "{} messages not delivered within {deadline} of their generation{slowest}",
                n(p.late)
            ));
        }
        if let Some(by) = &self.deliver_by
            && p.late_by > 0
        {
            why.push(format!(
                "{} messages generated before {} not delivered by then",
                n(p.late_by),
                by.text
            ));
        }
        if (self.deadline.is_some() || self.deliver_by.is_some()) && p.undecided > 0 {
            why.push(format!(
                "{} messages still queued when the run ended, before their deadline: the run cannot tell whether they make it (lengthen [simulation] duration)",
                n(p.undecided)
            ));
        }
        why
    }

    /// The target as command-line options, e.g. `--deadline 1h --max-bounced 0`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = self.deadline {
            parts.push(format!("--deadline {d}"));
        }
        if let Some(by) = &self.deliver_by {
            parts.push(format!("--deliver-by {}", by.text));
        }
        if let Some(q) = self.quantile {
            parts.push(format!("--quantile {q}"));
        }
        if let Some(d) = self.max_delay {
            parts.push(format!("--max-delay {d}"));
        }
        if let Some(d) = self.max_p99_delay {
            parts.push(format!("--max-p99-delay {d}"));
        }
        for (flag, v) in [
            ("--max-bounced", self.max_bounced),
            ("--max-deferred", self.max_deferred),
            ("--max-queued", self.max_queued),
        ] {
            if let Some(v) = v {
                parts.push(format!("{flag} {v}"));
            }
        }
        for (prefix, max) in &self.max_refused {
            parts.push(format!("--max-refused '{prefix}={max}'"));
        }
        parts.join(" ")
    }

    /// The delay the target bounds, if one (for the capacity chart's line): the
    /// deadline, the max delay, or the p99 bound.
    pub fn delay_bound(&self) -> Option<SimDuration> {
        self.deadline.or(self.max_delay).or(self.max_p99_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point() -> Point {
        Point {
            variant: 0,
            licences: 100,
            replicate: 0,
            seed: 1,
            generated: 1000,
            delivered: 990,
            deferred: 40,
            deferral_attempts: 130,
            bounced: 10,
            queued_at_end: 0,
            first_hits: [None; 4],
            customer_limit_hit: false,
            delay_s: Some([1.0, 60.0, 600.0, 4000.0]),
            quantile_delay_s: Some(300.0),
            late: 3,
            late_by: 0,
            undecided: 0,
            refused: vec![10],
            fixed_limits: Vec::new(),
            meets: None,
        }
    }

    #[test]
    fn each_part_of_a_target_is_judged() {
        let p = point();
        let h = SimDuration::HOUR;
        let table: Vec<(Target, bool)> = vec![
            (Target::default(), true),
            (
                Target {
                    max_bounced: Some(10),
                    ..Default::default()
                },
                true,
            ),
            (
                Target {
                    max_bounced: Some(9),
                    ..Default::default()
                },
                false,
            ),
            (
                Target {
                    max_deferred: Some(40),
                    ..Default::default()
                },
                true,
            ),
            (
                Target {
                    max_deferred: Some(39),
                    ..Default::default()
                },
                false,
            ),
            (
                Target {
                    max_delay: Some(SimDuration::from_millis(4_000_000)),
                    ..Default::default()
                },
                true,
            ),
            (
                Target {
                    max_delay: Some(h),
                    ..Default::default()
                },
                false,
            ),
            (
                Target {
                    max_delay: Some(SimDuration::from_millis(300_000)),
                    quantile: Some(0.95),
                    ..Default::default()
                },
                true,
            ),
            (
                Target {
                    max_delay: Some(SimDuration::from_millis(299_000)),
                    quantile: Some(0.95),
                    ..Default::default()
                },
                false,
            ),
            (
                Target {
                    deadline: Some(h),
                    ..Default::default()
                },
                false,
            ),
            (
                Target {
                    max_refused: vec![("550 5.7.1".into(), 10)],
                    ..Default::default()
                },
                true,
            ),
            (
                Target {
                    max_refused: vec![("550 5.7.1".into(), 9)],
                    ..Default::default()
                },
                false,
            ),
        ];
        for (target, meets) in table {
            assert_eq!(
                target.misses(&p).is_empty(),
                meets,
                "{target:?}: {:?}",
                target.misses(&p)
            );
        }
    }

    #[test]
    fn a_deadline_counts_the_undecided_as_misses() {
        let p = Point {
            late: 0,
            undecided: 2,
            ..point()
        };
        let t = Target {
            deadline: Some(SimDuration::HOUR),
            ..Default::default()
        };
        let why = t.misses(&p);
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("lengthen [simulation] duration"), "{why:?}");
    }
}
