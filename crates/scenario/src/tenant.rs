//! `[[tenant]]`: a Google Workspace customer, its domains, users and relay settings.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::values::{Cidr, DomainName, EmailAddress};

/// Q6: whether the customer has paid its first invoice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Billing {
    #[default]
    Paid,
    Unpaid,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Tenant {
    /// Unique id, used in outputs and referenced by `[[mta]] tenant`.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Number of user licences (Q4, Q5): 1 or more.
    #[schemars(with = "u32")]
    pub licences: Spanned<u32>,
    #[serde(default)]
    pub billing: Billing,
    /// Q8: the primary domain.
    pub primary_domain: DomainName,
    /// Q8: secondary domains (subdomains of any domain belong to the tenant too).
    #[serde(default)]
    pub secondary_domains: Vec<DomainName>,
    /// Q3: registered users; only these have per-user limits.
    #[serde(default)]
    #[schemars(with = "Vec<EmailAddress>")]
    pub users: Vec<Spanned<EmailAddress>>,
    /// Q3: more registered users, numbered: `{ count = 2000, pattern =
    /// "user{n}@acme.example" }` registers user1@… to user2000@… (after `users`).
    pub users_pattern: Option<crate::population::UserPattern>,
    /// P4: SMTP AUTH passwords of registered users, `{ "app@acme.example" =
    /// "secret" }`, checked by `relaysim serve` and `[[dialogue]]`s. When a tenant
    /// gives passwords, its users without one cannot authenticate (unless `relaysim
    /// serve --password` gives them one); when no tenant does, any password is taken.
    #[serde(default)]
    pub passwords: std::collections::BTreeMap<String, String>,
    /// Q13: block all senders, registered or not, once a customer limit is reached.
    #[serde(default)]
    pub block_all_senders_at_customer_limit: bool,
    /// Q9 [doc]: this customer's messages per registered user per day, where it
    /// differs from `[relay.quota] user_messages_per_day` (the seed: the value can
    /// differ with the number of licences).
    pub user_messages_per_day: Option<u64>,
    /// Q9 [doc]: this customer's unique recipients per registered user per day, where
    /// it differs from `[relay.quota] user_unique_recipients_per_day`.
    pub user_unique_recipients_per_day: Option<u64>,
    /// P13: relayed messages are also stored in the sender's mailbox (no effect on
    /// limits; `summary.json` and the `messages_stored` metric count them).
    #[serde(default)]
    pub comprehensive_mail_storage: bool,
    /// P13: relayed messages are archived in Vault — only with comprehensive mail
    /// storage on (`messages_archived_in_vault`).
    #[serde(default)]
    pub vault: bool,
    /// P7: the tenant's SMTP relay settings, matched in order.
    #[serde(default, rename = "relay_setting")]
    pub relay_settings: Vec<RelaySetting>,
}

impl Tenant {
    /// All domains of the tenant, primary first.
    pub fn domains(&self) -> impl Iterator<Item = &DomainName> {
        std::iter::once(&self.primary_domain).chain(&self.secondary_domains)
    }

    /// Every registered user: `users`, then the numbered ones of `users_pattern` not
    /// already listed (lowercase, as addresses are compared).
    pub fn user_addresses(&self) -> Vec<String> {
        let mut all: Vec<String> = self.users.iter().map(|u| u.get_ref().0.clone()).collect();
        if let Some(p) = &self.users_pattern {
            let listed: std::collections::BTreeSet<String> = all.iter().cloned().collect();
            all.extend(
                p.addresses()
                    .map(|a| a.to_ascii_lowercase())
                    .filter(|a| !listed.contains(a)),
            );
        }
        all
    }
}

/// P1: who may send through a relay setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllowedSenders {
    RegisteredUsers,
    DomainAddresses,
    AnyAddress,
}

/// One SMTP relay setting of the admin console (P1–P7).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RelaySetting {
    /// Unique within the tenant; `[[event]]` changes refer to it.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// P1.
    pub allowed_senders: AllowedSenders,
    /// P2: the connecting IP must be in an enabled range.
    #[serde(default)]
    pub only_listed_ips: bool,
    /// P2, P4: SMTP AUTH as a registered user (needs TLS).
    #[serde(default)]
    pub smtp_auth: bool,
    /// P5: refuse mail on connections without TLS.
    #[serde(default)]
    pub require_tls: bool,
    /// P3: IP ranges, each enabled or disabled.
    #[serde(default)]
    pub ip_ranges: Vec<IpRange>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct IpRange {
    pub cidr: Cidr,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl Billing {
    pub fn to_core(self) -> relay::Billing {
        match self {
            Billing::Paid => relay::Billing::Paid,
            Billing::Unpaid => relay::Billing::Unpaid,
        }
    }
}

impl AllowedSenders {
    pub fn to_core(self) -> relay::AllowedSenders {
        match self {
            AllowedSenders::RegisteredUsers => relay::AllowedSenders::RegisteredUsers,
            AllowedSenders::DomainAddresses => relay::AllowedSenders::DomainAddresses,
            AllowedSenders::AnyAddress => relay::AllowedSenders::AnyAddress,
        }
    }
}

impl RelaySetting {
    pub fn to_core(&self) -> relay::RelaySetting {
        relay::RelaySetting {
            name: self.name.get_ref().clone(),
            allowed_senders: self.allowed_senders.to_core(),
            only_listed_ips: self.only_listed_ips,
            smtp_auth: self.smtp_auth,
            require_tls: self.require_tls,
            ip_ranges: self
                .ip_ranges
                .iter()
                .map(|r| (r.cidr.0, r.enabled))
                .collect(),
        }
    }
}

impl Tenant {
    /// The tenant as the relay knows it.
    pub fn to_core(&self) -> relay::TenantConfig {
        relay::TenantConfig {
            id: self.id.get_ref().clone(),
            licences: *self.licences.get_ref(),
            billing: self.billing.to_core(),
            domains: self.domains().map(|d| d.0.clone()).collect(),
            users: self.user_addresses(),
            block_all_senders_at_customer_limit: self.block_all_senders_at_customer_limit,
            user_limits: relay::UserLimits {
                messages_per_day: self.user_messages_per_day,
                unique_recipients_per_day: self.user_unique_recipients_per_day,
            },
            relay_settings: self
                .relay_settings
                .iter()
                .map(RelaySetting::to_core)
                .collect(),
        }
    }
}
