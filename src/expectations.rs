//! Checking `[[expect]]` blocks against a finished run (`relaysim test`).
//!
//! An expectation about something this version does not simulate (per-user counts)
//! fails with a message that says so: a test that cannot be checked must not pass.

use crate::relay::LimitChange;
use crate::scenario::{Check, Expectation, Metric, Scenario};
use crate::sim::{EntityReport, LimitRecord, RunReport};

/// The verdict on one expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

pub fn evaluate(scenario: &Scenario, report: &RunReport) -> Vec<Verdict> {
    scenario
        .expectations
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let name = e
                .name
                .clone()
                .unwrap_or_else(|| format!("expectation {}", i + 1));
            let (passed, detail) = match check(e, report) {
                Ok(detail) => (true, detail),
                Err(detail) => (false, detail),
            };
            Verdict {
                name,
                passed,
                detail,
            }
        })
        .collect()
}

const NOT_SIMULATED: &str = "cannot be checked yet: this version does not simulate them";

fn check(e: &Expectation, report: &RunReport) -> Result<String, String> {
    match e.check.get_ref() {
        check @ (Check::FirstHit | Check::FirstCleared) => {
            let limit = *e
                .limit
                .as_ref()
                .expect("validated: the check has a limit")
                .get_ref();
            let [from, to] = *e
                .between
                .as_ref()
                .expect("validated: the check has between")
                .get_ref();
            let (change, what) = match check {
                Check::FirstHit => (LimitChange::Hit, "hit"),
                _ => (LimitChange::Cleared, "cleared"),
            };
            let name = limit.name();
            match changes(e, report, change).next() {
                None => Err(format!("{name} was never {what}")),
                Some(r) => {
                    let t = r.time - crate::time::SimTime::ZERO;
                    let at = format!("{name} first {what} at {} s ({})", r.time, r.subject);
                    if from <= t && t <= to {
                        Ok(at)
                    } else {
                        Err(format!("{at}, expected between {from} and {to}"))
                    }
                }
            }
        }
        Check::NeverHit => {
            let limit = *e
                .limit
                .as_ref()
                .expect("validated: never_hit has a limit")
                .get_ref();
            match changes(e, report, LimitChange::Hit).next() {
                None => Ok(format!("{} never hit", limit.name())),
                Some(hit) => Err(format!(
                    "{} hit at {} s ({}): {}",
                    limit.name(),
                    hit.time,
                    hit.subject,
                    hit.reply
                )),
            }
        }
        Check::Count => {
            let metric = *e
                .metric
                .as_ref()
                .expect("validated: count has a metric")
                .get_ref();
            if e.user.is_some() {
                return Err(format!(
                    "per-user counts {NOT_SIMULATED}; count by sender instead"
                ));
            }
            let scoped = scope(e, report)?;
            let counts = &scoped.counts;
            let value = match metric {
                Metric::MessagesGenerated => counts.messages.generated,
                Metric::MessagesDelivered => counts.messages.delivered,
                Metric::MessagesBounced => counts.messages.bounced,
                Metric::MessagesQueuedAtEnd => counts.messages.queued_at_end,
                Metric::RecipientsGenerated => counts.recipients.generated,
                Metric::RecipientsDelivered => counts.recipients.delivered,
                Metric::RecipientsBounced => counts.recipients.bounced,
                Metric::RecipientsQueuedAtEnd => counts.recipients.queued_at_end,
                Metric::Replies => {
                    let prefix = e.reply.as_deref().expect("validated: replies has a reply");
                    scoped
                        .replies
                        .iter()
                        .filter(|(reply, _)| reply.to_string().starts_with(prefix))
                        .map(|(_, n)| n)
                        .sum()
                }
                Metric::ConnectionsOpened => scoped.connections.opened,
                Metric::ConnectionsRefused => scoped.connections.refused,
                Metric::MessagesRewritten => scoped.rewritten,
                Metric::NotificationsGenerated => counts.notifications.generated,
                Metric::NotificationsDelivered => counts.notifications.delivered,
                Metric::NotificationsDropped => counts.notifications.bounced,
            };
            let name = match (metric, &e.reply) {
                (Metric::Replies, Some(r)) => format!("replies \"{r}…\""),
                _ => metric_name(metric),
            };
            compare(&name, value, e)
        }
    }
}

/// The hits (or clears) of the expectation's limit, for its tenant and user when given.
fn changes<'a>(
    e: &'a Expectation,
    report: &'a RunReport,
    change: LimitChange,
) -> impl Iterator<Item = &'a LimitRecord> {
    let limit = e.limit.as_ref().map(|l| *l.get_ref());
    report.limit_events.iter().filter(move |r| {
        r.change == change
            && Some(r.limit) == limit
            && e.tenant.as_ref().is_none_or(|t| *t.get_ref() == r.tenant)
            && e.user
                .as_ref()
                .is_none_or(|u| r.scope == "user" && u.get_ref().eq_ignore_ascii_case(&r.subject))
            && e.source_ip
                .as_ref()
                .is_none_or(|ip| r.scope == "dos" && ip.get_ref().to_string() == r.subject)
    })
}

/// What the expectation counts in: one sender, one tenant, or the whole run.
struct Scoped<'a> {
    counts: &'a crate::sim::Counts,
    replies: &'a crate::sim::ReplyCounts,
    connections: crate::sim::Connections,
    rewritten: u64,
}

fn scope<'a>(e: &Expectation, report: &'a RunReport) -> Result<Scoped<'a>, String> {
    let find = |list: &'a [EntityReport], id: &str| {
        list.iter()
            .find(|x| x.id == id)
            .map(|x| Scoped {
                counts: &x.counts,
                replies: &x.replies,
                connections: x.connections,
                rewritten: x.rewritten,
            })
            .ok_or_else(|| format!("no `{id}` in the run"))
    };
    match (&e.sender, &e.tenant) {
        (Some(s), _) => find(&report.senders, s.get_ref()),
        (None, Some(t)) => find(&report.tenants, t.get_ref()),
        (None, None) => Ok(Scoped {
            counts: &report.total,
            replies: &report.replies,
            connections: report.connections,
            rewritten: report.rewritten,
        }),
    }
}

fn compare(name: &str, value: u64, e: &Expectation) -> Result<String, String> {
    let mut failures = Vec::new();
    if let Some(x) = e.equals
        && value != x
    {
        failures.push(format!("expected exactly {x}"));
    }
    if let Some(x) = e.at_least
        && value < x
    {
        failures.push(format!("expected at least {x}"));
    }
    if let Some(x) = e.at_most
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

/// The metric as written in scenario files, e.g. `messages_bounced`.
fn metric_name(metric: Metric) -> String {
    serde_json::to_value(metric)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
