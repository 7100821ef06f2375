//! The simulated world around the relay: what generates mail and how it is sent.
//! `traffic.rs`: when senders hand messages to their MTAs; `recipients.rs`: recipient
//! pools as numbers; `client.rs`: the MTA's side of the SMTP conversation. Queues,
//! retries, connection caching and DoS protection join here.

pub mod client;
mod conn_slots;
pub mod mta;
pub mod profile;
mod queue_store;
pub mod recipients;
pub mod traffic;
pub mod zipf;
