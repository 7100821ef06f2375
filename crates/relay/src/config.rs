//! The relay's own configuration: every limit and every assumption of the rulebook
//! as a plain value (see `docs/rules.md`). The `Default` of each struct is the
//! documented value or, for an [assumption], the rulebook's default. The scenario
//! layer parses its file format and converts into these types; the relay knows
//! nothing of files.

use std::num::NonZeroU32;

use ipnet::IpNet;

use crate::time::SimDuration;

/// The service as a whole: front-ends, settings propagation and the three rule sets.
#[derive(Clone, Debug, PartialEq)]
pub struct RelayConfig {
    /// P11 [assumption]: number of relay front-end servers a connection can land on.
    pub frontends: NonZeroU32,
    /// P11 [doc]: a settings change takes effect on each front-end after a delay drawn
    /// uniformly from [0, this].
    pub settings_propagation: SimDuration,
    pub quota: QuotaConfig,
    pub policy: PolicyConfig,
    pub dos: DosConfig,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            frontends: NonZeroU32::new(16).expect("16 is not zero"),
            settings_propagation: SimDuration::DAY,
            quota: QuotaConfig::default(),
            policy: PolicyConfig::default(),
            dos: DosConfig::default(),
        }
    }
}

/// Q11 [assumption]: how "in 24 hours" and "in 10 minutes" are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowModel {
    /// Exact rolling window at the clock's resolution (default).
    Rolling,
    /// Fixed windows that reset at `fixed_reset_at` and every window length after it.
    Fixed,
    /// Sliding window summed over buckets of `bucket` length.
    Bucketed,
}

/// Q1–Q13: the quota engine's limits.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaConfig {
    /// Q11 [assumption]: window model.
    pub window: WindowModel,
    /// Q11: with `Fixed`, the offset from the start at which windows reset.
    pub fixed_reset_at: SimDuration,
    /// Q11: with `Bucketed`, the bucket length (not zero).
    pub bucket: SimDuration,
    /// Q1, Q4 [doc]: length of the daily windows (not zero).
    pub day_window: SimDuration,
    /// Q5 [doc]: length of the peak window (not zero).
    pub peak_window: SimDuration,
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
        QuotaConfig {
            window: WindowModel::Rolling,
            fixed_reset_at: SimDuration::ZERO,
            bucket: SimDuration::MINUTE,
            day_window: SimDuration::DAY,
            peak_window: SimDuration::from_secs(600),
            user_messages_per_day: 10_000,
            user_unique_recipients_per_day: 10_000,
            customer_recipients_per_licence_per_day: 130,
            customer_day_cap: 4_600_000,
            customer_recipients_per_licence_per_peak: 9,
            customer_peak_cap: 319_444,
            unpaid_customer_recipients_per_day: 100,
            unpaid_customer_recipients_per_peak: 50,
            unpaid_user_messages_per_day: 1_000,
            unpaid_user_unique_recipients_per_day: 1_000,
        }
    }
}

/// P rules: the relay's policy engine.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyConfig {
    /// P10 [assumption]: recipients per SMTP transaction. The seed says Google can
    /// take more than 100; other Google pages say 100, the default.
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
        PolicyConfig {
            max_recipients_per_transaction: NonZeroU32::new(100).expect("100 is not zero"),
            require_both_auth_methods: true,
            ports: vec![25, 465, 587],
            implicit_tls_ports: vec![465],
            generic_helo_names: [
                "localhost",
                "localhost.localdomain",
                "smtp-relay.gmail.com",
                "smtp.gmail.com",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// A rate: `count` events per `per` (`per` is never zero).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub count: f64,
    pub per: SimDuration,
}

impl Rate {
    /// Events per millisecond.
    pub fn per_milli(&self) -> f64 {
        self.count / self.per.as_millis() as f64
    }
}

/// D rules: DoS protection. Every threshold is an [assumption].
#[derive(Clone, Debug, PartialEq)]
pub struct DosConfig {
    /// D2: new connections per source IP (token bucket refill rate).
    pub new_connections_per_ip: Rate,
    /// D2: token bucket size for new connections per source IP.
    pub new_connection_burst: u32,
    /// D2: concurrent connections per source IP.
    pub max_concurrent_per_ip: u32,
    /// D3: new connections per minute for the global pool of generic HELO names.
    pub generic_helo_pool: Rate,
    /// D3: background load on the generic HELO pool from other customers.
    pub generic_helo_background: Rate,
    /// D4: messages per connection; the next MAIL gets 421.
    pub max_messages_per_connection: u32,
}

impl Default for DosConfig {
    fn default() -> Self {
        let per_minute = |count| Rate {
            count,
            per: SimDuration::MINUTE,
        };
        DosConfig {
            new_connections_per_ip: per_minute(60.0),
            new_connection_burst: 20,
            max_concurrent_per_ip: 100,
            generic_helo_pool: per_minute(30.0),
            generic_helo_background: per_minute(0.0),
            max_messages_per_connection: 1_000,
        }
    }
}

/// Q6: whether the customer has paid its first invoice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Billing {
    #[default]
    Paid,
    Unpaid,
}

/// P1: who may send through a relay setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowedSenders {
    RegisteredUsers,
    DomainAddresses,
    AnyAddress,
}

/// One SMTP relay setting of the admin console (P1–P7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelaySetting {
    /// Unique within the tenant; changes refer to it.
    pub name: String,
    /// P1.
    pub allowed_senders: AllowedSenders,
    /// P2: the connecting IP must be in an enabled range.
    pub only_listed_ips: bool,
    /// P2, P4: SMTP AUTH as a registered user (needs TLS).
    pub smtp_auth: bool,
    /// P5: refuse mail on connections without TLS.
    pub require_tls: bool,
    /// P3: IP ranges, each enabled (`true`) or disabled.
    pub ip_ranges: Vec<(IpNet, bool)>,
}

/// A customer as the relay knows it: domains and users lower-case.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantConfig {
    pub id: String,
    /// Q4, Q5: at least 1.
    pub licences: u32,
    pub billing: Billing,
    /// Q8: the primary domain first, then the secondary ones.
    pub domains: Vec<String>,
    /// Q3: registered users; only these have per-user limits.
    pub users: Vec<String>,
    /// Q13: block all senders once a customer limit is reached.
    pub block_all_senders_at_customer_limit: bool,
    /// Q9: this customer's per-user limits, where they differ from `[relay.quota]`.
    pub user_limits: UserLimits,
    /// P7: the SMTP relay settings, matched in order.
    pub relay_settings: Vec<RelaySetting>,
}

/// Q9 [doc]: "depending on the number of user licences in the account this value can
/// differ" — the per-user limits may differ per customer. `None` takes the
/// `[relay.quota]` value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserLimits {
    pub messages_per_day: Option<u64>,
    pub unique_recipients_per_day: Option<u64>,
}
