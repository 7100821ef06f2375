//! One SMTP connection to the relay, command by command. Each method takes the
//! relay's shared state and the time, and returns the exact reply; the rules are
//! applied in the order a real session meets them:
//!
//! - connect (`Relay::connect`, here): P6 ports, D2 DoS per source IP;
//! - HELO/EHLO: P12 (argument valid, generic or a customer's name), D3 (a generic
//!   name draws on the shared DoS pool);
//! - STARTTLS: TLS on (the client must EHLO again, RFC 3207);
//! - AUTH: P4 (only over TLS; credentials of a registered user);
//! - MAIL FROM: D4 (messages per connection), Q8 (the customer charged), P11 (this front-end's settings), P7/P2
//!   (the setting that authenticates the connection), P5 (require TLS), P1/P8
//!   (allowed senders, rewriting), Q3 (the user counted), Q13, Q1;
//! - RCPT TO: P9 (empty sender: one recipient), P10 (recipients per transaction),
//!   Q2, Q4, Q5 (Q12 order);
//! - DATA: the message is accepted and counted (Q12);
//! - RSET, QUIT: the open transaction ends, uncounted.
//!
//! The session's phase is a type ([`Phase`]): connected, greeted, in a transaction,
//! closed. A 421 (D1) closes the connection: every later command is answered with
//! that same 421. A session must end with `quit` (or `end`, in place), which
//! releases its transaction and tells DoS protection the connection is gone (D2
//! concurrency, with its `cleared` event): a driver whose client goes away without
//! QUIT ends the session for it. One dropped open keeps its reservations and its
//! place in the concurrency count.

use std::net::IpAddr;

use rand::RngExt;

use crate::directory::{TenantIx, UserId};
use crate::dos::OpenConnection;
use crate::policy::{
    self, ConnectionFacts, HeloName, PresentedSender, RelayedSender, allowed_sender,
    charged_tenant, match_setting,
};
use crate::quota::Reservation;
use crate::quota::unique::RecipientId;
use crate::reply::{HeloVerb, Reply, Sequence};
use crate::service::Relay;
use crate::time::SimTime;

/// What a client sends first on a new connection (P6): SMTP in plain text (it may
/// STARTTLS later), or a TLS handshake (implicit TLS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientOpening {
    PlainSmtp,
    TlsHandshake,
}

/// The reverse path of MAIL FROM: the empty sender `<>` or an address (lower-case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReversePath<'a> {
    Null,
    Address(&'a str),
}

/// Attribution of an open transaction: who is charged, who is counted (the trace
/// shows both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// Q8: the customer whose limits the transaction counts against.
    pub tenant: TenantIx,
    /// Q3: the registered user counted, the envelope sender as presented (`None`: no
    /// per-user limit applies).
    pub counted_user: Option<UserId>,
    /// P8: the envelope sender passed on.
    pub relayed: RelayedSender,
    /// P9: the transaction has the empty envelope sender.
    pub null_sender: bool,
}

/// Where a connection stands in the SMTP dialogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connected (or after STARTTLS): HELO/EHLO comes next.
    Connected,
    /// HELO/EHLO accepted; no transaction open.
    Greeted { helo: HeloName },
    /// MAIL FROM accepted: recipients and DATA come next.
    InTransaction {
        helo: HeloName,
        transaction: Transaction,
    },
    /// The relay closed the connection with this 421 (D1); every later command gets it.
    Closed { reply: Reply },
}

/// One connection to the relay. End it with [`Session::quit`].
#[must_use = "a session holds a connection open until `quit`"]
#[derive(Debug)]
pub struct Session {
    ip: IpAddr,
    frontend: u32,
    tls: bool,
    phase: Phase,
    /// D2: counts this connection at its source IP until the session ends.
    connection: Option<OpenConnection>,
    /// D3 is checked at the first HELO of the connection only.
    helo_checked: bool,
    /// D4: messages accepted on this connection.
    messages: u32,
    auth_user: Option<UserId>,
    reservation: Reservation,
    /// Who the last MAIL FROM charged and counted, once the relay decided it: kept
    /// when the quota refuses (Q13, Q1), so the trace names whose limit refused.
    attribution: Option<Transaction>,
}

impl Relay {
    /// A client connects from `ip` to `port`, opening as `opening` says. P6
    /// [assumption]: a port the relay does not listen on is refused; on an
    /// implicit-TLS port (465) the relay expects a TLS handshake first and the session
    /// is in TLS from the start; on the other ports it greets in plain text and TLS
    /// comes with STARTTLS. A client that opens the other way (plain SMTP on 465, a
    /// TLS handshake on 25/587) never gets an SMTP dialogue. D2: DoS protection may
    /// answer 421 and close. P11 [assumption]: the connection lands on a front-end
    /// drawn uniformly at random. End every session with `quit`.
    pub fn connect(
        &mut self,
        now: SimTime,
        ip: IpAddr,
        port: u16,
        opening: ClientOpening,
    ) -> Result<Session, Reply> {
        let mut session = Session::ended();
        self.connect_into(&mut session, now, ip, port, opening)?;
        Ok(session)
    }

    /// [`Relay::connect`] into `session`, one that has ended ([`Session::ended`], or
    /// closed by [`Session::end`]): a driver that keeps its sessions where they live
    /// opens and ends them there, without moving them (or allocating). A session
    /// still open is ended first, as if its client had quit: its reservations and
    /// its D2 place are given back, never lost.
    pub fn connect_into(
        &mut self,
        session: &mut Session,
        now: SimTime,
        ip: IpAddr,
        port: u16,
        opening: ClientOpening,
    ) -> Result<(), Reply> {
        if session.is_open() {
            session.end(self, now);
        }
        // A plain loop over the few ports: `<[u16]>::contains` is a call to a
        // vectorised search, 1 % of a run that connects per message.
        #[allow(clippy::manual_contains)]
        let listed = |ports: &[u16]| ports.iter().any(|&p| p == port);
        if !listed(&self.policy.ports) {
            return Err(Reply::ConnectionRefused);
        }
        let implicit = listed(&self.policy.implicit_tls_ports);
        if implicit != (opening == ClientOpening::TlsHandshake) {
            return Err(Reply::TlsHandshakeFailed);
        }
        let connection = self.dos.connect(now, ip)?;
        let frontend = self.rng.random_range(0..self.frontends);
        let mut list = std::mem::take(&mut session.reservation).into_list();
        if list.capacity() == 0 {
            list = self.spare_lists.pop().unwrap_or_default();
        }
        *session = Session {
            ip,
            frontend,
            tls: implicit,
            phase: Phase::Connected,
            connection: Some(connection),
            reservation: Reservation::reusing(list),
            ..Session::ended()
        };
        Ok(())
    }
}

impl Relay {
    /// P12: what a HELO/EHLO argument says about the client (the relay's generic
    /// names and directory never change during a run, so the answer for a name is
    /// fixed).
    pub fn classify_helo(&self, name: &str) -> HeloName {
        policy::classify_helo(name, &self.policy.generic_helo_names, &self.directory)
    }

    /// Q3, Q8: the envelope sender of MAIL FROM resolved against the directory (its
    /// customer domain, whether it is a registered user); fixed for an address.
    pub fn present_sender(&self, sender: ReversePath<'_>) -> PresentedSender {
        match sender {
            ReversePath::Null => PresentedSender::Null,
            ReversePath::Address(a) => PresentedSender::Address {
                domain: self.directory.owned_domain_of_address(a),
                user: self.directory.user(a),
            },
        }
    }
}

impl Session {
    /// A session that has ended without having begun: the place for
    /// [`Relay::connect_into`] to open one. Until then every command gets the
    /// `221` of a closed connection.
    pub fn ended() -> Session {
        Session {
            ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            frontend: 0,
            tls: false,
            phase: Phase::Closed {
                reply: Reply::Closing,
            },
            connection: None,
            helo_checked: false,
            messages: 0,
            auth_user: None,
            reservation: Reservation::default(),
            attribution: None,
        }
    }

    /// False once the relay has closed the connection (D1).
    pub fn is_open(&self) -> bool {
        !matches!(self.phase, Phase::Closed { .. })
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether TLS is on.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The open transaction's attribution (after a successful MAIL FROM).
    pub fn transaction(&self) -> Option<&Transaction> {
        match &self.phase {
            Phase::InTransaction { transaction, .. } => Some(transaction),
            _ => None,
        }
    }

    /// Who the last MAIL FROM was charged to and counted as (Q8, Q3): set once the
    /// relay has decided it, so also after a refusal by a limit at MAIL FROM (Q13,
    /// Q1); `None` when MAIL FROM was refused before (P1, P2, P5, P7, Q8).
    pub fn last_attribution(&self) -> Option<&Transaction> {
        self.attribution.as_ref()
    }

    /// HELO or EHLO (`verb`). P12: an empty or malformed argument gets `501 5.5.4`.
    /// Like RFC 5321, it also ends an open transaction. D1: a DoS refusal names the
    /// command sent, `(HELO)` or `(EHLO)`.
    pub fn helo_command(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        verb: HeloVerb,
        name: &str,
    ) -> Reply {
        let class = relay.classify_helo(name);
        self.helo_classified(relay, now, verb, class)
    }

    /// [`Session::helo_command`] with the argument already classified by
    /// [`Relay::classify_helo`]: a driver whose client always greets with the same
    /// name classifies it once, not on every connection.
    pub fn helo_classified(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        verb: HeloVerb,
        class: HeloName,
    ) -> Reply {
        if let Phase::Closed { reply } = self.phase {
            return reply;
        }
        self.end_transaction(relay, now);
        if class == HeloName::Invalid {
            return Reply::InvalidHelo;
        }
        if class == HeloName::Generic && !self.helo_checked {
            self.helo_checked = true;
            if let Err(reply) = relay.dos.generic_helo(now, verb) {
                self.close(relay, now, reply);
                return reply;
            }
        }
        self.helo_checked = true;
        self.phase = Phase::Greeted { helo: class };
        Reply::HeloOk
    }

    /// STARTTLS: TLS is on from here; the client greets again.
    pub fn starttls(&mut self, relay: &mut Relay, now: SimTime) -> Reply {
        match self.phase {
            Phase::Closed { reply } => return reply,
            _ if self.tls => return Reply::BadSequence(Sequence::TlsAlreadyActive),
            Phase::Connected => return Reply::BadSequence(Sequence::HeloFirst),
            Phase::Greeted { .. } | Phase::InTransaction { .. } => {}
        }
        self.end_transaction(relay, now);
        self.tls = true;
        self.phase = Phase::Connected;
        Reply::ReadyForTls
    }

    /// AUTH. P4: only over TLS (`530 5.7.0`); the identity must be a registered user
    /// and the credentials right, else `535 5.7.8`. The identity is never the user
    /// counted (Q3).
    pub fn auth(&mut self, relay: &mut Relay, username: &str, credentials_valid: bool) -> Reply {
        if let Err(reply) = self.auth_allowed() {
            return reply;
        }
        match relay.directory.user(username) {
            Some(user) if credentials_valid => {
                self.auth_user = Some(user);
                Reply::AuthAccepted
            }
            _ => Reply::BadCredentials,
        }
    }

    /// Whether AUTH may start now: after HELO/EHLO and (P4) over TLS only
    /// (`530 5.7.0`). A text client asks before its credentials are exchanged.
    pub fn auth_allowed(&self) -> Result<(), Reply> {
        match self.phase {
            Phase::Closed { reply } => Err(reply),
            Phase::Connected => Err(Reply::BadSequence(Sequence::HeloFirst)),
            Phase::Greeted { .. } | Phase::InTransaction { .. } if !self.tls => {
                Err(Reply::MustStartTls)
            }
            Phase::Greeted { .. } | Phase::InTransaction { .. } => Ok(()),
        }
    }

    /// MAIL FROM: decides who is charged and counted, and whether the sender may relay.
    pub fn mail_from(&mut self, relay: &mut Relay, now: SimTime, sender: ReversePath<'_>) -> Reply {
        let presented = relay.present_sender(sender);
        self.mail_from_presented(relay, now, presented)
    }

    /// [`Session::mail_from`] with the envelope sender already resolved by
    /// [`Relay::present_sender`] (a driver resolves each of its senders once).
    pub fn mail_from_presented(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        presented: PresentedSender,
    ) -> Reply {
        let helo = match self.phase {
            Phase::Closed { reply } => return reply,
            Phase::Connected => return Reply::BadSequence(Sequence::HeloFirst),
            Phase::InTransaction { .. } => return Reply::BadSequence(Sequence::NestedMail),
            Phase::Greeted { helo } => helo,
        };
        self.attribution = None;
        if let Err(reply) = relay.dos.message_allowed(now, self.ip, self.messages) {
            self.close(relay, now, reply);
            return reply;
        }
        let directory = &relay.directory;
        let facts = ConnectionFacts {
            ip: self.ip,
            tls: self.tls,
            auth_user: self.auth_user,
            helo,
        };
        // Q8: nobody to charge is the first cause of "Invalid credentials" (G3).
        let Some(tenant) = charged_tenant(presented, &facts, directory) else {
            return Reply::InvalidCredentials(self.ip);
        };
        let settings = relay.settings_of(tenant, self.frontend, now);
        let require_both = relay.policy.require_both_auth_methods;
        let setting = match match_setting(settings, tenant, &facts, directory, require_both) {
            Ok(s) => s,
            Err(reply) => return reply,
        };
        // P5: require TLS.
        if setting.require_tls && !self.tls {
            return Reply::MustStartTls;
        }
        let relayed = match allowed_sender(setting, tenant, presented, &facts, directory) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        // Q3: the envelope sender as presented, if it is a registered user.
        let counted_user = match presented {
            PresentedSender::Address { user, .. } => user,
            PresentedSender::Null => None,
        };
        let transaction = Transaction {
            tenant,
            counted_user,
            relayed,
            null_sender: presented == PresentedSender::Null,
        };
        self.attribution = Some(transaction);
        if let Err(reply) =
            relay
                .quota
                .check_message(now, tenant, counted_user, &mut self.reservation)
        {
            return reply;
        }
        self.phase = Phase::InTransaction { helo, transaction };
        Reply::SenderOk
    }

    /// RCPT TO.
    pub fn rcpt_to(&mut self, relay: &mut Relay, now: SimTime, rcpt: RecipientId) -> Reply {
        let mut reply = Reply::RecipientOk;
        self.rcpt_to_each(relay, now, std::slice::from_ref(&rcpt), |r| reply = r);
        reply
    }

    /// RCPT TO for each of `rcpts` in turn at `now`, each reply handed to `reply`:
    /// the replies [`Session::rcpt_to`] gives one by one, with what does not change
    /// between a transaction's recipients looked at once (a driver that sends a
    /// transaction's RCPTs together, as a pipelining client does).
    pub fn rcpt_to_each(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        rcpts: &[RecipientId],
        mut reply: impl FnMut(Reply),
    ) {
        let txn = match self.phase {
            Phase::Closed { reply: closed } => {
                rcpts.iter().for_each(|_| reply(closed));
                return;
            }
            Phase::Connected | Phase::Greeted { .. } => {
                rcpts
                    .iter()
                    .for_each(|_| reply(Reply::BadSequence(Sequence::MailFirst)));
                return;
            }
            Phase::InTransaction { transaction, .. } => transaction,
        };
        let max_recipients = relay.policy.max_recipients_per_transaction.get() as usize;
        let own_refusal = |accepted: usize| {
            // P9 [assumption on the reply]: the empty sender takes one recipient.
            // P10 [assumption]: recipients per transaction.
            ((txn.null_sender && accepted >= 1) || accepted >= max_recipients)
                .then_some(Reply::TooManyRecipients)
        };
        relay
            .quota
            .check_recipients(now, rcpts, &mut self.reservation, own_refusal, |r| {
                reply(match r {
                    Ok(()) => Reply::RecipientOk,
                    Err(refusal) => refusal,
                });
            });
    }

    /// Whether DATA would be taken now (a transaction with a recipient): a network
    /// front end asks before it answers `354` and reads the message.
    pub fn data_ready(&self) -> Result<(), Reply> {
        match self.phase {
            Phase::Closed { reply } => Err(reply),
            Phase::Connected | Phase::Greeted { .. } => {
                Err(Reply::BadSequence(Sequence::MailFirst))
            }
            Phase::InTransaction { .. } if self.reservation.recipients().is_empty() => {
                Err(Reply::BadSequence(Sequence::RcptFirst))
            }
            Phase::InTransaction { .. } => Ok(()),
        }
    }

    /// DATA (and the message after it): accepted and counted (Q12).
    pub fn data(&mut self, relay: &mut Relay, now: SimTime) -> Reply {
        if let Err(reply) = self.data_ready() {
            return reply;
        }
        let Phase::InTransaction { helo, .. } = self.phase else {
            unreachable!("data_ready checked the phase");
        };
        relay.quota.commit(now, &mut self.reservation);
        self.phase = Phase::Greeted { helo };
        self.messages += 1;
        Reply::MessageAccepted
    }

    /// RSET: the open transaction ends, uncounted.
    pub fn rset(&mut self, relay: &mut Relay, now: SimTime) -> Reply {
        if let Phase::Closed { reply } = self.phase {
            return reply;
        }
        self.end_transaction(relay, now);
        Reply::ResetOk
    }

    /// QUIT (or a dropped connection): the open transaction ends, uncounted.
    pub fn quit(mut self, relay: &mut Relay, now: SimTime) -> Reply {
        let reply = self.end(relay, now);
        if relay.spare_lists.len() < crate::service::SPARE_LISTS {
            relay.spare_lists.push(self.reservation.into_list());
        }
        reply
    }

    /// [`Session::quit`], leaving the ended session where it is (its memory then
    /// serves the next [`Relay::connect_into`]).
    pub fn end(&mut self, relay: &mut Relay, now: SimTime) -> Reply {
        match self.phase {
            Phase::Closed { reply } => reply,
            _ => {
                self.close(relay, now, Reply::Closing);
                Reply::Closing
            }
        }
    }

    /// The connection ends with `reply`: its transaction is released, DoS protection
    /// counts it gone.
    fn close(&mut self, relay: &mut Relay, now: SimTime, reply: Reply) {
        self.end_transaction(relay, now);
        self.phase = Phase::Closed { reply };
        if let Some(connection) = self.connection.take() {
            relay.dos.disconnect(now, self.ip, connection);
        }
    }

    fn end_transaction(&mut self, relay: &mut Relay, now: SimTime) {
        if let Phase::InTransaction { helo, .. } = self.phase {
            relay.quota.release(now, &mut self.reservation);
            self.phase = Phase::Greeted { helo };
        }
    }
}
