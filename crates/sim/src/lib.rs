//! The simulation around the relay core: the kernel (virtual clock, event queue,
//! random streams), the world (senders, recipients, client MTAs), the driver that
//! runs them against a `relay::Relay` to the horizon, the run report, expectations
//! and capacity sweeps.

mod dialogue;
mod driver;
pub mod episodes;
pub mod expectations;
pub mod hourly;
pub mod kernel;
pub mod numbers;
pub mod observe;
mod report;
pub mod swarm;
pub mod sweep;
pub mod world;

pub use dialogue::Transcript;
pub use driver::{RunError, TimerOrder, bucket_count, run, run_with, run_with_tables};
pub use observe::{Observation, Observer};
pub use report::{
    Connections, Counts, Delays, EntityReport, Outcomes, ReplyCounts, RunReport, full_range,
};
pub use world::mta::{AttemptCounts, RecipientFates};
pub use world::zipf::ZipfTables;
