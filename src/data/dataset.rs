//! A windowed time-series dataset: sources aligned by date, features derived and normalized
//! with statistics of the training split only, windows of `seq_len` steps followed by a
//! `horizon` of target values, split by time.

use anyhow::{bail, Context, Result};
use polars::prelude::{DataFrame, DataFrameJoinOps};

use super::features::Feature;
use super::source::SourceSpec;

/// A declared dataset: `[datasets.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSpec {
    pub name: String,
    pub features: Vec<Feature>,
    /// The series whose next `horizon` values each window predicts.
    pub target: Feature,
    pub seq_len: usize,
    pub horizon: usize,
    /// Fraction of rows, the latest ones, held out for validation.
    pub validation: f64,
}

/// Normalization statistics of one column, from the training rows only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub mean: f64,
    pub std: f64,
}

/// A built dataset, rows in date order.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub feature_names: Vec<String>,
    pub dates: Vec<String>,
    /// Normalized features, row-major: `rows × n_features`.
    pub features: Vec<f32>,
    /// Normalized target, one value per row.
    pub target: Vec<f32>,
    pub n_features: usize,
    pub seq_len: usize,
    pub horizon: usize,
    /// Rows before this one are the training period.
    pub split_row: usize,
    pub feature_stats: Vec<Stats>,
    pub target_stats: Stats,
    /// Window start rows whose targets all lie in the training period.
    pub train_windows: Vec<usize>,
    /// Window start rows whose targets all lie in the validation period.
    pub validation_windows: Vec<usize>,
    /// Rows dropped because a feature was undefined there (e.g. a return's first row).
    pub dropped_rows: usize,
}

impl Dataset {
    pub fn rows(&self) -> usize {
        self.dates.len()
    }

    /// Writes window `start`'s inputs (`seq_len × n_features`) and targets (`horizon`).
    pub fn window(&self, start: usize, inputs: &mut [f32], targets: &mut [f32]) {
        let f = self.n_features;
        inputs.copy_from_slice(&self.features[start * f..(start + self.seq_len) * f]);
        let t0 = start + self.seq_len;
        targets.copy_from_slice(&self.target[t0..t0 + self.horizon]);
    }

    /// Builds the dataset from its sources.
    pub fn build(spec: &DatasetSpec, sources: &[SourceSpec]) -> Result<Dataset> {
        let mut used: Vec<&str> = spec
            .features
            .iter()
            .chain([&spec.target])
            .flat_map(Feature::sources)
            .collect();
        used.sort_unstable();
        used.dedup();
        let mut aligned: Option<DataFrame> = None;
        for name in &used {
            let Some(source) = sources.iter().find(|s| s.name == *name) else {
                bail!(
                    "dataset `{}` uses source `{name}`, which is not declared",
                    spec.name
                );
            };
            let frame = source.read()?;
            aligned = Some(match aligned {
                None => frame,
                Some(left) => left
                    .inner_join(&frame, ["date"], ["date"])
                    .with_context(|| format!("cannot align source `{name}` by date"))?,
            });
        }
        let aligned = aligned.context("a dataset needs at least one source")?;
        let dates: Vec<String> = aligned
            .column("date")?
            .str()?
            .iter()
            .map(|d| d.unwrap_or("").to_owned())
            .collect();
        // Sort by date (ISO dates sort as text); a join does not promise an order.
        let mut order: Vec<usize> = (0..dates.len()).collect();
        order.sort_by(|&a, &b| dates[a].cmp(&dates[b]));
        let columns: Vec<(String, Vec<f64>)> = used
            .iter()
            .map(|name| -> Result<(String, Vec<f64>)> {
                let values: Vec<f64> = aligned
                    .column(name)?
                    .f64()?
                    .iter()
                    .map(|v| v.unwrap_or(f64::NAN))
                    .collect();
                Ok((name.to_string(), order.iter().map(|&i| values[i]).collect()))
            })
            .collect::<Result<_>>()?;
        let dates: Vec<String> = order.iter().map(|&i| dates[i].clone()).collect();
        let column = |n: &str| -> &[f64] {
            &columns
                .iter()
                .find(|(name, _)| name == n)
                .expect("source read above")
                .1
        };
        let raw_features: Vec<Vec<f64>> = spec.features.iter().map(|f| f.compute(column)).collect();
        let raw_target = spec.target.compute(column);

        let keep: Vec<usize> = (0..dates.len())
            .filter(|&r| raw_target[r].is_finite() && raw_features.iter().all(|c| c[r].is_finite()))
            .collect();
        let rows = keep.len();
        let needed = spec.seq_len + spec.horizon;
        let split_row = ((rows as f64) * (1.0 - spec.validation)).floor() as usize;
        if split_row < needed + 1 || rows - split_row < spec.horizon {
            bail!(
                "dataset `{}` has {rows} aligned rows: too few for windows of {} + {} steps with {:.0}% held out",
                spec.name,
                spec.seq_len,
                spec.horizon,
                spec.validation * 100.0
            );
        }
        let stats_of = |col: &[f64]| -> Stats {
            let train: Vec<f64> = keep[..split_row].iter().map(|&r| col[r]).collect();
            let mean = train.iter().sum::<f64>() / train.len() as f64;
            let var = train.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / train.len() as f64;
            // A constant column would divide by zero; leave it centred but unscaled.
            let std = if var > 0.0 { var.sqrt() } else { 1.0 };
            Stats { mean, std }
        };
        let feature_stats: Vec<Stats> = raw_features.iter().map(|c| stats_of(c)).collect();
        let target_stats = stats_of(&raw_target);
        let n_features = spec.features.len();
        let mut features = Vec::with_capacity(rows * n_features);
        for &r in &keep {
            for (c, s) in raw_features.iter().zip(&feature_stats) {
                features.push(((c[r] - s.mean) / s.std) as f32);
            }
        }
        let target: Vec<f32> = keep
            .iter()
            .map(|&r| ((raw_target[r] - target_stats.mean) / target_stats.std) as f32)
            .collect();
        let starts = 0..=(rows - needed);
        let train_windows = starts.clone().filter(|t| t + needed <= split_row).collect();
        let validation_windows = starts.filter(|t| t + spec.seq_len >= split_row).collect();
        Ok(Dataset {
            name: spec.name.clone(),
            feature_names: spec.features.iter().map(ToString::to_string).collect(),
            dates: keep.iter().map(|&r| dates[r].clone()).collect(),
            features,
            target,
            n_features,
            seq_len: spec.seq_len,
            horizon: spec.horizon,
            split_row,
            feature_stats,
            target_stats,
            train_windows,
            validation_windows,
            dropped_rows: dates.len() - rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn data_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
    }

    fn eia(dir: &Path) -> Vec<SourceSpec> {
        vec![
            SourceSpec::new("wti", "eia_wti_daily.csv", "Date", "Price", dir),
            SourceSpec::new("brent", "eia_brent_daily.csv", "Date", "Price", dir),
            SourceSpec::new(
                "henry_hub",
                "eia_henry_hub_natgas_daily.csv",
                "Date",
                "Price",
                dir,
            ),
        ]
    }

    fn energy() -> DatasetSpec {
        DatasetSpec {
            name: "energy".into(),
            features: [
                "wti",
                "brent",
                "henry_hub",
                "log_return(wti)",
                "spread(brent, wti)",
            ]
            .iter()
            .map(|f| Feature::parse(f).unwrap())
            .collect(),
            target: Feature::parse("log_return(wti)").unwrap(),
            seq_len: 60,
            horizon: 5,
            validation: 0.2,
        }
    }

    #[test]
    fn aligns_real_series_by_date_and_splits_by_time() {
        let d = Dataset::build(&energy(), &eia(&data_dir())).unwrap();
        // Henry Hub starts on 1997-01-07, the latest of the three; the first return is undefined.
        assert_eq!(d.dates.first().map(String::as_str), Some("1997-01-08"));
        assert!(
            d.dates.windows(2).all(|w| w[0] < w[1]),
            "dates strictly increase"
        );
        // The WTI settlement of 2020-04-20 was negative: its log return (and the next day's)
        // is undefined, so those rows are dropped rather than invented.
        assert!(!d
            .dates
            .iter()
            .any(|x| x == "2020-04-20" || x == "2020-04-21"));
        assert!(d.dropped_rows >= 3, "{}", d.dropped_rows);
        assert_eq!(d.features.len(), d.rows() * 5);
        assert_eq!(d.split_row, (d.rows() as f64 * 0.8).floor() as usize);
        let split_date = &d.dates[d.split_row];
        for &t in &d.train_windows {
            assert!(
                t + 65 <= d.split_row,
                "training targets stay before {split_date}"
            );
        }
        for &t in &d.validation_windows {
            assert!(
                t + 60 >= d.split_row,
                "validation targets start at {split_date} or later"
            );
        }
        assert_eq!(d.train_windows.len(), d.split_row - 65 + 1);
        assert_eq!(*d.validation_windows.last().unwrap(), d.rows() - 65);
    }

    #[test]
    fn a_window_is_seq_len_rows_then_horizon_targets() {
        let d = Dataset::build(&energy(), &eia(&data_dir())).unwrap();
        let (mut x, mut y) = (vec![0f32; 60 * 5], vec![0f32; 5]);
        let start = 1234;
        d.window(start, &mut x, &mut y);
        assert_eq!(&x[..5], &d.features[start * 5..start * 5 + 5]);
        assert_eq!(
            &x[59 * 5..],
            &d.features[(start + 59) * 5..(start + 60) * 5]
        );
        assert_eq!(y, d.target[start + 60..start + 65]);
    }

    #[test]
    fn normalization_uses_training_rows_only() {
        let d = Dataset::build(&energy(), &eia(&data_dir())).unwrap();
        // Over the training rows, each feature has mean 0 and unit variance.
        for f in 0..5 {
            let train: Vec<f64> = (0..d.split_row)
                .map(|r| d.features[r * 5 + f] as f64)
                .collect();
            let mean = train.iter().sum::<f64>() / train.len() as f64;
            let var = train.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / train.len() as f64;
            assert!(
                mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3,
                "feature {f}: {mean} {var}"
            );
        }
        // Multiply every WTI price after the split date by 10 in a copy of the real file:
        // nothing computed from the training period may change.
        let split_date = d.dates[d.split_row].clone();
        let dir = std::env::temp_dir().join(format!("benchplan-norm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["eia_brent_daily.csv", "eia_henry_hub_natgas_daily.csv"] {
            std::fs::copy(data_dir().join(f), dir.join(f)).unwrap();
        }
        let wti = std::fs::read_to_string(data_dir().join("eia_wti_daily.csv")).unwrap();
        let altered: String = wti
            .lines()
            .map(|line| match line.split_once(',') {
                Some((date, price)) if date >= split_date.as_str() && date != "Date" => {
                    format!("{date},{}\r\n", price.trim().parse::<f64>().unwrap() * 10.0)
                }
                _ => format!("{line}\r\n"),
            })
            .collect();
        std::fs::write(dir.join("eia_wti_daily.csv"), altered).unwrap();
        let e = Dataset::build(&energy(), &eia(&dir)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(e.split_row, d.split_row);
        assert_eq!(e.feature_stats, d.feature_stats);
        assert_eq!(e.target_stats, d.target_stats);
        let train_len = d.split_row * 5;
        assert_eq!(e.features[..train_len], d.features[..train_len]);
        assert_ne!(e.features[train_len..], d.features[train_len..]);
    }

    #[test]
    fn a_missing_column_names_the_file_and_column() {
        let dir = data_dir();
        let sources = vec![SourceSpec::new(
            "wti",
            "eia_wti_daily.csv",
            "Date",
            "Close",
            &dir,
        )];
        let spec = DatasetSpec {
            features: vec![Feature::parse("wti").unwrap()],
            target: Feature::parse("wti").unwrap(),
            ..energy()
        };
        let err = format!("{:#}", Dataset::build(&spec, &sources).unwrap_err());
        assert!(
            err.contains("eia_wti_daily.csv` has no column `Close`"),
            "{err}"
        );
        assert!(err.contains("`Date`, `Price`"), "{err}");
        let sources = vec![SourceSpec::new(
            "barley",
            "worldbank_pinksheet_monthly_prices.csv",
            "date",
            "Barley",
            &dir,
        )];
        let spec = DatasetSpec {
            features: vec![Feature::parse("barley").unwrap()],
            target: Feature::parse("barley").unwrap(),
            seq_len: 12,
            horizon: 1,
            ..energy()
        };
        // Barley exists (1960–2020): a real monthly series loads and windows.
        let d = Dataset::build(&spec, &sources).unwrap();
        assert!(
            d.rows() > 700 && d.dates[0] == "1960-01-01",
            "{} {}",
            d.rows(),
            d.dates[0]
        );
    }
}
