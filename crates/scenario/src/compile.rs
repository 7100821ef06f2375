//! Compiling a checked scenario into the [`Model`]: names become indices, tagged
//! blocks become enum variants, file-format values become the clock's and the
//! relay's types. `check.rs` has reported every problem a user can make; this pass
//! only changes representation, so it returns `None` (never panics) should a check
//! have missed something, and the caller reports that as an internal error.

use std::collections::BTreeMap;

use relay::{RelayCommand, TenantIx, UserId};

use crate::model::{self, Model, MtaIx, SenderIx, TimedCommand, Traffic};
use crate::{EventKind, Pattern, Scenario};

/// Names to indices, built once.
pub(super) struct Names<'a> {
    tenants: BTreeMap<&'a str, u32>,
    mtas: BTreeMap<&'a str, u32>,
    pub(super) senders: BTreeMap<&'a str, u32>,
    /// Registered users in directory order: (tenant, address).
    users: Vec<(u32, String)>,
}

impl<'a> Names<'a> {
    fn new(s: &'a Scenario) -> Self {
        let index = |ids: Vec<&'a str>| {
            ids.into_iter()
                .enumerate()
                .map(|(i, id)| (id, i as u32))
                .collect::<BTreeMap<_, _>>()
        };
        Names {
            tenants: index(s.tenants.iter().map(|t| t.id.get_ref().as_str()).collect()),
            mtas: index(s.mtas.iter().map(|m| m.id.get_ref().as_str()).collect()),
            senders: index(s.senders.iter().map(|x| x.id.get_ref().as_str()).collect()),
            users: s
                .tenants
                .iter()
                .enumerate()
                .flat_map(|(t, tenant)| {
                    tenant
                        .users
                        .iter()
                        .map(move |u| (t as u32, u.get_ref().0.clone()))
                })
                .collect(),
        }
    }

    pub(super) fn tenant(&self, id: &str) -> Option<TenantIx> {
        self.tenants.get(id).map(|&i| TenantIx(i))
    }

    /// A registered user by address (case-insensitive), within `tenant` when given.
    pub(super) fn user(&self, address: &str, tenant: Option<TenantIx>) -> Option<UserId> {
        let address = address.to_ascii_lowercase();
        self.users
            .iter()
            .position(|(t, a)| *a == address && tenant.is_none_or(|x| x.0 == *t))
            .map(|i| UserId(i as u32))
    }
}

/// The model of a scenario that passed every check.
pub(crate) fn compile(s: &Scenario) -> Option<Model> {
    let names = Names::new(s);
    let tenants: Vec<_> = s.tenants.iter().map(crate::Tenant::to_core).collect();
    let storage = s
        .tenants
        .iter()
        .map(|t| model::MailStorage {
            comprehensive_mail_storage: t.comprehensive_mail_storage,
            vault: t.vault,
        })
        .collect();
    let mtas = s
        .mtas
        .iter()
        .map(|m| mta(m, &names))
        .collect::<Option<Vec<_>>>()?;
    let duration = s.duration();
    let mut senders = Vec::new();
    for (i, x) in s.senders.iter().enumerate() {
        let declared = sender(x, SenderIx(i as u32), s, &names, &mtas)?;
        match x.population.as_ref().map(|p| *p.get_ref()) {
            None => senders.push(declared),
            Some(population) => {
                senders.extend((1..=population).map(|n| member(&declared, x, population, n)));
            }
        }
    }
    let events = s
        .events
        .iter()
        .map(|e| event(e, &names))
        .collect::<Option<Vec<_>>>()?;
    let mut probes = Vec::new();
    let mut expectations = s
        .expectations
        .iter()
        .enumerate()
        .map(|(i, e)| super::expect_compile::expectation(i, e, &names, &mut probes))
        .collect::<Option<Vec<_>>>()?;
    let implicit_tls_ports = &s.relay.policy.implicit_tls_ports;
    let dialogues: Vec<model::Dialogue> = s
        .dialogues
        .iter()
        .map(|d| dialogue(d, implicit_tls_ports))
        .collect();
    expectations.extend(s.dialogues.iter().enumerate().map(|(index, d)| {
        model::Expectation {
            name: d
                .name
                .clone()
                .unwrap_or_else(|| format!("dialogue {} at {}", index + 1, d.at.get_ref())),
            // Set by `Model::parse_with`, which has the text.
            line: 0,
            check: model::Check::Dialogue { index },
        }
    }));
    Some(Model {
        name: s.name().to_string(),
        description: s.simulation.description.clone(),
        question: String::new(),
        seed: s.simulation.seed,
        duration,
        bucket: s.simulation.bucket.get_ref().get(),
        episode_gap: s.simulation.episode_gap.get(),
        start: s.simulation.start,
        relay: s.relay.to_core(),
        relay_as_written: s.relay.clone(),
        tenants,
        storage,
        mtas,
        senders,
        declared_senders: s.senders.iter().map(|x| x.id.get_ref().clone()).collect(),
        events,
        expectations,
        dialogues,
        probes,
        passwords: s
            .tenants
            .iter()
            .flat_map(|t| &t.passwords)
            .map(|(a, p)| (a.to_ascii_lowercase(), p.clone()))
            .collect(),
    })
}

fn dialogue(d: &crate::Dialogue, implicit_tls_ports: &[u16]) -> model::Dialogue {
    let port = *d.connect.port.get_ref();
    model::Dialogue {
        at: d.at.get_ref().get(),
        source_ip: *d.connect.source_ip.get_ref(),
        port,
        connect_expect: d.connect.expect.clone(),
        implicit_tls: d
            .connect
            .tls
            .unwrap_or_else(|| implicit_tls_ports.contains(&port)),
        password: d.password.clone(),
        steps: d
            .script
            .get_ref()
            .iter()
            .map(|step| {
                let [command, expect] = step.get_ref().clone();
                model::DialogueStep {
                    command,
                    expect,
                    // Set by `Model::parse_with`, which has the text.
                    line: 0,
                }
            })
            .collect(),
        line: 0,
    }
}

fn mta(m: &crate::Mta, names: &Names) -> Option<model::Mta> {
    let o = &m.overrides;
    let get = |d: Option<crate::values::Duration>| d.map(|d| d.get());
    Some(model::Mta {
        id: m.id.get_ref().clone(),
        tenant: names.tenant(m.tenant.get_ref())?,
        profile: m.profile,
        source_ip: *m.source_ip.get_ref(),
        helo: m.helo.clone(),
        port: m.port,
        tls: *m.tls.get_ref(),
        auth: m.auth.as_ref().map(|a| model::SmtpAuth {
            username: a.get_ref().username.clone(),
            valid: a.get_ref().valid,
        }),
        internal_domains: m.internal_domains.clone(),
        round_trip: m.round_trip.get(),
        bandwidth: m.bandwidth.get_ref().0,
        overrides: model::MtaOverrides {
            queue_run_interval: get(o.queue_run_interval.as_ref().map(|d| *d.get_ref())),
            min_backoff: get(o.min_backoff.as_ref().map(|d| *d.get_ref())),
            max_backoff: get(o.max_backoff.as_ref().map(|d| *d.get_ref())),
            queue_lifetime: get(o.queue_lifetime),
            retry_rule: o.retry_rule.clone(),
            retry_intervals: o
                .retry_intervals
                .as_ref()
                .map(|v| v.get_ref().iter().map(|d| d.get()).collect()),
            recipients_per_transaction: o.recipients_per_transaction.as_ref().map(|n| *n.get_ref()),
            initial_concurrency: o.initial_concurrency.as_ref().map(|n| *n.get_ref()),
            max_concurrency: o.max_concurrency.as_ref().map(|n| *n.get_ref()),
            connection_cache: o.connection_cache,
            connection_reuse_time: get(o.connection_reuse_time),
            connection_reuse_count: o.connection_reuse_count,
            connection_idle_time: get(o.connection_idle_time),
        },
    })
}

/// Member `n` of a population of `population`: `{n}` in its envelope senders is its
/// number; a rate for the whole population is split evenly.
fn member(declared: &model::Sender, x: &crate::Sender, population: u32, n: u32) -> model::Sender {
    use crate::population::{RatePer, member_address};
    use crate::values::{EmailAddress, EnvelopeSender};
    let mut m = declared.clone();
    m.member = Some(n);
    for from in &mut m.envelope_from {
        if let EnvelopeSender::Address(a) = from {
            *a = EmailAddress(member_address(&a.0, n));
        }
    }
    if x.rate_per == RatePer::Population {
        let share = |r: &mut crate::values::Rate| r.count /= f64::from(population);
        match &mut m.traffic {
            Traffic::Constant { rate }
            | Traffic::Poisson { rate }
            | Traffic::Diurnal { rate, .. } => share(rate),
            Traffic::Bursts | Traffic::Replay { .. } => {}
        }
    }
    m
}

fn sender(
    x: &crate::Sender,
    declared: SenderIx,
    s: &Scenario,
    names: &Names,
    mtas: &[model::Mta],
) -> Option<model::Sender> {
    let mta = *names.mtas.get(x.mta.get_ref().as_str())?;
    let growth = *s.simulation.traffic_growth.get_ref();
    let rate = || {
        x.rate.map(|r| crate::values::Rate {
            count: r.count * growth,
            per: r.per,
        })
    };
    let traffic = match *x.pattern.get_ref() {
        Pattern::Constant => Traffic::Constant { rate: rate()? },
        Pattern::Poisson => Traffic::Poisson { rate: rate()? },
        Pattern::Diurnal => Traffic::Diurnal {
            rate: rate()?,
            weights: x.weights.as_ref()?.get_ref().as_slice().try_into().ok()?,
            start: s.simulation.start?,
        },
        Pattern::Bursts => Traffic::Bursts,
        Pattern::Replay => Traffic::Replay {
            rows: x.replay_rows.clone(),
        },
    };
    let pool = &x.recipient_pool;
    Some(model::Sender {
        id: x.id.get_ref().clone(),
        declared,
        member: None,
        mta: MtaIx(mta),
        tenant: mtas.get(mta as usize)?.tenant,
        traffic,
        envelope_from: x.envelope_from.get_ref().clone(),
        bursts: x
            .bursts
            .iter()
            .map(|b| model::Burst {
                at: b.at.get_ref().get(),
                messages: (f64::from(b.messages) * growth).round() as u32,
                over: b.over.get(),
            })
            .collect(),
        start: x.start.get(),
        stop: x.stop.map_or(s.duration(), |d| d.get()),
        recipients: x.recipients,
        recipient_pool: model::RecipientPool {
            size: *pool.size.get_ref(),
            zipf_exponent: *pool.zipf_exponent.get_ref(),
            domain: pool.domain.clone(),
            internal_share: *pool.internal_share.get_ref(),
            internal_domain: pool.internal_domain.clone(),
        },
        message_size: x.message_size.0,
    })
}

fn event(e: &crate::Event, names: &Names) -> Option<TimedCommand> {
    let tenant = names.tenant(e.tenant.get_ref())?;
    let command = match *e.kind.get_ref() {
        EventKind::SetLicences => RelayCommand::SetLicences {
            tenant,
            licences: *e.licences.as_ref()?.get_ref(),
        },
        EventKind::InvoicePaid => RelayCommand::InvoicePaid { tenant },
        EventKind::ChangeRelaySetting => RelayCommand::PutRelaySetting {
            tenant,
            setting: e.relay_setting.as_ref()?.to_core(),
        },
        EventKind::RemoveRelaySetting => RelayCommand::RemoveRelaySetting {
            tenant,
            name: e.setting.as_ref()?.get_ref().clone(),
        },
    };
    Some(TimedCommand {
        at: e.at.get(),
        command,
    })
}
