//! The `capacity` chart of a sweep: against the licence count (or the one `--vary`
//! key that changes), the share of the tenant's recipients delivered, bounced and
//! still queued, and the p99 and longest delivery delay. Lines are means over the
//! replicates, bars the spread from the lowest to the highest. With a target, each
//! point is marked met (●, every replicate) or missed (✕), the delay target is a
//! dashed line, and a search's answer a vertical line. The axis is linear, and
//! logarithmic only when the values span more than 20×.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::draw::{PlainChart, legend};
use super::sweep_data::{Sweep, SweepPoint, leading_number};

const MET: RGBColor = RGBColor(46, 125, 50);
const MISSED: RGBColor = RGBColor(198, 40, 40);
const TARGET: RGBColor = RGBColor(90, 90, 90);
const ANSWER: RGBColor = RGBColor(25, 45, 130);

fn e<E: std::fmt::Debug>(err: E) -> String {
    format!("{err:?}")
}

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// A licence count (or other value) on the axis, grouped by thousands.
fn thousands(x: f64) -> String {
    sim::numbers::group_thousands(x.round().max(0.0) as u64)
}

/// The x axis: linear, or log10 when the values span more than 20×.
struct Axis {
    log: bool,
    range: std::ops::Range<f64>,
}

impl Axis {
    fn new(xs: &[f64]) -> Self {
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log = lo > 0.0 && hi / lo > 20.0;
        let (a, b) = if log {
            (lo.log10(), hi.log10())
        } else {
            (lo, hi)
        };
        let pad = ((b - a) * 0.05).max(if log { 0.05 } else { 0.5 });
        Axis {
            log,
            range: (a - pad)..(b + pad),
        }
    }

    fn at(&self, x: f64) -> f64 {
        if self.log { x.log10() } else { x }
    }

    fn label(&self, v: f64) -> String {
        thousands(if self.log { 10f64.powf(v) } else { v })
    }
}

/// Draws the chart along dimension `d` of the sweep (0: licences).
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sweep: &Sweep,
    d: usize,
    title: &str,
) -> Result<(), String> {
    area.fill(&WHITE).map_err(e)?;
    let area = area.titled(title, font(26)).map_err(e)?;
    let mut points: Vec<(f64, &SweepPoint)> = sweep
        .points
        .iter()
        .map(|p| (leading_number(&sweep.value(p, d)), p))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    if points.is_empty() {
        return Ok(());
    }
    let xs: Vec<f64> = points.iter().map(|(x, _)| *x).collect();
    let axis = Axis::new(&xs);
    let x_name = sweep.dimension_name(d);
    let answer = sweep.meta.answer.filter(|_| d == 0).map(f64::from);
    let unfixable = sweep.meta.unfixable_from.filter(|_| d == 0).map(f64::from);
    let panels = area.split_evenly((2, 1));

    // Shares of the tenant's recipients.
    let mut shares = ChartBuilder::on(&panels[0])
        .margin(12)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(axis.range.clone(), 0.0..105.0)
        .map_err(e)?;
    shares
        .configure_mesh()
        .x_desc(x_name.as_str())
        .y_desc("% of the tenant's recipients")
        .x_label_formatter(&|x| axis.label(*x))
        .y_label_formatter(&|y| format!("{y:.0} %"))
        .label_style(font(15))
        .axis_desc_style(font(16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    let series: [(&str, &str, RGBColor); 3] = [
        ("delivered", "delivered_rcpts", RGBColor(46, 125, 50)),
        ("bounced", "bounced_rcpts", RGBColor(198, 40, 40)),
        (
            "queued at the end",
            "queued_at_end_rcpts",
            RGBColor(245, 166, 35),
        ),
    ];
    for (name, column, color) in series {
        let stats: Vec<(f64, (f64, f64, f64))> = points
            .iter()
            .filter_map(|(x, p)| Some((axis.at(*x), p.share(column)?)))
            .collect();
        line_with_spread(&mut shares, &stats, color, name)?;
    }
    // The search's verdict: its answer, or where licences stop mattering.
    let verdicts: Vec<(f64, String, RGBColor)> = answer
        .map(|a| (a, format!("answer: {} licences", thousands(a)), ANSWER))
        .into_iter()
        .chain(unfixable.map(|u| {
            let text = format!(
                "from {} up no licence-scaled limit is hit: licences cannot meet the target",
                thousands(u)
            );
            (u, text, MISSED)
        }))
        .collect();
    let nudge = (axis.range.end - axis.range.start) * 0.01;
    for (x, text, colour) in &verdicts {
        mark_verdict(
            &mut shares,
            (axis.at(*x), nudge),
            0.0..105.0,
            (text, *colour),
        )?;
    }
    legend(&mut shares, SeriesLabelPosition::MiddleRight)?;

    // Delays.
    let longest = points
        .iter()
        .filter_map(|(_, p)| p.stats("delay_max_s").map(|s| s.2))
        .fold(0.0, f64::max)
        .max(sweep.meta.delay_bound_s.unwrap_or(0.0));
    let (unit, per) = super::delay_unit(longest);
    let top = (longest / per * 1.12).max(1.0);
    let mut delay = ChartBuilder::on(&panels[1])
        .margin(12)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(axis.range.clone(), 0.0..top)
        .map_err(e)?;
    delay
        .configure_mesh()
        .x_desc(x_name.as_str())
        .y_desc(format!("delivery delay ({unit})"))
        .x_label_formatter(&|x| axis.label(*x))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .label_style(font(15))
        .axis_desc_style(font(16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    for (name, column, color) in [
        ("p99", "delay_p99_s", RGBColor(31, 119, 180)),
        ("longest", "delay_max_s", RGBColor(106, 61, 154)),
    ] {
        let stats: Vec<(f64, (f64, f64, f64))> = points
            .iter()
            .filter_map(|(x, p)| {
                let (m, lo, hi) = p.stats(column)?;
                Some((axis.at(*x), (m / per, lo / per, hi / per)))
            })
            .collect();
        line_with_spread(&mut delay, &stats, color, name)?;
    }
    if let Some(bound) = sweep.meta.delay_bound_s {
        let y = bound / per;
        delay
            .draw_series(DashedLineSeries::new(
                [(axis.range.start, y), (axis.range.end, y)],
                8,
                6,
                TARGET.stroke_width(2),
            ))
            .map_err(e)?
            .label(format!("target ({})", sweep.meta.target))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], TARGET.stroke_width(2)));
    }
    for (x, _, colour) in &verdicts {
        mark_verdict(&mut delay, (axis.at(*x), 0.0), 0.0..top, ("", *colour))?;
    }
    // Met / missed marks on the delay panel, where the target is.
    let marks: Vec<(f64, f64, bool)> = points
        .iter()
        .filter_map(|(x, p)| {
            let met = p.meets()?;
            let y = p.stats("delay_max_s").map_or(0.0, |s| s.0 / per);
            Some((axis.at(*x), y, met))
        })
        .collect();
    if !marks.is_empty() {
        delay
            .draw_series(
                marks
                    .iter()
                    .filter(|m| m.2)
                    .map(|&(x, y, _)| Circle::new((x, y), 7, MET.filled())),
            )
            .map_err(e)?
            .label("meets the target (every replicate)")
            .legend(|(x, y)| Circle::new((x + 7, y), 6, MET.filled()));
        delay
            .draw_series(
                marks
                    .iter()
                    .filter(|m| !m.2)
                    .map(|&(x, y, _)| Cross::new((x, y), 7, MISSED.stroke_width(3))),
            )
            .map_err(e)?
            .label("misses it (some replicate)")
            .legend(|(x, y)| Cross::new((x + 7, y), 6, MISSED.stroke_width(3)));
    }
    legend(&mut delay, SeriesLabelPosition::MiddleRight)
}

/// A mean line with dots, and a bar from min to max at each point.
fn line_with_spread<DB: DrawingBackend>(
    chart: &mut PlainChart<'_, DB>,
    stats: &[(f64, (f64, f64, f64))],
    color: RGBColor,
    name: &str,
) -> Result<(), String> {
    let line: Vec<(f64, f64)> = stats.iter().map(|(x, s)| (*x, s.0)).collect();
    chart
        .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
        .map_err(e)?
        .label(name)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
    chart
        .draw_series(line.iter().map(|p| Circle::new(*p, 3, color.filled())))
        .map_err(e)?;
    chart
        .draw_series(stats.iter().map(|(x, (_, lo, hi))| {
            PathElement::new([(*x, *lo), (*x, *hi)], color.stroke_width(1))
        }))
        .map_err(e)?;
    Ok(())
}

/// A search's verdict: a vertical line at `x` (the answer, or where licences stop
/// mattering), labelled half-way up, `nudge` to its right.
fn mark_verdict<DB: DrawingBackend>(
    chart: &mut PlainChart<'_, DB>,
    (x, nudge): (f64, f64),
    y: std::ops::Range<f64>,
    (label, colour): (&str, RGBColor),
) -> Result<(), String> {
    chart
        .draw_series(std::iter::once(PathElement::new(
            [(x, y.start), (x, y.end)],
            colour.stroke_width(2),
        )))
        .map_err(e)?;
    if !label.is_empty() {
        chart
            .draw_series(std::iter::once(Text::new(
                label.to_string(),
                (x + nudge, (y.start + y.end) / 2.0),
                font(17).color(&colour),
            )))
            .map_err(e)?;
    }
    Ok(())
}
