//! Reading and writing result sets as Parquet through polars.
//!
//! One row per cell; each parameter in a `param_<name>` column typed by its values; raw samples
//! as `list<double>`; summary and derived figures as plain columns so that polars, pandas /
//! pyarrow and duckdb can use the file as it is. Writes go to a temporary file that is flushed
//! and renamed over the old one, so a crash never leaves a truncated result set behind.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context, Result};
use polars::prelude::*;

use super::metadata::RunMetadata;
use super::record::{CellRecord, Status};
use crate::plan::ParamValue;

/// Prefix of the parameter columns; no other column may start with it.
pub const PARAM_PREFIX: &str = "param_";

fn col<T>(name: &str, values: T) -> Column
where
    Series: NamedFrom<T, [<T as IntoIterator>::Item]>,
    T: IntoIterator,
{
    Series::new(name.into(), values).into_column()
}

fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.map(|x| x as i64)
}

/// Builds the result table of `records`.
pub fn to_dataframe(records: &[CellRecord]) -> Result<DataFrame> {
    let r = records;
    let summaries: Vec<_> = r.iter().map(CellRecord::summary).collect();
    let stat = |f: fn(&crate::stats::Summary) -> f64| -> Vec<Option<f64>> {
        summaries.iter().map(|s| s.as_ref().map(f)).collect()
    };
    let strings = |f: fn(&CellRecord) -> &str| -> Vec<&str> { r.iter().map(f).collect() };
    let bytes_col = |name: &str, f: fn(&CellRecord) -> Option<u64>| {
        col(name, r.iter().map(|x| opt_i64(f(x))).collect::<Vec<_>>())
    };
    let figure_col = |name: &str, f: fn(&CellRecord) -> Option<f64>| {
        col(name, r.iter().map(f).collect::<Vec<_>>())
    };
    let samples = |f: fn(&CellRecord) -> &Vec<f64>| -> Vec<Series> {
        r.iter()
            .map(|rec| Series::new("".into(), f(rec).as_slice()))
            .collect()
    };

    let mut columns = vec![
        col("study", strings(|x| &x.study)),
        col("experiment", strings(|x| &x.experiment)),
        col("workload", strings(|x| &x.workload)),
        col("cell_id", strings(|x| &x.cell_id)),
        col("cell_key", strings(|x| &x.cell_key)),
    ];
    columns.extend(param_columns(r)?);
    columns.extend([
        col("device_kind", strings(|x| &x.device_kind)),
        col("device_name", strings(|x| &x.device_name)),
        col(
            "status",
            r.iter().map(|x| x.status.name()).collect::<Vec<_>>(),
        ),
        col(
            "reason",
            r.iter().map(|x| x.reason.as_deref()).collect::<Vec<_>>(),
        ),
        col(
            "sample_count",
            r.iter()
                .map(|x| x.samples_ms.len() as i64)
                .collect::<Vec<_>>(),
        ),
        col("median_ms", stat(|s| s.median)),
        col("mean_ms", stat(|s| s.mean)),
        col("std_ms", stat(|s| s.std)),
        col("min_ms", stat(|s| s.min)),
        col("max_ms", stat(|s| s.max)),
        col("p95_ms", stat(|s| s.p95)),
        col("p99_ms", stat(|s| s.p99)),
        col(
            "median_ci_low_ms",
            summaries
                .iter()
                .map(|s| s.as_ref().and_then(|s| s.median_ci).map(|c| c.0))
                .collect::<Vec<_>>(),
        ),
        col(
            "median_ci_high_ms",
            summaries
                .iter()
                .map(|s| s.as_ref().and_then(|s| s.median_ci).map(|c| c.1))
                .collect::<Vec<_>>(),
        ),
        col(
            "gflops",
            r.iter().map(CellRecord::gflops).collect::<Vec<_>>(),
        ),
        col(
            "samples_per_s",
            r.iter().map(CellRecord::samples_per_s).collect::<Vec<_>>(),
        ),
        col(
            "flops_per_iteration",
            r.iter().map(|x| x.flops_per_iteration).collect::<Vec<_>>(),
        ),
        col(
            "samples_per_iteration",
            r.iter()
                .map(|x| opt_i64(x.samples_per_iteration))
                .collect::<Vec<_>>(),
        ),
        col(
            "model_parameters",
            r.iter().map(|x| opt_i64(x.param_count)).collect::<Vec<_>>(),
        ),
        col(
            "weight_bytes",
            r.iter()
                .map(|x| opt_i64(x.weight_bytes))
                .collect::<Vec<_>>(),
        ),
        bytes_col("optimizer_state_bytes", |x| x.optimizer_state_bytes),
        bytes_col("activation_bytes", |x| x.activation_bytes),
        bytes_col("peak_rss_bytes", |x| x.peak_rss_bytes),
        bytes_col("device_allocated_bytes", |x| x.device_allocated_bytes),
        figure_col("cpu_ms_per_iteration", |x| x.cpu_ms_per_iteration),
        figure_col("cpu_utilization", |x| x.cpu_utilization),
        figure_col("prediction_error", |x| x.prediction_error),
        Series::new("samples_ms".into(), samples(|x| &x.samples_ms)).into_column(),
        Series::new(
            "warmup_samples_ms".into(),
            samples(|x| &x.warmup_samples_ms),
        )
        .into_column(),
        col("measure_settings", strings(|x| &x.measure_settings)),
        col("cell_started_at", strings(|x| &x.cell_started_at)),
        col(
            "cell_wall_s",
            r.iter().map(|x| x.cell_wall_s).collect::<Vec<_>>(),
        ),
        col("git_commit", strings(|x| &x.meta.git_commit)),
        col(
            "git_dirty",
            r.iter().map(|x| x.meta.git_dirty).collect::<Vec<_>>(),
        ),
        col("plan_path", strings(|x| &x.meta.plan_path)),
        col("plan_sha256", strings(|x| &x.meta.plan_sha256)),
        col("hostname", strings(|x| &x.meta.hostname)),
        col("machine", strings(|x| &x.meta.machine)),
        col("os", strings(|x| &x.meta.os)),
        col("arch", strings(|x| &x.meta.arch)),
        col("cpu_model", strings(|x| &x.meta.cpu_model)),
        col(
            "cpu_cores",
            r.iter()
                .map(|x| x.meta.cpu_cores as i64)
                .collect::<Vec<_>>(),
        ),
        col("candle_version", strings(|x| &x.meta.candle_version)),
        col("cpu_backend", strings(|x| &x.meta.cpu_backend)),
        col("benchplan_version", strings(|x| &x.meta.benchplan_version)),
        col("run_started_at", strings(|x| &x.meta.run_started_at)),
    ]);
    columns.extend(stage_columns(r));
    Ok(DataFrame::new(r.len(), columns)?)
}

/// Prefix and suffix of the per-stage sample columns: `stage_forward_ms`.
const STAGE_PREFIX: &str = "stage_";
const STAGE_SUFFIX: &str = "_ms";

/// One `list<double>` column per stage name across all records, in first-seen order; null
/// for records without that stage.
fn stage_columns(records: &[CellRecord]) -> Vec<Column> {
    let mut names: Vec<&str> = Vec::new();
    for r in records {
        for (name, _) in &r.stages {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let values: Vec<Option<Series>> = records
                .iter()
                .map(|r| {
                    r.stages
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, s)| Series::new("".into(), s.as_slice()))
                })
                .collect();
            Series::new(format!("{STAGE_PREFIX}{name}{STAGE_SUFFIX}").into(), values).into_column()
        })
        .collect()
}

/// One column per parameter name across all records, typed by the values it holds: integer,
/// float, boolean or string; a mix of types is stored as strings.
fn param_columns(records: &[CellRecord]) -> Result<Vec<Column>> {
    let names: BTreeSet<&str> = records
        .iter()
        .flat_map(|r| r.params.keys().map(String::as_str))
        .collect();
    let mut columns = Vec::new();
    for name in names {
        let values: Vec<Option<&ParamValue>> = records.iter().map(|r| r.params.get(name)).collect();
        let column_name = format!("{PARAM_PREFIX}{name}");
        let all = |pred: fn(&ParamValue) -> bool| values.iter().flatten().all(|v| pred(v));
        let column = if all(|v| matches!(v, ParamValue::Int(_))) {
            col(
                &column_name,
                values
                    .iter()
                    .map(|v| v.and_then(ParamValue::as_int))
                    .collect::<Vec<_>>(),
            )
        } else if all(|v| matches!(v, ParamValue::Float(_))) {
            col(
                &column_name,
                values
                    .iter()
                    .map(|v| match v {
                        Some(ParamValue::Float(x)) => Some(*x),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )
        } else if all(|v| matches!(v, ParamValue::Bool(_))) {
            col(
                &column_name,
                values
                    .iter()
                    .map(|v| match v {
                        Some(ParamValue::Bool(b)) => Some(*b),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )
        } else {
            col(
                &column_name,
                values
                    .iter()
                    .map(|v| v.map(ToString::to_string))
                    .collect::<Vec<_>>(),
            )
        };
        columns.push(column);
    }
    Ok(columns)
}

/// Writes `records` to `path` atomically: a temporary file beside it, flushed to disk, renamed
/// over `path`, and the directory flushed so that the rename itself survives a crash.
pub fn write_atomic(path: &Path, records: &[CellRecord]) -> Result<()> {
    write_atomic_as(path, records, Encoding::Compact)
}

/// Replaces a whole set: `cells.parquet` rewritten atomically with `records`, then the pending
/// rows (which `records` must include, as [`read`] returns them) removed.
pub fn replace_set(cells: &Path, records: &[CellRecord]) -> Result<()> {
    write_atomic(cells, records)?;
    let pending = cells.parent().unwrap_or(Path::new(".")).join(PENDING_DIR);
    if let Ok(entries) = std::fs::read_dir(&pending) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        let _ = std::fs::remove_dir(&pending);
    }
    Ok(())
}

/// How a results file is encoded: `Compact` (zstd, column statistics) for sets that are kept
/// and read, `Fast` (neither) for the one-row pending files written after every cell, whose
/// cost is on the run's clock and which live only until the next consolidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Compact,
    Fast,
}

/// [`write_atomic`] with a choice of [`Encoding`].
pub fn write_atomic_as(path: &Path, records: &[CellRecord], encoding: Encoding) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut df = to_dataframe(records)?;
    let result = (|| -> Result<()> {
        let file =
            File::create(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
        // Buffered: the Parquet writer issues thousands of tiny writes (one syscall each,
        // unbuffered: they dominated the cost of saving a set).
        let mut buffered = std::io::BufWriter::with_capacity(1 << 20, file);
        let writer = match encoding {
            Encoding::Compact => ParquetWriter::new(&mut buffered),
            Encoding::Fast => ParquetWriter::new(&mut buffered)
                .with_compression(ParquetCompression::Uncompressed)
                .with_statistics(StatisticsOptions::empty()),
        };
        anyhow::Context::with_context(writer.finish(&mut df), || {
            format!("cannot write `{}`", tmp.display())
        })?;
        let file = buffered
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write `{}`", tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot flush `{}`", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename onto `{}`", path.display()))?;
        // Flushing a directory is how POSIX makes a rename durable; elsewhere it is a no-op.
        #[cfg(unix)]
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot flush `{}`", dir.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The folder beside a set's `cells.parquet` that holds rows written since the set was last
/// consolidated: one small file per finished cell (see `runner::sink`).
pub const PENDING_DIR: &str = "pending";

/// The rows of a set's pending files, oldest first (by name: the writer numbers them).
fn read_pending(cells: &Path) -> Result<Vec<CellRecord>> {
    let dir = cells.parent().unwrap_or(Path::new(".")).join(PENDING_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    let mut rows = Vec::new();
    for f in files {
        rows.extend(read_file(&f)?);
    }
    Ok(rows)
}

/// Reads a result set: its `cells.parquet` and, beside it, the rows of cells finished since
/// the set was last consolidated, each replacing an older row of the same cell. The error
/// names the file.
pub fn read(path: &Path) -> Result<Vec<CellRecord>> {
    let pending = read_pending(path)?;
    // Without the set's file, its pending rows alone are the set (a run killed before its
    // first consolidation); without either, reading the missing file says so.
    let mut records = if path.exists() || pending.is_empty() {
        read_file(path)?
    } else {
        Vec::new()
    };
    for row in pending {
        match records.iter_mut().find(|r| r.cell_id == row.cell_id) {
            Some(old) => *old = row,
            None => records.push(row),
        }
    }
    Ok(records)
}

/// Reads one Parquet file of result rows. The error names the file.
fn read_file(path: &Path) -> Result<Vec<CellRecord>> {
    let file =
        File::open(path).with_context(|| format!("cannot open results `{}`", path.display()))?;
    let df = anyhow::Context::with_context(ParquetReader::new(file).finish(), || {
        format!("`{}` is not a readable Parquet file", path.display())
    })?;
    from_dataframe(&df)
        .with_context(|| format!("`{}` is not a benchplan result set", path.display()))
}

/// Converts a result table back into records.
pub fn from_dataframe(df: &DataFrame) -> Result<Vec<CellRecord>> {
    let n = df.height();
    let get = |name: &str| -> Result<&Series> {
        match df.column(name) {
            Ok(c) => Ok(c.as_materialized_series()),
            Err(_) => bail!("column `{name}` is missing"),
        }
    };
    let strs = |name: &str| -> Result<Vec<Option<String>>> {
        Ok(get(name)?
            .str()?
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect())
    };
    let req_strs = |name: &str| -> Result<Vec<String>> {
        strs(name)?
            .into_iter()
            .map(|v| v.with_context(|| format!("column `{name}` has a missing value")))
            .collect()
    };
    let f64s = |name: &str| -> Result<Vec<Option<f64>>> { Ok(get(name)?.f64()?.iter().collect()) };
    let i64s = |name: &str| -> Result<Vec<Option<i64>>> { Ok(get(name)?.i64()?.iter().collect()) };
    let lists = |name: &str| -> Result<Vec<Vec<f64>>> {
        let list = get(name)?.list()?;
        (0..list.len())
            .map(|i| match list.get_as_series(i) {
                Some(s) => Ok(s.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect()),
                None => Ok(Vec::new()),
            })
            .collect()
    };

    let study = req_strs("study")?;
    let experiment = req_strs("experiment")?;
    let workload = req_strs("workload")?;
    let cell_id = req_strs("cell_id")?;
    let cell_key = req_strs("cell_key")?;
    let device_kind = req_strs("device_kind")?;
    let device_name = req_strs("device_name")?;
    let status = req_strs("status")?;
    let reason = strs("reason")?;
    let samples = lists("samples_ms")?;
    let warmup = lists("warmup_samples_ms")?;
    let flops = f64s("flops_per_iteration")?;
    let per_iter = i64s("samples_per_iteration")?;
    let param_count = i64s("model_parameters")?;
    let weight_bytes = i64s("weight_bytes")?;
    let optimizer_state_bytes = i64s("optimizer_state_bytes")?;
    let activation_bytes = i64s("activation_bytes")?;
    let peak_rss_bytes = i64s("peak_rss_bytes")?;
    let device_allocated_bytes = i64s("device_allocated_bytes")?;
    let cpu_ms = f64s("cpu_ms_per_iteration")?;
    let cpu_util = f64s("cpu_utilization")?;
    let prediction_error = f64s("prediction_error")?;
    let mut stages: Vec<Vec<(String, Vec<f64>)>> = vec![Vec::new(); n];
    for column in df.columns() {
        let Some(stage) = column
            .name()
            .strip_prefix(STAGE_PREFIX)
            .and_then(|s| s.strip_suffix(STAGE_SUFFIX))
        else {
            continue;
        };
        let list = column.as_materialized_series().list()?;
        for (row, stages) in stages.iter_mut().enumerate() {
            if let Some(s) = list.get_as_series(row) {
                stages.push((
                    stage.to_owned(),
                    s.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
                ));
            }
        }
    }
    let settings = req_strs("measure_settings")?;
    let started = req_strs("cell_started_at")?;
    let wall = f64s("cell_wall_s")?;
    let commit = req_strs("git_commit")?;
    let dirty: Vec<Option<bool>> = get("git_dirty")?.bool()?.iter().collect();
    let plan_path = req_strs("plan_path")?;
    let plan_sha = req_strs("plan_sha256")?;
    let hostname = req_strs("hostname")?;
    let machine = req_strs("machine")?;
    let os = req_strs("os")?;
    let arch = req_strs("arch")?;
    let cpu_model = req_strs("cpu_model")?;
    let cores = i64s("cpu_cores")?;
    let candle = req_strs("candle_version")?;
    // Added after the first result sets were written: older sets lack it.
    let cpu_backend = if df.column("cpu_backend").is_ok() {
        strs("cpu_backend")?
    } else {
        vec![None; n]
    };
    let version = req_strs("benchplan_version")?;
    let run_started = req_strs("run_started_at")?;

    let mut params: Vec<BTreeMap<String, ParamValue>> = vec![BTreeMap::new(); n];
    for column in df.columns() {
        let Some(name) = column.name().strip_prefix(PARAM_PREFIX) else {
            continue;
        };
        let s = column.as_materialized_series();
        let values: Vec<Option<ParamValue>> = match s.dtype() {
            DataType::Int64 => s.i64()?.iter().map(|v| v.map(ParamValue::Int)).collect(),
            DataType::Float64 => s.f64()?.iter().map(|v| v.map(ParamValue::Float)).collect(),
            DataType::Boolean => s.bool()?.iter().map(|v| v.map(ParamValue::Bool)).collect(),
            DataType::String => s
                .str()?
                .iter()
                .map(|v| v.map(|x| ParamValue::Str(x.to_owned())))
                .collect(),
            other => bail!(
                "parameter column `{}` has unsupported type {other}",
                column.name()
            ),
        };
        for (row, v) in values.into_iter().enumerate() {
            if let Some(v) = v {
                params[row].insert(name.to_owned(), v);
            }
        }
    }

    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        records.push(CellRecord {
            study: study[i].clone(),
            experiment: experiment[i].clone(),
            workload: workload[i].clone(),
            cell_id: cell_id[i].clone(),
            cell_key: cell_key[i].clone(),
            params: std::mem::take(&mut params[i]),
            device_kind: device_kind[i].clone(),
            device_name: device_name[i].clone(),
            status: Status::parse(&status[i])
                .with_context(|| format!("unknown status `{}`", status[i]))?,
            reason: reason[i].clone(),
            samples_ms: samples[i].clone(),
            warmup_samples_ms: warmup[i].clone(),
            flops_per_iteration: flops[i],
            samples_per_iteration: per_iter[i].map(|v| v as u64),
            param_count: param_count[i].map(|v| v as u64),
            weight_bytes: weight_bytes[i].map(|v| v as u64),
            optimizer_state_bytes: optimizer_state_bytes[i].map(|v| v as u64),
            activation_bytes: activation_bytes[i].map(|v| v as u64),
            peak_rss_bytes: peak_rss_bytes[i].map(|v| v as u64),
            device_allocated_bytes: device_allocated_bytes[i].map(|v| v as u64),
            cpu_ms_per_iteration: cpu_ms[i],
            cpu_utilization: cpu_util[i],
            prediction_error: prediction_error[i],
            stages: std::mem::take(&mut stages[i]),
            measure_settings: settings[i].clone(),
            cell_started_at: started[i].clone(),
            cell_wall_s: wall[i].unwrap_or(f64::NAN),
            meta: RunMetadata {
                git_commit: commit[i].clone(),
                git_dirty: dirty[i].unwrap_or(false),
                plan_path: plan_path[i].clone(),
                plan_sha256: plan_sha[i].clone(),
                hostname: hostname[i].clone(),
                machine: machine[i].clone(),
                os: os[i].clone(),
                arch: arch[i].clone(),
                cpu_model: cpu_model[i].clone(),
                cpu_cores: cores[i].unwrap_or(0) as u32,
                candle_version: candle[i].clone(),
                cpu_backend: cpu_backend[i]
                    .clone()
                    .unwrap_or_else(|| "not recorded".to_owned()),
                benchplan_version: version[i].clone(),
                run_started_at: run_started[i].clone(),
            },
        });
    }
    Ok(records)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn meta() -> RunMetadata {
        RunMetadata {
            git_commit: "0123456789abcdef0123456789abcdef01234567".into(),
            git_dirty: false,
            plan_path: "plans/x.toml".into(),
            plan_sha256: "ab".repeat(32),
            hostname: "host".into(),
            machine: "linux-x86_64-test-2c".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            cpu_model: "Test CPU".into(),
            cpu_cores: 2,
            candle_version: "0.9.2".into(),
            cpu_backend: "gemm".into(),
            benchplan_version: "0.1.0".into(),
            run_started_at: "2026-11-26T00:00:00Z".into(),
        }
    }

    pub fn record(id: &str, params: &[(&str, ParamValue)], samples: Vec<f64>) -> CellRecord {
        CellRecord {
            study: "s".into(),
            experiment: "e".into(),
            workload: "train".into(),
            cell_id: id.into(),
            cell_key: "k".into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            device_kind: "cpu".into(),
            device_name: "Test CPU".into(),
            status: Status::Ok,
            reason: None,
            samples_ms: samples,
            warmup_samples_ms: vec![9.0],
            flops_per_iteration: None,
            samples_per_iteration: Some(32),
            param_count: Some(86_544),
            weight_bytes: Some(346_176),
            optimizer_state_bytes: Some(692_352),
            activation_bytes: Some(4096),
            peak_rss_bytes: Some(1 << 30),
            device_allocated_bytes: None,
            cpu_ms_per_iteration: Some(1.25),
            cpu_utilization: Some(1.9),
            prediction_error: None,
            stages: vec![],
            measure_settings: "warmup=3".into(),
            cell_started_at: "2026-11-26T00:00:01Z".into(),
            cell_wall_s: 1.5,
            meta: meta(),
        }
    }

    #[test]
    fn pending_rows_are_merged_over_the_set_in_the_order_written() {
        let dir = std::env::temp_dir().join(format!("benchplan-pending-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cells = dir.join("cells.parquet");
        let a = record("a", &[], vec![1.0]);
        let b = record("b", &[], vec![2.0]);
        write_atomic(&cells, &[a.clone(), b.clone()]).unwrap();
        // A run killed after two more cells: b re-measured twice, c new; nothing consolidated.
        let pending = dir.join(PENDING_DIR);
        let b2 = record("b", &[], vec![3.0]);
        let b3 = record("b", &[], vec![4.0]);
        let c = record("c", &[], vec![5.0]);
        write_atomic_as(&pending.join("000001-b.parquet"), &[b2], Encoding::Fast).unwrap();
        write_atomic_as(&pending.join("000002-c.parquet"), &[c], Encoding::Fast).unwrap();
        write_atomic_as(&pending.join("000003-b.parquet"), &[b3], Encoding::Fast).unwrap();
        let rows = read(&cells).unwrap();
        let got: Vec<(&str, f64)> = rows
            .iter()
            .map(|r| (r.cell_id.as_str(), r.samples_ms[0]))
            .collect();
        assert_eq!(got, [("a", 1.0), ("b", 4.0), ("c", 5.0)]);
        // Killed before the first consolidation: pending rows alone are the set.
        std::fs::remove_file(&cells).unwrap();
        assert_eq!(read(&cells).unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parquet_round_trip_keeps_every_field() {
        let dir = std::env::temp_dir().join(format!("benchplan-store-{}", std::process::id()));
        let path = dir.join("cells.parquet");
        let mut failed = record(
            "b",
            &[("n", ParamValue::Int(5)), ("tf32", ParamValue::Bool(true))],
            vec![],
        );
        failed.status = Status::Failed;
        failed.reason = Some("out of memory".into());
        failed.flops_per_iteration = Some(250.0);
        failed.samples_per_iteration = None;
        failed.prediction_error = Some(0.003);
        failed.stages = vec![
            ("load".into(), vec![0.5, 0.25]),
            ("forward".into(), vec![2.0, 3.0]),
        ];
        let records = vec![
            record(
                "a",
                &[
                    ("model", ParamValue::Str("mlp".into())),
                    ("batch", ParamValue::Int(32)),
                ],
                vec![1.0, 2.0, 3.0],
            ),
            failed,
            record(
                "c",
                &[
                    ("lr", ParamValue::Float(0.5)),
                    ("batch", ParamValue::Int(8)),
                ],
                vec![4.0; 7],
            ),
        ];
        write_atomic(&path, &records).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back, records);
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_parquet_is_named_in_the_error() {
        let path =
            std::env::temp_dir().join(format!("benchplan-bad-{}.parquet", std::process::id()));
        std::fs::write(&path, b"not parquet at all").unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains(&path.display().to_string()), "{err}");
        std::fs::remove_file(&path).unwrap();
    }
}
