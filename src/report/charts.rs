//! SVG charts beside the report, where a picture reads faster than a table: throughput against
//! batch size, matrix-product throughput against size, loader scaling with workers, and speed-up
//! per device. Drawn with plotters' SVG backend from the report's view, so they are as
//! deterministic as the report itself.
//!
//! Every line is one configuration: its points share every key of their rows but the one on the
//! x axis (experiment and framework included), so a line never joins CPU and GPU points, nor
//! candle's and PyTorch's. Points carry their 95% interval as error bars where the figure has
//! one; log axes say so; sizes and batches are ticked as integers; rates are scaled (TFLOP/s);
//! the legend sits beside the plot, never on it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use super::sections::matmul::flops_unit;
use super::view::{Figure, Report};

/// A chart written beside the report.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub title: String,
    /// File name, relative to the report.
    pub file: String,
}

/// One point of a line, with its 95% interval where known.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// One line: one configuration, labelled by the keys that tell it from the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<Point>,
}

/// A row's keys: (name, value) pairs, in the section's order.
pub type Keys = Vec<(String, String)>;

/// A line chart before it is drawn.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub key: &'static str,
    pub title: &'static str,
    pub caption: String,
    pub x_label: &'static str,
    pub y_label: String,
    pub log_x: bool,
    /// Whether x values are counts (batch, size, workers): ticked as integers.
    pub integer_x: bool,
    /// One panel, or one per device where one would hold too many lines to read.
    pub panels: Vec<Panel>,
}

/// A panel of a chart: its title (empty for a chart of one panel) and its lines.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

/// Lines in one panel beyond which a chart is split by device.
const LINES_PER_PANEL: usize = 8;

/// The lines of `rows` in panels: one, or one per device (up to three) when a single panel
/// would hold more than [`LINES_PER_PANEL`] lines; each panel labels its lines by what varies
/// within it.
pub fn panels(rows: Vec<(Keys, Point)>, x_key: &str) -> Vec<Panel> {
    let device = |k: &Keys| {
        k.iter()
            .find(|(n, _)| n == "device")
            .map(|(_, v)| v.clone())
    };
    let mut devices: Vec<Option<String>> = Vec::new();
    for (k, _) in &rows {
        if !devices.contains(&device(k)) {
            devices.push(device(k));
        }
    }
    let all = group(rows.clone(), x_key);
    if all.len() <= LINES_PER_PANEL || !(2..=3).contains(&devices.len()) {
        return vec![Panel {
            title: String::new(),
            series: all,
        }];
    }
    devices
        .into_iter()
        .map(|d| Panel {
            title: format!("device {}", d.clone().unwrap_or_default()),
            series: group(
                rows.iter()
                    .filter(|(k, _)| device(k) == d)
                    .cloned()
                    .collect(),
                x_key,
            ),
        })
        .collect()
}

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

/// Size of every chart, and of the legend's column on its right.
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 500;
const LEGEND_WIDTH: u32 = 320;

/// Every chart's key, drawn or not.
pub const KEYS: [&str; 4] = [
    "inference_throughput",
    "matmul_gflops",
    "dataload_scaling",
    "training_speedup",
];

/// Draws every chart the report has data for into `dir`, file names starting with `prefix`.
/// Returns them by key ([`KEYS`]), for the template to place. A chart file of an earlier
/// report that this one no longer draws is removed, so that no figure outlives its data.
pub fn draw_all(report: &Report, dir: &Path, prefix: &str) -> Result<BTreeMap<String, Chart>> {
    let charts = draw_each(report, dir, prefix)?;
    for key in KEYS.iter().filter(|k| !charts.contains_key(**k)) {
        let stale = dir.join(format!("{prefix}{key}.svg"));
        if stale.is_file() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("cannot remove the stale chart `{}`", stale.display()))?;
        }
    }
    Ok(charts)
}

fn draw_each(report: &Report, dir: &Path, prefix: &str) -> Result<BTreeMap<String, Chart>> {
    let mut charts = BTreeMap::new();
    for chart in line_charts(report) {
        let path = dir.join(format!("{prefix}{}.svg", chart.key));
        let drawn = draw_line_chart(&path, &chart)
            .with_context(|| format!("cannot draw the chart `{}`", chart.title))?;
        if drawn {
            charts.insert(
                chart.key.to_owned(),
                Chart {
                    title: chart.title.to_owned(),
                    file: format!("{prefix}{}.svg", chart.key),
                },
            );
        }
    }
    let bars = training_speedups(report);
    let key = "training_speedup";
    let title = "Training speed-up of each accelerator over the CPU";
    if bar_chart(
        &dir.join(format!("{prefix}{key}.svg")),
        "Training speed-up over the CPU (95% interval)",
        "× faster than the CPU",
        &bars,
    )
    .with_context(|| format!("cannot draw the chart `{title}`"))?
    {
        charts.insert(
            key.to_owned(),
            Chart {
                title: title.to_owned(),
                file: format!("{prefix}{key}.svg"),
            },
        );
    }
    Ok(charts)
}

/// A rate's interval from a time's: the rate at the interval's slow end to its fast end.
fn rate_interval(rate: f64, time: &Figure) -> (Option<f64>, Option<f64>) {
    let at = |t: Option<f64>| t.filter(|t| *t > 0.0).map(|t| rate * time.median / t);
    (at(time.high), at(time.low))
}

/// The keys that tell `lines` apart, for their labels: those with two values or more where
/// set (a key only some lines have, with one value, tells nothing), without the experiment
/// where each framework has its own (the framework says it all).
fn naming_keys(lines: &[Keys]) -> Vec<String> {
    let value = |l: &Keys, name: &str| {
        l.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .filter(|v| v != super::table::ABSENT)
    };
    let mut names: Vec<String> = Vec::new();
    for (n, _) in lines.iter().flatten() {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let mut varying: Vec<String> = names
        .into_iter()
        .filter(|name| {
            let mut values: Vec<String> = lines.iter().filter_map(|l| value(l, name)).collect();
            values.sort();
            values.dedup();
            values.len() > 1
        })
        .collect();
    if varying.iter().any(|v| v == "framework") {
        let pairs: Vec<(Option<String>, Option<String>)> = lines
            .iter()
            .map(|l| (value(l, "framework"), value(l, "experiment")))
            .collect();
        let one_each = pairs
            .iter()
            .all(|(f, e)| pairs.iter().all(|(g, d)| f != g || e == d));
        if one_each {
            varying.retain(|v| v != "experiment");
        }
    }
    // A key the others decide (each model has its one dataset) says nothing more: labels drop
    // it, from the last, so that `mlp-small, wti-lags` reads `mlp-small`.
    for k in (0..varying.len()).rev() {
        if varying.len() < 2 {
            break;
        }
        let others: Vec<&String> = varying.iter().filter(|v| **v != varying[k]).collect();
        let of = |l: &Keys| -> Vec<Option<String>> { others.iter().map(|o| value(l, o)).collect() };
        let decided = lines.iter().all(|a| {
            lines
                .iter()
                .all(|b| of(a) != of(b) || value(a, &varying[k]) == value(b, &varying[k]))
        });
        if decided {
            varying.remove(k);
        }
    }
    varying
}

/// A line's label: the values of `naming` keys (numbers with their key's name).
fn label_of(keys: &Keys, naming: &[String]) -> String {
    keys.iter()
        .filter(|(k, _)| naming.contains(k))
        .map(|(k, v)| {
            let v = v.replace('`', "");
            if v.parse::<f64>().is_ok() {
                format!("{k} {v}")
            } else {
                v
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Groups `(keys, point)` into lines: rows whose keys are equal but for `x_key` are one line,
/// labelled by the keys (other than `x_key`) that vary between lines.
pub fn group(rows: Vec<(Keys, Point)>, x_key: &str) -> Vec<Series> {
    let rest = |keys: &[(String, String)]| -> Vec<(String, String)> {
        keys.iter().filter(|(k, _)| k != x_key).cloned().collect()
    };
    let mut lines: Vec<(Keys, Vec<Point>)> = Vec::new();
    for (keys, point) in rows {
        let k = rest(&keys);
        match lines.iter_mut().find(|(l, _)| *l == k) {
            Some((_, points)) => points.push(point),
            None => lines.push((k, vec![point])),
        }
    }
    let keys: Vec<Keys> = lines.iter().map(|(k, _)| k.clone()).collect();
    let mut varying = naming_keys(&keys);
    let mut labels: Vec<String> = lines.iter().map(|(k, _)| label_of(k, &varying)).collect();
    labels.sort();
    labels.dedup();
    if labels.len() < lines.len() {
        varying = lines
            .first()
            .map(|(k, _)| k.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        varying.retain(|name| {
            let first = lines[0].0.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            lines
                .iter()
                .any(|(l, _)| l.iter().find(|(n, _)| n == name).map(|(_, v)| v) != first)
        });
    }
    lines
        .into_iter()
        .map(|(keys, mut points)| {
            points.sort_by(|a, b| a.x.total_cmp(&b.x));
            let label = label_of(&keys, &varying);
            Series {
                label: if label.is_empty() {
                    "all".to_owned()
                } else {
                    label
                },
                points,
            }
        })
        .collect()
}

/// The line charts the report has data for (a chart needs one line with two points).
pub fn line_charts(report: &Report) -> Vec<LineChart> {
    let mut out = Vec::new();
    let inference: Vec<(Keys, Point)> = report
        .inference
        .iter()
        .filter_map(|r| {
            let rate = r.samples_per_s?;
            let (low, high) = rate_interval(rate, &r.time);
            Some((
                r.keys.clone(),
                Point {
                    x: r.batch? as f64,
                    y: rate,
                    low,
                    high,
                },
            ))
        })
        .collect();
    out.push(LineChart {
        key: "inference_throughput",
        title: "Inference throughput against batch size",
        caption: "Inference throughput (samples/s at the median time, 95% interval)".to_owned(),
        x_label: "batch size (log scale)",
        y_label: "samples/s".to_owned(),
        log_x: true,
        integer_x: true,
        panels: panels(inference, "batch"),
    });
    let max = report.matmul.iter().map(|r| r.gflops).fold(0.0, f64::max);
    let (unit, factor) = flops_unit(max);
    let matmul = report
        .matmul
        .iter()
        .map(|r| {
            let y = r.gflops * factor;
            let (low, high) = rate_interval(y, &r.time);
            (
                r.keys.clone(),
                Point {
                    x: r.n as f64,
                    y,
                    low,
                    high,
                },
            )
        })
        .collect();
    out.push(LineChart {
        key: "matmul_gflops",
        title: "Matrix-product throughput against size",
        caption: format!("Matrix product ({unit} at the median time, 95% interval)"),
        x_label: "n (matrices n × n, log scale)",
        y_label: unit.to_owned(),
        log_x: true,
        integer_x: true,
        panels: panels(matmul, "n"),
    });
    let loading = report
        .dataload
        .iter()
        .filter_map(|r| {
            Some((
                r.keys.clone(),
                Point {
                    x: r.workers as f64,
                    y: r.samples_per_s?,
                    low: None,
                    high: None,
                },
            ))
        })
        .collect();
    out.push(LineChart {
        key: "dataload_scaling",
        title: "Data-loading throughput against workers",
        caption: "Data loading (samples/s sustained)".to_owned(),
        x_label: "workers",
        y_label: "samples/s".to_owned(),
        log_x: false,
        integer_x: true,
        panels: panels(loading, "workers"),
    });
    out.retain(|c| {
        c.panels
            .iter()
            .any(|p| p.series.iter().any(|s| s.points.len() >= 2))
    });
    out
}

/// One bar per accelerator row with a speed-up over the CPU, grouped by the keys other than
/// device, experiment and framework; bars told apart by those. With its interval (the CPU's
/// interval over the accelerator's, conservatively combined).
pub fn training_speedups(report: &Report) -> Vec<Bar> {
    let rows: Vec<&super::view::ModelRow> = report
        .training
        .iter()
        .filter(|r| r.speedup_over_cpu.is_some())
        .collect();
    // Categories and groups are named by what varies between bars, as lines are.
    let split = |r: &super::view::ModelRow, grouping: bool| -> Keys {
        r.keys
            .iter()
            .filter(|(k, _)| {
                ["device", "framework", "experiment"].contains(&k.as_str()) == grouping
            })
            .cloned()
            .collect()
    };
    let categories = labels(&rows.iter().map(|r| split(r, false)).collect::<Vec<_>>());
    let groups = labels(&rows.iter().map(|r| split(r, true)).collect::<Vec<_>>());
    rows.iter()
        .zip(categories.into_iter().zip(groups))
        .map(|(r, (category, group))| Bar {
            category,
            group: if group == "all" {
                r.device.clone()
            } else {
                group
            },
            value: r.speedup_over_cpu.unwrap_or(f64::NAN),
            interval: r.speedup_over_cpu_interval,
        })
        .collect()
}

/// A label for each of `keys` naming what tells it from the others, as [`group`] labels lines;
/// keys that differ only where one lacks a key share a label (a category of bars).
fn labels(keys: &[Keys]) -> Vec<String> {
    let naming = naming_keys(keys);
    keys.iter()
        .map(|k| match label_of(k, &naming) {
            l if l.is_empty() => "all".to_owned(),
            l => l,
        })
        .collect()
}

/// A bar of a grouped bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub category: String,
    pub group: String,
    pub value: f64,
    pub interval: Option<(f64, f64)>,
}

/// Axis labels with a metric prefix: `250k`, `4M`, `1.5M`; no trailing zeros.
fn compact(y: f64) -> String {
    let short = |v: f64| {
        let s = crate::format::significant(v);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    let a = y.abs();
    if a >= 1e9 {
        format!("{}G", short(y / 1e9))
    } else if a >= 1e6 {
        format!("{}M", short(y / 1e6))
    } else if a >= 1e4 {
        format!("{}k", short(y / 1e3))
    } else {
        short(y)
    }
}

/// An integer axis's tick: the integer, or nothing between integers.
fn integer_tick(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        compact(x.round())
    } else {
        String::new()
    }
}

fn draw_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("{e:?}")
}

/// The legend, in its own column right of the plot: a swatch and the label of each entry.
fn draw_legend(
    area: &DrawingArea<SVGBackend, Shift>,
    entries: &[(String, RGBColor)],
    bars: bool,
) -> Result<()> {
    let style = ("sans-serif", 13).into_font().color(&BLACK);
    for (i, (label, color)) in entries.iter().enumerate() {
        let y = 50 + i as i32 * 20;
        if bars {
            area.draw(&Rectangle::new([(8, y - 5), (22, y + 5)], color.filled()))
                .map_err(draw_error)?;
        } else {
            area.draw(&PathElement::new(
                vec![(4, y), (26, y)],
                color.stroke_width(2),
            ))
            .map_err(draw_error)?;
            area.draw(&Circle::new((15, y), 3, color.filled()))
                .map_err(draw_error)?;
        }
        // Long labels are cut rather than run off the image.
        let text: String = if label.chars().count() > 44 {
            label.chars().take(43).chain(['…']).collect()
        } else {
            label.clone()
        };
        area.draw(&Text::new(text, (32, y - 7), style.clone()))
            .map_err(draw_error)?;
    }
    Ok(())
}

/// Draws `chart`: each panel's lines with their points and error bars, on axes shared by the
/// panels; y on a log scale when it spans more than a decade (the axis says so). Nothing is
/// drawn (and `false` returned) without a line of two points; single points of other lines are
/// drawn as points.
fn draw_line_chart(path: &Path, chart: &LineChart) -> Result<bool> {
    let all = chart.panels.iter().flat_map(|p| p.series.iter());
    if !all.clone().any(|s| s.points.len() >= 2) {
        return Ok(false);
    }
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    let (mut lo_min, mut hi_max) = (f64::MAX, f64::MIN);
    for p in all.flat_map(|s| s.points.iter()) {
        x_min = x_min.min(p.x);
        x_max = x_max.max(p.x);
        y_min = y_min.min(p.y);
        y_max = y_max.max(p.y);
        lo_min = lo_min.min(p.low.unwrap_or(p.y));
        hi_max = hi_max.max(p.high.unwrap_or(p.y));
    }
    // Intervals widen the axis, but no further than twice beyond the data: an interval from
    // two rounds can span orders of magnitude and would flatten every line (it is clipped).
    let y_min = lo_min.max(y_min / 2.0).min(y_min);
    let y_max = hi_max.min(y_max * 2.0).max(y_max);
    let n = chart.panels.len() as u32;
    let width = if n == 1 { WIDTH } else { PANEL_WIDTH * n };
    let root = SVGBackend::new(path, (width, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let root = root
        .titled(&chart.caption, ("sans-serif", 18))
        .map_err(draw_error)?;
    let log_x = chart.log_x && x_min > 0.0;
    let log_y = y_min > 0.0 && y_max / y_min > 10.0;
    let axes = Axes {
        x: if log_x {
            x_min * 0.8..x_max * 1.25
        } else {
            let pad = ((x_max - x_min) * 0.05).max(0.5);
            x_min - pad..x_max + pad
        },
        y: if log_y {
            y_min * 0.8..y_max * 1.25
        } else {
            0.0..y_max * 1.1
        },
        log_x,
        log_y,
    };
    // One colour and one legend position per line across panels: the same framework and
    // model drawn in another colour in the next panel read as another line.
    let mut order: Vec<&str> = Vec::new();
    for s in chart.panels.iter().flat_map(|p| &p.series) {
        if !order.contains(&s.label.as_str()) {
            order.push(&s.label);
        }
    }
    for (area, panel) in root.split_evenly((1, n as usize)).iter().zip(&chart.panels) {
        draw_panel(area, chart, panel, &axes, &order)?;
    }
    root.present().map_err(draw_error)?;
    Ok(true)
}

/// Ranges and scales shared by a chart's panels.
struct Axes {
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    log_x: bool,
    log_y: bool,
}

/// Width of each panel of a chart of several.
const PANEL_WIDTH: u32 = 760;

fn draw_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    chart: &LineChart,
    panel: &Panel,
    axes: &Axes,
    order: &[&str],
) -> Result<()> {
    let rank = |label: &str| {
        order
            .iter()
            .position(|l| *l == label)
            .unwrap_or(order.len())
    };
    let mut series = panel.series.clone();
    series.sort_by_key(|s| rank(&s.label));
    let color_of = |label: &str| COLORS[rank(label) % COLORS.len()];
    let total = series.len();
    series.truncate(COLORS.len());
    let (w, _) = area.dim_in_pixel();
    let (plot, legend) = area.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
    let mut title = panel.title.clone();
    if total > series.len() {
        title = format!("{title} (first {} of {total} lines)", series.len())
            .trim()
            .to_owned();
    }
    let mut builder = ChartBuilder::on(&plot);
    builder
        .caption(title, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80);
    let y_desc = if axes.log_y {
        format!("{} (log scale)", chart.y_label)
    } else {
        chart.y_label.clone()
    };
    let x_desc = if axes.log_x {
        chart.x_label.to_owned()
    } else {
        chart.x_label.replace(" (log scale)", "")
    };
    let integer_x = chart.integer_x;
    let x_format = move |x: &f64| {
        if integer_x {
            integer_tick(*x)
        } else {
            compact(*x)
        }
    };
    let (x_range, y_range) = (axes.x.clone(), axes.y.clone());
    let (y_bottom, y_top) = (axes.y.start, axes.y.end);
    let mut data_xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.x))
        .collect();
    data_xs.sort_by(f64::total_cmp);
    data_xs.dedup();
    let own_ticks = integer_x && data_xs.len() <= 12;
    let tick_style = ("sans-serif", 12)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    // Four combinations of linear and log axes are four chart types in plotters.
    macro_rules! draw {
        ($chart:expr) => {{
            let mut c = $chart;
            let mut mesh = c.configure_mesh();
            mesh.x_desc(x_desc.as_str())
                .y_desc(y_desc.as_str())
                .y_labels(8)
                .y_label_formatter(&|y| compact(*y));
            if own_ticks {
                // Ticks where the data are: a log axis's own ticks crowd (`8000 9000 10k`) and
                // miss the sizes measured (32, 128).
                mesh.disable_x_mesh()
                    .x_labels(2)
                    .x_label_formatter(&|_| String::new());
            } else {
                mesh.x_labels(10).x_label_formatter(&x_format);
            }
            mesh.draw().map_err(draw_error)?;
            if own_ticks {
                let base = plot.get_base_pixel();
                let bottom = y_bottom;
                let top = y_top;
                for &x in &data_xs {
                    c.draw_series(std::iter::once(PathElement::new(
                        vec![(x, bottom), (x, top)],
                        BLACK.mix(0.12),
                    )))
                    .map_err(draw_error)?;
                    let (px, py) = c.backend_coord(&(x, bottom));
                    plot.draw(&Text::new(
                        compact(x),
                        (px - base.0, py - base.1 + 8),
                        tick_style.clone(),
                    ))
                    .map_err(draw_error)?;
                }
            }
            for s in &series {
                let color = color_of(&s.label);
                let xy: Vec<(f64, f64)> = s.points.iter().map(|p| (p.x, p.y)).collect();
                if xy.len() >= 2 {
                    c.draw_series(LineSeries::new(xy.iter().copied(), color.stroke_width(2)))
                        .map_err(draw_error)?;
                }
                c.draw_series(xy.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(draw_error)?;
                for p in &s.points {
                    if let (Some(lo), Some(hi)) = (p.low, p.high) {
                        c.draw_series(std::iter::once(ErrorBar::new_vertical(
                            p.x,
                            lo,
                            p.y,
                            hi,
                            color.stroke_width(1),
                            8,
                        )))
                        .map_err(draw_error)?;
                    }
                }
            }
        }};
    }
    match (axes.log_x, axes.log_y) {
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
    let entries: Vec<(String, RGBColor)> = series
        .iter()
        .map(|s| (s.label.clone(), color_of(&s.label)))
        .collect();
    draw_legend(&legend, &entries, false)
}

/// Bars grouped by category, one colour per group, each with its interval; nothing without
/// data.
fn bar_chart(path: &Path, title: &str, y_label: &str, bars: &[Bar]) -> Result<bool> {
    if bars.is_empty() {
        return Ok(false);
    }
    let mut categories: Vec<&str> = Vec::new();
    let mut groups: Vec<&str> = Vec::new();
    for b in bars {
        if !categories.contains(&b.category.as_str()) {
            categories.push(&b.category);
        }
        if !groups.contains(&b.group.as_str()) {
            groups.push(&b.group);
        }
    }
    groups.truncate(COLORS.len());
    // The axis fits the bars and their intervals, but an interval reaching past twice the
    // tallest bar (two rounds' worth of data) is cut at the top rather than flatten the bars.
    let tallest = bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);
    let top = bars
        .iter()
        .map(|b| b.interval.map_or(b.value, |i| i.1.max(b.value)))
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
        .min(tallest * 2.0);
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let (plot, legend) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let n = categories.len() as f64;
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n, 0.0..top * 1.1)
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
        .y_label_formatter(&|y| compact(*y))
        .y_desc(y_label)
        .draw()
        .map_err(draw_error)?;
    let width = 0.8 / groups.len() as f64;
    for (gi, group) in groups.iter().enumerate() {
        let color = COLORS[gi];
        for b in bars
            .iter()
            .filter(|b| b.group == *group && b.value.is_finite())
        {
            let ci = categories
                .iter()
                .position(|x| *x == b.category)
                .unwrap_or(0) as f64;
            let x0 = ci + 0.1 + gi as f64 * width;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.95, b.value)],
                    color.filled(),
                )))
                .map_err(draw_error)?;
            if let Some((lo, hi)) = b.interval {
                // A whisker with caps; plotters' error bar would mark the value with a circle.
                let (mid, cap) = (x0 + width * 0.475, width * 0.15);
                let ceiling = top * 1.1;
                let mut whisker = vec![
                    PathElement::new(
                        vec![(mid, lo), (mid, hi.min(ceiling))],
                        BLACK.stroke_width(1),
                    ),
                    PathElement::new(
                        vec![(mid - cap, lo), (mid + cap, lo)],
                        BLACK.stroke_width(1),
                    ),
                ];
                // A cut interval has no cap: it goes on beyond the chart.
                if hi <= ceiling {
                    whisker.push(PathElement::new(
                        vec![(mid - cap, hi), (mid + cap, hi)],
                        BLACK.stroke_width(1),
                    ));
                }
                chart.draw_series(whisker).map_err(draw_error)?;
            }
        }
    }
    // A dashed line would need a style plotters' SVG lacks: a thin line at 1× (as fast as
    // the CPU) is enough.
    chart
        .draw_series(LineSeries::new([(0.0, 1.0), (n, 1.0)], BLACK.mix(0.4)))
        .map_err(draw_error)?;
    let entries: Vec<(String, RGBColor)> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| ((*g).to_owned(), COLORS[i]))
        .collect();
    draw_legend(&legend, &entries, true)?;
    root.present().map_err(draw_error)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn at(x: f64) -> Point {
        Point {
            x,
            y: x,
            low: None,
            high: None,
        }
    }

    #[test]
    fn a_key_the_others_decide_is_left_out_of_labels() {
        // Each model has its one dataset: the dataset names nothing the model does not.
        let lines = [
            keys(&[
                ("model", "mlp-small"),
                ("data", "wti-lags"),
                ("dtype", "f32"),
            ]),
            keys(&[("model", "lstm"), ("data", "energy"), ("dtype", "f32")]),
            keys(&[("model", "lstm"), ("data", "energy"), ("dtype", "bf16")]),
        ];
        assert_eq!(
            labels(&lines),
            ["mlp-small, f32", "lstm, f32", "lstm, bf16"]
        );
        // Where the dataset varies for one model, it stays.
        let lines = [
            keys(&[("model", "lstm"), ("data", "wti")]),
            keys(&[("model", "lstm"), ("data", "energy")]),
            keys(&[("model", "mlp"), ("data", "energy")]),
        ];
        assert_eq!(labels(&lines), ["lstm, wti", "lstm, energy", "mlp, energy"]);
    }

    #[test]
    fn a_line_is_one_configuration_labelled_by_what_varies() {
        let rows = vec![
            (
                keys(&[("framework", "candle"), ("device", "cpu"), ("batch", "1")]),
                at(1.0),
            ),
            (
                keys(&[("framework", "candle"), ("device", "cpu"), ("batch", "8")]),
                at(8.0),
            ),
            (
                keys(&[("framework", "candle"), ("device", "gpu"), ("batch", "1")]),
                at(1.0),
            ),
            (
                keys(&[("framework", "candle"), ("device", "gpu"), ("batch", "8")]),
                at(8.0),
            ),
        ];
        let lines = group(rows, "batch");
        let labels: Vec<&str> = lines.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["cpu", "gpu"],
            "the CPU and GPU points are two lines"
        );
        assert!(lines.iter().all(|s| s.points.len() == 2));
    }

    #[test]
    fn frameworks_name_their_lines_and_a_key_one_side_lacks_is_left_out() {
        let rows = vec![
            (
                keys(&[
                    ("experiment", "matmul"),
                    ("framework", "candle 0.11.1"),
                    ("seed", "0"),
                    ("n", "1"),
                ]),
                at(1.0),
            ),
            (
                keys(&[
                    ("experiment", "matmul"),
                    ("framework", "candle 0.11.1"),
                    ("seed", "0"),
                    ("n", "2"),
                ]),
                at(2.0),
            ),
            (
                keys(&[
                    ("experiment", "torch-matmul"),
                    ("framework", "PyTorch 2.11.0"),
                    ("seed", "–"),
                    ("n", "1"),
                ]),
                at(1.0),
            ),
        ];
        let labels: Vec<String> = group(rows, "n").into_iter().map(|s| s.label).collect();
        assert_eq!(labels, ["candle 0.11.1", "PyTorch 2.11.0"]);
    }

    #[test]
    fn integer_axes_tick_integers_only_and_large_values_are_compact() {
        assert_eq!(integer_tick(1000.0), "1000");
        assert_eq!(integer_tick(2.5), "");
        assert_eq!(compact(650_436.8), "650k");
        assert_eq!(compact(1_000_000.0), "1M");
        assert_eq!(compact(9.0), "9");
        assert_eq!(compact(0.25), "0.25");
    }
}
