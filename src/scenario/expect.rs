//! `[[expect]]`: assertions about a run, checked by `relaysim test`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::time::SimDuration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// A count (`metric`, optionally for one `tenant`/`sender`, or replies matching
    /// `reply`) compared with `equals`, `at_least` and/or `at_most`.
    Count,
    /// The first hit of `limit` (for `tenant` and optionally `user`) falls `between`.
    FirstHit,
    /// The first time `limit` is cleared again (its window has room) falls `between`.
    FirstCleared,
    /// `limit` is never hit (for `tenant`/`user` when given).
    NeverHit,
}

/// A limit that can be hit (a `limit` value in limit_hits.csv).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Q1.
    UserMessages,
    /// Q2.
    UserUniqueRecipients,
    /// Q4.
    CustomerDay,
    /// Q5.
    CustomerPeak,
    /// D2: new connections per source IP.
    DosConnectionRate,
    /// D2: concurrent connections per source IP.
    DosConcurrency,
    /// D3: the generic HELO pool.
    DosGenericHelo,
    /// D4: messages per connection.
    DosMessagesPerConnection,
}

/// The limit as written in scenario files and in the CSV, e.g. `customer_peak`.
impl LimitKind {
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::UserMessages => "user_messages",
            LimitKind::UserUniqueRecipients => "user_unique_recipients",
            LimitKind::CustomerDay => "customer_day",
            LimitKind::CustomerPeak => "customer_peak",
            LimitKind::DosConnectionRate => "dos_connection_rate",
            LimitKind::DosConcurrency => "dos_concurrency",
            LimitKind::DosGenericHelo => "dos_generic_helo",
            LimitKind::DosMessagesPerConnection => "dos_messages_per_connection",
        }
    }
}

/// Counts a run reports.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    MessagesGenerated,
    MessagesDelivered,
    MessagesBounced,
    MessagesQueuedAtEnd,
    RecipientsGenerated,
    RecipientsDelivered,
    RecipientsBounced,
    RecipientsQueuedAtEnd,
    /// Replies whose text starts with `reply`, e.g. "550 5.7.1".
    Replies,
    ConnectionsOpened,
    ConnectionsRefused,
    /// P8: messages accepted with the envelope sender rewritten to postmaster@.
    MessagesRewritten,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Expectation {
    /// Shown in `relaysim test` output.
    pub name: Option<String>,
    #[schemars(with = "Check")]
    pub check: Spanned<Check>,
    #[schemars(with = "Option<Metric>")]
    pub metric: Option<Spanned<Metric>>,
    #[schemars(with = "Option<LimitKind>")]
    pub limit: Option<Spanned<LimitKind>>,
    /// Restrict to one tenant.
    #[schemars(with = "Option<String>")]
    pub tenant: Option<Spanned<String>>,
    /// Restrict to one registered user (an address).
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    /// Restrict to one sender.
    #[schemars(with = "Option<String>")]
    pub sender: Option<Spanned<String>>,
    /// With `metric = "replies"`: the reply prefix to count.
    pub reply: Option<String>,
    pub equals: Option<u64>,
    pub at_least: Option<u64>,
    pub at_most: Option<u64>,
    /// With `first_hit`: the inclusive time range.
    #[schemars(with = "Option<[SimDuration; 2]>")]
    pub between: Option<Spanned<[SimDuration; 2]>>,
}
