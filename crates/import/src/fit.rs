//! `relaysim import --fit`: a model of the log's traffic, not a replay of it.
//!
//! Per sending host, each envelope sender with a large share of the host's messages
//! gets a fitted `[[sender]]` of its own (per-user limits, Q1 and Q2, count by
//! envelope sender); the rest share one. A fitted sender has
//! - `pattern = "diurnal"`: the weight of each hour of the local day is its messages
//!   per hour of that hour the log covered (0 for hours it never covered), and
//!   `rate` the day's mean of them, so the expected count of every hour of the day
//!   is the observed one;
//! - `recipients`: fixed when every message had the same count, else geometric with
//!   the observed mean;
//! - `recipient_pool`: size from the Chao1 estimate of the distinct recipients
//!   (observed distinct + unseen ones from singletons and doubletons), the Zipf
//!   exponent by maximum likelihood over the frequency ranks, or, when that misses
//!   the distinct count seen (Q2 counts distinct recipients), the exponent that
//!   gives it; checked by the recipients addressed once, expected vs seen; the share
//!   in the tenant's own domains;
//! - `message_size`: the mean of the sizes logged.
//!
//! Memory: 16 bytes per message and the distinct (sender, recipient) pairs, which a
//! pool estimate cannot do without.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::assemble::Message;
use crate::stamp::Stamp;

/// At most this many envelope senders of a host get a fitted sender of their own.
const OWN_SENDERS: usize = 10;
/// An envelope sender with at least this share of its host's messages is fitted on
/// its own.
const OWN_SHARE: f64 = 0.05;
/// The largest pool a fit proposes (the simulation's Zipf table is one entry per
/// address).
const MAX_POOL: u64 = 10_000_000;

/// One message, as the fit keeps it.
#[derive(Clone, Copy)]
struct Sent {
    /// Milliseconds from the scenario's start.
    at_ms: u64,
    recipients: u32,
}

#[derive(Default)]
struct Group {
    sent: Vec<Sent>,
    sizes: (u64, u64),
    /// How often each recipient (interned) was addressed.
    seen: HashMap<u32, u32>,
}

/// Collects the messages of an import for the fit.
#[derive(Default)]
pub struct Fitter {
    /// By (host, envelope sender), `<>` as written in the replay.
    groups: BTreeMap<(String, String), Group>,
    addresses: HashMap<String, u32>,
}

impl Fitter {
    /// Keeps `m`, queued `at_ms` after the scenario's start.
    pub fn message(&mut self, m: &Message, from: &str, at_ms: u64) {
        let group = self
            .groups
            .entry((m.host.clone(), from.to_string()))
            .or_default();
        group.sent.push(Sent {
            at_ms,
            recipients: u32::try_from(m.recipient_count()).unwrap_or(u32::MAX),
        });
        if let Some(size) = m.size {
            group.sizes.0 += size;
            group.sizes.1 += 1;
        }
        for r in &m.recipients {
            let next = self.addresses.len() as u32;
            let id = *self.addresses.entry(r.to_ascii_lowercase()).or_insert(next);
            *group.seen.entry(id).or_default() += 1;
        }
    }

    /// The fit of everything kept, for a scenario starting at `start` whose traffic
    /// spans `span_ms` (the log's first to last stamp, from `start`); `domains` are
    /// the tenant's, for the internal share.
    pub fn finish(self, start: Stamp, span_ms: u64, domains: &[String]) -> Fit {
        let internal: Vec<u32> = {
            let mut ids: Vec<u32> = self
                .addresses
                .iter()
                .filter(|(a, _)| {
                    a.rsplit_once('@')
                        .is_some_and(|(_, d)| domains.iter().any(|x| x.eq_ignore_ascii_case(d)))
                })
                .map(|(_, id)| *id)
                .collect();
            ids.sort_unstable();
            ids
        };
        let clock = Clock::new(start, span_ms);
        let mut observed = vec![[0u64; 2]; clock.hours];
        for s in self.groups.values().flat_map(|g| &g.sent) {
            let hour = &mut observed[((s.at_ms / 3_600_000) as usize).min(clock.hours - 1)];
            hour[0] += 1;
            hour[1] += u64::from(s.recipients);
        }
        let mut by_host: BTreeMap<String, Vec<(String, Group)>> = BTreeMap::new();
        for ((host, from), g) in self.groups {
            by_host.entry(host).or_default().push((from, g));
        }
        let mut senders = Vec::new();
        for (host, mut groups) in by_host {
            let total: usize = groups.iter().map(|(_, g)| g.sent.len()).sum();
            groups.sort_by(|a, b| b.1.sent.len().cmp(&a.1.sent.len()).then(a.0.cmp(&b.0)));
            let own = groups
                .iter()
                .take(OWN_SENDERS)
                .take_while(|(_, g)| g.sent.len() as f64 >= OWN_SHARE * total as f64)
                .count();
            let rest = groups.split_off(own);
            // A host whose every sender is small has one fitted sender for all.
            for (i, (from, g)) in groups.into_iter().enumerate() {
                senders.push(FittedSender::fit(
                    &host,
                    format!("{}", i + 1),
                    vec![from],
                    g,
                    &clock,
                    &internal,
                ));
            }
            if !rest.is_empty() {
                let mut merged = Group::default();
                let mut froms = Vec::new();
                for (from, g) in rest {
                    froms.push(from);
                    merged.sent.extend(g.sent);
                    merged.sizes.0 += g.sizes.0;
                    merged.sizes.1 += g.sizes.1;
                    for (id, n) in g.seen {
                        *merged.seen.entry(id).or_default() += n;
                    }
                }
                merged.sent.sort_by_key(|s| s.at_ms);
                senders.push(FittedSender::fit(
                    &host,
                    "others".into(),
                    froms,
                    merged,
                    &clock,
                    &internal,
                ));
            }
        }
        Fit {
            senders,
            hours: clock.hours,
            observed,
        }
    }
}

/// Hours of the run: which hour of the local day each is, and how much of it the
/// log covers.
struct Clock {
    /// Local hour of day of the first hour of the run (the start's minute within its
    /// hour is `skew_ms`).
    first_hour: u64,
    skew_ms: u64,
    span_ms: u64,
    hours: usize,
}

impl Clock {
    fn new(start: Stamp, span_ms: u64) -> Clock {
        let local = start.ms + i64::from(start.offset.unwrap_or(0)) * 60_000;
        let since_midnight = local.rem_euclid(86_400_000) as u64;
        Clock {
            first_hour: since_midnight / 3_600_000,
            skew_ms: since_midnight % 3_600_000,
            span_ms,
            hours: (span_ms / 3_600_000 + 1) as usize,
        }
    }

    /// The local hour of day (0–23) of `at_ms` after the start.
    fn hour_of_day(&self, at_ms: u64) -> usize {
        ((self.first_hour * 3_600_000 + self.skew_ms + at_ms) / 3_600_000 % 24) as usize
    }

    /// How many hours of each local hour of day the log covers (its span).
    fn exposure(&self) -> [f64; 24] {
        let mut hours = [0.0; 24];
        let mut t = 0;
        while t < self.span_ms.max(1) {
            let h = self.hour_of_day(t);
            // To the end of this local hour, or of the span.
            let in_hour = (self.skew_ms + t) % 3_600_000;
            let step = (3_600_000 - in_hour).min(self.span_ms.max(1) - t);
            hours[h] += step as f64 / 3_600_000.0;
            t += step;
        }
        hours
    }
}

/// How the recipients of a fitted sender are drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolFit {
    /// Distinct recipients in the log.
    pub distinct: u64,
    /// Recipients addressed once and twice (Chao1's f1 and f2).
    pub once: u64,
    pub twice: u64,
    /// The pool's size: Chao1's estimate of all recipients, seen or not.
    pub size: u64,
    pub zipf_exponent: f64,
    pub zipf_method: ZipfMethod,
    /// Recipients addressed once expected from `size` and `zipf_exponent` at the
    /// log's volume: the check of the fit, beside `once`.
    pub expected_once: f64,
    /// Share of recipients in the tenant's domains.
    pub internal_share: f64,
}

/// One fitted `[[sender]]`.
#[derive(Clone, Debug)]
pub struct FittedSender {
    pub host: String,
    /// `1`, `2`, … by messages, or `others`.
    pub name: String,
    pub envelope_from: Vec<String>,
    pub messages: u64,
    /// Messages per hour of each local hour of day (0 where the log has no hour).
    pub weights: [f64; 24],
    /// The day's mean, messages per hour.
    pub rate_per_hour: f64,
    /// Hours of the local day the log never covered.
    pub unseen_hours: Vec<usize>,
    pub recipients: RecipientsFit,
    /// `None` when the log names no recipient (counts only).
    pub pool: Option<PoolFit>,
    /// Mean logged size, when the log gives sizes.
    pub size: Option<u64>,
}

/// Recipients per message.
#[derive(Clone, Debug, PartialEq)]
pub struct RecipientsFit {
    pub mean: f64,
    pub max: u32,
    /// Share of messages with one recipient, observed and under the fitted law.
    pub one_observed: f64,
    pub one_fitted: f64,
    /// The scenario's value: `3` or `"geometric:1.8"`.
    pub toml: String,
}

impl FittedSender {
    fn fit(
        host: &str,
        name: String,
        envelope_from: Vec<String>,
        g: Group,
        clock: &Clock,
        internal: &[u32],
    ) -> FittedSender {
        let exposure = clock.exposure();
        let mut counts = [0u64; 24];
        for s in &g.sent {
            counts[clock.hour_of_day(s.at_ms)] += 1;
        }
        let mut weights = [0.0; 24];
        let mut unseen_hours = Vec::new();
        for h in 0..24 {
            if exposure[h] > 0.0 {
                weights[h] = round_to(counts[h] as f64 / exposure[h], 4);
            } else {
                unseen_hours.push(h);
            }
        }
        let rate_per_hour = weights.iter().sum::<f64>() / 24.0;
        FittedSender {
            host: host.to_string(),
            name,
            envelope_from,
            messages: g.sent.len() as u64,
            weights,
            rate_per_hour,
            unseen_hours,
            recipients: recipients_fit(&g.sent),
            pool: pool_fit(&g, internal),
            size: (g.sizes.1 > 0).then(|| (g.sizes.0 as f64 / g.sizes.1 as f64).round() as u64),
        }
    }

    /// The `[[sender]]` block, commented with what was measured.
    /// `stop_ms`: the end of the log, from the start, in whole seconds (the fit knows
    /// no traffic after it; the run goes on for the retries).
    pub fn toml(&self, id: &str, mta: &str, domain: &str, stop_ms: u64) -> String {
        let mut t = String::new();
        let r = &self.recipients;
        let shown: Vec<&str> = self
            .envelope_from
            .iter()
            .take(3)
            .map(String::as_str)
            .collect();
        let more = self.envelope_from.len().saturating_sub(3);
        let _ = writeln!(
            t,
            "# {} message{} from {}{}, queued by {}",
            self.messages,
            if self.messages == 1 { "" } else { "s" },
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            self.host
        );
        if !self.unseen_hours.is_empty() {
            let _ = writeln!(
                t,
                "# Hours the log never covered (weight 0; FILL IN if the run goes there): {}",
                self.unseen_hours
                    .iter()
                    .map(|h| format!("{h:02}h"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        let _ = writeln!(
            t,
            "# Recipients per message: mean {:.2}, at most {}; one recipient in {:.0} % of messages, {:.0} % under the fit",
            r.mean,
            r.max,
            100.0 * r.one_observed,
            100.0 * r.one_fitted
        );
        match &self.pool {
            Some(p) => {
                let _ = writeln!(
                    t,
                    "# Recipient pool: {} distinct seen ({} once, {} twice); size by Chao1; Zipf exponent {};\n# under the fit {:.0} would be addressed once (seen: {})",
                    p.distinct,
                    p.once,
                    p.twice,
                    match p.zipf_method {
                        ZipfMethod::Likelihood => "by maximum likelihood",
                        ZipfMethod::DistinctCount => "matched to the distinct count",
                    },
                    p.expected_once,
                    p.once
                );
            }
            None => {
                let _ = writeln!(
                    t,
                    "# Recipient pool: the log names no recipient addresses; FILL IN size and zipf_exponent"
                );
            }
        }
        let _ = writeln!(t, "[[sender]]");
        let _ = writeln!(t, "id = {id:?}");
        let _ = writeln!(t, "mta = {mta:?}");
        let froms: Vec<String> = self
            .envelope_from
            .iter()
            .map(|f| format!("{f:?}"))
            .collect();
        let _ = writeln!(t, "envelope_from = [{}]", froms.join(", "));
        let _ = writeln!(t, "pattern = \"diurnal\"");
        let _ = writeln!(
            t,
            "stop = \"{}s\"  # the end of the log; remove to go on with the same traffic",
            stop_ms / 1000
        );
        let _ = writeln!(t, "rate = \"{}/h\"", round_to(self.rate_per_hour, 6));
        let weights: Vec<String> = self.weights.iter().map(|w| format!("{w}")).collect();
        let _ = writeln!(t, "weights = [{}]", weights.join(", "));
        let _ = writeln!(t, "recipients = {}", r.toml);
        if let Some(size) = self.size {
            let _ = writeln!(t, "message_size = {}", size.max(1));
        }
        if let Some(p) = &self.pool {
            let _ = writeln!(t, "[sender.recipient_pool]");
            let _ = writeln!(t, "size = {}", p.size.max(1));
            let _ = writeln!(t, "zipf_exponent = {}", round_to(p.zipf_exponent, 3));
            if p.internal_share > 0.0 {
                let _ = writeln!(t, "internal_share = {}", round_to(p.internal_share, 4));
                let _ = writeln!(t, "internal_domain = {domain:?}");
            }
        }
        t
    }
}

/// The fit of an import.
pub struct Fit {
    pub senders: Vec<FittedSender>,
    /// Hours of the run the log covers, from the start.
    pub hours: usize,
    /// Messages and recipients the log saw in each of those hours.
    pub observed: Vec<[u64; 2]>,
}

impl Fit {
    /// Messages expected in each hour of the run from the start (the fitted rates
    /// with their hourly weights, over the part of the hour the log covers).
    pub fn expected_per_hour(&self, start: Stamp, span_ms: u64) -> Vec<f64> {
        let clock = Clock::new(start, span_ms);
        (0..self.hours)
            .map(|i| {
                let from = i as u64 * 3_600_000;
                let to = (from + 3_600_000).min(span_ms.max(1));
                // The run's hour i may straddle two local hours when the start is
                // not on the hour.
                let mut t = from;
                let mut expected = 0.0;
                while t < to {
                    let h = clock.hour_of_day(t);
                    let in_hour = (clock.skew_ms + t) % 3_600_000;
                    let step = (3_600_000 - in_hour).min(to - t);
                    let per_hour: f64 = self.senders.iter().map(|s| s.weights[h]).sum();
                    expected += per_hour * step as f64 / 3_600_000.0;
                    t += step;
                }
                expected
            })
            .collect()
    }
}

fn recipients_fit(sent: &[Sent]) -> RecipientsFit {
    let n = sent.len().max(1) as f64;
    let total: u64 = sent.iter().map(|s| u64::from(s.recipients)).sum();
    let mean = total as f64 / n;
    let max = sent.iter().map(|s| s.recipients).max().unwrap_or(1);
    let min = sent.iter().map(|s| s.recipients).min().unwrap_or(1);
    let one_observed = sent.iter().filter(|s| s.recipients == 1).count() as f64 / n;
    if min == max {
        return RecipientsFit {
            mean,
            max,
            one_observed,
            one_fitted: if max == 1 { 1.0 } else { 0.0 },
            toml: max.max(1).to_string(),
        };
    }
    let mean = round_to(mean, 3);
    RecipientsFit {
        mean,
        max,
        one_observed,
        // A geometric law on 1, 2, 3 … with mean m gives 1 with probability 1/m.
        one_fitted: 1.0 / mean,
        toml: format!("\"geometric:{mean}\""),
    }
}

fn pool_fit(g: &Group, internal: &[u32]) -> Option<PoolFit> {
    if g.seen.is_empty() {
        return None;
    }
    let mut freq: Vec<u64> = g.seen.values().map(|&n| u64::from(n)).collect();
    freq.sort_unstable_by(|a, b| b.cmp(a));
    let draws: u64 = freq.iter().sum();
    let distinct = freq.len() as u64;
    let once = freq.iter().filter(|&&n| n == 1).count() as u64;
    let twice = freq.iter().filter(|&&n| n == 2).count() as u64;
    let size = chao1(distinct, once, twice).min(MAX_POOL);
    let (zipf_exponent, zipf_method) = zipf_fit(&freq, size);
    let internal_hits: u64 = g
        .seen
        .iter()
        .filter(|(id, _)| internal.binary_search(id).is_ok())
        .map(|(_, &n)| u64::from(n))
        .sum();
    Some(PoolFit {
        distinct,
        once,
        twice,
        size,
        zipf_exponent,
        zipf_method,
        expected_once: expected_once(size, zipf_exponent, draws),
        internal_share: internal_hits as f64 / draws as f64,
    })
}

/// Chao1, bias-corrected: the distinct recipients seen plus those never seen,
/// estimated from how many were seen once (`f1`) and twice (`f2`).
pub fn chao1(distinct: u64, f1: u64, f2: u64) -> u64 {
    let unseen = (f1 * f1.saturating_sub(1)) as f64 / (2.0 * (f2 as f64 + 1.0));
    distinct + unseen.round() as u64
}

/// The Zipf exponent over ranks 1 to `n` that makes the observed frequencies
/// (descending: the most addressed recipient is rank 1) most likely. Reliable when
/// most recipients were addressed often (their ranks are then known); with many
/// seen once, their ranks are arbitrary.
pub fn zipf_mle(freq_desc: &[u64], n: u64) -> f64 {
    let draws: f64 = freq_desc.iter().sum::<u64>() as f64;
    let weighted_log_rank: f64 = freq_desc
        .iter()
        .enumerate()
        .map(|(i, &c)| c as f64 * ((i + 1) as f64).ln())
        .sum();
    let log_likelihood = |s: f64| -s * weighted_log_rank - draws * harmonic(n, s).ln();
    // Concave in s (the log of the normaliser is convex): golden-section search.
    let (mut a, mut b) = (0.0_f64, 4.0_f64);
    let g = (5.0_f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (log_likelihood(c), log_likelihood(d));
    while b - a > 1e-5 {
        if fc > fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = log_likelihood(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = log_likelihood(d);
        }
    }
    (a + b) / 2.0
}

/// How the Zipf exponent was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZipfMethod {
    /// Maximum likelihood over the frequency ranks, which also gives the distinct
    /// count seen (within its noise).
    Likelihood,
    /// Maximum likelihood would miss the distinct count (many recipients seen once):
    /// the exponent that gives it.
    DistinctCount,
}

/// The exponent for a pool of `n` from the observed frequencies (descending): by
/// maximum likelihood when that agrees with the distinct recipients seen (within
/// two standard deviations of a count), else matched to them — Q2 counts distinct
/// recipients.
pub fn zipf_fit(freq_desc: &[u64], n: u64) -> (f64, ZipfMethod) {
    // One recipient: every exponent is the same law.
    if n <= 1 {
        return (0.0, ZipfMethod::Likelihood);
    }
    let draws: u64 = freq_desc.iter().sum();
    let distinct = freq_desc.len() as f64;
    let mle = zipf_mle(freq_desc, n);
    if (expected_distinct(n, mle, draws) - distinct).abs() <= 2.0 * distinct.sqrt() + 1.0 {
        (mle, ZipfMethod::Likelihood)
    } else {
        (
            zipf_for_distinct(n, draws, freq_desc.len() as u64),
            ZipfMethod::DistinctCount,
        )
    }
}

/// The Zipf exponent over ranks 1 to `n` at which `draws` draws are expected to
/// reach `distinct` distinct recipients: what Q2 counts, matched (a higher exponent
/// concentrates draws on fewer recipients, so the expectation falls as it rises).
/// Clamped to 0 to 4.
pub fn zipf_for_distinct(n: u64, draws: u64, distinct: u64) -> f64 {
    let target = distinct as f64;
    let (mut low, mut high) = (0.0_f64, 4.0_f64);
    if expected_distinct(n, low, draws) <= target {
        return low;
    }
    if expected_distinct(n, high, draws) >= target {
        return high;
    }
    while high - low > 1e-5 {
        let mid = (low + high) / 2.0;
        if expected_distinct(n, mid, draws) > target {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// The generalised harmonic number H(n, s) = Σ k^-s for k in 1..=n.
pub fn harmonic(n: u64, s: f64) -> f64 {
    sum_over_ranks(n, |k| k.powf(-s))
}

/// Σ g(r) for r in 1..=n, for a smooth `g`: exact to 20,000, beyond that over 4,000
/// log-spaced stretches, each counted at its geometric middle (relative error below
/// 1e-6 for the power laws here).
fn sum_over_ranks(n: u64, g: impl Fn(f64) -> f64) -> f64 {
    const EXACT: u64 = 20_000;
    const STRETCHES: u32 = 4_000;
    let head: f64 = (1..=n.min(EXACT)).map(|k| g(k as f64)).sum();
    if n <= EXACT {
        return head;
    }
    // Rank r stands for the stretch [r − ½, r + ½).
    let (from, to) = (EXACT as f64 + 0.5, n as f64 + 0.5);
    let ratio = (to / from).powf(1.0 / f64::from(STRETCHES));
    let mut tail = 0.0;
    let mut a = from;
    for _ in 0..STRETCHES {
        let b = a * ratio;
        // The stretch [a, b) holds b − a ranks, g taken at its (continuous) middle.
        tail += (b - a) * g((a * b).sqrt());
        a = b;
    }
    head + tail
}

/// Distinct recipients expected from `draws` Zipf draws over `n` ranks.
pub fn expected_distinct(n: u64, s: f64, draws: u64) -> f64 {
    let h = harmonic(n, s);
    let draws = draws as f64;
    // 1 − (1 − p)^draws, exact for small p too.
    sum_over_ranks(n, |r| -(draws * (-(r.powf(-s) / h)).ln_1p()).exp_m1())
}

/// Recipients expected to be addressed exactly once in `draws` Zipf draws over `n`
/// ranks: the check of a fit made to match the distinct count.
pub fn expected_once(n: u64, s: f64, draws: u64) -> f64 {
    let h = harmonic(n, s);
    let draws = draws as f64;
    sum_over_ranks(n, |r| {
        let p = r.powf(-s) / h;
        // p (1 − p)^(draws − 1) per draw; (1 − p)^0 is 1 even for p = 1.
        let rest = if draws > 1.0 {
            ((draws - 1.0) * (-p).ln_1p()).exp()
        } else {
            1.0
        };
        draws * p * rest
    })
}

/// `x` rounded to `digits` significant digits (for a readable scenario).
fn round_to(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return 0.0;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn harmonic_numbers_are_exact_and_the_tail_is_close() {
        assert!((harmonic(3, 1.0) - (1.0 + 0.5 + 1.0 / 3.0)).abs() < 1e-12);
        assert_eq!(harmonic(5, 0.0), 5.0);
        for s in [0.0, 0.5, 1.0, 1.3] {
            let exact: f64 = (1..=2_000_000u64).map(|k| (k as f64).powf(-s)).sum();
            let approx = harmonic(2_000_000, s);
            assert!(
                (exact - approx).abs() / exact < 1e-6,
                "s {s}: {exact} vs {approx}"
            );
        }
    }

    /// Few draws over a large pool: most recipients seen once, their ranks arbitrary;
    /// the exponent is the one that gives the distinct count.
    #[test]
    fn a_sparse_sample_is_matched_to_its_distinct_count() {
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(3);
        let (n, s, draws) = (100_000u64, 0.8, 5_000);
        let h = harmonic(n, s);
        let cdf: Vec<f64> = (1..=n)
            .scan(0.0, |acc, r| {
                *acc += (r as f64).powf(-s) / h;
                Some(*acc)
            })
            .collect();
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..draws {
            let u: f64 = rng.random();
            *seen.entry(cdf.partition_point(|&c| c < u)).or_insert(0u64) += 1;
        }
        let mut freq: Vec<u64> = seen.into_values().collect();
        freq.sort_unstable_by(|a, b| b.cmp(a));
        let (fitted, _) = zipf_fit(&freq, n);
        let expected = expected_distinct(n, fitted, draws);
        let distinct = freq.len() as f64;
        assert!(
            (expected - distinct).abs() <= 2.0 * distinct.sqrt() + 1.0,
            "{expected} vs {distinct}"
        );
    }

    #[test]
    fn a_pool_of_one_has_exponent_zero() {
        assert_eq!(zipf_fit(&[3], 1), (0.0, ZipfMethod::Likelihood));
    }

    #[test]
    fn chao1_adds_the_unseen() {
        assert_eq!(chao1(100, 0, 10), 100);
        // 40 singletons, 10 doubletons: 40·39 / 22 ≈ 71 unseen.
        assert_eq!(chao1(100, 40, 10), 171);
    }

    /// Draws from a known Zipf law are fitted back to it.
    #[test]
    fn the_fit_recovers_a_known_zipf_law() {
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(7);
        for (n, s) in [(2_000u64, 1.0), (500, 0.6), (1_000, 0.0)] {
            let h = harmonic(n, s);
            let cdf: Vec<f64> = (1..=n)
                .scan(0.0, |acc, r| {
                    *acc += (r as f64).powf(-s) / h;
                    Some(*acc)
                })
                .collect();
            let mut counts = vec![0u64; n as usize];
            for _ in 0..200_000 {
                let u: f64 = rng.random();
                let r = cdf.partition_point(|&c| c < u).min(n as usize - 1);
                counts[r] += 1;
            }
            let distinct = counts.iter().filter(|&&c| c > 0).count() as u64;
            let once = counts.iter().filter(|&&c| c == 1).count() as f64;
            let mut freq: Vec<u64> = counts.iter().copied().filter(|&c| c > 0).collect();
            freq.sort_unstable_by(|a, b| b.cmp(a));
            let (fitted, method) = zipf_fit(&freq, n);
            assert_eq!(method, ZipfMethod::Likelihood);
            // Ranks by observed frequency make a flat law look slightly skewed (the
            // sorted counts of equal recipients fall): 0.06 at 200 draws each.
            assert!((fitted - s).abs() < 0.08, "n {n} s {s}: fitted {fitted}");
            assert!(distinct > 0);
            let expected = expected_once(n, fitted, 200_000);
            assert!(
                (expected - once).abs() <= 3.0 * once.max(1.0).sqrt() + 2.0,
                "{expected} vs {once}"
            );
        }
    }

    #[test]
    fn hours_of_the_day_and_their_exposure() {
        // 2026-03-02 23:30 local (+01:00), 2 h of log: 23h for 30 min, 00h for
        // 60 min, 01h for 30 min.
        let start = crate::stamp::rfc3339("2026-03-02T23:30:00+01:00").unwrap();
        let clock = Clock::new(start, 2 * 3_600_000);
        assert_eq!(clock.hour_of_day(0), 23);
        assert_eq!(clock.hour_of_day(30 * 60_000), 0);
        let e = clock.exposure();
        assert_eq!((e[23], e[0], e[1], e[2]), (0.5, 1.0, 0.5, 0.0));
    }

    #[test]
    fn recipient_counts_fit_fixed_or_geometric() {
        let sent = |counts: &[u32]| -> Vec<Sent> {
            counts
                .iter()
                .map(|&recipients| Sent {
                    at_ms: 0,
                    recipients,
                })
                .collect()
        };
        assert_eq!(recipients_fit(&sent(&[3, 3, 3])).toml, "3");
        let g = recipients_fit(&sent(&[1, 1, 2, 4]));
        assert_eq!(g.toml, "\"geometric:2\"");
        assert_eq!((g.one_observed, g.one_fitted), (0.5, 0.5));
    }
}
