//! The checks of one `[[expect]]` block: its references resolve, it has what its
//! check needs, its bounds can be met, and it holds no key its check does not read
//! (a key silently ignored would make a test that cannot fail).

use toml::Spanned;

use super::check::reference;
use super::diagnostic::{DiagnosticSink, suggest};
use super::expect::{Bound, Instants};
use super::{Check, Expectation, LimitKind, Metric};

/// The keys each check reads, besides `name` and `check`.
fn keys_read(check: Check, metric: Option<Metric>) -> &'static [&'static str] {
    match (check, metric) {
        (Check::Count, Some(Metric::DeliveryDelay)) => &[
            "metric", "tenant", "sender", "quantile", "equals", "at_least", "at_most",
        ],
        (Check::Count, _) => &[
            "metric", "tenant", "sender", "user", "reply", "during", "equals", "at_least",
            "at_most",
        ],
        (Check::FirstHit | Check::FirstCleared, _) => {
            &["limit", "tenant", "user", "source_ip", "between"]
        }
        (Check::NeverHit, _) => &["limit", "tenant", "user", "source_ip"],
        (Check::DeliveredBy, _) => &["tenant", "sender", "at"],
        (Check::Usage | Check::LimitValue, _) => &[
            "limit", "tenant", "user", "at", "equals", "at_least", "at_most",
        ],
        (Check::Attribution, _) => &["sender", "relayed_as", "counted_user"],
        (Check::Attempts, _) => &["sender", "message", "at", "tolerance"],
    }
}

/// Every optional key of `[[expect]]` with whether it is given and where.
fn keys_given(e: &Expectation) -> Vec<(&'static str, Option<std::ops::Range<usize>>)> {
    fn at<T>(v: &Option<Spanned<T>>) -> Option<std::ops::Range<usize>> {
        v.as_ref().map(Spanned::span)
    }
    let check = Some(e.check.span());
    vec![
        ("metric", at(&e.metric)),
        ("limit", at(&e.limit)),
        ("tenant", at(&e.tenant)),
        ("user", at(&e.user)),
        ("source_ip", at(&e.source_ip)),
        ("sender", at(&e.sender)),
        ("reply", e.reply.as_ref().and(check.clone())),
        ("equals", at(&e.equals)),
        ("at_least", at(&e.at_least)),
        ("at_most", at(&e.at_most)),
        ("between", at(&e.between)),
        ("during", at(&e.during)),
        ("quantile", at(&e.quantile)),
        ("at", at(&e.at)),
        ("tolerance", at(&e.tolerance)),
        ("message", at(&e.message)),
        ("relayed_as", at(&e.relayed_as)),
        ("counted_user", at(&e.counted_user)),
    ]
}

pub(super) fn check(
    e: &Expectation,
    tenant_ids: &[String],
    sender_ids: &[String],
    users: &[(&str, &str)],
    sink: &mut DiagnosticSink,
) {
    let check = *e.check.get_ref();
    let metric = e.metric.as_ref().map(|m| *m.get_ref());
    let span = e.check.span();
    if let Some(t) = &e.tenant {
        reference(t, tenant_ids, "tenant", sink);
    }
    if let Some(s) = &e.sender {
        reference(s, sender_ids, "sender", sink);
    }
    let tenant = e.tenant.as_ref().map(|t| t.get_ref().as_str());
    for user in [&e.user, &e.counted_user].into_iter().flatten() {
        registered_user(user, tenant, users, sink);
    }
    let name = check.name();
    let needs = |ok: bool, what: &str, help: &str, sink: &mut DiagnosticSink| {
        if !ok {
            sink.error_with_help(
                span.clone(),
                &format!("check `{name}` needs {what}"),
                "incomplete",
                help,
            );
        }
    };
    // Keys the check does not read would be silently ignored: refuse them.
    let read = keys_read(check, metric);
    for (key, place) in keys_given(e) {
        if let Some(place) = place
            && !read.contains(&key)
        {
            sink.error_with_help(
                place,
                &format!("`{key}` has no meaning for check `{name}`"),
                "not read by this check",
                &format!(
                    "remove `{key}`; check `{name}` reads {}",
                    read.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    let has_bound = e.equals.is_some() || e.at_least.is_some() || e.at_most.is_some();
    match check {
        Check::Count => {
            needs(
                metric.is_some(),
                "`metric`",
                "add metric = \"messages_bounced\" (see `relaysim schema`)",
                sink,
            );
            needs(
                has_bound,
                "a bound",
                "add equals = N, at_least = N and/or at_most = N",
                sink,
            );
            if metric == Some(Metric::Replies) && e.reply.is_none() {
                sink.error_with_help(
                    e.metric.as_ref().map_or(span.clone(), Spanned::span),
                    "metric \"replies\" needs `reply`",
                    "which reply?",
                    "add reply = \"550 5.7.1\"",
                );
            }
            if let (Some(m), Some(u)) = (metric, &e.user)
                && m != Metric::Replies
            {
                sink.error_with_help(
                    u.span(),
                    "per registered user only `metric = \"replies\"` is counted",
                    "counts of this user",
                    "count replies of the user's transactions (metric = \"replies\"), or count by `sender`",
                );
            }
            if metric == Some(Metric::DeliveryDelay) {
                duration_bounds(e, sink);
                if let Some(q) = &e.quantile {
                    let q_value = q.get_ref().share();
                    if !(q_value > 0.0 && q_value <= 1.0) {
                        sink.error_with_help(
                            q.span(),
                            &format!("quantile {q_value} is not above 0 and at most 1"),
                            "a quantile",
                            "write e.g. quantile = 0.99 for the 99th percentile, 1 for the largest",
                        );
                    }
                }
            } else if let Some(m) = metric {
                if e.user.is_some() {
                    // Only replies are counted per user: there is nothing to compare with.
                    number_bounds(e, sink);
                } else {
                    count_bounds(e, m, sink);
                }
                if let (Some(d), Some(_)) = (&e.during, &e.user) {
                    sink.error_with_help(
                        d.span(),
                        "the replies counted to a user are counted over the whole run",
                        "not with `user`",
                        "remove `during`, or count the replies of the user's `sender` during the window",
                    );
                }
                if let Some(d) = &e.during {
                    window(d, "during", sink);
                    if !m.counts_during() {
                        sink.error_with_help(
                            d.span(),
                            &format!("`{}` cannot be counted `during` a window", m.name()),
                            "not counted per instant",
                            "counts of what happens at an instant (generated, delivered, bounced, deferred, replies, connections, rewritten, notifications) can; remove `during`",
                        );
                    }
                }
            }
        }
        Check::FirstHit | Check::FirstCleared | Check::NeverHit => {
            needs(
                e.limit.is_some(),
                "`limit`",
                "add limit = \"customer_peak\" (see `relaysim schema`)",
                sink,
            );
            if check != Check::NeverHit {
                needs(
                    e.between.is_some(),
                    "`between`",
                    "add between = [\"9h\", \"9h30m\"]",
                    sink,
                );
            }
            if let Some(b) = &e.between {
                window(b, "between", sink);
            }
        }
        Check::DeliveredBy => {
            one_instant(e, "add at = \"10h\" (from the scenario start)", sink);
        }
        Check::Usage | Check::LimitValue => {
            one_instant(e, "add at = \"3h\" (from the scenario start)", sink);
            needs(
                has_bound,
                "a bound",
                "add equals = N, at_least = N and/or at_most = N",
                sink,
            );
            number_bounds(e, sink);
            match e.limit.as_ref().map(|l| (*l.get_ref(), l.span())) {
                None => needs(
                    false,
                    "`limit`",
                    "add limit = \"customer_peak\": one of user_messages, user_unique_recipients (with `user`), customer_day, customer_peak (with `tenant`)",
                    sink,
                ),
                Some((LimitKind::UserMessages | LimitKind::UserUniqueRecipients, _)) => needs(
                    e.user.is_some(),
                    "`user` for a per-user limit",
                    "add user = \"someone@acme.example\" (a registered user)",
                    sink,
                ),
                Some((LimitKind::CustomerDay | LimitKind::CustomerPeak, _)) => needs(
                    e.tenant.is_some(),
                    "`tenant` for a customer limit",
                    "add tenant = \"…\"",
                    sink,
                ),
                Some((_, place)) => sink.error_with_help(
                    place,
                    &format!("check `{name}` reads the quota limits, not DoS protection"),
                    "not a quota window",
                    "use user_messages, user_unique_recipients, customer_day or customer_peak; for DoS limits use first_hit or never_hit",
                ),
            }
        }
        Check::Attribution => {
            needs(
                e.sender.is_some(),
                "`sender`",
                "add sender = \"…\": whose transactions",
                sink,
            );
            needs(
                e.relayed_as.is_some() || e.counted_user.is_some(),
                "`relayed_as` and/or `counted_user`",
                "add relayed_as = \"postmaster@acme.example\" or counted_user = \"app@acme.example\"",
                sink,
            );
        }
        Check::Attempts => {
            needs(
                e.sender.is_some(),
                "`sender`",
                "add sender = \"…\": whose message",
                sink,
            );
            match e.at.as_ref().map(|a| (a.get_ref(), a.span())) {
                Some((Instants::Many(list), _)) if !list.is_empty() => {}
                Some((_, place)) => sink.error_with_help(
                    place,
                    "check `attempts` needs a list of instants",
                    "one instant",
                    "write at = [\"0s\", \"5m\", \"10m\"]: one per delivery attempt",
                ),
                None => needs(
                    false,
                    "`at`",
                    "add at = [\"0s\", \"5m\", \"10m\"]: the time of each delivery attempt",
                    sink,
                ),
            }
            if let Some(m) = &e.message
                && *m.get_ref() == 0
            {
                sink.error_with_help(
                    m.span(),
                    "messages are numbered from 1",
                    "no message 0",
                    "write message = 1 for the sender's first message",
                );
            }
        }
    }
}

/// `user` and `counted_user` name a registered user (of `tenant`, when given).
fn registered_user(
    user: &Spanned<String>,
    tenant: Option<&str>,
    users: &[(&str, &str)],
    sink: &mut DiagnosticSink,
) {
    let addr = user.get_ref().to_ascii_lowercase();
    if users
        .iter()
        .any(|(t, a)| *a == addr && tenant.is_none_or(|x| x == *t))
    {
        return;
    }
    let known: Vec<&str> = users.iter().map(|(_, a)| *a).collect();
    sink.error_with_help(
        user.span(),
        &format!(
            "no registered user `{}`{}",
            user.get_ref(),
            tenant
                .map(|t| format!(" in tenant `{t}`"))
                .unwrap_or_default()
        ),
        "unknown user",
        &suggest(&addr, &known, "the registered users are"),
    );
}

fn bounds(e: &Expectation) -> impl Iterator<Item = &Spanned<Bound>> {
    [&e.equals, &e.at_least, &e.at_most].into_iter().flatten()
}

/// A count's bounds: numbers, or the name of another count of the same scope.
fn count_bounds(e: &Expectation, metric: Metric, sink: &mut DiagnosticSink) {
    for b in bounds(e) {
        let Bound::Text(text) = b.get_ref() else {
            continue;
        };
        match Metric::from_name(text) {
            Some(other) if other.is_plain_count() => {}
            _ => {
                let names: Vec<String> = Metric::ALL
                    .iter()
                    .filter(|m| m.is_plain_count())
                    .map(|m| m.name())
                    .collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                sink.error_with_help(
                    b.span(),
                    &format!(
                        "`{text}` is neither a number nor a metric to compare `{}` with",
                        metric.name()
                    ),
                    "not a count",
                    &suggest(text, &names, "write a number, or one of"),
                );
            }
        }
    }
    contradictory(e, sink);
}

/// Bounds that are numbers only (`usage`, `limit_value`).
fn number_bounds(e: &Expectation, sink: &mut DiagnosticSink) {
    for b in bounds(e) {
        if let Bound::Text(text) = b.get_ref() {
            sink.error_with_help(
                b.span(),
                &format!("bound `{text}` is not a number"),
                "a number",
                "write the count, e.g. equals = 2",
            );
        }
    }
    contradictory(e, sink);
}

/// `delivery_delay`'s bounds are durations.
fn duration_bounds(e: &Expectation, sink: &mut DiagnosticSink) {
    for b in bounds(e) {
        let problem = match b.get_ref() {
            Bound::Number(n) => format!("delay bound {n} has no unit"),
            Bound::Text(t) => match super::values::parse_duration(t) {
                Ok(_) => continue,
                Err(e) => super::diagnostic::split_hint(&e).0.to_string(),
            },
        };
        sink.error_with_help(
            b.span(),
            &problem,
            "a duration",
            "write the delay as a duration, e.g. at_most = \"15m\"",
        );
    }
}

/// Bounds no value can meet would fail every run: say so now.
fn contradictory(e: &Expectation, sink: &mut DiagnosticSink) {
    let number = |b: &Option<Spanned<Bound>>| match b.as_ref().map(Spanned::get_ref) {
        Some(Bound::Number(n)) => Some(*n),
        _ => None,
    };
    let (equals, at_least, at_most) = (number(&e.equals), number(&e.at_least), number(&e.at_most));
    let low = at_least.into_iter().chain(equals).max();
    let high = at_most.into_iter().chain(equals).min();
    if let (Some(low), Some(high)) = (low, high)
        && low > high
    {
        sink.error_with_help(
            e.check.span(),
            &format!("no count can meet these bounds: at least {low} and at most {high}"),
            "contradictory bounds",
            "make at_least ≤ equals ≤ at_most",
        );
    }
}

/// A `[from, to]` window must not run backwards.
fn window(w: &Spanned<[super::values::Duration; 2]>, key: &str, sink: &mut DiagnosticSink) {
    let [from, to] = *w.get_ref();
    if from > to {
        sink.error_with_help(
            w.span(),
            &format!("`{key}` runs backwards ({from} > {to})"),
            "reversed",
            "write [earliest, latest]",
        );
    }
}

/// `at` is one instant.
fn one_instant(e: &Expectation, help: &str, sink: &mut DiagnosticSink) {
    let name = e.check.get_ref().name();
    match e.at.as_ref().map(|a| (a.get_ref(), a.span())) {
        Some((Instants::One(_), _)) => {}
        Some((Instants::Many(_), place)) => sink.error_with_help(
            place,
            &format!("check `{name}` takes one instant"),
            "a list",
            help,
        ),
        None => sink.error_with_help(
            e.check.span(),
            &format!("check `{name}` needs `at`"),
            "incomplete",
            help,
        ),
    }
}
