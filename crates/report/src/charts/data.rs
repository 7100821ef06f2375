//! What the charts are drawn from: a results folder's CSVs and `summary.json`, read
//! back from disk, so `relaysim plot` redraws exactly what `relaysim run` drew.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::throughput::HEADER;

/// One row of `throughput.csv`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThroughputRow {
    pub start_s: f64,
    pub offered: f64,
    pub accepted: f64,
    pub deferred: f64,
    pub rejected: f64,
    /// What the relay did with the recipients tried for the first time (`None` in
    /// folders of older versions).
    pub first: Option<FirstAttempts>,
}

/// The recipients of a bucket's first attempts, by outcome.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstAttempts {
    pub accepted: f64,
    pub deferred: f64,
    pub rejected: f64,
}

impl ThroughputRow {
    /// Recipients tried in the bucket, first attempts and retries.
    pub fn tried(&self) -> f64 {
        self.accepted + self.deferred + self.rejected
    }

    /// Recipients tried again in the bucket (known when `first` is).
    pub fn retried(&self) -> Option<f64> {
        let first = self.first?;
        Some((self.tried() - first.accepted - first.deferred - first.rejected).max(0.0))
    }
}

/// An episode of a limit: from, to (seconds).
pub type Band = (f64, f64);

/// A limit of a subject that was hit, with its episodes.
#[derive(Clone, Debug)]
pub struct Lane {
    /// `Q5 customer_peak · acme`.
    pub name: String,
    /// The reply code it gave, e.g. `450 4.2.1`.
    pub code: String,
    pub bands: Vec<Band>,
    /// Commands it refused, over all its episodes.
    pub refusals: f64,
}

/// One window's highest use per bucket (`quota_usage.csv`): a customer's, or, for
/// a user limit, the busiest user's in each bucket.
#[derive(Clone, Debug, Default)]
pub struct UsageSeries {
    /// Per bucket: start (s), highest use, limit value.
    pub points: Vec<(f64, f64, f64)>,
}

/// A tenant's limits from `summary.json`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TenantLimits {
    pub customer_day: f64,
    pub customer_peak: f64,
    pub day_window_s: f64,
    pub peak_window_s: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Results {
    pub scenario: String,
    pub horizon_s: f64,
    pub bucket_s: f64,
    /// The part of the run the time charts show, seconds: all of it, or what
    /// `relaysim plot --from --to` asked for ([`Results::zoom`]).
    pub view_s: (f64, f64),
    /// Seconds after midnight of the start, when the scenario has a start.
    pub start_second_of_day: Option<f64>,
    pub limits: BTreeMap<String, TenantLimits>,
    /// From `quota_usage.csv`: per tenant and customer limit (`customer_day`,
    /// `customer_peak`), its window's highest use per bucket.
    pub customer_usage: BTreeMap<(String, String), UsageSeries>,
    /// From `quota_usage.csv`: per user limit (`user_messages`,
    /// `user_unique_recipients`), per bucket the highest share of the limit any user
    /// reached, as (start s, percent, the user).
    pub user_usage: BTreeMap<String, Vec<(f64, f64, String)>>,
    /// Whether the folder has `quota_usage.csv` (folders of older versions do not).
    pub has_usage: bool,
    /// From `replies.csv`: per reply (code and text, without the source IP), the
    /// refusals per bucket (start s, count).
    pub replies: BTreeMap<String, Vec<(f64, f64)>>,
    pub has_replies: bool,
    /// Per tenant, in file order (time order).
    pub throughput: BTreeMap<String, Vec<ThroughputRow>>,
    /// From `limit_episodes.csv`, in order of first episode: one lane per limit of
    /// a subject, a band per episode (flaps are merged into episodes by the run).
    pub lanes: Vec<Lane>,
    pub has_episodes: bool,
    /// Per MTA: (bucket start, most queued).
    pub queue_depth: BTreeMap<String, Vec<(f64, f64)>>,
    /// What [`Results::keep_drawable`] left out of the charts.
    pub omitted: Omitted,
}

/// Tenants, limit lanes and MTAs not drawn (they are all in the CSV files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Omitted {
    /// Of how many tenants the throughput panels show the busiest.
    pub tenants_of: Option<usize>,
    /// Of how many lanes the timeline shows the first hit.
    pub lanes_of: Option<usize>,
    /// Of how many MTAs the queue chart shows the deepest.
    pub mtas_of: Option<usize>,
}

/// Throughput panels drawn at most (each is 380 px high).
pub const MAX_TENANT_PANELS: usize = 6;
/// Limit lanes drawn at most (each is 60 px high).
pub const MAX_LANES: usize = 40;
/// Queue-depth lines drawn at most (more are not told apart by colour).
pub const MAX_MTA_LINES: usize = 8;

impl Results {
    /// Keeps what a chart of bounded size can show: the tenants that offered the
    /// most recipients, the limits hit first, the MTAs whose queues got deepest. A
    /// scenario of 20,000 tenants otherwise asks for a 7.6-million-pixel-high
    /// bitmap. What is left out is counted in `omitted` and said on the chart.
    pub fn keep_drawable(&mut self) {
        let offered = |rows: &Vec<ThroughputRow>| rows.iter().map(|x| x.offered).sum::<f64>();
        if self.throughput.len() > MAX_TENANT_PANELS {
            self.omitted.tenants_of = Some(self.throughput.len());
            let keep = busiest(&self.throughput, MAX_TENANT_PANELS, offered);
            self.throughput.retain(|name, _| keep.contains(name));
        }
        if self.lanes.len() > MAX_LANES {
            self.omitted.lanes_of = Some(self.lanes.len());
            self.lanes.truncate(MAX_LANES);
        }
        if self.queue_depth.len() > MAX_MTA_LINES {
            self.omitted.mtas_of = Some(self.queue_depth.len());
            let deepest = |p: &Vec<(f64, f64)>| p.iter().map(|x| x.1).fold(0.0, f64::max);
            let keep = busiest(&self.queue_depth, MAX_MTA_LINES, deepest);
            self.queue_depth.retain(|name, _| keep.contains(name));
        }
    }
}

impl Results {
    /// The view in hours, as the time axes count.
    pub fn view_hours(&self) -> (f64, f64) {
        let (from, to) = self.view_s;
        (from / 3600.0, (to / 3600.0).max(from / 3600.0 + 1e-3))
    }

    /// Shows only `from_s..to_s` of the run: what lies outside is dropped, what
    /// crosses an edge is cut at it, so every time chart draws the same span.
    pub fn zoom(&mut self, from_s: f64, to_s: f64) {
        let (from, to) = (from_s.max(0.0), to_s.min(self.horizon_s).max(from_s));
        self.view_s = (from, to);
        let bucket = self.bucket_s;
        let inside = |start: f64| start + bucket > from && start < to;
        for rows in self.throughput.values_mut() {
            rows.retain(|x| inside(x.start_s));
        }
        for points in self.queue_depth.values_mut() {
            points.retain(|x| inside(x.0));
        }
        for series in self.customer_usage.values_mut() {
            series.points.retain(|x| inside(x.0));
        }
        for points in self.user_usage.values_mut() {
            points.retain(|x| inside(x.0));
        }
        for points in self.replies.values_mut() {
            points.retain(|x| inside(x.0));
        }
        self.replies.retain(|_, p| !p.is_empty());
        for lane in &mut self.lanes {
            lane.bands.retain(|b| b.1 >= from && b.0 <= to);
            for b in &mut lane.bands {
                *b = (b.0.max(from), b.1.min(to));
            }
        }
        self.lanes.retain(|l| !l.bands.is_empty());
    }
}

/// The `n` names with the largest `size`, ties by name.
fn busiest<T>(map: &BTreeMap<String, T>, n: usize, size: impl Fn(&T) -> f64) -> Vec<String> {
    let mut ranked: Vec<(f64, &String)> = map.iter().map(|(k, v)| (size(v), k)).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    ranked.into_iter().take(n).map(|(_, k)| k.clone()).collect()
}

fn invalid(file: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", file.display()),
    )
}

/// Reads a results folder. `summary.json` and `throughput.csv` are required;
/// `limit_hits.csv` and `queue_depth.csv` are read when present.
pub fn read(dir: &Path) -> io::Result<Results> {
    let summary_path = dir.join("summary.json");
    let bytes = std::fs::read(&summary_path).map_err(|e| invalid(&summary_path, e))?;
    let summary: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| invalid(&summary_path, e))?;
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let seconds = |key: &str| -> io::Result<f64> {
        match summary[key].as_f64() {
            Some(v) if v.is_finite() && v > 0.0 && v <= MAX_SECONDS => Ok(v),
            _ => Err(invalid(
                &summary_path,
                format!(
                    "`{key}` is {}, not a time in seconds from 0 to {MAX_SECONDS}; rerun `relaysim run` to rebuild the folder",
                    summary[key]
                ),
            )),
        }
    };
    let (horizon_s, bucket_s) = (seconds("horizon_s")?, seconds("bucket_s")?);
    if horizon_s / bucket_s > MAX_BUCKETS {
        return Err(invalid(
            &summary_path,
            format!(
                "{horizon_s} s in buckets of {bucket_s} s is more than {MAX_BUCKETS} buckets to draw"
            ),
        ));
    }
    let mut results = Results {
        scenario: summary["scenario"].as_str().unwrap_or("").to_string(),
        horizon_s,
        bucket_s,
        view_s: (0.0, horizon_s),
        start_second_of_day: summary["start"].as_str().and_then(second_of_day),
        ..Results::default()
    };
    if let Some(tenants) = summary["tenants"].as_object() {
        for (id, t) in tenants {
            let l = &t["limits"];
            results.limits.insert(
                id.clone(),
                TenantLimits {
                    customer_day: num(&l["customer_day"]),
                    customer_peak: num(&l["customer_peak"]),
                    day_window_s: num(&l["day_window_s"]),
                    peak_window_s: num(&l["peak_window_s"]),
                },
            );
        }
    }
    read_throughput(dir, &mut results)?;
    read_episodes(dir, &mut results)?;
    read_usage(dir, &mut results)?;
    read_replies(dir, &mut results)?;
    let path = dir.join("queue_depth.csv");
    if path.exists() {
        for r in records(&path)? {
            let f = |i: usize| value(&path, &r, i, horizon_s);
            let point = (f(0)?, f(2)?);
            results
                .queue_depth
                .entry(r.get(1).unwrap_or("").to_string())
                .or_default()
                .push(point);
        }
    }
    Ok(results)
}

/// `throughput.csv`, its columns found by name (folders of older versions lack
/// the `first_attempt_*` ones).
fn read_throughput(dir: &Path, results: &mut Results) -> io::Result<()> {
    let path = dir.join("throughput.csv");
    let mut reader = csv::Reader::from_path(&path).map_err(|e| invalid(&path, e))?;
    let header = reader.headers().map_err(|e| invalid(&path, e))?.clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let required = |name: &str| {
        column(name).ok_or_else(|| {
            invalid(
                &path,
                format!("has no `{name}` column; rerun `relaysim run` to rebuild the folder"),
            )
        })
    };
    // `bucket_start_s,tenant,offered_rcpts,accepted_rcpts,deferred_rcpts,rejected_rcpts`.
    let [start, tenant, offered, accepted, deferred, rejected] =
        [0, 1, 2, 3, 4, 5].map(|i| required(HEADER[i]));
    let (start, tenant, offered, accepted, deferred, rejected) =
        (start?, tenant?, offered?, accepted?, deferred?, rejected?);
    // `first_attempt_accepted_rcpts`, `…_deferred_rcpts`, `…_rejected_rcpts`.
    let first_columns = [10, 11, 12].map(|i| column(HEADER[i]));
    for r in reader.records() {
        let r = r.map_err(|e| invalid(&path, e))?;
        let f = |i: usize| value(&path, &r, i, results.horizon_s);
        let first = match first_columns {
            [Some(a), Some(d), Some(x)] => Some(FirstAttempts {
                accepted: f(a)?,
                deferred: f(d)?,
                rejected: f(x)?,
            }),
            _ => None,
        };
        let row = ThroughputRow {
            start_s: f(start)?,
            offered: f(offered)?,
            accepted: f(accepted)?,
            deferred: f(deferred)?,
            rejected: f(rejected)?,
            first,
        };
        let name = r.get(tenant).unwrap_or("").to_string();
        results.throughput.entry(name).or_default().push(row);
    }
    Ok(())
}

/// `limit_episodes.csv`, when present: one lane per limit of a subject.
fn read_episodes(dir: &Path, results: &mut Results) -> io::Result<()> {
    let path = dir.join("limit_episodes.csv");
    if !path.exists() {
        return Ok(());
    }
    results.has_episodes = true;
    let horizon_s = results.horizon_s;
    let mut lane_of: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in records(&path)? {
        let field = |i: usize| r.get(i).unwrap_or("");
        let (start, end) = (
            value(&path, &r, 0, horizon_s)?,
            value(&path, &r, 1, horizon_s)?,
        );
        let refusals = value(&path, &r, 9, horizon_s)?;
        let key = (field(5).to_string(), field(4).to_string());
        let lane = *lane_of.entry(key).or_insert_with(|| {
            let rule = rule_of(field(5));
            results.lanes.push(Lane {
                name: format!("{rule} {} · {}", field(5), field(4)),
                code: field(6).split(' ').take(2).collect::<Vec<_>>().join(" "),
                bands: Vec::new(),
                refusals: 0.0,
            });
            results.lanes.len() - 1
        });
        let lane = &mut results.lanes[lane];
        lane.bands.push((start, end.max(start)));
        lane.refusals += refusals;
    }
    Ok(())
}

/// The rulebook ID of a limit named as in the CSVs.
fn rule_of(limit: &str) -> &'static str {
    relay::LimitKind::from_name(limit).map_or("", relay::LimitKind::rule)
}

/// `quota_usage.csv`, when present: customers' windows as they are, users' as the
/// busiest user's share per bucket.
fn read_usage(dir: &Path, results: &mut Results) -> io::Result<()> {
    let path = dir.join("quota_usage.csv");
    if !path.exists() {
        return Ok(());
    }
    results.has_usage = true;
    let horizon_s = results.horizon_s;
    for r in records(&path)? {
        let field = |i: usize| r.get(i).unwrap_or("");
        let start = value(&path, &r, 0, horizon_s)?;
        let (used, limit) = (
            value(&path, &r, 5, horizon_s)?,
            value(&path, &r, 6, horizon_s)?,
        );
        if field(2) == "customer" {
            results
                .customer_usage
                .entry((field(1).to_string(), field(4).to_string()))
                .or_default()
                .points
                .push((start, used, limit));
        } else if limit > 0.0 {
            let share = 100.0 * used / limit;
            let series = results.user_usage.entry(field(4).to_string()).or_default();
            match series.last_mut() {
                Some(last) if last.0 == start => {
                    if share > last.1 {
                        *last = (start, share, field(3).to_string());
                    }
                }
                _ => series.push((start, share, field(3).to_string())),
            }
        }
    }
    Ok(())
}

/// `replies.csv`, when present.
fn read_replies(dir: &Path, results: &mut Results) -> io::Result<()> {
    let path = dir.join("replies.csv");
    if !path.exists() {
        return Ok(());
    }
    results.has_replies = true;
    let horizon_s = results.horizon_s;
    for r in records(&path)? {
        let start = value(&path, &r, 0, horizon_s)?;
        let n = value(&path, &r, 2, horizon_s)?;
        let series = results
            .replies
            .entry(reply_name(r.get(1).unwrap_or("")))
            .or_default();
        match series.last_mut() {
            Some(last) if last.0 == start => last.1 += n,
            _ => series.push((start, n)),
        }
    }
    Ok(())
}

/// A reply line without what varies per client (the source IP in brackets), e.g.
/// `550 5.7.0 Mail relay denied.`
fn reply_name(line: &str) -> String {
    match line.find(" [") {
        Some(i) => {
            let rest = &line[i + 2..];
            let after = rest.find(']').map_or("", |j| &rest[j + 1..]);
            format!("{}{after}", &line[..i])
        }
        None => line.to_string(),
    }
}

/// The longest horizon a results folder may hold (1,000 years), and the most buckets
/// a chart draws: beyond them the folder was not written by relaysim.
const MAX_SECONDS: f64 = 1000.0 * 365.0 * 86_400.0;
const MAX_BUCKETS: f64 = 50_000_000.0;

/// Field `i` of `record` of `path`: a finite number from 0 up, and for column 0 (a
/// time) at most the horizon; anything else names the file, line and column.
fn value(path: &Path, record: &csv::StringRecord, i: usize, horizon_s: f64) -> io::Result<f64> {
    let line = record.position().map_or(0, |p| p.line());
    let text = record.get(i).unwrap_or("");
    let max = if i == 0 { horizon_s } else { 1e15 };
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=max).contains(&v) => Ok(v),
        _ => Err(invalid(
            path,
            format!(
                "line {line}, column {}: `{text}` is not a {} from 0 to {max}; rerun `relaysim run` to rebuild the folder",
                i + 1,
                if i == 0 { "time in seconds" } else { "count" }
            ),
        )),
    }
}

/// The rows of a CSV file with a header.
fn records(path: &Path) -> io::Result<Vec<csv::StringRecord>> {
    csv::Reader::from_path(path)
        .map_err(|e| invalid(path, e))?
        .records()
        .map(|r| r.map_err(|e| invalid(path, e)))
        .collect()
}

/// Seconds after local midnight of an ISO start such as `2026-03-02T08:00:00+01:00`.
fn second_of_day(iso: &str) -> Option<f64> {
    let time = iso.split('T').nth(1)?;
    let mut parts = time.get(..8)?.split(':').map(|p| p.parse::<f64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(h * 3600.0 + m * 60.0 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_columns_are_read_by_the_names_they_mean() {
        assert_eq!(HEADER[..2], ["bucket_start_s", "tenant"]);
        assert!(HEADER[2..6].iter().all(|h| h.ends_with("ed_rcpts")));
        assert!(
            HEADER[10..13]
                .iter()
                .all(|h| h.starts_with("first_attempt_"))
        );
        assert_eq!(HEADER[6], "accepted_msgs");
    }

    #[test]
    fn start_times_give_the_second_of_day() {
        assert_eq!(second_of_day("2026-03-02T08:30:15Z"), Some(30_615.0));
        assert_eq!(second_of_day("2026-03-02T00:00:00+01:00"), Some(0.0));
        assert_eq!(second_of_day("nonsense"), None);
    }

    /// 20,000 tenants asked for a bitmap 7.6 million pixels high (a panic in
    /// plotters); the charts keep the busiest and say how many there were.
    #[test]
    fn charts_keep_the_busiest_tenants_and_deepest_queues() {
        let mut r = Results::default();
        for i in 0..20_000 {
            let row = ThroughputRow {
                offered: f64::from(i % 1000),
                ..ThroughputRow::default()
            };
            r.throughput.insert(format!("t{i:05}"), vec![row]);
            r.queue_depth
                .insert(format!("m{i:05}"), vec![(0.0, f64::from(i))]);
            r.lanes.push(Lane {
                name: format!("lane {i}"),
                code: String::new(),
                bands: Vec::new(),
                refusals: 0.0,
            });
        }
        r.keep_drawable();
        // Offered 999 by t00999, t01999, …: the first six of them by name.
        let tenants: Vec<&str> = r.throughput.keys().map(String::as_str).collect();
        assert_eq!(
            tenants,
            ["t00999", "t01999", "t02999", "t03999", "t04999", "t05999"]
        );
        let mtas: Vec<&str> = r.queue_depth.keys().map(String::as_str).collect();
        assert_eq!(mtas.len(), MAX_MTA_LINES);
        assert_eq!(mtas[0], "m19992");
        assert_eq!(r.lanes.len(), MAX_LANES);
        assert_eq!(r.lanes[0].name, "lane 0");
        assert_eq!(
            r.omitted,
            Omitted {
                tenants_of: Some(20_000),
                lanes_of: Some(20_000),
                mtas_of: Some(20_000)
            }
        );
        let mut few = Results::default();
        few.throughput.insert("a".into(), Vec::new());
        few.keep_drawable();
        assert_eq!(few.omitted, Omitted::default());
    }
}
