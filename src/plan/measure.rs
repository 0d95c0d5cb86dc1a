//! Measurement settings: how long to warm up, how many timed iterations, when to give up.
//!
//! A plan gives them at the top level (`[measure]`), per experiment (`measure = {...}`), and per
//! cell (as matrix parameters such as `iterations`, so that `(n, iterations)` can be zipped).
//! Later levels override earlier ones key by key.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::value::ParamValue;

/// A stopping rule given either as a number of iterations or as a span of time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    Iterations(u64),
    Time(Duration),
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Budget::Iterations(n) => write!(f, "{n}"),
            Budget::Time(d) => f.write_str(&format_duration(*d)),
        }
    }
}

/// Measurement settings: how long to warm up, how many timed iterations, when to give up.
/// Every key optional; the plan's `[measure]`, an experiment's `measure` and matrix parameters
/// of the same names override each other in that order.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMeasure {
    /// Warm-up before timing: a count of iterations (`3`) or a duration (`"1s"`).
    #[schemars(with = "Option<super::schema::CountOrDuration>", extend("default" = 3))]
    pub warmup: Option<toml::Spanned<ParamValue>>,
    /// Timed iterations: a count (`20`) or a time budget (`"2s"`).
    #[schemars(with = "Option<super::schema::CountOrDuration>", extend("default" = "2s"))]
    pub iterations: Option<toml::Spanned<ParamValue>>,
    /// With a time budget: never fewer timed iterations than this.
    #[schemars(with = "Option<super::schema::Positive>", extend("default" = 10))]
    pub min_iterations: Option<toml::Spanned<ParamValue>>,
    /// With a time budget: never more timed iterations than this.
    #[schemars(with = "Option<super::schema::Positive>", extend("default" = 10000))]
    pub max_iterations: Option<toml::Spanned<ParamValue>>,
    /// A cell still running after this long (warm-up included) is stopped and marked failed.
    #[schemars(with = "Option<super::schema::Duration>", extend("default" = "10m"))]
    pub timeout: Option<toml::Spanned<ParamValue>>,
    /// Rounds until precise: after `rounds` rounds, the cell gets one more round at a time (up
    /// to `max_rounds`) until the 95% interval of its typical round median, between rounds, is
    /// within this fraction of it on either side (e.g. `0.02`). Between rounds, because the
    /// samples of one process are autocorrelated and an interval over them is too narrow to
    /// stop on. Default: off (`rounds` rounds).
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 1.0))]
    pub target_ci: Option<toml::Spanned<ParamValue>>,
    /// Rounds: the cell is measured this many times, each round in a fresh process (with
    /// `run`'s default isolation) and the cells' order shuffled in every round, so that what
    /// changes between processes and over minutes shows in the cell's spread. The warm-up is
    /// split across the rounds (at least one iteration each), and so is the timed budget
    /// (`iterations`, `min_iterations`, `max_iterations`); a cell never gets more rounds than a
    /// count of timed iterations allows one sample each.
    #[schemars(with = "Option<super::schema::Positive>", extend("default" = 5))]
    pub rounds: Option<toml::Spanned<ParamValue>>,
    /// With `target_ci`: the most rounds a cell is given to reach it. Default: four times
    /// `rounds`.
    #[schemars(with = "Option<super::schema::Positive>")]
    pub max_rounds: Option<toml::Spanned<ParamValue>>,
}

/// Fully resolved measurement settings of one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureSettings {
    pub warmup: Budget,
    pub iterations: Budget,
    pub min_iterations: u64,
    pub max_iterations: u64,
    pub timeout: Duration,
    /// Relative half-width of the 95% interval between rounds at which no more rounds are
    /// added (see [`RawMeasure::target_ci`]).
    pub target_ci: Option<f64>,
    /// Rounds the cell is measured in (see [`RawMeasure::rounds`]).
    pub rounds: u64,
    /// With `target_ci`, the most rounds (default: four times `rounds`).
    pub max_rounds: Option<u64>,
}

impl Default for MeasureSettings {
    /// Defaults in the spirit of pytest-benchmark and criterion: a short warm-up, then a
    /// two-second budget with at least 10 samples, so that a median and a p95 mean something.
    fn default() -> Self {
        MeasureSettings {
            warmup: Budget::Iterations(3),
            iterations: Budget::Time(Duration::from_secs(2)),
            min_iterations: 10,
            max_iterations: 10_000,
            timeout: Duration::from_secs(600),
            target_ci: None,
            rounds: DEFAULT_ROUNDS,
            max_rounds: None,
        }
    }
}

/// Rounds per cell unless a plan says otherwise: enough round medians per side for a test
/// between two runs to have some degrees of freedom (a t-test on 5 against 5 has 8), few
/// enough that repeating the warm-up costs little (see the book's statistics chapter).
pub const DEFAULT_ROUNDS: u64 = 5;

/// The parameter names that override measurement settings when they appear in a matrix.
pub const MEASURE_KEYS: [&str; 8] = [
    "warmup",
    "iterations",
    "min_iterations",
    "max_iterations",
    "timeout",
    "target_ci",
    "rounds",
    "max_rounds",
];

impl MeasureSettings {
    /// Applies one setting by name. The value was already checked by [`check_measure_value`].
    pub fn set(&mut self, key: &str, value: &ParamValue) {
        match key {
            "warmup" => self.warmup = budget_of(value).expect("checked"),
            "iterations" => self.iterations = budget_of(value).expect("checked"),
            "min_iterations" => self.min_iterations = value.as_int().expect("checked") as u64,
            "max_iterations" => self.max_iterations = value.as_int().expect("checked") as u64,
            "timeout" => self.timeout = duration_of(value).expect("checked"),
            "target_ci" => self.target_ci = value.as_float(),
            "rounds" => self.rounds = value.as_int().expect("checked") as u64,
            "max_rounds" => self.max_rounds = Some(value.as_int().expect("checked") as u64),
            _ => unreachable!("not a measurement key: {key}"),
        }
    }

    /// A compact description stored with each result, e.g. `warmup=3 iterations=2s min=10 max=10000 timeout=10m`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "warmup={} iterations={} min={} max={} timeout={}",
            self.warmup,
            self.iterations,
            self.min_iterations,
            self.max_iterations,
            format_duration(self.timeout)
        );
        if let Some(ci) = self.target_ci {
            text.push_str(&format!(" target_ci={ci}"));
        }
        text.push_str(&format!(" rounds={}", self.rounds));
        if self.target_ci.is_some() {
            text.push_str(&format!(" max_rounds={}", self.round_limit()));
        }
        text
    }

    /// The rounds the cell is measured in: `rounds`, but never more than a count of timed
    /// iterations (or `max_iterations`) allows one sample each, so that splitting never makes a
    /// cell take more samples, or warm up more often, than its settings say (`iterations = 3`
    /// for a product of two 10,000² matrices means three rounds of one sample).
    pub fn effective_rounds(&self) -> u64 {
        let cap = match self.iterations {
            Budget::Iterations(n) => n,
            Budget::Time(_) => self.max_iterations,
        };
        self.rounds.min(cap).max(1)
    }

    /// The most rounds the cell may get: with `target_ci`, `max_rounds` (default four times
    /// the planned rounds); without, the planned rounds.
    pub fn round_limit(&self) -> u64 {
        let planned = self.effective_rounds();
        match self.target_ci {
            Some(_) => self.max_rounds.unwrap_or(4 * planned).max(planned),
            None => planned,
        }
    }

    /// The settings of one of the cell's rounds: the same timeout, and the warm-up and the timed
    /// budget split evenly across the rounds (counts rounded up, so that every round warms up
    /// at least once when the cell warms up at all, no round has fewer than one sample, and the
    /// rounds together never do less than asked). Splitting the warm-up too keeps a run of
    /// slow cells about as long as in one round: the first iteration in a fresh process takes
    /// the one-time costs (page faults, allocator, caches), and one per round absorbs them.
    pub fn for_round(&self) -> MeasureSettings {
        let r = self.effective_rounds();
        let split = |n: u64| n.div_ceil(r).max(1);
        MeasureSettings {
            warmup: match self.warmup {
                Budget::Iterations(0) => Budget::Iterations(0),
                Budget::Iterations(n) => Budget::Iterations(split(n)),
                Budget::Time(d) => Budget::Time(d / r as u32),
            },
            iterations: match self.iterations {
                Budget::Iterations(n) => Budget::Iterations(split(n)),
                Budget::Time(d) => Budget::Time(d / r as u32),
            },
            min_iterations: split(self.min_iterations),
            max_iterations: split(self.max_iterations),
            rounds: 1,
            // Precision is sought between rounds (see `round_limit`), not inside one.
            target_ci: None,
            max_rounds: None,
            ..self.clone()
        }
    }
}

impl RawMeasure {
    /// The settings in file order, for layering with [`MeasureSettings::set`].
    pub fn entries(&self) -> Vec<(&'static str, &toml::Spanned<ParamValue>)> {
        let all = [
            ("warmup", &self.warmup),
            ("iterations", &self.iterations),
            ("min_iterations", &self.min_iterations),
            ("max_iterations", &self.max_iterations),
            ("timeout", &self.timeout),
            ("target_ci", &self.target_ci),
            ("rounds", &self.rounds),
            ("max_rounds", &self.max_rounds),
        ];
        all.into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect()
    }
}

/// Checks a measurement value; `Err` holds what is wrong and what to write instead.
pub fn check_measure_value(key: &str, value: &ParamValue) -> Result<(), String> {
    match key {
        "warmup" => match budget_of(value) {
            Some(_) => Ok(()),
            None => Err(format!(
                "`warmup` must be a count (e.g. `3`, may be 0) or a duration (e.g. `\"1s\"`), not {}",
                value.to_toml()
            )),
        },
        "iterations" => match budget_of(value) {
            Some(Budget::Iterations(0)) => {
                Err("`iterations` must be at least 1: a cell needs one sample".into())
            }
            Some(Budget::Time(d)) if d.is_zero() => {
                Err("`iterations` time budget must be longer than zero".into())
            }
            Some(_) => Ok(()),
            None => Err(format!(
                "`iterations` must be a count (e.g. `20`) or a time budget (e.g. `\"2s\"`), not {}",
                value.to_toml()
            )),
        },
        "min_iterations" | "max_iterations" => match value.as_int() {
            Some(n) if n >= 1 => Ok(()),
            _ => Err(format!(
                "`{key}` must be a whole number of at least 1, not {}",
                value.to_toml()
            )),
        },
        "timeout" => match duration_of(value) {
            Some(d) if !d.is_zero() => Ok(()),
            _ => Err(format!(
                "`timeout` must be a duration such as `\"60s\"` or `\"10m\"`, not {}",
                value.to_toml()
            )),
        },
        "rounds" | "max_rounds" => match value.as_int() {
            Some(n) if (1..=1000).contains(&n) => Ok(()),
            _ => Err(format!(
                "`{key}` must be a whole number from 1 to 1000, not {}\nuse e.g. `{key} = 5`; 1 measures each cell in one process, as before rounds existed",
                value.to_toml()
            )),
        },
        "target_ci" => match value {
            ParamValue::Float(x) if *x > 0.0 && *x < 1.0 => Ok(()),
            _ => Err(format!(
                "`target_ci` must be a fraction between 0 and 1 written with a decimal point (e.g. `0.01` for ±1%), not {}",
                value.to_toml()
            )),
        },
        _ => Err(format!("`{key}` is not a measurement setting")),
    }
}

fn budget_of(value: &ParamValue) -> Option<Budget> {
    match value {
        ParamValue::Int(n) if *n >= 0 => Some(Budget::Iterations(*n as u64)),
        ParamValue::Str(_) => duration_of(value).map(Budget::Time),
        _ => None,
    }
}

fn duration_of(value: &ParamValue) -> Option<Duration> {
    value.as_str().and_then(parse_duration)
}

/// Parses `"500ms"`, `"2s"`, `"1.5s"`, `"10m"`, `"1h"`, `"250us"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "us" | "µs" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    // `try_`: a duration past `Duration`'s range (`"99999999999999999999h"`) is not one.
    Duration::try_from_secs_f64(seconds).ok()
}

/// Formats a duration the way a plan writes it, in the largest unit that keeps it whole-ish.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 3600.0 && s % 3600.0 == 0.0 {
        format!("{}h", s / 3600.0)
    } else if s >= 60.0 && s % 60.0 == 0.0 {
        format!("{}m", s / 60.0)
    } else if s >= 1.0 {
        format!("{s}s")
    } else if s >= 1e-3 {
        format!("{}ms", s * 1e3)
    } else {
        format!("{}us", s * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration("2"), None, "a unit is required");
        assert_eq!(parse_duration("fast"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn durations_format_back_to_plan_syntax() {
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
    }

    #[test]
    fn settings_layer_key_by_key() {
        let mut m = MeasureSettings::default();
        m.set("iterations", &ParamValue::Int(5));
        m.set("warmup", &ParamValue::Str("1s".into()));
        assert_eq!(m.iterations, Budget::Iterations(5));
        assert_eq!(m.warmup, Budget::Time(Duration::from_secs(1)));
        assert_eq!(m.min_iterations, 10, "untouched keys keep their defaults");
    }

    #[test]
    fn a_round_gets_its_share_of_the_budget() {
        let mut m = MeasureSettings {
            rounds: 4,
            iterations: Budget::Time(Duration::from_secs(2)),
            ..MeasureSettings::default()
        };
        let r = m.for_round();
        assert_eq!(r.iterations, Budget::Time(Duration::from_millis(500)));
        assert_eq!((r.min_iterations, r.max_iterations, r.rounds), (3, 2500, 1));
        assert_eq!(r.warmup, Budget::Iterations(1), "every round warms up");
        m.iterations = Budget::Iterations(10);
        assert_eq!(m.for_round().iterations, Budget::Iterations(3));
        m.rounds = 1;
        assert_eq!(m.for_round().iterations, Budget::Iterations(10));
        // Fewer timed iterations than rounds: one round per iteration, no more.
        m.rounds = 5;
        m.iterations = Budget::Iterations(3);
        assert_eq!(m.effective_rounds(), 3);
        assert_eq!(m.for_round().iterations, Budget::Iterations(1));
        assert_eq!(m.for_round().warmup, Budget::Iterations(1));
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(check_measure_value("iterations", &ParamValue::Int(0)).is_err());
        assert!(check_measure_value("iterations", &ParamValue::Int(-3)).is_err());
        assert!(check_measure_value("warmup", &ParamValue::Int(0)).is_ok());
        assert!(check_measure_value("timeout", &ParamValue::Str("soon".into())).is_err());
        assert!(check_measure_value("min_iterations", &ParamValue::Float(2.5)).is_err());
    }
}
