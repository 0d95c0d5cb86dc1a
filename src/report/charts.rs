//! SVG charts beside the report, where a picture reads faster than a table: throughput against
//! batch size, matrix-product throughput against size, loader scaling with workers, and speed-up
//! per device. Drawn with plotters' SVG backend from the report's view, so they are as
//! deterministic as the report itself.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use serde::Serialize;

use super::view::Report;

/// A chart written beside the report.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub title: String,
    /// File name, relative to the report.
    pub file: String,
}

/// One line of a chart: a label and its (x, y) points.
type Series = (String, Vec<(f64, f64)>);

/// Lines by label.
type Lines = BTreeMap<String, Vec<(f64, f64)>>;

const COLORS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(174, 199, 232),
];

/// Draws every chart the report has data for into `dir`, file names starting with `prefix`.
/// Returns them by key (`inference_throughput`, `matmul_gflops`, `dataload_scaling`,
/// `training_speedup`), for the template to place.
pub fn draw_all(report: &Report, dir: &Path, prefix: &str) -> Result<BTreeMap<String, Chart>> {
    let mut charts = BTreeMap::new();
    let mut add = |key: &str, title: &str, drawn: Result<bool>| -> Result<()> {
        if drawn.with_context(|| format!("cannot draw the chart `{title}`"))? {
            charts.insert(
                key.to_owned(),
                Chart {
                    title: title.to_owned(),
                    file: format!("{prefix}{key}.svg"),
                },
            );
        }
        Ok(())
    };
    let path = |key: &str| dir.join(format!("{prefix}{key}.svg"));

    add(
        "inference_throughput",
        "Inference throughput against batch size",
        line_chart(
            &path("inference_throughput"),
            "Inference throughput",
            "batch size",
            "samples/s",
            inference_lines(report),
            true,
        ),
    )?;
    add(
        "matmul_gflops",
        "Matrix-product throughput against size",
        line_chart(
            &path("matmul_gflops"),
            "Matrix product",
            "n",
            "GFLOP/s",
            matmul_lines(report),
            false,
        ),
    )?;
    add(
        "dataload_scaling",
        "Data-loading throughput against workers",
        line_chart(
            &path("dataload_scaling"),
            "Data loading",
            "workers",
            "samples/s",
            dataload_lines(report),
            false,
        ),
    )?;
    add(
        "training_speedup",
        "Training speed-up of each accelerator over the CPU",
        bar_chart(
            &path("training_speedup"),
            "Training speed-up over CPU",
            "× faster than CPU",
            &training_speedups(report),
        ),
    )?;
    Ok(charts)
}

/// Samples per second against batch size, one line per model and device, from the experiment
/// that measured it at the most batch sizes: a configuration measured again elsewhere (as an
/// optimization's baseline) would put two points at one batch size.
fn inference_lines(report: &Report) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut by_experiment: BTreeMap<(String, String), Lines> = BTreeMap::new();
    for row in &report.inference {
        for d in &row.devices {
            if let (Some(b), Some(rate)) = (row.batch, d.samples_per_s) {
                by_experiment
                    .entry((row.model.clone(), d.device.clone()))
                    .or_default()
                    .entry(row.experiment.clone())
                    .or_default()
                    .push((b as f64, rate));
            }
        }
    }
    let mut inference: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for ((model, device), experiments) in by_experiment {
        if let Some(points) = experiments.into_values().max_by_key(Vec::len) {
            inference.insert(format!("{model} ({device})"), points);
        }
    }
    inference
}

/// GFLOP/s against matrix size, one line per dtype and device.
fn matmul_lines(report: &Report) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut matmul: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &report.matmul {
        matmul
            .entry(format!("{} ({})", r.dtype, r.device))
            .or_default()
            .push((r.n as f64, r.gflops));
    }
    matmul
}

/// Samples per second against loader workers, one line per other loader setting.
fn dataload_lines(report: &Report) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut loading: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &report.dataload {
        if let Some(rate) = r.samples_per_s {
            let label = format!(
                "prefetch {}, jitter {}, batch {}",
                r.prefetch, r.jitter, r.batch
            );
            loading
                .entry(label)
                .or_default()
                .push((r.workers as f64, rate));
        }
    }
    loading
}

/// One bar per model and accelerator: its training speed-up over the CPU, from the first
/// experiment that measured it.
fn training_speedups(report: &Report) -> Vec<(String, String, f64)> {
    let mut speedups: Vec<(String, String, f64)> = Vec::new();
    for row in &report.training {
        for d in &row.devices {
            let seen = speedups
                .iter()
                .any(|(m, dev, _)| *m == row.model && *dev == d.device);
            if let (Some(s), false) = (d.speedup_over_cpu, seen) {
                speedups.push((row.model.clone(), d.device.clone(), s));
            }
        }
    }
    speedups
}

/// Axis labels with a metric prefix: `250k`, `4M`.
fn compact(y: f64) -> String {
    let a = y.abs();
    if a >= 1e9 {
        format!("{}G", crate::format::significant(y / 1e9))
    } else if a >= 1e6 {
        format!("{}M", crate::format::significant(y / 1e6))
    } else if a >= 1e3 {
        format!("{}k", crate::format::significant(y / 1e3))
    } else {
        crate::format::significant(y)
    }
}

fn draw_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("{e:?}")
}

/// Lines of `series`, x optionally on a log scale (batch sizes), y on a log scale when it spans
/// more than a decade. Nothing is drawn (and `false` returned) without two points on a line.
fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: BTreeMap<String, Vec<(f64, f64)>>,
    log_x: bool,
) -> Result<bool> {
    let mut series: Vec<Series> = series
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            (k, v)
        })
        .filter(|(_, v)| v.len() >= 2)
        .collect();
    if series.is_empty() {
        return Ok(false);
    }
    series.truncate(COLORS.len());
    let xs = series.iter().flat_map(|(_, v)| v.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|(_, v)| v.iter().map(|p| p.1));
    let (x_min, x_max) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (y_min, y_max) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let log_y = y_min > 0.0 && y_max / y_min > 10.0;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80);
    let x_range = if log_x {
        x_min * 0.8..x_max * 1.25
    } else {
        x_min - (x_max - x_min) * 0.05..x_max + (x_max - x_min) * 0.05
    };
    // Headroom above the data for the legend.
    let y_range = if log_y {
        y_min * 0.7..y_max * 8.0
    } else {
        0.0..y_max * 1.35
    };
    // Four combinations of linear and log axes are four chart types in plotters.
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .y_label_formatter(&|y| compact(*y))
                .draw()
                .map_err(draw_error)?;
            for (i, (label, points)) in series.iter().enumerate() {
                let color = COLORS[i];
                chart
                    .draw_series(LineSeries::new(
                        points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(draw_error)?
                    .label(label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(draw_error)?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(draw_error)?;
        }};
    }
    match (log_x, log_y) {
        (true, true) => draw!(builder
            .build_cartesian_2d(x_range.log_scale(), y_range.log_scale())
            .map_err(draw_error)?),
        (true, false) => draw!(builder
            .build_cartesian_2d(x_range.log_scale(), y_range)
            .map_err(draw_error)?),
        (false, true) => draw!(builder
            .build_cartesian_2d(x_range, y_range.log_scale())
            .map_err(draw_error)?),
        (false, false) => draw!(builder
            .build_cartesian_2d(x_range, y_range)
            .map_err(draw_error)?),
    }
    root.present().map_err(draw_error)?;
    Ok(true)
}

/// Bars of (category, device, value), grouped by category; nothing without data.
fn bar_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    bars: &[(String, String, f64)],
) -> Result<bool> {
    if bars.is_empty() {
        return Ok(false);
    }
    let mut categories: Vec<&str> = Vec::new();
    let mut devices: Vec<&str> = Vec::new();
    for (c, d, _) in bars {
        if !categories.contains(&c.as_str()) {
            categories.push(c);
        }
        if !devices.contains(&d.as_str()) {
            devices.push(d);
        }
    }
    let y_max = bars.iter().map(|b| b.2).fold(1.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let n = categories.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n, 0.0..y_max)
        .map_err(draw_error)?;
    let labels = categories.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(categories.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 && i < labels.len() {
                labels[i].to_owned()
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .draw()
        .map_err(draw_error)?;
    let width = 0.8 / devices.len() as f64;
    for (di, device) in devices.iter().enumerate() {
        let color = COLORS[di % COLORS.len()];
        chart
            .draw_series(bars.iter().filter(|b| b.1 == *device).map(|(c, _, v)| {
                let ci = categories.iter().position(|x| x == c).expect("listed") as f64;
                let x0 = ci + 0.1 + di as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.95, *v)], color.filled())
            }))
            .map_err(draw_error)?
            .label(*device)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw_error)?;
    root.present().map_err(draw_error)?;
    Ok(true)
}
