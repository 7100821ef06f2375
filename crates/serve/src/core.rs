//! The one owner of the relay's state. Connection tasks send it requests; it takes
//! them one at a time in arrival order on its own thread, so every relay decision
//! is made exactly as the simulation would make it for the same sequence of
//! commands. Between requests it runs the relay's timers (limits whose window has
//! room again are reported cleared). It writes `limit_hits.csv` and `messages.csv`
//! as things happen, flushed, and `summary.json` when it stops.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rand::SeedableRng;
use relay::smtp::{Client, Command, TextSession};
use relay::time::SimTime;
use relay::{ClientOpening, RecipientId, Relay};
use report::limit_hits::LimitHitsWriter;
use scenario::Model;
use tokio::sync::oneshot;

use crate::clock::Clock;

/// What the relay said to one line, and where the connection stands after it.
#[derive(Debug)]
pub(crate) struct LineReply {
    pub text: String,
    /// False once the relay closed the connection (421) or the client quit.
    pub open: bool,
}

/// An accepted message's envelope, for the Maildir.
#[derive(Debug, Default)]
pub(crate) struct Envelope {
    pub from: String,
    pub rcpts: Vec<String>,
}

enum Request {
    Connect {
        ip: IpAddr,
        port: u16,
        opening: ClientOpening,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    Line {
        conn: u64,
        line: String,
        reply: oneshot::Sender<LineReply>,
    },
    DataReady {
        conn: u64,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The message of DATA has arrived (`size` bytes): the relay's reply to its end.
    Data {
        conn: u64,
        size: u64,
        reply: oneshot::Sender<(LineReply, Envelope)>,
    },
    Close {
        conn: u64,
    },
    Stop,
}

/// What the server did, for `summary.json` and the command line.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Totals {
    pub connections_opened: u64,
    pub connections_refused: u64,
    pub messages_accepted: u64,
    pub recipients_accepted: u64,
    pub bytes_accepted: u64,
    pub limit_hits: u64,
    /// Every reply sent, by its text, with how often.
    pub replies: BTreeMap<String, u64>,
}

/// A cheap handle for connection tasks.
#[derive(Clone)]
pub(crate) struct Handle {
    tx: mpsc::Sender<Request>,
}

pub(crate) struct Core {
    tx: mpsc::Sender<Request>,
    thread: JoinHandle<io::Result<Totals>>,
    out: PathBuf,
}

impl Core {
    pub(crate) fn start(model: Model, clock: Clock, options: &crate::Options) -> io::Result<Core> {
        std::fs::create_dir_all(&options.out)?;
        // The core and its writers live as long as the server: the model with them.
        let model: &'static Model = Box::leak(Box::new(model));
        let limits =
            LimitHitsWriter::new(File::create(options.out.join("limit_hits.csv"))?, model)?;
        let mut messages =
            csv::Writer::from_writer(File::create(options.out.join("messages.csv"))?);
        messages.write_record([
            "time_s",
            "connection",
            "source_ip",
            "envelope_from",
            "recipients",
            "size",
        ])?;
        messages.flush()?;
        let state = State {
            relay: Relay::new(
                &model.relay,
                &model.tenants,
                rand_chacha::ChaCha12Rng::seed_from_u64(model.seed),
            ),
            clock,
            sessions: BTreeMap::new(),
            next_conn: 0,
            addresses: Addresses {
                ids: BTreeMap::new(),
                model,
                password: options.password.clone(),
            },
            limits,
            messages,
            totals: Totals::default(),
        };
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("relay-core".into())
            .spawn(move || state.run(rx))?;
        Ok(Core {
            tx,
            thread,
            out: options.out.clone(),
        })
    }

    pub(crate) fn handle(&self) -> Handle {
        Handle {
            tx: self.tx.clone(),
        }
    }

    /// Closes every session, writes `summary.json`, returns the totals.
    pub(crate) fn stop(self) -> io::Result<Totals> {
        let _ = self.tx.send(Request::Stop);
        let totals = self
            .thread
            .join()
            .map_err(|_| io::Error::other("the relay core stopped with a panic"))??;
        let json = serde_json::to_vec_pretty(&totals).map_err(io::Error::other)?;
        report::atomic::AtomicFile::write_all(&self.out.join("summary.json"), &json)?;
        Ok(totals)
    }
}

/// The core is gone (the server is stopping): the connection ends.
#[derive(Debug)]
pub(crate) struct Stopped;

impl Handle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    pub(crate) async fn connect(
        &self,
        ip: IpAddr,
        port: u16,
        opening: ClientOpening,
    ) -> Result<Result<u64, String>, Stopped> {
        self.ask(|reply| Request::Connect {
            ip,
            port,
            opening,
            reply,
        })
        .await
    }

    pub(crate) async fn line(&self, conn: u64, line: String) -> Result<LineReply, Stopped> {
        self.ask(|reply| Request::Line { conn, line, reply }).await
    }

    pub(crate) async fn data_ready(&self, conn: u64) -> Result<Result<(), String>, Stopped> {
        self.ask(|reply| Request::DataReady { conn, reply }).await
    }

    pub(crate) async fn data(
        &self,
        conn: u64,
        size: u64,
    ) -> Result<(LineReply, Envelope), Stopped> {
        self.ask(|reply| Request::Data { conn, size, reply }).await
    }

    pub(crate) fn close(&self, conn: u64) {
        let _ = self.tx.send(Request::Close { conn });
    }
}

/// One live connection's session and the envelope of its open transaction.
struct Conn {
    session: TextSession,
    ip: IpAddr,
    envelope: Envelope,
}

/// Recipient numbers (the relay counts unique recipients by number, Q2) and the
/// passwords (the scenario's, `--password` for users without one).
struct Addresses {
    ids: BTreeMap<String, RecipientId>,
    model: &'static Model,
    password: Option<String>,
}

impl Client for Addresses {
    fn recipient_id(&mut self, address: &str) -> RecipientId {
        let next = RecipientId(self.ids.len() as u32);
        *self.ids.entry(address.to_string()).or_insert(next)
    }

    fn credentials_valid(&self, username: &str, password: &str) -> bool {
        self.model
            .password_accepted(username, password, self.password.as_deref())
    }
}

struct State {
    relay: Relay,
    clock: Clock,
    sessions: BTreeMap<u64, Conn>,
    next_conn: u64,
    addresses: Addresses,
    limits: LimitHitsWriter<'static, File>,
    messages: csv::Writer<File>,
    totals: Totals,
}

impl State {
    fn run(mut self, rx: mpsc::Receiver<Request>) -> io::Result<Totals> {
        loop {
            // Wake for the relay's next timer, and at least every second.
            let wait = self
                .relay
                .poll_timeout()
                .map_or(Duration::from_secs(1), |t| self.clock.wall_until(t))
                .min(Duration::from_secs(1));
            match rx.recv_timeout(wait) {
                Ok(Request::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(request) => self.handle(request)?,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            let now = self.clock.now();
            if self.relay.poll_timeout().is_some_and(|t| t <= now) {
                self.relay.handle_timeout(now);
            }
            self.write_limit_events()?;
        }
        let now = self.clock.now();
        for (_, conn) in std::mem::take(&mut self.sessions) {
            conn.session.close(&mut self.relay, now);
        }
        self.write_limit_events()?;
        self.messages.flush()?;
        Ok(self.totals)
    }

    fn write_limit_events(&mut self) -> io::Result<()> {
        let mut any = false;
        while let Some(e) = self.relay.poll_limit_event() {
            if e.change == relay::LimitChange::Hit {
                self.totals.limit_hits += 1;
            }
            self.limits.limit_event(&e);
            any = true;
        }
        if any {
            self.limits.flush()?;
        }
        Ok(())
    }

    fn count(&mut self, reply: &str) {
        *self.totals.replies.entry(reply.to_string()).or_default() += 1;
    }

    fn handle(&mut self, request: Request) -> io::Result<()> {
        let now = self.clock.now();
        match request {
            Request::Connect {
                ip,
                port,
                opening,
                reply,
            } => {
                let answer = match TextSession::connect(&mut self.relay, now, ip, port, opening) {
                    Ok(session) => {
                        self.next_conn += 1;
                        self.totals.connections_opened += 1;
                        let conn = Conn {
                            session,
                            ip,
                            envelope: Envelope::default(),
                        };
                        self.sessions.insert(self.next_conn, conn);
                        Ok(self.next_conn)
                    }
                    Err(refusal) => {
                        self.totals.connections_refused += 1;
                        let text = refusal.to_string();
                        self.count(&text);
                        Err(text)
                    }
                };
                let _ = reply.send(answer);
            }
            Request::Line { conn, line, reply } => {
                let answer = self.line(conn, now, &line);
                self.count(&answer.text);
                let _ = reply.send(answer);
            }
            Request::DataReady { conn, reply } => {
                let ready = match self.sessions.get(&conn) {
                    Some(c) => c.session.data_ready().map_err(|r| r.to_string()),
                    None => Err(relay::Reply::Closing.to_string()),
                };
                if let Err(text) = &ready {
                    self.count(text);
                }
                let _ = reply.send(ready);
            }
            Request::Data { conn, size, reply } => {
                let answer = self.line(conn, now, "DATA");
                self.count(&answer.text);
                let mut envelope = Envelope::default();
                if answer.text.starts_with("250")
                    && let Some(c) = self.sessions.get_mut(&conn)
                {
                    envelope = std::mem::take(&mut c.envelope);
                    self.totals.messages_accepted += 1;
                    self.totals.recipients_accepted += envelope.rcpts.len() as u64;
                    self.totals.bytes_accepted += size;
                    let time = format!("{:.3}", now.as_millis() as f64 / 1000.0);
                    self.messages.write_record([
                        time.as_str(),
                        &conn.to_string(),
                        &c.ip.to_string(),
                        &envelope.from,
                        &envelope.rcpts.len().to_string(),
                        &size.to_string(),
                    ])?;
                    self.messages.flush()?;
                }
                let _ = reply.send((answer, envelope));
            }
            Request::Close { conn } => {
                if let Some(c) = self.sessions.remove(&conn) {
                    c.session.close(&mut self.relay, now);
                }
            }
            Request::Stop => {}
        }
        Ok(())
    }

    /// One command line of connection `conn`; the envelope follows the replies.
    fn line(&mut self, conn: u64, now: SimTime, line: &str) -> LineReply {
        let Some(c) = self.sessions.get_mut(&conn) else {
            return LineReply {
                text: relay::Reply::Closing.to_string(),
                open: false,
            };
        };
        let answer = c
            .session
            .line(&mut self.relay, now, line, &mut self.addresses)
            .to_string();
        let ok = answer.starts_with("250");
        match Command::parse(line) {
            Ok(Command::Mail(path)) if ok => {
                c.envelope = Envelope {
                    from: path.to_ascii_lowercase(),
                    rcpts: Vec::new(),
                };
            }
            Ok(Command::Rcpt(path)) if ok => c.envelope.rcpts.push(path.to_ascii_lowercase()),
            Ok(Command::Rset | Command::Helo(..)) => c.envelope = Envelope::default(),
            _ => {}
        }
        let open = c.session.is_open();
        if !open {
            self.sessions.remove(&conn);
        }
        LineReply { text: answer, open }
    }
}
