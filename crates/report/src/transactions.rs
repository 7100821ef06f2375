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

/// zstd's default level: about 10× smaller than the CSV.
const ZSTD_LEVEL: i32 = 3;

/// Bytes handed to the compressing thread at a time.
const CHUNK: usize = 1 << 20;

/// The trace file as it is written: plain, or compressed on a second thread (the
/// simulation thread only formats rows), into an [`AtomicFile`] that appears whole at
/// [`TraceFile::commit`] or not at all.
pub enum TraceFile {
    Csv(AtomicFile),
    Zstd(Compressor),
}

/// zstd on its own thread: full chunks go over a bounded channel, the thread owns
/// the encoder and the file and hands the file back when the channel closes.
pub struct Compressor {
    chunk: Vec<u8>,
    chunks: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<io::Result<AtomicFile>>>,
}

impl Compressor {
    fn new(file: AtomicFile) -> io::Result<Compressor> {
        let mut encoder = zstd::Encoder::new(file, ZSTD_LEVEL)?;
        let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let thread = std::thread::Builder::new()
            .name("trace-zstd".into())
            .spawn(move || {
                for chunk in received {
                    encoder.write_all(&chunk)?;
                }
                encoder.finish()
            })?;
        Ok(Compressor {
            chunk: Vec::with_capacity(CHUNK),
            chunks: Some(chunks),
            thread: Some(thread),
        })
    }

    fn send_chunk(&mut self) -> io::Result<()> {
        let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let sent = self.chunks.as_ref().map(|c| c.send(full));
        match sent {
            Some(Ok(())) => Ok(()),
            // The thread stopped: its error comes out of `finish`.
            _ => Err(self
                .stop()
                .err()
                .unwrap_or_else(|| io::Error::other("the trace compressor stopped"))),
        }
    }

    /// Closes the channel and waits for the thread: the finished file.
    fn stop(&mut self) -> io::Result<AtomicFile> {
        self.chunks = None;
        let thread = self
            .thread
            .take()
            .ok_or_else(|| io::Error::other("the trace compressor already stopped"))?;
        thread
            .join()
            .map_err(|_| io::Error::other("the trace compressor panicked"))?
    }

    fn finish(mut self) -> io::Result<AtomicFile> {
        if !self.chunk.is_empty() {
            self.send_chunk()?;
        }
        self.stop()
    }
}

impl Write for Compressor {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.chunk.extend_from_slice(buf);
        if self.chunk.len() >= CHUNK {
            self.send_chunk()?;
        }
        Ok(buf.len())
    }

    /// Chunks go when full; the rest at `finish`.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TraceFile {
    /// The trace file of `format` in `dir`.
    pub fn create(dir: &std::path::Path, format: TraceFormat) -> io::Result<TraceFile> {
        let file = AtomicFile::create(&dir.join(format.file_name()))?;
        Ok(match format {
            TraceFormat::Csv => TraceFile::Csv(file),
            TraceFormat::Zstd => TraceFile::Zstd(Compressor::new(file)?),
        })
    }

    /// Ends the compressed stream (if any) and puts the file in place.
    pub fn commit(self) -> io::Result<()> {
        match self {
            TraceFile::Csv(file) => file.commit(),
            TraceFile::Zstd(compressor) => compressor.finish()?.commit(),
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
    field: String,
    /// The last recipient reply and its text.
    last_reply: Option<(relay::Reply, String)>,
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
            field: String::new(),
            last_reply: None,
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
            let _ = self.space.write_address(*r, &mut self.recipients);
            // The recipients of a transaction mostly get the same reply: render it
            // once.
            if self
                .last_reply
                .as_ref()
                .is_none_or(|(last, _)| last != reply)
            {
                let mut text = String::new();
                let _ = write!(text, "{reply}");
                self.last_reply = Some((*reply, text));
            }
            if let Some((_, text)) = &self.last_reply {
                self.replies.push_str(text);
            }
        }
        // Field by field through one scratch buffer: no allocation per row.
        let field = &mut self.field;
        let out = &mut self.out;
        let mut text = |out: &mut csv::Writer<W>, f: std::fmt::Arguments<'_>| {
            field.clear();
            let _ = field.write_fmt(f);
            out.write_field(field.as_bytes())
        };
        text(out, format_args!("{}", t.time))?;
        out.write_field(&self.tenants[tenant])?;
        out.write_field(&self.mtas[mta])?;
        text(out, format_args!("{connection}"))?;
        text(out, format_args!("{}", t.source_ip))?;
        out.write_field(t.helo)?;
        text(out, format_args!("{}", t.envelope_from))?;
        out.write_field(t.counted_user.unwrap_or(""))?;
        out.write_field(&self.recipients)?;
        out.write_field(&self.replies)?;
        text(out, format_args!("{}", t.reply))?;
        match t.postmaster_domain {
            Some(d) => text(out, format_args!("postmaster@{d}"))?,
            None => out.write_field("")?,
        }
        out.write_record(None::<&[u8]>).map_err(io::Error::from)
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
