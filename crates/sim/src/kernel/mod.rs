//! The simulation kernel: virtual time, one totally ordered event queue, and
//! per-entity random streams. It knows nothing about mail; the world (`crate::sim`)
//! defines the event type and drives the relay core with it.

mod exponential;
mod queue;
mod rng;
mod tournament;

pub use exponential::standard_exponential;
pub use queue::EventQueue;
pub use rng::{EntityKind, Fnv1a, RandomStreams};
