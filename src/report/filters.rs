//! Formatting filters for templates, so that templates stay readable:
//! `{{ x | duration }}`, `{{ row.time | fig }}`, `{{ r | rate }}`, `{{ b | bytes }}`,
//! `{{ f | percent }}`, `{{ s | ratio }}`, `{{ e | sci }}`, `{{ g | fixed(1) }}`.
//! Each accepts a missing value (none or undefined) and prints `–` for it.

use minijinja::{Environment, Value};

use crate::format;

fn number(v: &Value) -> Option<f64> {
    if v.is_none() || v.is_undefined() {
        return None;
    }
    f64::try_from(v.clone()).ok()
}

const MISSING: &str = "–";

/// Milliseconds as a duration with its unit: `4.56 ms`.
pub fn duration(v: Value) -> String {
    number(&v).map_or(MISSING.into(), format::duration_ms)
}

/// A rate with a metric prefix: `12.4k samples/s`; the unit defaults to samples.
pub fn rate(v: Value, unit: Option<String>) -> String {
    number(&v).map_or(MISSING.into(), |x| {
        format::rate(x, unit.as_deref().unwrap_or("samples"))
    })
}

/// Bytes in binary units: `32.6 MiB`.
pub fn bytes(v: Value) -> String {
    number(&v).map_or(MISSING.into(), |x| format::bytes(x.max(0.0) as u64))
}

/// A fraction as a percentage: 0.123 → `12.3%`.
pub fn percent(v: Value, digits: Option<usize>) -> String {
    number(&v).map_or(MISSING.into(), |x| {
        format!("{:.*}%", digits.unwrap_or(1), x * 100.0)
    })
}

/// How much better the best is than the next best (a fraction): under 100% as a percentage
/// (`12.3% better`), from there as a multiplier, which is how people say it (18.96 → `20.0×`,
/// not `1896.0%`).
pub fn margin(v: Value) -> String {
    number(&v).map_or(MISSING.into(), |x| {
        if x < 1.0 {
            format!("{:.1}% better", x * 100.0)
        } else {
            format!("{}× better", format::significant(1.0 + x))
        }
    })
}

/// A ratio as a multiplier: 1.534 → `1.53×`.
pub fn ratio(v: Value) -> String {
    number(&v).map_or(MISSING.into(), |x| format!("{}×", format::significant(x)))
}

/// A small quantity in scientific notation: 0.00124 → `1.2e-3`.
pub fn sci(v: Value) -> String {
    number(&v).map_or(MISSING.into(), |x| {
        if x == 0.0 {
            "0".into()
        } else {
            let exp = x.abs().log10().floor() as i32;
            format!("{:.1}e{exp}", x / 10f64.powi(exp))
        }
    })
}

/// A p-value: `<0.001` below a thousandth, three decimals otherwise.
pub fn pvalue(v: Value) -> String {
    number(&v).map_or(MISSING.into(), |p| {
        if p < 0.001 {
            "<0.001".into()
        } else {
            format!("{p:.3}")
        }
    })
}

/// A number with fixed decimals: `{{ g | fixed(1) }}`.
pub fn fixed(v: Value, digits: Option<usize>) -> String {
    number(&v).map_or(MISSING.into(), |x| format!("{:.*}", digits.unwrap_or(2), x))
}

/// Three significant digits for a number of any size: `450`, `1.53`, `0.0033`, `1.2e-5`.
pub fn sig3(v: Value) -> String {
    number(&v).map_or(MISSING.into(), format::sig3)
}

/// A figure (median, interval, count) as `4.56 ms [4.50 ms – 4.61 ms] n=120`; without an
/// interval (fewer than 6 samples) `4.56 ms n=3`.
pub fn fig(v: Value) -> String {
    let get = |k: &str| v.get_attr(k).ok().and_then(|x| number(&x));
    let Some(median) = get("median") else {
        return MISSING.into();
    };
    let n = get("n").unwrap_or(0.0) as u64;
    match (get("low"), get("high")) {
        (Some(lo), Some(hi)) => format!(
            "{} [{} – {}] n={n}",
            format::duration_ms(median),
            format::duration_ms(lo),
            format::duration_ms(hi)
        ),
        _ => format!("{} n={n}", format::duration_ms(median)),
    }
}

/// Registers every filter.
pub fn register(env: &mut Environment) {
    env.add_filter("duration", duration);
    env.add_filter("rate", rate);
    env.add_filter("bytes", bytes);
    env.add_filter("percent", percent);
    env.add_filter("ratio", ratio);
    env.add_filter("margin", margin);
    env.add_filter("sci", sci);
    env.add_filter("fixed", fixed);
    env.add_filter("sig3", sig3);
    env.add_filter("pvalue", pvalue);
    env.add_filter("fig", fig);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_format_and_tolerate_missing_values() {
        assert_eq!(duration(Value::from(4.561)), "4.56 ms");
        assert_eq!(duration(Value::from(())), "–");
        assert_eq!(rate(Value::from(12_400.0), None), "12.4k samples/s");
        assert_eq!(bytes(Value::from(34_234_432)), "32.6 MiB");
        assert_eq!(percent(Value::from(-0.734), None), "-73.4%");
        assert_eq!(ratio(Value::from(1.534)), "1.53×");
        assert_eq!(margin(Value::from(0.123)), "12.3% better");
        assert_eq!(margin(Value::from(18.961)), "20.0× better");
        assert_eq!(sci(Value::from(0.00124)), "1.2e-3");
        assert_eq!(fixed(Value::from(203.14), Some(1)), "203.1");
        assert_eq!(pvalue(Value::from(0.0)), "<0.001");
        assert_eq!(pvalue(Value::from(0.0421)), "0.042");
        let f = Value::from_serialize(serde_json_like(4.56, Some((4.5, 4.61)), 120));
        assert_eq!(fig(f), "4.56 ms [4.50 ms – 4.61 ms] n=120");
        let f = Value::from_serialize(serde_json_like(4.56, None, 3));
        assert_eq!(fig(f), "4.56 ms n=3");
    }

    fn serde_json_like(
        median: f64,
        ci: Option<(f64, f64)>,
        n: usize,
    ) -> crate::report::view::Figure {
        crate::report::view::Figure {
            median,
            low: ci.map(|c| c.0),
            high: ci.map(|c| c.1),
            p95: median,
            mean: median,
            n,
        }
    }
}
