//! Charts of a run, each as PNG and SVG: `throughput`, `limit_timeline`,
//! `quota_utilisation`, `replies`, `queue_depth`. They are drawn from the files of a results
//! folder (`data.rs`), never from the run's memory, so `relaysim plot DIR` redraws
//! exactly what `relaysim run` drew. plotters is built without system font libraries:
//! the DejaVu Sans font is bundled (`crates/report/assets/fonts`, with its licence).

mod capacity;
mod compare;
pub mod data;
mod draw;
mod heatmap;
mod limits;
mod refusals;
pub mod sweep_data;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::prelude::*;

use super::AtomicFile;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            plotters::style::register_font("sans-serif", style, FONT)
                .unwrap_or_else(|_| panic!("the bundled font is a valid TrueType font"));
        }
    });
}

/// Chart width; 1,200 px reads well in a report.
const WIDTH: u32 = 1200;

/// Draws `name`.png and `name`.svg into `dir` with `draw`, each whole or not at all.
macro_rules! png_and_svg {
    ($dir:expr, $name:literal, $size:expr, $written:expr, |$root:ident| $draw:expr) => {{
        let png = $dir.join(concat!($name, ".png"));
        let tmp = $dir.join(concat!(".relaysim-", $name, ".partial.png"));
        {
            let $root = BitMapBackend::new(&tmp, $size).into_drawing_area();
            $draw.map_err(io::Error::other)?;
            $root
                .present()
                .map_err(|e| io::Error::other(format!("{e:?}")))?;
        }
        std::fs::rename(&tmp, &png)?;
        $written.push(png);
        let mut svg = String::new();
        {
            let $root = SVGBackend::with_string(&mut svg, $size).into_drawing_area();
            $draw.map_err(io::Error::other)?;
            $root
                .present()
                .map_err(|e| io::Error::other(format!("{e:?}")))?;
        }
        let path = $dir.join(concat!($name, ".svg"));
        AtomicFile::write_all(&path, svg.as_bytes())?;
        $written.push(path);
    }};
}

/// Draws the charts of a sweep folder (one with `sweep.csv`): `capacity` along the
/// one dimension that changes (licences, or a `--vary` key), or `heatmap` when two
/// change; with more than two, none (the CSV holds the grid).
pub fn draw_sweep(dir: &Path) -> io::Result<Vec<PathBuf>> {
    register_font();
    let sweep = sweep_data::read(dir)?;
    let name = if sweep.meta.scenario.is_empty() {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        sweep.meta.scenario.clone()
    };
    let varied = sweep.varied();
    let mut written = Vec::new();
    match varied[..] {
        [] | [_] => {
            let d = varied.first().copied().unwrap_or(0);
            let title = format!("{name} — outcome against {}", sweep.dimension_name(d));
            png_and_svg!(dir, "capacity", (WIDTH, 900), written, |root| {
                capacity::draw(&root, &sweep, d, &title)
            });
        }
        [a, b] => {
            let title = format!(
                "{name} — {} × {}",
                sweep.dimension_name(a),
                sweep.dimension_name(b)
            );
            png_and_svg!(dir, "heatmap", (WIDTH, 800), written, |root| {
                heatmap::draw(&root, &sweep, (a, b), &title)
            });
        }
        _ => {}
    }
    Ok(written)
}

/// Delays in the unit that reads best for the longest one (seconds): the unit's
/// name and its length in seconds.
fn delay_unit(longest_s: f64) -> (&'static str, f64) {
    if longest_s >= 3.0 * 3600.0 {
        ("hours", 3600.0)
    } else if longest_s >= 180.0 {
        ("minutes", 60.0)
    } else {
        ("seconds", 1.0)
    }
}

/// Draws the overlay charts of runs `a` and `b` into `out`: `compare_throughput`,
/// `compare_queue_depth`, `compare_delays`.
pub fn draw_compare(a: &Path, b: &Path, out: &Path) -> io::Result<Vec<PathBuf>> {
    register_font();
    let pair = compare::Pair::read(a, b)?;
    let mut written = Vec::new();
    png_and_svg!(out, "compare_throughput", (WIDTH, 600), written, |root| {
        compare::throughput(&root, &pair)
    });
    png_and_svg!(out, "compare_queue_depth", (WIDTH, 600), written, |root| {
        compare::queue_depth(&root, &pair)
    });
    png_and_svg!(out, "compare_delays", (WIDTH, 600), written, |root| {
        compare::delays(&root, &pair)
    });
    Ok(written)
}

/// The charts of a `relaysim serve` folder, drawn into it: `throughput` and
/// `limit_timeline` (a live relay has no MTA queues, quota usage rows or
/// per-bucket replies to draw).
pub fn draw_served(dir: &Path) -> io::Result<Vec<PathBuf>> {
    register_font();
    let mut r = data::read(dir)?;
    r.keep_drawable();
    let mut written = Vec::new();
    png_and_svg!(
        dir,
        "throughput",
        (WIDTH, throughput_height(&r)),
        written,
        |root| { draw::throughput(&root, &r) }
    );
    png_and_svg!(
        dir,
        "limit_timeline",
        (WIDTH, timeline_height(&r)),
        written,
        |root| { limits::limit_timeline(&root, &r) }
    );
    Ok(written)
}

fn throughput_height(r: &data::Results) -> u32 {
    120 + 380 * r.throughput.len().max(1) as u32
}

fn timeline_height(r: &data::Results) -> u32 {
    (160 + 60 * r.lanes.len() as u32).max(360)
}

/// Draws every chart of the results folder `dir` into it (a sweep folder: the
/// `capacity` chart); returns the files written.
pub fn draw_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    if dir.join("sweep.csv").exists() && !dir.join("summary.json").exists() {
        return draw_sweep(dir);
    }
    draw_run(dir, dir, None)
}

/// The charts of the run folder `from`, drawn into `dir`, the time charts showing
/// only `view_s` (seconds from the start) of the run when given (`relaysim plot
/// --from --to`).
pub fn draw_run(from: &Path, dir: &Path, view_s: Option<(f64, f64)>) -> io::Result<Vec<PathBuf>> {
    register_font();
    let mut r = data::read(from)?;
    r.keep_drawable();
    if let Some((from_s, to_s)) = view_s {
        r.zoom(from_s, to_s);
    }
    let usage_panels = (r.customer_usage.len() as u32).min(2 * data::MAX_TENANT_PANELS as u32)
        + u32::from(!r.user_usage.is_empty());
    let mtas = r.queue_depth.len().max(1) as u32;
    let mut written = Vec::new();
    macro_rules! chart {
        ($name:literal, $height:expr, $draw:path) => {
            png_and_svg!(dir, $name, (WIDTH, $height), written, |root| $draw(
                &root, &r
            ))
        };
    }
    chart!("throughput", throughput_height(&r), draw::throughput);
    chart!(
        "limit_timeline",
        timeline_height(&r),
        limits::limit_timeline
    );
    chart!(
        "quota_utilisation",
        100 + 300 * usage_panels.max(1),
        limits::quota_utilisation
    );
    chart!("replies", 600, refusals::replies);
    chart!(
        "queue_depth",
        (100 + 260 * mtas).max(400),
        draw::queue_depth
    );
    Ok(written)
}
