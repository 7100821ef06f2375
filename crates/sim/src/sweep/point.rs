//! One run of a sweep, reduced to the figures a target is judged on.

use relay::time::{SimDuration, SimTime};
use relay::{LimitChange, LimitKey, LimitKind, Subject, TenantIx};
use scenario::Model;

use super::{LIMITS, PointId, Target};
use crate::{Observation, Observer, RunReport};

/// A limit that licences do not raise (per-user Q1/Q2, DoS D2–D4), hit in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedLimitHit {
    pub key: LimitKey,
    /// The limit's value when it was first hit.
    pub limit_value: u64,
    /// How often it was hit in the run.
    pub hits: u64,
}

/// One run of a sweep: the swept tenant's figures. Serialised whole by a shard of a
/// sweep (`relaysim sweep --shard`) but for `fixed_limits`, which only
/// `--find-min-licences` reads, and it does not shard.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// Index of the scenario variant (`--vary` values), 0 without `--vary`.
    pub variant: u32,
    pub licences: u32,
    pub replicate: u32,
    pub seed: u64,
    pub generated: u64,
    pub delivered: u64,
    /// Recipients deferred at least once, each counted once.
    pub deferred: u64,
    /// Recipient deferrals over all attempts (4xx, refused connections).
    pub deferral_attempts: u64,
    pub bounced: u64,
    pub queued_at_end: u64,
    /// First hit of each of `LIMITS` for the tenant, if any.
    pub first_hits: [Option<f64>; 4],
    /// Whether a limit that grows with licences was hit, at any time of the run: Q4
    /// or Q5 while at its per-licence value (neither at its cap nor at Q6's unpaid
    /// value).
    pub customer_limit_hit: bool,
    /// Delivery-delay percentiles in seconds: p50, p90, p99 (3 significant digits)
    /// and the exact maximum.
    pub delay_s: Option<[f64; 4]>,
    /// The delay at the target's `--quantile`, in seconds.
    pub quantile_delay_s: Option<f64>,
    /// Messages that missed `--deadline` (delivered later, or still queued older).
    pub late: u64,
    /// Messages generated before `--deliver-by` and not delivered by then.
    pub late_by: u64,
    /// Messages still queued at the horizon that had not yet missed `--deadline` or
    /// `--deliver-by`: the run ended before it could judge them.
    pub undecided: u64,
    /// Per `--max-refused` entry of the target, how often its reply was given.
    pub refused: Vec<u64>,
    /// The limits licences do not raise at this count that were hit (per-user, DoS,
    /// and Q4/Q5 at a cap or unpaid), in the order of their first hit.
    #[serde(skip)]
    pub fixed_limits: Vec<FixedLimitHit>,
    /// Whether the run met the sweep's target (`None`: no target).
    pub meets: Option<bool>,
}

impl Point {
    pub(super) fn of(
        report: &RunReport,
        model: &Model,
        tenant: TenantIx,
        id: PointId,
        observer: &PointObserver,
        target: &Target,
    ) -> Self {
        let t = &report.tenants[tenant.0 as usize];
        let first_hits = LIMITS.map(|limit| {
            report
                .limit_events
                .iter()
                .find(|e| {
                    e.change == LimitChange::Hit && e.key.limit == limit && e.tenant == Some(tenant)
                })
                .map(|e| e.time.as_millis() as f64 / 1000.0)
        });
        let ips: Vec<std::net::IpAddr> = model
            .mtas
            .iter()
            .filter(|m| m.tenant == tenant)
            .map(|m| m.source_ip)
            .collect();
        // The tenant's limits, and the DoS limits of its MTAs' addresses and of the
        // shared pool of generic HELO names.
        let concerns = |e: &relay::LimitEvent| match e.key.subject {
            Subject::User(_) | Subject::Customer(_) => e.tenant == Some(tenant),
            Subject::SourceIp(ip) => ips.contains(&ip),
            Subject::GenericHeloPool => true,
        };
        let hits = || {
            report
                .limit_events
                .iter()
                .filter(move |e| e.change == LimitChange::Hit && concerns(e))
        };
        let grows = |e: &relay::LimitEvent| observer.grows_with_licences(e);
        let d = &report.tenant_delays[tenant.0 as usize];
        let s = |ms: u64| ms as f64 / 1000.0;
        Point {
            variant: id.variant,
            licences: id.licences,
            replicate: id.replicate,
            seed: id.seed,
            generated: t.counts.recipients.generated,
            delivered: t.counts.recipients.delivered,
            deferred: t.deferred_rcpts,
            deferral_attempts: t.deferrals,
            bounced: t.counts.recipients.bounced,
            queued_at_end: t.counts.recipients.queued_at_end,
            first_hits,
            customer_limit_hit: observer.customer_limit_hit,
            delay_s: (!d.is_empty()).then(|| {
                [
                    s(d.value_at_quantile(0.5)),
                    s(d.value_at_quantile(0.9)),
                    s(d.value_at_quantile(0.99)),
                    s(t.max_delay.map_or_else(|| d.max(), |m| m.as_millis())),
                ]
            }),
            quantile_delay_s: target
                .quantile
                .filter(|_| !d.is_empty())
                .map(|q| s(d.value_at_quantile(q))),
            late: observer.late,
            late_by: observer.late_by,
            undecided: observer.undecided,
            refused: target
                .max_refused
                .iter()
                .map(|(prefix, _)| t.replies.count_prefixed(prefix))
                .collect(),
            fixed_limits: hits()
                .filter(|e| !grows(e))
                .map(|e| FixedLimitHit {
                    key: e.key,
                    limit_value: e.limit_value,
                    hits: report.hits_of(e.key),
                })
                .collect(),
            meets: None,
        }
    }
}

impl Point {
    /// What the run produced, without which point it was: two runs of one
    /// replicate with equal figures went alike.
    pub fn figures(&self) -> impl PartialEq + '_ {
        (
            [
                self.generated,
                self.delivered,
                self.deferred,
                self.deferral_attempts,
                self.bounced,
                self.queued_at_end,
                self.late,
                self.late_by,
                self.undecided,
            ],
            self.delay_s.map(|d| d.map(f64::to_bits)),
            &self.refused,
        )
    }
}

/// Watches a sweep's run for the messages of the swept tenant that miss a deadline
/// (`--deadline`, `--deliver-by`): per message, exactly, which the report's delay
/// histogram cannot say.
#[derive(Clone, Debug)]
pub struct PointObserver {
    tenant: u32,
    /// Q4's and Q5's per-licence values at the point's licence count.
    per_licence: (u64, u64),
    customer_limit_hit: bool,
    deadline: Option<SimDuration>,
    deliver_by: Option<SimTime>,
    late: u64,
    late_by: u64,
    undecided: u64,
}

impl PointObserver {
    pub fn new(tenant: TenantIx, target: &Target, model: &Model) -> Self {
        let quota = &model.relay.quota;
        let licences = u64::from(model.tenant(tenant).licences);
        PointObserver {
            tenant: tenant.0,
            per_licence: (
                quota.customer_recipients_per_licence_per_day * licences,
                quota.customer_recipients_per_licence_per_peak * licences,
            ),
            customer_limit_hit: false,
            deadline: target.deadline,
            deliver_by: target.deliver_by.as_ref().map(|d| d.at),
            late: 0,
            late_by: 0,
            undecided: 0,
        }
    }
}

impl PointObserver {
    /// A Q4 or Q5 hit of the tenant grows with licences when the limit it hit was
    /// the per-licence value — not the cap, not Q6's unpaid value. Judged per hit:
    /// billing can change during a run.
    pub fn grows_with_licences(&self, e: &relay::LimitEvent) -> bool {
        e.tenant == Some(TenantIx(self.tenant))
            && match e.key.limit {
                LimitKind::CustomerDay => e.limit_value == self.per_licence.0,
                LimitKind::CustomerPeak => e.limit_value == self.per_licence.1,
                _ => false,
            }
    }
}

impl Observer for PointObserver {
    #[inline]
    fn observe(&mut self, now: SimTime, what: &Observation<'_>) {
        if let Observation::Limit(e) = what {
            if e.change == LimitChange::Hit && self.grows_with_licences(e) {
                self.customer_limit_hit = true;
            }
            return;
        }
        let Observation::Settled {
            tag,
            fates,
            delay,
            age,
        } = *what
        else {
            return;
        };
        if tag.tenant != self.tenant || tag.notification {
            return;
        }
        // Still queued: `now` is the horizon. Otherwise it left the queue now,
        // delivered (`delay`) or bounced.
        let queued = fates.queued > 0;
        let mut undecided = false;
        if let Some(limit) = self.deadline {
            if delay.is_some_and(|d| d > limit) || (queued && age > limit) {
                self.late += 1;
            } else if queued {
                undecided = true;
            }
        }
        if let Some(by) = self.deliver_by {
            let born = SimTime(now.as_millis() - age.as_millis());
            if born < by {
                if (queued || delay.is_some()) && now > by {
                    self.late_by += 1;
                } else if queued {
                    undecided = true;
                }
            }
        }
        self.undecided += u64::from(undecided);
    }
}
