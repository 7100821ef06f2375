//! Limit episodes: what a planner means by "we hit the 10-minute limit at 09:07".
//! A window that refuses, frees one slot, and refuses again flaps between hit and
//! cleared many times (`limit_hits.csv` has every change); here consecutive
//! hit/cleared pairs of one limit of one subject that follow each other within the
//! scenario's `episode_gap` are one episode (`limit_episodes.csv`, the run summary).

use std::collections::BTreeMap;

use relay::time::{SimDuration, SimTime};
use relay::{LimitChange, LimitEvent, LimitKey, LimitKind, Reply, TenantIx};

/// One episode of one limit of one subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitEpisode {
    pub key: LimitKey,
    pub tenant: Option<TenantIx>,
    pub reply: Reply,
    /// The first hit.
    pub start: SimTime,
    /// The last clear (the horizon, for an episode still in force there).
    pub end: SimTime,
    /// Time the limit was hit within the episode (the gaps between a clear and the
    /// next hit left out).
    pub in_force: SimDuration,
    /// The highest use the limit's hits saw.
    pub peak_used: u64,
    /// The limit's value at the episode's last change.
    pub limit_value: u64,
    /// Commands (or connections) the limit refused in the episode.
    pub refusals: u64,
    /// Hits merged into the episode.
    pub hits: u64,
    /// Still in force at the horizon.
    pub open_at_horizon: bool,
}

/// Builds episodes from a run's limit events, in the order they happen.
#[derive(Clone, Debug, PartialEq)]
pub struct Episodes {
    gap: SimDuration,
    /// Per limit, its latest episode: hit now (`hit_since`), or cleared and waiting
    /// to see whether a hit within `gap` continues it.
    latest: BTreeMap<LimitKey, Latest>,
    done: Vec<LimitEpisode>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Latest {
    episode: LimitEpisode,
    hit_since: Option<SimTime>,
}

impl Episodes {
    /// Hit/cleared pairs at most `gap` apart are merged.
    pub fn new(gap: SimDuration) -> Self {
        Episodes {
            gap,
            latest: BTreeMap::new(),
            done: Vec::new(),
        }
    }

    pub fn limit_event(&mut self, e: &LimitEvent) {
        match e.change {
            LimitChange::Hit => self.hit(e),
            LimitChange::Cleared => {
                if let Some(l) = self.latest.get_mut(&e.key)
                    && let Some(since) = l.hit_since.take()
                {
                    l.episode.end = e.time;
                    l.episode.in_force = l.episode.in_force + (e.time - since);
                    l.episode.refusals += e.refusals;
                    l.episode.limit_value = e.limit_value;
                }
            }
        }
    }

    fn hit(&mut self, e: &LimitEvent) {
        if let Some(l) = self.latest.get_mut(&e.key) {
            if l.hit_since.is_some() {
                return; // a second hit without a clear: nothing new
            }
            if e.time - l.episode.end <= self.gap {
                l.hit_since = Some(e.time);
                l.episode.hits += 1;
                l.episode.peak_used = l.episode.peak_used.max(e.used);
                l.episode.limit_value = e.limit_value;
                return;
            }
            self.done.push(l.episode);
        }
        self.latest.insert(
            e.key,
            Latest {
                episode: LimitEpisode {
                    key: e.key,
                    tenant: e.tenant,
                    reply: e.reply,
                    start: e.time,
                    end: e.time,
                    in_force: SimDuration::ZERO,
                    peak_used: e.used,
                    limit_value: e.limit_value,
                    refusals: 0,
                    hits: 1,
                    open_at_horizon: false,
                },
                hit_since: Some(e.time),
            },
        );
    }

    /// A limit still hit at the horizon (`Relay::still_hit`: a `Hit` event of the
    /// horizon with the refusals since the hit).
    pub fn still_hit(&mut self, e: &LimitEvent) {
        if let Some(l) = self.latest.get_mut(&e.key)
            && let Some(since) = l.hit_since.take()
        {
            l.episode.end = e.time;
            l.episode.in_force = l.episode.in_force + (e.time - since);
            l.episode.refusals += e.refusals;
            l.episode.peak_used = l.episode.peak_used.max(e.used);
            l.episode.open_at_horizon = true;
        }
    }

    /// Every episode, by start (then limit and subject).
    pub fn finish(mut self) -> Vec<LimitEpisode> {
        self.done
            .extend(self.latest.into_values().map(|l| l.episode));
        self.done.sort_by_key(|e| (e.start, e.key));
        self.done
    }
}

/// Per limit (kind), the episodes of a run summed up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpisodeTotals {
    pub episodes: u64,
    pub in_force: SimDuration,
    pub refusals: u64,
    /// The first episode's start.
    pub first: Option<SimTime>,
    /// Distinct subjects (users, customers, source IPs) with an episode.
    pub subjects: u64,
}

/// The episodes of each limit kind, in `LimitKind` order (Q1 … D4).
pub fn totals(episodes: &[LimitEpisode]) -> BTreeMap<LimitKind, EpisodeTotals> {
    let mut out: BTreeMap<LimitKind, EpisodeTotals> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in episodes {
        let t = out.entry(e.key.limit).or_default();
        t.episodes += 1;
        t.in_force = t.in_force + e.in_force;
        t.refusals += e.refusals;
        t.first = Some(t.first.map_or(e.start, |f| f.min(e.start)));
        if seen.insert(e.key) {
            t.subjects += 1;
        }
    }
    out
}

/// One line per limit that was hit, for people: "Q5 (10-min customer limit) in
/// force 3m 40s from 09:07, 897 recipients deferred". Empty when none was.
pub fn headlines(model: &scenario::Model, episodes: &[LimitEpisode]) -> Vec<String> {
    totals(episodes)
        .into_iter()
        .map(|(limit, t)| {
            let quota = &model.relay.quota;
            let name = match limit {
                LimitKind::UserMessages => {
                    format!("messages per user per {}", window_words(quota.day_window))
                }
                LimitKind::UserUniqueRecipients => format!(
                    "unique recipients per user per {}",
                    window_words(quota.day_window)
                ),
                LimitKind::CustomerDay => {
                    format!("{} customer limit", window_words(quota.day_window))
                }
                LimitKind::CustomerPeak => {
                    format!("{} customer limit", window_words(quota.peak_window))
                }
                LimitKind::DosConnectionRate => "new connections per source IP".into(),
                LimitKind::DosConcurrency => "connections at once per source IP".into(),
                LimitKind::DosGenericHelo => "generic HELO pool".into(),
                LimitKind::DosMessagesPerConnection => "messages per connection".into(),
            };
            let whose = match (limit, t.subjects) {
                (_, 1) => String::new(),
                (LimitKind::UserMessages | LimitKind::UserUniqueRecipients, n) => {
                    format!(" for {n} users")
                }
                (LimitKind::CustomerDay | LimitKind::CustomerPeak, n) => {
                    format!(" for {n} customers")
                }
                (LimitKind::DosGenericHelo, _) => String::new(),
                (_, n) => format!(" for {n} source IPs"),
            };
            let first = t.first.unwrap_or(SimTime::ZERO);
            let from = match model.start {
                Some(start) => start.after(first).clock(model.duration > SimDuration::DAY),
                None => format!(
                    "{} into the run",
                    SimDuration(first.as_millis() / 1000 * 1000)
                ),
            };
            let in_force = SimDuration(t.in_force.as_millis().div_ceil(1000) * 1000);
            // A limit that refuses and frees at one instant (D4 closing a connection)
            // is never "in force" for a while: say how often it was hit.
            let when = match (in_force == SimDuration::ZERO, t.episodes) {
                (true, 1) => format!("hit once at {from}"),
                (true, n) => format!(
                    "hit {} times from {from}",
                    crate::numbers::group_thousands(n)
                ),
                (false, 1) => format!("in force {in_force} from {from}"),
                (false, n) => format!(
                    "in force {in_force} in {} episodes from {from}",
                    crate::numbers::group_thousands(n)
                ),
            };
            format!(
                "{} ({name}){whose} {when}, {} {}",
                limit.rule(),
                crate::numbers::group_thousands(t.refusals),
                refusals_noun(limit)
            )
        })
        .collect()
}

/// A window's length as an adjective: `10-min`, `24-hour`, `2-day`.
fn window_words(d: SimDuration) -> String {
    let ms = d.as_millis();
    if ms >= 2 * SimDuration::DAY.as_millis() && ms.is_multiple_of(SimDuration::DAY.as_millis()) {
        format!("{}-day", ms / SimDuration::DAY.as_millis())
    } else if ms.is_multiple_of(SimDuration::HOUR.as_millis()) {
        format!("{}-hour", ms / SimDuration::HOUR.as_millis())
    } else if ms.is_multiple_of(SimDuration::MINUTE.as_millis()) {
        format!("{}-min", ms / SimDuration::MINUTE.as_millis())
    } else {
        d.to_string()
    }
}

/// What a limit's refusals are, in a sentence: "recipients deferred".
pub fn refusals_noun(limit: LimitKind) -> &'static str {
    match limit {
        LimitKind::UserMessages => "messages refused",
        LimitKind::UserUniqueRecipients | LimitKind::CustomerDay => "recipients refused",
        LimitKind::CustomerPeak => "recipients deferred",
        LimitKind::DosConnectionRate | LimitKind::DosConcurrency => "connections refused",
        LimitKind::DosGenericHelo => "greetings deferred",
        LimitKind::DosMessagesPerConnection => "messages deferred",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay::Subject;

    fn event(t: u64, change: LimitChange, used: u64, refusals: u64) -> LimitEvent {
        LimitEvent {
            time: SimTime(t),
            tenant: Some(TenantIx(0)),
            key: LimitKey {
                limit: LimitKind::CustomerPeak,
                subject: Subject::Customer(TenantIx(0)),
            },
            change,
            reply: Reply::PeakCustomerLimit,
            used,
            limit_value: 9,
            refusals,
        }
    }

    #[test]
    fn flaps_within_the_gap_are_one_episode_and_a_later_hit_is_another() {
        use LimitChange::{Cleared, Hit};
        let mut eps = Episodes::new(SimDuration::from_secs(60));
        for e in [
            event(1_000, Hit, 9, 1),
            event(5_000, Cleared, 8, 3),
            event(30_000, Hit, 9, 1),
            event(31_000, Cleared, 8, 2),
            // 60 s after the last clear: still the same episode.
            event(91_000, Hit, 9, 1),
            event(92_000, Cleared, 8, 1),
            // 60.001 s after: a new one, still hit at the horizon.
            event(152_001, Hit, 9, 1),
        ] {
            eps.limit_event(&e);
        }
        eps.still_hit(&event(200_000, Hit, 9, 7));
        let got = eps.finish();
        assert_eq!(got.len(), 2);
        let (a, b) = (got[0], got[1]);
        assert_eq!(
            (a.start, a.end, a.hits, a.refusals),
            (SimTime(1_000), SimTime(92_000), 3, 6)
        );
        assert_eq!(a.in_force, SimDuration(4_000 + 1_000 + 1_000));
        assert!(!a.open_at_horizon);
        assert_eq!(
            (b.start, b.end, b.refusals),
            (SimTime(152_001), SimTime(200_000), 7)
        );
        assert_eq!(b.in_force, SimDuration(200_000 - 152_001));
        assert!(b.open_at_horizon);
        let totals = totals(&got);
        let q5 = totals[&LimitKind::CustomerPeak];
        assert_eq!((q5.episodes, q5.refusals, q5.subjects), (2, 13, 1));
        assert_eq!(q5.first, Some(SimTime(1_000)));
    }
}
