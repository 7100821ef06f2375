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
    out!("{}", render(&relay, args.licences, billing));
    ExitCode::SUCCESS
}

/// The table `relaysim limits` prints: the quota limits (Q1–Q6), then the DoS and
/// per-connection limits (D2–D4), which do not grow with licences.
pub fn render(relay: &RelayConfig, licences: u32, billing: Billing) -> String {
    let l = EffectiveLimits::for_tenant(&relay.quota, licences, billing, UserLimits::default());
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
    let day = l.day_window.to_string();
    let peak = l.peak_window.to_string();
    let user_basis = if billing == Billing::Unpaid {
        "unpaid user limit [assumption]"
    } else {
        "per registered user"
    };
    let rows = [
        (
            "user",
            "Q1",
            "messages per user",
            &day,
            l.user_messages,
            user_basis.to_string(),
        ),
        (
            "user",
            "Q2",
            "unique recipients per user",
            &day,
            l.user_unique_recipients,
            user_basis.to_string(),
        ),
        (
            "customer",
            "Q4",
            "recipients, all senders (non-unique)",
            &day,
            l.customer_day,
            basis(l.customer_day_source, "cap 4,600,000"),
        ),
        (
            "customer",
            "Q5",
            "recipients, all senders (non-unique)",
            &peak,
            l.customer_peak,
            basis(l.customer_peak_source, "cap 319,444"),
        ),
    ];
    for (scope, rule, what, window, value, basis) in rows {
        let _ = writeln!(
            out,
            "{scope:<9} {rule:<7} {what:<38} {window:>7} {:>11}  {basis}",
            group_thousands(value)
        );
    }
    let dos = &relay.dos;
    let window = |r: &relay::config::Rate| r.per.to_string();
    let count = |r: &relay::config::Rate| r.count.round() as u64;
    let dos_rows = [
        (
            "D2",
            "new connections per source IP",
            window(&dos.new_connections_per_ip),
            count(&dos.new_connections_per_ip),
            format!(
                "token bucket, burst {} [assumption]",
                dos.new_connection_burst
            ),
        ),
        (
            "D2",
            "concurrent connections per source IP",
            "-".into(),
            u64::from(dos.max_concurrent_per_ip),
            "[assumption]".into(),
        ),
        (
            "D3",
            "new connections, generic HELO names",
            window(&dos.generic_helo_pool),
            count(&dos.generic_helo_pool),
            "one pool for all customers [assumption]".into(),
        ),
        (
            "D4",
            "messages per connection",
            "-".into(),
            u64::from(dos.max_messages_per_connection),
            "then 421 to the next MAIL [assumption]".into(),
        ),
    ];
    for (rule, what, window, value, basis) in dos_rows {
        let _ = writeln!(
            out,
            "{:<9} {rule:<7} {what:<38} {window:>7} {:>11}  {basis}",
            "dos",
            group_thousands(value)
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
