//! P11: a settings change takes up to 24 hours to take effect.
//!
//! [assumption] The relay is `frontends` servers. Each change creates a new version
//! of the tenant's settings (built on the newest version: the admin console's state),
//! and each front-end starts applying it after its own delay, drawn uniformly from
//! `[0, settings_propagation]`. A front-end uses the newest version it has applied,
//! so until every front-end has caught up, connections (which land on a random
//! front-end) see old and new settings mixed.

use rand::RngExt;
use rand_chacha::ChaCha12Rng;

use crate::policy::CompiledSetting;
use crate::time::{SimDuration, SimTime};

/// The versions of one tenant's relay settings and when each front-end applies them.
#[derive(Clone, Debug)]
pub struct SettingsHistory {
    versions: Vec<Version>,
}

#[derive(Clone, Debug)]
struct Version {
    settings: Vec<CompiledSetting>,
    /// Per front-end: from when it uses this version.
    applied_at: Vec<SimTime>,
}

/// What a change does to the newest settings.
#[derive(Clone, Debug)]
pub enum SettingsChange {
    /// Adds the setting, or replaces the one of the same name in place (P7 order kept).
    Put(CompiledSetting),
    /// Removes the setting of this name (nothing, if there is none).
    Remove(String),
}

impl SettingsHistory {
    /// The settings every front-end has from the start.
    pub fn new(initial: Vec<CompiledSetting>, frontends: u32) -> Self {
        SettingsHistory {
            versions: vec![Version {
                settings: initial,
                applied_at: vec![SimTime::ZERO; frontends as usize],
            }],
        }
    }

    /// P11: records a change made at `now`; each front-end applies it after a delay
    /// drawn from `rng` (the relay's own stream) uniformly in `[0, propagation]`.
    pub fn change(
        &mut self,
        now: SimTime,
        change: SettingsChange,
        propagation: SimDuration,
        rng: &mut ChaCha12Rng,
    ) {
        let newest = self.versions.last().expect("a history has a first version");
        let mut settings = newest.settings.clone();
        match change {
            SettingsChange::Put(setting) => {
                match settings.iter_mut().find(|s| s.name == setting.name) {
                    Some(slot) => *slot = setting,
                    None => settings.push(setting),
                }
            }
            SettingsChange::Remove(name) => settings.retain(|s| s.name != name),
        }
        let applied_at = (0..newest.applied_at.len())
            .map(|_| {
                let delay = rng.random_range(0..=propagation.as_millis());
                now + SimDuration::from_millis(delay)
            })
            .collect();
        self.versions.push(Version {
            settings,
            applied_at,
        });
    }

    /// The settings front-end `frontend` uses at `now`: the newest version it has
    /// applied.
    pub fn effective(&self, frontend: u32, now: SimTime) -> &[CompiledSetting] {
        self.versions
            .iter()
            .rev()
            .find(|v| v.applied_at[frontend as usize] <= now)
            .map_or(&[], |v| v.settings.as_slice())
    }

    /// When the last front-end has applied the newest version.
    pub fn fully_applied_at(&self) -> SimTime {
        let newest = self.versions.last().expect("a history has a first version");
        newest
            .applied_at
            .iter()
            .copied()
            .max()
            .unwrap_or(SimTime::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AllowedSenders;
    use crate::ip_ranges::IpRangeSet;
    use rand::SeedableRng;

    fn named(name: &str, allowed: AllowedSenders) -> CompiledSetting {
        CompiledSetting {
            name: name.into(),
            allowed_senders: allowed,
            only_listed_ips: false,
            smtp_auth: true,
            require_tls: false,
            ips: IpRangeSet::default(),
        }
    }

    /// P11: during the propagation period front-ends disagree; after it, all agree.
    #[test]
    fn p11_changes_reach_each_frontend_within_the_propagation_delay() {
        let mut rng = ChaCha12Rng::seed_from_u64(7);
        let mut h = SettingsHistory::new(vec![named("a", AllowedSenders::RegisteredUsers)], 16);
        let t0 = SimTime::ZERO + SimDuration::HOUR;
        h.change(
            t0,
            SettingsChange::Put(named("a", AllowedSenders::AnyAddress)),
            SimDuration::DAY,
            &mut rng,
        );
        let mode_at = |f: u32, t: SimTime| h.effective(f, t)[0].allowed_senders;
        for f in 0..16 {
            assert_eq!(
                mode_at(f, SimTime(t0.as_millis() - 1)),
                AllowedSenders::RegisteredUsers
            );
            assert_eq!(
                mode_at(f, t0 + SimDuration::DAY),
                AllowedSenders::AnyAddress
            );
        }
        let midway = t0 + SimDuration::from_secs(12 * 3600);
        let new = (0..16)
            .filter(|&f| mode_at(f, midway) == AllowedSenders::AnyAddress)
            .count();
        assert!(
            0 < new && new < 16,
            "{new} of 16 front-ends have the change at 12 h"
        );
        assert!(h.fully_applied_at() <= t0 + SimDuration::DAY);
    }

    /// P11: a removal also propagates; a replacement keeps the setting's place (P7).
    #[test]
    fn p11_remove_and_replace_keep_order() {
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        let mut h = SettingsHistory::new(
            vec![
                named("a", AllowedSenders::RegisteredUsers),
                named("b", AllowedSenders::DomainAddresses),
            ],
            2,
        );
        h.change(
            SimTime::ZERO,
            SettingsChange::Put(named("a", AllowedSenders::AnyAddress)),
            SimDuration::ZERO,
            &mut rng,
        );
        let names: Vec<_> = h
            .effective(0, SimTime::ZERO)
            .iter()
            .map(|s| (s.name.as_str(), s.allowed_senders))
            .collect();
        assert_eq!(
            names,
            [
                ("a", AllowedSenders::AnyAddress),
                ("b", AllowedSenders::DomainAddresses)
            ]
        );
        h.change(
            SimTime::ZERO,
            SettingsChange::Remove("a".into()),
            SimDuration::ZERO,
            &mut rng,
        );
        assert_eq!(h.effective(1, SimTime::ZERO).len(), 1);
    }
}
