//! The vocabulary of limits: which limit (`LimitKind`), whose (`Subject`), and the
//! events that say a limit was hit or cleared (rows of `limit_hits.csv`).

use std::net::IpAddr;

use crate::directory::{TenantIx, UserId};
use crate::reply::Reply;
use crate::time::SimTime;

/// A limit that can be hit (a `limit` value in limit_hits.csv).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    pub const ALL: [LimitKind; 8] = [
        LimitKind::UserMessages,
        LimitKind::UserUniqueRecipients,
        LimitKind::CustomerDay,
        LimitKind::CustomerPeak,
        LimitKind::DosConnectionRate,
        LimitKind::DosConcurrency,
        LimitKind::DosGenericHelo,
        LimitKind::DosMessagesPerConnection,
    ];

    /// The limit named `name` (as [`LimitKind::name`] writes it).
    pub fn from_name(name: &str) -> Option<LimitKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

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

    /// Whether the limit counts per registered user (Q1, Q2).
    pub fn is_per_user(self) -> bool {
        matches!(
            self,
            LimitKind::UserMessages | LimitKind::UserUniqueRecipients
        )
    }

    /// The rulebook's ID of the rule that sets the limit.
    pub fn rule(self) -> &'static str {
        match self {
            LimitKind::UserMessages => "Q1",
            LimitKind::UserUniqueRecipients => "Q2",
            LimitKind::CustomerDay => "Q4",
            LimitKind::CustomerPeak => "Q5",
            LimitKind::DosConnectionRate | LimitKind::DosConcurrency => "D2",
            LimitKind::DosGenericHelo => "D3",
            LimitKind::DosMessagesPerConnection => "D4",
        }
    }

    /// What the limit counts, after its value: "1,000 *messages per connection*".
    pub fn unit(self) -> &'static str {
        match self {
            LimitKind::UserMessages => "messages per user per day",
            LimitKind::UserUniqueRecipients => "unique recipients per user per day",
            LimitKind::CustomerDay => "recipients per customer per day",
            LimitKind::CustomerPeak => "recipients per customer per peak window",
            LimitKind::DosConnectionRate => "new connections per source IP per period (D2 rate)",
            LimitKind::DosConcurrency => "concurrent connections per source IP",
            LimitKind::DosGenericHelo => "connections per period in the shared generic-HELO pool",
            LimitKind::DosMessagesPerConnection => "messages per connection",
        }
    }
}

/// Whose limit: a registered user's (Q1, Q2), a customer's (Q4, Q5), a source IP's
/// (D2, D4) or the shared pool of generic HELO names (D3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    User(UserId),
    Customer(TenantIx),
    SourceIp(IpAddr),
    GenericHeloPool,
}

/// One limit of one subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LimitKey {
    pub limit: LimitKind,
    pub subject: Subject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LimitChange {
    Hit,
    Cleared,
}

/// A limit state change (a row of `limit_hits.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitEvent {
    pub time: SimTime,
    /// The customer the subject belongs to (`None` for DoS limits).
    pub tenant: Option<TenantIx>,
    pub key: LimitKey,
    pub change: LimitChange,
    /// The refusal the limit gives.
    pub reply: Reply,
    /// Count in the window when the event happened (with reservations on a hit).
    pub used: u64,
    pub limit_value: u64,
    /// Commands (or connections) the limit refused from its hit up to this event:
    /// 1 on a `Hit` (the refusal that hit it), the episode's total on `Cleared`.
    pub refusals: u64,
}
