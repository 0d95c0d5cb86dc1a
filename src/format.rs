//! Human formatting of figures: durations with units, throughput, bytes. Shared by the
//! progress output and (as template filters) by reports.

/// A duration given in milliseconds, in the unit that keeps 3–4 significant digits:
/// `812 ns`, `12.3 µs`, `4.56 ms`, `2.31 s`.
pub fn duration_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "–".to_owned();
    }
    let (value, unit) = if ms >= 1000.0 {
        (ms / 1000.0, "s")
    } else if ms >= 1.0 {
        (ms, "ms")
    } else if ms >= 1e-3 {
        (ms * 1e3, "µs")
    } else {
        (ms * 1e6, "ns")
    };
    format!("{} {unit}", significant(value))
}

/// A count per second with a metric prefix and a unit: `950 samples/s`, `12.4k samples/s`.
pub fn rate(per_s: f64, unit: &str) -> String {
    if !per_s.is_finite() {
        return "–".to_owned();
    }
    let (value, prefix) = if per_s >= 1e9 {
        (per_s / 1e9, "G")
    } else if per_s >= 1e6 {
        (per_s / 1e6, "M")
    } else if per_s >= 1e3 {
        (per_s / 1e3, "k")
    } else {
        (per_s, "")
    };
    format!("{}{prefix} {unit}/s", significant(value))
}

/// Bytes in binary units: `512 B`, `338 KiB`, `32.6 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{} {}", significant(value), UNITS[unit])
    }
}

/// Three significant digits, at least none after the point for values ≥ 100.
pub fn significant(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Three significant digits for values of any size: `0.0123`, `1.23e-5`, `1234`.
pub fn sig3(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || !a.is_finite() || a >= 0.01 {
        significant(x)
    } else if a >= 0.001 {
        format!("{x:.4}")
    } else {
        format!("{x:.2e}")
    }
}

/// Wall-clock time of a run: `45.2s`, `3m07s`, `1h02m`.
pub fn elapsed(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{}h{:02}m", (s / 3600.0) as u64, (s % 3600.0 / 60.0) as u64)
    }
}

/// Quotes `arg` the way a POSIX shell reads it back as one word (for commands shown to the
/// user and for generated job scripts).
/// Rows of cells as lines of aligned columns, two spaces apart, trailing spaces trimmed;
/// column `i` is right-aligned where `right[i]` is true (numbers), else left-aligned.
pub fn aligned<R: AsRef<[String]>>(rows: &[R], right: &[bool]) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.as_ref().iter().enumerate() {
            let n = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(n),
                None => widths.push(n),
            }
        }
    }
    rows.iter()
        .map(|row| {
            row.as_ref()
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    let pad = " ".repeat(w - c.chars().count());
                    if right.get(i).copied().unwrap_or(false) {
                        format!("{pad}{c}")
                    } else {
                        format!("{c}{pad}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect()
}

pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_left_or_right_and_lines_end_without_spaces() {
        let rows = [
            vec!["cell".to_owned(), "n".to_owned(), "".to_owned()],
            vec!["a".to_owned(), "100".to_owned(), "".to_owned()],
        ];
        assert_eq!(aligned(&rows, &[false, true]), ["cell    n", "a     100"]);
    }

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(duration_ms(0.000_812), "812 ns");
        assert_eq!(duration_ms(0.0123), "12.3 µs");
        assert_eq!(duration_ms(4.561), "4.56 ms");
        assert_eq!(duration_ms(2310.0), "2.31 s");
        assert_eq!(duration_ms(f64::NAN), "–");
    }

    #[test]
    fn rates_and_bytes() {
        assert_eq!(rate(950.0, "samples"), "950 samples/s");
        assert_eq!(rate(12_400.0, "samples"), "12.4k samples/s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(346_176), "338 KiB");
        assert_eq!(bytes(34_234_432), "32.6 MiB");
        assert_eq!(elapsed(187.0), "3m07s");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("plans/seed.toml"), "plans/seed.toml");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
