//! One SMTP connection to the relay, command by command. Each method takes the
//! relay's shared state and the time, and returns the exact reply; the rules are
//! applied in the order a real session meets them:
//!
//! - connect (in `Relay::connect`): P6 ports, D2 DoS per source IP;
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
//! A 421 (D1) closes the connection: `is_open` turns false and every later command
//! is answered with the same 421. A session must end with `quit`, which tells DoS
//! protection the connection is gone (D2 concurrency).

use std::net::IpAddr;

use super::directory::{TenantIx, UserId};
use super::policy::{
    self, ConnectionFacts, HeloName, PresentedSender, RelayedSender, allowed_sender,
    charged_tenant, match_setting,
};
use super::quota::Reservation;
use super::quota::unique::RecipientId;
use super::reply::{Reply, Sequence};
use super::service::Relay;
use crate::scenario::values::EnvelopeSender;
use crate::time::SimTime;

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

pub struct Session {
    ip: IpAddr,
    frontend: u32,
    tls: bool,
    open: bool,
    /// D3 is checked at the first HELO of the connection only.
    helo_checked: bool,
    /// D4: messages accepted on this connection.
    messages: u32,
    helo: Option<HeloName>,
    auth_user: Option<UserId>,
    transaction: Option<Transaction>,
    reservation: Reservation,
}

impl Session {
    pub(super) fn new(ip: IpAddr, frontend: u32, tls: bool) -> Self {
        Session {
            ip,
            frontend,
            tls,
            open: true,
            helo_checked: false,
            messages: 0,
            helo: None,
            auth_user: None,
            transaction: None,
            reservation: Reservation::default(),
        }
    }

    /// False once the relay has closed the connection (D1).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The open transaction's attribution (after a successful MAIL FROM).
    pub fn transaction(&self) -> Option<&Transaction> {
        self.transaction.as_ref()
    }

    /// HELO/EHLO. P12: an empty or malformed argument gets `501 5.5.4`. Like RFC
    /// 5321, it also ends an open transaction.
    pub fn helo_command(&mut self, relay: &mut Relay, now: SimTime, name: &str) -> Reply {
        if !self.open {
            return Reply::TryAgainLater { at_helo: true };
        }
        self.end_transaction(relay, now);
        match policy::classify_helo(name, &relay.policy.generic_helo_names, &relay.directory) {
            HeloName::Invalid => Reply::InvalidHelo,
            class => {
                if class == HeloName::Generic && !self.helo_checked {
                    self.helo_checked = true;
                    if let Err(reply) = relay.dos.generic_helo(now, &mut relay.rng) {
                        self.close(relay, now);
                        return reply;
                    }
                }
                self.helo_checked = true;
                self.helo = Some(class);
                Reply::HeloOk
            }
        }
    }

    /// STARTTLS: TLS is on from here; the client greets again.
    pub fn starttls(&mut self, relay: &mut Relay, now: SimTime) -> Reply {
        if !self.open {
            return Reply::TryAgainLater { at_helo: false };
        }
        if self.tls {
            return Reply::BadSequence(Sequence::TlsAlreadyActive);
        }
        if self.helo.is_none() {
            return Reply::BadSequence(Sequence::HeloFirst);
        }
        self.end_transaction(relay, now);
        self.tls = true;
        self.helo = None;
        Reply::ReadyForTls
    }

    /// AUTH. P4: only over TLS (`530 5.7.0`); the identity must be a registered user
    /// and the credentials right, else `535 5.7.8`. The identity is never the user
    /// counted (Q3).
    pub fn auth(&mut self, relay: &mut Relay, username: &str, credentials_valid: bool) -> Reply {
        if !self.open {
            return Reply::TryAgainLater { at_helo: false };
        }
        if self.helo.is_none() {
            return Reply::BadSequence(Sequence::HeloFirst);
        }
        if !self.tls {
            return Reply::MustStartTls;
        }
        match relay.directory.user(username) {
            Some(user) if credentials_valid => {
                self.auth_user = Some(user);
                Reply::AuthAccepted
            }
            _ => Reply::BadCredentials,
        }
    }

    /// MAIL FROM: decides who is charged and counted, and whether the sender may relay.
    pub fn mail_from(&mut self, relay: &mut Relay, now: SimTime, sender: &EnvelopeSender) -> Reply {
        if !self.open {
            return Reply::TryAgainLater { at_helo: false };
        }
        let Some(helo) = self.helo else {
            return Reply::BadSequence(Sequence::HeloFirst);
        };
        if self.transaction.is_some() {
            return Reply::BadSequence(Sequence::NestedMail);
        }
        if let Err(reply) = relay.dos.message_allowed(now, self.ip, self.messages) {
            self.close(relay, now);
            return reply;
        }
        let directory = &relay.directory;
        let presented = match sender {
            EnvelopeSender::Null => PresentedSender::Null,
            EnvelopeSender::Address(a) => PresentedSender::Address {
                domain: directory.owned_domain_of_address(&a.0),
                user: directory.user(&a.0),
            },
        };
        let facts = ConnectionFacts {
            ip: self.ip,
            tls: self.tls,
            auth_user: self.auth_user,
            helo,
        };
        // Q8: nobody to charge is the first cause of "Invalid credentials" (G3).
        let Some(tenant) = charged_tenant(presented, &facts, directory) else {
            return Reply::InvalidCredentials;
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
        if let Err(reply) =
            relay
                .quota
                .check_message(now, tenant, counted_user, &mut self.reservation)
        {
            return reply;
        }
        self.transaction = Some(Transaction {
            tenant,
            counted_user,
            relayed,
            null_sender: presented == PresentedSender::Null,
        });
        Reply::SenderOk
    }

    /// RCPT TO.
    pub fn rcpt_to(&mut self, relay: &mut Relay, now: SimTime, rcpt: RecipientId) -> Reply {
        if !self.open {
            return Reply::TryAgainLater { at_helo: false };
        }
        let Some(txn) = self.transaction else {
            return Reply::BadSequence(Sequence::MailFirst);
        };
        let accepted = self.reservation.recipients().len();
        // P9 [assumption on the reply]: the empty sender takes one recipient.
        if txn.null_sender && accepted >= 1 {
            return Reply::TooManyRecipients;
        }
        // P10 [assumption]: recipients per transaction.
        if accepted >= relay.policy.max_recipients_per_transaction.get() as usize {
            return Reply::TooManyRecipients;
        }
        match relay
            .quota
            .check_recipient(now, rcpt, &mut self.reservation)
        {
            Ok(()) => Reply::RecipientOk,
            Err(reply) => reply,
        }
    }

    /// DATA (and the message after it): accepted and counted (Q12).
    pub fn data(&mut self, relay: &mut Relay, now: SimTime) -> Reply {
        if !self.open {
            return Reply::TryAgainLater { at_helo: false };
        }
        if self.transaction.is_none() {
            return Reply::BadSequence(Sequence::MailFirst);
        }
        if self.reservation.recipients().is_empty() {
            return Reply::BadSequence(Sequence::RcptFirst);
        }
        relay.quota.commit(now, &mut self.reservation);
        self.transaction = None;
        self.messages += 1;
        Reply::MessageAccepted
    }

    /// RSET: the open transaction ends, uncounted.
    pub fn rset(&mut self, relay: &mut Relay, now: SimTime) -> Reply {
        self.end_transaction(relay, now);
        Reply::ResetOk
    }

    /// QUIT (or a dropped connection): the open transaction ends, uncounted.
    pub fn quit(mut self, relay: &mut Relay, now: SimTime) -> Reply {
        if !self.open {
            return Reply::TryAgainLater { at_helo: false };
        }
        self.close(relay, now);
        Reply::Closing
    }

    /// The connection ends: its transaction is released, DoS protection counts it gone.
    fn close(&mut self, relay: &mut Relay, now: SimTime) {
        self.end_transaction(relay, now);
        if self.open {
            self.open = false;
            relay.dos.disconnect(now, self.ip);
        }
    }

    fn end_transaction(&mut self, relay: &mut Relay, now: SimTime) {
        if self.transaction.take().is_some() {
            relay.quota.release(now, &mut self.reservation);
        }
    }
}
