//! Showing a diff: a terminal table (regressions first, coloured on a terminal unless
//! `NO_COLOR` is set), Markdown through a template, or JSON for scripts.

use std::fmt::Write as _;

use super::{CellDiff, Diff, Verdict};
use crate::format::duration_ms;

/// ANSI colour of a verdict, or nothing.
fn paint(text: &str, verdict: Verdict, colour: bool) -> String {
    if !colour {
        return text.to_owned();
    }
    let code = match verdict {
        Verdict::Slower => "31",
        Verdict::Faster => "32",
        Verdict::Uncertain => "33",
        Verdict::NoChange => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `1.20× [1.18–1.22]`.
pub fn ratio_text(c: &CellDiff) -> String {
    interval_text(c.ratio, c.ratio_low, c.ratio_high)
}

/// The ratio beyond the study-wide shift, `1.02× [0.97–1.07]`.
pub fn relative_text(c: &CellDiff) -> String {
    interval_text(c.relative, c.relative_low, c.relative_high)
}

fn interval_text(x: f64, low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (Some(lo), Some(hi)) => format!("{x:.3}× [{lo:.3}–{hi:.3}]"),
        _ => format!("{x:.3}×"),
    }
}

/// The study-wide shift line, e.g. `the study as a whole: 1.130× [1.110–1.150] (median of 75 cells)`.
pub fn shift_text(d: &Diff) -> String {
    match &d.shift {
        Some(sh) => format!(
            "the study as a whole: {:.3}× [{:.3}–{:.3}] (median of {} cells); {}",
            sh.ratio,
            sh.low,
            sh.high,
            sh.cells,
            if sh.applied {
                "each cell is judged beyond it"
            } else {
                "no study-wide move: cells are judged as they are"
            }
        ),
        None => format!(
            "no study-wide shift estimated (fewer than {} matched cells); cells are judged as they are",
            super::MIN_SHIFT_CELLS
        ),
    }
}

fn p_text(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.001 => "<0.001".into(),
        Some(p) => format!("{p:.3}"),
        None => "–".into(),
    }
}

/// The one-line summary.
pub fn summary(d: &Diff) -> String {
    format!(
        "{} slower, {} faster, {} unchanged, {} uncertain; geometric-mean ratio {} ({} cells; {}-adjusted, α = {})",
        d.slower,
        d.faster,
        d.unchanged,
        d.uncertain,
        d.geomean_ratio.map_or("–".into(), |g| format!("{g:.3}×")),
        d.cells.len(),
        d.correction,
        d.alpha
    )
}

/// Whether the table on stdout is coloured: stdout is a terminal and `NO_COLOR` is not set
/// (<https://no-color.org>).
pub fn colour_stdout() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The terminal table with its summary, added/removed cells and metadata changes.
pub fn table(d: &Diff, colour: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "old: {}\nnew: {}\n", d.old_label, d.new_label);
    let rows: Vec<[String; 8]> = d
        .cells
        .iter()
        .map(|c| {
            [
                c.verdict.name().to_owned(),
                ratio_text(c),
                relative_text(c),
                p_text(c.p_adjusted),
                format!("{}/{}", c.old_rounds, c.new_rounds),
                format!(
                    "{} → {}",
                    duration_ms(c.old_median_ms),
                    duration_ms(c.new_median_ms)
                ),
                format!("{} {}", c.experiment, c.key),
                c.why.clone(),
            ]
        })
        .collect();
    let header = [
        "verdict",
        "new/old [95% CI]",
        "beyond the shift",
        "p (adj.)",
        "rounds",
        "old → new",
        "cell",
        "why",
    ];
    let mut all = vec![header.map(String::from)];
    all.extend(rows);
    let lines = crate::format::aligned(&all, &[]);
    let _ = writeln!(out, "{}", lines[0]);
    for (text, c) in lines[1..].iter().zip(&d.cells) {
        let _ = writeln!(out, "{}", paint(text, c.verdict, colour));
        for f in &c.figures {
            let _ = writeln!(out, "    {}: {} → {}", f.name, f.old, f.new);
        }
    }
    for (title, list) in [
        ("added", &d.added),
        ("removed", &d.removed),
        ("not compared", &d.not_compared),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\n{title}:");
            for u in list {
                let _ = writeln!(out, "  {} {} ({})", u.experiment, u.key, u.note);
            }
        }
    }
    if !d.metadata.is_empty() {
        let _ = writeln!(
            out,
            "\nwarning: these changed between the sides and may explain differences:"
        );
        for m in &d.metadata {
            let _ = writeln!(out, "  {}: {} → {}", m.field, m.old, m.new);
        }
    }
    let _ = writeln!(out, "\n{}", shift_text(d));
    for note in &d.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(out, "{}", summary(d));
    out
}
