//! The relay service core, sans-IO: given the time and one SMTP event of one
//! connection it returns the reply and updates its state. It knows nothing of the
//! event queue; `sim` drives it, and a real SMTP front end could drive the same code.
//!
//! - `service.rs`: `Relay`, the shared state of the service (directory, settings with
//!   their propagation to front-ends, quota engine) and connection set-up;
//! - `session.rs`: one SMTP connection, command by command;
//! - `policy.rs`, `ip_ranges.rs`, `propagation.rs`: the P rules;
//! - `quota/`, `limits.rs`: the Q rules;
//! - `directory.rs`: domains and registered users; `reply.rs`: every reply text.

pub mod directory;
pub mod dos;
pub mod ip_ranges;
pub mod limits;
pub mod policy;
pub mod propagation;
pub mod quota;
pub mod reply;
pub mod service;
pub mod session;

#[cfg(test)]
mod session_tests;

pub use directory::{Directory, DomainId, TenantIx, UserId};
pub use quota::unique::RecipientId;
pub use quota::{LimitChange, LimitEvent, LimitKey, Subject};
pub use reply::Reply;
pub use service::Relay;
pub use session::{Session, Transaction};
