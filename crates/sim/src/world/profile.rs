//! MTA profiles (rules M2, M3): the retry schedule, queue lifetime, concurrency,
//! recipients per transaction and connection caching of each known mail server, with
//! every number overridable per `[[mta]]` in `[mta.overrides]`.
//!
//! Sources (see the shared email-facts): Postfix `mail_params.h` / `postconf.proto`;
//! Exim `configure.default`; Sendmail `proto.m4` and Oracle's docs; notqmail
//! `qmail-send.c`; Microsoft's Exchange docs; the seed page for the Exchange 2000/2003
//! and Domino values. Values no source gives are marked [assumption].

use relay::HeloVerb;
use relay::time::{SimDuration, SimTime};
use scenario::model::{Mta, MtaProfile};
use scenario::values::{RetryItem, RetryRules};

/// When a deferred message is tried again.
#[derive(Clone, Debug, PartialEq)]
pub enum RetryPolicy {
    /// Postfix: after a deferral the message waits its age, clamped to
    /// `[min, max]` (`minimal_backoff_time` 300 s, `maximal_backoff_time` 4,000 s: the
    /// gap doubles), and is picked up by the next queue run (`queue_run_delay`
    /// 300 s; runs at multiples of it from the start).
    Backoff {
        queue_run: SimDuration,
        min: SimDuration,
        max: SimDuration,
    },
    /// Sendmail: every queue run (`-q` interval) tries every queued message.
    QueueRuns { interval: SimDuration },
    /// Exim: the retry rule, cutoffs measured from the first failure.
    Rules(RetryRules),
    /// qmail: `birth + (⌊√(now − birth)⌋ + chanskip)²` seconds (chanskip 20 remote).
    Qmail { chanskip: u64 },
    /// Exchange, Domino, GroupWise: the gaps after the 1st, 2nd, … failure; the last
    /// repeats.
    Intervals(Vec<SimDuration>),
}

/// What a message's retry schedule needs to know about its past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryState {
    pub birth: SimTime,
    /// The first failed attempt (Exim's rules are measured from it).
    pub first_failure: Option<SimTime>,
    pub failures: u32,
    /// The gap between the last two attempts (Exim's G rule grows from it).
    pub last_gap: SimDuration,
}

impl RetryState {
    pub fn new(birth: SimTime) -> Self {
        RetryState {
            birth,
            first_failure: None,
            failures: 0,
            last_gap: SimDuration::ZERO,
        }
    }
}

impl RetryPolicy {
    /// Records a failed attempt at `now` and returns when to try next; `None` when the
    /// policy gives up (an Exim rule past its last cutoff).
    pub fn after_failure(&self, state: &mut RetryState, now: SimTime) -> Option<SimTime> {
        let first = *state.first_failure.get_or_insert(now);
        state.failures += 1;
        let n = now.as_millis();
        let next = match self {
            RetryPolicy::Backoff {
                queue_run,
                min,
                max,
            } => {
                let age = now.saturating_since(state.birth).as_millis();
                let eligible = n + age.clamp(min.as_millis(), max.as_millis().max(min.as_millis()));
                next_multiple_at_or_after(eligible, queue_run.as_millis())
            }
            RetryPolicy::QueueRuns { interval } => {
                let q = interval.as_millis().max(1);
                (n / q + 1) * q
            }
            RetryPolicy::Rules(rules) => {
                let since_first = now.saturating_since(first);
                let item = rules.0.iter().find(|i| since_first < i.cutoff())?;
                let gap = match *item {
                    RetryItem::Fixed { interval, .. } => interval.as_millis(),
                    RetryItem::Geometric {
                        first, multiplier, ..
                    } => {
                        // Exim retry.c: the next gap is the last gap × multiplier, at
                        // least the rule's first gap.
                        let grown = (state.last_gap.as_millis() as f64 * multiplier) as u64;
                        grown.max(first.as_millis())
                    }
                };
                n + gap
            }
            RetryPolicy::Qmail { chanskip } => {
                let age_s = now.saturating_since(state.birth).as_millis() / 1000;
                let k = age_s.isqrt() + chanskip;
                state.birth.as_millis() + k * k * 1000
            }
            RetryPolicy::Intervals(gaps) => {
                let i = (state.failures as usize - 1).min(gaps.len().saturating_sub(1));
                n + gaps.get(i).map_or(60_000, |g| g.as_millis())
            }
        };
        let next = next.max(n + 1);
        state.last_gap = SimDuration::from_millis(next - n);
        Some(SimTime(next))
    }

    /// The queue-run period, for profiles that have one (M1: a failed site is skipped
    /// until the next run).
    pub fn queue_run(&self) -> Option<SimDuration> {
        match self {
            RetryPolicy::Backoff { queue_run, .. } => Some(*queue_run),
            RetryPolicy::QueueRuns { interval } => Some(*interval),
            _ => None,
        }
    }
}

fn next_multiple_at_or_after(t: u64, period: u64) -> u64 {
    let p = period.max(1);
    t.div_ceil(p) * p
}

/// Every behaviour number of one MTA, its profile's with the overrides applied.
#[derive(Clone, Debug, PartialEq)]
pub struct MtaParams {
    pub retry: RetryPolicy,
    /// M4: a message still undelivered this long after it was queued bounces.
    pub queue_lifetime: SimDuration,
    /// M3: most recipients per SMTP transaction (`u32::MAX`: none of its own).
    pub recipients_per_transaction: u32,
    /// M3: connections to the relay at first (Postfix slow start).
    pub initial_concurrency: u32,
    /// M3: most concurrent connections to the relay.
    pub max_concurrency: u32,
    /// M3: keep a connection open after a delivery for the next message.
    pub connection_cache: bool,
    /// M3: how long after it opened a connection may still be reused.
    pub connection_reuse_time: SimDuration,
    /// M3: messages per connection (0: no limit).
    pub connection_reuse_count: u32,
    /// How long an idle cached connection stays open.
    pub connection_idle_time: SimDuration,
    /// HELO or EHLO: qmail's `qmail-remote` sends HELO (notqmail `qmail-remote.c`:
    /// `substdio_puts(&smtpto,"HELO ")`); every other profile EHLO.
    pub helo_verb: HeloVerb,
}

fn mins(m: u64) -> SimDuration {
    SimDuration::from_secs(m * 60)
}

impl MtaParams {
    /// The documented defaults of a profile.
    pub fn of_profile(profile: MtaProfile) -> Self {
        let postfix = MtaParams {
            retry: RetryPolicy::Backoff {
                queue_run: SimDuration::from_secs(300),
                min: SimDuration::from_secs(300),
                max: SimDuration::from_secs(4000),
            },
            queue_lifetime: SimDuration::from_secs(5 * 86_400),
            recipients_per_transaction: 50,
            initial_concurrency: 5,
            max_concurrency: 20,
            connection_cache: true,
            connection_reuse_time: SimDuration::from_secs(300),
            connection_reuse_count: 0,
            // smtp_connection_cache_time_limit
            connection_idle_time: SimDuration::from_secs(2),
            helo_verb: HeloVerb::Ehlo,
        };
        match profile {
            MtaProfile::Postfix | MtaProfile::MacosServer => postfix,
            MtaProfile::Exim => MtaParams {
                retry: RetryPolicy::Rules(
                    "F,2h,15m; G,16h,1h,1.5; F,4d,6h"
                        .parse()
                        .expect("Exim's default retry rule parses"),
                ),
                // The rule's last cutoff.
                queue_lifetime: SimDuration::from_secs(4 * 86_400),
                // smtp transport max_rcpt
                recipients_per_transaction: 100,
                // remote_max_parallel
                initial_concurrency: 4,
                max_concurrency: 4,
                // connection_max_messages 500, within a delivery run
                connection_cache: true,
                connection_reuse_time: SimDuration::from_secs(300),
                connection_reuse_count: 500,
                connection_idle_time: SimDuration::from_secs(2),
                helo_verb: HeloVerb::Ehlo,
            },
            MtaProfile::Sendmail => MtaParams {
                // -q30m [assumption: sendmail has no default queue interval]
                retry: RetryPolicy::QueueRuns { interval: mins(30) },
                queue_lifetime: SimDuration::from_secs(5 * 86_400),
                recipients_per_transaction: 100,
                initial_concurrency: 10, // [assumption] one process per message
                max_concurrency: 10,
                connection_cache: true,         // ConnectionCacheSize 2
                connection_reuse_time: mins(5), // ConnectionCacheTimeout
                connection_reuse_count: 0,
                connection_idle_time: mins(5),
                helo_verb: HeloVerb::Ehlo,
            },
            MtaProfile::Qmail => MtaParams {
                retry: RetryPolicy::Qmail { chanskip: 20 },
                queue_lifetime: SimDuration::from_secs(7 * 86_400),
                recipients_per_transaction: u32::MAX, // one transaction per message
                initial_concurrency: 20,              // concurrencyremote
                max_concurrency: 20,
                connection_cache: false, // qmail-remote: one message per connection
                connection_reuse_time: SimDuration::ZERO,
                connection_reuse_count: 1,
                connection_idle_time: SimDuration::ZERO,
                helo_verb: HeloVerb::Helo,
            },
            MtaProfile::Exchange2003 => MtaParams {
                // The seed: first, second, third retry 1, 1, 3 min, then every 5 min.
                retry: RetryPolicy::Intervals(vec![mins(1), mins(1), mins(3), mins(5)]),
                queue_lifetime: SimDuration::from_secs(2 * 86_400),
                recipients_per_transaction: 100, // [assumption]
                initial_concurrency: 10,         // [assumption]
                max_concurrency: 10,
                connection_cache: true,
                connection_reuse_time: mins(5),
                connection_reuse_count: 20, // [assumption] messages per connection
                connection_idle_time: SimDuration::from_secs(10),
                helo_verb: HeloVerb::Ehlo,
            },
            MtaProfile::Exchange2010 => MtaParams {
                // 6 quick retries 5 min apart [unconfirmed], then MessageRetryInterval 15 min.
                retry: RetryPolicy::Intervals(vec![
                    mins(5),
                    mins(5),
                    mins(5),
                    mins(5),
                    mins(5),
                    mins(5),
                    mins(15),
                ]),
                queue_lifetime: SimDuration::from_secs(2 * 86_400),
                recipients_per_transaction: 100, // [assumption]
                initial_concurrency: 20,         // [assumption]
                max_concurrency: 20,
                connection_cache: true,
                connection_reuse_time: mins(5),
                connection_reuse_count: 20, // [assumption]
                connection_idle_time: SimDuration::from_secs(10),
                helo_verb: HeloVerb::Ehlo,
            },
            MtaProfile::Domino => MtaParams {
                // The seed: initial transfer retry interval at least one minute.
                retry: RetryPolicy::Intervals(vec![mins(1)]),
                queue_lifetime: SimDuration::DAY, // [assumption]
                recipients_per_transaction: 100,  // [assumption]
                initial_concurrency: 5,           // [assumption]
                max_concurrency: 5,
                connection_cache: false,
                connection_reuse_time: SimDuration::ZERO,
                connection_reuse_count: 1,
                connection_idle_time: SimDuration::ZERO,
                helo_verb: HeloVerb::Ehlo,
            },
            MtaProfile::Groupwise => MtaParams {
                retry: RetryPolicy::Intervals(vec![mins(10)]), // [assumption]
                queue_lifetime: SimDuration::from_secs(4 * 86_400), // [assumption]
                recipients_per_transaction: 100,               // [assumption]
                // M3: concurrency = its "SMTP send threads" [assumption: 8].
                initial_concurrency: 8,
                max_concurrency: 8,
                connection_cache: false,
                connection_reuse_time: SimDuration::ZERO,
                connection_reuse_count: 1,
                connection_idle_time: SimDuration::ZERO,
                helo_verb: HeloVerb::Ehlo,
            },
        }
    }

    /// The MTA's numbers: its profile's, with `[mta.overrides]` applied.
    pub fn for_mta(mta: &Mta) -> Self {
        let mut p = MtaParams::of_profile(mta.profile);
        let o = &mta.overrides;
        if let Some(rule) = &o.retry_rule {
            p.retry = RetryPolicy::Rules(rule.clone());
            if o.queue_lifetime.is_none() {
                p.queue_lifetime = rule.0.last().map_or(p.queue_lifetime, |i| i.cutoff());
            }
        } else if let Some(gaps) = &o.retry_intervals {
            p.retry = RetryPolicy::Intervals(gaps.clone());
        } else {
            match &mut p.retry {
                RetryPolicy::Backoff {
                    queue_run,
                    min,
                    max,
                } => {
                    *queue_run = o.queue_run_interval.unwrap_or(*queue_run);
                    *min = o.min_backoff.unwrap_or(*min);
                    *max = o.max_backoff.unwrap_or(*max);
                }
                RetryPolicy::QueueRuns { interval } => {
                    *interval = o.queue_run_interval.unwrap_or(*interval);
                }
                _ => {}
            }
        }
        p.queue_lifetime = o.queue_lifetime.unwrap_or(p.queue_lifetime);
        p.recipients_per_transaction = o
            .recipients_per_transaction
            .unwrap_or(p.recipients_per_transaction)
            .max(1);
        p.max_concurrency = o.max_concurrency.unwrap_or(p.max_concurrency).max(1);
        p.initial_concurrency = o
            .initial_concurrency
            .unwrap_or(p.initial_concurrency)
            .clamp(1, p.max_concurrency);
        p.connection_cache = o.connection_cache.unwrap_or(p.connection_cache);
        p.connection_reuse_time = o.connection_reuse_time.unwrap_or(p.connection_reuse_time);
        p.connection_reuse_count = o.connection_reuse_count.unwrap_or(p.connection_reuse_count);
        p.connection_idle_time = o.connection_idle_time.unwrap_or(p.connection_idle_time);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The times (seconds) of the first ten retries of a message queued at 0 whose
    /// every attempt fails.
    fn first_ten(profile: MtaProfile) -> Vec<u64> {
        let policy = MtaParams::of_profile(profile).retry;
        let mut state = RetryState::new(SimTime::ZERO);
        let mut now = SimTime::ZERO;
        (0..10)
            .map(|_| {
                now = policy
                    .after_failure(&mut state, now)
                    .expect("still retrying");
                now.as_millis() / 1000
            })
            .collect()
    }

    /// M2 Postfix: next = the first queue run (every 300 s) at or after
    /// now + clamp(age, 300 s, 4,000 s).
    #[test]
    fn m02_postfix_backoff_doubles_to_4000s_on_queue_runs() {
        let expected = [300, 600, 1200, 2400, 4800, 9000, 13200, 17400, 21600, 25800];
        assert_eq!(first_ten(MtaProfile::Postfix), expected);
        assert_eq!(first_ten(MtaProfile::MacosServer), expected);
    }

    /// M2 Exim: F,2h,15m then G,16h,1h,1.5 (the gap grows ×1.5 from at least 1 h).
    #[test]
    fn m02_exim_default_retry_rule() {
        assert_eq!(
            first_ten(MtaProfile::Exim),
            [900, 1800, 2700, 3600, 4500, 5400, 6300, 7200, 10800, 16200]
        );
    }

    /// M2 Sendmail: every 30-minute queue run.
    #[test]
    fn m02_sendmail_queue_runs() {
        let expected: Vec<u64> = (1..=10).map(|k| k * 1800).collect();
        assert_eq!(first_ten(MtaProfile::Sendmail), expected);
    }

    /// M2 qmail: birth + (⌊√age⌋ + 20)².
    #[test]
    fn m02_qmail_square_root_schedule() {
        assert_eq!(
            first_ten(MtaProfile::Qmail),
            [
                400, 1600, 3600, 6400, 10000, 14400, 19600, 25600, 32400, 40000
            ]
        );
    }

    /// M2 Exchange 2000/2003 as the seed recommends: 1, 1, 3, then every 5 minutes.
    #[test]
    fn m02_exchange_2003_seed_intervals() {
        assert_eq!(
            first_ten(MtaProfile::Exchange2003),
            [60, 120, 300, 600, 900, 1200, 1500, 1800, 2100, 2400]
        );
    }

    /// M2 Exchange 2007/2010: six retries 5 minutes apart, then every 15 minutes.
    #[test]
    fn m02_exchange_2010_quick_then_15_minutes() {
        assert_eq!(
            first_ten(MtaProfile::Exchange2010),
            [300, 600, 900, 1200, 1500, 1800, 2700, 3600, 4500, 5400]
        );
    }

    #[test]
    fn m02_domino_and_groupwise_fixed_intervals() {
        let domino: Vec<u64> = (1..=10).map(|k| k * 60).collect();
        assert_eq!(first_ten(MtaProfile::Domino), domino);
        let groupwise: Vec<u64> = (1..=10).map(|k| k * 600).collect();
        assert_eq!(first_ten(MtaProfile::Groupwise), groupwise);
    }

    /// Exim gives up past the last cutoff.
    #[test]
    fn m02_exim_gives_up_after_the_last_cutoff() {
        let policy = RetryPolicy::Rules("F,1h,30m".parse().unwrap());
        let mut state = RetryState::new(SimTime::ZERO);
        assert_eq!(
            policy.after_failure(&mut state, SimTime::ZERO),
            Some(SimTime(1_800_000))
        );
        assert_eq!(
            policy.after_failure(&mut state, SimTime(1_800_000)),
            Some(SimTime(3_600_000))
        );
        assert_eq!(policy.after_failure(&mut state, SimTime(3_600_000)), None);
    }

    /// M3: Postfix sends at most 50 recipients per transaction, 20 connections after a
    /// slow start at 5, caches connections for up to 300 s.
    #[test]
    fn m03_postfix_connection_numbers() {
        let p = MtaParams::of_profile(MtaProfile::Postfix);
        assert_eq!(
            (
                p.recipients_per_transaction,
                p.initial_concurrency,
                p.max_concurrency
            ),
            (50, 5, 20)
        );
        assert!(p.connection_cache);
        assert_eq!(p.connection_reuse_time, SimDuration::from_secs(300));
        assert_eq!(p.queue_lifetime, SimDuration::from_secs(5 * 86_400));
    }
}
