//! relaysim: a deterministic discrete-event simulator of the Google Workspace SMTP
//! relay service. See ARCHITECTURE.md for the map.

pub mod cli;
pub mod expectations;
pub mod kernel;
pub mod output;
pub mod relay;
pub mod scenario;
pub mod sim;
pub mod sweep;
pub mod time;
pub mod world;
