//! The compiled scenario: what a run reads. Loading ends here (`crate::load_model`,
//! `crate::parse_model`): every cross-reference is an index, every `[[event]]` and
//! `[[expect]]` an enum variant carrying exactly its data, every duration, rate and
//! size a typed value. Nothing after loading looks anything up by name, and nothing
//! is an `Option` because "validation guarantees it": an `Option` here means the
//! value is optional.
//!
//! The relay's part is in the relay crate's own types (`relay::RelayConfig`,
//! `relay::TenantConfig`, `relay::RelayCommand`), so the relay core never sees the
//! file format.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use relay::time::{SimDuration, SimTime};
use relay::{LimitKind, RelayCommand, RelayConfig, Subject, TenantConfig, TenantIx, UserId};

use crate::replay::{ReplayRecipients, ReplayRow};
use crate::values::{DomainName, EnvelopeSender, Rate, RecipientCount, RetryRules, StartTime};
pub use crate::{Metric, MtaProfile, TlsMode};

/// P13: a tenant's comprehensive mail storage and Vault settings. They change no
/// limit and no reply; they decide what becomes of the mail the relay accepted: with
/// comprehensive mail storage on, every relayed message is also stored in the
/// sender's mailbox (so it shows in Gmail), and with Vault on as well, it is
/// archived in Vault. Vault without comprehensive mail storage archives no relayed
/// message (the seed page: storage "must also be enabled").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailStorage {
    pub comprehensive_mail_storage: bool,
    pub vault: bool,
}

impl MailStorage {
    /// Whether relayed messages are stored in the mailbox.
    pub fn stores_relayed_mail(self) -> bool {
        self.comprehensive_mail_storage
    }

    /// Whether relayed messages are archived in Vault.
    pub fn archives_relayed_mail(self) -> bool {
        self.comprehensive_mail_storage && self.vault
    }
}

/// Index of an `[[mta]]` in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MtaIx(pub u32);

/// Index of a `[[sender]]` in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SenderIx(pub u32);

/// A whole scenario, compiled.
#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub description: Option<String>,
    /// The file's opening comment (its question, by convention), without the `#`
    /// marks and the `#:schema` line; empty when it has none.
    pub question: String,
    /// Seed of every random stream (`--seed` overrides it).
    pub seed: u64,
    /// The horizon.
    pub duration: SimDuration,
    /// Bucket length of throughput.csv.
    pub bucket: SimDuration,
    /// Hits of one limit within this long of its clear are one episode.
    pub episode_gap: SimDuration,
    /// Wall-clock start, for diurnal traffic and clock-time axes.
    pub start: Option<StartTime>,
    /// The relay's configuration, in the relay's own types.
    pub relay: RelayConfig,
    /// The `[relay]` section with defaults filled in, as the file format writes it:
    /// `summary.json` records it as the assumptions of the run.
    pub relay_as_written: crate::RelayConfig,
    /// Tenants in file order; `TenantIx` indexes this.
    pub tenants: Vec<TenantConfig>,
    /// P13: each tenant's mail storage settings (same order as `tenants`).
    pub storage: Vec<MailStorage>,
    pub mtas: Vec<Mta>,
    /// One per sender and per member of a population, in file order.
    pub senders: Vec<Sender>,
    /// The ids of the `[[sender]]` blocks; `SenderIx` indexes this.
    pub declared_senders: Vec<String>,
    /// Timed changes, in file order.
    pub events: Vec<TimedCommand>,
    /// The `[[expect]]` blocks in file order, then one per `[[dialogue]]`
    /// ([`Check::Dialogue`]).
    pub expectations: Vec<Expectation>,
    /// Scripted client connections, in file order.
    pub dialogues: Vec<Dialogue>,
    /// P4: AUTH passwords of registered users (lower-case address → password).
    pub passwords: BTreeMap<String, String>,
    /// Quota windows looked at during the run (for `usage` and `limit_value`).
    pub probes: Vec<Probe>,
}

impl Model {
    /// P4: whether `password` is right for the registered user `user`: its own
    /// password from the scenario, else `fallback` (`relaysim serve --password`, a
    /// dialogue's `password`); with neither, any password when the scenario gives
    /// none, and none when it gives some (to other users).
    pub fn password_accepted(&self, user: &str, password: &str, fallback: Option<&str>) -> bool {
        match (self.passwords.get(user), fallback) {
            (Some(own), _) => own == password,
            (None, Some(p)) => p == password,
            (None, None) => self.passwords.is_empty(),
        }
    }

    pub fn horizon(&self) -> SimTime {
        SimTime::ZERO + self.duration
    }

    /// The tenant with this id, if any (for command-line options such as `--tenant`).
    pub fn tenant_ix(&self, id: &str) -> Option<TenantIx> {
        self.tenants
            .iter()
            .position(|t| t.id == id)
            .map(|i| TenantIx(i as u32))
    }

    pub fn tenant(&self, ix: TenantIx) -> &TenantConfig {
        &self.tenants[ix.0 as usize]
    }

    pub fn tenant_mut(&mut self, ix: TenantIx) -> &mut TenantConfig {
        &mut self.tenants[ix.0 as usize]
    }

    pub fn mta(&self, ix: MtaIx) -> &Mta {
        &self.mtas[ix.0 as usize]
    }

    /// The (first member of the) `[[sender]]` `ix`.
    pub fn sender(&self, ix: SenderIx) -> &Sender {
        let first = self.senders.partition_point(|s| s.declared < ix);
        &self.senders[first]
    }

    /// The name of a sender's random stream: its id, with `#n` for a member.
    pub fn stream_name(sender: &Sender) -> std::borrow::Cow<'_, str> {
        match sender.member {
            None => std::borrow::Cow::Borrowed(sender.id.as_str()),
            Some(n) => std::borrow::Cow::Owned(format!("{}#{n}", sender.id)),
        }
    }

    /// The address of registered user `user` (users are numbered across tenants in
    /// file order, as the relay's directory numbers them).
    pub fn user_address(&self, user: UserId) -> &str {
        let mut rest = user.0 as usize;
        for t in &self.tenants {
            if rest < t.users.len() {
                return &t.users[rest];
            }
            rest -= t.users.len();
        }
        ""
    }
}

impl Model {
    /// The tenant's id, or "" for none (DoS limits belong to no tenant).
    pub fn tenant_id(&self, tenant: Option<TenantIx>) -> &str {
        tenant.map_or("", |t| self.tenant(t).id.as_str())
    }

    /// How outputs name a limit's subject: its scope (`user`, `customer`, `dos`) and
    /// the user's address, the tenant's id, the source IP or `generic-helo-pool`.
    pub fn limit_subject(&self, subject: Subject) -> (&'static str, Cow<'_, str>) {
        match subject {
            Subject::User(u) => ("user", Cow::Borrowed(self.user_address(u))),
            Subject::Customer(t) => ("customer", Cow::Borrowed(self.tenant(t).id.as_str())),
            Subject::SourceIp(ip) => ("dos", Cow::Owned(ip.to_string())),
            Subject::GenericHeloPool => ("dos", Cow::Borrowed("generic-helo-pool")),
        }
    }
}

/// A `[[event]]`: a relay command at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedCommand {
    pub at: SimDuration,
    pub command: RelayCommand,
}

/// A client mail server (M1–M6).
#[derive(Clone, Debug)]
pub struct Mta {
    pub id: String,
    /// The tenant whose relay it uses.
    pub tenant: TenantIx,
    pub profile: MtaProfile,
    pub source_ip: IpAddr,
    /// P12: the HELO/EHLO name it presents.
    pub helo: String,
    pub port: u16,
    pub tls: TlsMode,
    /// P4: SMTP AUTH credentials, if it authenticates.
    pub auth: Option<SmtpAuth>,
    /// M5: recipient domains routed elsewhere.
    pub internal_domains: Vec<DomainName>,
    pub round_trip: SimDuration,
    /// Bytes per second to the relay.
    pub bandwidth: u64,
    pub overrides: MtaOverrides,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpAuth {
    pub username: String,
    pub valid: bool,
}

/// Profile values overridden for one MTA (M2, M3); `None` keeps the profile's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MtaOverrides {
    pub queue_run_interval: Option<SimDuration>,
    pub min_backoff: Option<SimDuration>,
    pub max_backoff: Option<SimDuration>,
    pub queue_lifetime: Option<SimDuration>,
    pub retry_rule: Option<RetryRules>,
    pub retry_intervals: Option<Vec<SimDuration>>,
    pub recipients_per_transaction: Option<u32>,
    pub initial_concurrency: Option<u32>,
    pub max_concurrency: Option<u32>,
    pub connection_cache: Option<bool>,
    pub connection_reuse_time: Option<SimDuration>,
    pub connection_reuse_count: Option<u32>,
    pub connection_idle_time: Option<SimDuration>,
}

/// An application or user population that hands mail to an MTA.
#[derive(Clone, Debug)]
pub struct Sender {
    /// The id of its `[[sender]]` (shared by the members of a population).
    pub id: String,
    /// The `[[sender]]` it is (or is a member of): reports and expectations count
    /// by this.
    pub declared: SenderIx,
    /// Its member number, 1 to the population, for a `[[sender]]` with
    /// `population`; `None` otherwise.
    pub member: Option<u32>,
    pub mta: MtaIx,
    /// The tenant of its MTA.
    pub tenant: TenantIx,
    pub traffic: Traffic,
    /// Envelope senders, one picked uniformly per message (empty for replay).
    pub envelope_from: Vec<EnvelopeSender>,
    pub bursts: Vec<Burst>,
    pub start: SimDuration,
    /// When it stops (the horizon unless set).
    pub stop: SimDuration,
    pub recipients: RecipientCount,
    pub recipient_pool: RecipientPool,
    pub message_size: u64,
}

/// The steady part of a sender's traffic.
#[derive(Clone, Debug)]
pub enum Traffic {
    /// Evenly spaced arrivals.
    Constant { rate: Rate },
    /// A Poisson process.
    Poisson { rate: Rate },
    /// Poisson shaped by 24 hourly weights of the local day.
    Diurnal {
        rate: Rate,
        weights: [f64; 24],
        start: StartTime,
    },
    /// Only the bursts.
    Bursts,
    /// The rows of a replay file, in time order.
    Replay { rows: Vec<ReplayRow> },
}

impl Traffic {
    pub fn replay_rows(&self) -> &[ReplayRow] {
        match self {
            Traffic::Replay { rows } => rows,
            _ => &[],
        }
    }
}

/// A campaign: `messages` messages spread evenly over `over`, starting `at`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Burst {
    pub at: SimDuration,
    pub messages: u32,
    pub over: SimDuration,
}

/// Where recipients come from (Zipf popularity over `size` addresses).
#[derive(Clone, Debug, PartialEq)]
pub struct RecipientPool {
    pub size: u32,
    pub zipf_exponent: f64,
    pub domain: DomainName,
    /// Share in `internal_domain`, 0 to 1 (0 when there is none).
    pub internal_share: f64,
    pub internal_domain: Option<DomainName>,
}

/// An `[[expect]]` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// Its `name`, or "expectation N: CHECK WHAT" (e.g. `expectation 2: never_hit
    /// customer_peak`).
    pub name: String,
    /// The line of its `[[expect]]` header in the scenario file (1-based), for
    /// `file:line` in test reports.
    pub line: usize,
    pub check: Check,
}

/// What an expectation asserts.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// A count of the run, a tenant or a sender, within bounds.
    Count {
        metric: CountMetric,
        scope: Scope,
        /// Q3: count the replies of the transactions this registered user was
        /// counted in (only `replies` is counted per user; `check.rs` says so).
        user: Option<UserId>,
        bounds: Bounds,
        /// Count only what happened in `[from, to)`.
        during: Option<(SimDuration, SimDuration)>,
    },
    /// A quantile of the delivery delays of the delivered messages in scope, within
    /// bounds in milliseconds.
    Delay {
        scope: Scope,
        /// Above 0, at most 1 (the largest delay).
        quantile: f64,
        bounds: Bounds,
    },
    /// Every message in scope was delivered to every recipient by `at`.
    DeliveredBy { scope: Scope, at: SimDuration },
    /// The reading of `probes[probe]` (a quota window's use, or its limit) within
    /// bounds.
    AtInstant {
        probe: usize,
        reading: Reading,
        bounds: Bounds,
    },
    /// Every accepted transaction of the sender was relayed as `relayed_as` (P8)
    /// and counted to `counted_user` (Q3), where given.
    Attribution {
        sender: SenderIx,
        relayed_as: Option<String>,
        counted_user: Option<UserId>,
    },
    /// Message `message` (1-based) of the sender was attempted at `at` (each
    /// within `tolerance`), and at no other time.
    Attempts {
        sender: SenderIx,
        message: u32,
        at: Vec<SimDuration>,
        tolerance: SimDuration,
    },
    /// The first hit of a limit falls in `[from, to]`.
    FirstHit {
        limit: LimitFilter,
        from: SimDuration,
        to: SimDuration,
    },
    /// The first time a limit is cleared falls in `[from, to]`.
    FirstCleared {
        limit: LimitFilter,
        from: SimDuration,
        to: SimDuration,
    },
    /// The limit is never hit.
    NeverHit { limit: LimitFilter },
    /// Every reply of `dialogues[index]` starts with the text expected.
    Dialogue { index: usize },
}

/// A `[[dialogue]]`: a client connection scripted line by line.
#[derive(Clone, Debug, PartialEq)]
pub struct Dialogue {
    /// When, from the start.
    pub at: SimDuration,
    pub source_ip: IpAddr,
    pub port: u16,
    /// The start of the reply expected to the connection (the greeting or a refusal).
    pub connect_expect: String,
    /// Connect with a TLS handshake (the port is an implicit-TLS port, P6).
    pub implicit_tls: bool,
    /// P4: the password accepted for every registered user; `None`: any.
    pub password: Option<String>,
    pub steps: Vec<DialogueStep>,
    /// The line of its `[[dialogue]]` header (1-based).
    pub line: usize,
}

/// One line of a dialogue and the start of the reply expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogueStep {
    pub command: String,
    pub expect: String,
    /// Its line in the scenario file (1-based).
    pub line: usize,
}

/// A metric to count; replies carry the reply prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CountMetric {
    Plain(Metric),
    /// Replies whose text starts with this prefix, e.g. "550 5.7.1".
    Replies(String),
}

/// Whose counts: one sender, one tenant, or the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Run,
    Tenant(TenantIx),
    Sender(SenderIx),
}

/// At least one of the three is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    pub equals: Option<Bound>,
    pub at_least: Option<Bound>,
    pub at_most: Option<Bound>,
}

/// A bound: a value (a count, or milliseconds for a delay), or another count of the
/// same scope and window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Value(u64),
    Metric(Metric),
}

/// What a probe reads of a quota window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// Its use (committed and held).
    Usage,
    /// The limit in force.
    LimitValue,
}

/// A look at one quota window at an instant of the run, for `usage` and
/// `limit_value` expectations: taken after what the scenario scheduled for that
/// instant before the run began (its `[[event]]`s), before the traffic of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub at: SimDuration,
    pub key: relay::LimitKey,
}

/// Which limit events an expectation looks at.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitFilter {
    pub limit: LimitKind,
    pub tenant: Option<TenantIx>,
    pub user: Option<UserId>,
    pub source_ip: Option<IpAddr>,
}

/// Every recipient domain of the senders' pools (`domain` and `internal_domain`) with
/// the largest pool size drawing from it: the addresses `r0 … r(size-1)` each domain
/// needs. Sorted by domain, so numbering them is deterministic.
pub fn recipient_domains(senders: &[Sender]) -> BTreeMap<&str, u32> {
    let mut sizes = BTreeMap::new();
    for s in senders {
        let pool = &s.recipient_pool;
        for d in std::iter::once(&pool.domain).chain(&pool.internal_domain) {
            let e: &mut u32 = sizes.entry(d.0.as_str()).or_default();
            *e = (*e).max(pool.size);
        }
    }
    sizes
}

/// Every address the scenario names outside the recipient pools, sorted: the
/// envelope senders (bounces go back to them, M4) and the recipients of replay files.
pub fn envelope_addresses(senders: &[Sender]) -> BTreeSet<&str> {
    let mut set = BTreeSet::new();
    for s in senders {
        for f in &s.envelope_from {
            if let EnvelopeSender::Address(a) = f {
                set.insert(a.0.as_str());
            }
        }
        for row in s.traffic.replay_rows() {
            if let EnvelopeSender::Address(a) = &row.from {
                set.insert(a.0.as_str());
            }
            if let ReplayRecipients::Addresses(list) = &row.recipients {
                set.extend(list.iter().map(|a| a.0.as_str()));
            }
        }
    }
    set
}

#[cfg(test)]
mod storage_tests {
    use super::MailStorage;

    /// P13: relayed mail is stored with comprehensive mail storage on, and archived in
    /// Vault only when comprehensive storage is on too.
    #[test]
    fn p13_relayed_mail_is_archived_only_with_comprehensive_storage() {
        let cases = [
            (false, false, false, false),
            (true, false, true, false),
            (false, true, false, false),
            (true, true, true, true),
        ];
        for (comprehensive_mail_storage, vault, stored, archived) in cases {
            let s = MailStorage {
                comprehensive_mail_storage,
                vault,
            };
            assert_eq!(
                (s.stores_relayed_mail(), s.archives_relayed_mail()),
                (stored, archived),
                "{s:?}"
            );
        }
    }
}
