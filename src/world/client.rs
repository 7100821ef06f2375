//! The client side of SMTP: how a sending mail server talks to the relay and what it
//! makes of the replies (RULEBOOK M1, M3, M6).
//!
//! One delivery attempt of one message is one connection: connect, EHLO, STARTTLS
//! and EHLO again when the MTA uses it, AUTH when it has credentials, then as many
//! transactions as the recipients need, QUIT. Per M1, a 4xx defers (the recipient,
//! or every remaining recipient when given to MAIL/DATA or at connect/HELO), a 5xx
//! bounces. Per M6, recipients refused with `452 4.5.3` (too many recipients) go in
//! the next transaction on the same connection. Per M3, the MTA puts at most its
//! recipients-per-transaction limit in one transaction.

use std::net::IpAddr;

use crate::relay::policy::RelayedSender;
use crate::relay::{RecipientId, Relay, Reply, Session};
use crate::scenario::values::{DomainName, EnvelopeSender};
use crate::scenario::{Mta, MtaProfile, TlsMode};
use crate::time::SimTime;

/// A sending mail server's identity and SMTP behaviour towards the relay.
#[derive(Clone, Debug)]
pub struct MtaClient {
    pub source_ip: IpAddr,
    pub helo: String,
    pub port: u16,
    pub tls: TlsMode,
    /// P4: `(username, whether the relay accepts the credentials)`.
    pub auth: Option<(String, bool)>,
    /// M3: most recipients per transaction (`u32::MAX`: no limit of its own).
    pub recipients_per_transaction: u32,
    internal_domains: Vec<DomainName>,
}

impl MtaClient {
    pub fn new(mta: &Mta) -> Self {
        MtaClient {
            source_ip: *mta.source_ip.get_ref(),
            helo: mta.helo.clone(),
            port: mta.port,
            tls: *mta.tls.get_ref(),
            auth: mta
                .auth
                .as_ref()
                .map(|a| (a.get_ref().username.clone(), a.get_ref().valid)),
            recipients_per_transaction: mta
                .overrides
                .recipients_per_transaction
                .unwrap_or_else(|| default_recipients_per_transaction(mta.profile))
                .max(1),
            internal_domains: mta.internal_domains.clone(),
        }
    }

    /// M5: whether the MTA routes `domain` (or its parent) to another server.
    pub fn routes_elsewhere(&self, domain: &DomainName) -> bool {
        self.internal_domains.iter().any(|d| domain.is_within(d))
    }
}

/// M3: Postfix (and macOS Server, Postfix inside) sends at most 50 recipients per
/// transaction (`default_destination_recipient_limit`); the other profiles have no
/// documented limit of their own and rely on the server's 452 (M6).
fn default_recipients_per_transaction(profile: MtaProfile) -> u32 {
    match profile {
        MtaProfile::Postfix | MtaProfile::MacosServer => 50,
        _ => u32::MAX,
    }
}

/// What happened to one recipient in one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    Deferred,
    Bounced,
}

impl Fate {
    /// M1: what a refusal means for what it refused.
    fn of_refusal(reply: Reply) -> Fate {
        if reply.is_permanent() {
            Fate::Bounced
        } else {
            Fate::Deferred
        }
    }
}

/// One SMTP transaction, as the trace (`transactions.csv`) shows it.
#[derive(Clone, Copy, Debug)]
pub struct TransactionTrace<'a> {
    pub time: SimTime,
    /// Q8: the customer charged, when the relay attributed the transaction.
    pub charged_tenant: Option<usize>,
    /// Q3: the registered user counted.
    pub counted_user: Option<&'a str>,
    /// P8: the domain of `postmaster@<domain>` the envelope sender was rewritten to.
    pub postmaster_domain: Option<&'a str>,
    pub source_ip: IpAddr,
    pub helo: &'a str,
    pub envelope_from: &'a EnvelopeSender,
    pub recipients: &'a [RecipientId],
    pub rcpt_replies: &'a [Reply],
    /// The transaction's final reply: DATA's, or the refusal that ended it.
    pub reply: Reply,
}

/// Watches a delivery attempt (the driver counts and records from it).
pub trait SessionObserver {
    /// Every reply the relay gave.
    fn reply(&mut self, reply: Reply);
    /// The connection was opened (`true`) or refused.
    fn connection(&mut self, opened: bool);
    /// A transaction ended (accepted or not).
    fn transaction(&mut self, trace: &TransactionTrace<'_>);
}

/// Buffers reused across attempts, so an attempt does not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    remaining: Vec<usize>,
    next: Vec<usize>,
    chunk: Vec<RecipientId>,
    pending: Vec<usize>,
    rcpt_replies: Vec<Reply>,
}

/// One delivery attempt of a message from `from` to `recipients` at `now`. On return
/// `fates[i]` is the fate of `recipients[i]`.
#[allow(clippy::too_many_arguments)]
pub fn deliver(
    relay: &mut Relay,
    now: SimTime,
    client: &MtaClient,
    from: &EnvelopeSender,
    recipients: &[RecipientId],
    fates: &mut Vec<Fate>,
    scratch: &mut Scratch,
    observer: &mut impl SessionObserver,
) {
    fates.clear();
    fates.resize(recipients.len(), Fate::Deferred);
    let mut session = match relay.connect(now, client.source_ip, client.port) {
        Ok(s) => s,
        Err(_) => {
            // P6: no SMTP conversation at all; M1: the MTA tries again later.
            observer.connection(false);
            return;
        }
    };
    observer.connection(true);
    observer.reply(Reply::Greeting);
    if let Err(fate) = greet(relay, now, client, &mut session, observer) {
        fates.iter_mut().for_each(|f| *f = fate);
        observer.reply(session.quit(relay, now));
        return;
    }
    let Scratch {
        remaining,
        next,
        chunk,
        pending,
        rcpt_replies,
    } = scratch;
    remaining.clear();
    remaining.extend(0..recipients.len());
    while !remaining.is_empty() {
        let take = remaining
            .len()
            .min(client.recipients_per_transaction as usize);
        let mail = session.mail_from(relay, now, from);
        observer.reply(mail);
        if !mail.is_positive() {
            // M1: a refusal at MAIL applies to every remaining recipient.
            for &i in remaining.iter() {
                fates[i] = Fate::of_refusal(mail);
            }
            trace_with(relay, now, client, from, None, &[], &[], mail, observer);
            break;
        }
        let attribution = session.transaction().copied();
        chunk.clear();
        pending.clear();
        rcpt_replies.clear();
        next.clear();
        for &i in &remaining[..take] {
            let reply = session.rcpt_to(relay, now, recipients[i]);
            observer.reply(reply);
            chunk.push(recipients[i]);
            rcpt_replies.push(reply);
            if reply.is_positive() {
                pending.push(i);
            } else if reply == Reply::TooManyRecipients {
                next.push(i); // M6: the next transaction takes it.
            } else {
                fates[i] = Fate::of_refusal(reply);
            }
        }
        let carried = next.len();
        next.extend_from_slice(&remaining[take..]);
        let final_reply = if pending.is_empty() {
            let reset = session.rset(relay, now);
            observer.reply(reset);
            *rcpt_replies.last().expect("a transaction has a recipient")
        } else {
            let data = session.data(relay, now);
            observer.reply(data);
            let fate = if data.is_positive() {
                Fate::Delivered
            } else {
                Fate::of_refusal(data)
            };
            pending.iter().for_each(|&i| fates[i] = fate);
            data
        };
        trace_with(
            relay,
            now,
            client,
            from,
            attribution,
            chunk,
            rcpt_replies,
            final_reply,
            observer,
        );
        if pending.is_empty() && carried == take {
            // M6 made no progress (every recipient 452): defer them rather than loop.
            next.drain(..carried)
                .for_each(|i| fates[i] = Fate::Deferred);
        }
        std::mem::swap(remaining, next);
    }
    observer.reply(session.quit(relay, now));
}

/// EHLO, STARTTLS + EHLO, AUTH as the client is configured. `Err` carries the fate
/// of every recipient when the session fails before MAIL (M1).
fn greet(
    relay: &mut Relay,
    now: SimTime,
    client: &MtaClient,
    session: &mut Session,
    observer: &mut impl SessionObserver,
) -> Result<(), Fate> {
    let mut step = |reply: Reply| {
        observer.reply(reply);
        if reply.is_positive() {
            Ok(())
        } else {
            Err(Fate::of_refusal(reply))
        }
    };
    step(session.helo_command(relay, now, &client.helo))?;
    if client.tls == TlsMode::Starttls {
        step(session.starttls(relay, now))?;
        step(session.helo_command(relay, now, &client.helo))?;
    }
    if let Some((username, valid)) = &client.auth {
        step(session.auth(relay, username, *valid))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn trace_with(
    relay: &Relay,
    now: SimTime,
    client: &MtaClient,
    from: &EnvelopeSender,
    attribution: Option<crate::relay::Transaction>,
    recipients: &[RecipientId],
    rcpt_replies: &[Reply],
    reply: Reply,
    observer: &mut impl SessionObserver,
) {
    let directory = relay.directory();
    observer.transaction(&TransactionTrace {
        time: now,
        charged_tenant: attribution.map(|a| a.tenant.0 as usize),
        counted_user: attribution
            .and_then(|a| a.counted_user)
            .map(|u| directory.user_address(u)),
        postmaster_domain: attribution.and_then(|a| match a.relayed {
            RelayedSender::Postmaster(d) => Some(directory.domain_name(d)),
            RelayedSender::AsPresented => None,
        }),
        source_ip: client.source_ip,
        helo: &client.helo,
        envelope_from: from,
        recipients,
        rcpt_replies,
        reply,
    });
}
