//! The one owner of the relay's state. Connection tasks send it requests; it takes
//! them one at a time in arrival order on its own thread, so every relay decision
//! is made exactly as the simulation would make it for the same sequence of
//! commands. Between requests it runs the relay's timers (limits whose window has
//! room again are reported cleared) and applies the scenario's `[[event]]`s
//! (licence changes, paid invoices, settings changes) at their relay times. What
//! happens goes to the run folder (`record.rs`).

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rand::SeedableRng;
use relay::smtp::{Client, Command, TextSession};
use relay::time::SimTime;
use relay::{ClientOpening, RecipientId, Relay};
use scenario::Model;
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::record::{End, Origin, Recorder, TransactionLog};

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
}

impl Core {
    pub(crate) fn start(model: Model, clock: Clock, options: &crate::Options) -> io::Result<Core> {
        // The core and its writers live as long as the server: the model with them.
        let model: &'static Model = Box::leak(Box::new(model));
        let record = Recorder::create(model, &options.out)?;
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
            record,
            events: timed_events(model),
            next_event: 0,
            limit_events: Vec::new(),
        };
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("relay-core".into())
            .spawn(move || state.run(rx))?;
        Ok(Core { tx, thread })
    }

    pub(crate) fn handle(&self) -> Handle {
        Handle {
            tx: self.tx.clone(),
        }
    }

    /// Closes every session, finishes the run folder, returns the totals.
    pub(crate) fn stop(self) -> io::Result<Totals> {
        let _ = self.tx.send(Request::Stop);
        self.thread
            .join()
            .map_err(|_| io::Error::other("the relay core stopped with a panic"))?
    }
}

/// The scenario's `[[event]]`s in the order the relay takes them: by time, ties in
/// file order (a stable sort).
fn timed_events(model: &Model) -> Vec<(SimTime, usize)> {
    let mut events: Vec<(SimTime, usize)> = model
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| (SimTime::ZERO + e.at, i))
        .collect();
    events.sort_by_key(|&(at, _)| at);
    events
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

/// One live connection's session and its open transaction.
struct Conn {
    session: TextSession,
    ip: IpAddr,
    /// The name of the last HELO/EHLO the relay accepted.
    helo: String,
    /// From a successful MAIL FROM to the reply that ends the transaction.
    transaction: Option<TransactionLog>,
}

impl Conn {
    fn origin(&self, conn: u64) -> Origin<'_> {
        Origin {
            conn,
            ip: self.ip,
            helo: &self.helo,
        }
    }
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
    record: Recorder,
    /// The scenario's `[[event]]`s by time (file order within an instant): when,
    /// and the index into `model.events`.
    events: Vec<(SimTime, usize)>,
    /// The first of `events` not applied yet.
    next_event: usize,
    /// A buffer for the relay's limit events.
    limit_events: Vec<relay::LimitEvent>,
}

impl State {
    fn run(mut self, rx: mpsc::Receiver<Request>) -> io::Result<Totals> {
        loop {
            // Wake for the relay's next timer or the scenario's next event, and at
            // least every second.
            let wait = self
                .next_instant()
                .map_or(Duration::from_secs(1), |t| self.clock.wall_until(t))
                .min(Duration::from_secs(1));
            let request = rx.recv_timeout(wait);
            let now = self.clock.now();
            self.catch_up(now);
            match request {
                Ok(Request::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(request) => self.handle(request, now)?,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            self.write_limit_events()?;
            self.record.tick(now)?;
        }
        let now = self.clock.now();
        self.catch_up(now);
        let open: Vec<u64> = self.sessions.keys().copied().collect();
        for conn in open {
            self.drop_connection(conn, now)?;
        }
        self.write_limit_events()?;
        self.record.finish(&mut self.relay, now)
    }

    /// When the relay next has something to do on its own: a timer, or one of the
    /// scenario's `[[event]]`s.
    fn next_instant(&self) -> Option<SimTime> {
        let event = self.events.get(self.next_event).map(|&(at, _)| at);
        match (self.relay.poll_timeout(), event) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Brings the relay to `now`: its timers and the scenario's events due by then,
    /// each at its own instant, in time order (an event before a timer of the same
    /// instant: the relay's answers do not depend on that order, which `sim::swarm`
    /// checks), before any command of `now`.
    fn catch_up(&mut self, now: SimTime) {
        loop {
            let event = self.events.get(self.next_event).map(|&(at, _)| at);
            let timer = self.relay.poll_timeout();
            match (event, timer) {
                (Some(at), t) if at <= now && t.is_none_or(|t| at <= t) => {
                    let index = self.events[self.next_event].1;
                    self.relay
                        .apply(at, &self.addresses.model.events[index].command);
                    self.next_event += 1;
                }
                (_, Some(t)) if t <= now => self.relay.handle_timeout(t),
                _ => return,
            }
        }
    }

    fn write_limit_events(&mut self) -> io::Result<()> {
        self.limit_events.clear();
        while let Some(e) = self.relay.poll_limit_event() {
            self.limit_events.push(e);
        }
        self.record.limit_events(&self.limit_events)
    }

    fn handle(&mut self, request: Request, now: SimTime) -> io::Result<()> {
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
                        self.record.totals.connections_opened += 1;
                        let conn = Conn {
                            session,
                            ip,
                            helo: String::new(),
                            transaction: None,
                        };
                        self.sessions.insert(self.next_conn, conn);
                        Ok(self.next_conn)
                    }
                    Err(refusal) => {
                        self.record.totals.connections_refused += 1;
                        let text = refusal.to_string();
                        self.record.reply(&text);
                        Err(text)
                    }
                };
                let _ = reply.send(answer);
            }
            Request::Line { conn, line, reply } => {
                let (answer, _) = self.line(conn, now, &line, None)?;
                self.record.reply(&answer.text);
                let _ = reply.send(answer);
            }
            Request::DataReady { conn, reply } => {
                let ready = match self.sessions.get(&conn) {
                    Some(c) => c.session.data_ready().map_err(|r| r.to_string()),
                    None => Err(relay::Reply::Closing.to_string()),
                };
                if let Err(text) = &ready {
                    self.record.reply(text);
                }
                let _ = reply.send(ready);
            }
            Request::Data { conn, size, reply } => {
                let (answer, envelope) = self.line(conn, now, "DATA", Some(size))?;
                self.record.reply(&answer.text);
                let _ = reply.send((answer, envelope.unwrap_or_default()));
            }
            Request::Close { conn } => self.drop_connection(conn, now)?,
            Request::Stop => {}
        }
        Ok(())
    }

    /// One command line of connection `conn` (`size`: DATA's message has arrived,
    /// of that many bytes). The transaction's log follows the replies; an accepted
    /// message's envelope comes back for the Maildir.
    fn line(
        &mut self,
        conn: u64,
        now: SimTime,
        line: &str,
        size: Option<u64>,
    ) -> io::Result<(LineReply, Option<Envelope>)> {
        let State {
            relay,
            sessions,
            addresses,
            record,
            ..
        } = self;
        let Some(c) = sessions.get_mut(&conn) else {
            let closed = LineReply {
                text: relay::Reply::Closing.to_string(),
                open: false,
            };
            return Ok((closed, None));
        };
        let open_before = c.session.transaction().copied();
        let answer = c.session.line(relay, now, line, addresses).to_string();
        let ok = answer.starts_with("250");
        match Command::parse(line) {
            Ok(Command::Mail(path)) if open_before.is_none() => {
                let log = TransactionLog {
                    from: path.to_ascii_lowercase(),
                    ..TransactionLog::default()
                };
                if ok {
                    c.transaction = Some(log);
                } else {
                    // Refused at MAIL FROM: a transaction of its own, charged when
                    // the relay got as far as attributing it (Q13, Q1).
                    let attribution = c.session.last_attribution().copied();
                    let end = End::Reply(&answer);
                    record.transaction(relay, now, &c.origin(conn), &log, attribution, &end)?;
                }
            }
            Ok(Command::Rcpt(path)) => {
                if let Some(log) = c.transaction.as_mut() {
                    log.rcpts.push(path.to_ascii_lowercase());
                    log.rcpt_replies.push(answer.clone());
                }
            }
            Ok(Command::Helo(_, name)) if ok => c.helo = name.to_string(),
            _ => {}
        }
        let mut envelope = None;
        if open_before.is_some() && c.session.transaction().is_none() {
            let log = c.transaction.take().unwrap_or_default();
            let end = match size {
                Some(size) if ok => {
                    let accepted = log
                        .rcpts
                        .iter()
                        .zip(&log.rcpt_replies)
                        .filter(|(_, r)| r.starts_with("250"))
                        .map(|(a, _)| a.clone())
                        .collect::<Vec<_>>();
                    record.message(now, &c.origin(conn), &log.from, accepted.len(), size)?;
                    envelope = Some(Envelope {
                        from: log.from.clone(),
                        rcpts: accepted,
                    });
                    End::Delivered(&answer)
                }
                _ => End::Reply(&answer),
            };
            record.transaction(relay, now, &c.origin(conn), &log, open_before, &end)?;
        }
        let open = c.session.is_open();
        if !open {
            sessions.remove(&conn);
            record.connection_closed(conn);
        }
        Ok((LineReply { text: answer, open }, envelope))
    }

    /// A connection ends without QUIT (or the server stops): its open transaction,
    /// if any, is logged as dropped.
    fn drop_connection(&mut self, conn: u64, now: SimTime) -> io::Result<()> {
        let Some(mut c) = self.sessions.remove(&conn) else {
            return Ok(());
        };
        if let (Some(attribution), Some(log)) =
            (c.session.transaction().copied(), c.transaction.take())
        {
            self.record.transaction(
                &self.relay,
                now,
                &c.origin(conn),
                &log,
                Some(attribution),
                &End::Dropped,
            )?;
        }
        c.session.close(&mut self.relay, now);
        self.record.connection_closed(conn);
        Ok(())
    }
}
