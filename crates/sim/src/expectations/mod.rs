//! Checking `[[expect]]` blocks (and `[[dialogue]]`s) against a finished run
//! (`relaysim test`): from the run's report, and from what the run's [`Witness`]
//! collected for the expectations the report cannot answer.
//!
//! An expectation about something this version does not count (per-user counts other
//! than replies) fails with a message that says so: a test that cannot be checked
//! must not pass.

mod witness;

use relay::time::{SimDuration, SimTime};
use relay::{LimitChange, LimitEvent, Reply, Subject};
use scenario::Model;
use scenario::model::{
    Bound, Bounds, Check, CountMetric, Expectation, LimitFilter, MailStorage, Metric, Reading,
    Scope,
};

pub use witness::{Collected, Tally, Witness};

use crate::{Connections, Counts, ReplyCounts, RunReport};

/// The verdict on one expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Every expectation of `model` against a run of it: its `report`, and the `witness`
/// the run was observed by.
pub fn evaluate(model: &Model, report: &RunReport, witness: &Witness<'_>) -> Vec<Verdict> {
    model
        .expectations
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (passed, detail) = match check(model, e, report, witness.collected(i)) {
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

fn check(
    model: &Model,
    e: &Expectation,
    report: &RunReport,
    collected: &Collected,
) -> Result<String, String> {
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
        Check::Dialogue { index } => dialogue(&model.dialogues[*index], &report.dialogues[*index]),
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
            during,
        } => {
            if user.is_some() {
                // Q3: the replies of the transactions the user was counted in.
                let CountMetric::Replies(prefix) = metric else {
                    return Err(format!(
                        "per-user counts other than `replies` {NOT_SIMULATED}; count by sender instead"
                    ));
                };
                let Collected::UserReplies { replies, .. } = collected else {
                    unreachable!("the witness counts the replies of a per-user count");
                };
                let value = count_replies(replies, prefix);
                let name = format!("replies \"{prefix}…\" counted to the user");
                return compare(&name, value, bounds, |_| None, &u64::to_string);
            }
            let scoped = match (during, collected) {
                (Some(_), Collected::Window { tally, .. }) => Scoped::of_tally(tally),
                _ => scoped(*scope, report),
            };
            let value_of = |m: Metric| plain_value(model, report, *scope, &scoped, m);
            let value = match metric {
                CountMetric::Replies(prefix) => count_replies(scoped.replies, prefix),
                CountMetric::Plain(m) => value_of(*m),
            };
            let mut name = match metric {
                CountMetric::Replies(r) => format!("replies \"{r}…\""),
                CountMetric::Plain(m) => m.name(),
            };
            if let Some((from, to)) = during {
                name.push_str(&format!(" from {from} to {to}"));
            }
            compare(&name, value, bounds, |m| Some(value_of(m)), &u64::to_string)
        }
        Check::Delay {
            quantile,
            bounds,
            scope,
        } => {
            let Collected::Delays(delays) = collected else {
                unreachable!("a delay expectation collects delays")
            };
            let what = if *quantile >= 1.0 {
                "largest delivery delay".to_string()
            } else {
                format!("{} delivery delay", percentile_name(*quantile))
            };
            let mut delays = delays.clone();
            let Some(delay) = witness::quantile(&mut delays, *quantile) else {
                return Err(format!(
                    "no message {} was delivered, so it has no {what}",
                    scope_words(model, *scope)
                ));
            };
            let as_duration = |ms: &u64| SimDuration::from_millis(*ms).to_string();
            compare(
                &format!("{what} {}", scope_words(model, *scope)),
                delay.as_millis(),
                bounds,
                |_| None,
                &as_duration,
            )
            .map(|ok| format!("{ok} (of {} delivered)", delays.len()))
        }
        Check::DeliveredBy { scope, at } => {
            let Collected::DeliveredBy(d) = collected else {
                unreachable!("a delivered_by expectation collects deliveries")
            };
            let whose = scope_words(model, *scope);
            if d.generated == 0 {
                return Err(format!("no message {whose} was generated"));
            }
            let missing = d.generated - d.in_time;
            if missing == 0 {
                return Ok(format!(
                    "all {} messages {whose} delivered by {at}",
                    d.generated
                ));
            }
            let mut why = Vec::new();
            if d.late > 0 {
                let last = d.last_late.map(|t| t - SimTime::ZERO).unwrap_or_default();
                why.push(format!("{} delivered later (the last at {last})", d.late));
            }
            if d.bounced > 0 {
                why.push(format!("{} bounced", d.bounced));
            }
            if d.queued > 0 {
                why.push(format!("{} still queued at the end", d.queued));
            }
            Err(format!(
                "{missing} of {} messages {whose} not delivered by {at}: {}",
                d.generated,
                why.join(", ")
            ))
        }
        Check::AtInstant {
            probe,
            reading,
            bounds,
        } => {
            let p = &model.probes[*probe];
            let subject = model.limit_subject(p.key.subject).1;
            let what = match reading {
                Reading::Usage => "use",
                Reading::LimitValue => "limit",
            };
            let name = format!("{} {what} ({subject}) at {}", p.key.limit.name(), p.at);
            let Some((used, limit)) = report.probes[*probe] else {
                return Err(format!("{name}: the run never reached {}", p.at));
            };
            let value = match reading {
                Reading::Usage => used,
                Reading::LimitValue => limit,
            };
            compare(&name, value, bounds, |_| None, &u64::to_string)
        }
        Check::Attribution {
            sender,
            relayed_as,
            counted_user,
        } => {
            let Collected::Attribution(a) = collected else {
                unreachable!("an attribution expectation collects transactions")
            };
            let whose = scope_words(model, Scope::Sender(*sender));
            let mut wanted = Vec::new();
            if let Some(r) = relayed_as {
                wanted.push(format!("relayed as {r}"));
            }
            if let Some(u) = counted_user {
                wanted.push(format!("counted to {}", model.user_address(*u)));
            }
            let wanted = wanted.join(" and ");
            if a.accepted == 0 {
                return Err(format!("no transaction {whose} was accepted"));
            }
            match &a.first_mismatch {
                None => Ok(format!(
                    "all {} accepted transactions {whose} {wanted}",
                    a.accepted
                )),
                Some((t, relayed, counted)) => Err(format!(
                    "{} of {} accepted transactions {whose} not {wanted}; the first, at {}, relayed as {relayed}, counted to {}",
                    a.mismatches,
                    a.accepted,
                    *t - SimTime::ZERO,
                    counted.as_deref().unwrap_or("no registered user")
                )),
            }
        }
        Check::Attempts {
            sender,
            message,
            at,
            tolerance,
        } => {
            let Collected::Attempts(a) = collected else {
                unreachable!("an attempts expectation collects attempts")
            };
            attempt_times(model, *sender, *message, at, *tolerance, a)
        }
    }
}

/// A plain metric's value in `scoped` (or, for what only the report knows, in the
/// report).
fn plain_value(
    model: &Model,
    report: &RunReport,
    scope: Scope,
    scoped: &Scoped<'_>,
    m: Metric,
) -> u64 {
    let counts = scoped.counts;
    match m {
        Metric::MessagesGenerated => counts.messages.generated,
        Metric::MessagesDelivered => counts.messages.delivered,
        Metric::MessagesBounced => counts.messages.bounced,
        Metric::MessagesQueuedAtEnd => counts.messages.queued_at_end,
        Metric::RecipientsGenerated => counts.recipients.generated,
        Metric::RecipientsDelivered => counts.recipients.delivered,
        Metric::RecipientsBounced => counts.recipients.bounced,
        Metric::RecipientsQueuedAtEnd => counts.recipients.queued_at_end,
        // Compiled into `CountMetric::Replies`; as a bound it is refused.
        Metric::Replies | Metric::DeliveryDelay => 0,
        Metric::ConnectionsOpened => scoped.connections.opened,
        Metric::ConnectionsRefused => scoped.connections.refused,
        Metric::MessagesRewritten => scoped.rewritten,
        Metric::NotificationsGenerated => counts.notifications.generated,
        Metric::NotificationsDelivered => counts.notifications.delivered,
        Metric::NotificationsDropped => counts.notifications.bounced,
        Metric::MessagesStored => relayed_where(model, report, scope, |s| s.stores_relayed_mail()),
        Metric::MessagesArchivedInVault => {
            relayed_where(model, report, scope, |s| s.archives_relayed_mail())
        }
        Metric::RecipientsDeferred => scoped.deferred_rcpts,
        Metric::DeferralAttempts => scoped.deferrals,
    }
}

/// "of sender `s`", "of tenant `t`", "of the run".
fn scope_words(model: &Model, scope: Scope) -> String {
    match scope {
        Scope::Run => "of the run".to_string(),
        Scope::Tenant(t) => format!("of tenant `{}`", model.tenants[t.0 as usize].id),
        Scope::Sender(s) => format!("of sender `{}`", model.declared_senders[s.0 as usize]),
    }
}

/// 0.99 → "99th percentile", 0.5 → "50th percentile", 0.999 → "99.9th percentile".
fn percentile_name(q: f64) -> String {
    let p = q * 100.0;
    let text = if (p - p.round()).abs() < 1e-9 {
        format!("{}", p.round() as u64)
    } else {
        format!("{}", (p * 1000.0).round() / 1000.0)
    };
    format!("{text}th percentile")
}

/// The attempts of one message against the instants expected, in order, each
/// within the tolerance; no attempt missing, none more.
fn attempt_times(
    model: &Model,
    sender: scenario::model::SenderIx,
    message: u32,
    at: &[SimDuration],
    tolerance: SimDuration,
    a: &witness::Attempts,
) -> Result<String, String> {
    let whose = format!(
        "message {message} of sender `{}`",
        model.declared_senders[sender.0 as usize]
    );
    let Some(arrived) = a.arrived else {
        return Err(format!(
            "{whose} was never generated (the sender generated {})",
            a.seen
        ));
    };
    if a.twin {
        return Err(format!(
            "another message of the sender arrived at the same instant as {whose} ({}): their attempts cannot be told apart; spread its traffic (a rate, or a burst over a span)",
            arrived - SimTime::ZERO
        ));
    }
    let list = |times: &mut dyn Iterator<Item = SimDuration>| {
        times.map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
    };
    let observed = list(&mut a.times.iter().map(|t| *t - SimTime::ZERO));
    let far = a
        .times
        .iter()
        .zip(at)
        .position(|(t, want)| (*t - SimTime::ZERO).0.abs_diff(want.0) > tolerance.0);
    if a.times.len() != at.len() || far.is_some() {
        let expected = list(&mut at.iter().copied());
        let first = match far {
            Some(i) => format!("; attempt {} is more than {tolerance} off", i + 1),
            None => String::new(),
        };
        return Err(format!(
            "{whose} was attempted at [{observed}], expected [{expected}] within {tolerance}{first}"
        ));
    }
    Ok(format!("{whose} attempted at [{observed}]"))
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

/// What the expectation counts in: one sender, one tenant, or the whole run (or
/// what a window of it collected).
struct Scoped<'a> {
    counts: &'a Counts,
    replies: &'a ReplyCounts,
    connections: Connections,
    rewritten: u64,
    deferred_rcpts: u64,
    deferrals: u64,
}

impl<'a> Scoped<'a> {
    fn of_tally(t: &'a Tally) -> Self {
        Scoped {
            counts: &t.counts,
            replies: &t.replies,
            connections: t.connections,
            rewritten: t.rewritten,
            deferred_rcpts: t.deferred_rcpts,
            deferrals: t.deferrals,
        }
    }
}

fn scoped(scope: Scope, report: &RunReport) -> Scoped<'_> {
    let entity = match scope {
        Scope::Run => {
            return Scoped {
                counts: &report.total,
                replies: &report.replies,
                connections: report.connections,
                rewritten: report.rewritten,
                deferred_rcpts: report.tenants.iter().map(|t| t.deferred_rcpts).sum(),
                deferrals: report.tenants.iter().map(|t| t.deferrals).sum(),
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
        deferred_rcpts: entity.deferred_rcpts,
        deferrals: entity.deferrals,
    }
}

/// `value` against `bounds`; a bound that names a metric is that metric's value
/// (`metric_value`), and values are written by `show`.
fn compare(
    name: &str,
    value: u64,
    bounds: &Bounds,
    metric_value: impl Fn(Metric) -> Option<u64>,
    show: &dyn Fn(&u64) -> String,
) -> Result<String, String> {
    let mut failures = Vec::new();
    let mut relations = Vec::new();
    let mut resolve = |b: Bound| -> Option<(u64, String)> {
        match b {
            Bound::Value(x) => Some((x, show(&x))),
            Bound::Metric(m) => {
                let x = metric_value(m)?;
                relations.push(format!("{} = {}", m.name(), show(&x)));
                Some((x, m.name()))
            }
        }
    };
    type Holds = fn(u64, u64) -> bool;
    let checks: [(Option<Bound>, Holds, &str); 3] = [
        (bounds.equals, |v, x| v == x, "exactly"),
        (bounds.at_least, |v, x| v >= x, "at least"),
        (bounds.at_most, |v, x| v <= x, "at most"),
    ];
    for (bound, holds, words) in checks {
        let Some(bound) = bound else { continue };
        let Some((x, text)) = resolve(bound) else {
            // Validation refuses a metric bound where there is none to read.
            let what = match bound {
                Bound::Metric(m) => m.name(),
                Bound::Value(v) => v.to_string(),
            };
            failures.push(format!("nothing to compare with {what}"));
            continue;
        };
        if !holds(value, x) {
            failures.push(format!("expected {words} {text}"));
        }
    }
    let value = show(&value);
    let observed = if relations.is_empty() {
        format!("{name} = {value}")
    } else {
        format!("{name} = {value} ({})", relations.join(", "))
    };
    if failures.is_empty() {
        Ok(observed)
    } else {
        Err(format!("{observed}, {}", failures.join(" and ")))
    }
}

/// Every reply of the dialogue starts with the text its script expects; a failure
/// names the first step that differs, with its line, and what came instead.
fn dialogue(d: &scenario::model::Dialogue, t: &crate::Transcript) -> Result<String, String> {
    if !t.greeting.starts_with(&d.connect_expect) {
        return Err(format!(
            "the connection got \"{}\", expected \"{}…\"",
            t.greeting, d.connect_expect
        ));
    }
    if !t.greeting.starts_with("220") {
        return Ok(format!(
            "the connection got \"{}\" as expected (the script was not sent)",
            t.greeting
        ));
    }
    for (i, step) in d.steps.iter().enumerate() {
        let Some(reply) = t.replies.get(i) else {
            let why = match t.replies.last() {
                None => format!("the connection got \"{}\"", t.greeting),
                Some(last) => format!("the connection ended after \"{last}\""),
            };
            return Err(format!(
                "step {} (line {}) \"{}\" was never sent: {why}",
                i + 1,
                step.line,
                step.command
            ));
        };
        if !reply.starts_with(&step.expect) {
            return Err(format!(
                "step {} (line {}) \"{}\" got \"{reply}\", expected \"{}…\"",
                i + 1,
                step.line,
                step.command,
                step.expect
            ));
        }
    }
    Ok(match t.replies.last() {
        Some(last) => format!(
            "{} replies as scripted, the last \"{last}\"",
            t.replies.len()
        ),
        None => format!("the connection got \"{}\" as expected", t.greeting),
    })
}
