//! The four charts of a run, drawn on any plotters backend (PNG and SVG share the
//! code). Time runs left to right in hours, as clock time when the scenario has a
//! start.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::data::Results;

type Area<DB> = DrawingArea<DB, Shift>;

/// One stacked layer of the throughput chart: its name, colour and height.
type Layer = (
    &'static str,
    RGBColor,
    fn(&super::data::ThroughputRow) -> f64,
);

/// A plotters error as text (the backends' error types differ).
fn e<E: std::fmt::Debug>(err: E) -> String {
    format!("{err:?}")
}

const ACCEPTED: RGBColor = RGBColor(46, 125, 50);
const DEFERRED: RGBColor = RGBColor(245, 166, 35);
const REJECTED: RGBColor = RGBColor(198, 40, 40);
const LIMIT: RGBColor = RGBColor(90, 90, 90);
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
    RGBColor(23, 190, 207),
];

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// The label of an hour on the time axis: clock time when the run has a start.
fn time_label(r: &Results, hours: f64) -> String {
    let s = hours * 3600.0;
    match r.start_second_of_day {
        Some(s0) => {
            let t = s0 + s;
            let day = (t / 86_400.0).floor() as i64;
            let in_day = t - day as f64 * 86_400.0;
            let (h, m) = ((in_day / 3600.0) as u32, ((in_day % 3600.0) / 60.0) as u32);
            if r.horizon_s > 86_400.0 {
                format!("d{} {h:02}:{m:02}", day + 1)
            } else {
                format!("{h:02}:{m:02}")
            }
        }
        None => {
            if hours.fract().abs() < 1e-9 {
                format!("{hours:.0} h")
            } else {
                format!("{hours:.1} h")
            }
        }
    }
}

fn time_axis(r: &Results) -> &'static str {
    if r.start_second_of_day.is_some() && r.horizon_s > 86_400.0 {
        "day of the run and time of day"
    } else if r.start_second_of_day.is_some() {
        "time of day"
    } else {
        "time since start (hours)"
    }
}

fn bucket_name(bucket_s: f64) -> String {
    if bucket_s % 3600.0 == 0.0 {
        format!("{} h", bucket_s / 3600.0)
    } else if bucket_s % 60.0 == 0.0 {
        format!("{} min", bucket_s / 60.0)
    } else {
        format!("{bucket_s} s")
    }
}

pub(super) type TimeChart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart over the run's time (x, hours) and `0..top` (y), titled, with its mesh.
/// `title` is `(text, font size)`.
pub(super) fn time_chart<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    r: &Results,
    (title, title_size): (&str, u32),
    top: f64,
    y_desc: &str,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<TimeChart<'a, DB>, String> {
    let x_max = (r.horizon_s / 3600.0).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(title_size))
        .margin(12)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_max, 0.0..top)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(time_axis(r))
        .y_desc(y_desc)
        .x_label_formatter(&|x| time_label(r, *x))
        .y_label_formatter(y_label)
        .x_labels(12)
        .label_style(font(15))
        .axis_desc_style(font(16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    Ok(chart)
}

/// The legend box of the series drawn so far.
pub(super) fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut TimeChart<'a, DB>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .label_font(font(15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .position(position)
        .draw()
        .map_err(e)
}

fn nothing_to_show<DB: DrawingBackend>(
    area: &Area<DB>,
    title: &str,
    why: &str,
) -> Result<(), String> {
    area.fill(&WHITE).map_err(e)?;
    area.titled(title, font(26)).map_err(e)?;
    area.draw(&Text::new(why.to_string(), (60, 90), font(20)))
        .map_err(e)?;
    Ok(())
}

/// The title's note when a chart shows `shown` of `of` (`Results::keep_drawable`).
fn shown_of(shown: usize, of: Option<usize>, which: &str, what: &str, file: &str) -> String {
    of.map_or_else(String::new, |of| {
        format!(" — the {shown} {which} of {of} {what} (all are in {file})")
    })
}

/// The title's note when the tenants' charts show only the busiest.
fn tenants_shown(r: &Results) -> String {
    shown_of(
        r.throughput.len(),
        r.omitted.tenants_of,
        "busiest",
        "tenants",
        "throughput.csv",
    )
}

/// Accepted, deferred and rejected recipients per bucket, stacked, one panel per
/// tenant, with the peak limit (Q5) scaled to the bucket drawn as a line.
pub fn throughput<DB: DrawingBackend>(area: &Area<DB>, r: &Results) -> Result<(), String> {
    area.fill(&WHITE).map_err(e)?;
    let title = format!(
        "{} — recipients per {} bucket{}",
        r.scenario,
        bucket_name(r.bucket_s),
        tenants_shown(r)
    );
    let area = area.titled(&title, font(26)).map_err(e)?;
    let tenants: Vec<_> = r.throughput.iter().collect();
    if tenants.is_empty() {
        return Ok(());
    }
    let panels = area.split_evenly((tenants.len(), 1));
    let x_max = (r.horizon_s / 3600.0).max(1e-3);
    for (panel, (tenant, rows)) in panels.iter().zip(tenants) {
        let limits = r.limits.get(tenant).copied().unwrap_or_default();
        let peak_per_bucket = if limits.peak_window_s > 0.0 {
            limits.customer_peak * r.bucket_s / limits.peak_window_s
        } else {
            0.0
        };
        let top = rows
            .iter()
            .map(|x| x.accepted + x.deferred + x.rejected)
            .fold(peak_per_bucket, f64::max)
            .max(1.0)
            * 1.1;
        let caption = format!("tenant {tenant}");
        let y_desc = format!("recipients per {}", bucket_name(r.bucket_s));
        let mut chart = time_chart(panel, r, (&caption, 20), top, &y_desc, &|y| {
            format!("{y:.0}")
        })?;
        // Stacked: draw the highest layer first, each lower one over it.
        let layers: [Layer; 3] = [
            ("rejected (5xx)", REJECTED, |x| {
                x.accepted + x.deferred + x.rejected
            }),
            ("deferred (4xx), at each attempt", DEFERRED, |x| {
                x.accepted + x.deferred
            }),
            ("accepted", ACCEPTED, |x| x.accepted),
        ];
        for (name, color, height) in layers {
            let points = rows.iter().flat_map(|x| {
                let (a, b) = (x.start_s / 3600.0, (x.start_s + r.bucket_s) / 3600.0);
                [(a, height(x)), (b.min(x_max), height(x))]
            });
            chart
                .draw_series(AreaSeries::new(points, 0.0, color.mix(0.85)))
                .map_err(e)?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
        }
        if peak_per_bucket > 0.0 {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, peak_per_bucket), (x_max, peak_per_bucket)],
                    LIMIT.stroke_width(2),
                ))
                .map_err(e)?
                .label(format!(
                    "peak limit (Q5) {:.0} per 10 min = {peak_per_bucket:.0} per bucket",
                    limits.customer_peak
                ))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], LIMIT.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// One lane per limit that was hit (user, customer, DoS), a band while it is in
/// force, the reply code on it.
pub fn limit_timeline<DB: DrawingBackend>(area: &Area<DB>, r: &Results) -> Result<(), String> {
    let title = format!(
        "{} — limits in force (hit → cleared){}",
        r.scenario,
        shown_of(
            r.lanes.len(),
            r.omitted.lanes_of,
            "first hit",
            "limits",
            "limit_hits.csv"
        )
    );
    let lanes = &r.lanes;
    if lanes.is_empty() {
        return nothing_to_show(area, &title, "No limit was hit in this run.");
    }
    area.fill(&WHITE).map_err(e)?;
    let x_max = (r.horizon_s / 3600.0).max(1e-3);
    let n = lanes.len() as f64;
    let label_width = lanes.iter().map(|l| l.name.len()).max().unwrap_or(10) as u32 * 8 + 20;
    let mut chart = ChartBuilder::on(area)
        .caption(&title, font(26))
        .margin(12)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(label_width.min(420))
        .build_cartesian_2d(0.0..x_max, 0.0..n)
        .map_err(e)?;
    let names: Vec<String> = lanes.iter().map(|l| l.name.clone()).collect();
    chart
        .configure_mesh()
        .x_desc(time_axis(r))
        .x_label_formatter(&|x| time_label(r, *x))
        .x_labels(12)
        .y_labels(lanes.len() * 2 + 1)
        .y_label_formatter(&|y| {
            let i = (*y - 0.5).round();
            if (*y - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .disable_y_mesh()
        .label_style(font(15))
        .axis_desc_style(font(16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    for (i, lane) in lanes.iter().enumerate() {
        let bands = &lane.bands;
        let color = PALETTE[i % PALETTE.len()];
        let (y0, y1) = (i as f64 + 0.2, i as f64 + 0.8);
        chart
            .draw_series(bands.iter().map(|(a, b, _)| {
                let (a, b) = (a / 3600.0, (b / 3600.0).max(a / 3600.0 + x_max / 600.0));
                Rectangle::new([(a, y0), (b, y1)], color.mix(0.75).filled())
            }))
            .map_err(e)?;
        // The reply on the first band, and on later ones with room for it.
        let mut last_label = f64::NEG_INFINITY;
        for (a, _, code) in bands {
            let x = a / 3600.0;
            if x - last_label > x_max / 12.0 {
                chart
                    .draw_series(std::iter::once(Text::new(
                        code.clone(),
                        (x, i as f64 + 0.5),
                        font(14),
                    )))
                    .map_err(e)?;
                last_label = x;
            }
        }
    }
    Ok(())
}

/// Each customer window's use as a percentage of its limit: the day (Q4) and peak
/// (Q5) windows, summed over `throughput.csv`'s accepted recipients (so at bucket
/// resolution; the quota engine itself is exact).
pub fn quota_utilisation<DB: DrawingBackend>(area: &Area<DB>, r: &Results) -> Result<(), String> {
    let title = format!(
        "{} — customer quota used (% of limit){}",
        r.scenario,
        tenants_shown(r)
    );
    area.fill(&WHITE).map_err(e)?;
    let x_max = (r.horizon_s / 3600.0).max(1e-3);
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (tenant, rows) in &r.throughput {
        let Some(l) = r.limits.get(tenant) else {
            continue;
        };
        for (window, limit, name) in [
            (l.day_window_s, l.customer_day, "day (Q4)"),
            (l.peak_window_s, l.customer_peak, "10 min (Q5)"),
        ] {
            if window <= 0.0 || limit <= 0.0 {
                continue;
            }
            let width = ((window / r.bucket_s).round() as usize).max(1);
            let mut sum = 0.0;
            let points = rows
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    sum += x.accepted;
                    if i >= width {
                        sum -= rows[i - width].accepted;
                    }
                    ((x.start_s + r.bucket_s) / 3600.0, 100.0 * sum / limit)
                })
                .collect();
            series.push((format!("{tenant} · {name}"), points));
        }
    }
    let top = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(100.0, f64::max)
        * 1.1;
    let mut chart = time_chart(area, r, (&title, 26), top, "% of the limit", &|y| {
        format!("{y:.0} %")
    })?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 100.0), (x_max, 100.0)],
            LIMIT.stroke_width(2),
        ))
        .map_err(e)?
        .label("limit (100 %)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], LIMIT.stroke_width(2)));
    for (i, (name, points)) in series.into_iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(e)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

/// The most messages each MTA's queue held per bucket.
pub fn queue_depth<DB: DrawingBackend>(area: &Area<DB>, r: &Results) -> Result<(), String> {
    let title = format!(
        "{} — MTA queue depth (most per {}){}",
        r.scenario,
        bucket_name(r.bucket_s),
        shown_of(
            r.queue_depth.len(),
            r.omitted.mtas_of,
            "deepest",
            "MTAs",
            "queue_depth.csv"
        )
    );
    if r.queue_depth.is_empty() {
        return nothing_to_show(area, &title, "No queue_depth.csv in this folder.");
    }
    area.fill(&WHITE).map_err(e)?;
    let x_max = (r.horizon_s / 3600.0).max(1e-3);
    let top = r
        .queue_depth
        .values()
        .flat_map(|p| p.iter().map(|x| x.1))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = time_chart(area, r, (&title, 26), top, "messages queued", &|y| {
        format!("{y:.0}")
    })?;
    for (i, (mta, points)) in r.queue_depth.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let steps = points.iter().flat_map(|(t, v)| {
            [
                (t / 3600.0, *v),
                (((t + r.bucket_s) / 3600.0).min(x_max), *v),
            ]
        });
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(2)))
            .map_err(e)?
            .label(mta.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}
