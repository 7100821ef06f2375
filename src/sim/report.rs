//! What a run counted, per tenant, per sender and overall, and the conservation check
//! ("nothing lost": generated = delivered + bounced + queued at the end).

use crate::scenario::Scenario;
use crate::time::SimTime;

/// Fates of messages (or of recipients).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcomes {
    pub generated: u64,
    pub delivered: u64,
    pub bounced: u64,
    pub queued_at_end: u64,
}

impl Outcomes {
    /// Nothing lost: every generated item ended delivered, bounced or queued.
    pub fn is_conserved(&self) -> bool {
        self.generated == self.delivered + self.bounced + self.queued_at_end
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub messages: Outcomes,
    pub recipients: Outcomes,
}

impl Counts {
    fn add_generated(&mut self, recipients: u32) {
        self.messages.generated += 1;
        self.recipients.generated += u64::from(recipients);
    }

    fn all_queued(&mut self) {
        self.messages.queued_at_end =
            self.messages.generated - self.messages.delivered - self.messages.bounced;
        self.recipients.queued_at_end =
            self.recipients.generated - self.recipients.delivered - self.recipients.bounced;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityReport {
    pub id: String,
    pub counts: Counts,
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub horizon: SimTime,
    pub events_processed: u64,
    /// FNV-1a-64 of the event trace: equal fingerprints, equal runs.
    pub fingerprint: u64,
    pub total: Counts,
    pub tenants: Vec<EntityReport>,
    pub senders: Vec<EntityReport>,
}

impl RunReport {
    pub(super) fn new(scenario: &Scenario, seed: u64, horizon: SimTime) -> Self {
        let entities = |ids: Vec<&String>| {
            ids.into_iter()
                .map(|id| EntityReport {
                    id: id.clone(),
                    counts: Counts::default(),
                })
                .collect()
        };
        RunReport {
            scenario: scenario.name().to_string(),
            seed,
            horizon,
            events_processed: 0,
            fingerprint: 0,
            total: Counts::default(),
            tenants: entities(scenario.tenants.iter().map(|t| t.id.get_ref()).collect()),
            senders: entities(scenario.senders.iter().map(|s| s.id.get_ref()).collect()),
        }
    }

    pub(super) fn message_generated(&mut self, tenant: usize, sender: usize, recipients: u32) {
        self.total.add_generated(recipients);
        self.tenants[tenant].counts.add_generated(recipients);
        self.senders[sender].counts.add_generated(recipients);
    }

    pub(super) fn finish_with_all_queued(&mut self) {
        self.total.all_queued();
        for e in self.tenants.iter_mut().chain(self.senders.iter_mut()) {
            e.counts.all_queued();
        }
    }

    /// Checks "nothing lost" for every entity; the error names the first violation.
    pub fn check_conservation(&self) -> Result<(), String> {
        let all = std::iter::once(("total", &self.total)).chain(
            self.tenants
                .iter()
                .chain(&self.senders)
                .map(|e| (e.id.as_str(), &e.counts)),
        );
        for (id, counts) in all {
            for (what, o) in [
                ("messages", counts.messages),
                ("recipients", counts.recipients),
            ] {
                if !o.is_conserved() {
                    return Err(format!(
                        "{id}: {what} generated {} ≠ delivered {} + bounced {} + queued {}",
                        o.generated, o.delivered, o.bounced, o.queued_at_end
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn fingerprint_hex(&self) -> String {
        format!("{:016x}", self.fingerprint)
    }
}
