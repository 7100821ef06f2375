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

/// Why a delivery attempt failed, for the profiles whose schedule depends on it
/// (Exchange 2007/2010).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// No session: the connection was refused, or closed with 421 at connect/HELO,
    /// or the destination is held down after such failures (M1).
    Connection,
    /// The relay answered in a session with a 4xx (M1).
    Reply,
}

/// When a deferred message is tried again (M2).
#[derive(Clone, Debug, PartialEq)]
pub enum RetryPolicy {
    /// Postfix (`qmgr_active.c`, `postconf.proto`): after a deferral the message waits
    /// its age, clamped to `[min, max]` (`minimal_backoff_time` 300 s,
    /// `maximal_backoff_time` 4,000 s: the gap doubles), and is picked up by the next
    /// queue run (`queue_run_delay` 300 s; runs at multiples of it from the start).
    Backoff {
        queue_run: SimDuration,
        min: SimDuration,
        max: SimDuration,
    },
    /// Sendmail: every queue run (`-q` interval) tries every queued message.
    QueueRuns { interval: SimDuration },
    /// Exim (`retry.c`): the retry rule gives the earliest next try, its items chosen
    /// by the time since the first failure; the message is tried again at the first
    /// queue run (`-q` interval) at or after that, or at once without queue runs.
    Rules {
        rules: RetryRules,
        queue_run: Option<SimDuration>,
    },
    /// qmail (`qmail-send.c`): `birth + (⌊√(now − birth)⌋ + chanskip)²` seconds
    /// (chanskip 20 for remote deliveries).
    Qmail { chanskip: u64 },
    /// Exchange 2000/2003, Domino, GroupWise: the gaps after the 1st, 2nd, … failure;
    /// the last repeats.
    Intervals(Vec<SimDuration>),
    /// Exchange 2007/2010: after connection failures `glitch` retries (count, gap),
    /// then `transient` retries (count, gap), then every `connection_failure`; after a
    /// 4xx in a session, every `message`.
    Exchange {
        glitch: (u32, SimDuration),
        transient: (u32, SimDuration),
        connection_failure: SimDuration,
        message: SimDuration,
    },
}

/// What a message's retry schedule needs to know about its past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryState {
    pub birth: SimTime,
    /// The first failed attempt (Exim's rules are measured from it); meaningful once
    /// `failures > 0`. (Not an `Option`: every queued message carries one, and a
    /// queue may hold a million.)
    pub first_failure: SimTime,
    pub failures: u32,
    /// Failures without a session (Exchange 2007/2010 counts them).
    pub connection_failures: u32,
    /// The last failed attempt and the gap its rule predicted (Exim's G rule grows
    /// from the smaller of that and the gap that actually passed).
    pub last_try: SimTime,
    pub predicted_gap: SimDuration,
}

impl RetryState {
    pub fn new(birth: SimTime) -> Self {
        RetryState {
            birth,
            first_failure: birth,
            failures: 0,
            connection_failures: 0,
            last_try: birth,
            predicted_gap: SimDuration::ZERO,
        }
    }
}

impl RetryPolicy {
    /// Records a failed attempt at `now` and returns when to try next; `None` when the
    /// policy gives up (an Exim rule past its last cutoff).
    pub fn after_failure(
        &self,
        state: &mut RetryState,
        now: SimTime,
        kind: FailureKind,
    ) -> Option<SimTime> {
        if state.failures == 0 {
            state.first_failure = now;
        }
        let first = state.first_failure;
        state.failures += 1;
        if kind == FailureKind::Connection {
            state.connection_failures += 1;
        }
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
            RetryPolicy::Rules { rules, queue_run } => {
                let since_first = now.saturating_since(first);
                let item = rules.0.iter().find(|i| since_first < i.cutoff())?;
                let gap = exim_gap(item, state, now);
                state.predicted_gap = SimDuration::from_millis(gap);
                match queue_run {
                    Some(q) => next_multiple_at_or_after(n + gap, q.as_millis()),
                    None => n + gap,
                }
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
            RetryPolicy::Exchange {
                glitch,
                transient,
                connection_failure,
                message,
            } => {
                let gap = match kind {
                    FailureKind::Reply => *message,
                    FailureKind::Connection => {
                        let k = state.connection_failures;
                        if k <= glitch.0 {
                            glitch.1
                        } else if k <= glitch.0 + transient.0 {
                            transient.1
                        } else {
                            *connection_failure
                        }
                    }
                };
                n + gap.as_millis()
            }
        };
        state.last_try = now;
        Some(SimTime(next.max(n + 1)))
    }

    /// Exim's queue-run period (kept when an override replaces its rule).
    fn queue_run_of_rules(&self) -> Option<SimDuration> {
        match self {
            RetryPolicy::Rules { queue_run, .. } => *queue_run,
            _ => None,
        }
    }

    /// Whether the policy reads a message's `first_failure`, `last_try` and
    /// `predicted_gap` (only Exim's rules do): the queue keeps them only then.
    pub fn reads_failure_times(&self) -> bool {
        matches!(self, RetryPolicy::Rules { .. })
    }

    /// The queue-run period, for profiles that have one.
    pub fn queue_run(&self) -> Option<SimDuration> {
        match self {
            RetryPolicy::Backoff { queue_run, .. } => Some(*queue_run),
            RetryPolicy::QueueRuns { interval } => Some(*interval),
            RetryPolicy::Rules { queue_run, .. } => *queue_run,
            _ => None,
        }
    }
}

/// Exim `retry.c`, in whole seconds as Exim counts: F gives its interval; G gives
/// `lastgap < p1 ? p1 : lastgap × p2`, where `lastgap` is the smaller of the gap the
/// last try predicted and the gap that actually passed since it (a queue run may come
/// later than predicted).
fn exim_gap(item: &RetryItem, state: &RetryState, now: SimTime) -> u64 {
    match *item {
        RetryItem::Fixed { interval, .. } => interval.as_millis(),
        RetryItem::Geometric {
            first, multiplier, ..
        } => {
            let predicted = state.predicted_gap.as_millis() / 1000;
            let actual = now.saturating_since(state.last_try).as_millis() / 1000;
            let lastgap = predicted.min(actual);
            let p1 = first.as_millis() / 1000;
            // Exim stores p2 in thousandths: `(lastgap * rule->p2) / 1000`.
            let p2 = (multiplier * 1000.0).round() as u64;
            let gap_s = if lastgap < p1 {
                p1
            } else {
                lastgap * p2 / 1000
            };
            gap_s * 1000
        }
    }
}

fn next_multiple_at_or_after(t: u64, period: u64) -> u64 {
    let p = period.max(1);
    t.div_ceil(p) * p
}

/// What a failed session does to the MTA's view of the destination (M1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SiteHealth {
    /// Postfix (`qmgr_queue.c`, `qmgr_queue_throttle`): each failed session adds
    /// `1 / concurrency` to the failed cohorts and lowers the concurrency by one (at
    /// least 1); at `cohort_limit` cohorts
    /// (`default_destination_concurrency_failed_cohort_limit`, 1) the destination is
    /// dead: its mail is deferred without a connection until `revive_after`
    /// (`minimal_backoff_time`, 300 s) has passed. A successful delivery clears the
    /// cohorts (`qmgr_queue_unthrottle`).
    Cohorts {
        cohort_limit: f64,
        revive_after: SimDuration,
    },
    /// Sendmail: the host is skipped until the next queue run.
    UntilNextQueueRun,
    /// Every other profile: the concurrency falls back to its initial value; the
    /// next message tries again.
    Retry,
}

/// Every behaviour number of one MTA, its profile's with the overrides applied.
#[derive(Clone, Debug, PartialEq)]
pub struct MtaParams {
    pub retry: RetryPolicy,
    /// M1: what failed sessions do to the destination.
    pub site_health: SiteHealth,
    /// M4: a message still undelivered this long after it was queued bounces.
    pub queue_lifetime: SimDuration,
    /// M3: most recipients per SMTP transaction (`u32::MAX`: none of its own).
    pub recipients_per_transaction: u32,
    /// M6: recipients refused with `452` go in another transaction of the same
    /// delivery. qmail's `qmail-remote` sends one transaction per delivery: a refused
    /// recipient waits for `qmail-send`'s next retry of it.
    pub resend_too_many_recipients: bool,
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

fn days(d: u64) -> SimDuration {
    SimDuration::from_secs(d * 86_400)
}

impl MtaParams {
    /// The documented defaults of a profile. Sources: Postfix `postconf.proto` and
    /// `qmgr_queue.c`; Exim `configure.default`, `retry.c` and Debian's
    /// `/etc/default/exim4` (`QUEUEINTERVAL='30m'`); Sendmail `proto.m4`; notqmail
    /// `qmail-send.c` and `qmail-remote.c`; Microsoft's Exchange docs (X1, X2, X4 in
    /// the shared email-facts); the seed page for the tuned Exchange 2003 and Domino.
    pub fn of_profile(profile: MtaProfile) -> Self {
        let postfix = MtaParams {
            retry: RetryPolicy::Backoff {
                queue_run: SimDuration::from_secs(300),
                min: SimDuration::from_secs(300),
                max: SimDuration::from_secs(4000),
            },
            site_health: SiteHealth::Cohorts {
                cohort_limit: 1.0,
                revive_after: SimDuration::from_secs(300),
            },
            queue_lifetime: days(5),
            recipients_per_transaction: 50,
            resend_too_many_recipients: true,
            initial_concurrency: 5,
            max_concurrency: 20,
            connection_cache: true,
            connection_reuse_time: SimDuration::from_secs(300),
            connection_reuse_count: 0,
            // smtp_connection_cache_time_limit
            connection_idle_time: SimDuration::from_secs(2),
            helo_verb: HeloVerb::Ehlo,
        };
        // What the non-Postfix profiles share unless they say otherwise.
        let other = MtaParams {
            site_health: SiteHealth::Retry,
            recipients_per_transaction: 100, // [assumption]
            connection_reuse_time: mins(5),
            connection_idle_time: SimDuration::from_secs(10),
            ..postfix.clone()
        };
        let exchange_2003 = |gaps: Vec<SimDuration>| MtaParams {
            retry: RetryPolicy::Intervals(gaps),
            // Delivery tab: expiration timeout 2 days.
            queue_lifetime: days(2),
            initial_concurrency: 10, // [assumption]
            max_concurrency: 10,
            connection_reuse_count: 20, // [assumption] messages per connection
            ..other.clone()
        };
        let one_per_connection = MtaParams {
            connection_cache: false,
            connection_reuse_time: SimDuration::ZERO,
            connection_reuse_count: 1,
            connection_idle_time: SimDuration::ZERO,
            ..other.clone()
        };
        match profile {
            MtaProfile::Postfix | MtaProfile::MacosServer => postfix,
            MtaProfile::Exim => MtaParams {
                retry: RetryPolicy::Rules {
                    rules: "F,2h,15m; G,16h,1h,1.5; F,4d,6h"
                        .parse()
                        .expect("Exim's default retry rule parses"),
                    // Exim retries at queue runs only: the daemon's `-q30m` (Debian's
                    // QUEUEINTERVAL default).
                    queue_run: Some(mins(30)),
                },
                // The rule's last cutoff.
                queue_lifetime: days(4),
                // smtp transport max_rcpt
                recipients_per_transaction: 100,
                // remote_max_parallel
                initial_concurrency: 4,
                max_concurrency: 4,
                // connection_max_messages 500, within a delivery run
                connection_reuse_time: SimDuration::from_secs(300),
                connection_reuse_count: 500,
                connection_idle_time: SimDuration::from_secs(2),
                ..other.clone()
            },
            MtaProfile::Sendmail => MtaParams {
                // -q30m [assumption: sendmail has no default queue interval]
                retry: RetryPolicy::QueueRuns { interval: mins(30) },
                site_health: SiteHealth::UntilNextQueueRun,
                queue_lifetime: days(5),
                initial_concurrency: 10, // [assumption] one process per message
                max_concurrency: 10,
                // ConnectionCacheSize 2, ConnectionCacheTimeout 5 min
                connection_idle_time: mins(5),
                ..other.clone()
            },
            MtaProfile::Qmail => MtaParams {
                retry: RetryPolicy::Qmail { chanskip: 20 },
                queue_lifetime: days(7),
                recipients_per_transaction: u32::MAX, // one transaction per delivery
                resend_too_many_recipients: false,
                initial_concurrency: 20, // concurrencyremote
                max_concurrency: 20,
                helo_verb: HeloVerb::Helo,
                // qmail-remote: one message per connection
                ..one_per_connection.clone()
            },
            // The SMTP virtual server's defaults (X4): retries after 15, 30 and 60
            // minutes, then every 240.
            MtaProfile::Exchange2003 => {
                exchange_2003(vec![mins(15), mins(30), mins(60), mins(240)])
            }
            // The seed page's recommendation: 1, 1, 3, then every 5 minutes.
            MtaProfile::Exchange2003Tuned => {
                exchange_2003(vec![mins(1), mins(1), mins(3), mins(5)])
            }
            MtaProfile::Exchange2010 => MtaParams {
                // X1, X2: QueueGlitchRetryCount 4 / QueueGlitchRetryInterval 1 min,
                // TransientFailureRetryCount 6 / TransientFailureRetryInterval 5 min,
                // OutboundConnectionFailureRetryInterval 10 min (Hub),
                // MessageRetryInterval 15 min; MessageExpirationTimeout 2 days.
                retry: RetryPolicy::Exchange {
                    glitch: (4, mins(1)),
                    transient: (6, mins(5)),
                    connection_failure: mins(10),
                    message: mins(15),
                },
                queue_lifetime: days(2),
                initial_concurrency: 20, // [assumption]
                max_concurrency: 20,
                connection_reuse_count: 20, // [assumption]
                ..other.clone()
            },
            MtaProfile::Domino => MtaParams {
                // The seed: initial transfer retry interval at least one minute.
                retry: RetryPolicy::Intervals(vec![mins(1)]),
                queue_lifetime: SimDuration::DAY, // [assumption]
                initial_concurrency: 5,           // [assumption]
                max_concurrency: 5,
                ..one_per_connection.clone()
            },
            MtaProfile::Groupwise => MtaParams {
                retry: RetryPolicy::Intervals(vec![mins(10)]), // [assumption]
                queue_lifetime: days(4),                       // [assumption]
                // M3: concurrency = its "SMTP send threads" [assumption: 8].
                initial_concurrency: 8,
                max_concurrency: 8,
                ..one_per_connection
            },
        }
    }

    /// The MTA's numbers: its profile's, with `[mta.overrides]` applied.
    pub fn for_mta(mta: &Mta) -> Self {
        let mut p = MtaParams::of_profile(mta.profile);
        let o = &mta.overrides;
        if let Some(rule) = &o.retry_rule {
            p.retry = RetryPolicy::Rules {
                rules: rule.clone(),
                // Exim keeps its queue runs; the other profiles retry at the rule's times.
                queue_run: o.queue_run_interval.or(p.retry.queue_run_of_rules()),
            };
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
                RetryPolicy::Rules { queue_run, .. } => {
                    *queue_run = o.queue_run_interval.or(*queue_run);
                }
                RetryPolicy::Qmail { .. }
                | RetryPolicy::Intervals(_)
                | RetryPolicy::Exchange { .. } => {}
            }
        }
        if let (SiteHealth::Cohorts { revive_after, .. }, Some(min)) =
            (&mut p.site_health, o.min_backoff)
        {
            *revive_after = min; // Postfix revives a dead site after minimal_backoff_time
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
    /// every attempt fails with `kind` (the first attempt, at 0, included).
    fn first_ten(profile: MtaProfile, kind: FailureKind) -> Vec<u64> {
        let policy = MtaParams::of_profile(profile).retry;
        let mut state = RetryState::new(SimTime::ZERO);
        let mut now = SimTime::ZERO;
        (0..10)
            .map(|_| {
                now = policy
                    .after_failure(&mut state, now, kind)
                    .expect("still retrying");
                now.as_millis() / 1000
            })
            .collect()
    }

    /// M2: every profile's first ten retries after a `450` at t0, each row written
    /// from the real software's documented defaults (the source is in the row).
    #[test]
    fn m02_first_ten_retries_after_a_450_match_the_real_defaults() {
        use MtaProfile::*;
        let table: [(MtaProfile, [u64; 10], &str); 10] = [
            (
                Postfix,
                [300, 600, 1200, 2400, 4800, 9000, 13200, 17400, 21600, 25800],
                "postconf.proto: queue_run_delay 300s, minimal_backoff_time 300s, \
                 maximal_backoff_time 4000s; qmgr_active.c: backoff = the message's age, \
                 clamped; picked up by the next queue run",
            ),
            (
                MacosServer,
                [300, 600, 1200, 2400, 4800, 9000, 13200, 17400, 21600, 25800],
                "Postfix inside (as Postfix)",
            ),
            (
                Exim,
                [
                    1800, 3600, 5400, 7200, 10800, 16200, 25200, 37800, 57600, 79200,
                ],
                "configure.default: F,2h,15m; G,16h,1h,1.5; F,4d,6h; retry.c: \
                 next = lastgap < p1 ? p1 : lastgap × p2 with lastgap = min(predicted, \
                 actual); tried at the next -q30m queue run (Debian QUEUEINTERVAL); \
                 at 16 h (57,600 s) the F,4d,6h item takes over",
            ),
            (
                Sendmail,
                [
                    1800, 3600, 5400, 7200, 9000, 10800, 12600, 14400, 16200, 18000,
                ],
                "every queue run; -q30m [assumption: sendmail has no default interval]",
            ),
            (
                Qmail,
                [
                    400, 1600, 3600, 6400, 10000, 14400, 19600, 25600, 32400, 40000,
                ],
                "qmail-send.c: birth + (⌊√age⌋ + 20)² s for remote deliveries",
            ),
            (
                Exchange2003,
                [
                    900, 2700, 6300, 20700, 35100, 49500, 63900, 78300, 92700, 107100,
                ],
                "SMTP virtual server defaults (X4): retry after 15, 30, 60 min, then every 240",
            ),
            (
                Exchange2003Tuned,
                [60, 120, 300, 600, 900, 1200, 1500, 1800, 2100, 2400],
                "the seed page's recommendation: 1, 1, 3, then every 5 min",
            ),
            (
                Exchange2010,
                [900, 1800, 2700, 3600, 4500, 5400, 6300, 7200, 8100, 9000],
                "X1: MessageRetryInterval 15 min after a 4xx in a session",
            ),
            (
                Domino,
                [60, 120, 180, 240, 300, 360, 420, 480, 540, 600],
                "the seed page: retry interval at least 1 min",
            ),
            (
                Groupwise,
                [600, 1200, 1800, 2400, 3000, 3600, 4200, 4800, 5400, 6000],
                "[assumption] every 10 min",
            ),
        ];
        for (profile, expected, source) in table {
            assert_eq!(
                first_ten(profile, FailureKind::Reply),
                expected,
                "{profile:?} ({source})"
            );
        }
    }

    /// M2 Exchange 2007/2010 after connection failures (X1, X2): 4 glitch retries
    /// 1 min apart (QueueGlitchRetryCount, QueueGlitchRetryInterval), 6 transient
    /// retries 5 min apart (TransientFailureRetryCount, TransientFailureRetryInterval),
    /// then every 10 min (OutboundConnectionFailureRetryInterval, Hub).
    #[test]
    fn m02_exchange_2010_connection_failures_glitch_then_transient_then_10_minutes() {
        assert_eq!(
            first_ten(MtaProfile::Exchange2010, FailureKind::Connection),
            [60, 120, 180, 240, 540, 840, 1140, 1440, 1740, 2040]
        );
        let policy = MtaParams::of_profile(MtaProfile::Exchange2010).retry;
        let mut state = RetryState::new(SimTime::ZERO);
        let mut now = SimTime::ZERO;
        for _ in 0..10 {
            now = policy
                .after_failure(&mut state, now, FailureKind::Connection)
                .unwrap();
        }
        let next = policy
            .after_failure(&mut state, now, FailureKind::Connection)
            .unwrap();
        assert_eq!(next.as_millis() - now.as_millis(), 600_000);
    }

    /// M2 Exim: the `queue_run_interval` override moves the queue runs; a G rule
    /// grows from the smaller of the predicted and the actual gap (`retry.c`).
    #[test]
    fn m02_exim_retries_at_queue_runs_and_the_override_takes_effect() {
        let policy = RetryPolicy::Rules {
            rules: "G,1d,10m,2".parse().unwrap(),
            queue_run: Some(SimDuration::from_secs(3600)),
        };
        let mut state = RetryState::new(SimTime::ZERO);
        let mut now = SimTime::ZERO;
        let times: Vec<u64> = (0..4)
            .map(|_| {
                now = policy
                    .after_failure(&mut state, now, FailureKind::Reply)
                    .unwrap();
                now.as_millis() / 1000
            })
            .collect();
        // 10 min → run at 1 h; predicted 10 min < actual 1 h: lastgap 10 min <
        // p1? no (equal) → 20 min → run at 2 h; then 40 min → 3 h; 80 min → 5 h.
        assert_eq!(times, [3600, 7200, 10800, 18000]);
    }

    /// Exim gives up past the last cutoff.
    #[test]
    fn m02_exim_gives_up_after_the_last_cutoff() {
        let policy = RetryPolicy::Rules {
            rules: "F,1h,30m".parse().unwrap(),
            queue_run: None,
        };
        let mut state = RetryState::new(SimTime::ZERO);
        let mut at = |t: u64| policy.after_failure(&mut state, SimTime(t), FailureKind::Reply);
        assert_eq!(at(0), Some(SimTime(1_800_000)));
        assert_eq!(at(1_800_000), Some(SimTime(3_600_000)));
        assert_eq!(at(3_600_000), None);
    }

    /// M3: Postfix sends at most 50 recipients per transaction, 20 connections after a
    /// slow start at 5, caches connections for up to 300 s; M1: a destination dies
    /// after one cohort of failed sessions and revives after minimal_backoff_time.
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
        assert_eq!(
            p.site_health,
            SiteHealth::Cohorts {
                cohort_limit: 1.0,
                revive_after: SimDuration::from_secs(300)
            }
        );
    }

    /// M6: qmail sends one transaction per delivery; every other profile continues
    /// refused recipients in another transaction.
    #[test]
    fn m06_only_qmail_does_not_resend_in_a_new_transaction() {
        use MtaProfile::*;
        for profile in [
            Postfix,
            Exim,
            Sendmail,
            Exchange2003,
            Exchange2003Tuned,
            Exchange2010,
            Domino,
            Groupwise,
            MacosServer,
        ] {
            assert!(MtaParams::of_profile(profile).resend_too_many_recipients);
        }
        assert!(!MtaParams::of_profile(Qmail).resend_too_many_recipients);
    }
}
