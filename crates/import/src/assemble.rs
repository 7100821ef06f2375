//! Records into messages. A message is open from its first `Queued` record until it
//! leaves the queue (`Removed`, or each of its counted recipients sent or failed)
//! or the log ends; only open messages are held, so memory follows the queue, not
//! the file.

use std::collections::BTreeMap;

use crate::stamp::Stamp;
use crate::{ImportError, Outcome, Record};

/// One message as it was first queued, with every recipient the log tried.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub at: Stamp,
    /// The envelope sender; empty for `<>`.
    pub from: String,
    pub size: Option<u64>,
    /// The recipients tried, in the order first seen.
    pub recipients: Vec<String>,
    /// The recipient count the arrival line gave (Postfix's `nrcpt`).
    pub count: Option<u32>,
    pub host: String,
}

impl Message {
    /// How many recipients it had: those tried, or the count when none was.
    pub fn recipient_count(&self) -> u64 {
        if self.recipients.is_empty() {
            u64::from(self.count.unwrap_or(1))
        } else {
            self.recipients.len() as u64
        }
    }
}

/// A relay's reply to one recipient, as the log saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedReply<'a> {
    pub at: Stamp,
    /// The envelope sender, when the message's arrival is in the log.
    pub from: &'a str,
    pub rcpt: &'a str,
    pub outcome: Outcome,
    pub reply: &'a str,
}

/// Where messages and replies go as they are complete.
pub trait Sink {
    fn message(&mut self, m: &Message) -> Result<(), ImportError>;
    fn reply(&mut self, r: &ObservedReply<'_>) -> Result<(), ImportError>;
}

/// Lines skipped of one kind: how many, and where the first few were.
#[derive(Clone, Debug, Default)]
pub struct Skipped {
    pub count: u64,
    pub examples: Vec<String>,
}

/// What the logs held, and what was left out.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub files: usize,
    pub lines: u64,
    pub messages: u64,
    pub recipients: u64,
    pub replies: u64,
    pub first: Option<Stamp>,
    pub last: Option<Stamp>,
    /// Messages still queued when the log ended (written with what was seen).
    pub still_queued: u64,
    /// Messages queued before the first time stamp (logs out of time order), left
    /// out: not in `messages`.
    pub before_start: u64,
    /// Replies logged before the first time stamp, left out: not in `replies`.
    pub replies_before_start: u64,
    /// Messages per sending host.
    pub hosts: BTreeMap<String, u64>,
    /// Messages per envelope sender domain (`<>` not counted).
    pub domains: BTreeMap<String, u64>,
    /// Lines understood but about nothing kept, by kind.
    pub ignored: BTreeMap<&'static str, u64>,
    /// Lines not understood, by kind.
    pub unknown: BTreeMap<&'static str, Skipped>,
}

/// How many places of each kind of unknown line the summary keeps.
const EXAMPLES: usize = 3;

impl Summary {
    pub fn unknown(&mut self, kind: &'static str, place: impl FnOnce() -> String) {
        let s = self.unknown.entry(kind).or_default();
        s.count += 1;
        if s.examples.len() < EXAMPLES {
            s.examples.push(place());
        }
    }

    pub fn seen(&mut self, at: Stamp) {
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }
}

struct Open {
    message: Message,
    /// Recipients sent or failed for good.
    done: Vec<String>,
}

#[derive(Default)]
pub struct Assembler {
    open: BTreeMap<String, Open>,
    pub summary: Summary,
}

impl Assembler {
    pub fn record(&mut self, record: Record, sink: &mut impl Sink) -> Result<(), ImportError> {
        match record {
            Record::Queued {
                id,
                at,
                from,
                size,
                recipients,
                host,
            } => {
                // Postfix logs a message again at each retry: the first is its arrival.
                self.open.entry(id).or_insert_with(|| Open {
                    message: Message {
                        at,
                        from,
                        size,
                        recipients: Vec::new(),
                        count: recipients,
                        host,
                    },
                    done: Vec::new(),
                });
            }
            Record::Attempt {
                id,
                at,
                rcpt,
                outcome,
                reply,
            } => {
                let open = self.open.get_mut(&id);
                if let Some(reply) = &reply {
                    self.summary.replies += 1;
                    let from = open.as_ref().map_or("", |o| o.message.from.as_str());
                    sink.reply(&ObservedReply {
                        at,
                        from,
                        rcpt: &rcpt,
                        outcome,
                        reply,
                    })?;
                }
                let Some(open) = self.open.get_mut(&id) else {
                    self.summary.unknown(
                        "a delivery of a message queued before the log began",
                        || id.clone(),
                    );
                    return Ok(());
                };
                if !open.message.recipients.contains(&rcpt) {
                    open.message.recipients.push(rcpt.clone());
                }
                if outcome != Outcome::Deferred && !open.done.contains(&rcpt) {
                    open.done.push(rcpt);
                }
                let all_done = open
                    .message
                    .count
                    .is_some_and(|n| n > 0 && open.done.len() >= n as usize);
                if all_done {
                    self.close(&id, sink)?;
                }
            }
            // A message closed when its recipients were done is closed already.
            Record::Removed { id } => self.close(&id, sink)?,
        }
        Ok(())
    }

    fn close(&mut self, id: &str, sink: &mut impl Sink) -> Result<(), ImportError> {
        if let Some(open) = self.open.remove(id) {
            self.emit(&open.message, sink)?;
        }
        Ok(())
    }

    fn emit(&mut self, m: &Message, sink: &mut impl Sink) -> Result<(), ImportError> {
        self.summary.messages += 1;
        self.summary.recipients += m.recipient_count();
        *self.summary.hosts.entry(m.host.clone()).or_default() += 1;
        if let Some((_, domain)) = m.from.rsplit_once('@') {
            *self.summary.domains.entry(domain.to_string()).or_default() += 1;
        }
        sink.message(m)
    }

    /// The log ended: the messages still open are written as they were seen.
    pub fn finish(mut self, sink: &mut impl Sink) -> Result<Summary, ImportError> {
        let open = std::mem::take(&mut self.open);
        self.summary.still_queued = open.len() as u64;
        // In arrival order, so the output does not depend on queue ids.
        let mut rest: Vec<Open> = open.into_values().collect();
        rest.sort_by_key(|o| o.message.at);
        for o in rest {
            self.emit(&o.message, sink)?;
        }
        Ok(self.summary)
    }
}
