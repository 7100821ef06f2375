//! Checking `[[expect]]` blocks against a finished run (`relaysim test`).
//!
//! An expectation about something this version does not count (per-user counts other
//! than replies) fails with a message that says so: a test that cannot be checked
//! must not pass.

use relay::time::SimTime;
use relay::{LimitChange, LimitEvent, Reply, Subject};
use scenario::Model;
use scenario::model::{
    Bounds, Check, CountMetric, Expectation, LimitFilter, MailStorage, Metric, Scope,
};

use crate::{Connections, Counts, ReplyCounts, RunReport};

/// The verdict on one expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

pub fn evaluate(model: &Model, report: &RunReport) -> Vec<Verdict> {
    model
        .expectations
        .iter()
        .map(|e| {
            let (passed, detail) = match check(model, e, report) {
                Ok(detail) => (true, detail),
                Err(detail) => (false, detail),
            };
            Verdict {
                name: e.name.clone(),
                passed,
                detail,
            }
        })
        .collect()
}

const NOT_SIMULATED: &str = "cannot be checked yet: this version does not simulate them";

fn check(model: &Model, e: &Expectation, report: &RunReport) -> Result<String, String> {
    match &e.check {
        Check::FirstHit { limit, from, to } | Check::FirstCleared { limit, from, to } => {
            let (change, what) = match e.check {
                Check::FirstHit { .. } => (LimitChange::Hit, "hit"),
                _ => (LimitChange::Cleared, "cleared"),
            };
            let name = limit.limit.name();
            match changes(limit, report, change).next() {
                None => Err(format!("{name} was never {what}")),
                Some(r) => {
                    let t = r.time - SimTime::ZERO;
                    let subject = model.limit_subject(r.key.subject).1;
                    let at = format!("{name} first {what} at {t} ({subject})");
                    if *from <= t && t <= *to {
                        Ok(at)
                    } else {
                        Err(format!("{at}, expected between {from} and {to}"))
                    }
                }
            }
        }
        Check::NeverHit { limit } => {
            let name = limit.limit.name();
            match changes(limit, report, LimitChange::Hit).next() {
                None => Ok(format!("{name} never hit")),
                Some(hit) => Err(format!(
                    "{name} hit at {} ({}): {}",
                    hit.time - SimTime::ZERO,
                    model.limit_subject(hit.key.subject).1,
                    hit.reply
                )),
            }
        }
        Check::Count {
            metric,
            scope,
            user,
            bounds,
        } => {
            if let Some(u) = user {
                // Q3: the replies of the transactions the user was counted in.
                let CountMetric::Replies(prefix) = metric else {
                    return Err(format!(
                        "per-user counts other than `replies` {NOT_SIMULATED}; count by sender instead"
                    ));
                };
                let value = count_replies(&report.user_replies[u.0 as usize], prefix);
                return compare(
                    &format!("replies \"{prefix}…\" counted to the user"),
                    value,
                    bounds,
                );
            }
            let scoped = scoped(*scope, report);
            let counts = scoped.counts;
            let value = match metric {
                CountMetric::Replies(prefix) => count_replies(scoped.replies, prefix),
                CountMetric::Plain(m) => match m {
                    Metric::MessagesGenerated => counts.messages.generated,
                    Metric::MessagesDelivered => counts.messages.delivered,
                    Metric::MessagesBounced => counts.messages.bounced,
                    Metric::MessagesQueuedAtEnd => counts.messages.queued_at_end,
                    Metric::RecipientsGenerated => counts.recipients.generated,
                    Metric::RecipientsDelivered => counts.recipients.delivered,
                    Metric::RecipientsBounced => counts.recipients.bounced,
                    Metric::RecipientsQueuedAtEnd => counts.recipients.queued_at_end,
                    Metric::Replies => 0, // compiled into CountMetric::Replies
                    Metric::ConnectionsOpened => scoped.connections.opened,
                    Metric::ConnectionsRefused => scoped.connections.refused,
                    Metric::MessagesRewritten => scoped.rewritten,
                    Metric::NotificationsGenerated => counts.notifications.generated,
                    Metric::NotificationsDelivered => counts.notifications.delivered,
                    Metric::NotificationsDropped => counts.notifications.bounced,
                    Metric::MessagesStored => {
                        relayed_where(model, report, *scope, |s| s.stores_relayed_mail())
                    }
                    Metric::MessagesArchivedInVault => {
                        relayed_where(model, report, *scope, |s| s.archives_relayed_mail())
                    }
                },
            };
            let name = match metric {
                CountMetric::Replies(r) => format!("replies \"{r}…\""),
                CountMetric::Plain(m) => m.name(),
            };
            compare(&name, value, bounds)
        }
    }
}

/// P13: relayed messages (transactions accepted after DATA) in `scope` of the tenants
/// whose storage settings pass `keep`.
fn relayed_where(
    model: &Model,
    report: &RunReport,
    scope: Scope,
    keep: impl Fn(MailStorage) -> bool,
) -> u64 {
    let accepted = |replies: &ReplyCounts| replies.count(Reply::MessageAccepted);
    let tenant_count = |t: usize| {
        if keep(model.storage[t]) {
            accepted(&report.tenants[t].replies)
        } else {
            0
        }
    };
    match scope {
        Scope::Run => (0..model.tenants.len()).map(tenant_count).sum(),
        Scope::Tenant(t) => tenant_count(t.0 as usize),
        Scope::Sender(s) => {
            let tenant = model.sender(s).tenant.0 as usize;
            if keep(model.storage[tenant]) {
                accepted(&report.senders[s.0 as usize].replies)
            } else {
                0
            }
        }
    }
}

/// Replies whose line starts with `prefix`.
fn count_replies(replies: &ReplyCounts, prefix: &str) -> u64 {
    replies.count_prefixed(prefix)
}

/// The hits (or clears) of the filter's limit, for its tenant, user and source IP
/// when given.
fn changes<'a>(
    filter: &'a LimitFilter,
    report: &'a RunReport,
    change: LimitChange,
) -> impl Iterator<Item = &'a LimitEvent> {
    report.limit_events.iter().filter(move |r| {
        r.change == change
            && r.key.limit == filter.limit
            && filter.tenant.is_none_or(|t| r.tenant == Some(t))
            && filter
                .user
                .is_none_or(|u| r.key.subject == Subject::User(u))
            && filter
                .source_ip
                .is_none_or(|ip| r.key.subject == Subject::SourceIp(ip))
    })
}

/// What the expectation counts in: one sender, one tenant, or the whole run.
struct Scoped<'a> {
    counts: &'a Counts,
    replies: &'a ReplyCounts,
    connections: Connections,
    rewritten: u64,
}

fn scoped(scope: Scope, report: &RunReport) -> Scoped<'_> {
    let entity = match scope {
        Scope::Run => {
            return Scoped {
                counts: &report.total,
                replies: &report.replies,
                connections: report.connections,
                rewritten: report.rewritten,
            };
        }
        Scope::Tenant(t) => &report.tenants[t.0 as usize],
        Scope::Sender(s) => &report.senders[s.0 as usize],
    };
    Scoped {
        counts: &entity.counts,
        replies: &entity.replies,
        connections: entity.connections,
        rewritten: entity.rewritten,
    }
}

fn compare(name: &str, value: u64, bounds: &Bounds) -> Result<String, String> {
    let mut failures = Vec::new();
    if let Some(x) = bounds.equals
        && value != x
    {
        failures.push(format!("expected exactly {x}"));
    }
    if let Some(x) = bounds.at_least
        && value < x
    {
        failures.push(format!("expected at least {x}"));
    }
    if let Some(x) = bounds.at_most
        && value > x
    {
        failures.push(format!("expected at most {x}"));
    }
    if failures.is_empty() {
        Ok(format!("{name} = {value}"))
    } else {
        Err(format!("{name} = {value}, {}", failures.join(" and ")))
    }
}
