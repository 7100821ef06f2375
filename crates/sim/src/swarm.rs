//! Swarm testing: random but valid scenarios run with every invariant on, and the
//! run re-checked by an independent oracle.
//!
//! [`scenario`] writes a scenario file from a seed: random tenants (licences,
//! billing, Q13, relay settings that do or do not match), limits made small enough to
//! be hit, a window model, DoS thresholds, MTAs of every profile (some misconfigured:
//! an unlisted IP, a generic HELO name, AUTH), senders of every traffic shape and
//! timed events (licence changes, paid invoices, settings changes). [`check`] runs it
//! (`sim::run` checks the relay's and the MTAs' invariants and conservation) and
//! then re-counts every window from the transaction trace with the window written as
//! a plain membership test: no accepted message may find its window, itself
//! included, over the limit in force at that instant; and per limit, hits and clears
//! alternate, starting with a hit. It then runs the scenario again with the relay's
//! timers last in every instant (`TimerOrder::LastInInstant`) and requires the same
//! replies and, per instant, the same limit changes: the relay's answer at an instant
//! never depends on the order in which that instant's events were scheduled.
//!
//! `cargo test` runs a fixed set of seeds (`crates/sim/tests/swarm.rs`);
//! `cargo run --release --example swarm -- N` runs more. A failing seed prints the
//! scenario it generated, ready to save as a regression scenario.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha12Rng;
use relay::limits::EffectiveLimits;
use relay::time::SimTime;
use relay::{
    Billing, LimitChange, LimitEvent, LimitKey, RecipientId, RelayCommand, Reply, WindowModel,
};
use scenario::Model;

use crate::{Observation, Observer, TimerOrder};

/// A seed whose scenario failed: the scenario and what went wrong.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub scenario: String,
    pub problem: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "swarm seed {} failed: {}\n--- the scenario (save it under scenarios/regression/ to keep it) ---\n{}",
            self.seed, self.problem, self.scenario
        )
    }
}

/// What a passing seed did, for the runner's summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    pub transactions: u64,
    pub accepted_messages: u64,
    pub limit_hits: u64,
}

/// Generates the scenario of `seed`, runs it with every check on, and re-checks its
/// windows from the trace.
pub fn check(seed: u64) -> Result<Outcome, Failure> {
    let text = scenario(seed);
    let fail = |problem: String| Failure {
        seed,
        scenario: text.clone(),
        problem,
    };
    let model = Model::parse(&format!("swarm-{seed}.toml"), &text).map_err(|e| {
        fail(format!(
            "the generator wrote an invalid scenario:\n{}",
            e.render(false)
        ))
    })?;
    let mut trace = Trace::default();
    let report = crate::run(&model, model.seed, &mut trace).map_err(|e| fail(e.to_string()))?;
    let oracle = Oracle::new(&model);
    oracle.check(&trace).map_err(fail)?;
    check_alternation(&trace.limits).map_err(fail)?;
    let mut permuted = Trace::default();
    crate::run_with(&model, model.seed, &mut permuted, TimerOrder::LastInInstant).map_err(|e| {
        fail(format!(
            "with the relay's timers last in their instant: {e}"
        ))
    })?;
    same_answers(&trace, &permuted).map_err(fail)?;
    Ok(Outcome {
        transactions: trace.transactions,
        accepted_messages: trace.accepted.len() as u64,
        limit_hits: report.limit_hits,
    })
}

/// One accepted message as the trace shows it.
#[derive(Clone, Debug)]
struct Accepted {
    time: SimTime,
    tenant: usize,
    user: Option<String>,
    recipients: Vec<RecipientId>,
}

/// Records accepted messages, limit events and every reply.
#[derive(Default)]
struct Trace {
    transactions: u64,
    accepted: Vec<Accepted>,
    limits: Vec<LimitEvent>,
    /// `(time, MTA, sender, reply)` of every reply, in the order given.
    replies: Vec<(SimTime, u32, u32, Reply)>,
}

impl Observer for Trace {
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        match *what {
            Observation::Transaction { tag, trace, .. } => {
                // The customer charged (Q8); accepted mail is always attributed.
                let tenant = trace.charged_tenant.unwrap_or(tag.tenant as usize);
                self.transaction(tenant, trace);
            }
            Observation::Limit(e) => self.limits.push(*e),
            _ => {}
        }
        if let Observation::Connection { tag, .. } | Observation::Transaction { tag, .. } = *what {
            let replies = what.replies().iter();
            self.replies
                .extend(replies.map(|&reply| (time, tag.mta, tag.sender, reply)));
        }
    }
}

impl Trace {
    fn transaction(&mut self, tenant: usize, trace: &crate::world::client::TransactionTrace<'_>) {
        self.transactions += 1;
        if trace.reply != Reply::MessageAccepted {
            return;
        }
        let recipients = trace
            .recipients
            .iter()
            .zip(trace.rcpt_replies())
            .filter(|(_, reply)| reply.is_positive())
            .map(|(r, _)| *r)
            .collect();
        self.accepted.push(Accepted {
            time: trace.time,
            tenant,
            user: trace.counted_user.map(str::to_string),
            recipients,
        });
    }
}

/// The same-instant invariant (`TimerOrder`): a run with the relay's timers last in
/// their instant gives exactly the same replies, and at every instant the same limit
/// changes (their order within the instant may differ).
fn same_answers(scheduled: &Trace, timers_last: &Trace) -> Result<(), String> {
    if let Some(i) = (0..scheduled.replies.len().max(timers_last.replies.len()))
        .find(|&i| scheduled.replies.get(i) != timers_last.replies.get(i))
    {
        return Err(format!(
            "the replies depend on when the relay's timers run within an instant: reply {i} \
             is {:?} with timers as scheduled, {:?} with timers last",
            scheduled.replies.get(i),
            timers_last.replies.get(i)
        ));
    }
    let by_instant = |events: &[LimitEvent]| {
        let mut v: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.time,
                    e.key,
                    e.change == LimitChange::Hit,
                    e.used,
                    e.limit_value,
                )
            })
            .collect();
        v.sort();
        v
    };
    let (a, b) = (
        by_instant(&scheduled.limits),
        by_instant(&timers_last.limits),
    );
    if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
        return Err(format!(
            "the limit changes depend on when the relay's timers run within an instant: \
             {:?} with timers as scheduled, {:?} with timers last",
            a.get(i),
            b.get(i)
        ));
    }
    Ok(())
}

/// Per limit (of a subject): hit, cleared, hit, … in time order.
fn check_alternation(events: &[LimitEvent]) -> Result<(), String> {
    let mut last: BTreeMap<LimitKey, (LimitChange, SimTime)> = BTreeMap::new();
    for e in events {
        let expected = match last.get(&e.key) {
            None | Some((LimitChange::Cleared, _)) => LimitChange::Hit,
            Some((LimitChange::Hit, _)) => LimitChange::Cleared,
        };
        if e.change != expected {
            return Err(format!(
                "{} of {:?}: {:?} at {} s follows {:?}",
                e.key.limit.name(),
                e.key.subject,
                e.change,
                e.time,
                last.get(&e.key)
            ));
        }
        if last.get(&e.key).is_some_and(|(_, t)| *t > e.time) {
            return Err(format!(
                "{} of {:?}: events out of time order",
                e.key.limit.name(),
                e.key.subject
            ));
        }
        last.insert(e.key, (e.change, e.time));
    }
    Ok(())
}

/// The windows re-counted from scratch, independently of the quota engine.
struct Oracle<'a> {
    model: &'a Model,
    /// Each user's tenant.
    user_tenant: BTreeMap<&'a str, usize>,
}

impl<'a> Oracle<'a> {
    fn new(model: &'a Model) -> Self {
        let user_tenant = model
            .tenants
            .iter()
            .enumerate()
            .flat_map(|(t, tenant)| tenant.users.iter().map(move |u| (u.as_str(), t)))
            .collect();
        Oracle { model, user_tenant }
    }

    /// Whether an item counted at `s` still counts at `t` in a window of `len` ms.
    fn counts(&self, s: u64, t: u64, len: u64) -> bool {
        let q = &self.model.relay.quota;
        match q.window {
            WindowModel::Rolling => t - s < len,
            WindowModel::Fixed => {
                let anchor = (q.fixed_reset_at.as_millis() % len) as i64;
                let period = |x: u64| (x as i64 - anchor).div_euclid(len as i64);
                period(s) == period(t)
            }
            WindowModel::Bucketed => {
                let b = q.bucket.as_millis();
                t / b - s / b < len.div_ceil(b)
            }
        }
    }

    /// The limits of `tenant` at `t`: its configuration with every event up to `t`
    /// applied in time order (events at the same instant in file order).
    fn limits_at(&self, tenant: usize, t: SimTime) -> EffectiveLimits {
        let mut licences = self.model.tenants[tenant].licences;
        let mut billing = self.model.tenants[tenant].billing;
        let mut events: Vec<_> = self
            .model
            .events
            .iter()
            .filter(|e| SimTime::ZERO + e.at <= t)
            .collect();
        events.sort_by_key(|e| e.at);
        for e in events {
            match e.command {
                RelayCommand::SetLicences {
                    tenant: x,
                    licences: l,
                } if x.0 as usize == tenant => {
                    licences = l;
                }
                RelayCommand::InvoicePaid { tenant: x } if x.0 as usize == tenant => {
                    billing = Billing::Paid;
                }
                _ => {}
            }
        }
        EffectiveLimits::for_tenant(
            &self.model.relay.quota,
            licences,
            billing,
            self.model.tenants[tenant].user_limits,
        )
    }

    /// The messages of `list` (in time order) that still count at `t` in a window of
    /// `len` ms. No item counts longer than its window plus a bucket, so the scan
    /// stops there.
    fn window<'m>(&self, list: &[&'m Accepted], t: u64, len: u64) -> Vec<&'m Accepted> {
        let span = len + self.model.relay.quota.bucket.as_millis();
        list.iter()
            .rev()
            .take_while(|x| t - x.time.as_millis() < span)
            .filter(|x| self.counts(x.time.as_millis(), t, len))
            .copied()
            .collect()
    }

    fn check(&self, trace: &Trace) -> Result<(), String> {
        let q = &self.model.relay.quota;
        let (day, peak) = (q.day_window.as_millis(), q.peak_window.as_millis());
        // The accepted messages of each tenant and of each user, in time order.
        let mut by_tenant: BTreeMap<usize, Vec<&Accepted>> = BTreeMap::new();
        let mut by_user: BTreeMap<&str, Vec<&Accepted>> = BTreeMap::new();
        for m in &trace.accepted {
            let t = m.time.as_millis();
            let at = format!("message accepted at {} s for tenant {}", m.time, m.tenant);
            let mine = by_tenant.entry(m.tenant).or_default();
            mine.push(m);
            let limits = self.limits_at(m.tenant, m.time);
            let recipients = |list: Vec<&Accepted>| -> u64 {
                list.iter().map(|x| x.recipients.len() as u64).sum()
            };
            let d = recipients(self.window(mine, t, day));
            if d > limits.customer_day {
                return Err(format!(
                    "Q4: {at}: the day window holds {d} > {}",
                    limits.customer_day
                ));
            }
            let p = recipients(self.window(mine, t, peak));
            if p > limits.customer_peak {
                return Err(format!(
                    "Q5: {at}: the peak window holds {p} > {}",
                    limits.customer_peak
                ));
            }
            let Some(user) = &m.user else { continue };
            let Some(&home) = self.user_tenant.get(user.as_str()) else {
                return Err(format!("{at}: counted user {user} is no registered user"));
            };
            let limits = self.limits_at(home, m.time);
            let theirs = by_user.entry(user.as_str()).or_default();
            theirs.push(m);
            let live = self.window(theirs, t, day);
            if live.len() as u64 > limits.user_messages {
                return Err(format!(
                    "Q1: {at}: {user} has {} messages > {}",
                    live.len(),
                    limits.user_messages
                ));
            }
            let unique: BTreeSet<RecipientId> = live
                .iter()
                .flat_map(|x| x.recipients.iter().copied())
                .collect();
            if unique.len() as u64 > limits.user_unique_recipients {
                return Err(format!(
                    "Q2: {at}: {user} has {} unique recipients > {}",
                    unique.len(),
                    limits.user_unique_recipients
                ));
            }
        }
        Ok(())
    }
}

/// The scenario file of `seed`.
pub fn scenario(seed: u64) -> String {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let r = &mut rng;
    let mut s = String::new();
    let hours = r.random_range(2..=24u32);
    let _ = writeln!(
        s,
        "[simulation]\nname = \"swarm-{seed}\"\nseed = {}\nduration = \"{hours}h\"\nbucket = \"{}\"",
        r.random_range(0..1000u32),
        ["1m", "5m", "15m"][r.random_range(0..3)]
    );
    let diurnal = r.random_bool(0.2);
    if diurnal {
        s.push_str("start = 2026-03-02T06:00:00\n");
    }
    // Limits small enough to be hit in a short run.
    let window = ["rolling", "rolling", "fixed", "bucketed"][r.random_range(0..4)];
    let _ = writeln!(
        s,
        "\n[relay]\nfrontends = {}\nsettings_propagation = \"{}m\"\n\n[relay.quota]\nwindow = \"{window}\"\nfixed_reset_at = \"{}m\"\nbucket = \"{}s\"\nday_window = \"{}h\"\npeak_window = \"{}m\"\nuser_messages_per_day = {}\nuser_unique_recipients_per_day = {}\ncustomer_recipients_per_licence_per_day = {}\ncustomer_recipients_per_licence_per_peak = {}\nunpaid_customer_recipients_per_day = {}\nunpaid_customer_recipients_per_peak = {}",
        r.random_range(1..=16u32),
        r.random_range(0..=120u32),
        r.random_range(0..=600u32),
        r.random_range(1..=300u32),
        r.random_range(1..=24u32),
        r.random_range(1..=10u32),
        r.random_range(3..=300u32),
        r.random_range(3..=300u32),
        r.random_range(1..=130u32),
        r.random_range(1..=9u32),
        r.random_range(5..=100u32),
        r.random_range(2..=50u32),
    );
    let _ = writeln!(
        s,
        "\n[relay.dos]\nnew_connections_per_ip = \"{}/min\"\nnew_connection_burst = {}\nmax_concurrent_per_ip = {}\ngeneric_helo_pool = \"{}/min\"\ngeneric_helo_background = \"{}/min\"\nmax_messages_per_connection = {}",
        r.random_range(1..=120u32),
        r.random_range(1..=40u32),
        r.random_range(1..=30u32),
        r.random_range(1..=60u32),
        r.random_range(0..=20u32),
        r.random_range(1..=200u32),
    );
    let tenants = r.random_range(1..=3usize);
    let mut users: Vec<Vec<String>> = Vec::new();
    for t in 0..tenants {
        let n_users = r.random_range(0..=3usize);
        let list: Vec<String> = (0..n_users).map(|u| format!("u{u}@t{t}.example")).collect();
        let _ = writeln!(
            s,
            "\n[[tenant]]\nid = \"t{t}\"\nlicences = {}\nbilling = \"{}\"\nprimary_domain = \"t{t}.example\"\nsecondary_domains = [\"t{t}-mail.example\"]\nusers = [{}]\nblock_all_senders_at_customer_limit = {}",
            r.random_range(1..=40u32),
            if r.random_bool(0.25) {
                "unpaid"
            } else {
                "paid"
            },
            list.iter()
                .map(|u| format!("\"{u}\""))
                .collect::<Vec<_>>()
                .join(", "),
            r.random_bool(0.3),
        );
        for k in 0..r.random_range(1..=2usize) {
            setting(&mut s, r, &format!("s{k}"));
        }
        users.push(list);
    }
    let profiles = [
        "postfix",
        "exim",
        "sendmail",
        "qmail",
        "exchange-2003",
        "exchange-2003-tuned",
        "exchange-2010",
        "domino",
        "groupwise",
        "macos-server",
    ];
    let mtas = r.random_range(1..=3usize);
    let mut mta_tenant = Vec::new();
    for m in 0..mtas {
        let t = r.random_range(0..tenants);
        mta_tenant.push(t);
        let (port, tls) = [
            (25, "none"),
            (587, "starttls"),
            (465, "implicit"),
            (25, "starttls"),
        ][r.random_range(0..4)];
        let helo = match r.random_range(0..10) {
            0 => "localhost".to_string(),
            1 => "[192.0.2.9]".to_string(),
            _ => format!("mx{m}.t{t}.example"),
        };
        let _ = writeln!(
            s,
            "\n[[mta]]\nid = \"m{m}\"\ntenant = \"t{t}\"\nprofile = \"{}\"\nsource_ip = \"192.0.2.{}\"\nhelo = \"{helo}\"\nport = {port}\ntls = \"{tls}\"\ninternal_domains = [{}]",
            profiles[r.random_range(0..profiles.len())],
            r.random_range(1..=6u32),
            if r.random_bool(0.3) {
                "\"corp.example\""
            } else {
                ""
            },
        );
        if tls != "none" && r.random_bool(0.4) {
            let username = users[t]
                .first()
                .cloned()
                .unwrap_or_else(|| format!("nobody@t{t}.example"));
            let _ = writeln!(
                s,
                "auth = {{ username = \"{username}\", valid = {} }}",
                r.random_bool(0.9)
            );
        }
        let _ = writeln!(
            s,
            "[mta.overrides]\nmax_concurrency = {}",
            r.random_range(1..=10u32)
        );
    }
    for k in 0..r.random_range(1..=4usize) {
        let m = r.random_range(0..mtas);
        let t = mta_tenant[m];
        let mut from: Vec<String> = users[t].clone();
        from.push(format!("app{k}@t{t}.example"));
        if r.random_bool(0.3) {
            from.push("<>".into());
        }
        if r.random_bool(0.2) {
            from.push(format!("someone@outside{k}.example"));
        }
        let pattern = if diurnal && r.random_bool(0.5) {
            "diurnal"
        } else {
            ["constant", "poisson", "poisson", "bursts"][r.random_range(0..4)]
        };
        let _ = writeln!(
            s,
            "\n[[sender]]\nid = \"x{k}\"\nmta = \"m{m}\"\nenvelope_from = [{}]\npattern = \"{pattern}\"\nrecipients = {}\nrecipient_pool = {{ size = {}, zipf_exponent = {:.1}, domain = \"r{}.example\", internal_share = {:.1}, internal_domain = \"corp.example\" }}",
            from.iter()
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(", "),
            ["1", "3", "\"1..8\"", "\"geometric:2\""][r.random_range(0..4)],
            r.random_range(1..=400u32),
            r.random_range(0..=15u32) as f64 / 10.0,
            r.random_range(0..2u32),
            r.random_range(0..=3u32) as f64 / 10.0,
        );
        if pattern != "bursts" {
            let _ = writeln!(s, "rate = \"{}/h\"", r.random_range(1..=200u32));
        }
        if pattern == "diurnal" {
            let weights: Vec<String> = (0..24)
                .map(|_| r.random_range(0..=5u32).to_string())
                .collect();
            let _ = writeln!(s, "weights = [{}, 1]", weights[..23].join(", "));
        }
        if pattern == "bursts" || r.random_bool(0.3) {
            let _ = writeln!(
                s,
                "[[sender.burst]]\nat = \"{}m\"\nmessages = {}\nover = \"{}m\"",
                r.random_range(0..hours * 60),
                r.random_range(1..=300u32),
                r.random_range(0..=30u32)
            );
        }
    }
    for _ in 0..r.random_range(0..=3usize) {
        let t = r.random_range(0..tenants);
        let at = r.random_range(0..hours * 60);
        match r.random_range(0..4) {
            0 => {
                let _ = writeln!(
                    s,
                    "\n[[event]]\nat = \"{at}m\"\nkind = \"set_licences\"\ntenant = \"t{t}\"\nlicences = {}",
                    r.random_range(1..=60u32)
                );
            }
            1 => {
                let _ = writeln!(
                    s,
                    "\n[[event]]\nat = \"{at}m\"\nkind = \"invoice_paid\"\ntenant = \"t{t}\""
                );
            }
            2 => {
                let _ = writeln!(
                    s,
                    "\n[[event]]\nat = \"{at}m\"\nkind = \"change_relay_setting\"\ntenant = \"t{t}\""
                );
                let mut inline = String::new();
                setting(&mut inline, r, "s0");
                // The setting's keys go under [event.relay_setting].
                let keys =
                    inline.replace("\n[[tenant.relay_setting]]\n", "[event.relay_setting]\n");
                s.push_str(&keys);
            }
            _ => {
                let _ = writeln!(
                    s,
                    "\n[[event]]\nat = \"{at}m\"\nkind = \"remove_relay_setting\"\ntenant = \"t{t}\"\nsetting = \"s0\""
                );
            }
        }
    }
    s
}

/// A `[[tenant.relay_setting]]` named `name`: IP ranges that cover some of the
/// MTAs' addresses (or none), SMTP AUTH, or both.
fn setting(s: &mut String, r: &mut ChaCha12Rng, name: &str) {
    let (ips, auth) = match r.random_range(0..4) {
        0 => (false, true),
        1 => (true, true),
        _ => (true, false),
    };
    let _ = writeln!(
        s,
        "\n[[tenant.relay_setting]]\nname = \"{name}\"\nallowed_senders = \"{}\"\nonly_listed_ips = {ips}\nsmtp_auth = {auth}\nrequire_tls = {}",
        ["registered_users", "domain_addresses", "any_address"][r.random_range(0..3)],
        r.random_bool(0.2),
    );
    if ips {
        let cidr = [
            "192.0.2.0/29",
            "192.0.2.1",
            "192.0.2.0/30",
            "198.51.100.0/24",
        ][r.random_range(0..4)];
        let _ = writeln!(
            s,
            "ip_ranges = [{{ cidr = \"{cidr}\", enabled = {} }}]",
            r.random_bool(0.9)
        );
    }
}
