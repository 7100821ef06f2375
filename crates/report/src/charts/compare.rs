//! The overlay charts of `relaysim compare`: two runs on the same axes and scales —
//! recipients accepted and deferred per minute, messages queued, and the delivery
//! delay by percentile (from each folder's `delivery_delay.hlog`).

use std::io;
use std::path::Path;

use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::data::Results;
use super::draw::{Legend, Mark, count_label, legend, time_chart};

/// Run A and run B.
const COLOURS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];

fn e<E: std::fmt::Debug>(err: E) -> String {
    format!("{err:?}")
}

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// The two runs, named A and B, on one time axis as long as the longer run.
pub struct Pair {
    pub runs: [Results; 2],
    pub axis: Results,
    /// Per run: (quantile, delay in seconds), from the delay log.
    pub delays: [Vec<(f64, f64)>; 2],
}

impl Pair {
    pub fn read(a: &Path, b: &Path) -> io::Result<Pair> {
        let runs = [super::data::read(a)?, super::data::read(b)?];
        let mut axis = runs[0].clone();
        axis.horizon_s = runs[0].horizon_s.max(runs[1].horizon_s);
        if runs[0].start_second_of_day != runs[1].start_second_of_day {
            axis.start_second_of_day = None;
        }
        Ok(Pair {
            delays: [percentiles(a)?, percentiles(b)?],
            runs,
            axis,
        })
    }
}

/// The delay at the quantiles 0 … 0.99999 and the maximum, in seconds, of the run
/// whose `delivery_delay.hlog` is in `dir` (empty without delivered messages).
fn percentiles(dir: &Path) -> io::Result<Vec<(f64, f64)>> {
    let path = dir.join("delivery_delay.hlog");
    let bytes = std::fs::read(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let bad =
        |what: &dyn std::fmt::Display| io::Error::other(format!("{}: {what}", path.display()));
    let mut total: Option<hdrhistogram::Histogram<u64>> = None;
    for entry in IntervalLogIterator::new(&bytes) {
        let LogEntry::Interval(h) = entry.map_err(|e| bad(&format!("{e:?}")))? else {
            continue;
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(h.encoded_histogram())
            .map_err(|e| bad(&e))?;
        let hist: hdrhistogram::Histogram<u64> = Deserializer::new()
            .deserialize(&mut raw.as_slice())
            .map_err(|e| bad(&format!("{e:?}")))?;
        match &mut total {
            Some(t) => t.add(&hist).map_err(|e| bad(&format!("{e:?}")))?,
            None => total = Some(hist),
        }
    }
    let Some(h) = total.filter(|h| !h.is_empty()) else {
        return Ok(Vec::new());
    };
    // Evenly spaced in log10(1 / (1 − q)): 0, 90 %, 99 %, … as HdrHistogram plots do.
    let mut points: Vec<(f64, f64)> = (0..=50)
        .map(|i| {
            let x = f64::from(i) / 10.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect();
    points.push((5.2, h.max() as f64 / 1000.0));
    Ok(points)
}

type Area<DB> = DrawingArea<DB, Shift>;

/// A white chart titled "A-scenario (A) vs B-scenario (B) — `what`".
fn titled<DB: DrawingBackend>(area: &Area<DB>, p: &Pair, what: &str) -> Result<Area<DB>, String> {
    area.fill(&WHITE).map_err(e)?;
    let title = format!(
        "{} (A) vs {} (B) — {what}",
        p.runs[0].scenario, p.runs[1].scenario
    );
    area.titled(&title, font(24)).map_err(e)
}

/// Accepted and deferred recipients per minute, all tenants, both runs.
pub fn throughput<DB: DrawingBackend>(area: &Area<DB>, p: &Pair) -> Result<(), String> {
    let series: Vec<[Vec<(f64, f64)>; 2]> = p
        .runs
        .iter()
        .map(|r| {
            let per_minute = 60.0 / r.bucket_s.max(1e-9);
            let mut buckets: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
            for rows in r.throughput.values() {
                for x in rows {
                    let b = buckets.entry((x.start_s * 1000.0) as i64).or_default();
                    b.0 += x.accepted * per_minute;
                    b.1 += x.deferred * per_minute;
                }
            }
            let line = |f: fn(&(f64, f64)) -> f64| {
                buckets
                    .iter()
                    .flat_map(|(start, v)| {
                        let a = *start as f64 / 3_600_000.0;
                        [(a, f(v)), (a + r.bucket_s / 3600.0, f(v))]
                    })
                    .collect()
            };
            [line(|v| v.0), line(|v| v.1)]
        })
        .collect();
    let top = series
        .iter()
        .flatten()
        .flatten()
        .map(|x| x.1)
        .fold(1.0, f64::max)
        * 1.1;
    let title = format!(
        "{} (A) vs {} (B) — recipients per minute",
        p.runs[0].scenario, p.runs[1].scenario
    );
    let area = area.titled(&title, font(24)).map_err(e)?;
    let mut chart = time_chart(
        &area,
        &p.axis,
        ("", 1),
        top,
        "recipients per minute, all tenants",
        &count_label,
    )?;
    let mut keys = Legend::default();
    for (run, (lines, colour)) in series.iter().zip(COLOURS).enumerate() {
        let name = ["A", "B"][run];
        chart
            .draw_series(LineSeries::new(lines[0].clone(), colour.stroke_width(2)))
            .map_err(e)?;
        keys.add(format!("{name}: accepted"), Mark::Line(colour));
        chart
            .draw_series(DashedLineSeries::new(
                lines[1].clone(),
                6,
                4,
                colour.stroke_width(2),
            ))
            .map_err(e)?;
        keys.add(
            format!("{name}: deferred (4xx), at each attempt"),
            Mark::Dashed(colour),
        );
    }
    keys.draw(&area, &chart)
}

/// Messages queued in all MTAs (each bucket's most, summed over the MTAs), both runs.
pub fn queue_depth<DB: DrawingBackend>(area: &Area<DB>, p: &Pair) -> Result<(), String> {
    let series: Vec<Vec<(f64, f64)>> = p
        .runs
        .iter()
        .map(|r| {
            let mut buckets: std::collections::BTreeMap<i64, f64> = Default::default();
            for points in r.queue_depth.values() {
                for &(start, most) in points {
                    *buckets.entry((start * 1000.0) as i64).or_default() += most;
                }
            }
            buckets
                .into_iter()
                .map(|(start, n)| (start as f64 / 3_600_000.0, n))
                .collect()
        })
        .collect();
    let top = series.iter().flatten().map(|x| x.1).fold(1.0, f64::max) * 1.1;
    let area = titled(area, p, "messages queued in the MTAs")?;
    let mut chart = time_chart(
        &area,
        &p.axis,
        ("", 1),
        top,
        "messages queued (most per bucket)",
        &count_label,
    )?;
    let mut keys = Legend::default();
    for (run, (line, colour)) in series.iter().zip(COLOURS).enumerate() {
        chart
            .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))
            .map_err(e)?;
        keys.add(["A", "B"][run], Mark::Line(colour));
    }
    keys.draw(&area, &chart)
}

/// Delivery delay by percentile, both runs.
pub fn delays<DB: DrawingBackend>(area: &Area<DB>, p: &Pair) -> Result<(), String> {
    let longest = p.delays.iter().flatten().map(|x| x.1).fold(0.0, f64::max);
    let (unit, per) = super::delay_unit(longest);
    let area = titled(area, p, "delivery delay by percentile")?;
    let top = (longest / per * 1.1).max(1.0);
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..5.4, 0.0..top)
        .map_err(e)?;
    let label = |x: &f64| match (x * 10.0).round() as i64 {
        0 => "0 %".to_string(),
        10 => "90 %".into(),
        20 => "99 %".into(),
        30 => "99.9 %".into(),
        40 => "99.99 %".into(),
        50 => "99.999 %".into(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .x_desc("percentile of delivered messages (the last point: the longest)")
        .y_desc(format!("delivery delay ({unit})"))
        .x_labels(55)
        .x_label_formatter(&label)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .label_style(font(15))
        .axis_desc_style(font(16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    for (run, (points, colour)) in p.delays.iter().zip(COLOURS).enumerate() {
        let line: Vec<(f64, f64)> = points.iter().map(|&(x, s)| (x, s / per)).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))
            .map_err(e)?
            .label(["A", "B"][run])
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2)));
        chart
            .draw_series(line.last().map(|&pt| Circle::new(pt, 5, colour.filled())))
            .map_err(e)?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}
