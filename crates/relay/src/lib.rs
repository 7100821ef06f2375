//! The relay service core, sans-IO: given the time and one SMTP event of one
//! connection it returns the reply and updates its state. It knows nothing of the
//! event queue; `sim` drives it, and a real SMTP front end could drive the same code.
//!
//! - `config.rs`: the relay's own configuration (limits, assumptions, tenants);
//! - `service.rs`: `Relay`, the shared state of the service (directory, settings with
//!   their propagation to front-ends, quota engine, DoS) and `RelayCommand`s;
//! - `session.rs`: connection set-up and one SMTP connection, command by command;
//! - `smtp.rs`: the same connection as SMTP text (command lines, AUTH exchanges);
//! - `limit.rs`: the vocabulary of limits and their hit/cleared events;
//! - `time.rs`: the virtual clock's integer milliseconds;
//! - `policy.rs`, `ip_ranges.rs`, `propagation.rs`: the P rules;
//! - `quota/`, `limits.rs`: the Q rules;
//! - `directory.rs`: domains and registered users; `reply.rs`: every reply text.

pub mod config;
pub mod directory;
pub mod dos;
pub mod ip_ranges;
pub mod limit;
pub mod limits;
pub mod policy;
pub mod propagation;
pub mod quota;
pub mod reply;
pub mod service;
pub mod session;
pub mod smtp;
pub mod time;

pub use config::{
    AllowedSenders, Billing, DosConfig, PolicyConfig, QuotaConfig, Rate, RelayConfig, RelaySetting,
    TenantConfig, UserLimits, WindowModel,
};
pub use directory::{Directory, DomainId, TenantIx, UserId};
pub use limit::{LimitChange, LimitEvent, LimitKey, LimitKind, Subject};
pub use policy::{HeloName, PresentedSender};
pub use quota::unique::RecipientId;
pub use reply::{HeloVerb, Reply};
pub use service::{Relay, RelayCommand};
pub use session::{ClientOpening, Phase, ReversePath, Session, Transaction};
