//! The relay service core (sans-IO). So far: the effective quota limits of a tenant
//! (Q1–Q6). The SMTP session state machine (policy, P rules), the quota windows and
//! DoS protection join here; none of it knows the event queue.

pub mod limits;
