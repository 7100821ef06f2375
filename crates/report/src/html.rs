//! `report.html`: one self-contained page per run — the scenario's question (its
//! opening comment), what happened in a few lines, the summary and limit-episode
//! tables, the top replies, every chart inlined as SVG and the assumptions used. No
//! script, no external file, and a Content-Security-Policy that forbids loading
//! anything: it opens the same from a mail attachment as from the run folder. The
//! page is a minijinja template (`assets/report.html`, auto-escaped).

use std::io;
use std::path::Path;

use minijinja::{Environment, context};
use serde::Serialize;

use relay::time::{SimDuration, SimTime};
use scenario::Model;
use sim::RunReport;
use sim::numbers::group_thousands;

use super::AtomicFile;

const TEMPLATE: &str = include_str!("../assets/report.html");

/// Episodes listed on the page at most (all are in `limit_episodes.csv`).
const MAX_EPISODES: usize = 200;
/// Replies listed at most.
const MAX_REPLIES: usize = 15;

/// The charts in page order, each with what to read in it.
const CHARTS: [(&str, &str); 5] = [
    (
        "throughput",
        "Recipients per bucket: accepted, deferred (4xx, at each attempt), rejected (5xx); the blue line, recipients tried for the first time (above it: retries); the dashed line, the 10-minute limit (Q5).",
    ),
    (
        "limit_timeline",
        "Each limit of each subject that was hit: a band per episode, a tick under each, its reply and refusals once per lane.",
    ),
    (
        "quota_utilisation",
        "The quota engine's highest use of each window per bucket against the limit in force (dashed); the busiest registered user's share of Q1 and Q2.",
    ),
    (
        "replies",
        "The relay's refusals per bucket, by reply: limits and misconfigurations alike.",
    ),
    (
        "queue_depth",
        "The most messages each MTA's queue held per bucket.",
    ),
];

#[derive(Serialize)]
struct OutcomeRow {
    what: &'static str,
    generated: String,
    delivered: String,
    bounced: String,
    queued: String,
}

#[derive(Serialize)]
struct EpisodeRow {
    start: String,
    end: String,
    rule: &'static str,
    limit: &'static str,
    subject: String,
    reply: String,
    peak_used: String,
    limit_value: String,
    refusals: String,
}

#[derive(Serialize)]
struct Chart {
    name: &'static str,
    svg: String,
    caption: &'static str,
}

/// Writes `report.html` into the run folder `dir`, whose charts are drawn.
pub fn write(dir: &Path, model: &Model, report: &RunReport) -> io::Result<()> {
    let html = render(dir, model, report)?;
    AtomicFile::write_all(&dir.join("report.html"), html.as_bytes())
}

fn render(dir: &Path, model: &Model, report: &RunReport) -> io::Result<String> {
    let when = |t: SimTime| match model.start {
        Some(start) => start.after(t).clock(true),
        None => format!("{}", SimDuration(t.as_millis())),
    };
    let outcome = |what, o: &sim::Outcomes| OutcomeRow {
        what,
        generated: group_thousands(o.generated),
        delivered: group_thousands(o.delivered),
        bounced: group_thousands(o.bounced),
        queued: group_thousands(o.queued_at_end),
    };
    let episodes: Vec<EpisodeRow> = report
        .episodes
        .iter()
        .take(MAX_EPISODES)
        .map(|e| EpisodeRow {
            start: when(e.start),
            end: if e.open_at_horizon {
                format!("{} (the end)", when(e.end))
            } else {
                when(e.end)
            },
            rule: e.key.limit.rule(),
            limit: e.key.limit.name(),
            subject: model.limit_subject(e.key.subject).1.into_owned(),
            reply: e.reply.to_string(),
            peak_used: group_thousands(e.peak_used),
            limit_value: group_thousands(e.limit_value),
            refusals: group_thousands(e.refusals),
        })
        .collect();
    let mut replies: Vec<(String, u64)> = report
        .replies
        .iter()
        .map(|(r, n)| (r.to_string(), n))
        .collect();
    replies.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let replies: Vec<(String, String)> = replies
        .into_iter()
        .take(MAX_REPLIES)
        .map(|(r, n)| (r, group_thousands(n)))
        .collect();
    let deferred: u64 = report.tenants.iter().map(|t| t.deferred_rcpts).sum();
    let delay = |q: f64| {
        let ms = if q >= 1.0 {
            report.delays.max()
        } else {
            report.delays.value_at_quantile(q)
        };
        if report.delays.is_empty() {
            "–".to_string()
        } else {
            SimDuration(ms / 1000 * 1000).to_string()
        }
    };
    let figures = vec![
        (
            "recipients deferred at least once",
            group_thousands(deferred),
        ),
        (
            "limit hits (every change in limit_hits.csv)",
            group_thousands(report.limit_hits),
        ),
        (
            "limit episodes",
            group_thousands(report.episodes.len() as u64),
        ),
        ("delivery delay, median", delay(0.5)),
        ("delivery delay, 99th percentile", delay(0.99)),
        ("delivery delay, longest", delay(1.0)),
        ("events simulated", group_thousands(report.events_processed)),
    ];
    let mut charts = Vec::new();
    for (name, caption) in CHARTS {
        let path = dir.join(format!("{name}.svg"));
        let svg = std::fs::read_to_string(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let start = svg.find("<svg").unwrap_or(0);
        charts.push(Chart {
            name,
            svg: svg[start..].to_string(),
            caption,
        });
    }
    let mut assumptions = Vec::new();
    let relay = serde_json::to_value(&model.relay_as_written).map_err(io::Error::other)?;
    flatten("relay", &relay, &mut assumptions);
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)
        .map_err(io::Error::other)?;
    let template = env.get_template("report.html").map_err(io::Error::other)?;
    template
        .render(context! {
            scenario => &model.name,
            description => &model.description,
            question => &model.question,
            seed => report.seed,
            duration => model.duration.to_string(),
            start => model.start.map(|s| s.to_iso()),
            version => env!("CARGO_PKG_VERSION"),
            fingerprint => report.fingerprint_hex(),
            headlines => sim::episodes::headlines(model, &report.episodes),
            outcomes => vec![
                outcome("messages", &report.total.messages),
                outcome("recipients", &report.total.recipients),
                outcome("bounce reports", &report.total.notifications),
            ],
            figures => figures,
            episodes => episodes,
            episodes_left_out => report.episodes.len().saturating_sub(MAX_EPISODES),
            replies => replies,
            charts => charts,
            assumptions => assumptions,
        })
        .map_err(io::Error::other)
}

/// `value` as `(dotted.key, value)` rows, keys in the JSON's order.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}
