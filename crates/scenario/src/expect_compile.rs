//! An `[[expect]]` block that passed its checks (`expect_check.rs`), compiled into
//! the model's `Expectation`: every reference an index, every bound typed, and a
//! `Probe` for each look at a quota window at an instant.

use relay::time::SimDuration;
use relay::{LimitKey, Subject};

use super::compile::Names;
use super::expect::{Bound, Instants};
use super::model::{self, Bounds, CountMetric, LimitFilter, Probe, Reading, Scope, SenderIx};
use super::{Check, Metric};

/// Default tolerance of `attempts`.
const ATTEMPT_TOLERANCE: SimDuration = SimDuration::SECOND;

pub(super) fn expectation(
    i: usize,
    e: &crate::Expectation,
    names: &Names,
    probes: &mut Vec<Probe>,
) -> Option<model::Expectation> {
    let tenant = match &e.tenant {
        Some(t) => Some(names.tenant(t.get_ref())?),
        None => None,
    };
    let user = match &e.user {
        Some(u) => Some(names.user(u.get_ref(), tenant)?),
        None => None,
    };
    let sender = match &e.sender {
        Some(x) => Some(SenderIx(*names.senders.get(x.get_ref().as_str())?)),
        None => None,
    };
    let scope = match (sender, tenant) {
        (Some(s), _) => Scope::Sender(s),
        (None, Some(t)) => Scope::Tenant(t),
        (None, None) => Scope::Run,
    };
    let limit_filter = || -> Option<LimitFilter> {
        Some(LimitFilter {
            limit: e.limit.as_ref()?.get_ref().to_core(),
            tenant,
            user,
            source_ip: e.source_ip.as_ref().map(|ip| *ip.get_ref()),
        })
    };
    let window = |w: &Option<toml::Spanned<[crate::values::Duration; 2]>>| {
        w.as_ref().map(|w| {
            let [from, to] = *w.get_ref();
            (from.get(), to.get())
        })
    };
    let instant = || match e.at.as_ref()?.get_ref() {
        Instants::One(d) => Some(d.get()),
        Instants::Many(_) => None,
    };
    let metric = e.metric.as_ref().map(|m| *m.get_ref());
    let check = match *e.check.get_ref() {
        Check::Count if metric == Some(Metric::DeliveryDelay) => model::Check::Delay {
            scope,
            quantile: e.quantile.as_ref().map_or(1.0, |q| q.get_ref().share()),
            bounds: bounds(e, |text| {
                let d = crate::values::parse_duration(text).ok()?;
                Some(model::Bound::Value(d.as_millis()))
            })?,
        },
        Check::Count => model::Check::Count {
            metric: match metric? {
                Metric::Replies => CountMetric::Replies(e.reply.clone()?),
                m => CountMetric::Plain(m),
            },
            scope,
            user,
            bounds: bounds(e, |text| Metric::from_name(text).map(model::Bound::Metric))?,
            during: window(&e.during),
        },
        Check::FirstHit | Check::FirstCleared => {
            let (from, to) = window(&e.between)?;
            let limit = limit_filter()?;
            if *e.check.get_ref() == Check::FirstHit {
                model::Check::FirstHit { limit, from, to }
            } else {
                model::Check::FirstCleared { limit, from, to }
            }
        }
        Check::NeverHit => model::Check::NeverHit {
            limit: limit_filter()?,
        },
        Check::DeliveredBy => model::Check::DeliveredBy {
            scope,
            at: instant()?,
        },
        Check::Usage | Check::LimitValue => {
            let limit = e.limit.as_ref()?.get_ref().to_core();
            let subject = match (user, tenant) {
                (Some(u), _) if limit.is_per_user() => Subject::User(u),
                (_, Some(t)) if !limit.is_per_user() => Subject::Customer(t),
                _ => return None,
            };
            probes.push(Probe {
                at: instant()?,
                key: LimitKey { limit, subject },
            });
            model::Check::AtInstant {
                probe: probes.len() - 1,
                reading: if *e.check.get_ref() == Check::Usage {
                    Reading::Usage
                } else {
                    Reading::LimitValue
                },
                bounds: bounds(e, |_| None)?,
            }
        }
        Check::Attribution => model::Check::Attribution {
            sender: sender?,
            relayed_as: e
                .relayed_as
                .as_ref()
                .map(|r| r.get_ref().to_ascii_lowercase()),
            counted_user: match &e.counted_user {
                Some(u) => Some(names.user(u.get_ref(), tenant)?),
                None => None,
            },
        },
        Check::Attempts => model::Check::Attempts {
            sender: sender?,
            message: e.message.as_ref().map_or(1, |m| *m.get_ref()),
            at: match e.at.as_ref()?.get_ref() {
                Instants::Many(list) => list.iter().map(|d| d.get()).collect(),
                Instants::One(_) => return None,
            },
            tolerance: e
                .tolerance
                .as_ref()
                .map_or(ATTEMPT_TOLERANCE, |t| t.get_ref().get()),
        },
    };
    let what = match (&e.metric, &e.limit) {
        (Some(metric), _) => format!(" {}", metric.get_ref().name()),
        (None, Some(limit)) => format!(" {}", limit.get_ref().to_core().name()),
        (None, None) => String::new(),
    };
    Some(model::Expectation {
        name: e.name.clone().unwrap_or_else(|| {
            format!("expectation {}: {}{what}", i + 1, e.check.get_ref().name())
        }),
        // Set by `Model::parse_with`, which has the text.
        line: 0,
        check,
    })
}

/// The bounds, a text bound read by `text` (a metric name, or a duration).
fn bounds(e: &crate::Expectation, text: impl Fn(&str) -> Option<model::Bound>) -> Option<Bounds> {
    let one = |b: &Option<toml::Spanned<Bound>>| -> Option<Option<model::Bound>> {
        match b.as_ref().map(|b| b.get_ref()) {
            None => Some(None),
            Some(Bound::Number(n)) => Some(Some(model::Bound::Value(*n))),
            Some(Bound::Text(t)) => text(t).map(Some),
        }
    };
    Some(Bounds {
        equals: one(&e.equals)?,
        at_least: one(&e.at_least)?,
        at_most: one(&e.at_most)?,
    })
}
