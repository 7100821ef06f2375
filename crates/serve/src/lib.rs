//! `relaysim serve`: the relay core answering real SMTP clients over TCP and TLS.
//!
//! The relay core is sans-IO (`relay::smtp::TextSession` over `relay::Session`); this
//! crate is its network driver, as `sim` is its simulated one:
//!
//! - `core.rs`: the one owner of the relay's state, a thread that takes requests
//!   (connect, a command line, close) in arrival order, so the replies are exactly
//!   the simulation's for the same sequence of commands;
//! - `record.rs`: the run folder, as things happen and at shutdown;
//! - `connection.rs`: one task per TCP connection: lines in, replies out, the EHLO
//!   extensions, STARTTLS, the DATA phase (dot-unstuffing, size limit), timeouts;
//! - `clock.rs`: wall time × `--time-scale` as the relay's clock;
//! - `tls.rs`: the certificate (given, or generated at start) and rustls;
//! - `store.rs`: accepted messages into a Maildir.
//!
//! Safe by default: it binds where it is told (the command line defaults to
//! loopback), caps concurrent connections, bounds every line and message, and never
//! relays anything: it is a sink.

mod clock;
mod connection;
mod core;
mod record;
mod store;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use crate::core::Totals;

/// How to serve.
#[derive(Clone, Debug)]
pub struct Options {
    /// Plain SMTP with STARTTLS; the relay sees it as port 587.
    pub listen: SocketAddr,
    /// Implicit TLS; the relay sees it as port 465.
    pub listen_tls: Option<SocketAddr>,
    /// Relay time runs this many times faster than wall time.
    pub time_scale: f64,
    /// Where accepted messages are written as a Maildir (`new/`), if anywhere.
    pub store: Option<PathBuf>,
    /// The run folder: `limit_hits.csv`, `transactions.csv`, `throughput.csv` and
    /// `messages.csv` as things happen, `limit_episodes.csv`, `summary.json` and
    /// the charts at shutdown (`record.rs`).
    pub out: PathBuf,
    /// The password every registered user authenticates with; `None`: any.
    pub password: Option<String>,
    /// A certificate and key in PEM; `None`: a self-signed one is generated.
    pub certificate: Option<(PathBuf, PathBuf)>,
    /// At most this many connections at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// A connection idle this long is closed with `421 4.4.2`.
    pub idle_timeout: Duration,
}

/// Why serving could not start or ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot listen on {addr}: {source} (is another server on that port? choose another with --listen)"
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tls(String),
    #[error("cannot write the run folder {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Serves `model` until `shutdown` completes (SIGINT/SIGTERM in the command line),
/// then closes every connection, writes `summary.json` and returns the totals.
/// `ready` is told the addresses bound (port 0 picks a free one).
pub async fn serve(
    model: scenario::Model,
    options: Options,
    ready: impl FnOnce(SocketAddr, Option<SocketAddr>),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Totals, ServeError> {
    let tls = Arc::new(tls::acceptor(options.certificate.as_ref()).map_err(ServeError::Tls)?);
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Listen { addr, source })
    };
    let plain = bind(options.listen).await?;
    let implicit = match options.listen_tls {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let clock = clock::Clock::start(options.time_scale);
    let store = match &options.store {
        Some(dir) => Some(Arc::new(store::Maildir::create(dir).map_err(|source| {
            ServeError::Output {
                path: dir.clone(),
                source,
            }
        })?)),
        None => None,
    };
    let core = core::Core::start(model, clock, &options).map_err(|source| ServeError::Output {
        path: options.out.clone(),
        source,
    })?;
    ready(
        plain.local_addr().unwrap_or(options.listen),
        implicit.as_ref().and_then(|l| l.local_addr().ok()),
    );
    let limit = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let settings = Arc::new(connection::Settings {
        tls: tls.clone(),
        store,
        idle_timeout: options.idle_timeout,
    });
    let accept = |listener: TcpListener, port: u16, implicit_tls: bool| {
        let (core, limit, settings) = (core.handle(), limit.clone(), settings.clone());
        async move {
            loop {
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    return;
                };
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let (core, settings) = (core.clone(), settings.clone());
                tokio::spawn(async move {
                    connection::run(stream, peer, port, implicit_tls, core, settings).await;
                    drop(permit);
                });
            }
        }
    };
    let plain_task = tokio::spawn(accept(plain, 587, false));
    let tls_task = implicit.map(|l| tokio::spawn(accept(l, 465, true)));
    shutdown.await;
    plain_task.abort();
    if let Some(t) = tls_task {
        t.abort();
    }
    // Connections in progress get their reply to the line in hand; the core then
    // closes every session and writes the summary.
    limit.close();
    core.stop().map_err(|source| ServeError::Output {
        path: options.out.clone(),
        source,
    })
}
