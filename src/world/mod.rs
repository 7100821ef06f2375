//! The simulated world around the relay: what generates mail. So far the senders'
//! traffic; client MTAs with queues, retries and connections join here.

pub mod traffic;
