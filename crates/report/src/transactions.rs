//! `transactions.csv.zst` (with `--trace`; `transactions.csv` with `--trace-format
//! csv`): one row per SMTP transaction, streamed, zstd-compressed by default (a
//! month of a large tenant is gigabytes of CSV; polars and pandas read `.csv.zst`):
//! `time_s,tenant,mta,connection,source_ip,helo,envelope_from,counted_user,recipients,rcpt_replies,reply,relayed_from`.
//!
//! `tenant` is the customer charged (Q8), `counted_user` the registered user counted
//! (Q3, empty when none); `recipients` and `rcpt_replies` are `;`-joined and aligned;
//! `reply` is the transaction's final reply; `relayed_from` is the envelope sender
//! the relay passed on after P8 rewriting (empty when not rewritten).

use std::fmt::Write as _;
use std::io::{self, Write};

use relay::time::SimTime;
use sim::world::client::TransactionTrace;

use crate::AtomicFile;
use sim::world::recipients::RecipientSpace;
use sim::{Observation, Observer};

/// How `--trace` writes its file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceFormat {
    /// `transactions.csv.zst`: zstd, level 3 (the default).
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

/// zstd's default level: about 10× smaller than the CSV at a fraction of the run's
/// time (the closing note of issue 14 has the figures).
const ZSTD_LEVEL: i32 = 3;

/// The trace file as it is written: plain or compressed, into an [`AtomicFile`] that
/// appears whole at [`TraceFile::commit`] or not at all.
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
            TraceFormat::Zstd => TraceFile::Zstd(zstd::Encoder::new(file, ZSTD_LEVEL)?),
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

pub struct TransactionWriter<W: Write> {
    out: csv::Writer<W>,
    tenants: Vec<String>,
    mtas: Vec<String>,
    space: RecipientSpace,
    /// Reused per row.
    recipients: String,
    replies: String,
    error: Option<io::Error>,
}

impl<W: Write> TransactionWriter<W> {
    pub fn new(
        out: W,
        tenants: Vec<String>,
        mtas: Vec<String>,
        space: RecipientSpace,
    ) -> io::Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(HEADER)?;
        Ok(TransactionWriter {
            out,
            tenants,
            mtas,
            space,
            recipients: String::new(),
            replies: String::new(),
            error: None,
        })
    }

    pub fn finish(self) -> io::Result<W> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.into_inner().map_err(|e| e.into_error())
    }

    fn write_row(
        &mut self,
        tenant: usize,
        mta: usize,
        connection: u64,
        t: &TransactionTrace<'_>,
    ) -> io::Result<()> {
        self.recipients.clear();
        self.replies.clear();
        for (i, (r, reply)) in t.recipients.iter().zip(t.rcpt_replies).enumerate() {
            if i > 0 {
                self.recipients.push(';');
                self.replies.push(';');
            }
            let _ = write!(self.recipients, "{}", self.space.address(*r));
            let _ = write!(self.replies, "{reply}");
        }
        let relayed = t
            .postmaster_domain
            .map(|d| format!("postmaster@{d}"))
            .unwrap_or_default();
        self.out
            .write_record([
                t.time.to_string().as_str(),
                &self.tenants[tenant],
                &self.mtas[mta],
                &connection.to_string(),
                &t.source_ip.to_string(),
                t.helo,
                &t.envelope_from.to_string(),
                t.counted_user.unwrap_or(""),
                &self.recipients,
                &self.replies,
                &t.reply.to_string(),
                &relayed,
            ])
            .map_err(io::Error::from)
    }
}

/// A row per transaction; `tenant` is the customer charged (Q8), or the MTA's tenant
/// when the relay refused the transaction before attributing it.
impl<W: Write> Observer for TransactionWriter<W> {
    fn observe(&mut self, _: SimTime, what: &Observation<'_>) {
        let Observation::Transaction {
            tag,
            connection,
            trace,
        } = *what
        else {
            return;
        };
        let tenant = trace.charged_tenant.unwrap_or(tag.tenant as usize);
        if self.error.is_none()
            && let Err(e) = self.write_row(tenant, tag.mta as usize, connection, trace)
        {
            self.error = Some(e);
        }
    }
}
