//! The `replies` chart: the relay's refusals per bucket by reply (`replies.csv`),
//! stacked, so that a misconfiguration (`550 5.7.0 Mail relay denied`) shows as
//! plainly as a limit; the key gives each reply's total in the view, so that a
//! reply too rare to see beside the others is still read.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::data::Results;
use super::draw::{
    Area, Legend, Mark, bucket_name, count_label, e, font, nothing_to_show, time_chart,
};

/// Replies drawn one by one; the rest are summed as "other replies".
const MAX_REPLIES: usize = 7;

/// Characters of a key's reply text and total together, less the parentheses and
/// space: what fits the legend's margin (`LEGEND_WIDTH`) at the key's font size.
const KEY_CHARS: usize = 40;

/// 4xx replies in warm yellows and oranges, 5xx in reds and purples: the kind of
/// refusal reads before the legend does.
const TRANSIENT: [RGBColor; 4] = [
    RGBColor(245, 166, 35),
    RGBColor(255, 213, 79),
    RGBColor(230, 120, 20),
    RGBColor(200, 160, 60),
];
const PERMANENT: [RGBColor; 4] = [
    RGBColor(198, 40, 40),
    RGBColor(123, 31, 162),
    RGBColor(233, 100, 120),
    RGBColor(120, 20, 40),
];
const OTHER: RGBColor = RGBColor(150, 150, 150);

pub fn replies<DB: DrawingBackend>(area: &Area<DB>, r: &Results) -> Result<(), String> {
    let title = format!(
        "{} — refusals per {} bucket, by reply",
        r.scenario,
        bucket_name(r.bucket_s)
    );
    if !r.has_replies {
        return nothing_to_show(
            area,
            &title,
            "No replies.csv in this folder: rerun `relaysim run` to write it.",
        );
    }
    if r.replies.is_empty() {
        return nothing_to_show(
            area,
            &title,
            "The relay refused nothing in this part of the run.",
        );
    }
    // The replies with the most refusals, each on its own; the rest as one.
    let mut ranked: Vec<(&String, f64)> = r
        .replies
        .iter()
        .map(|(name, points)| (name, points.iter().map(|p| p.1).sum::<f64>()))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let shown: Vec<&String> = ranked.iter().take(MAX_REPLIES).map(|x| x.0).collect();
    let mut layers: Vec<(String, RGBColor, BTreeMap<u64, f64>)> = Vec::new();
    let (mut transient, mut permanent) = (0, 0);
    for name in &shown {
        let color = if name.starts_with('4') {
            transient += 1;
            TRANSIENT[(transient - 1) % TRANSIENT.len()]
        } else {
            permanent += 1;
            PERMANENT[(permanent - 1) % PERMANENT.len()]
        };
        layers.push(((*name).clone(), color, BTreeMap::new()));
    }
    if ranked.len() > shown.len() {
        layers.push((
            format!("{} other replies", ranked.len() - shown.len()),
            OTHER,
            BTreeMap::new(),
        ));
    }
    let bucket_ms = |start_s: f64| (start_s * 1000.0).round() as u64;
    for (name, points) in &r.replies {
        let layer = shown
            .iter()
            .position(|s| *s == name)
            .unwrap_or(layers.len() - 1);
        for p in points {
            *layers[layer].2.entry(bucket_ms(p.0)).or_default() += p.1;
        }
    }
    let buckets: Vec<u64> = layers
        .iter()
        .flat_map(|l| l.2.keys().copied())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // Cumulative heights, layer over layer, per bucket.
    let mut below = vec![0.0; buckets.len()];
    let mut stacked: Vec<Vec<f64>> = Vec::new();
    for layer in &layers {
        for (i, b) in buckets.iter().enumerate() {
            below[i] += layer.2.get(b).copied().unwrap_or(0.0);
        }
        stacked.push(below.clone());
    }
    let top = below.iter().copied().fold(5.0, f64::max) * 1.1;
    area.fill(&WHITE).map_err(e)?;
    let area = area.titled(&title, font(26)).map_err(e)?;
    let y_desc = format!("refused commands per {}", bucket_name(r.bucket_s));
    let mut chart = time_chart(
        &area,
        r,
        (
            "a RCPT refusal is one recipient; a refused connection, HELO or MAIL is one attempt at a message",
            15,
        ),
        top,
        &y_desc,
        &count_label,
    )?;
    let (from, to) = r.view_hours();
    let bucket_h = r.bucket_s / 3600.0;
    // Drawn from the top layer down, each lower one over it; every bucket without
    // refusals drops to zero.
    let mut keys = Legend::default();
    for (layer, heights) in layers.iter().zip(&stacked).rev() {
        let color = layer.1;
        let mut points = Vec::with_capacity(buckets.len() * 4);
        for (i, b) in buckets.iter().enumerate() {
            let a = *b as f64 / 3_600_000.0;
            let (a, z) = (a.max(from), (a + bucket_h).min(to));
            points.extend([(a, 0.0), (a, heights[i]), (z, heights[i]), (z, 0.0)]);
        }
        // The total in the key: a reply refused a few times beside one refused
        // hundreds of times is a sliver of a bar, or none, on one linear axis. Text
        // and total share the key's width (some 43 characters): a longer total
        // leaves less of the text.
        let total = count_label(&layer.2.values().sum());
        let text = shorten(&layer.0, KEY_CHARS.saturating_sub(total.len()).max(16));
        let name = format!("{text} ({total})");
        chart
            .draw_series(AreaSeries::new(points, 0.0, color.mix(0.9)))
            .map_err(e)?;
        keys.add(name, Mark::Fill(color.mix(0.9)));
    }
    keys.draw(&area, &chart)
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{}…", cut.trim_end())
    }
}
