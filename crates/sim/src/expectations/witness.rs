//! What a run's report does not keep but an expectation asks about, collected as it
//! happens: counts within a window of time (`during`), each delivered message's
//! delay, which messages were delivered by an instant, how transactions were
//! attributed, when one message was attempted, and the replies counted to a user
//! (Q3). Built from the model's
//! expectations, it collects only what they ask for; a run without such
//! expectations pays one branch per observation.

use relay::time::{SimDuration, SimTime};
use relay::{Reply, UserId};
use scenario::Model;
use scenario::model::{Check, Scope, SenderIx};

use crate::observe::{Observation, Observer};
use crate::report::{Connections, Counts, ReplyCounts};
use crate::world::mta::MessageTag;

/// The counts of one scope, as the run report keeps them per entity.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub counts: Counts,
    pub replies: ReplyCounts,
    pub connections: Connections,
    pub rewritten: u64,
    pub deferred_rcpts: u64,
    pub deferrals: u64,
}

/// What one expectation collects.
#[derive(Clone, Debug)]
pub enum Collected {
    /// Nothing: the report has what it needs.
    Nothing,
    /// The counts of its scope within `[from, to)`.
    Window {
        from: SimTime,
        to: SimTime,
        tally: Box<Tally>,
    },
    /// The delays of the delivered messages of its scope, in milliseconds.
    Delays(Vec<u64>),
    DeliveredBy(DeliveredBy),
    Attribution(Attribution),
    Attempts(Attempts),
    /// Q3: the replies of the transactions `user` was counted in: MAIL FROM's, each
    /// RCPT TO's and DATA's (over the whole run, whatever the scope).
    UserReplies {
        user: UserId,
        replies: Box<ReplyCounts>,
    },
}

/// The messages of a scope and how each ended against an instant.
#[derive(Clone, Debug, Default)]
pub struct DeliveredBy {
    pub at: SimTime,
    pub generated: u64,
    /// Delivered to every recipient at or before `at`.
    pub in_time: u64,
    /// Delivered to every recipient, after `at`; the last such delivery.
    pub late: u64,
    pub last_late: Option<SimTime>,
    /// Some recipient bounced.
    pub bounced: u64,
    /// Still queued at the horizon.
    pub queued: u64,
}

/// The accepted transactions of a sender and the first one attributed otherwise.
#[derive(Clone, Debug, Default)]
pub struct Attribution {
    pub relayed_as: Option<String>,
    pub counted_user: Option<UserId>,
    pub accepted: u64,
    pub mismatches: u64,
    /// When the first mismatch was, as what it was relayed, and whom it counted.
    pub first_mismatch: Option<(SimTime, String, Option<String>)>,
}

/// The attempts of message `message` of a sender.
#[derive(Clone, Debug, Default)]
pub struct Attempts {
    pub message: u32,
    /// The sender's messages seen so far.
    pub seen: u32,
    /// When message `message` arrived, once it has.
    pub arrived: Option<SimTime>,
    /// Another message of the sender arrived at that same instant: its attempts
    /// cannot be told apart.
    pub twin: bool,
    pub times: Vec<SimTime>,
}

/// The run's observer for expectations.
pub struct Witness<'m> {
    model: &'m Model,
    /// One per expectation of the model, in its order.
    collected: Vec<Collected>,
    /// Whether any expectation collects anything.
    active: bool,
}

impl<'m> Witness<'m> {
    pub fn new(model: &'m Model) -> Self {
        let collected: Vec<Collected> = model
            .expectations
            .iter()
            .map(|e| match &e.check {
                Check::Count {
                    during: Some((from, to)),
                    ..
                } => Collected::Window {
                    from: SimTime::ZERO + *from,
                    to: SimTime::ZERO + *to,
                    tally: Box::default(),
                },
                Check::Delay { .. } => Collected::Delays(Vec::new()),
                Check::DeliveredBy { at, .. } => Collected::DeliveredBy(DeliveredBy {
                    at: SimTime::ZERO + *at,
                    ..DeliveredBy::default()
                }),
                Check::Attribution {
                    relayed_as,
                    counted_user,
                    ..
                } => Collected::Attribution(Attribution {
                    relayed_as: relayed_as.clone(),
                    counted_user: *counted_user,
                    ..Attribution::default()
                }),
                Check::Count { user: Some(u), .. } => Collected::UserReplies {
                    user: *u,
                    replies: Box::default(),
                },
                Check::Attempts { message, .. } => Collected::Attempts(Attempts {
                    message: *message,
                    ..Attempts::default()
                }),
                _ => Collected::Nothing,
            })
            .collect();
        let active = collected.iter().any(|c| !matches!(c, Collected::Nothing));
        Witness {
            model,
            collected,
            active,
        }
    }

    /// What expectation number `i` collected.
    pub fn collected(&self, i: usize) -> &Collected {
        &self.collected[i]
    }

    /// Whether `tag` counts in `scope`: a sender's own messages (not the
    /// notifications its bounces cause, which count under the tenant), a tenant's,
    /// or all.
    fn in_scope(&self, scope: Scope, tag: MessageTag) -> bool {
        match scope {
            Scope::Run => true,
            Scope::Tenant(t) => tag.tenant == t.0,
            Scope::Sender(s) => !tag.notification && self.declared(tag) == s,
        }
    }

    fn declared(&self, tag: MessageTag) -> SenderIx {
        self.model.senders[tag.sender as usize].declared
    }
}

impl Observer for Witness<'_> {
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        if !self.active {
            return;
        }
        let Some(tag) = tag_of(what) else { return };
        for i in 0..self.collected.len() {
            let check = &self.model.expectations[i].check;
            let scope = match check {
                Check::Count { user: Some(_), .. } => Scope::Run,
                Check::Count { scope, .. }
                | Check::Delay { scope, .. }
                | Check::DeliveredBy { scope, .. } => *scope,
                Check::Attribution { sender, .. } | Check::Attempts { sender, .. } => {
                    Scope::Sender(*sender)
                }
                _ => continue,
            };
            if !self.in_scope(scope, tag) {
                continue;
            }
            let model = self.model;
            match &mut self.collected[i] {
                Collected::Nothing => {}
                Collected::Window { from, to, tally } => {
                    if *from <= time && time < *to {
                        tally_one(tally, what);
                    }
                }
                Collected::Delays(delays) => {
                    if let Observation::Settled {
                        delay: Some(d),
                        tag,
                        ..
                    } = *what
                        && !tag.notification
                    {
                        delays.push(d.as_millis());
                    }
                }
                Collected::DeliveredBy(d) => delivered_by(d, time, what),
                Collected::Attribution(a) => attribution(a, model, time, what),
                Collected::Attempts(a) => attempts(a, time, what),
                Collected::UserReplies { user, replies } => user_replies(*user, replies, what),
            }
        }
    }
}

/// The message an observation is about.
fn tag_of(what: &Observation<'_>) -> Option<MessageTag> {
    match *what {
        Observation::Offered { tag, .. }
        | Observation::Generated { tag, .. }
        | Observation::Settled { tag, .. }
        | Observation::Attempt { tag, .. }
        | Observation::Connection { tag, .. }
        | Observation::Transaction { tag, .. } => Some(tag),
        Observation::QueueDepth { .. }
        | Observation::Limit(_)
        | Observation::StillHit(_)
        | Observation::QuotaUsage { .. } => None,
    }
}

/// Counts one observation as the run report counts it (`driver.rs`'s `Sink`).
fn tally_one(t: &mut Tally, what: &Observation<'_>) {
    what.replies()
        .iter()
        .for_each(|&reply| t.replies.add(reply));
    match *what {
        Observation::Generated { tag, recipients } => {
            t.counts.add_generated(tag.notification, recipients);
        }
        Observation::Settled { tag, fates, .. } => t.counts.add_settled(tag.notification, fates),
        Observation::Attempt { tag, counts, .. } if !tag.notification => {
            t.deferrals += counts.deferred_rcpts;
            t.deferred_rcpts += counts.newly_deferred_rcpts;
        }
        Observation::Connection { opened, .. } => {
            if opened {
                t.connections.opened += 1;
            } else {
                t.connections.refused += 1;
            }
        }
        Observation::Transaction { trace, .. }
            if trace.reply == Reply::MessageAccepted && trace.postmaster_domain.is_some() =>
        {
            t.rewritten += 1;
        }
        _ => {}
    }
}

/// Counts the replies of a transaction `user` was counted in (Q3): MAIL FROM's
/// refusal alone, or MAIL FROM's acceptance, each RCPT TO's reply and, if a recipient
/// was accepted, DATA's (not the RSET that ends a transaction without one).
fn user_replies(user: UserId, counts: &mut ReplyCounts, what: &Observation<'_>) {
    let Observation::Transaction { trace, .. } = *what else {
        return;
    };
    if trace.user != Some(user) {
        return;
    }
    let rcpt_replies = trace.rcpt_replies();
    if rcpt_replies.is_empty() {
        counts.add(trace.reply); // refused at MAIL FROM
        return;
    }
    counts.add(Reply::SenderOk);
    rcpt_replies.iter().for_each(|&r| counts.add(r));
    if rcpt_replies.iter().any(|r| r.is_positive()) {
        counts.add(trace.reply); // DATA's
    }
}

fn delivered_by(d: &mut DeliveredBy, time: SimTime, what: &Observation<'_>) {
    match *what {
        Observation::Generated { tag, .. } if !tag.notification => d.generated += 1,
        Observation::Settled { tag, fates, .. } if !tag.notification => {
            if fates.queued > 0 {
                d.queued += 1;
            } else if fates.bounced > 0 {
                d.bounced += 1;
            } else if time <= d.at {
                d.in_time += 1;
            } else {
                d.late += 1;
                d.last_late = Some(time);
            }
        }
        _ => {}
    }
}

fn attribution(a: &mut Attribution, model: &Model, time: SimTime, what: &Observation<'_>) {
    let Observation::Transaction { trace, .. } = *what else {
        return;
    };
    if trace.reply != Reply::MessageAccepted {
        return;
    }
    a.accepted += 1;
    let relayed = match trace.postmaster_domain {
        Some((_, domain)) => format!("postmaster@{domain}"),
        None => trace.envelope_from.to_string(),
    };
    let relayed_ok = a.relayed_as.as_ref().is_none_or(|r| *r == relayed);
    let counted_ok = a.counted_user.is_none_or(|u| trace.user == Some(u));
    if !(relayed_ok && counted_ok) {
        a.mismatches += 1;
        if a.first_mismatch.is_none() {
            let counted = trace.user.map(|u| model.user_address(u).to_string());
            a.first_mismatch = Some((time, relayed, counted));
        }
    }
}

fn attempts(a: &mut Attempts, time: SimTime, what: &Observation<'_>) {
    match *what {
        Observation::Generated { .. } => {
            a.seen += 1;
            if a.seen == a.message {
                a.arrived = Some(time);
            } else if a.arrived == Some(time) {
                a.twin = true;
            }
        }
        Observation::Attempt { arrived, .. } if Some(arrived) == a.arrived => {
            a.times.push(time);
        }
        _ => {}
    }
}

/// The q-quantile of `delays` (sorted in place): the smallest delay that at least
/// a share q of the messages did not exceed (q = 1: the largest).
pub fn quantile(delays: &mut [u64], q: f64) -> Option<SimDuration> {
    if delays.is_empty() {
        return None;
    }
    delays.sort_unstable();
    let rank = ((q * delays.len() as f64).ceil() as usize).clamp(1, delays.len());
    Some(SimDuration::from_millis(delays[rank - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut d: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&mut d, 1.0), Some(SimDuration::from_millis(100)));
        assert_eq!(quantile(&mut d, 0.99), Some(SimDuration::from_millis(99)));
        assert_eq!(quantile(&mut d, 0.5), Some(SimDuration::from_millis(50)));
        assert_eq!(quantile(&mut d, 0.001), Some(SimDuration::from_millis(1)));
        let mut one = vec![7];
        assert_eq!(quantile(&mut one, 0.5), Some(SimDuration::from_millis(7)));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
