//! `relaysim limits`: the effective limits of a tenant as a readable table.

use super::output::out;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::group_thousands;
use relay::limits::{EffectiveLimits, LimitSource};
use relay::{Billing, RelayConfig, UserLimits};

#[derive(Args)]
pub struct LimitsArgs {
    /// Number of user licences of the tenant.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    licences: u32,
    /// Whether the tenant has paid its first invoice (Q6).
    #[arg(long, value_enum, default_value = "paid")]
    billing: BillingArg,
    /// Take the [relay] settings (quota and DoS) from this scenario instead of the
    /// defaults.
    #[arg(long, value_name = "SCENARIO")]
    relay_from: Option<PathBuf>,
    /// Print the limits as JSON (for scripts) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum BillingArg {
    Paid,
    Unpaid,
}

pub fn limits(args: LimitsArgs) -> ExitCode {
    let relay = match &args.relay_from {
        Some(path) => match super::load_or_report(path, &[]) {
            Some(model) => model.relay,
            None => return ExitCode::FAILURE,
        },
        None => RelayConfig::default(),
    };
    let billing = match args.billing {
        BillingArg::Paid => Billing::Paid,
        BillingArg::Unpaid => Billing::Unpaid,
    };
    if args.json {
        out!("{}", render_json(&relay, args.licences, billing));
    } else {
        out!("{}", render(&relay, args.licences, billing));
    }
    ExitCode::SUCCESS
}

/// One limit as `relaysim limits` gives it.
#[derive(serde::Serialize)]
pub struct LimitRow {
    pub scope: &'static str,
    pub rule: &'static str,
    pub limit: &'static str,
    /// The window, e.g. `24h`; `None` for limits without one (concurrency, D4).
    pub window: Option<String>,
    pub window_s: Option<f64>,
    pub value: u64,
    pub basis: String,
}

/// The quota limits (Q1–Q6), then the DoS and per-connection limits (D2–D4), which
/// do not grow with licences.
pub fn rows(relay: &RelayConfig, licences: u32, billing: Billing) -> Vec<LimitRow> {
    let l = EffectiveLimits::for_tenant(&relay.quota, licences, billing, UserLimits::default());
    let user_basis = if billing == Billing::Unpaid {
        "unpaid user limit [assumption]"
    } else {
        "per registered user"
    };
    let timed = |d: relay::time::SimDuration| (Some(d.to_string()), Some(d.as_secs_f64()));
    let row =
        |scope, rule, limit, (window, window_s): (Option<String>, Option<f64>), value, basis| {
            LimitRow {
                scope,
                rule,
                limit,
                window,
                window_s,
                value,
                basis,
            }
        };
    let dos = &relay.dos;
    let count = |r: &relay::config::Rate| r.count.round() as u64;
    vec![
        row(
            "user",
            "Q1",
            "messages per user",
            timed(l.day_window),
            l.user_messages,
            user_basis.to_string(),
        ),
        row(
            "user",
            "Q2",
            "unique recipients per user",
            timed(l.day_window),
            l.user_unique_recipients,
            user_basis.to_string(),
        ),
        row(
            "customer",
            "Q4",
            "recipients, all senders (non-unique)",
            timed(l.day_window),
            l.customer_day,
            basis(l.customer_day_source, "cap 4,600,000"),
        ),
        row(
            "customer",
            "Q5",
            "recipients, all senders (non-unique)",
            timed(l.peak_window),
            l.customer_peak,
            basis(l.customer_peak_source, "cap 319,444"),
        ),
        row(
            "dos",
            "D2",
            "new connections per source IP",
            timed(dos.new_connections_per_ip.per),
            count(&dos.new_connections_per_ip),
            format!(
                "token bucket, burst {} [assumption]",
                dos.new_connection_burst
            ),
        ),
        row(
            "dos",
            "D2",
            "concurrent connections per source IP",
            (None, None),
            u64::from(dos.max_concurrent_per_ip),
            "[assumption]".into(),
        ),
        row(
            "dos",
            "D3",
            "new connections, generic HELO names",
            timed(dos.generic_helo_pool.per),
            count(&dos.generic_helo_pool),
            "one pool for all customers [assumption]".into(),
        ),
        row(
            "dos",
            "D4",
            "messages per connection",
            (None, None),
            u64::from(dos.max_messages_per_connection),
            "then 421 to the next MAIL [assumption]".into(),
        ),
    ]
}

/// `relaysim limits --json`: the licences, the billing state and every row.
pub fn render_json(relay: &RelayConfig, licences: u32, billing: Billing) -> String {
    #[derive(serde::Serialize)]
    struct Limits {
        licences: u32,
        billing: &'static str,
        limits: Vec<LimitRow>,
    }
    let limits = Limits {
        licences,
        billing: match billing {
            Billing::Paid => "paid",
            Billing::Unpaid => "unpaid",
        },
        limits: rows(relay, licences, billing),
    };
    serde_json::to_string_pretty(&limits).expect("limits serialise") + "\n"
}

/// The table `relaysim limits` prints.
pub fn render(relay: &RelayConfig, licences: u32, billing: Billing) -> String {
    let billing_word = match billing {
        Billing::Paid => "paid",
        Billing::Unpaid => "unpaid (no invoice paid yet)",
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Effective SMTP relay limits: {} licences, billing {billing_word}\n",
        group_thousands(u64::from(licences))
    );
    let _ = writeln!(
        out,
        "{:<9} {:<7} {:<38} {:>7} {:>11}  basis",
        "scope", "rule", "limit", "window", "value"
    );
    for r in rows(relay, licences, billing) {
        let _ = writeln!(
            out,
            "{:<9} {:<7} {:<38} {:>7} {:>11}  {}",
            r.scope,
            r.rule,
            r.limit,
            r.window.as_deref().unwrap_or("-"),
            group_thousands(r.value),
            r.basis
        );
    }
    let _ = writeln!(
        out,
        "\nQ1/Q2 count the envelope sender (MAIL FROM) if it is a registered user (Q3);\n\
         Q4/Q5 count every recipient of every message the customer relays (Q8).\n\
         Only Q4 and Q5 grow with licences: more licences never lift Q1, Q2 or D2–D4\n\
         (the [relay.dos] settings of a scenario set D2–D4; see `--relay-from`)."
    );
    out
}

fn basis(source: LimitSource, cap: &str) -> String {
    match source {
        LimitSource::PerLicence {
            per_licence,
            licences,
        } => {
            format!(
                "{per_licence} × {} licences",
                group_thousands(u64::from(licences))
            )
        }
        LimitSource::Cap => format!("{cap} (the per-licence value is higher)"),
        LimitSource::Unpaid => "unpaid customer limit (Q6)".to_string(),
    }
}
