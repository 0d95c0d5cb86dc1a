//! Feature expressions of a dataset: a source name (`wti`), or a function of sources:
//! `log_return(wti)`, `pct_change(wti)`, `diff(wti)`, `spread(brent, wti)` (brent − wti),
//! `ratio(wti, henry_hub)` (wti / henry_hub).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Feature {
    Level(String),
    LogReturn(String),
    PctChange(String),
    Diff(String),
    Spread(String, String),
    Ratio(String, String),
}

impl Feature {
    /// Parses one expression; the error says what is accepted.
    pub fn parse(text: &str) -> Result<Feature, String> {
        let text = text.trim();
        let help = "\nwrite a source name (`wti`), or `log_return(x)`, `pct_change(x)`, `diff(x)`, `spread(a, b)`, `ratio(a, b)`";
        let Some(open) = text.find('(') else {
            return if is_name(text) {
                Ok(Feature::Level(text.to_owned()))
            } else {
                Err(format!("`{text}` is not a feature expression{help}"))
            };
        };
        let (func, rest) = text.split_at(open);
        let Some(args) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) else {
            return Err(format!("`{text}` has unbalanced parentheses{help}"));
        };
        let args: Vec<&str> = args.split(',').map(str::trim).collect();
        if !args.iter().all(|a| is_name(a)) {
            return Err(format!(
                "the arguments of `{text}` must be source names{help}"
            ));
        }
        let one = |f: fn(String) -> Feature| match args.as_slice() {
            [a] => Ok(f(a.to_string())),
            _ => Err(format!("`{func}` takes one source, e.g. `{func}(wti)`")),
        };
        let two = |f: fn(String, String) -> Feature| match args.as_slice() {
            [a, b] => Ok(f(a.to_string(), b.to_string())),
            _ => Err(format!(
                "`{func}` takes two sources, e.g. `{func}(brent, wti)`"
            )),
        };
        match func.trim() {
            "log_return" => one(Feature::LogReturn),
            "pct_change" => one(Feature::PctChange),
            "diff" => one(Feature::Diff),
            "spread" => two(Feature::Spread),
            "ratio" => two(Feature::Ratio),
            other => Err(format!("unknown function `{other}` in `{text}`{help}")),
        }
    }

    /// The sources the feature reads.
    pub fn sources(&self) -> Vec<&str> {
        match self {
            Feature::Level(a)
            | Feature::LogReturn(a)
            | Feature::PctChange(a)
            | Feature::Diff(a) => vec![a],
            Feature::Spread(a, b) | Feature::Ratio(a, b) => vec![a, b],
        }
    }

    /// Computes the feature over aligned columns; `column(name)` gives a source's values.
    /// Values that are undefined (the first row of a return, a log of a non-positive price)
    /// come out as NaN, and the dataset drops those rows.
    pub fn compute<'a>(&self, column: impl Fn(&str) -> &'a [f64]) -> Vec<f64> {
        let lagged = |x: &[f64], f: fn(f64, f64) -> f64| -> Vec<f64> {
            std::iter::once(f64::NAN)
                .chain(x.windows(2).map(|w| f(w[1], w[0])))
                .collect()
        };
        match self {
            Feature::Level(a) => column(a).to_vec(),
            Feature::LogReturn(a) => lagged(column(a), |now, before| (now / before).ln()),
            Feature::PctChange(a) => lagged(column(a), |now, before| now / before - 1.0),
            Feature::Diff(a) => lagged(column(a), |now, before| now - before),
            Feature::Spread(a, b) => column(a)
                .iter()
                .zip(column(b))
                .map(|(x, y)| x - y)
                .collect(),
            Feature::Ratio(a, b) => column(a)
                .iter()
                .zip(column(b))
                .map(|(x, y)| x / y)
                .collect(),
        }
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feature::Level(a) => write!(f, "{a}"),
            Feature::LogReturn(a) => write!(f, "log_return({a})"),
            Feature::PctChange(a) => write!(f, "pct_change({a})"),
            Feature::Diff(a) => write!(f, "diff({a})"),
            Feature::Spread(a, b) => write!(f, "spread({a}, {b})"),
            Feature::Ratio(a, b) => write!(f, "ratio({a}, {b})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        for text in [
            "wti",
            "log_return(wti)",
            "spread(brent, wti)",
            "ratio(wti, henry_hub)",
        ] {
            assert_eq!(Feature::parse(text).unwrap().to_string(), text);
        }
        assert!(Feature::parse("log_return(wti, brent)").is_err());
        assert!(Feature::parse("sqrt(wti)")
            .unwrap_err()
            .contains("unknown function `sqrt`"));
        assert!(Feature::parse("log_return(wti").is_err());
    }

    #[test]
    fn computes_on_aligned_columns() {
        let a = [1.0, 2.0, 4.0];
        let b = [0.5, 1.0, 1.0];
        let col = |n: &str| -> &[f64] {
            if n == "a" {
                &a
            } else {
                &b
            }
        };
        let lr = Feature::LogReturn("a".into()).compute(col);
        assert!(lr[0].is_nan());
        assert!((lr[1] - 2f64.ln()).abs() < 1e-12);
        assert_eq!(
            Feature::Spread("a".into(), "b".into()).compute(col),
            [0.5, 1.0, 3.0]
        );
        assert_eq!(
            Feature::Ratio("a".into(), "b".into()).compute(col),
            [2.0, 2.0, 4.0]
        );
        assert_eq!(Feature::Diff("a".into()).compute(col)[2], 2.0);
        // A log of a non-positive price is undefined, not an error: the row is dropped later.
        assert!(Feature::LogReturn("a".into()).compute(|_| &[1.0, -1.0][..])[1].is_nan());
    }
}
