//! The client side of SMTP: how a sending mail server talks to the relay and what it
//! makes of the replies (rules M1, M3, M6).
//!
//! A connection: connect, EHLO, STARTTLS and EHLO again when the MTA uses it, AUTH
//! when it has credentials (`open`); then per message as many transactions as its
//! recipients need (`deliver_on`); QUIT (`close`). Per M1, a 4xx defers (the
//! recipient, or every remaining recipient when given to MAIL/DATA or at
//! connect/HELO), a 5xx bounces. Per M6, recipients refused with `452 4.5.3` (too many recipients) go in
//! the next transaction on the same connection — except with qmail, whose
//! `qmail-remote` makes one transaction per delivery: they wait for its next retry. Per M3, the MTA puts at most its
//! recipients-per-transaction limit in one transaction.

use std::net::IpAddr;

use relay::policy::RelayedSender;
use relay::time::{SimDuration, SimTime};
use relay::{
    ClientOpening, HeloName, HeloVerb, PresentedSender, RecipientId, Relay, Reply, Session,
};
use smallvec::SmallVec;

use super::mta::MessageTag;
use crate::{Observation, Observer};
use scenario::model::{Mta, TlsMode};
use scenario::values::{DomainName, EnvelopeSender};

/// A sending mail server's identity and SMTP behaviour towards the relay.
#[derive(Clone, Debug)]
pub struct MtaClient {
    pub source_ip: IpAddr,
    pub helo: String,
    /// P12: the relay's classification of `helo`, made once (see [`MtaClient::greet_as`]).
    pub helo_class: HeloName,
    pub port: u16,
    pub tls: TlsMode,
    /// How it opens the dialogue: EHLO, or HELO for a client without ESMTP (qmail's
    /// `qmail-remote` without TLS). STARTTLS needs EHLO (RFC 3207).
    pub verb: HeloVerb,
    /// P4: `(username, whether the relay accepts the credentials)`.
    pub auth: Option<(String, bool)>,
    /// M3: most recipients per transaction (`u32::MAX`: no limit of its own).
    pub recipients_per_transaction: u32,
    /// M6: recipients refused with 452 go in another transaction (not qmail).
    pub resend_too_many_recipients: bool,
    /// Network round trip to the relay.
    pub round_trip: SimDuration,
    /// Bandwidth to the relay, bytes per millisecond.
    pub bytes_per_milli: f64,
    internal_domains: Vec<DomainName>,
}

impl MtaClient {
    pub fn new(mta: &Mta, params: &super::profile::MtaParams, relay: &Relay) -> Self {
        MtaClient {
            source_ip: mta.source_ip,
            helo: mta.helo.clone(),
            helo_class: relay.classify_helo(&mta.helo),
            port: mta.port,
            tls: mta.tls,
            verb: if mta.tls == TlsMode::Starttls {
                HeloVerb::Ehlo
            } else {
                params.helo_verb
            },
            auth: mta.auth.as_ref().map(|a| (a.username.clone(), a.valid)),
            recipients_per_transaction: params.recipients_per_transaction,
            resend_too_many_recipients: params.resend_too_many_recipients,
            round_trip: mta.round_trip,
            bytes_per_milli: (mta.bandwidth as f64 / 1000.0).max(1e-9),
            internal_domains: mta.internal_domains.clone(),
        }
    }

    /// The client greets with `helo` from now on (classified by `relay` once).
    pub fn greet_as(&mut self, relay: &Relay, helo: &str) {
        self.helo = helo.to_string();
        self.helo_class = relay.classify_helo(helo);
    }

    /// How long opening a connection takes: TCP and greeting, EHLO, with STARTTLS a
    /// round trip and a TLS handshake (2) and EHLO again, AUTH.
    pub fn setup_time(&self) -> SimDuration {
        let mut trips = 2;
        if self.tls == TlsMode::Starttls {
            trips += 4;
        } else if self.tls == TlsMode::Implicit {
            trips += 2;
        }
        if self.auth.is_some() {
            trips += 1;
        }
        SimDuration::from_millis(self.round_trip.as_millis() * trips)
    }

    /// How long sending the content of a message of `size` bytes takes, once.
    pub fn transfer_time(&self, size: u64) -> SimDuration {
        SimDuration::from_millis((size as f64 / self.bytes_per_milli).ceil() as u64)
    }

    /// How long delivering a message whose content takes `transfer`
    /// ([`MtaClient::transfer_time`]) in `transactions` transactions takes
    /// (PIPELINING: MAIL and RCPTs in one round trip, DATA one, the content and the
    /// final dot one).
    pub fn delivery_time(&self, transfer: SimDuration, transactions: u32) -> SimDuration {
        let transactions = u64::from(transactions.max(1));
        SimDuration::from_millis(
            (self.round_trip.as_millis() * 3 + transfer.as_millis()) * transactions,
        )
    }

    /// M5: whether the MTA routes `domain` (or its parent) to another server.
    pub fn routes_elsewhere(&self, domain: &DomainName) -> bool {
        self.internal_domains.iter().any(|d| domain.is_within(d))
    }
}

/// An envelope sender of the scenario, with the relay's reading of it (Q3, Q8)
/// made once: it never changes during a run.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// Its number in the run's list of envelope senders.
    pub id: u32,
    pub address: EnvelopeSender,
    pub presented: PresentedSender,
}

impl Envelope {
    pub fn new(id: u32, address: EnvelopeSender, relay: &Relay) -> Self {
        let presented = relay.present_sender(address.reverse_path());
        Envelope {
            id,
            address,
            presented,
        }
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
    pub fn of_refusal(reply: Reply) -> Fate {
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
    /// Q3: the registered user counted, by address and by number.
    pub counted_user: Option<&'a str>,
    pub user: Option<relay::UserId>,
    /// P8: the domain of `postmaster@<domain>` the envelope sender was rewritten to.
    pub postmaster_domain: Option<(relay::DomainId, &'a str)>,
    pub source_ip: IpAddr,
    pub helo: &'a str,
    pub envelope_from: &'a EnvelopeSender,
    /// `envelope_from`'s number among the run's envelope senders (fixed for a run).
    pub envelope: u32,
    pub recipients: &'a [RecipientId],
    /// The transaction's final reply: DATA's, or the refusal that ended it.
    pub reply: Reply,
    /// Every reply of the transaction in the order given: MAIL FROM's, then RCPT
    /// TO's to each of `recipients`, then DATA's or (when no recipient was
    /// accepted) RSET's. The replies are observed here, not one by one
    /// ([`Observation::replies`]).
    pub replies: &'a [Reply],
}

impl<'a> TransactionTrace<'a> {
    /// RCPT TO's reply to each of `recipients` (within `replies`).
    #[inline]
    pub fn rcpt_replies(&self) -> &'a [Reply] {
        &self.replies[1..1 + self.recipients.len()]
    }
}

/// Where a connection reports what the relay did: the run's observer, and the
/// message (`tag`) and connection number the observations count under.
pub struct Reporting<'o, O: Observer> {
    pub out: &'o mut O,
    pub tag: MessageTag,
    pub connection: u64,
}

impl<O: Observer> Reporting<'_, O> {
    #[inline]
    fn connection(&mut self, now: SimTime, opened: bool, replies: &[Reply]) {
        let tag = self.tag;
        self.out.observe(
            now,
            &Observation::Connection {
                tag,
                opened,
                replies,
            },
        );
    }

    #[inline]
    fn transaction(&mut self, now: SimTime, trace: &TransactionTrace<'_>) {
        let (tag, connection) = (self.tag, self.connection);
        self.out.observe(
            now,
            &Observation::Transaction {
                tag,
                connection,
                trace,
            },
        );
    }
}

/// Buffers reused across attempts, so an attempt does not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    remaining: Vec<usize>,
    next: Vec<usize>,
    chunk: Vec<RecipientId>,
    /// The transaction's replies (`TransactionTrace::replies`).
    replies: Vec<Reply>,
}

/// How a connection attempt ended when it did not give a usable session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    /// P6: nothing listens on the port, or the client's TLS opening does not match
    /// it (plain SMTP on 465, implicit TLS on 25/587).
    Refused,
    /// D1: 421 at connect or HELO. M1: a site failure — Postfix defers the whole
    /// delivery and skips the destination until its next queue run.
    SiteFailure,
    /// Any other refusal before MAIL (501 at HELO, 535 at AUTH, …): the delivery gets
    /// this fate.
    Refusal(Fate),
}

/// Opens a connection in `session`, one that has ended: connect, EHLO, STARTTLS and
/// EHLO again, AUTH, as the client is configured. On `Err` the session has ended.
pub fn open(
    relay: &mut Relay,
    now: SimTime,
    client: &MtaClient,
    session: &mut Session,
    report: &mut Reporting<'_, impl Observer>,
) -> Result<(), ConnectFailure> {
    let opening = match client.tls {
        TlsMode::Implicit => ClientOpening::TlsHandshake,
        TlsMode::None | TlsMode::Starttls => ClientOpening::PlainSmtp,
    };
    if let Err(reply) = relay.connect_into(session, now, client.source_ip, client.port, opening) {
        if reply.code() == 0 {
            // P6: refused, or TLS failed before SMTP (validation prevents it).
            report.connection(now, false, &[]);
            return Err(ConnectFailure::Refused);
        }
        report.connection(now, false, &[reply]);
        return Err(ConnectFailure::SiteFailure);
    }
    // Greeting, EHLO, STARTTLS, EHLO, AUTH, and QUIT's reply if one failed.
    let mut replies = SmallVec::<[Reply; 6]>::new();
    replies.push(Reply::Greeting);
    let greeted = greet(relay, now, client, session, &mut replies);
    if greeted.is_err() && session.is_open() {
        replies.push(session.end(relay, now));
    }
    report.connection(now, true, &replies);
    match greeted {
        Ok(()) => Ok(()),
        Err(Reply::TryAgainLater { .. }) => Err(ConnectFailure::SiteFailure),
        Err(reply) => Err(ConnectFailure::Refusal(Fate::of_refusal(reply))),
    }
}

/// Ends a connection with QUIT (unless the relay already closed it), leaving the
/// ended session in place for the next [`open`]. The reply is counted under no
/// message: the connection may have carried many.
pub fn close(relay: &mut Relay, now: SimTime, session: &mut Session) {
    // A session the relay closed already answers QUIT with its 421 and changes
    // nothing.
    let _closing = session.end(relay, now);
}

/// What one delivery on a connection took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// SMTP transactions used (M6: more than one when the relay said 452).
    pub transactions: u32,
    /// Transactions accepted after DATA.
    pub accepted: u32,
    /// Recipients sent with RCPT TO.
    pub rcpts_sent: u32,
}

/// Delivers one message from `from` to `recipients` on an open session at `now`. On
/// return `fates[i]` is the fate of `recipients[i]`. If the relay closes the
/// connection (421), the remaining recipients are deferred and `session.is_open()`
/// is false.
#[allow(clippy::too_many_arguments)]
pub fn deliver_on(
    relay: &mut Relay,
    now: SimTime,
    session: &mut Session,
    client: &MtaClient,
    from: &Envelope,
    recipients: &[RecipientId],
    fates: &mut Vec<Fate>,
    scratch: &mut Scratch,
    report: &mut Reporting<'_, impl Observer>,
) -> DeliveryStats {
    fates.clear();
    fates.resize(recipients.len(), Fate::Deferred);
    let mut stats = DeliveryStats::default();
    let Scratch {
        remaining,
        next,
        chunk,
        replies,
    } = scratch;
    // The recipients still to send, by their place in `recipients`. The first
    // transaction's are all of them in order (`0..n`): it reads them from
    // `recipients` itself, and `remaining` is filled only for a second one (M3, M6).
    let mut first = true;
    remaining.clear();
    while session.is_open() {
        let left = if first {
            recipients.len()
        } else {
            remaining.len()
        };
        if left == 0 {
            break;
        }
        // The place in `recipients` of the `k`-th recipient still to send.
        let place = |k: usize| if first { k } else { remaining[k] };
        let take = left.min(client.recipients_per_transaction as usize);
        stats.transactions += 1;
        // `settled`: the reply is copied below, and a call's reply is best not read
        // back whole (its doc).
        let mail = session
            .mail_from_presented(relay, now, from.presented)
            .settled();
        // Q8, Q3: who the relay charged and counted, also when it refused MAIL.
        let attribution = session.last_attribution().copied();
        replies.clear();
        replies.push(mail);
        if !mail.is_positive() {
            // M1: a refusal at MAIL applies to every remaining recipient.
            (0..left).for_each(|k| fates[place(k)] = Fate::of_refusal(mail));
            let transaction = EndedTransaction {
                attribution,
                recipients: &[],
                replies,
                reply: mail,
            };
            trace_with(relay, now, client, from, &transaction, report);
            break;
        }
        let chunk: &[RecipientId] = if first {
            &recipients[..take]
        } else {
            chunk.clear();
            chunk.extend((0..take).map(|k| recipients[place(k)]));
            chunk
        };
        session.rcpt_to_each(relay, now, chunk, |reply| replies.push(reply));
        stats.rcpts_sent += take as u32;
        // Those accepted wait for DATA's reply; 452s go in the next transaction (M6);
        // any other refusal is their fate (M1).
        next.clear();
        let mut accepted = 0;
        for (k, &reply) in replies[1..].iter().enumerate() {
            if reply.is_positive() {
                accepted += 1;
            } else if reply == Reply::TooManyRecipients && client.resend_too_many_recipients {
                next.push(place(k));
            } else {
                fates[place(k)] = Fate::of_refusal(reply);
            }
        }
        let carried = next.len();
        if take < left {
            next.extend((take..left).map(place));
        }
        let final_reply = if accepted == 0 {
            let last_rcpt = *replies.last().expect("a transaction has a recipient");
            replies.push(session.rset(relay, now));
            last_rcpt
        } else {
            let data = session.data(relay, now).settled();
            let fate = if data.is_positive() {
                stats.accepted += 1;
                Fate::Delivered
            } else {
                Fate::of_refusal(data)
            };
            for (k, reply) in replies[1..].iter().enumerate() {
                if reply.is_positive() {
                    fates[place(k)] = fate;
                }
            }
            replies.push(data);
            data
        };
        let transaction = EndedTransaction {
            attribution,
            recipients: chunk,
            replies,
            reply: final_reply,
        };
        trace_with(relay, now, client, from, &transaction, report);
        if accepted == 0 && carried == take {
            // M6 made no progress (every recipient 452): defer them rather than loop.
            next.drain(..carried)
                .for_each(|i| fates[i] = Fate::Deferred);
        }
        std::mem::swap(remaining, next);
        first = false;
    }
    stats
}

/// EHLO, STARTTLS + EHLO, AUTH as the client is configured. `Err` carries the fate
/// of every recipient when the session fails before MAIL (M1).
fn greet(
    relay: &mut Relay,
    now: SimTime,
    client: &MtaClient,
    session: &mut Session,
    replies: &mut SmallVec<[Reply; 6]>,
) -> Result<(), Reply> {
    let mut step = |reply: Reply| {
        replies.push(reply);
        if reply.is_positive() {
            Ok(())
        } else {
            Err(reply)
        }
    };
    step(session.helo_classified(relay, now, client.verb, client.helo_class))?;
    if client.tls == TlsMode::Starttls {
        step(session.starttls(relay, now))?;
        step(session.helo_classified(relay, now, client.verb, client.helo_class))?;
    }
    if let Some((username, valid)) = &client.auth {
        step(session.auth(relay, username, *valid))?;
    }
    Ok(())
}

/// One transaction as [`deliver_on`] gave it, before it is traced.
struct EndedTransaction<'a> {
    attribution: Option<relay::Transaction>,
    recipients: &'a [RecipientId],
    /// MAIL FROM's reply, each RCPT TO's, DATA's or RSET's (only MAIL FROM's when
    /// it refused).
    replies: &'a [Reply],
    reply: Reply,
}

fn trace_with(
    relay: &Relay,
    now: SimTime,
    client: &MtaClient,
    from: &Envelope,
    transaction: &EndedTransaction<'_>,
    report: &mut Reporting<'_, impl Observer>,
) {
    let directory = relay.directory();
    let attribution = transaction.attribution;
    report.transaction(
        now,
        &TransactionTrace {
            time: now,
            charged_tenant: attribution.map(|a| a.tenant.0 as usize),
            counted_user: attribution
                .and_then(|a| a.counted_user)
                .map(|u| directory.user_address(u)),
            user: attribution.and_then(|a| a.counted_user),
            postmaster_domain: attribution.and_then(|a| match a.relayed {
                RelayedSender::Postmaster(d) => Some((d, directory.domain_name(d))),
                RelayedSender::AsPresented => None,
            }),
            source_ip: client.source_ip,
            helo: &client.helo,
            envelope_from: &from.address,
            envelope: from.id,
            recipients: transaction.recipients,
            reply: transaction.reply,
            replies: transaction.replies,
        },
    );
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;

    use super::*;
    use scenario::Model;

    /// Reports into nothing.
    fn silent(out: &mut ()) -> Reporting<'_, ()> {
        Reporting {
            out,
            tag: MessageTag {
                sender: 0,
                tenant: 0,
                mta: 0,
                notification: false,
            },
            connection: 1,
        }
    }

    fn scenario(extra: &str) -> Model {
        scenario_of("qmail", extra)
    }

    fn scenario_of(profile: &str, extra: &str) -> Model {
        Model::parse(
            "t.toml",
            &format!(
                r#"
[simulation]
name = "t"
duration = "1h"
[relay.policy]
max_recipients_per_transaction = 2
[[tenant]]
id = "acme"
licences = 1000
primary_domain = "acme.example"
[[tenant.relay_setting]]
name = "office"
allowed_senders = "domain_addresses"
only_listed_ips = true
ip_ranges = [{{ cidr = "192.0.2.0/24" }}]
[[mta]]
id = "m"
tenant = "acme"
profile = "{profile}"
source_ip = "192.0.2.1"
helo = "mx.acme.example"
{extra}
"#
            ),
        )
        .unwrap()
    }

    fn client_of(s: &Model, relay: &Relay) -> MtaClient {
        MtaClient::new(
            &s.mtas[0],
            &crate::world::profile::MtaParams::for_mta(&s.mtas[0]),
            relay,
        )
    }

    /// One message to recipients 0..5 through an MTA of `profile`, against a relay that
    /// takes 2 recipients per transaction: the delivery's stats and the fates.
    fn deliver_five(profile: &str) -> (DeliveryStats, Vec<Fate>) {
        let s = scenario_of(profile, "");
        let mut relay = Relay::new(&s.relay, &s.tenants, ChaCha12Rng::seed_from_u64(1));
        let client = client_of(&s, &relay);
        let now = SimTime::ZERO;
        let mut session = Session::ended();
        open(&mut relay, now, &client, &mut session, &mut silent(&mut ())).unwrap();
        let from = Envelope::new(1, "app@acme.example".parse().unwrap(), &relay);
        let rcpts: Vec<RecipientId> = (0..5).map(RecipientId).collect();
        let (mut fates, mut scratch) = (Vec::new(), Scratch::default());
        let stats = deliver_on(
            &mut relay,
            now,
            &mut session,
            &client,
            &from,
            &rcpts,
            &mut fates,
            &mut scratch,
            &mut silent(&mut ()),
        );
        close(&mut relay, now, &mut session);
        assert!(!session.is_open(), "closed in place");
        (stats, fates)
    }

    /// M6: recipients refused with 452 go in the next transaction on the connection
    /// (Exim: up to 100 recipients per transaction, so every remaining one is sent
    /// again each time: 5 + 3 + 1 RCPT commands).
    #[test]
    fn m06_too_many_recipients_continue_in_another_transaction() {
        let (stats, fates) = deliver_five("exim");
        assert_eq!((stats.transactions, stats.accepted), (3, 3));
        assert!(fates.iter().all(|f| *f == Fate::Delivered));
        assert_eq!(stats.rcpts_sent, 9);
    }

    /// M6 does not apply to qmail: `qmail-remote` makes one transaction per delivery,
    /// so the recipients refused with 452 are deferred to qmail-send's next retry.
    #[test]
    fn m06_qmail_defers_what_the_relay_refused_with_452() {
        let (stats, fates) = deliver_five("qmail");
        assert_eq!(
            (stats.transactions, stats.accepted, stats.rcpts_sent),
            (1, 1, 5)
        );
        assert_eq!(
            fates,
            [
                Fate::Delivered,
                Fate::Delivered,
                Fate::Deferred,
                Fate::Deferred,
                Fate::Deferred
            ]
        );
    }

    /// M5: an MTA routes its internal domains (and their subdomains) elsewhere.
    #[test]
    fn m05_internal_domains_are_routed_elsewhere() {
        let s = scenario("internal_domains = [\"corp.example\"]");
        let relay = Relay::new(&s.relay, &s.tenants, ChaCha12Rng::seed_from_u64(1));
        let client = client_of(&s, &relay);
        let d = |name: &str| scenario::values::DomainName(name.into());
        assert!(client.routes_elsewhere(&d("corp.example")));
        assert!(client.routes_elsewhere(&d("eu.corp.example")));
        assert!(!client.routes_elsewhere(&d("notcorp.example")));
        assert!(!client.routes_elsewhere(&d("partners.example")));
    }

    /// M1: a 5xx before MAIL bounces, a 421 is a site failure.
    #[test]
    fn m01_refusals_before_mail() {
        let s = scenario("");
        let mut relay = Relay::new(&s.relay, &s.tenants, ChaCha12Rng::seed_from_u64(1));
        let mut client = client_of(&s, &relay);
        client.greet_as(&relay, "bad name");
        // One session serves every attempt: a failed opening leaves it ended.
        let mut session = Session::ended();
        let attempt = |relay: &mut Relay, client: &MtaClient, session: &mut Session| {
            open(relay, SimTime::ZERO, client, session, &mut silent(&mut ()))
        };
        assert!(matches!(
            attempt(&mut relay, &client, &mut session),
            Err(ConnectFailure::Refusal(Fate::Bounced))
        ));
        assert!(!session.is_open());
        client.port = 2525;
        assert!(matches!(
            attempt(&mut relay, &client, &mut session),
            Err(ConnectFailure::Refused)
        ));
    }
}
