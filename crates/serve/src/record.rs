//! The run folder of `relaysim serve`, in the columns of `relaysim run`'s, written
//! as things happen (each file flushed, readable while the server runs):
//!
//! - `limit_hits.csv`: every hit and clear;
//! - `transactions.csv`: one row per SMTP transaction, from MAIL FROM to the reply
//!   that ended it: DATA's, a refusal, or the RSET / HELO / QUIT reply of a
//!   transaction the client gave up (empty when the client dropped the
//!   connection). `mta` is empty (the client is a real server) and `tenant` is the
//!   customer charged, empty when the relay refused before attributing (P1, P2, P5 …);
//! - `throughput.csv`: per bucket and tenant charged, written when the bucket ends.
//!   A live relay cannot tell a retry from new mail, so a recipient counts as a
//!   first attempt when its envelope sender had not offered it before; a connection
//!   counts in the tenant of its first attributed transaction, and connections the
//!   relay refused (D2) or that never got that far are in no tenant's row
//!   (`summary.json` counts them all);
//! - `messages.csv`: every accepted message.
//!
//! At shutdown: `limit_episodes.csv`, `summary.json` (the server's totals, with the
//! scenario, horizon, bucket and tenant limits the charts read) and the charts.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use relay::policy::RelayedSender;
use relay::time::SimTime;
use relay::{LimitEvent, TenantIx, Transaction};
use report::clock::Clock;
use report::limit_hits::LimitHitsWriter;
use report::throughput::ThroughputWriter;
use scenario::Model;
use sim::AttemptCounts;
use sim::episodes::Episodes;

use crate::core::Totals;

/// A transaction from its MAIL FROM: what the client asked and what it was told.
#[derive(Debug, Default)]
pub(crate) struct TransactionLog {
    pub from: String,
    pub rcpts: Vec<String>,
    pub rcpt_replies: Vec<String>,
}

/// How a transaction ended.
pub(crate) enum End<'a> {
    /// DATA was answered 250: the message was accepted.
    Delivered(&'a str),
    /// The relay refused it, or the client gave it up (RSET, HELO, QUIT): the reply.
    Reply(&'a str),
    /// The client dropped the connection.
    Dropped,
}

impl End<'_> {
    fn reply(&self) -> &str {
        match self {
            End::Delivered(r) | End::Reply(r) => r,
            End::Dropped => "",
        }
    }
}

/// Where a transaction came from.
pub(crate) struct Origin<'a> {
    pub conn: u64,
    pub ip: IpAddr,
    pub helo: &'a str,
}

pub(crate) struct Recorder {
    model: &'static Model,
    out: PathBuf,
    clock: Clock,
    limits: LimitHitsWriter<'static, File>,
    messages: csv::Writer<File>,
    transactions: csv::Writer<File>,
    throughput: ThroughputWriter<File>,
    episodes: Episodes,
    /// Hashes of (envelope sender, recipient) pairs offered so far: 8 bytes a
    /// pair (a million pairs, some 16 MB with the set's overhead).
    offered: HashSet<u64>,
    /// Open connections already counted in a tenant's `connections_opened`.
    counted_connections: HashSet<u64>,
    pub totals: Totals,
}

impl Recorder {
    pub(crate) fn create(model: &'static Model, out: &Path) -> io::Result<Recorder> {
        std::fs::create_dir_all(out)?;
        let clock = Clock::of(model);
        let create = |name: &str| File::create(out.join(name));
        let limits = LimitHitsWriter::new(create("limit_hits.csv")?, model)?;
        let mut messages = csv::Writer::from_writer(create("messages.csv")?);
        messages.write_record(clock.header(
            &[
                "time_s",
                "connection",
                "source_ip",
                "envelope_from",
                "recipients",
                "size",
            ],
            &["time"],
        ))?;
        messages.flush()?;
        let mut transactions = csv::Writer::from_writer(create("transactions.csv")?);
        transactions.write_record(clock.header(&report::transactions::HEADER, &["time"]))?;
        transactions.flush()?;
        let tenants = model.tenants.iter().map(|t| t.id.clone()).collect();
        let throughput =
            ThroughputWriter::new(create("throughput.csv")?, tenants, model.bucket, clock)?;
        Ok(Recorder {
            model,
            out: out.to_path_buf(),
            clock,
            limits,
            messages,
            transactions,
            throughput,
            episodes: Episodes::new(model.episode_gap),
            offered: HashSet::new(),
            counted_connections: HashSet::new(),
            totals: Totals::default(),
        })
    }

    /// Writes the throughput buckets that ended before `now`.
    pub(crate) fn tick(&mut self, now: SimTime) -> io::Result<()> {
        self.throughput.write_ended(now)
    }

    pub(crate) fn limit_events(&mut self, events: &[LimitEvent]) -> io::Result<()> {
        for e in events {
            if e.change == relay::LimitChange::Hit {
                self.totals.limit_hits += 1;
            }
            self.limits.limit_event(e);
            self.episodes.limit_event(e);
        }
        if events.is_empty() {
            Ok(())
        } else {
            self.limits.flush()
        }
    }

    /// Connection `conn` is gone.
    pub(crate) fn connection_closed(&mut self, conn: u64) {
        self.counted_connections.remove(&conn);
    }

    pub(crate) fn reply(&mut self, text: &str) {
        *self.totals.replies.entry(text.to_string()).or_default() += 1;
    }

    pub(crate) fn message(
        &mut self,
        now: SimTime,
        origin: &Origin<'_>,
        from: &str,
        rcpts: usize,
        size: u64,
    ) -> io::Result<()> {
        self.totals.messages_accepted += 1;
        self.totals.recipients_accepted += rcpts as u64;
        self.totals.bytes_accepted += size;
        let mut row = vec![
            now.to_string(),
            origin.conn.to_string(),
            origin.ip.to_string(),
            from.to_string(),
            rcpts.to_string(),
            size.to_string(),
        ];
        row.extend(self.clock.at(now));
        self.messages.write_record(&row)?;
        self.messages.flush()
    }

    /// A transaction ended with `reply`: its row in `transactions.csv` and its
    /// counts in `throughput.csv`.
    pub(crate) fn transaction(
        &mut self,
        relay: &relay::Relay,
        now: SimTime,
        origin: &Origin<'_>,
        log: &TransactionLog,
        attribution: Option<Transaction>,
        end: &End<'_>,
    ) -> io::Result<()> {
        let reply = end.reply();
        let directory = relay.directory();
        let counted_user = attribution
            .and_then(|a| a.counted_user)
            .map_or("", |u| directory.user_address(u));
        let relayed_from = match attribution.map(|a| a.relayed) {
            Some(RelayedSender::Postmaster(d)) => {
                format!("postmaster@{}", directory.domain_name(d))
            }
            _ => String::new(),
        };
        let rcpt_replies = match log.rcpt_replies.first() {
            Some(first) if log.rcpt_replies.iter().all(|r| r == first) => first.clone(),
            _ => log.rcpt_replies.join(";"),
        };
        let mut row = vec![
            now.to_string(),
            attribution
                .map_or("", |a| self.model.tenant_id(Some(a.tenant)))
                .to_string(),
            String::new(),
            origin.conn.to_string(),
            origin.ip.to_string(),
            origin.helo.to_string(),
            log.from.clone(),
            counted_user.to_string(),
            log.rcpts.join(";"),
            rcpt_replies,
            reply.to_string(),
            relayed_from,
        ];
        row.extend(self.clock.at(now));
        self.transactions.write_record(&row)?;
        self.transactions.flush()?;
        if let Some(a) = attribution {
            self.count(
                now,
                origin.conn,
                a.tenant,
                log,
                matches!(end, End::Delivered(_)),
            );
        }
        Ok(())
    }

    fn count(
        &mut self,
        now: SimTime,
        conn: u64,
        tenant: TenantIx,
        log: &TransactionLog,
        delivered: bool,
    ) {
        let tenant = tenant.0 as usize;
        if self.counted_connections.insert(conn) {
            self.throughput.connection(now, tenant, true);
        }
        let mut counts = AttemptCounts::default();
        for (rcpt, rcpt_reply) in log.rcpts.iter().zip(&log.rcpt_replies) {
            let first = self.offered.insert(pair_hash(&log.from, rcpt));
            counts.first_attempt_rcpts += u64::from(first);
            match rcpt_reply.as_bytes().first() {
                Some(b'2') if delivered => counts.accepted_rcpts += 1,
                Some(b'4') => {
                    counts.deferred_rcpts += 1;
                    counts.newly_deferred_rcpts += u64::from(first);
                }
                Some(b'5') => counts.rejected_rcpts += 1,
                _ => {}
            }
        }
        counts.accepted_msgs = u64::from(delivered && counts.accepted_rcpts > 0);
        self.throughput
            .offered(now, tenant, counts.first_attempt_rcpts as u32);
        self.throughput.attempt(now, tenant, &counts);
    }

    /// Closes the files: `limit_episodes.csv` (limits still hit at `now`, the
    /// horizon, end there), `summary.json`, the rest of `throughput.csv`, and the
    /// charts of the folder. Returns the totals.
    pub(crate) fn finish(mut self, relay: &mut relay::Relay, now: SimTime) -> io::Result<Totals> {
        for e in relay.still_hit(now) {
            self.episodes.still_hit(&e);
        }
        // The last bucket is written whole, as `relaysim run` writes up to its horizon.
        let horizon = SimTime(now.as_millis().max(1));
        self.throughput.finish(horizon)?.sync_all()?;
        self.messages.flush()?;
        self.transactions.flush()?;
        self.limits.flush()?;
        let episodes = self.episodes.finish();
        let mut csv = Vec::new();
        report::limit_episodes::write(&mut csv, self.model, &episodes)?;
        report::AtomicFile::write_all(&self.out.join("limit_episodes.csv"), &csv)?;
        let summary = Summary {
            scenario: &self.model.name,
            start: self.model.start.map(|s| s.to_iso()),
            horizon_s: horizon.as_millis() as f64 / 1000.0,
            bucket_s: self.model.bucket.as_secs_f64(),
            totals: &self.totals,
            tenants: self
                .model
                .tenants
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let limits = report::summary::Limits::at_start(self.model, TenantIx(i as u32));
                    (t.id.clone(), TenantSummary { limits })
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&summary).map_err(io::Error::other)?;
        report::AtomicFile::write_all(&self.out.join("summary.json"), &json)?;
        report::charts::draw_served(&self.out)?;
        Ok(self.totals)
    }
}

/// `summary.json` of a served run.
#[derive(serde::Serialize)]
struct Summary<'a> {
    scenario: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    /// Relay time from the start to the shutdown, in seconds.
    horizon_s: f64,
    bucket_s: f64,
    #[serde(flatten)]
    totals: &'a Totals,
    tenants: std::collections::BTreeMap<String, TenantSummary>,
}

#[derive(serde::Serialize)]
struct TenantSummary {
    limits: report::summary::Limits,
}

/// A fixed hash of an (envelope sender, recipient) pair: only ever looked up, so
/// the output never depends on the set's order.
fn pair_hash(from: &str, rcpt: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (from, rcpt).hash(&mut h);
    h.finish()
}
