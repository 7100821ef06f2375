//! The `capacity` chart of a sweep, from `sweep.csv`: the share of the tenant's
//! recipients delivered, bounced and still queued, and the p99 delivery delay,
//! against licences (log axis); the mean over seeds as a line, the spread across
//! seeds as a bar from the lowest to the highest.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Per licence count, one entry per seed: (delivered %, bounced %, queued %, p99 min).
type Rows = BTreeMap<u32, Vec<[f64; 4]>>;

pub fn read(dir: &Path) -> io::Result<Rows> {
    let path = dir.join("sweep.csv");
    let mut reader = csv::Reader::from_path(&path)
        .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
    let header = reader
        .headers()
        .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?
        .clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(l), Some(g), Some(d), Some(b), Some(q), Some(p99)) = (
        col("licences"),
        col("generated_rcpts"),
        col("delivered_rcpts"),
        col("bounced_rcpts"),
        col("queued_at_end_rcpts"),
        col("delay_p99_s"),
    ) else {
        return Err(io::Error::other(format!(
            "{}: not a sweep.csv",
            path.display()
        )));
    };
    let mut rows = Rows::new();
    for record in reader.records() {
        let r = record.map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        let f = |i: usize| r.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        let total = f(g).max(1.0);
        rows.entry(f(l) as u32).or_default().push([
            100.0 * f(d) / total,
            100.0 * f(b) / total,
            100.0 * f(q) / total,
            f(p99) / 60.0,
        ]);
    }
    Ok(rows)
}

fn e<E: std::fmt::Debug>(err: E) -> String {
    format!("{err:?}")
}

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// (mean, min, max) of column `i`.
fn stats(seeds: &[[f64; 4]], i: usize) -> (f64, f64, f64) {
    let values = seeds.iter().map(|s| s[i]);
    let mean = values.clone().sum::<f64>() / seeds.len().max(1) as f64;
    let min = values.clone().fold(f64::INFINITY, f64::min);
    let max = values.fold(f64::NEG_INFINITY, f64::max);
    (mean, min, max)
}

pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &Rows,
    title: &str,
) -> Result<(), String> {
    area.fill(&WHITE).map_err(e)?;
    let area = area.titled(title, font(26)).map_err(e)?;
    let (lo, hi) = match (rows.keys().next(), rows.keys().last()) {
        (Some(&lo), Some(&hi)) => (f64::from(lo) / 1.2, f64::from(hi) * 1.2),
        _ => return Ok(()),
    };
    let panels = area.split_evenly((2, 1));
    let series: [(&str, usize, RGBColor); 3] = [
        ("delivered", 0, RGBColor(46, 125, 50)),
        ("bounced", 1, RGBColor(198, 40, 40)),
        ("queued at the end", 2, RGBColor(245, 166, 35)),
    ];
    let mut shares = ChartBuilder::on(&panels[0])
        .margin(12)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..105.0)
        .map_err(e)?;
    shares
        .configure_mesh()
        .x_desc("licences")
        .y_desc("% of the tenant's recipients")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0} %"))
        .label_style(font(15))
        .axis_desc_style(font(16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    for (name, i, color) in series {
        let line: Vec<(f64, f64)> = rows
            .iter()
            .map(|(l, s)| (f64::from(*l), stats(s, i).0))
            .collect();
        shares
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
            .map_err(e)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
        shares
            .draw_series(line.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(e)?;
        shares
            .draw_series(rows.iter().map(|(l, s)| {
                let (_, min, max) = stats(s, i);
                PathElement::new(
                    [(f64::from(*l), min), (f64::from(*l), max)],
                    color.stroke_width(1),
                )
            }))
            .map_err(e)?;
    }
    shares
        .configure_series_labels()
        .label_font(font(15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .position(SeriesLabelPosition::MiddleRight)
        .draw()
        .map_err(e)?;
    let top = rows
        .values()
        .flat_map(|s| s.iter().map(|x| x[3]))
        .fold(1.0, f64::max)
        * 1.1;
    let mut delay = ChartBuilder::on(&panels[1])
        .margin(12)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..top)
        .map_err(e)?;
    delay
        .configure_mesh()
        .x_desc("licences")
        .y_desc("p99 delivery delay (minutes)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(font(15))
        .axis_desc_style(font(16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    let color = RGBColor(31, 119, 180);
    let line: Vec<(f64, f64)> = rows
        .iter()
        .map(|(l, s)| (f64::from(*l), stats(s, 3).0))
        .collect();
    delay
        .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
        .map_err(e)?;
    delay
        .draw_series(line.iter().map(|p| Circle::new(*p, 4, color.filled())))
        .map_err(e)?;
    delay
        .draw_series(rows.iter().map(|(l, s)| {
            let (_, min, max) = stats(s, 3);
            PathElement::new(
                [(f64::from(*l), min), (f64::from(*l), max)],
                color.stroke_width(1),
            )
        }))
        .map_err(e)?;
    Ok(())
}
