//! The `heatmap` chart of a two-dimensional sweep grid (licences × a `--vary` key, or
//! two `--vary` keys): one cell per point, coloured by the mean over the replicates
//! of the figure the target judges (`sweep.json`'s `heatmap_metric`), its value
//! written in the cell; the region of cells that meet the target at every replicate
//! — the feasible region — is outlined.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::sweep_data::Sweep;

fn e<E: std::fmt::Debug>(err: E) -> String {
    format!("{err:?}")
}

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// From pale yellow (lowest) to deep red (highest).
fn colour(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(255.0, 179.0), mix(245.0, 0.0), mix(200.0, 30.0))
}

/// Draws dimensions `dx` (across) and `dy` (up) of the sweep.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sweep: &Sweep,
    (dx, dy): (usize, usize),
    title: &str,
) -> Result<(), String> {
    area.fill(&WHITE).map_err(e)?;
    let area = area.titled(title, font(24)).map_err(e)?;
    let (xs, ys) = (sweep.dimension(dx), sweep.dimension(dy));
    let metric = if sweep.meta.heatmap_metric.is_empty() {
        "delivered_rcpts"
    } else {
        sweep.meta.heatmap_metric.as_str()
    };
    let cells: Vec<(usize, usize, Option<f64>, Option<bool>)> = sweep
        .points
        .iter()
        .filter_map(|p| {
            let i = xs.iter().position(|v| *v == sweep.value(p, dx))?;
            let j = ys.iter().position(|v| *v == sweep.value(p, dy))?;
            Some((i, j, p.stats(metric).map(|s| s.0), p.meets()))
        })
        .collect();
    let (lo, hi) = cells
        .iter()
        .filter_map(|c| c.2)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let has_target = cells.iter().any(|c| c.3.is_some());
    let mut chart = ChartBuilder::on(&area)
        .margin(16)
        .margin_right(30)
        .x_label_area_size(60)
        .y_label_area_size(110)
        .caption(
            format!(
                "colour: {metric} (mean over the replicates){}",
                if has_target {
                    "; outlined: the region that meets the target at every replicate"
                } else {
                    ""
                }
            ),
            font(17),
        )
        .build_cartesian_2d(0.0..xs.len() as f64, 0.0..ys.len() as f64)
        .map_err(e)?;
    let label = |values: &[String], v: f64| {
        let i = v.floor() as usize;
        if (v - i as f64 - 0.5).abs() < 1e-6 {
            values.get(i).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let (x_name, y_name) = (sweep.dimension_name(dx), sweep.dimension_name(dy));
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_name.as_str())
        .y_desc(y_name.as_str())
        .x_labels(xs.len() * 2 + 1)
        .y_labels(ys.len() * 2 + 1)
        .x_label_formatter(&|v| label(&xs, *v))
        .y_label_formatter(&|v| label(&ys, *v))
        .label_style(font(15))
        .axis_desc_style(font(16))
        .draw()
        .map_err(e)?;
    let span = if hi > lo { hi - lo } else { 1.0 };
    chart
        .draw_series(cells.iter().map(|&(i, j, v, _)| {
            let fill = v.map_or(RGBColor(230, 230, 230), |v| colour((v - lo) / span));
            Rectangle::new(
                [(i as f64, j as f64), (i as f64 + 1.0, j as f64 + 1.0)],
                fill.filled(),
            )
        }))
        .map_err(e)?;
    let cell_font = if xs.len() > 12 { 11 } else { 15 };
    chart
        .draw_series(cells.iter().filter_map(|&(i, j, v, _)| {
            let v = v?;
            Some(Text::new(
                sim::numbers::figure(v),
                (i as f64 + 0.5, j as f64 + 0.5),
                font(cell_font).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                )),
            ))
        }))
        .map_err(e)?;
    // The feasible region's border: the edges of feasible cells whose neighbour
    // across is not feasible (or off the grid).
    let feasible = |i: i64, j: i64| {
        cells
            .iter()
            .any(|c| c.0 as i64 == i && c.1 as i64 == j && c.3 == Some(true))
    };
    let mut edges: Vec<[(f64, f64); 2]> = Vec::new();
    for &(i, j, _, met) in &cells {
        if met != Some(true) {
            continue;
        }
        let (x, y) = (i as f64, j as f64);
        let (i, j) = (i as i64, j as i64);
        for (di, dj, edge) in [
            (-1, 0, [(x, y), (x, y + 1.0)]),
            (1, 0, [(x + 1.0, y), (x + 1.0, y + 1.0)]),
            (0, -1, [(x, y), (x + 1.0, y)]),
            (0, 1, [(x, y + 1.0), (x + 1.0, y + 1.0)]),
        ] {
            if !feasible(i + di, j + dj) {
                edges.push(edge);
            }
        }
    }
    chart
        .draw_series(
            edges
                .into_iter()
                .map(|edge| PathElement::new(edge, BLACK.stroke_width(4))),
        )
        .map_err(e)?;
    Ok(())
}
