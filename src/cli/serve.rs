//! `relaysim serve`: the relay, with the scenario's tenants, settings, users and
//! limits, as a live SMTP server (a sink: it never relays anything on).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use scenario::overrides::Override;

use super::output::{errln, outln};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The scenario whose relay to serve.
    scenario: PathBuf,
    /// Plain SMTP with STARTTLS (the relay's port 587). Loopback unless told
    /// otherwise; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:2525")]
    listen: SocketAddr,
    /// Implicit TLS (the relay's port 465).
    #[arg(long)]
    listen_tls: Option<SocketAddr>,
    /// Relay time runs this many times faster than wall time (3600: an hour a
    /// second, so 24 h windows pass in 24 s).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Write accepted messages to this Maildir.
    #[arg(long)]
    store: Option<PathBuf>,
    /// The run folder: limit_hits.csv and messages.csv as things happen,
    /// summary.json at shutdown.
    #[arg(long, default_value = "results/serve")]
    out: PathBuf,
    /// The password of every registered user without one of its own in its
    /// tenant's `passwords` (AUTH PLAIN or LOGIN, over TLS only, P4); unset: those
    /// users authenticate with any password when the scenario gives no passwords,
    /// and not at all when it gives some.
    #[arg(long)]
    password: Option<String>,
    /// A PEM certificate chain for STARTTLS and --listen-tls (default: a self-signed
    /// one for localhost, generated at start).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The PEM private key of --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// At most this many connections at once.
    #[arg(long, default_value_t = 100)]
    max_connections: usize,
    /// Close a connection idle this many seconds (421 4.4.2).
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,
    /// Change a scenario key, e.g. `tenant.acme.licences=10` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = |s: &str| s.parse::<Override>())]
    set: Vec<Override>,
}

pub fn serve(args: ServeArgs) -> ExitCode {
    let Some(model) = super::load_or_report(&args.scenario, &args.set) else {
        return ExitCode::FAILURE;
    };
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        errln!(
            "error: --time-scale {} must be a positive number",
            args.time_scale
        );
        return ExitCode::FAILURE;
    }
    let options = serve::Options {
        listen: args.listen,
        listen_tls: args.listen_tls,
        time_scale: args.time_scale,
        store: args.store,
        out: args.out.clone(),
        password: args.password,
        certificate: args.cert.zip(args.key),
        max_connections: args.max_connections,
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the server's runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = model.name.clone();
    let result = runtime.block_on(serve::serve(
        model,
        options,
        |plain, tls| {
            let tls = tls
                .map(|a| format!(", implicit TLS on {a}"))
                .unwrap_or_default();
            outln!("serving `{name}`: SMTP on {plain}{tls}; Ctrl-C (SIGINT) or SIGTERM stops");
        },
        shutdown_signal(),
    ));
    match result {
        Ok(t) => {
            outln!(
                "stopped: {} connections ({} refused), {} messages accepted ({} recipients), {} limit hits; wrote {}",
                t.connections_opened,
                t.connections_refused,
                t.messages_accepted,
                t.recipients_accepted,
                t.limit_hits,
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            errln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
