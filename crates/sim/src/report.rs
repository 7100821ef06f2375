//! What a run counted, per tenant, per sender and overall, and the conservation check
//! ("nothing lost": generated = delivered + bounced + queued at the end).

use std::collections::BTreeMap;

use crate::world::mta::{MessageTag, RecipientFates};
use relay::time::{SimDuration, SimTime};
use relay::{LimitChange, LimitEvent, LimitKey, Reply};
use scenario::Model;

/// How often the relay gave each reply. A reply is counted on the hot path, so
/// without a map and without matching it: by its variant ([`Reply::variant`]), which
/// for most variants is the reply. The few variants with several replies
/// (`TryAgainLater`, `BadSequence`, and the two that name the client's IP:
/// `Mail relay denied [IP]`, `Invalid credentials for relay [IP]`) are counted out
/// of line, reply by reply, in a map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyCounts {
    /// By variant, the replies of the variants that are one reply; the others' stay 0.
    by_variant: [u64; Reply::VARIANTS],
    /// The replies of the variants with several, each apart.
    several: BTreeMap<Reply, u64>,
}

impl ReplyCounts {
    /// Counts `reply` (always inlined: the code `add_coded` returns is then dropped
    /// unread).
    #[inline(always)]
    pub fn add(&mut self, reply: Reply) {
        self.add_coded(reply);
    }

    /// [`ReplyCounts::add`], returning the reply's code: for a reply counted and
    /// fingerprinted, whose code then comes from its variant, not a second match.
    #[inline(always)]
    pub fn add_coded(&mut self, reply: Reply) -> u16 {
        let variant = reply.variant();
        if reply.is_alone_in_variant() {
            self.by_variant[variant] += 1;
        } else {
            self.add_several(reply);
        }
        Reply::CODE_BY_VARIANT[variant]
    }

    /// The replies of variants with several, out of the hot path's way.
    #[cold]
    #[inline(never)]
    fn add_several(&mut self, reply: Reply) {
        *self.several.entry(reply).or_default() += 1;
    }

    /// How often `reply` was given.
    pub fn count(&self, reply: Reply) -> u64 {
        if reply.is_alone_in_variant() {
            self.by_variant[reply.variant()]
        } else {
            self.several.get(&reply).copied().unwrap_or(0)
        }
    }

    /// How often a reply whose line starts with `prefix` (e.g. `550 5.7.1`) was given.
    pub fn count_prefixed(&self, prefix: &str) -> u64 {
        self.iter()
            .filter(|(reply, _)| reply.to_string().starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &ReplyCounts) {
        for (n, m) in self.by_variant.iter_mut().zip(&other.by_variant) {
            *n += m;
        }
        for (reply, n) in &other.several {
            *self.several.entry(*reply).or_default() += n;
        }
    }

    /// The replies given at least once, with their counts, in a fixed order: those
    /// of `Reply::WITHOUT_DATA` in its order, then those that name an IP in `Reply`'s.
    pub fn iter(&self) -> impl Iterator<Item = (Reply, u64)> + '_ {
        Reply::WITHOUT_DATA
            .iter()
            .map(|&r| (r, self.count(r)))
            .filter(|(_, n)| *n > 0)
            .chain(
                self.several
                    .iter()
                    .filter(|(r, _)| r.dense_index().is_none())
                    .map(|(r, n)| (*r, *n)),
            )
    }
}

/// Connections to the relay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Connections {
    pub opened: u64,
    pub refused: u64,
}

impl Connections {
    fn merge(&mut self, other: &Connections) {
        self.opened += other.opened;
        self.refused += other.refused;
    }
}

/// Fates of messages (or of recipients).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcomes {
    pub generated: u64,
    pub delivered: u64,
    pub bounced: u64,
    pub queued_at_end: u64,
}

impl Outcomes {
    fn merge(&mut self, other: &Outcomes) {
        self.generated += other.generated;
        self.delivered += other.delivered;
        self.bounced += other.bounced;
        self.queued_at_end += other.queued_at_end;
    }

    /// Nothing lost: every generated item ended delivered, bounced or queued.
    pub fn is_conserved(&self) -> bool {
        self.generated == self.delivered + self.bounced + self.queued_at_end
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub messages: Outcomes,
    pub recipients: Outcomes,
    /// M4: non-delivery reports the MTAs generated (one recipient each); "bounced"
    /// here means the report itself could not be delivered and was dropped.
    pub notifications: Outcomes,
}

impl Counts {
    fn merge(&mut self, other: &Counts) {
        self.messages.merge(&other.messages);
        self.recipients.merge(&other.recipients);
        self.notifications.merge(&other.notifications);
    }

    pub(crate) fn add_generated(&mut self, notification: bool, recipients: u32) {
        if notification {
            self.notifications.generated += 1;
            return;
        }
        self.messages.generated += 1;
        self.recipients.generated += u64::from(recipients);
    }

    /// A message is queued while any recipient is; else delivered if any recipient
    /// was delivered; else bounced.
    pub(crate) fn add_settled(&mut self, notification: bool, fates: RecipientFates) {
        if notification {
            let n = &mut self.notifications;
            if fates.queued > 0 {
                n.queued_at_end += 1;
            } else if fates.delivered > 0 {
                n.delivered += 1;
            } else {
                n.bounced += 1;
            }
            return;
        }
        self.recipients.delivered += fates.delivered;
        self.recipients.bounced += fates.bounced;
        self.recipients.queued_at_end += fates.queued;
        if fates.queued > 0 {
            self.messages.queued_at_end += 1;
        } else if fates.delivered > 0 || fates.bounced == 0 {
            self.messages.delivered += 1;
        } else {
            self.messages.bounced += 1;
        }
    }
}

/// Delivery delays (arrival to last delivery) in milliseconds, 3 significant digits.
pub type Delays = hdrhistogram::Histogram<u64>;

/// The longest delay kept exactly (to 3 digits): a year; longer ones count as a year.
pub const MAX_DELAY_MS: u64 = 365 * 86_400_000;

/// An empty histogram that grows with the longest delay recorded: one of the full
/// range is 208 KB, and a scenario of many tenants would be mostly that. The bucket
/// layout is the same (lowest 1 ms, 3 digits), so percentiles are too.
fn new_delays() -> Delays {
    Delays::new(3).expect("3 significant digits is a valid precision")
}

/// `h` over the full range (1 ms to [`MAX_DELAY_MS`]): the shape
/// `delivery_delay.hlog` records, whatever the longest delay was.
pub fn full_range(h: &Delays) -> Delays {
    let mut full = Delays::new_with_bounds(1, MAX_DELAY_MS, 3).expect("valid histogram bounds");
    full.add(h).expect("delays are clamped to the full range");
    full
}

/// Records `ms`, clamped to [`MAX_DELAY_MS`] (growing the histogram as needed).
fn record_delay(h: &mut Delays, ms: u64) {
    h.record(ms.min(MAX_DELAY_MS))
        .expect("an auto-resizing histogram records any delay up to a year");
}

#[derive(Clone, Debug, PartialEq)]
pub struct EntityReport {
    pub id: String,
    pub counts: Counts,
    pub replies: ReplyCounts,
    pub connections: Connections,
    /// Recipients deferred at least once (a 4xx, a refused connection), each
    /// counted once however often it was retried.
    pub deferred_rcpts: u64,
    /// Recipient deferrals over all attempts: a recipient deferred at three queue
    /// runs counts three times.
    pub deferrals: u64,
    /// The longest delivery delay of a delivered message, exactly (the
    /// histograms keep 3 significant digits).
    pub max_delay: Option<SimDuration>,
    /// The age at the horizon of the oldest message still queued there.
    pub oldest_queued: Option<SimDuration>,
    /// P8: messages accepted with the envelope sender rewritten to postmaster@.
    pub rewritten: u64,
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub horizon: SimTime,
    pub events_processed: u64,
    /// FNV-1a-64 of the event trace: equal fingerprints, equal runs.
    pub fingerprint: u64,
    pub total: Counts,
    pub replies: ReplyCounts,
    pub connections: Connections,
    pub rewritten: u64,
    /// Delivery delays of all messages (the sum of `tenant_delays`, made when the
    /// run ends).
    pub delays: Delays,
    pub tenants: Vec<EntityReport>,
    /// Per tenant (by index), the delivery delays of its messages. Senders have none:
    /// a histogram is 208 KB, and a population of senders would be mostly that.
    pub tenant_delays: Vec<Delays>,
    pub senders: Vec<EntityReport>,
    /// The first hit and the first clear of each limit of each subject, in time order
    /// (what expectations and sweeps ask about). The whole timeline goes to
    /// observers (`limit_hits.csv`) as it happens, so memory does not grow with it.
    pub limit_events: Vec<LimitEvent>,
    /// Every hit, counted.
    pub limit_hits: u64,
    /// Limit episodes (`episodes.rs`: flaps within the scenario's `episode_gap`
    /// merged), by start; filled by [`RunReport::finish`].
    pub episodes: Vec<crate::episodes::LimitEpisode>,
    /// Per `[[dialogue]]` of the model, what the relay answered.
    pub dialogues: Vec<crate::Transcript>,
    /// Per probe of the model (`usage`, `limit_value`): the window's use and its
    /// limit at the probe's instant.
    pub probes: Vec<Option<(u64, u64)>>,
    /// Builds `episodes` during the run.
    episode_builder: crate::episodes::Episodes,
    /// How often each limit of each subject was hit and cleared (the first of
    /// each is in `limit_events`).
    changes: BTreeMap<(LimitKey, LimitChange), u64>,
    /// Per sender of the model (members of populations included), the `[[sender]]`
    /// its counts go to (`senders` has one entry per `[[sender]]`).
    declared_of_sender: Vec<u32>,
    /// Per `[[sender]]`, its tenant.
    tenant_of_declared: Vec<u32>,
    /// During the run, messages and replies are counted once, under their sender (or
    /// their tenant, for what only tenants count); [`RunReport::finish`] sums them
    /// up into tenants and the run.
    finished: bool,
}

impl RunReport {
    pub(super) fn new(model: &Model, seed: u64, horizon: SimTime) -> Self {
        let entities = |ids: Vec<&String>| {
            ids.into_iter()
                .map(|id| EntityReport {
                    id: id.clone(),
                    counts: Counts::default(),
                    replies: ReplyCounts::default(),
                    connections: Connections::default(),
                    deferred_rcpts: 0,
                    deferrals: 0,
                    max_delay: None,
                    oldest_queued: None,
                    rewritten: 0,
                })
                .collect()
        };
        RunReport {
            scenario: model.name.clone(),
            seed,
            horizon,
            events_processed: 0,
            fingerprint: 0,
            total: Counts::default(),
            replies: ReplyCounts::default(),
            connections: Connections::default(),
            rewritten: 0,
            delays: new_delays(),
            limit_events: Vec::new(),
            limit_hits: 0,
            episodes: Vec::new(),
            episode_builder: crate::episodes::Episodes::new(model.episode_gap),
            dialogues: vec![crate::Transcript::default(); model.dialogues.len()],
            probes: vec![None; model.probes.len()],
            changes: Default::default(),
            tenants: entities(model.tenants.iter().map(|t| &t.id).collect()),
            tenant_delays: model.tenants.iter().map(|_| new_delays()).collect(),
            senders: entities(model.declared_senders.iter().collect()),
            declared_of_sender: model.senders.iter().map(|s| s.declared.0).collect(),
            tenant_of_declared: {
                let mut of = vec![0; model.declared_senders.len()];
                for s in &model.senders {
                    of[s.declared.0 as usize] = s.tenant.0;
                }
                of
            },
            finished: false,
        }
    }

    /// The report of the `[[sender]]` that model sender `sender` is (a member of).
    fn sender_mut(&mut self, sender: u32) -> &mut EntityReport {
        &mut self.senders[self.declared_of_sender[sender as usize] as usize]
    }

    /// Applies `f` to the counts of the message's sender (its tenant's and the
    /// run's are their sums, made by `finish`).
    #[inline]
    fn count(&mut self, tag: MessageTag, f: impl Fn(&mut Counts)) {
        debug_assert!(!self.finished, "counted after the sums were made");
        f(&mut self.sender_mut(tag.sender).counts);
    }

    /// Sums the counts and replies counted per sender into their tenants and the
    /// run. Called once, when the run has ended.
    pub(super) fn finish(&mut self) {
        debug_assert!(!self.finished, "sums made once");
        self.finished = true;
        for (d, sender) in self.senders.iter().enumerate() {
            let tenant = &mut self.tenants[self.tenant_of_declared[d] as usize];
            tenant.counts.merge(&sender.counts);
            tenant.replies.merge(&sender.replies);
            tenant.connections.merge(&sender.connections);
            tenant.deferred_rcpts += sender.deferred_rcpts;
            tenant.deferrals += sender.deferrals;
            tenant.max_delay = tenant.max_delay.max(sender.max_delay);
            tenant.oldest_queued = tenant.oldest_queued.max(sender.oldest_queued);
        }
        for delays in &self.tenant_delays {
            self.delays
                .add(delays)
                .expect("tenant and run histograms have the same bounds");
        }
        for tenant in &self.tenants {
            self.total.merge(&tenant.counts);
            self.replies.merge(&tenant.replies);
            self.connections.merge(&tenant.connections);
        }
        let builder = std::mem::replace(
            &mut self.episode_builder,
            crate::episodes::Episodes::new(SimDuration::ZERO),
        );
        self.episodes = builder.finish();
    }

    /// A limit still hit at the horizon ends its episode there.
    pub(super) fn still_hit(&mut self, event: &LimitEvent) {
        self.episode_builder.still_hit(event);
    }

    pub(super) fn message_generated(&mut self, tag: MessageTag, recipients: u32) {
        self.count(tag, |c| c.add_generated(tag.notification, recipients));
    }

    pub(super) fn message_settled(&mut self, tag: MessageTag, fates: RecipientFates) {
        self.count(tag, |c| c.add_settled(tag.notification, fates));
    }

    /// Counts a limit change and keeps it if it is the first of its kind.
    pub(super) fn limit_change(&mut self, event: LimitEvent) {
        if event.change == LimitChange::Hit {
            self.limit_hits += 1;
        }
        self.episode_builder.limit_event(&event);
        let n = self.changes.entry((event.key, event.change)).or_default();
        *n += 1;
        if *n == 1 {
            self.limit_events.push(event);
        }
    }

    /// How often `key` was hit during the run.
    pub fn hits_of(&self, key: LimitKey) -> u64 {
        self.changes
            .get(&(key, LimitChange::Hit))
            .copied()
            .unwrap_or(0)
    }

    /// Deferred recipients of a message's attempt (a report's are not the tenant's
    /// recipients, and are not counted): `newly` of them for the first time.
    pub(super) fn deferrals(&mut self, tag: MessageTag, all: u64, newly: u64) {
        if !tag.notification {
            let sender = self.sender_mut(tag.sender);
            sender.deferrals += all;
            sender.deferred_rcpts += newly;
        }
    }

    pub(super) fn delivery_delay(&mut self, tag: MessageTag, delay: SimDuration) {
        // The run's histogram is the sum of the tenants', made by `finish`.
        record_delay(
            &mut self.tenant_delays[tag.tenant as usize],
            delay.as_millis(),
        );
        let max = &mut self.sender_mut(tag.sender).max_delay;
        *max = (*max).max(Some(delay));
    }

    /// A message still queued at the horizon, `age` after it arrived.
    pub(super) fn queued_at_horizon(&mut self, tag: MessageTag, age: SimDuration) {
        if !tag.notification {
            let oldest = &mut self.sender_mut(tag.sender).oldest_queued;
            *oldest = (*oldest).max(Some(age));
        }
    }

    /// Where the replies given to message `tag` are counted: under its sender (a
    /// sender's counts are its own messages'), or under its tenant alone for a
    /// non-delivery report. The run's and the tenant's counts are sums made by
    /// `finish`.
    #[inline]
    pub(super) fn replies_of(&mut self, tag: MessageTag) -> &mut ReplyCounts {
        if tag.notification {
            &mut self.tenants[tag.tenant as usize].replies
        } else {
            &mut self.sender_mut(tag.sender).replies
        }
    }

    pub(super) fn rewritten(&mut self, tag: MessageTag) {
        self.rewritten += 1;
        self.tenants[tag.tenant as usize].rewritten += 1;
        if !tag.notification {
            self.sender_mut(tag.sender).rewritten += 1;
        }
    }

    /// Counted once, like `reply`; `finish` sums them up.
    pub(super) fn connection(&mut self, tag: MessageTag, opened: bool) {
        let c = if tag.notification {
            &mut self.tenants[tag.tenant as usize].connections
        } else {
            &mut self.sender_mut(tag.sender).connections
        };
        if opened {
            c.opened += 1;
        } else {
            c.refused += 1;
        }
    }

    /// Checks "nothing lost" for every entity; the error names the first violation.
    /// `sim::run` calls it at the end of every run.
    pub fn check_conservation(&self) -> Result<(), String> {
        let all = std::iter::once(("total", &self.total)).chain(
            self.tenants
                .iter()
                .chain(&self.senders)
                .map(|e| (e.id.as_str(), &e.counts)),
        );
        for (id, counts) in all {
            for (what, o) in [
                ("messages", counts.messages),
                ("recipients", counts.recipients),
                ("notifications", counts.notifications),
            ] {
                if !o.is_conserved() {
                    return Err(format!(
                        "{id}: {what} generated {} ≠ delivered {} + bounced {} + queued {}",
                        o.generated, o.delivered, o.bounced, o.queued_at_end
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn fingerprint_hex(&self) -> String {
        format!("{:016x}", self.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reply is counted as often as it was given, whether its variant is one
    /// reply or several; `iter` gives them in its documented order; `merge` adds.
    #[test]
    fn reply_counts_match_a_map() {
        let ips: [std::net::IpAddr; 3] =
            ["192.0.2.1", "2001:db8::1", "192.0.2.2"].map(|a| a.parse().unwrap());
        let mut all = Reply::WITHOUT_DATA.to_vec();
        for ip in ips {
            all.push(Reply::MailRelayDenied(ip));
            all.push(Reply::InvalidCredentials(ip));
        }
        let mut counts = ReplyCounts::default();
        let mut oracle: BTreeMap<Reply, u64> = BTreeMap::new();
        for (i, &r) in all.iter().enumerate() {
            // 0 to 3 times each, interleaved with the others.
            for _ in 0..i % 4 {
                assert_eq!(counts.add_coded(r), r.code(), "{r:?}");
                *oracle.entry(r).or_default() += 1;
            }
        }
        for &r in &all {
            assert_eq!(
                counts.count(r),
                oracle.get(&r).copied().unwrap_or(0),
                "{r:?}"
            );
        }
        let expected: Vec<(Reply, u64)> = Reply::WITHOUT_DATA
            .iter()
            .filter_map(|r| oracle.get(r).map(|&n| (*r, n)))
            .chain(
                oracle
                    .iter()
                    .filter(|(r, _)| !Reply::WITHOUT_DATA.contains(r))
                    .map(|(r, n)| (*r, *n)),
            )
            .collect();
        assert_eq!(counts.iter().collect::<Vec<_>>(), expected);
        let mut twice = counts.clone();
        twice.merge(&counts);
        for &r in &all {
            assert_eq!(twice.count(r), 2 * counts.count(r), "{r:?}");
        }
    }
}
