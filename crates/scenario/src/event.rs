//! `[[event]]`: timed changes during a run.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::tenant::RelaySetting;
use super::values::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Q4, Q5: the tenant's licence count changes (needs `licences`).
    SetLicences,
    /// Q6: the tenant pays its first invoice; the unpaid limits lift.
    InvoicePaid,
    /// P11: a relay setting is added or replaced by name (needs `relay_setting`);
    /// it propagates to the front-ends over `[relay] settings_propagation`.
    ChangeRelaySetting,
    /// P11: a relay setting is removed by name (needs `setting`).
    RemoveRelaySetting,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Event {
    /// When, from the scenario start.
    pub at: Duration,
    #[schemars(with = "EventKind")]
    pub kind: Spanned<EventKind>,
    #[schemars(with = "String")]
    pub tenant: Spanned<String>,
    #[schemars(with = "Option<u32>")]
    pub licences: Option<Spanned<u32>>,
    pub relay_setting: Option<RelaySetting>,
    /// Name of the relay setting to remove.
    #[schemars(with = "Option<String>")]
    pub setting: Option<Spanned<String>>,
}
