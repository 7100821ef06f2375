//! relaysim: a deterministic discrete-event simulator of the Google Workspace SMTP
//! relay service. See ARCHITECTURE.md for the map.
//!
//! This crate is the `relaysim` command line (`cli`); the layers are the workspace's
//! member crates, re-exported here under their own names for the integration tests
//! and benchmarks: `relay` (the sans-IO relay core, with `time`), `scenario` (the
//! file format and the compiled model), `sim` (kernel, world, driver, expectations,
//! sweeps) and `report` (the run folder's files and charts).

pub mod allocator;
pub mod cli;

pub use relay;
pub use relay::time;
pub use report;
pub use scenario;
pub use sim;
pub use sim::{kernel, world};
