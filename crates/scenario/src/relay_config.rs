//! `[relay]`: the service side as the file format writes it. Every limit and every
//! assumption of the rulebook is a setting here. The defaults come from the relay
//! crate's own configuration (`relay::RelayConfig::default()`: the documented value,
//! or for an [assumption] the rulebook's default), and `to_core` converts a section
//! into the relay's types. `summary.json` lists the values a run used.

use std::num::NonZeroU32;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::values::{Duration, Rate};
use relay::time::SimDuration;

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct RelayConfig {
    /// P11 [assumption]: number of relay front-end servers a connection can land on,
    /// 1 to 1,000.
    #[serde(deserialize_with = "frontend_count")]
    #[schemars(range(min = 1, max = 1000))]
    pub frontends: NonZeroU32,
    /// P11 [doc]: a settings change takes effect on each front-end after a delay drawn
    /// uniformly from [0, this].
    pub settings_propagation: Duration,
    pub quota: QuotaConfig,
    pub policy: PolicyConfig,
    pub dos: DosConfig,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig::from_core(&relay::RelayConfig::default())
    }
}

impl RelayConfig {
    fn from_core(c: &relay::RelayConfig) -> Self {
        RelayConfig {
            frontends: c.frontends,
            settings_propagation: Duration(c.settings_propagation),
            quota: QuotaConfig::from_core(&c.quota),
            policy: PolicyConfig::from_core(&c.policy),
            dos: DosConfig::from_core(&c.dos),
        }
    }

    /// The relay's configuration.
    pub fn to_core(&self) -> relay::RelayConfig {
        relay::RelayConfig {
            frontends: self.frontends,
            settings_propagation: self.settings_propagation.get(),
            quota: self.quota.to_core(),
            policy: self.policy.to_core(),
            dos: self.dos.to_core(),
        }
    }
}

/// Q11 [assumption]: how "in 24 hours" and "in 10 minutes" are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowModel {
    /// Exact rolling window at the clock's resolution (default).
    Rolling,
    /// Fixed windows that reset at `fixed_reset_at` and every window length after it.
    Fixed,
    /// Sliding window summed over buckets of `bucket` length.
    Bucketed,
}

/// Q1–Q13: the quota engine's limits.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct QuotaConfig {
    /// Q11 [assumption]: window model, `rolling` unless a sensitivity study says otherwise.
    pub window: WindowModel,
    /// Q11: with `window = "fixed"`, the offset from the scenario start at which
    /// windows reset (e.g. "8h" for a 08:00 start resetting at midnight is "16h").
    pub fixed_reset_at: Duration,
    /// Q11: with `window = "bucketed"`, the bucket length.
    #[serde(deserialize_with = "positive_duration")]
    pub bucket: Duration,
    /// Q1, Q4 [doc]: length of the daily windows.
    #[serde(deserialize_with = "positive_duration")]
    pub day_window: Duration,
    /// Q5 [doc]: length of the peak window.
    #[serde(deserialize_with = "positive_duration")]
    pub peak_window: Duration,
    /// Q1, Q9 [doc]: messages per registered user per day.
    pub user_messages_per_day: u64,
    /// Q2, Q9 [doc]: unique recipients per registered user per day.
    pub user_unique_recipients_per_day: u64,
    /// Q4 [doc]: customer recipients per licence per day.
    pub customer_recipients_per_licence_per_day: u64,
    /// Q4 [doc]: upper bound of the customer daily limit.
    pub customer_day_cap: u64,
    /// Q5 [doc]: customer recipients per licence per peak window.
    pub customer_recipients_per_licence_per_peak: u64,
    /// Q5 [doc]: upper bound of the customer peak limit.
    pub customer_peak_cap: u64,
    /// Q6 [doc]: customer recipients per day before the first invoice is paid.
    pub unpaid_customer_recipients_per_day: u64,
    /// Q6 [doc]: customer recipients per peak window before the first invoice is paid.
    pub unpaid_customer_recipients_per_peak: u64,
    /// Q6 [assumption]: messages per user per day before the first invoice is paid.
    pub unpaid_user_messages_per_day: u64,
    /// Q6 [assumption]: unique recipients per user per day before the first invoice is paid.
    pub unpaid_user_unique_recipients_per_day: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig::from_core(&relay::QuotaConfig::default())
    }
}

impl QuotaConfig {
    fn from_core(c: &relay::QuotaConfig) -> Self {
        QuotaConfig {
            window: match c.window {
                relay::WindowModel::Rolling => WindowModel::Rolling,
                relay::WindowModel::Fixed => WindowModel::Fixed,
                relay::WindowModel::Bucketed => WindowModel::Bucketed,
            },
            fixed_reset_at: Duration(c.fixed_reset_at),
            bucket: Duration(c.bucket),
            day_window: Duration(c.day_window),
            peak_window: Duration(c.peak_window),
            user_messages_per_day: c.user_messages_per_day,
            user_unique_recipients_per_day: c.user_unique_recipients_per_day,
            customer_recipients_per_licence_per_day: c.customer_recipients_per_licence_per_day,
            customer_day_cap: c.customer_day_cap,
            customer_recipients_per_licence_per_peak: c.customer_recipients_per_licence_per_peak,
            customer_peak_cap: c.customer_peak_cap,
            unpaid_customer_recipients_per_day: c.unpaid_customer_recipients_per_day,
            unpaid_customer_recipients_per_peak: c.unpaid_customer_recipients_per_peak,
            unpaid_user_messages_per_day: c.unpaid_user_messages_per_day,
            unpaid_user_unique_recipients_per_day: c.unpaid_user_unique_recipients_per_day,
        }
    }

    pub fn to_core(&self) -> relay::QuotaConfig {
        relay::QuotaConfig {
            window: match self.window {
                WindowModel::Rolling => relay::WindowModel::Rolling,
                WindowModel::Fixed => relay::WindowModel::Fixed,
                WindowModel::Bucketed => relay::WindowModel::Bucketed,
            },
            fixed_reset_at: self.fixed_reset_at.get(),
            bucket: self.bucket.get(),
            day_window: self.day_window.get(),
            peak_window: self.peak_window.get(),
            user_messages_per_day: self.user_messages_per_day,
            user_unique_recipients_per_day: self.user_unique_recipients_per_day,
            customer_recipients_per_licence_per_day: self.customer_recipients_per_licence_per_day,
            customer_day_cap: self.customer_day_cap,
            customer_recipients_per_licence_per_peak: self.customer_recipients_per_licence_per_peak,
            customer_peak_cap: self.customer_peak_cap,
            unpaid_customer_recipients_per_day: self.unpaid_customer_recipients_per_day,
            unpaid_customer_recipients_per_peak: self.unpaid_customer_recipients_per_peak,
            unpaid_user_messages_per_day: self.unpaid_user_messages_per_day,
            unpaid_user_unique_recipients_per_day: self.unpaid_user_unique_recipients_per_day,
        }
    }
}

/// P rules: the relay's policy engine.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct PolicyConfig {
    /// P10 [assumption]: recipients per SMTP transaction (sources conflict; 100).
    pub max_recipients_per_transaction: NonZeroU32,
    /// P2 [assumption]: with both IP and SMTP AUTH authentication set, both must pass.
    pub require_both_auth_methods: bool,
    /// P6 [doc]: ports the relay listens on.
    pub ports: Vec<u16>,
    /// P6 [assumption]: ports that speak implicit TLS.
    pub implicit_tls_ports: Vec<u16>,
    /// P12 [doc]: HELO names that identify no domain (plus every address literal).
    pub generic_helo_names: Vec<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig::from_core(&relay::PolicyConfig::default())
    }
}

impl PolicyConfig {
    fn from_core(c: &relay::PolicyConfig) -> Self {
        let c = c.clone();
        PolicyConfig {
            max_recipients_per_transaction: c.max_recipients_per_transaction,
            require_both_auth_methods: c.require_both_auth_methods,
            ports: c.ports,
            implicit_tls_ports: c.implicit_tls_ports,
            generic_helo_names: c.generic_helo_names,
        }
    }

    pub fn to_core(&self) -> relay::PolicyConfig {
        relay::PolicyConfig {
            max_recipients_per_transaction: self.max_recipients_per_transaction,
            require_both_auth_methods: self.require_both_auth_methods,
            ports: self.ports.clone(),
            implicit_tls_ports: self.implicit_tls_ports.clone(),
            generic_helo_names: self.generic_helo_names.clone(),
        }
    }
}

/// D rules: DoS protection. Every threshold is an [assumption].
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct DosConfig {
    /// D2: new connections per source IP (token bucket refill rate), at most
    /// 1,000,000 a second (more is "no limit": write that instead).
    #[serde(deserialize_with = "connection_rate")]
    pub new_connections_per_ip: Rate,
    /// D2: token bucket size for new connections per source IP, 1 to 1,000,000.
    #[serde(deserialize_with = "connection_count")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub new_connection_burst: u32,
    /// D2: concurrent connections per source IP, 1 to 1,000,000.
    #[serde(deserialize_with = "connection_count")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_concurrent_per_ip: u32,
    /// D3: new connections per minute for the global pool of generic HELO names, at
    /// most 1,000,000 a second.
    #[serde(deserialize_with = "connection_rate")]
    pub generic_helo_pool: Rate,
    /// D3: background load on the generic HELO pool from other customers, at most
    /// 100 a second (each is simulated).
    #[serde(deserialize_with = "background_rate")]
    pub generic_helo_background: Rate,
    /// D4: messages per connection, 1 to 1,000,000; the next MAIL gets 421.
    #[serde(deserialize_with = "connection_count")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_messages_per_connection: u32,
}

impl Default for DosConfig {
    fn default() -> Self {
        DosConfig::from_core(&relay::DosConfig::default())
    }
}

impl DosConfig {
    fn from_core(c: &relay::DosConfig) -> Self {
        DosConfig {
            new_connections_per_ip: Rate::from_core(c.new_connections_per_ip),
            new_connection_burst: c.new_connection_burst,
            max_concurrent_per_ip: c.max_concurrent_per_ip,
            generic_helo_pool: Rate::from_core(c.generic_helo_pool),
            generic_helo_background: Rate::from_core(c.generic_helo_background),
            max_messages_per_connection: c.max_messages_per_connection,
        }
    }

    pub fn to_core(&self) -> relay::DosConfig {
        relay::DosConfig {
            new_connections_per_ip: self.new_connections_per_ip.to_core(),
            new_connection_burst: self.new_connection_burst,
            max_concurrent_per_ip: self.max_concurrent_per_ip,
            generic_helo_pool: self.generic_helo_pool.to_core(),
            generic_helo_background: self.generic_helo_background.to_core(),
            max_messages_per_connection: self.max_messages_per_connection,
        }
    }
}

/// P11: 1 to 1,000 front-ends (each keeps its own copy of the settings).
fn frontend_count<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroU32, D::Error> {
    let n = u64::deserialize(d)?;
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .and_then(NonZeroU32::new)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "frontends = {n} is outside 1..1000; the relay's settings propagate to each front-end (P11): use 1 to 1000"
            ))
        })
}

/// D3: the background connections are simulated one by one: at most 100 a second
/// (6,000 a minute, 200 times the default pool).
fn background_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
    let rate = Rate::deserialize(d)?;
    if rate.per_milli() * 1000.0 > 100.0 {
        return Err(serde::de::Error::custom(format!(
            "generic_helo_background = \"{rate}\" is more than 100 connections a second; each is simulated: use e.g. \"40/min\""
        )));
    }
    Ok(rate)
}

/// The most a DoS count or rate may be: a million (a second, for rates). Beyond it
/// the protection is off in effect, and a token bucket's exact arithmetic
/// (`relay::dos`) stays far inside 128 bits for any horizon.
const DOS_MAX: u32 = 1_000_000;

/// D2, D3: a connection rate of at most [`DOS_MAX`] a second.
fn connection_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
    let rate = Rate::deserialize(d)?;
    if rate.per_milli() * 1000.0 > f64::from(DOS_MAX) {
        return Err(serde::de::Error::custom(format!(
            "\"{rate}\" is more than {DOS_MAX} connections a second; to switch this protection off in effect write \"1000000/s\""
        )));
    }
    Ok(rate)
}

/// D2, D4: a count of connections or messages from 1 to [`DOS_MAX`] (zero would
/// refuse everything, which no relay does on purpose).
fn connection_count<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u64::deserialize(d)?;
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=DOS_MAX).contains(n))
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{n} is out of range: this setting takes a whole number from 1 to {DOS_MAX}"
            ))
        })
}

/// A window or bucket length: zero would make every limit meaningless.
fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let value = Duration::deserialize(d)?;
    if value.get() == SimDuration::ZERO {
        return Err(serde::de::Error::custom(
            "a window or bucket of zero length; write e.g. \"10m\"",
        ));
    }
    Ok(value)
}
