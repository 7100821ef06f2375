//! `[[mta]]`: a client mail server that sends through the relay (rules M1–M6).

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::values::Duration;
use super::values::{ByteSize, DomainName, RetryRules};

/// M2: the retry, queue and connection behaviour of a known MTA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MtaProfile {
    Postfix,
    Exim,
    Sendmail,
    Qmail,
    /// Exchange 2000/2003 with the SMTP virtual server's default retry intervals.
    #[serde(rename = "exchange-2003")]
    Exchange2003,
    /// Exchange 2000/2003 with the retry intervals the seed page recommends.
    #[serde(rename = "exchange-2003-tuned")]
    Exchange2003Tuned,
    #[serde(rename = "exchange-2010")]
    Exchange2010,
    Domino,
    Groupwise,
    MacosServer,
}

/// How the MTA uses TLS towards the relay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain SMTP.
    #[default]
    None,
    /// STARTTLS after EHLO (port 587 or 25).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Mta {
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// The tenant whose relay it uses.
    #[schemars(with = "String")]
    pub tenant: Spanned<String>,
    pub profile: MtaProfile,
    #[schemars(with = "String")]
    pub source_ip: Spanned<IpAddr>,
    /// P12: the HELO/EHLO name it presents (may be generic or invalid on purpose).
    pub helo: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "super::values::unspanned_default::<TlsMode>")]
    #[schemars(with = "TlsMode")]
    pub tls: Spanned<TlsMode>,
    /// P4: SMTP AUTH credentials, if it authenticates.
    #[schemars(with = "Option<SmtpAuth>")]
    pub auth: Option<Spanned<SmtpAuth>>,
    /// M5: recipient domains routed elsewhere; they never reach the relay.
    #[serde(default)]
    pub internal_domains: Vec<DomainName>,
    /// Network round trip to the relay (each SMTP command waits one).
    #[serde(default = "default_round_trip")]
    pub round_trip: Duration,
    /// Bandwidth to the relay per second, e.g. "10MB" (message transfer time); at
    /// least 1KB.
    #[serde(default = "default_bandwidth")]
    #[schemars(with = "ByteSize")]
    pub bandwidth: Spanned<ByteSize>,
    /// M2, M3: profile values overridden for this MTA.
    #[serde(default)]
    pub overrides: MtaOverrides,
}

fn default_port() -> u16 {
    25
}

fn default_round_trip() -> Duration {
    Duration(relay::time::SimDuration::from_millis(20))
}

fn default_bandwidth() -> Spanned<ByteSize> {
    Spanned::new(0..0, ByteSize(10_000_000))
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SmtpAuth {
    /// The AUTH identity (never counted for quotas: Q3).
    pub username: String,
    /// Whether the relay accepts the credentials.
    #[serde(default = "valid")]
    pub valid: bool,
}

fn valid() -> bool {
    true
}

/// Every number of an MTA profile (M2, M3), each optional: unset means the profile's.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MtaOverrides {
    /// Postfix `queue_run_delay`, Sendmail and Exim `-q` interval: 1 s to 1 d.
    #[schemars(with = "Option<Duration>")]
    pub queue_run_interval: Option<Spanned<Duration>>,
    /// Postfix `minimal_backoff_time` (also how long a dead destination stays dead):
    /// 1 s to 1 d.
    #[schemars(with = "Option<Duration>")]
    pub min_backoff: Option<Spanned<Duration>>,
    /// Postfix `maximal_backoff_time`: 1 s to 30 d, at least `min_backoff`.
    #[schemars(with = "Option<Duration>")]
    pub max_backoff: Option<Spanned<Duration>>,
    /// Give up and bounce after this long in the queue (M4); 0 tries once, as
    /// Postfix's `maximal_queue_lifetime = 0`.
    pub queue_lifetime: Option<Duration>,
    /// Exim-style retry rule, e.g. "F,2h,15m; G,16h,1h,1.5; F,4d,6h".
    pub retry_rule: Option<RetryRules>,
    /// Explicit retry intervals, each 1 s to 30 d; the last repeats (Exchange, Domino).
    #[schemars(with = "Option<Vec<Duration>>")]
    pub retry_intervals: Option<Spanned<Vec<Duration>>>,
    /// M3: recipients per SMTP transaction, 1 to 1,000 (Postfix's
    /// `smtpd_recipient_limit`).
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000))]
    pub recipients_per_transaction: Option<Spanned<u32>>,
    /// M3: connections to the relay at first (Postfix slow start), 1 to
    /// `max_concurrency`.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000))]
    pub initial_concurrency: Option<Spanned<u32>>,
    /// M3: most concurrent connections to the relay, 1 to 1,000.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000))]
    pub max_concurrency: Option<Spanned<u32>>,
    /// M3: keep connections open for reuse.
    pub connection_cache: Option<bool>,
    /// M3: how long a cached connection may be reused.
    pub connection_reuse_time: Option<Duration>,
    /// M3: messages per cached connection (0: no limit).
    pub connection_reuse_count: Option<u32>,
    /// M3: how long an idle cached connection stays open (Postfix
    /// `smtp_connection_cache_time_limit`, 2 s).
    pub connection_idle_time: Option<Duration>,
}
