//! What `relaysim sweep` prints: the table of a sweep, and the answer of a search in
//! words — with the evidence, and what licences cannot fix.

use super::output::outln;
use std::process::ExitCode;

use super::group_thousands;
use relay::time::SimDuration;
use relay::{LimitKind, Subject};
use scenario::Model;
use sim::sweep::{self, Evaluated, FixedLimitHit, Point, Search, Sweeper, Target, Verdict};

/// A delay in seconds as the clock reads it, to the second (rounded up): `1h 2m 5s`.
fn delay(s: f64) -> String {
    SimDuration::from_millis((s.ceil() * 1000.0) as u64).to_string()
}

/// One line per point (licence count, `--vary` values): means over the replicates.
/// `values[v]` are the `--vary` values of variant `v`; `has_target` adds the
/// `meets` column.
pub fn print_table(
    points: &[Point],
    tenant: &str,
    values: &[Vec<String>],
    vary_keys: &[String],
    has_target: bool,
) {
    outln!("tenant {tenant} (recipients; means over the replicates):");
    // A column per --vary key, as wide as its key or its widest value.
    let widths: Vec<usize> = vary_keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            values
                .iter()
                .map(|v| v[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(k.chars().count())
        })
        .collect();
    let mut head = String::new();
    for (k, w) in vary_keys.iter().zip(&widths) {
        head.push_str(&format!("{k:>w$}  "));
    }
    head.push_str(&format!(
        "{:>9}  {:>11}  {:>9}  {:>9}  {:>9}  {:>9}  {:>10}  {:>10}  ",
        "licences",
        "delivered %",
        "deferred",
        "attempts",
        "bounced",
        "queued",
        "p99 delay",
        "max delay"
    ));
    if has_target {
        head.push_str("meets  ");
    }
    head.push_str("first hit of");
    outln!("{head}");
    let mut i = 0;
    while i < points.len() {
        let (v, l) = (points[i].variant, points[i].licences);
        let group: Vec<&Point> = points[i..]
            .iter()
            .take_while(|p| p.variant == v && p.licences == l)
            .collect();
        i += group.len();
        let n = group.len() as f64;
        let mean = |f: &dyn Fn(&Point) -> f64| group.iter().map(|p| f(p)).sum::<f64>() / n;
        let delivered = mean(&|p| 100.0 * p.delivered as f64 / p.generated.max(1) as f64);
        let hits: Vec<String> = sweep::LIMITS
            .iter()
            .enumerate()
            .filter_map(|(k, limit)| {
                let first = group
                    .iter()
                    .filter_map(|p| p.first_hits[k])
                    .fold(f64::INFINITY, f64::min);
                first
                    .is_finite()
                    .then(|| format!("{} at {}", limit.name(), delay(first)))
            })
            .collect();
        let mut line = String::new();
        for (value, w) in values[v as usize].iter().zip(&widths) {
            line.push_str(&format!("{value:>w$}  "));
        }
        line.push_str(&format!(
            "{:>9}  {:>10.2}%  {:>9.0}  {:>9.0}  {:>9.0}  {:>9.0}  {:>10}  {:>10}  ",
            group_thousands(u64::from(l)),
            delivered,
            mean(&|p| p.deferred as f64),
            mean(&|p| p.deferral_attempts as f64),
            mean(&|p| p.bounced as f64),
            mean(&|p| p.queued_at_end as f64),
            delay(mean(&|p| p.delay_s.map_or(0.0, |d| d[2]))),
            delay(mean(&|p| p.delay_s.map_or(0.0, |d| d[3]))),
        ));
        if has_target {
            let met = group.iter().filter(|p| p.meets == Some(true)).count();
            line.push_str(&format!("{:>5}  ", format!("{met}/{}", group.len())));
        }
        line.push_str(&if hits.is_empty() {
            "-".to_string()
        } else {
            hits.join(", ")
        });
        outln!("{line}");
    }
}

/// Prints the search: every count run with how many replicates met the target, the
/// answer and why the count below misses — or why no count in the range meets it.
/// The exit code fails when there is no answer.
pub fn explain_search(
    search: &Search,
    sweeper: &Sweeper<'_>,
    (model, file): (&Model, &std::path::Path),
    (lo, hi): (u32, u32),
) -> ExitCode {
    let target = sweeper.target;
    let tenant = &model.tenant(sweeper.tenant).id;
    let seeds: Vec<String> = search.evaluated[0]
        .points
        .iter()
        .map(|p| p.seed.to_string())
        .collect();
    outln!(
        "searched {}..{} licences of tenant {tenant} for: {}",
        group_thousands(u64::from(lo)),
        group_thousands(u64::from(hi)),
        target.describe()
    );
    outln!(
        "each count ran {} replicate{} (the same traffic at every count; seeds {})",
        sweeper.replicates,
        if sweeper.replicates == 1 { "" } else { "s" },
        if seeds.len() > 3 {
            format!("{}, {}, … {}", seeds[0], seeds[1], seeds[seeds.len() - 1])
        } else {
            seeds.join(", ")
        }
    );
    outln!("{:>9}  {:>5}  first miss", "licences", "meet");
    for e in &search.evaluated {
        let why = e
            .first_miss(target)
            .map(|(p, why)| format!("seed {}: {}", p.seed, why.join("; ")))
            .unwrap_or_default();
        let line = format!(
            "{:>9}  {:>5}  {why}",
            group_thousands(u64::from(e.licences)),
            format!("{}/{}", e.met(), e.points.len())
        );
        outln!("{}", line.trim_end());
    }
    for note in &search.not_monotone {
        outln!(
            "note: not monotone: {note}; the search assumes more licences never make it worse, so check the counts near the answer with a plain sweep"
        );
    }
    match search.verdict {
        Verdict::Found { licences } => {
            let at = search.at(licences).expect("the answer was run");
            outln!(
                "answer: {} licences meet the target at every replicate ({})",
                group_thousands(u64::from(licences)),
                worst(at)
            );
            match search.at(licences.saturating_sub(1)) {
                Some(below) if licences > lo => {
                    if let Some((p, why)) = below.first_miss(target) {
                        outln!(
                            "because at {} licences {}/{} replicates miss it; seed {}: {}",
                            group_thousands(u64::from(below.licences)),
                            below.points.len() - below.met(),
                            below.points.len(),
                            p.seed,
                            why.join("; ")
                        );
                    }
                }
                _ => outln!(
                    "the lowest count searched already meets it: search a lower range, e.g. --licences 1..{licences}"
                ),
            }
            ExitCode::SUCCESS
        }
        Verdict::RangeTooSmall { hi } => {
            let top = search.at(hi).expect("the top was run");
            let why = top
                .first_miss(target)
                .map(|(_, why)| why.join("; "))
                .unwrap_or_default();
            outln!(
                "answer: none in the range — at {} licences: {why}",
                group_thousands(u64::from(hi))
            );
            outln!(
                "the per-licence limits (Q4, Q5) still bind there, so more licences may help\nhelp: search a wider range, e.g. --licences {lo}..{}",
                hi.saturating_mul(10)
            );
            ExitCode::FAILURE
        }
        Verdict::Unfixable { from, alike } => {
            let top = search.at(hi).expect("the top was run");
            explain_unfixable(top, (from, alike), target, (model, file));
            ExitCode::FAILURE
        }
    }
}

/// The worst replicate's figures at a count that meets the target.
fn worst(at: &Evaluated) -> String {
    let max = |f: fn(&Point) -> u64| at.points.iter().map(f).max().unwrap_or(0);
    let slowest = at
        .points
        .iter()
        .filter_map(|p| p.delay_s.map(|d| d[3]))
        .fold(0.0, f64::max);
    format!(
        "worst replicate: slowest message {}, {} bounced, {} deferred",
        delay(slowest),
        group_thousands(max(|p| p.bounced)),
        group_thousands(max(|p| p.deferred))
    )
}

/// "At every licence count from N up … licences cannot fix this", with the limits
/// that bind and what would.
fn explain_unfixable(
    top: &Evaluated,
    (from, alike): (u32, bool),
    target: &Target,
    (model, file): (&Model, &std::path::Path),
) {
    let (p, why) = top
        .first_miss(target)
        .expect("a count that does not meet the target has a miss");
    let alike = if alike {
        "so every count from there runs exactly alike (same traffic, same answers), and misses"
    } else {
        "and the top of the range still misses"
    };
    outln!(
        "answer: none — licences cannot fix this. From {} licences up no limit that grows with licences (Q4, Q5) is hit, {alike}: {} (seed {}).",
        group_thousands(u64::from(from)),
        why.join("; "),
        p.seed
    );
    // The limits that bind at the top, over all replicates, by how often they were hit.
    let mut fixed: Vec<FixedLimitHit> = Vec::new();
    for hit in top.points.iter().flat_map(|p| &p.fixed_limits) {
        match fixed.iter_mut().find(|f| f.key == hit.key) {
            Some(f) => f.hits = f.hits.max(hit.hits),
            None => fixed.push(hit.clone()),
        }
    }
    if fixed.is_empty() {
        outln!(
            "no limit was hit there: the misses come from the relay's rules (P1–P13) or the MTAs themselves; see the replies in a run's summary.json (`relaysim run {} --licences {from}`)\nhelp: fix the policy or the mail servers; the target cannot be met by licences",
            file.display()
        );
        return;
    }
    outln!("what binds there, whatever the licences:");
    for f in &fixed {
        let (_, subject) = model.limit_subject(f.key.subject);
        outln!(
            "  {} {} on {subject} ({} {}): hit {} time{} at the worst replicate; {}",
            f.key.limit.rule(),
            f.key.limit.name(),
            group_thousands(f.limit_value),
            f.key.limit.unit(),
            group_thousands(f.hits),
            if f.hits == 1 { "" } else { "s" },
            remedy(f, model)
        );
    }
}

/// What would lift a limit that licences do not.
fn remedy(f: &FixedLimitHit, model: &Model) -> String {
    let mtas_on = |subject: Subject| -> Vec<&str> {
        model
            .mtas
            .iter()
            .filter(|m| match subject {
                Subject::SourceIp(ip) => m.source_ip == ip,
                _ => false,
            })
            .map(|m| m.id.as_str())
            .collect()
    };
    let first_mta = |subject| {
        mtas_on(subject)
            .first()
            .copied()
            .unwrap_or("ID")
            .to_string()
    };
    match f.key.limit {
        LimitKind::DosMessagesPerConnection => format!(
            "lower the MTA's connection reuse count below {} (e.g. --set mta.{}.overrides.connection_reuse_count={})",
            group_thousands(f.limit_value),
            first_mta(f.key.subject),
            (f.limit_value / 2).max(1)
        ),
        LimitKind::DosConcurrency => format!(
            "open fewer connections at once (e.g. --set mta.{}.overrides.max_concurrency={})",
            first_mta(f.key.subject),
            (f.limit_value / 2).max(1)
        ),
        LimitKind::DosConnectionRate => format!(
            "open new connections more slowly: reuse them (connection_cache, connection_reuse_count in mta.{}.overrides) or spread the mail over more source IPs",
            first_mta(f.key.subject)
        ),
        LimitKind::DosGenericHelo => {
            "give the MTAs a HELO name of their own domain instead of a generic one (P12, D3)".into()
        }
        LimitKind::UserMessages | LimitKind::UserUniqueRecipients => {
            "spread the mail over more registered users (envelope senders), or send less per user per day".into()
        }
        LimitKind::CustomerDay | LimitKind::CustomerPeak => {
            "at this count it no longer grows with licences (it is at its cap, or the customer is unpaid, Q6): pay the first invoice, or spread the mail over more customers or days".into()
        }
    }
}
