//! `transactions.csv.zst` (with `--trace`; `transactions.csv` with `--trace-format
//! csv`): one row per SMTP transaction, streamed, zstd-compressed by default (a
//! month of a large tenant is gigabytes of CSV; polars and pandas read `.csv.zst`):
//! `time_s,tenant,mta,connection,source_ip,helo,envelope_from,counted_user,recipients,rcpt_replies,reply,relayed_from`.
//!
//! `tenant` is the customer charged (Q8), `counted_user` the registered user counted
//! (Q3, empty when none); `recipients` is `;`-joined; `rcpt_replies` is the reply
//! every recipient got when they all got the same one (most transactions), else one
//! per recipient, `;`-joined and aligned with `recipients`;
//! `reply` is the transaction's final reply; `relayed_from` is the envelope sender
//! the relay passed on after P8 rewriting (empty when not rewritten). When the
//! scenario has a `start`, a last column `time` gives `time_s` as a clock time.
//!
//! The simulation thread only copies each transaction into a batch of plain rows (ids,
//! counts, replies; a name the first time it is seen); a second thread turns the
//! batches into CSV and compresses it. A traced run then costs the simulation thread
//! little more than an untraced one.

use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, SyncSender};

use relay::time::SimTime;
use relay::{RecipientId, Reply};
use sim::world::client::TransactionTrace;

use crate::AtomicFile;
use crate::clock::{Clock, ClockText};
use sim::world::recipients::RecipientSpace;
use sim::{Observation, Observer};

/// How `--trace` writes its file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceFormat {
    /// `transactions.csv.zst`: zstd, level 1 (the default).
    #[default]
    Zstd,
    /// `transactions.csv`: plain CSV.
    Csv,
}

impl TraceFormat {
    pub fn file_name(self) -> &'static str {
        match self {
            TraceFormat::Zstd => "transactions.csv.zst",
            TraceFormat::Csv => "transactions.csv",
        }
    }
}

/// zstd level 1: on a month's trace of `large-tenant-cap.toml` it is both faster
/// and smaller than the default level 3 (the rows repeat much), about an eighth of
/// the CSV.
const ZSTD_LEVEL: i32 = 1;

/// A 128 KiB window (2^17) instead of level 1's 512 KiB: a row's matches are
/// within a few rows, so the file is 0.25 % larger, and compressing takes about
/// 15 % less CPU (3 days of `large-tenant-cap.toml`'s trace, 530 MB of CSV, six
/// interleaved rounds: 1.27 against 1.50 s, medians). The stream's input buffer is
/// the window plus a block, 256 KiB instead of 640 KiB, and the block compressor
/// for matches across its wrap (zstd's "extDict" path, 28 % of the trace thread
/// before) is gone from the profile. Any zstd reader reads it, with less memory.
const ZSTD_WINDOW_LOG: u32 = 17;

/// The trace file: plain or zstd, into an [`AtomicFile`] that appears whole at
/// [`TraceFile::commit`] or not at all.
pub enum TraceFile {
    Csv(AtomicFile),
    Zstd(zstd::Encoder<'static, AtomicFile>),
}

impl TraceFile {
    /// The trace file of `format` in `dir`.
    pub fn create(dir: &std::path::Path, format: TraceFormat) -> io::Result<TraceFile> {
        let file = AtomicFile::create(&dir.join(format.file_name()))?;
        Ok(match format {
            TraceFormat::Csv => TraceFile::Csv(file),
            TraceFormat::Zstd => {
                let mut encoder = zstd::Encoder::new(file, ZSTD_LEVEL)?;
                encoder.window_log(ZSTD_WINDOW_LOG)?;
                TraceFile::Zstd(encoder)
            }
        })
    }

    /// Ends the compressed stream (if any) and puts the file in place.
    pub fn commit(self) -> io::Result<()> {
        match self {
            TraceFile::Csv(file) => file.commit(),
            TraceFile::Zstd(encoder) => encoder.finish()?.commit(),
        }
    }
}

impl Write for TraceFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TraceFile::Csv(f) => f.write(buf),
            TraceFile::Zstd(z) => z.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            TraceFile::Csv(f) => f.write_all(buf),
            TraceFile::Zstd(z) => z.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            TraceFile::Csv(f) => f.flush(),
            TraceFile::Zstd(z) => z.flush(),
        }
    }
}

pub const HEADER: [&str; 12] = [
    "time_s",
    "tenant",
    "mta",
    "connection",
    "source_ip",
    "helo",
    "envelope_from",
    "counted_user",
    "recipients",
    "rcpt_replies",
    "reply",
    "relayed_from",
];

/// Rows handed to the formatting thread at a time.
const BATCH_ROWS: usize = 1024;

/// Batches in flight between the threads (each way).
const BATCHES_IN_FLIGHT: usize = 4;

/// "No user" / "not rewritten" in a [`Row`].
const NONE: u32 = u32::MAX;

/// One transaction, as the simulation thread hands it over: numbers only. Its
/// recipients are the next `recipients` of the batch's list, their replies the next
/// `rcpt_replies` codes: none (no recipient), one (every recipient got it: most
/// transactions), or one per recipient.
#[derive(Clone, Copy, Debug)]
struct Row {
    time: SimTime,
    connection: u64,
    tenant: u32,
    mta: u32,
    envelope: u32,
    user: u32,
    postmaster: u32,
    recipients: u32,
    rcpt_replies: u32,
    reply: Reply,
}

/// What a name number stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NameKind {
    /// An MTA's `source_ip,helo`.
    Origin,
    Envelope,
    User,
    /// A P8 domain (written as `postmaster@domain`).
    Domain,
}

/// Rows, and the names they use that the formatting thread has not seen yet.
#[derive(Default)]
struct Batch {
    names: Vec<(NameKind, u32, String)>,
    rows: Vec<Row>,
    recipients: Vec<RecipientId>,
    /// The recipients' replies as [`ReplyCode`]s ([`Row`] says how many a row has).
    replies: Vec<ReplyCode>,
    /// The replies that name an IP, in order, for [`ReplyCode::WITH_IP`].
    replies_with_ip: Vec<Reply>,
}

/// A recipient's reply in one byte: its dense index, or [`ReplyCode::WITH_IP`] for
/// the next of the batch's replies that name an IP (a reply is 20 bytes, and a
/// transaction has tens of recipients).
#[derive(Clone, Copy, Debug)]
struct ReplyCode(u8);

impl ReplyCode {
    const WITH_IP: ReplyCode = ReplyCode(u8::MAX);
}

// Every reply without data has a code below `WITH_IP`.
const _: () = assert!(Reply::WITHOUT_DATA.len() < u8::MAX as usize);

impl Batch {
    fn clear(&mut self) {
        self.names.clear();
        self.rows.clear();
        self.recipients.clear();
        self.replies.clear();
        self.replies_with_ip.clear();
    }
}

/// Streams `transactions.csv(.zst)` from the run's `Transaction` observations; the
/// CSV is made and written on its own thread (see the module's doc).
pub struct TransactionWriter<W: Write + Send + 'static> {
    batch: Batch,
    full: Option<SyncSender<Batch>>,
    empty: Receiver<Batch>,
    thread: Option<std::thread::JoinHandle<io::Result<W>>>,
    /// Which names the formatting thread has been sent.
    origins: Vec<Option<(IpAddr, String)>>,
    envelopes: Vec<bool>,
    users: Vec<bool>,
    domains: Vec<bool>,
    /// The formatting thread stopped (its error comes out of `finish`).
    stopped: bool,
}

impl<W: Write + Send + 'static> TransactionWriter<W> {
    pub fn new(
        mut out: W,
        tenants: Vec<String>,
        mtas: Vec<String>,
        space: RecipientSpace,
        clock: Clock,
    ) -> io::Result<Self> {
        let (full, full_rx) = std::sync::mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        let (empty_tx, empty) = std::sync::mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        let mta_count = mtas.len();
        let thread = std::thread::Builder::new()
            .name("trace".into())
            .spawn(move || {
                let mut csv = CsvRows::new(tenants, mtas, space, clock);
                csv.header();
                for mut batch in full_rx {
                    csv.batch(&batch);
                    csv.drain_into(&mut out)?;
                    batch.clear();
                    let _ = empty_tx.try_send(batch);
                }
                csv.drain_into(&mut out)?;
                out.flush()?;
                Ok(out)
            })?;
        Ok(TransactionWriter {
            batch: Batch::default(),
            full: Some(full),
            empty,
            thread: Some(thread),
            origins: vec![None; mta_count],
            envelopes: Vec::new(),
            users: Vec::new(),
            domains: Vec::new(),
            stopped: false,
        })
    }

    /// Sends what is left, waits for the formatting thread and hands back the
    /// output (to commit).
    pub fn finish(mut self) -> io::Result<W> {
        self.send();
        self.full = None;
        let thread = self
            .thread
            .take()
            .ok_or_else(|| io::Error::other("the trace writer already stopped"))?;
        thread
            .join()
            .map_err(|_| io::Error::other("the trace writer's thread panicked"))?
    }

    fn send(&mut self) {
        if self.batch.rows.is_empty() || self.stopped {
            return;
        }
        let next = self.empty.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, next);
        let sent = self.full.as_ref().is_some_and(|f| f.send(full).is_ok());
        self.stopped = !sent;
    }

    /// The name `text()` of `(kind, id)` goes to the thread with the batch, the first
    /// time `id` is seen (`seen[id]`).
    fn name(
        batch: &mut Batch,
        seen: &mut Vec<bool>,
        kind: NameKind,
        id: u32,
        text: impl FnOnce() -> String,
    ) {
        let i = id as usize;
        if i >= seen.len() {
            seen.resize(i + 1, false);
        }
        if !seen[i] {
            seen[i] = true;
            batch.names.push((kind, id, text()));
        }
    }

    fn push(&mut self, tenant: usize, mta: usize, connection: u64, t: &TransactionTrace<'_>) {
        let batch = &mut self.batch;
        // An MTA greets from one address with one name; should that change, the new
        // one is sent again.
        if self.origins[mta]
            .as_ref()
            .is_none_or(|(ip, helo)| *ip != t.source_ip || helo != t.helo)
        {
            self.origins[mta] = Some((t.source_ip, t.helo.to_string()));
            let text = csv_fields(&[&t.source_ip.to_string(), t.helo]);
            batch.names.push((NameKind::Origin, mta as u32, text));
        }
        Self::name(
            batch,
            &mut self.envelopes,
            NameKind::Envelope,
            t.envelope,
            || csv_fields(&[&t.envelope_from.to_string()]),
        );
        let user = match (t.user, t.counted_user) {
            (Some(u), Some(address)) => {
                Self::name(batch, &mut self.users, NameKind::User, u.0, || {
                    csv_fields(&[address])
                });
                u.0
            }
            _ => NONE,
        };
        let postmaster = match t.postmaster_domain {
            Some((d, domain)) => {
                Self::name(batch, &mut self.domains, NameKind::Domain, d.0, || {
                    csv_fields(&[&format!("postmaster@{domain}")])
                });
                d.0
            }
            None => NONE,
        };
        // One code when every recipient got the same reply (the CSV writes it once
        // then): a comparison per recipient instead of a code.
        let replies = t.rcpt_replies();
        let alike = replies.split_first().map_or(&[][..], |(first, rest)| {
            if rest.iter().all(|r| r == first) {
                std::slice::from_ref(first)
            } else {
                replies
            }
        });
        batch.rows.push(Row {
            time: t.time,
            connection,
            tenant: tenant as u32,
            mta: mta as u32,
            envelope: t.envelope,
            user,
            postmaster,
            recipients: t.recipients.len() as u32,
            rcpt_replies: alike.len() as u32,
            reply: t.reply,
        });
        batch.recipients.extend_from_slice(t.recipients);
        for &r in alike {
            batch.replies.push(match r.dense_index() {
                Some(i) => ReplyCode(i as u8),
                None => {
                    batch.replies_with_ip.push(r);
                    ReplyCode::WITH_IP
                }
            });
        }
        if batch.rows.len() >= BATCH_ROWS {
            self.send();
        }
    }
}

impl<W: Write + Send + 'static> Drop for TransactionWriter<W> {
    /// A writer dropped without `finish` (the run failed) stops its thread before
    /// going: nothing writes after the run has returned.
    fn drop(&mut self) {
        self.full = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A row per transaction; `tenant` is the customer charged (Q8), or the MTA's tenant
/// when the relay refused the transaction before attributing it.
impl<W: Write + Send + 'static> Observer for TransactionWriter<W> {
    fn observe(&mut self, _: SimTime, what: &Observation<'_>) {
        let Observation::Transaction {
            tag,
            connection,
            trace,
        } = *what
        else {
            return;
        };
        if self.stopped {
            return;
        }
        let tenant = trace.charged_tenant.unwrap_or(tag.tenant as usize);
        self.push(tenant, tag.mta as usize, connection, trace);
    }
}

/// `fields` as CSV fields joined by commas, each quoted as the `csv` crate quotes
/// (only when it holds a comma, a quote or a line break; quotes doubled).
fn csv_fields(fields: &[&str]) -> String {
    let mut out = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_field(&mut out, f.as_bytes());
    }
    String::from_utf8(out).expect("fields of UTF-8 stay UTF-8")
}

/// Whether a CSV field holding `text` must be quoted.
fn needs_quotes(text: &[u8]) -> bool {
    text.iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// Appends `field` to `out` as one CSV field.
fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    push_checked(out, field, needs_quotes(field));
}

/// Appends a field already known to need quotes (`quoted`) or not.
fn push_checked(out: &mut Vec<u8>, field: &[u8], quoted: bool) {
    if quoted {
        push_quoted(out, field);
    } else {
        out.extend_from_slice(field);
    }
}

/// Appends a field that needs no quoting (or was quoted already) and its comma.
fn cell(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(field);
    out.push(b',');
}

/// Appends `field` quoted (quotes doubled).
fn push_quoted(out: &mut Vec<u8>, field: &[u8]) {
    out.push(b'"');
    for &b in field {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// The formatting thread's side: names by number, reply texts rendered once, and
/// the CSV of each batch.
struct CsvRows {
    tenants: Vec<String>,
    mtas: Vec<String>,
    space: RecipientSpace,
    origins: Vec<String>,
    envelopes: Vec<String>,
    users: Vec<String>,
    domains: Vec<String>,
    replies: ReplyTexts,
    /// No address needs quotes (checked once, on the names addresses are made of);
    /// otherwise each recipients field is checked.
    addresses_plain: bool,
    out: Vec<u8>,
    field: String,
    /// The `time` column, when the scenario has a start.
    clock: Option<ClockText>,
}

impl CsvRows {
    fn new(tenants: Vec<String>, mtas: Vec<String>, space: RecipientSpace, clock: Clock) -> Self {
        let addresses_plain = space.names().all(|n| !needs_quotes(n.as_bytes()));
        CsvRows {
            tenants: tenants.iter().map(|t| csv_fields(&[t])).collect(),
            mtas: mtas.iter().map(|m| csv_fields(&[m])).collect(),
            origins: vec![String::new(); mtas.len()],
            addresses_plain,
            space,
            envelopes: Vec::new(),
            users: Vec::new(),
            domains: Vec::new(),
            replies: ReplyTexts::default(),
            out: Vec::with_capacity(1 << 20),
            field: String::new(),
            clock: clock.is_set().then(|| ClockText::new(clock)),
        }
    }

    fn header(&mut self) {
        self.out.extend_from_slice(HEADER.join(",").as_bytes());
        if self.clock.is_some() {
            self.out.extend_from_slice(b",time");
        }
        self.out.push(b'\n');
    }

    /// Writes the CSV made so far to `out` (the buffer keeps its memory).
    fn drain_into(&mut self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    fn batch(&mut self, batch: &Batch) {
        for (kind, id, text) in &batch.names {
            let table = match kind {
                NameKind::Origin => &mut self.origins,
                NameKind::Envelope => &mut self.envelopes,
                NameKind::User => &mut self.users,
                NameKind::Domain => &mut self.domains,
            };
            let i = *id as usize;
            if i >= table.len() {
                table.resize(i + 1, String::new());
            }
            table[i].clone_from(text);
        }
        let (mut first, mut first_reply) = (0, 0);
        let mut with_ip = batch.replies_with_ip.iter();
        for row in &batch.rows {
            let n = row.recipients as usize;
            let recipients = &batch.recipients[first..first + n];
            first += n;
            let k = row.rcpt_replies as usize;
            let replies = &batch.replies[first_reply..first_reply + k];
            first_reply += k;
            self.row(row, recipients, replies, &mut with_ip);
        }
    }

    fn row<'b>(
        &mut self,
        row: &Row,
        recipients: &[RecipientId],
        replies: &[ReplyCode],
        with_ip: &mut impl Iterator<Item = &'b Reply>,
    ) {
        let mut number = itoa::Buffer::new();
        let ms = row.time.as_millis();
        self.out
            .extend_from_slice(number.format(ms / 1_000).as_bytes());
        self.out.push(b'.');
        let frac = ms % 1_000;
        let out = &mut self.out;
        let digits = |n: u64| b'0' + (n % 10) as u8;
        cell(out, &[digits(frac / 100), digits(frac / 10), digits(frac)]);
        // Names were quoted (where need be) when they were first sent.
        cell(out, self.tenants[row.tenant as usize].as_bytes());
        cell(out, self.mtas[row.mta as usize].as_bytes());
        cell(out, number.format(row.connection).as_bytes());
        cell(out, self.origins[row.mta as usize].as_bytes());
        cell(out, self.envelopes[row.envelope as usize].as_bytes());
        let user = (row.user != NONE).then(|| self.users[row.user as usize].as_bytes());
        cell(out, user.unwrap_or_default());
        // Recipients straight into the row when no address can need quotes.
        let start = self.out.len();
        for (i, r) in recipients.iter().enumerate() {
            if i > 0 {
                self.out.push(b';');
            }
            self.space.write_address(*r, &mut self.out);
        }
        if !self.addresses_plain && needs_quotes(&self.out[start..]) {
            let field = self.out.split_off(start);
            push_quoted(&mut self.out, &field);
        }
        self.out.push(b',');
        // The recipients' replies: once when every recipient got the same one (the
        // usual case, one code), else one per recipient. Reply texts are checked for
        // quotes once, when first rendered.
        self.field.clear();
        let mut quote = false;
        for (i, code) in replies.iter().enumerate() {
            if i > 0 {
                self.field.push(';');
            }
            let reply = match *code {
                ReplyCode(i) if i != ReplyCode::WITH_IP.0 => Reply::WITHOUT_DATA[i as usize],
                _ => *with_ip
                    .next()
                    .expect("a reply naming an IP for each code saying so"),
            };
            let (text, quoted) = self.replies.text_of(reply);
            self.field.push_str(text);
            quote |= quoted;
        }
        push_checked(&mut self.out, self.field.as_bytes(), quote);
        self.out.push(b',');
        let (text, quoted) = self.replies.text_of(row.reply);
        push_checked(&mut self.out, text.as_bytes(), quoted);
        self.out.push(b',');
        if row.postmaster != NONE {
            self.out
                .extend_from_slice(self.domains[row.postmaster as usize].as_bytes());
        }
        if let Some(clock) = &mut self.clock {
            self.out.push(b',');
            clock.write(row.time, &mut self.out);
        }
        self.out.push(b'\n');
    }
}

/// Reply texts, each rendered once (unquoted, with whether a field holding it needs
/// quotes): by dense index, and the few that name an IP.
struct ReplyTexts {
    dense: Vec<Option<(String, bool)>>,
    with_ip: std::collections::BTreeMap<Reply, (String, bool)>,
}

impl Default for ReplyTexts {
    fn default() -> Self {
        ReplyTexts {
            dense: vec![None; Reply::WITHOUT_DATA.len()],
            with_ip: Default::default(),
        }
    }
}

impl ReplyTexts {
    fn text_of(&mut self, reply: Reply) -> (&str, bool) {
        let render = || {
            let text = reply.to_string();
            let quoted = needs_quotes(text.as_bytes());
            (text, quoted)
        };
        let (text, quoted) = match reply.dense_index() {
            Some(i) => self.dense[i].get_or_insert_with(render),
            None => self.with_ip.entry(reply).or_insert_with(render),
        };
        (text, *quoted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay::Reply::*;
    use scenario::Model;
    use scenario::values::EnvelopeSender;
    use sim::world::mta::MessageTag;

    /// The recipients' replies are written once when every recipient got the same
    /// one, one per recipient (in order) when not — with a reply naming an IP among
    /// them, and again after it, to prove the IP replies stay in step — and not at
    /// all when MAIL was refused.
    #[test]
    fn recipient_replies_are_written_once_when_alike() {
        let model = Model::parse(
            "t.toml",
            r#"
[simulation]
name = "t"
duration = "1h"
[[tenant]]
id = "acme"
licences = 1
primary_domain = "acme.example"
[[mta]]
id = "mx"
tenant = "acme"
profile = "postfix"
source_ip = "192.0.2.1"
helo = "mx.acme.example"
[[sender]]
id = "app"
mta = "mx"
envelope_from = ["app@acme.example"]
rate = "1/h"
recipient_pool = { size = 100, domain = "r.example" }
"#,
        )
        .unwrap();
        let space = RecipientSpace::new(&model.senders).unwrap();
        let mut w = TransactionWriter::new(
            Vec::new(),
            vec!["acme".into()],
            vec!["mx".into()],
            space,
            Clock::NONE,
        )
        .unwrap();
        let from = EnvelopeSender::Address("app@acme.example".parse().unwrap());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let r = |n: u32| RecipientId(n);
        let rows: [(&[RecipientId], &[Reply], Reply); 5] = [
            (
                &[r(1), r(2), r(3)],
                &[
                    SenderOk,
                    RecipientOk,
                    RecipientOk,
                    RecipientOk,
                    MessageAccepted,
                ],
                MessageAccepted,
            ),
            (
                &[r(4), r(5), r(6)],
                &[
                    SenderOk,
                    RecipientOk,
                    MailRelayDenied(ip),
                    DailyUserLimit,
                    MessageAccepted,
                ],
                MessageAccepted,
            ),
            (&[], &[MailRelayDenied(ip)], MailRelayDenied(ip)),
            (
                &[r(7), r(8)],
                &[
                    SenderOk,
                    InvalidCredentials(ip),
                    InvalidCredentials(ip),
                    ResetOk,
                ],
                InvalidCredentials(ip),
            ),
            (
                &[r(9)],
                &[SenderOk, RecipientOk, MessageAccepted],
                MessageAccepted,
            ),
        ];
        for (i, (recipients, replies, reply)) in rows.into_iter().enumerate() {
            let trace = TransactionTrace {
                time: SimTime(1_500),
                charged_tenant: Some(0),
                counted_user: None,
                user: None,
                postmaster_domain: None,
                source_ip: ip,
                helo: "mx.acme.example",
                envelope_from: &from,
                envelope: 0,
                recipients,
                reply,
                replies,
            };
            w.observe(
                trace.time,
                &Observation::Transaction {
                    tag: MessageTag {
                        sender: 0,
                        tenant: 0,
                        mta: 0,
                        notification: false,
                    },
                    connection: i as u64 + 1,
                    trace: &trace,
                },
            );
        }
        let csv = String::from_utf8(w.finish().unwrap()).unwrap();
        let start = "1.500,acme,mx,";
        let origin = ",192.0.2.1,mx.acme.example,app@acme.example,,";
        // A field of these replies' texts, joined by `;`, quoted as need be.
        let field = |replies: &[Reply]| {
            let texts: Vec<String> = replies.iter().map(Reply::to_string).collect();
            csv_fields(&[&texts.join(";")])
        };
        let (ok, accepted) = (field(&[RecipientOk]), field(&[MessageAccepted]));
        let expected = [
            HEADER.join(","),
            format!("{start}1{origin}r1@r.example;r2@r.example;r3@r.example,{ok},{accepted},"),
            format!(
                "{start}2{origin}r4@r.example;r5@r.example;r6@r.example,{},{accepted},",
                field(&[RecipientOk, MailRelayDenied(ip), DailyUserLimit])
            ),
            format!("{start}3{origin},,{},", field(&[MailRelayDenied(ip)])),
            format!(
                "{start}4{origin}r7@r.example;r8@r.example,{0},{0},",
                field(&[InvalidCredentials(ip)])
            ),
            format!("{start}5{origin}r9@r.example,{ok},{accepted},"),
        ];
        assert_eq!(csv, format!("{}\n", expected.join("\n")));
    }

    /// Fields are quoted exactly as the `csv` crate quotes them (the trace was
    /// written with it before, and readers expect its rules).
    #[test]
    fn fields_are_quoted_as_the_csv_crate_quotes() {
        let fields = [
            "plain",
            "",
            "a,b",
            "say \"hi\"",
            "line\nbreak",
            "cr\rhere",
            "550 5.7.1 Invalid credentials for relay [192.0.2.50].",
            "semi;colon",
            "ünïcödé, too",
        ];
        let mut expected = csv::Writer::from_writer(Vec::new());
        expected.write_record(fields).unwrap();
        let expected = String::from_utf8(expected.into_inner().unwrap()).unwrap();
        assert_eq!(format!("{}\n", csv_fields(&fields)), expected);
    }
}
