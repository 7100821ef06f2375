//! Cross-checks between sections: ids are unique, references resolve, settings are
//! coherent (P2: an authentication method; P4: AUTH needs TLS; …). Every problem is
//! reported, each at the place a user would edit.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::diagnostic::{DiagnosticSink, suggest};
use super::{
    EventKind, Model, Pattern, RawScenario, RelaySetting, Scenario, Sender, Simulation, Tenant,
    TlsMode,
};
use relay::time::SimDuration;

/// M2, M3: every override has a range a real server could be configured with, and
/// the relations between them hold. A retry gap under a second would make a deferred
/// message loop (no MTA retries faster); zero concurrency or recipients per
/// transaction would deliver nothing.
fn check_overrides(mta: &crate::mta::Mta, sink: &mut DiagnosticSink) {
    let o = &mta.overrides;
    let id = mta.id.get_ref();
    let second = SimDuration::from_secs(1);
    let day = SimDuration::DAY;
    let month = SimDuration::from_secs(30 * 86_400);
    let mut duration = |d: &Option<Spanned<crate::values::Duration>>,
                        key: &str,
                        max: SimDuration| {
        if let Some(d) = d {
            let v = d.get_ref().get();
            if v < second || v > max {
                sink.error_with_help(
                    d.span(),
                    &format!("mta `{id}`: {key} = \"{}\" is outside 1s..{}", d.get_ref(), crate::values::Duration(max)),
                    "out of range",
                    &format!("set {key} between 1s and {}: no mail server retries faster than once a second", crate::values::Duration(max)),
                );
            }
        }
    };
    duration(&o.queue_run_interval, "queue_run_interval", day);
    duration(&o.min_backoff, "min_backoff", day);
    duration(&o.max_backoff, "max_backoff", month);
    if let (Some(min), Some(max)) = (&o.min_backoff, &o.max_backoff)
        && min.get_ref().get() > max.get_ref().get()
    {
        sink.error_with_help(
            max.span(),
            &format!("mta `{id}`: max_backoff is below min_backoff"),
            "below min_backoff",
            "make max_backoff at least min_backoff (Postfix: 300s and 4000s)",
        );
    }
    if let Some(gaps) = &o.retry_intervals {
        let list = gaps.get_ref();
        if list.is_empty() {
            sink.error_with_help(
                gaps.span(),
                &format!("mta `{id}`: retry_intervals is empty"),
                "no interval",
                "list at least one interval, e.g. [\"1m\", \"5m\"]; the last repeats",
            );
        }
        if let Some(bad) = list.iter().find(|g| g.get() < second || g.get() > month) {
            sink.error_with_help(
                gaps.span(),
                &format!("mta `{id}`: retry interval \"{bad}\" is outside 1s..30d"),
                "out of range",
                "give every retry interval between 1s and 30d: no mail server retries faster than once a second",
            );
        }
    }
    let mut count = |n: &Option<Spanned<u32>>, key: &str, max: u32, hint: &str| {
        if let Some(n) = n
            && !(1..=max).contains(n.get_ref())
        {
            sink.error_with_help(
                n.span(),
                &format!("mta `{id}`: {key} = {} is outside 1..{max}", n.get_ref()),
                "out of range",
                hint,
            );
        }
    };
    count(
        &o.recipients_per_transaction,
        "recipients_per_transaction",
        1000,
        "set 1 to 1000 (Postfix's smtpd_recipient_limit; the relay takes 100 by default, P10)",
    );
    count(
        &o.max_concurrency,
        "max_concurrency",
        1000,
        "set 1 to 1000 connections",
    );
    count(
        &o.initial_concurrency,
        "initial_concurrency",
        1000,
        "set 1 to max_concurrency",
    );
    let max = o.max_concurrency.as_ref().map(|m| *m.get_ref());
    if let (Some(initial), Some(max)) = (&o.initial_concurrency, max)
        && *initial.get_ref() > max
    {
        sink.error_with_help(
            initial.span(),
            &format!("mta `{id}`: initial_concurrency is above max_concurrency ({max})"),
            "above the maximum",
            "the slow start begins at or below the maximum: lower initial_concurrency",
        );
    }
    if mta.bandwidth.get_ref().0 < 1000 {
        sink.error_with_help(
            mta.bandwidth.span(),
            &format!(
                "mta `{id}`: bandwidth {} per second would leave mail stuck",
                mta.bandwidth.get_ref().0
            ),
            "too low",
            "give at least 1KB per second, e.g. bandwidth = \"10MB\"",
        );
    }
}

/// P6: a client whose TLS setting cannot work on its port never gets an SMTP
/// dialogue (plain SMTP or STARTTLS on an implicit-TLS port, implicit TLS on a plain
/// port): that is a mistake in the file, not a scenario. A port the relay does not
/// listen on at all is a modelled misconfiguration (refused at connect) and passes.
fn check_tls_against_port(
    mta: &crate::mta::Mta,
    policy: &crate::relay_config::PolicyConfig,
    sink: &mut DiagnosticSink,
) {
    let port = mta.port;
    if !policy.ports.contains(&port) {
        return;
    }
    let implicit_port = policy.implicit_tls_ports.contains(&port);
    let tls = *mta.tls.get_ref();
    let id = mta.id.get_ref();
    // `tls` may be left at its default: then point at the MTA.
    let span = if mta.tls.span().is_empty() {
        mta.id.span()
    } else {
        mta.tls.span()
    };
    if implicit_port && tls != TlsMode::Implicit {
        sink.error_with_help(
            span.clone(),
            &format!(
                "mta `{id}`: port {port} expects a TLS handshake first (implicit TLS), but tls = \"{}\"",
                if tls == TlsMode::None { "none" } else { "starttls" }
            ),
            "cannot work on this port",
            "use tls = \"implicit\" on port 465, or port = 587 with tls = \"starttls\" (or tls = \"none\" on port 25/587)",
        );
    } else if !implicit_port && tls == TlsMode::Implicit {
        sink.error_with_help(
            span,
            &format!(
                "mta `{id}`: tls = \"implicit\" on port {port}, where the relay speaks plain SMTP first"
            ),
            "cannot work on this port",
            "use port = 465 for implicit TLS, or tls = \"starttls\" on this port",
        );
    }
}

/// Turns the raw sections into a scenario if every check passes.
pub(super) fn assemble(raw: RawScenario, sink: &mut DiagnosticSink) -> Option<Scenario> {
    if !raw.simulation_seen {
        sink.error_with_help(
            0..0,
            "missing [simulation] section",
            "a scenario starts here",
            "add [simulation] with name = \"…\" and duration = \"24h\"",
        );
    }
    let errors_before = sink.diagnostics.len();
    // A reference to a section that failed to parse cannot be checked: skip those
    // checks rather than report a cascade of "no such id" errors.
    let tenants_ok = raw.tenants.iter().all(Option::is_some);
    let mtas_ok = raw.mtas.iter().all(Option::is_some);
    let senders_ok = raw.senders.iter().all(Option::is_some);
    let complete = raw.simulation.is_some()
        && raw.tenants.iter().all(Option::is_some)
        && raw.mtas.iter().all(Option::is_some)
        && raw.senders.iter().all(Option::is_some)
        && raw.events.iter().all(Option::is_some)
        && raw.expectations.iter().all(Option::is_some)
        && raw.dialogues.iter().all(Option::is_some);
    let tenants: Vec<Tenant> = raw.tenants.into_iter().flatten().collect();
    let mtas: Vec<_> = raw.mtas.into_iter().flatten().collect();
    let senders: Vec<Sender> = raw.senders.into_iter().flatten().collect();
    let events: Vec<_> = raw.events.into_iter().flatten().collect();
    let expectations: Vec<_> = raw.expectations.into_iter().flatten().collect();
    let dialogues: Vec<_> = raw.dialogues.into_iter().flatten().collect();

    if let Some(sim) = &raw.simulation {
        check_simulation(sim, sink);
    }
    let tenant_ids = unique_ids(tenants.iter().map(|t| &t.id), "tenant", sink);
    let mta_ids = unique_ids(mtas.iter().map(|m| &m.id), "mta", sink);
    let sender_ids = unique_ids(senders.iter().map(|s| &s.id), "sender", sink);
    check_domains_are_owned_once(&tenants, sink);
    for tenant in &tenants {
        check_tenant(tenant, sink);
    }
    let policy = raw
        .relay
        .as_ref()
        .map(|r| r.policy.clone())
        .unwrap_or_default();
    for mta in &mtas {
        if tenants_ok {
            reference(&mta.tenant, &tenant_ids, "tenant", sink);
        }
        check_tls_against_port(mta, &policy, sink);
        check_overrides(mta, sink);
        if let Some(auth) = &mta.auth
            && *mta.tls.get_ref() == TlsMode::None
        {
            sink.error_with_help(
                auth.span(),
                &format!("mta `{}` uses SMTP AUTH without TLS", mta.id.get_ref()),
                "AUTH needs TLS",
                "the relay offers AUTH only over TLS (P4): set tls = \"starttls\" (port 587) or tls = \"implicit\" (port 465), or remove auth",
            );
        }
    }
    let horizon = raw.simulation.as_ref().map(|s| *s.duration.get_ref());
    let has_start = raw.simulation.as_ref().is_some_and(|s| s.start.is_some());
    let growth = raw
        .simulation
        .as_ref()
        .map(|s| *s.traffic_growth.get_ref())
        .filter(|g| *g > 0.0 && *g <= MAX_TRAFFIC_GROWTH)
        .unwrap_or(1.0);
    for sender in &senders {
        if mtas_ok {
            reference(&sender.mta, &mta_ids, "mta", sink);
        }
        check_sender(sender, has_start, growth, sink);
        for burst in &sender.bursts {
            if let Some(h) = horizon
                && burst.at.get_ref().get() >= h.get()
            {
                sink.error_with_help(
                    burst.at.span(),
                    &format!(
                        "burst of sender `{}` at {} starts at or after the end of the run ({h})",
                        sender.id.get_ref(),
                        burst.at.get_ref()
                    ),
                    "never happens",
                    "move it before [simulation] duration or lengthen the run",
                );
            }
        }
    }
    for event in &events {
        if tenants_ok {
            reference(&event.tenant, &tenant_ids, "tenant", sink);
        }
        let kind = *event.kind.get_ref();
        let span = event.kind.span();
        let needs = |present: bool, key: &str, sink: &mut DiagnosticSink| {
            if !present {
                sink.error_with_help(
                    span.clone(),
                    &format!("event kind `{}` needs `{key}`", kind_name(kind)),
                    "this kind",
                    &format!("add {key} = … to this [[event]]"),
                );
            }
        };
        needs(
            kind != EventKind::SetLicences || event.licences.is_some(),
            "licences",
            sink,
        );
        needs(
            kind != EventKind::ChangeRelaySetting || event.relay_setting.is_some(),
            "relay_setting",
            sink,
        );
        needs(
            kind != EventKind::RemoveRelaySetting || event.setting.is_some(),
            "setting",
            sink,
        );
        if let Some(l) = &event.licences {
            check_licences(l, sink);
        }
        if let Some(rs) = &event.relay_setting {
            check_relay_setting(rs, sink);
        }
        if let (Some(name), Some(tenant)) = (
            &event.setting,
            tenants
                .iter()
                .find(|t| t.id.get_ref() == event.tenant.get_ref()),
        ) {
            let names: Vec<&str> = tenant
                .relay_settings
                .iter()
                .map(|r| r.name.get_ref().as_str())
                .collect();
            if !names.contains(&name.get_ref().as_str()) {
                sink.error_with_help(
                    name.span(),
                    &format!(
                        "tenant `{}` has no relay setting `{}`",
                        tenant.id.get_ref(),
                        name.get_ref()
                    ),
                    "unknown setting",
                    &suggest(name.get_ref(), &names, "its relay settings are"),
                );
            }
        }
        if let Some(h) = horizon
            && event.at > h
        {
            sink.error_with_help(
                span.clone(),
                &format!("event at {} is after the end of the run ({h})", event.at),
                "never happens",
                "move it before [simulation] duration or lengthen the run",
            );
        }
    }
    let addresses: Vec<(&str, Vec<String>)> = tenants
        .iter()
        .map(|t| (t.id.get_ref().as_str(), t.user_addresses()))
        .collect();
    let users: Vec<(&str, &str)> = addresses
        .iter()
        .flat_map(|(t, list)| list.iter().map(move |u| (*t, u.as_str())))
        .collect();
    for expectation in expectations.iter().filter(|_| tenants_ok && senders_ok) {
        super::expect_check::check(expectation, &tenant_ids, &sender_ids, &users, sink);
    }
    for dialogue in &dialogues {
        super::dialogue::check(dialogue, horizon, sink);
    }

    if !complete || sink.diagnostics.len() > errors_before {
        return None;
    }
    Some(Scenario {
        simulation: raw.simulation?,
        relay: raw.relay.unwrap_or_default(),
        tenants,
        mtas,
        senders,
        events,
        expectations,
        dialogues,
    })
}

/// Every recipient must have a 32-bit number: the pools' addresses (shared per
/// domain) and the envelope and replay addresses together.
/// The pre-run estimate (`estimate.rs`) within its bounds, else an error at the
/// setting to change.
pub(super) fn estimate_within_bounds(
    scenario: &Scenario,
    model: &Model,
    sink: &mut DiagnosticSink,
) {
    use crate::estimate::{MAX_MEMORY, MAX_MESSAGES, MAX_ROWS_PER_FILE};
    let e = model.estimate();
    let sim = &scenario.simulation;
    let at_duration = sim.duration.span();
    if e.rows_per_file() > MAX_ROWS_PER_FILE {
        let span = if sim.bucket.span().is_empty() {
            at_duration.clone()
        } else {
            sim.bucket.span()
        };
        sink.error_with_help(
            span,
            &format!(
                "{} buckets of {} over {} make {} rows in a results file, above {MAX_ROWS_PER_FILE}",
                e.buckets,
                sim.bucket.get_ref(),
                sim.duration.get_ref(),
                e.rows_per_file()
            ),
            "too many rows",
            "use a longer bucket (e.g. bucket = \"1m\" or \"1h\") or a shorter duration; pass --allow-large if you mean it",
        );
    }
    if e.messages > MAX_MESSAGES {
        sink.error_with_help(
            at_duration.clone(),
            &format!(
                "the senders would hand over about {:.0} messages in {}, above {MAX_MESSAGES:.0}",
                e.messages,
                sim.duration.get_ref()
            ),
            "too much work",
            "shorten the duration or lower the senders' rates; pass --allow-large if you mean it",
        );
    }
    let memory = e.memory;
    if memory.total() > MAX_MEMORY {
        use crate::estimate::MemoryPart;
        let gb = |b: f64| format!("{:.1} GB", b / 1e9);
        let (part, bytes) = memory.largest();
        let (what, span, help) = match part {
            MemoryPart::Queue => (
                format!(
                    "messages queued in the MTAs (about {:.0} at the deepest)",
                    e.peak_queue
                ),
                at_duration.clone(),
                "lower the senders' rates below the customer limits, shorten the duration, or give the MTAs a shorter queue_lifetime",
            ),
            MemoryPart::ProgramAndSenders => (
                format!(
                    "the tenants, registered users, MTAs and senders ({} users, {} senders)",
                    model.tenants.iter().map(|t| t.users.len()).sum::<usize>(),
                    model.senders.len()
                ),
                at_duration.clone(),
                "simulate fewer senders or registered users (smaller populations)",
            ),
            MemoryPart::Windows => (
                "the registered users' unique-recipient windows (Q2)".to_string(),
                at_duration.clone(),
                "simulate fewer registered users or a lower traffic",
            ),
            MemoryPart::Tables => (
                "the recipient pools' popularity tables".to_string(),
                scenario
                    .senders
                    .iter()
                    .max_by_key(|s| s.recipient_pool.size.get_ref())
                    .map_or(at_duration.clone(), |s| s.recipient_pool.size.span()),
                "use smaller recipient pools, or pools above 4,000,000 addresses (sampled without a table)",
            ),
        };
        sink.error_with_help(
            span,
            &format!(
                "the run would need about {} of memory, above {}; most of it ({}) for {what}",
                gb(memory.total()),
                gb(MAX_MEMORY),
                gb(bytes)
            ),
            "too much memory",
            &format!("{help}; pass --allow-large if you mean it"),
        );
    }
}

pub(super) fn address_space(scenario: &Scenario, model: &Model, sink: &mut DiagnosticSink) {
    let addresses: u64 = crate::model::recipient_domains(&model.senders)
        .values()
        .map(|&n| u64::from(n))
        .sum::<u64>()
        + crate::model::envelope_addresses(&model.senders).len() as u64;
    if let (true, Some(first)) = (addresses > u64::from(u32::MAX), scenario.senders.first()) {
        sink.error_with_help(
            first.recipient_pool.size.span(),
            &format!(
                "the recipient pools hold {addresses} addresses in all, more than 4,294,967,295"
            ),
            "too many addresses",
            "use smaller recipient_pool sizes (pools of the same domain share addresses)",
        );
    }
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::SetLicences => "set_licences",
        EventKind::InvoicePaid => "invoice_paid",
        EventKind::ChangeRelaySetting => "change_relay_setting",
        EventKind::RemoveRelaySetting => "remove_relay_setting",
    }
}

fn check_simulation(sim: &Simulation, sink: &mut DiagnosticSink) {
    let name = sim.name.get_ref();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.starts_with('.')
    {
        sink.error_with_help(
            sim.name.span(),
            &format!("scenario name `{name}` cannot name a folder"),
            "used as results/<name>/",
            "use letters, digits, `-`, `_` and `.`, e.g. \"helpdesk-burst\"",
        );
    }
    if sim.duration.get_ref().get() == SimDuration::ZERO {
        sink.error_with_help(
            sim.duration.span(),
            "the run has zero duration",
            "nothing would happen",
            "set a horizon such as duration = \"24h\"",
        );
    }
    if sim.bucket.get_ref().get() == SimDuration::ZERO {
        sink.error_with_help(
            sim.bucket.span(),
            "throughput bucket of zero length",
            "must be positive",
            "use e.g. bucket = \"60s\"",
        );
    }
    let growth = *sim.traffic_growth.get_ref();
    if !(growth > 0.0 && growth <= MAX_TRAFFIC_GROWTH) {
        sink.error_with_help(
            sim.traffic_growth.span(),
            &format!(
                "traffic_growth {growth} is not a factor from above 0 to {MAX_TRAFFIC_GROWTH}"
            ),
            "not a growth factor",
            "write e.g. traffic_growth = 1.5 for 50 % more traffic (1 is the traffic as written)",
        );
    }
}

/// Largest `traffic_growth`: a hundredfold.
const MAX_TRAFFIC_GROWTH: f64 = 100.0;

/// Ids must be unique within their kind; returns them for reference checks.
fn unique_ids<'a>(
    ids: impl Iterator<Item = &'a Spanned<String>>,
    kind: &str,
    sink: &mut DiagnosticSink,
) -> Vec<String> {
    let mut seen: BTreeMap<&str, Range<usize>> = BTreeMap::new();
    for id in ids {
        if id.get_ref().is_empty() {
            sink.error_with_help(
                id.span(),
                &format!("empty {kind} id"),
                "empty",
                "give it a short name",
            );
        }
        if let Some(first) = seen.get(id.get_ref().as_str()) {
            sink.error_with_help(
                id.span(),
                &format!("duplicate {kind} id `{}`", id.get_ref()),
                "defined twice",
                &format!(
                    "the first is on line {}; give each {kind} its own id",
                    sink.line_of(first.start)
                ),
            );
        } else {
            seen.insert(id.get_ref(), id.span());
        }
    }
    seen.into_keys().map(str::to_string).collect()
}

pub(super) fn reference(
    id: &Spanned<String>,
    known: &[String],
    kind: &str,
    sink: &mut DiagnosticSink,
) {
    if !known.iter().any(|k| k == id.get_ref()) {
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        let help = if known.is_empty() {
            format!("define a [[{kind}]] with id = \"{}\"", id.get_ref())
        } else {
            suggest(id.get_ref(), &known, &format!("the {kind}s are"))
        };
        sink.error_with_help(
            id.span(),
            &format!("no {kind} with id `{}`", id.get_ref()),
            &format!("unknown {kind}"),
            &help,
        );
    }
}

/// Most licences a tenant may have: ten million, far past the 35,400 at which both
/// customer caps (Q4, Q5) already bind.
pub const MAX_LICENCES: u32 = 10_000_000;

fn check_licences(licences: &Spanned<u32>, sink: &mut DiagnosticSink) {
    let n = *licences.get_ref();
    if n == 0 {
        sink.error_with_help(
            licences.span(),
            "a tenant needs at least 1 licence",
            "zero licences",
            "set licences = 1 or more (Q4 and Q5 scale with it)",
        );
    } else if n > MAX_LICENCES {
        sink.error_with_help(
            licences.span(),
            &format!("{n} licences is more than {MAX_LICENCES}"),
            "too many licences",
            "set 1 to 10000000; above 35,400 licences the customer caps bind anyway (Q4, Q5)",
        );
    }
}

/// `users_pattern`: 1 to a million users, `{n}` in the local part, an address of one
/// of the tenant's domains (checked once: the domain is every member's).
fn check_user_pattern(
    tenant: &Tenant,
    p: &crate::population::UserPattern,
    sink: &mut DiagnosticSink,
) {
    use crate::population::{MAX_POPULATION, member_address, pattern_problem};
    let id = tenant.id.get_ref();
    if !(1..=MAX_POPULATION).contains(p.count.get_ref()) {
        sink.error_with_help(
            p.count.span(),
            &format!(
                "tenant `{id}`: users_pattern count = {} is outside 1..{MAX_POPULATION}",
                p.count.get_ref()
            ),
            "out of range",
            "give the number of users, 1 to 1000000",
        );
    }
    let pattern = p.pattern.get_ref();
    let first = member_address(pattern, 1);
    let problem = match first.parse::<super::values::EmailAddress>() {
        Err(_) => Some("it is not an email address with `{n}` for the number"),
        Ok(_) => pattern_problem(pattern),
    };
    if let Some(problem) = problem {
        sink.error_with_help(
            p.pattern.span(),
            &format!("tenant `{id}`: users_pattern \"{pattern}\": {problem}"),
            "not a pattern",
            "write e.g. pattern = \"user{n}@acme.example\" (n runs from 1 to count)",
        );
        return;
    }
    let domain: Option<super::values::DomainName> =
        first.rsplit_once('@').and_then(|(_, d)| d.parse().ok());
    if let Some(domain) = domain
        && !tenant.domains().any(|d| domain.is_within(d))
    {
        let domains: Vec<String> = tenant.domains().map(ToString::to_string).collect();
        sink.error_with_help(
            p.pattern.span(),
            &format!("tenant `{id}`: users_pattern \"{pattern}\" is not in a domain of the tenant"),
            "foreign domain",
            &format!(
                "registered users belong to the tenant's domains: {}",
                domains.join(", ")
            ),
        );
    }
}

fn check_tenant(tenant: &Tenant, sink: &mut DiagnosticSink) {
    check_licences(&tenant.licences, sink);
    if !tenant.passwords.is_empty() {
        let users = tenant.user_addresses();
        for address in tenant.passwords.keys() {
            if !users.contains(&address.to_ascii_lowercase()) {
                let known: Vec<&str> = users.iter().map(String::as_str).collect();
                sink.error_with_help(
                    tenant.id.span(),
                    &format!(
                        "tenant `{}` has a password for `{address}`, who is not one of its registered users",
                        tenant.id.get_ref()
                    ),
                    "in this tenant's passwords",
                    &suggest(&address.to_ascii_lowercase(), &known, "its registered users are"),
                );
            }
        }
    }
    let mut names: BTreeMap<&str, ()> = BTreeMap::new();
    for setting in &tenant.relay_settings {
        check_relay_setting(setting, sink);
        if names.insert(setting.name.get_ref(), ()).is_some() {
            sink.error_with_help(
                setting.name.span(),
                &format!(
                    "duplicate relay setting `{}` in tenant `{}`",
                    setting.name.get_ref(),
                    tenant.id.get_ref()
                ),
                "defined twice",
                "give each relay setting its own name",
            );
        }
    }
    if let Some(p) = &tenant.users_pattern {
        check_user_pattern(tenant, p, sink);
    }
    for user in &tenant.users {
        let domain: super::values::DomainName = match user.get_ref().domain().parse() {
            Ok(d) => d,
            Err(_) => continue,
        };
        if !tenant.domains().any(|d| domain.is_within(d)) {
            let domains: Vec<String> = tenant.domains().map(ToString::to_string).collect();
            sink.error_with_help(
                user.span(),
                &format!(
                    "user `{}` is not in a domain of tenant `{}`",
                    user.get_ref(),
                    tenant.id.get_ref()
                ),
                "foreign domain",
                &format!(
                    "registered users belong to the tenant's domains: {}",
                    domains.join(", ")
                ),
            );
        }
    }
}

/// P2: at least one authentication method; P3 ranges were checked when parsed.
fn check_relay_setting(setting: &RelaySetting, sink: &mut DiagnosticSink) {
    if !setting.only_listed_ips && !setting.smtp_auth {
        sink.error_with_help(
            setting.name.span(),
            &format!(
                "relay setting `{}` has no authentication method",
                setting.name.get_ref()
            ),
            "no authentication",
            "P2: set only_listed_ips = true (with ip_ranges) and/or smtp_auth = true",
        );
    }
    if setting.only_listed_ips && setting.ip_ranges.is_empty() {
        sink.error_with_help(
            setting.name.span(),
            &format!(
                "relay setting `{}` allows only listed IPs but lists none",
                setting.name.get_ref()
            ),
            "no ip_ranges",
            "add ip_ranges = [{ cidr = \"203.0.113.0/24\" }]",
        );
    }
}

/// A domain owned by two tenants would make attribution (Q8) ambiguous.
fn check_domains_are_owned_once(tenants: &[Tenant], sink: &mut DiagnosticSink) {
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for tenant in tenants {
        for domain in tenant.domains() {
            if let Some(first) = owner.insert(&domain.0, tenant.id.get_ref())
                && first != tenant.id.get_ref()
            {
                sink.error_with_help(
                    tenant.id.span(),
                    &format!("domain `{domain}` belongs to tenants `{first}` and `{}`", tenant.id.get_ref()),
                    "shared domain",
                    "a domain is verified by one Workspace customer only: remove it from one tenant",
                );
            }
        }
    }
}

/// Most messages a sender may hand over per second (3.6 M an hour, far above any
/// customer's relay limits), and in one burst.
pub const MAX_SENDER_RATE_PER_SECOND: f64 = 1_000.0;
pub const MAX_BURST_MESSAGES: u32 = 10_000_000;

/// A population has 1 to a million members, is not a replay (the file is one
/// sender's), and `{n}` numbers members only where there are members.
fn check_population(sender: &Sender, replay: bool, sink: &mut DiagnosticSink) {
    use crate::population::{MAX_POPULATION, MEMBER};
    let id = sender.id.get_ref();
    match &sender.population {
        Some(p) if !(1..=MAX_POPULATION).contains(p.get_ref()) => sink.error_with_help(
            p.span(),
            &format!(
                "sender `{id}`: population = {} is outside 1..{MAX_POPULATION}",
                p.get_ref()
            ),
            "out of range",
            "give the number of members, 1 to 1000000",
        ),
        Some(p) if replay => sink.error_with_help(
            p.span(),
            &format!("sender `{id}`: a replay sender cannot have a population"),
            "not with replay",
            "remove population: the replay file is one sender's mail",
        ),
        Some(_) => {}
        None => {
            let numbered = sender
                .envelope_from
                .get_ref()
                .iter()
                .any(|f| f.to_string().contains(MEMBER));
            if numbered {
                sink.error_with_help(
                    sender.envelope_from.span(),
                    &format!("sender `{id}`: `{{n}}` in envelope_from, but no population"),
                    "no members to number",
                    "add population = N (members 1 to N), or write the address out",
                );
            }
        }
    }
}

/// `growth` is the scenario's `traffic_growth` (1 when it is itself wrong).
fn check_sender(sender: &Sender, has_start: bool, growth: f64, sink: &mut DiagnosticSink) {
    let id = sender.id.get_ref();
    let pattern = *sender.pattern.get_ref();
    let pattern_span = sender.pattern.span();
    let grown = if growth == 1.0 {
        String::new()
    } else {
        format!(" × traffic_growth {growth}")
    };
    if let Some(rate) = &sender.rate
        && rate.per_milli() * growth * 1000.0 > MAX_SENDER_RATE_PER_SECOND
    {
        sink.error_with_help(
            sender.id.span(),
            &format!("sender `{id}`: rate {rate}{grown} is more than {MAX_SENDER_RATE_PER_SECOND} messages a second"),
            "rate too high",
            "lower the rate (1000/s is 86.4 million messages a day), or split the traffic over several senders",
        );
    }
    for burst in &sender.bursts {
        if f64::from(burst.messages) * growth > f64::from(MAX_BURST_MESSAGES) {
            sink.error_with_help(
                burst.at.span(),
                &format!(
                    "sender `{id}`: a burst of {} messages{grown} is more than {MAX_BURST_MESSAGES}",
                    burst.messages
                ),
                "burst too big",
                "split it into several bursts, or lower `messages`",
            );
        }
    }
    let replay = pattern == Pattern::Replay;
    if replay && growth != 1.0 {
        sink.error_with_help(
            pattern_span.clone(),
            &format!("sender `{id}` replays a log, which traffic_growth {growth} cannot scale"),
            "replayed as recorded",
            "fit a model of the log instead (relaysim import … --fit writes one that scales), or leave traffic_growth at 1",
        );
    }
    check_population(sender, replay, sink);
    if !replay && sender.envelope_from.get_ref().is_empty() {
        let span = if sender.envelope_from.span().is_empty() {
            sender.id.span()
        } else {
            sender.envelope_from.span()
        };
        sink.error_with_help(
            span,
            &format!("sender `{id}` has no envelope sender"),
            "needs envelope_from",
            "add envelope_from = [\"app@example.com\"] (\"<>\" is the empty sender)",
        );
    }
    if replay && !sender.envelope_from.get_ref().is_empty() {
        sink.error_with_help(
            sender.envelope_from.span(),
            &format!("sender `{id}` replays a file, which gives the envelope senders"),
            "not with replay",
            "remove envelope_from: the replay file has an envelope_from column",
        );
    }
    match (&sender.replay, replay) {
        (None, true) => sink.error_with_help(
            pattern_span.clone(),
            &format!("sender `{id}` has pattern \"replay\" but no replay file"),
            "needs replay = …",
            "add replay = \"traffic.csv\" (columns time,envelope_from,recipients[,size])",
        ),
        (Some(file), false) => sink.error_with_help(
            file.span(),
            &format!("sender `{id}` names a replay file but its pattern is not \"replay\""),
            "ignored",
            "add pattern = \"replay\", or remove replay",
        ),
        _ => {}
    }
    match pattern {
        Pattern::Constant | Pattern::Poisson | Pattern::Diurnal => {
            if sender.rate.is_none() {
                sink.error_with_help(
                    sender.id.span(),
                    &format!("sender `{id}` has no rate"),
                    "needs rate = …",
                    "add e.g. rate = \"2000/h\", or use pattern = \"bursts\" with [[sender.burst]]",
                );
            }
        }
        Pattern::Replay => {}
        Pattern::Bursts => {
            if sender.bursts.is_empty() {
                sink.error_with_help(
                    pattern_span.clone(),
                    &format!("sender `{id}` has pattern \"bursts\" but no [[sender.burst]]"),
                    "no bursts",
                    "add [[sender.burst]] with at = \"9h\" and messages = 3000",
                );
            }
        }
    }
    if pattern == Pattern::Diurnal {
        if !has_start {
            sink.error_with_help(
                pattern_span.clone(),
                &format!("sender `{id}` is diurnal but the scenario has no start time"),
                "needs [simulation] start",
                "add start = 2026-03-02T00:00:00 to [simulation] so hours of the day are known",
            );
        }
        match &sender.weights {
            None => sink.error_with_help(
                pattern_span.clone(),
                &format!("sender `{id}` is diurnal but has no weights"),
                "needs weights",
                "add weights = [24 numbers], one per hour of the local day",
            ),
            Some(w) => {
                let values = w.get_ref();
                if values.len() != 24
                    || values.iter().any(|x| !x.is_finite() || *x < 0.0)
                    || values.iter().sum::<f64>() <= 0.0
                {
                    sink.error_with_help(
                        w.span(),
                        &format!(
                            "sender `{id}` needs 24 non-negative weights, not all zero (got {})",
                            values.len()
                        ),
                        "hourly weights",
                        "one weight per hour 0–23 of the local day, e.g. 0 at night and 5 at 09:00",
                    );
                }
            }
        }
    } else if let Some(w) = &sender.weights {
        sink.error_with_help(
            w.span(),
            &format!("weights are only used with pattern = \"diurnal\" (sender `{id}`)"),
            "unused",
            "remove weights, or set pattern = \"diurnal\"",
        );
    }
    if let Some(stop) = sender.stop
        && stop <= sender.start
    {
        sink.error_with_help(
            sender.id.span(),
            &format!(
                "sender `{id}` stops ({stop}) before it starts ({})",
                sender.start
            ),
            "empty interval",
            "make stop later than start",
        );
    }
    let pool = &sender.recipient_pool;
    if *pool.size.get_ref() == 0 {
        sink.error_with_help(
            pool.size.span(),
            "recipient pool of size 0",
            "empty pool",
            "use size = 1 or more",
        );
    }
    let zipf = *pool.zipf_exponent.get_ref();
    if !(zipf.is_finite() && zipf >= 0.0) {
        sink.error_with_help(
            pool.zipf_exponent.span(),
            "Zipf exponent must be 0 or more",
            "invalid",
            "0 is uniform popularity; about 1 is typical of mail",
        );
    }
    let share = *pool.internal_share.get_ref();
    if !(0.0..=1.0).contains(&share) {
        sink.error_with_help(
            pool.internal_share.span(),
            &format!("internal share {share} is not between 0 and 1"),
            "a share",
            "write e.g. internal_share = 0.2 for 20%",
        );
    } else if share > 0.0 && pool.internal_domain.is_none() {
        sink.error_with_help(
            pool.internal_share.span(),
            "internal recipients need an internal_domain",
            "which domain?",
            "add internal_domain = \"corp.example\" to the recipient_pool",
        );
    }
}
