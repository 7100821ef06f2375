//! The four charts of a run, drawn on any plotters backend (PNG and SVG share the
//! code). Time runs left to right in hours, as clock time when the scenario has a
//! start.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::data::{Results, ThroughputRow};

pub(super) type Area<DB> = DrawingArea<DB, Shift>;

/// The right margin of a time chart, where its legend goes (outside the data).
pub(super) const LEGEND_WIDTH: u32 = 300;

/// One stacked layer of the throughput chart: its name, colour and height.
type Layer = (&'static str, RGBColor, fn(&ThroughputRow) -> f64);

/// A plotters error as text (the backends' error types differ).
pub(super) fn e<E: std::fmt::Debug>(err: E) -> String {
    format!("{err:?}")
}

const ACCEPTED: RGBColor = RGBColor(46, 125, 50);
const DEFERRED: RGBColor = RGBColor(245, 166, 35);
const REJECTED: RGBColor = RGBColor(198, 40, 40);
pub(super) const LIMIT: RGBColor = RGBColor(90, 90, 90);
const RETRIES: RGBColor = RGBColor(20, 60, 160);
const ACCEPTED_ALL: RGBColor = RGBColor(10, 70, 20);
pub(super) const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
    RGBColor(23, 190, 207),
];

pub(super) fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// A count on a y axis: whole numbers grouped by thousands (`12,500`).
pub(super) fn count_label(y: &f64) -> String {
    if y.fract().abs() < 1e-9 {
        sim::numbers::group_thousands(y.abs().round() as u64)
    } else {
        format!("{y:.1}")
    }
}

/// Where the time axis is labelled (hours since the start): at clock times that
/// read well — every 15 min … 12 h within two days, at midnight (every day, two
/// days, a week …) beyond — counted in local time when the run has a start.
pub(super) fn time_ticks(r: &Results, max_ticks: f64) -> Vec<f64> {
    let (from, to) = (r.view_s.0, r.view_s.1.max(r.view_s.0 + 1e-3));
    let span = to - from;
    let steps_s = [
        60.0,
        300.0,
        900.0,
        1800.0,
        3600.0,
        7200.0,
        10_800.0,
        14_400.0,
        21_600.0,
        43_200.0,
        86_400.0,
        172_800.0,
        604_800.0,
        1_209_600.0,
        2_592_000.0,
        7_776_000.0,
    ];
    let step = steps_s
        .iter()
        .copied()
        .find(|s| span / s <= max_ticks)
        .unwrap_or(span / max_ticks);
    let offset = r.start_second_of_day.unwrap_or(0.0);
    // The first tick at or after `from` where the local clock is a multiple of `step`.
    let first = ((from + offset) / step).ceil() * step - offset;
    let mut ticks = Vec::new();
    let mut t = first;
    while t <= to + 1e-6 {
        ticks.push(t / 3600.0);
        t += step;
    }
    ticks
}

/// The label of an hour on the time axis: clock time when the run has a start.
pub(super) fn time_label(r: &Results, hours: f64) -> String {
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

pub(super) fn time_axis(r: &Results) -> &'static str {
    if r.start_second_of_day.is_some() && r.horizon_s > 86_400.0 {
        "day of the run and time of day"
    } else if r.start_second_of_day.is_some() {
        "time of day"
    } else {
        "time since start (hours)"
    }
}

/// A bucket or window length as a person reads it, in the one duration format of
/// the CLI, test reports and scenario files (`5m`, `1h`, `24h`).
pub(super) fn bucket_name(bucket_s: f64) -> String {
    relay::time::SimDuration((bucket_s * 1000.0).round() as u64).to_string()
}

/// The time axis (hours): a plain range whose labels sit where [`time_ticks`]
/// puts them rather than at plotters' round numbers.
pub(super) struct TimeAxis {
    range: RangedCoordf64,
    ticks: Vec<f64>,
}

impl TimeAxis {
    /// The axis of the folder's view, with at most `max_ticks` labels.
    pub(super) fn of(r: &Results, max_ticks: f64) -> Self {
        let (from, to) = r.view_hours();
        TimeAxis {
            range: (from..to).into(),
            ticks: time_ticks(r, max_ticks),
        }
    }
}

impl Ranged for TimeAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.range()
    }
}

pub(super) type TimeChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TimeAxis, RangedCoordf64>>;

/// A chart over the run's time (x, hours, the folder's view: all of the run, or
/// `relaysim plot --from --to`) and `0..top` (y), titled, with its mesh and room for
/// its legend on the right. `title` is `(text, font size)`.
pub(super) fn time_chart<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    r: &Results,
    (title, title_size): (&str, u32),
    top: f64,
    y_desc: &str,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<TimeChart<'a, DB>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(title_size))
        .margin(12)
        .margin_right(20 + LEGEND_WIDTH)
        .x_label_area_size(45)
        .y_label_area_size(90)
        .build_cartesian_2d(TimeAxis::of(r, 12.0), 0.0..top)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(time_axis(r))
        .y_desc(y_desc)
        .x_label_formatter(&|x| time_label(r, *x))
        .y_label_formatter(y_label)
        .y_labels(8)
        .label_style(font(15))
        .axis_desc_style(font(16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    Ok(chart)
}

/// What a legend entry shows before its text.
#[derive(Clone, Copy, Debug)]
pub(super) enum Mark {
    Fill(RGBAColor),
    Line(RGBColor),
    Dashed(RGBColor),
    /// A line of text continuing the entry above.
    Text,
}

/// A time chart's legend, drawn in the margin right of its plot, never over the
/// data. An entry's text may hold several lines (`\n`).
#[derive(Default)]
pub(super) struct Legend(Vec<(String, Mark)>);

impl Legend {
    pub(super) fn add(&mut self, text: impl AsRef<str>, mark: Mark) {
        for (i, line) in text.as_ref().lines().enumerate() {
            let mark = if i == 0 { mark } else { Mark::Text };
            self.0.push((line.to_string(), mark));
        }
    }

    /// Draws the entries on `area`, the area `chart` was built on.
    pub(super) fn draw<DB: DrawingBackend>(
        &self,
        area: &Area<DB>,
        chart: &TimeChart<'_, DB>,
    ) -> Result<(), String> {
        let plot = chart.plotting_area();
        let (px, py) = plot.get_base_pixel();
        let (ax, ay) = area.get_base_pixel();
        let x = px - ax + plot.dim_in_pixel().0 as i32 + 14;
        let mut y = py - ay + 4;
        for (text, mark) in &self.0 {
            let mid = y + 8;
            match *mark {
                Mark::Fill(c) => area
                    .draw(&Rectangle::new(
                        [(x, mid - 6), (x + 16, mid + 6)],
                        c.filled(),
                    ))
                    .map_err(e)?,
                Mark::Line(c) => area
                    .draw(&PathElement::new(
                        [(x, mid), (x + 16, mid)],
                        c.stroke_width(3),
                    ))
                    .map_err(e)?,
                Mark::Dashed(c) => {
                    for (a, b) in [(x, x + 6), (x + 10, x + 16)] {
                        area.draw(&PathElement::new([(a, mid), (b, mid)], c.stroke_width(2)))
                            .map_err(e)?;
                    }
                }
                Mark::Text => {}
            }
            area.draw(&Text::new(text.clone(), (x + 22, y), font(14)))
                .map_err(e)?;
            y += 20;
        }
        Ok(())
    }
}

/// A chart over two numeric axes (capacity charts, percentiles).
pub(super) type PlainChart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The legend box of the series drawn so far, inside a plot at `position`.
pub(super) fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut PlainChart<'a, DB>,
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

pub(super) fn nothing_to_show<DB: DrawingBackend>(
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
pub(super) fn shown_of(
    shown: usize,
    of: Option<usize>,
    which: &str,
    what: &str,
    file: &str,
) -> String {
    of.map_or_else(String::new, |of| {
        format!(" — the {shown} {which} of {of} {what} (all are in {file})")
    })
}

/// The title's note when the tenants' charts show only the busiest.
pub(super) fn tenants_shown(r: &Results) -> String {
    shown_of(
        r.throughput.len(),
        r.omitted.tenants_of,
        "busiest",
        "tenants",
        "throughput.csv",
    )
}

/// Per bucket and tenant (one panel each, on one y scale): the recipients tried for
/// the first time, stacked by what the relay did with them (their top is the offered
/// load), the retries as a line of their own, all accepted recipients (what Q5
/// counts) as a line, and the peak limit (Q5) dashed, its legend saying what it
/// means at this bucket width. Folders of older versions, without the first-attempt
/// columns, stack the recipients of every attempt instead.
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
    let (from, to) = r.view_hours();
    let peak_line = |tenant: &str| {
        let l = r.limits.get(tenant).copied().unwrap_or_default();
        (l.peak_window_s > 0.0 && l.customer_peak > 0.0).then(|| {
            let per_bucket = l.customer_peak * (r.bucket_s / l.peak_window_s).max(1.0);
            (
                per_bucket,
                peak_line_name(l.customer_peak, l.peak_window_s, r.bucket_s),
            )
        })
    };
    // One y scale for every panel, so that tenants compare at a glance.
    let top = tenants
        .iter()
        .flat_map(|(tenant, rows)| {
            let line = peak_line(tenant).map_or(0.0, |p| p.0);
            rows.iter()
                .map(ThroughputRow::tried)
                .chain(std::iter::once(line))
        })
        .fold(5.0, f64::max)
        * 1.1;
    let steps = |rows: &'_ [ThroughputRow], height: fn(&ThroughputRow) -> f64| {
        rows.iter()
            .flat_map(move |x| {
                let (a, b) = (x.start_s / 3600.0, (x.start_s + r.bucket_s) / 3600.0);
                [(a.max(from), height(x)), (b.min(to), height(x))]
            })
            .collect::<Vec<_>>()
    };
    for (panel, (tenant, rows)) in panels.iter().zip(tenants) {
        let caption = format!("tenant {tenant}");
        let y_desc = format!("recipients per {}", bucket_name(r.bucket_s));
        let mut chart = time_chart(panel, r, (&caption, 20), top, &y_desc, &count_label)?;
        let split = rows.iter().all(|x| x.first.is_some());
        let mut keys = Legend::default();
        // Stacked: draw the highest layer first, each lower one over it.
        for (name, color, height) in if split { FIRST_LAYERS } else { ALL_LAYERS } {
            chart
                .draw_series(AreaSeries::new(steps(rows, height), 0.0, color.mix(0.85)))
                .map_err(e)?;
            keys.add(name, Mark::Fill(color.mix(0.85)));
        }
        if split {
            let lines: [(Layer, u32); 2] = [
                (
                    ("retries: recipients tried again", RETRIES, |x| {
                        x.retried().unwrap_or(0.0)
                    }),
                    2,
                ),
                (
                    ("accepted in all (what Q5 counts)", ACCEPTED_ALL, |x| {
                        x.accepted
                    }),
                    1,
                ),
            ];
            for ((name, color, height), width) in lines {
                chart
                    .draw_series(LineSeries::new(
                        steps(rows, height),
                        color.stroke_width(width),
                    ))
                    .map_err(e)?;
                keys.add(name, Mark::Line(color));
            }
        }
        if let Some((per_bucket, name)) = peak_line(tenant) {
            chart
                .draw_series(DashedLineSeries::new(
                    [(from, per_bucket), (to, per_bucket)],
                    8,
                    5,
                    LIMIT.stroke_width(2),
                ))
                .map_err(e)?;
            keys.add(name, Mark::Dashed(LIMIT));
        }
        keys.draw(panel, &chart)?;
    }
    Ok(())
}

/// The stacked layers of first attempts, highest first: their top is the offered load.
const FIRST_LAYERS: [Layer; 3] = [
    ("first attempts: rejected (5xx)", REJECTED, |x| {
        x.first
            .map_or(0.0, |f| f.accepted + f.deferred + f.rejected)
    }),
    ("first attempts: deferred (4xx)", DEFERRED, |x| {
        x.first.map_or(0.0, |f| f.accepted + f.deferred)
    }),
    ("first attempts: accepted", ACCEPTED, |x| {
        x.first.map_or(0.0, |f| f.accepted)
    }),
];

/// The stacked layers of every attempt (folders without the first-attempt columns).
const ALL_LAYERS: [Layer; 3] = [
    ("rejected (5xx)", REJECTED, ThroughputRow::tried),
    ("deferred (4xx), at each attempt", DEFERRED, |x| {
        x.accepted + x.deferred
    }),
    ("accepted", ACCEPTED, |x| x.accepted),
];

/// What the Q5 line of the throughput chart means at this bucket width (legend
/// text, lines of at most ~40 characters).
fn peak_line_name(limit: f64, window_s: f64, bucket_s: f64) -> String {
    let window = bucket_name(window_s);
    let limit_text = count_label(&limit);
    if bucket_s > window_s {
        let n = bucket_s / window_s;
        format!(
            "Q5: {limit_text} per {window};\n{n:.0} windows a bucket: at most\n{} per {} bucket",
            count_label(&(limit * n)),
            bucket_name(bucket_s)
        )
    } else if bucket_s < window_s {
        format!(
            "Q5: {limit_text} per {window}: no bucket's\naccepted can pass it, nor the {:.0}\nbuckets of one {window} together",
            window_s / bucket_s
        )
    } else {
        format!("Q5: {limit_text} per {window}")
    }
}

/// The most messages each MTA's queue held per bucket: one panel per MTA (small
/// multiples on one y scale), so several queues never hide each other.
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
    let area = area.titled(&title, font(26)).map_err(e)?;
    let (from, to) = r.view_hours();
    let top = r
        .queue_depth
        .values()
        .flat_map(|p| p.iter().map(|x| x.1))
        .fold(5.0, f64::max)
        * 1.1;
    let panels = area.split_evenly((r.queue_depth.len(), 1));
    for (i, (panel, (mta, points))) in panels.iter().zip(&r.queue_depth).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let caption = format!("MTA {mta}");
        let mut chart = time_chart(
            panel,
            r,
            (&caption, 18),
            top,
            "messages queued",
            &count_label,
        )?;
        let steps = points.iter().flat_map(|(t, v)| {
            [
                ((t / 3600.0).max(from), *v),
                (((t + r.bucket_s) / 3600.0).min(to), *v),
            ]
        });
        chart
            .draw_series(
                AreaSeries::new(steps, 0.0, color.mix(0.35)).border_style(color.stroke_width(2)),
            )
            .map_err(e)?;
        let mut keys = Legend::default();
        keys.add(
            format!("most queued per {}", bucket_name(r.bucket_s)),
            Mark::Line(color),
        );
        keys.draw(panel, &chart)?;
    }
    Ok(())
}
