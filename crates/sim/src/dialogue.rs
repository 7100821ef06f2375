//! `[[dialogue]]`: a scripted client connection, run line by line against the relay
//! at its instant through the relay's SMTP text layer (`relay::smtp`).

use std::collections::BTreeMap;

use relay::smtp::{Client, TextSession};
use relay::time::SimTime;
use relay::{ClientOpening, RecipientId, Relay};
use scenario::Model;
use scenario::model::Dialogue;

use crate::world::recipients::RecipientSpace;

/// What the relay answered in a dialogue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The reply to the connection: the greeting, or the refusal (P6, D2).
    pub greeting: String,
    /// The reply to each line sent, in order. Shorter than the script when the
    /// connection ended first (refused, closed by the relay, or QUIT).
    pub replies: Vec<String>,
}

/// Numbers recipient addresses as the run does; an address only dialogues name
/// gets the next free number, the same one in every dialogue of the run.
pub(crate) struct DialogueAddresses<'a> {
    space: &'a RecipientSpace,
    /// Addresses outside the scenario's numbering, in order of first use.
    extra: BTreeMap<String, RecipientId>,
}

impl<'a> DialogueAddresses<'a> {
    pub(crate) fn new(space: &'a RecipientSpace) -> Self {
        DialogueAddresses {
            space,
            extra: BTreeMap::new(),
        }
    }
}

/// The client of one dialogue: the run's numbering, the scenario's passwords and
/// the dialogue's own.
struct ScriptedClient<'a, 'b> {
    addresses: &'b mut DialogueAddresses<'a>,
    model: &'b Model,
    password: Option<&'b str>,
}

impl Client for ScriptedClient<'_, '_> {
    fn recipient_id(&mut self, address: &str) -> RecipientId {
        if let Some(id) = self.addresses.space.id_of(address) {
            return id;
        }
        let next = RecipientId(self.addresses.space.end() + self.addresses.extra.len() as u32);
        *self
            .addresses
            .extra
            .entry(address.to_string())
            .or_insert(next)
    }

    fn credentials_valid(&self, username: &str, password: &str) -> bool {
        self.model
            .password_accepted(username, password, self.password)
    }
}

/// Runs `dialogue` at `now`: connects, sends each line while the connection is
/// open, and closes it (as QUIT would) if the script did not.
pub(crate) fn run(
    model: &Model,
    dialogue: &Dialogue,
    relay: &mut Relay,
    now: SimTime,
    addresses: &mut DialogueAddresses<'_>,
) -> Transcript {
    let opening = if dialogue.implicit_tls {
        ClientOpening::TlsHandshake
    } else {
        ClientOpening::PlainSmtp
    };
    let mut session =
        match TextSession::connect(relay, now, dialogue.source_ip, dialogue.port, opening) {
            Ok(s) => s,
            Err(refusal) => {
                return Transcript {
                    greeting: refusal.to_string(),
                    replies: Vec::new(),
                };
            }
        };
    let mut client = ScriptedClient {
        addresses,
        model,
        password: dialogue.password.as_deref(),
    };
    let mut transcript = Transcript {
        greeting: relay::Reply::Greeting.to_string(),
        replies: Vec::with_capacity(dialogue.steps.len()),
    };
    for step in &dialogue.steps {
        if !session.is_open() {
            break;
        }
        let answer = session.line(relay, now, &step.command, &mut client);
        transcript.replies.push(answer.to_string());
    }
    session.close(relay, now);
    transcript
}
