//! The two charts about limits: when each was in force (`limit_timeline`, from
//! `limit_episodes.csv`) and how full each quota window was (`quota_utilisation`,
//! from `quota_usage.csv`, the quota engine's own counts).

use plotters::prelude::*;

use super::data::{Results, UsageSeries};
use super::draw::{
    Area, LIMIT, Legend, Mark, PALETTE, bucket_name, count_label, e, font, nothing_to_show,
    shown_of, tenants_shown, time_axis, time_chart, time_label,
};

/// One lane per limit of a subject that was hit, a band per episode (flaps merged
/// by the run), the lane's name on the axis and its reply and refusals once on it.
pub fn limit_timeline<DB: DrawingBackend>(area: &Area<DB>, r: &Results) -> Result<(), String> {
    let title = format!(
        "{} — limits in force, by episode{}",
        r.scenario,
        shown_of(
            r.lanes.len(),
            r.omitted.lanes_of,
            "first hit",
            "limits",
            "limit_episodes.csv"
        )
    );
    if !r.has_episodes {
        return nothing_to_show(
            area,
            &title,
            "No limit_episodes.csv in this folder: rerun `relaysim run` to write it.",
        );
    }
    let lanes = &r.lanes;
    if lanes.is_empty() {
        return nothing_to_show(area, &title, "No limit was hit in this part of the run.");
    }
    area.fill(&WHITE).map_err(e)?;
    let (from, to) = r.view_hours();
    let n = lanes.len() as f64;
    let label_width = lanes.iter().map(|l| l.name.len()).max().unwrap_or(10) as u32 * 8 + 20;
    let mut chart = ChartBuilder::on(area)
        .caption(&title, font(26))
        .margin(12)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(label_width.min(420))
        .build_cartesian_2d(super::draw::TimeAxis::of(r, 8.0), 0.0..n)
        .map_err(e)?;
    let names: Vec<String> = lanes.iter().map(|l| l.name.clone()).collect();
    chart
        .configure_mesh()
        .x_desc(time_axis(r))
        .x_label_formatter(&|x| time_label(r, *x))
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
    let min_width = (to - from) / 400.0;
    for (i, lane) in lanes.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let (y0, y1) = (i as f64 + 0.2, i as f64 + 0.8);
        chart
            .draw_series(lane.bands.iter().map(|(a, b)| {
                let (a, b) = (a / 3600.0, (b / 3600.0).max(a / 3600.0 + min_width));
                Rectangle::new([(a, y0), (b, y1)], color.mix(0.75).filled())
            }))
            .map_err(e)?;
        // A tick under each episode, so that one too short to see still shows.
        chart
            .draw_series(lane.bands.iter().map(|(a, _)| {
                let x = a / 3600.0;
                PathElement::new(
                    [(x, i as f64 + 0.05), (x, i as f64 + 0.2)],
                    color.stroke_width(2),
                )
            }))
            .map_err(e)?;
        let episodes = lane.bands.len();
        let text = format!(
            "{} · {} episode{} · {} refusals",
            lane.code,
            episodes,
            if episodes == 1 { "" } else { "s" },
            count_label(&lane.refusals)
        );
        // Once per lane: where its first episode starts, or further left when that
        // is too near the right edge for the text.
        let first = lane.bands.first().map_or(from, |b| b.0 / 3600.0);
        let x = first.min(to - (to - from) * 0.3).max(from);
        chart
            .draw_series(std::iter::once(Text::new(
                text,
                (x, i as f64 + 0.9),
                font(13),
            )))
            .map_err(e)?;
    }
    Ok(())
}

/// The quota engine's highest use of each window in each bucket against the limit
/// in force: per tenant a panel for the day (Q4) and one for the peak (Q5) window,
/// and, when registered users sent, one for the busiest user's share of Q1 and Q2.
pub fn quota_utilisation<DB: DrawingBackend>(area: &Area<DB>, r: &Results) -> Result<(), String> {
    let title = format!(
        "{} — quota windows: highest use in each {} bucket, as the engine counts{}",
        r.scenario,
        bucket_name(r.bucket_s),
        tenants_shown(r)
    );
    if !r.has_usage {
        return nothing_to_show(
            area,
            &title,
            "No quota_usage.csv in this folder: rerun `relaysim run` to write it.",
        );
    }
    let panels = usage_panels(r);
    area.fill(&WHITE).map_err(e)?;
    let area = area.titled(&title, font(24)).map_err(e)?;
    let areas = area.split_evenly((panels.len() + usize::from(!r.user_usage.is_empty()), 1));
    for (panel, (tenant, limit, series)) in areas.iter().zip(&panels) {
        customer_panel(panel, r, tenant, limit, series)?;
    }
    if !r.user_usage.is_empty() {
        users_panel(areas.last().expect("a panel for users"), r)?;
    }
    Ok(())
}

/// The customer windows drawn: of the tenants the charts show, day then peak.
fn usage_panels(r: &Results) -> Vec<(&str, &str, &UsageSeries)> {
    let mut panels = Vec::new();
    for ((tenant, limit), series) in &r.customer_usage {
        if r.throughput.is_empty() || r.throughput.contains_key(tenant) {
            panels.push((tenant.as_str(), limit.as_str(), series));
        }
    }
    // Day (Q4) before peak (Q5), tenants in name order.
    panels.sort_by_key(|(t, l, _)| (*t, *l != "customer_day"));
    panels
}

fn customer_panel<DB: DrawingBackend>(
    area: &Area<DB>,
    r: &Results,
    tenant: &str,
    limit: &str,
    series: &UsageSeries,
) -> Result<(), String> {
    let l = r.limits.get(tenant).copied().unwrap_or_default();
    let (rule, window_s) = if limit == "customer_day" {
        ("Q4", l.day_window_s)
    } else {
        ("Q5", l.peak_window_s)
    };
    let window = if window_s > 0.0 {
        bucket_name(window_s)
    } else {
        "window".to_string()
    };
    let peak = series
        .points
        .iter()
        .filter(|p| p.2 > 0.0)
        .map(|p| (p.1 / p.2, p.1, p.2))
        .fold(None, |best: Option<(f64, f64, f64)>, p| match best {
            Some(b) if b.0 >= p.0 => Some(b),
            _ => Some(p),
        });
    let caption = match peak {
        Some((share, used, limit_value)) => format!(
            "tenant {tenant} · {rule}, recipients per {window} — at most {} of {} ({:.1} %)",
            count_label(&used),
            count_label(&limit_value),
            100.0 * share
        ),
        None => format!("tenant {tenant} · {rule}, recipients per {window}"),
    };
    let top = series
        .points
        .iter()
        .flat_map(|p| [p.1, p.2])
        .fold(5.0, f64::max)
        * 1.1;
    let mut chart = time_chart(
        area,
        r,
        (&caption, 17),
        top,
        "recipients in the window",
        &count_label,
    )?;
    let (from, to) = r.view_hours();
    let bucket_h = r.bucket_s / 3600.0;
    let steps = |value: fn(&(f64, f64, f64)) -> f64| {
        series
            .points
            .iter()
            .flat_map(move |p| {
                let a = p.0 / 3600.0;
                [(a.max(from), value(p)), ((a + bucket_h).min(to), value(p))]
            })
            .collect::<Vec<_>>()
    };
    let color = if rule == "Q4" { PALETTE[0] } else { PALETTE[1] };
    chart
        .draw_series(
            AreaSeries::new(steps(|p| p.1), 0.0, color.mix(0.35))
                .border_style(color.stroke_width(2)),
        )
        .map_err(e)?;
    let mut keys = Legend::default();
    keys.add(
        format!("highest use of the {window} window"),
        Mark::Fill(color.mix(0.35)),
    );
    let limits = steps(|p| p.2);
    let changed = series.points.windows(2).any(|w| w[0].2 != w[1].2);
    chart
        .draw_series(DashedLineSeries::new(limits, 8, 5, LIMIT.stroke_width(2)))
        .map_err(e)?;
    keys.add(format!("{rule} limit in force"), Mark::Dashed(LIMIT));
    if changed {
        let values: Vec<String> = series
            .points
            .iter()
            .map(|p| p.2)
            .fold(Vec::<f64>::new(), |mut v, x| {
                if v.last() != Some(&x) {
                    v.push(x);
                }
                v
            })
            .iter()
            .map(count_label)
            .collect();
        keys.add(format!("changed: {}", values.join(" → ")), Mark::Text);
    }
    keys.draw(area, &chart)
}

fn users_panel<DB: DrawingBackend>(area: &Area<DB>, r: &Results) -> Result<(), String> {
    let caption = format!(
        "registered users · Q1, Q2 — the busiest user in each bucket, % of the limit (the {} busiest per bucket are in quota_usage.csv)",
        crate::quota_usage::BUSIEST_USERS
    );
    let top = r
        .user_usage
        .values()
        .flatten()
        .map(|p| p.1)
        .fold(100.0, f64::max)
        * 1.1;
    let mut chart = time_chart(area, r, (&caption, 15), top, "% of the user limit", &|y| {
        format!("{y:.0} %")
    })?;
    let (from, to) = r.view_hours();
    chart
        .draw_series(DashedLineSeries::new(
            [(from, 100.0), (to, 100.0)],
            8,
            5,
            LIMIT.stroke_width(2),
        ))
        .map_err(e)?;
    let mut keys = Legend::default();
    keys.add("the limit (100 %)", Mark::Dashed(LIMIT));
    let bucket_h = r.bucket_s / 3600.0;
    for (i, (limit, points)) in r.user_usage.iter().enumerate() {
        let color = PALETTE[(i + 2) % PALETTE.len()];
        let rule = if limit == "user_messages" {
            "Q1 messages"
        } else {
            "Q2 unique recipients"
        };
        let steps = points.iter().flat_map(|p| {
            let a = p.0 / 3600.0;
            [(a.max(from), p.1), ((a + bucket_h).min(to), p.1)]
        });
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(2)))
            .map_err(e)?;
        keys.add(rule, Mark::Line(color));
    }
    keys.draw(area, &chart)
}
