//! `Relay`: the state the relay service shares across connections — who owns which
//! domain, every tenant's relay settings as each front-end sees them (P11), the quota
//! windows (Q1–Q13) — and the set-up of a connection (P6, P11).
//!
//! Sans-IO in the quinn-proto manner: the driver passes the time in, asks
//! `poll_timeout` when the relay next wants to be woken (a limit's window frees room),
//! calls `handle_timeout` then, and drains `poll_limit_event`.

use rand_chacha::ChaCha12Rng;

use crate::config::{PolicyConfig, RelayConfig, RelaySetting, TenantConfig};
use crate::directory::{Directory, TenantIx};
use crate::dos::DosGuard;
use crate::limit::{LimitEvent, LimitKey};
use crate::policy::CompiledSetting;
use crate::propagation::{SettingsChange, SettingsHistory};
use crate::quota::QuotaEngine;
use crate::time::{SimDuration, SimTime};

/// A change to the service while it runs (a timed `[[event]]` of a scenario, or an
/// administrator's action in a live relay).
#[derive(Clone, Debug, PartialEq)]
pub enum RelayCommand {
    /// Q4, Q5: the tenant's licence count changes.
    SetLicences { tenant: TenantIx, licences: u32 },
    /// Q6: the tenant pays its first invoice; the unpaid limits lift.
    InvoicePaid { tenant: TenantIx },
    /// P11: a relay setting is added, or replaced by name; it propagates.
    PutRelaySetting {
        tenant: TenantIx,
        setting: RelaySetting,
    },
    /// P11: the relay setting of this name is removed; the removal propagates.
    RemoveRelaySetting { tenant: TenantIx, name: String },
}

pub struct Relay {
    pub(crate) policy: PolicyConfig,
    pub(crate) frontends: u32,
    propagation: SimDuration,
    pub(crate) directory: Directory,
    settings: Vec<SettingsHistory>,
    pub(crate) quota: QuotaEngine,
    pub(crate) dos: DosGuard,
    /// The relay's own random stream: front-end choice and propagation delays (D3's
    /// background load has a stream of its own, see `background_stream`).
    pub(crate) rng: ChaCha12Rng,
    /// Recipient lists of ended sessions, handed to new ones: a connection then
    /// allocates nothing (at most [`SPARE_LISTS`] are kept).
    pub(crate) spare_lists: Vec<Vec<crate::quota::unique::RecipientId>>,
}

/// How many spare recipient lists the relay keeps (one per session open at once is
/// enough; more would only hold memory).
pub(crate) const SPARE_LISTS: usize = 1024;

impl Relay {
    /// The relay serving `tenants` under `config`; `rng` is its own stream.
    pub fn new(config: &RelayConfig, tenants: &[TenantConfig], rng: ChaCha12Rng) -> Self {
        let directory = Directory::new(tenants);
        let frontends = config.frontends.get();
        let settings = tenants
            .iter()
            .map(|t| {
                let compiled = t.relay_settings.iter().map(CompiledSetting::new).collect();
                SettingsHistory::new(compiled, frontends)
            })
            .collect();
        Relay {
            policy: config.policy.clone(),
            frontends,
            propagation: config.settings_propagation,
            quota: QuotaEngine::new(&config.quota, tenants, &directory),
            directory,
            settings,
            dos: DosGuard::new(&config.dos, background_stream(&rng)),
            rng,
            spare_lists: Vec::new(),
        }
    }

    /// Applies a change at `now`: licences (Q4, Q5), the first paid invoice (Q6), a
    /// relay setting added, replaced or removed (P11: propagating).
    pub fn apply(&mut self, now: SimTime, command: &RelayCommand) {
        match command {
            &RelayCommand::SetLicences { tenant, licences } => {
                self.quota
                    .set_licences(now, tenant, licences, &self.directory);
            }
            &RelayCommand::InvoicePaid { tenant } => {
                self.quota.invoice_paid(now, tenant, &self.directory);
            }
            RelayCommand::PutRelaySetting { tenant, setting } => {
                let change = SettingsChange::Put(CompiledSetting::new(setting));
                self.settings[tenant.0 as usize].change(
                    now,
                    change,
                    self.propagation,
                    &mut self.rng,
                );
            }
            RelayCommand::RemoveRelaySetting { tenant, name } => {
                let change = SettingsChange::Remove(name.clone());
                self.settings[tenant.0 as usize].change(
                    now,
                    change,
                    self.propagation,
                    &mut self.rng,
                );
            }
        }
    }

    /// P11: the relay settings of `tenant` as front-end `frontend` applies them at `now`.
    pub(crate) fn settings_of(
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

    /// How many items the window of limit `key` holds committed at `now` (Q12:
    /// reservations of open transactions not included).
    pub fn committed(&mut self, now: SimTime, key: LimitKey) -> u64 {
        self.quota.committed(now, key)
    }

    /// Checks the relay's invariants at `now` (see `QuotaEngine::check_invariants`
    /// and `DosGuard::check_invariants`); `full` also walks every window's entries.
    /// A driver calls it between events; an error is a bug in the relay.
    /// A quota window's use at `now` and its limit in force (Q1, Q2 per user; Q4,
    /// Q5 per customer): what a probe of the window reads.
    pub fn quota_reading(&mut self, now: SimTime, key: LimitKey) -> (u64, u64) {
        self.quota.reading(now, key)
    }

    pub fn check_invariants(&self, now: SimTime, full: bool) -> Result<(), String> {
        self.quota.check_invariants(now, full)?;
        self.dos.check_invariants()
    }

    /// Connections open from `ip` now, as DoS protection counts them (D2).
    pub fn open_connections(&self, ip: std::net::IpAddr) -> u32 {
        self.dos.open_connections(ip)
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
        self.dos.handle_timeout(now);
    }

    /// The next limit hit or cleared (quota limits first, then DoS, each in time order).
    pub fn poll_limit_event(&mut self) -> Option<LimitEvent> {
        self.quota.poll_event().or_else(|| self.dos.poll_event())
    }

    /// The limits hit now (quota then DoS), each as a `Hit` event of `now` whose
    /// `refusals` counts every refusal since the hit: what a driver reports of the
    /// limits still in force at its horizon.
    pub fn still_hit(&mut self, now: SimTime) -> Vec<LimitEvent> {
        let mut hit = self.quota.still_hit(now);
        hit.extend(self.dos.still_hit(now));
        hit
    }

    /// Whether the quota engine keeps its usage meters, read by
    /// [`Relay::end_usage_bucket`] (on by default; a driver that never reads them
    /// turns them off before any traffic: `QuotaEngine::set_usage_meters`).
    pub fn set_usage_meters(&mut self, on: bool) {
        self.quota.set_usage_meters(on);
    }

    /// Ends a usage bucket at `end` (`quota::usage`): the highest use of every
    /// customer window in the bucket, and of the `busiest_users` busiest users' windows.
    pub fn end_usage_bucket(
        &mut self,
        end: SimTime,
        busiest_users: usize,
        out: &mut Vec<crate::quota::usage::WindowUsage>,
    ) {
        self.quota.end_usage_bucket(end, busiest_users, out);
    }
}

/// D3's background load gets a stream of its own, next to the relay's: the same key,
/// the relay's stream number with its top bit flipped. Its draws then never interleave
/// with front-end choices and propagation delays, so they cannot depend on the order
/// of same-instant events.
fn background_stream(relay: &ChaCha12Rng) -> ChaCha12Rng {
    let mut background = relay.clone();
    background.set_word_pos(0);
    background.set_stream(relay.get_stream() ^ (1 << 63));
    background
}
