//! Checking `[[expect]]` blocks against a finished run (`relaysim test`).
//!
//! An expectation about something this version does not simulate (the relay's
//! replies, limit hits, connections) fails with a message that says so: a test that
//! cannot be checked must not pass.

use crate::scenario::{Check, Expectation, Metric, Scenario};
use crate::sim::{Counts, RunReport};

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

const NOT_SIMULATED: &str = "cannot be checked yet: this version does not simulate the relay";

fn check(e: &Expectation, report: &RunReport) -> Result<String, String> {
    match e.check.get_ref() {
        Check::FirstHit | Check::NeverHit => Err(format!("limit hits {NOT_SIMULATED}")),
        Check::Count => {
            let metric = *e
                .metric
                .as_ref()
                .expect("validated: count has a metric")
                .get_ref();
            let counts = scope(e, report)?;
            let value = match metric {
                Metric::MessagesGenerated => counts.messages.generated,
                Metric::MessagesDelivered => counts.messages.delivered,
                Metric::MessagesBounced => counts.messages.bounced,
                Metric::MessagesQueuedAtEnd => counts.messages.queued_at_end,
                Metric::RecipientsGenerated => counts.recipients.generated,
                Metric::RecipientsDelivered => counts.recipients.delivered,
                Metric::RecipientsBounced => counts.recipients.bounced,
                Metric::RecipientsQueuedAtEnd => counts.recipients.queued_at_end,
                Metric::Replies | Metric::ConnectionsOpened | Metric::ConnectionsRefused => {
                    return Err(format!("{} {NOT_SIMULATED}", metric_name(metric)));
                }
            };
            compare(metric, value, e)
        }
    }
}

/// The counts the expectation is about: one sender, one tenant, or the whole run.
fn scope<'a>(e: &Expectation, report: &'a RunReport) -> Result<&'a Counts, String> {
    if e.user.is_some() {
        return Err(format!("per-user counts {NOT_SIMULATED}"));
    }
    let find = |list: &'a [crate::sim::EntityReport], id: &str| {
        list.iter()
            .find(|x| x.id == id)
            .map(|x| &x.counts)
            .ok_or_else(|| format!("no `{id}` in the run"))
    };
    match (&e.sender, &e.tenant) {
        (Some(s), _) => find(&report.senders, s.get_ref()),
        (None, Some(t)) => find(&report.tenants, t.get_ref()),
        (None, None) => Ok(&report.total),
    }
}

fn compare(metric: Metric, value: u64, e: &Expectation) -> Result<String, String> {
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
    let name = metric_name(metric);
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
