//! `Relay`: the state the relay service shares across connections — who owns which
//! domain, every tenant's relay settings as each front-end sees them (P11), the quota
//! windows (Q1–Q13) — and the set-up of a connection (P6, P11).
//!
//! Sans-IO in the quinn-proto manner: the driver passes the time in, asks
//! `poll_timeout` when the relay next wants to be woken (a limit's window frees room),
//! calls `handle_timeout` then, and drains `poll_limit_event`.

use std::net::IpAddr;

use rand::RngExt;
use rand_chacha::ChaCha12Rng;

use super::directory::{Directory, TenantIx};
use super::dos::DosGuard;
use super::policy::CompiledSetting;
use super::propagation::{SettingsChange, SettingsHistory};
use super::quota::{LimitEvent, QuotaEngine};
use super::reply::Reply;
use super::session::Session;
use crate::scenario::{Event, EventKind, PolicyConfig, Scenario};
use crate::time::{SimDuration, SimTime};

pub struct Relay {
    pub(super) policy: PolicyConfig,
    frontends: u32,
    propagation: SimDuration,
    pub(super) directory: Directory,
    tenant_ids: Vec<String>,
    settings: Vec<SettingsHistory>,
    pub(super) quota: QuotaEngine,
    pub(super) dos: DosGuard,
    /// The relay's own random stream: front-end choice, propagation delays, the
    /// background load on the generic HELO pool.
    pub(super) rng: ChaCha12Rng,
}

impl Relay {
    /// The relay of `scenario`; `rng` is its own stream (kernel `EntityKind::Relay`).
    pub fn new(scenario: &Scenario, mut rng: ChaCha12Rng) -> Self {
        let directory = Directory::new(&scenario.tenants);
        let frontends = scenario.relay.frontends.get();
        let settings = scenario
            .tenants
            .iter()
            .map(|t| {
                let compiled = t.relay_settings.iter().map(CompiledSetting::new).collect();
                SettingsHistory::new(compiled, frontends)
            })
            .collect();
        Relay {
            policy: scenario.relay.policy.clone(),
            frontends,
            propagation: scenario.relay.settings_propagation,
            quota: QuotaEngine::new(scenario, &directory),
            directory,
            tenant_ids: scenario
                .tenants
                .iter()
                .map(|t| t.id.get_ref().clone())
                .collect(),
            settings,
            dos: DosGuard::new(&scenario.relay.dos, &mut rng),
            rng,
        }
    }

    /// A client connects from `ip` to `port`. P6 [assumption]: a port the relay does
    /// not listen on is refused; an implicit-TLS port (465) starts in TLS. D2: DoS
    /// protection may answer 421 and close. P11 [assumption]: the connection lands on
    /// a front-end drawn uniformly at random. End every session with `quit`.
    pub fn connect(&mut self, now: SimTime, ip: IpAddr, port: u16) -> Result<Session, Reply> {
        if !self.policy.ports.contains(&port) {
            return Err(Reply::ConnectionRefused);
        }
        self.dos.connect(now, ip)?;
        let frontend = self.rng.random_range(0..self.frontends);
        let tls = self.policy.implicit_tls_ports.contains(&port);
        Ok(Session::new(ip, frontend, tls))
    }

    /// Applies a timed `[[event]]` at `now`: licences (Q4, Q5), the first paid invoice
    /// (Q6), a relay setting added, replaced or removed (P11: propagating).
    pub fn apply(&mut self, now: SimTime, event: &Event) {
        let Some(t) = self
            .tenant_ids
            .iter()
            .position(|id| id == event.tenant.get_ref())
        else {
            return; // validated: events name existing tenants
        };
        let tenant = TenantIx(t as u32);
        match *event.kind.get_ref() {
            EventKind::SetLicences => {
                if let Some(l) = &event.licences {
                    self.quota
                        .set_licences(now, tenant, *l.get_ref(), &self.directory);
                }
            }
            EventKind::InvoicePaid => self.quota.invoice_paid(now, tenant, &self.directory),
            EventKind::ChangeRelaySetting | EventKind::RemoveRelaySetting => {
                let change = match (&event.relay_setting, &event.setting) {
                    (Some(s), _) => SettingsChange::Put(CompiledSetting::new(s)),
                    (None, Some(name)) => SettingsChange::Remove(name.get_ref().clone()),
                    (None, None) => return, // validated: the kind's key is present
                };
                self.settings[t].change(now, change, self.propagation, &mut self.rng);
            }
        }
    }

    /// P11: the relay settings of `tenant` as front-end `frontend` applies them at `now`.
    pub(super) fn settings_of(
        &self,
        tenant: TenantIx,
        frontend: u32,
        now: SimTime,
    ) -> &[CompiledSetting] {
        self.settings[tenant.0 as usize].effective(frontend, now)
    }

    /// When the last front-end has applied `tenant`'s newest settings (P11).
    pub fn settings_fully_applied_at(&self, tenant: TenantIx) -> SimTime {
        self.settings[tenant.0 as usize].fully_applied_at()
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// When the relay next wants `handle_timeout` (a hit limit's window frees room, a
    /// DoS bucket refills).
    pub fn poll_timeout(&self) -> Option<SimTime> {
        match (self.quota.poll_timeout(), self.dos.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: SimTime) {
        self.quota.handle_timeout(now);
        self.dos.handle_timeout(now, &mut self.rng);
    }

    /// The next limit hit or cleared (quota limits first, then DoS, each in time order).
    pub fn poll_limit_event(&mut self) -> Option<LimitEvent> {
        self.quota.poll_event().or_else(|| self.dos.poll_event())
    }
}
