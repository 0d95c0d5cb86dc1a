//! Reading and writing result sets as Parquet through polars.
//!
//! One row per cell; each parameter in a `param_<name>` column typed by its values; raw samples
//! as `list<double>`; summary and derived figures as plain columns so that polars, pandas /
//! pyarrow and duckdb can use the file as it is. Writes go to a temporary file that is flushed
//! and renamed over the old one, so a crash never leaves a truncated result set behind.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context, Result};
use polars::prelude::*;

use super::integrity;
use super::record::{CellRecord, Status};
use super::schema::{
    self, Column as ColumnDef, Field, FORMAT_KEY, FORMAT_VERSION, PARAM_PREFIX, STAGE_PREFIX,
    STAGE_SUFFIX,
};
use crate::plan::ParamValue;
use crate::stats::Summary;

fn col<T>(name: &str, values: T) -> Column
where
    Series: NamedFrom<T, [<T as IntoIterator>::Item]>,
    T: IntoIterator,
{
    Series::new(name.into(), values).into_column()
}

/// Builds the result table of `records`: the columns of [`schema::COLUMNS`] in order, the
/// parameter columns after [`schema::PARAMS_AFTER`], the stage columns last.
pub fn to_dataframe(records: &[CellRecord]) -> Result<DataFrame> {
    let summaries: Vec<Option<Summary>> = records.iter().map(CellRecord::summary).collect();
    let mut columns = Vec::with_capacity(schema::COLUMNS.len() + 8);
    for c in schema::COLUMNS {
        columns.push(write_column(c, records, &summaries));
        if c.name == schema::PARAMS_AFTER {
            columns.extend(param_columns(records)?);
        }
    }
    columns.extend(stage_columns(records));
    Ok(DataFrame::new(records.len(), columns)?)
}

/// One fixed column's values across `records`.
fn write_column(c: &ColumnDef, r: &[CellRecord], summaries: &[Option<Summary>]) -> Column {
    let name = c.name;
    let u64_to_i64 = |v: Option<u64>| v.map(|x| x as i64);
    match c.field {
        Field::Str(get, _) => col(name, r.iter().map(get).collect::<Vec<_>>()),
        Field::OptStr(get, _) => col(name, r.iter().map(get).collect::<Vec<_>>()),
        Field::Status => col(name, r.iter().map(|x| x.status.name()).collect::<Vec<_>>()),
        Field::Bool(get, _) => col(name, r.iter().map(get).collect::<Vec<_>>()),
        Field::F64(get, _) => col(name, r.iter().map(get).collect::<Vec<_>>()),
        Field::OptF64(get, _) => col(name, r.iter().map(get).collect::<Vec<_>>()),
        Field::OptU64(get, _) => col(
            name,
            r.iter().map(|x| u64_to_i64(get(x))).collect::<Vec<_>>(),
        ),
        Field::U32(get, _) => col(name, r.iter().map(|x| get(x) as i64).collect::<Vec<_>>()),
        Field::Samples(get, _) => {
            let lists: Vec<Series> = r.iter().map(|x| Series::new("".into(), get(x))).collect();
            Series::new(name.into(), lists).into_column()
        }
        Field::Counts(get, _) => {
            let lists: Vec<Series> = r
                .iter()
                .map(|x| {
                    let v: Vec<i64> = get(x).iter().map(|&n| n as i64).collect();
                    Series::new("".into(), v)
                })
                .collect();
            Series::new(name.into(), lists).into_column()
        }
        Field::Derived(f) => col(
            name,
            r.iter()
                .zip(summaries)
                .map(|(x, s)| f(x, s.as_ref()))
                .collect::<Vec<_>>(),
        ),
        Field::DerivedCount(f) => col(name, r.iter().map(f).collect::<Vec<_>>()),
        Field::DerivedBool(f) => col(name, r.iter().map(f).collect::<Vec<_>>()),
    }
}

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
    write_file(path, records, encoding, true)
}

/// Rows handed from a worker process to its parent, which reads them at once and makes them
/// durable itself: written fast and not flushed to disk (two flushes per cell were most of the
/// cost of isolating a short cell).
pub fn write_handoff(path: &Path, records: &[CellRecord]) -> Result<()> {
    write_file(path, records, Encoding::Fast, false)
}

/// Writes `records` aside and renames them onto `path`; `durable` flushes the file and the
/// rename to disk first.
fn write_file(
    path: &Path,
    records: &[CellRecord],
    encoding: Encoding,
    durable: bool,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // A hand-off goes into a folder its reader made, and which is gone once the reader no
    // longer wants it: a worker must not make it again (and leave it behind).
    if durable {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let bytes = encode_checked(records, encoding)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    let result = (|| -> Result<()> {
        let mut file =
            File::create(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
        std::io::Write::write_all(&mut file, &bytes)
            .with_context(|| format!("cannot write `{}`", tmp.display()))?;
        if durable {
            file.sync_all()
                .with_context(|| format!("cannot flush `{}`", tmp.display()))?;
        }
        drop(file);
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename onto `{}`", path.display()))?;
        if !durable {
            return Ok(());
        }
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

/// The Parquet bytes of `records`, with the format version and the two checksums of
/// [`integrity`] in the key-value metadata. The data digest is of an encoding made without it;
/// polars encodes the same table to the same column chunks whatever the footer holds, which is
/// checked here (a mismatch stores the file without that digest rather than a wrong one).
fn encode_checked(records: &[CellRecord], encoding: Encoding) -> Result<Vec<u8>> {
    let mut df = to_dataframe(records)?;
    let version = (FORMAT_KEY.to_owned(), FORMAT_VERSION.to_string());
    let rows = (
        integrity::ROWS_KEY.to_owned(),
        integrity::rows_digest(records),
    );
    let plain = encode(&mut df, encoding, vec![version.clone()])?;
    let data = integrity::data_digest(&plain).context("the encoder wrote no Parquet footer")?;
    let kv = vec![
        version.clone(),
        (integrity::DATA_KEY.to_owned(), data.clone()),
        rows.clone(),
    ];
    let bytes = encode(&mut df, encoding, kv)?;
    if integrity::data_digest(&bytes).as_deref() == Some(data.as_str()) {
        return Ok(bytes);
    }
    encode(&mut df, encoding, vec![version, rows])
}

/// One Parquet encoding of `df` in memory, with `kv` as its key-value metadata.
fn encode(df: &mut DataFrame, encoding: Encoding, kv: Vec<(String, String)>) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(1 << 16);
    let writer = ParquetWriter::new(&mut bytes)
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(kv)));
    let writer = match encoding {
        Encoding::Compact => writer,
        Encoding::Fast => writer
            .with_compression(ParquetCompression::Uncompressed)
            .with_statistics(StatisticsOptions::empty()),
    };
    writer.finish(df)?;
    Ok(bytes)
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
        match read_file(&f) {
            Ok(r) => rows.extend(r),
            // A consolidation removed it after it was listed: a run is writing the set. The
            // consolidation wrote its rows into `cells.parquet` first, and that file is read
            // after these, so skipping the vanished file loses nothing.
            Err(e) if vanished(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(rows)
}

/// Whether an error is a file that was not found (rather than unreadable or corrupt).
fn vanished(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
    })
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

/// A result file read into memory: its bytes, the format version it declares (1 for files
/// written before the version was stored) and its key-value metadata. A file newer than this
/// build is refused by name; one whose bytes fail their checksum is named as corrupt.
struct Opened {
    bytes: Vec<u8>,
    version: u32,
    kv: std::collections::BTreeMap<String, String>,
}

/// The largest result file read (a set of thousands of cells with every sample is a few tens
/// of MB); a larger file named as results is refused rather than read whole.
const MAX_RESULT_FILE: u64 = 1 << 30;

fn open_versioned(path: &Path) -> Result<Opened> {
    let file =
        File::open(path).with_context(|| format!("cannot open results `{}`", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_RESULT_FILE {
        bail!(
            "`{}` is {len} bytes, more than a result file can be ({MAX_RESULT_FILE}); is it a result set?",
            path.display()
        );
    }
    let mut bytes = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut { file }, &mut bytes)
        .with_context(|| format!("cannot read results `{}`", path.display()))?;
    let not_parquet = || format!("`{}` is not a readable Parquet file", path.display());
    let kv = crate::contain::contain(|| {
        let mut reader = ParquetReader::new(std::io::Cursor::new(&bytes[..]));
        reader.get_metadata().map(|m| {
            m.key_value_metadata
                .iter()
                .flatten()
                .filter_map(|k| Some((k.key.clone(), k.value.clone()?)))
                .collect::<std::collections::BTreeMap<_, _>>()
        })
    })
    .map_err(|panic| {
        anyhow::anyhow!(integrity::corrupt(
            path,
            &format!("its Parquet metadata cannot be decoded ({panic})")
        ))
    })?
    .map_err(anyhow::Error::from)
    .with_context(not_parquet)?;
    let version = kv
        .get(FORMAT_KEY)
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    if version > FORMAT_VERSION {
        bail!(
            "`{}` is in result format {version}, newer than this benchplan reads ({FORMAT_VERSION}); use a newer benchplan",
            path.display()
        );
    }
    integrity::check_data(
        path,
        &bytes,
        kv.get(integrity::DATA_KEY).map(String::as_str),
    )?;
    Ok(Opened { bytes, version, kv })
}

/// The format version a result file declares.
pub fn format_version(path: &Path) -> Result<u32> {
    Ok(open_versioned(path)?.version)
}

/// Reads one Parquet file of result rows, checking its checksums. The error names the file; a
/// panic inside the Parquet reader (a corrupt file) becomes that error too.
fn read_file(path: &Path) -> Result<Vec<CellRecord>> {
    let opened = open_versioned(path)?;
    let decoded = crate::contain::contain(|| {
        let df = ParquetReader::new(std::io::Cursor::new(&opened.bytes[..])).finish()?;
        anyhow::Ok(from_dataframe(&df))
    })
    .map_err(|panic| {
        anyhow::anyhow!(integrity::corrupt(
            path,
            &format!("the Parquet reader failed on it ({panic})")
        ))
    })?
    .with_context(|| format!("`{}` is not a readable Parquet file", path.display()))?;
    let records =
        decoded.with_context(|| format!("`{}` is not a benchplan result set", path.display()))?;
    integrity::check_rows(
        path,
        &records,
        opened.kv.get(integrity::ROWS_KEY).map(String::as_str),
        opened.version,
    )?;
    Ok(records)
}

/// Converts a result table back into records, column by column through [`schema::COLUMNS`].
pub fn from_dataframe(df: &DataFrame) -> Result<Vec<CellRecord>> {
    let mut records = vec![CellRecord::blank(); df.height()];
    for c in schema::COLUMNS {
        if matches!(
            c.field,
            Field::Derived(_) | Field::DerivedCount(_) | Field::DerivedBool(_)
        ) {
            continue;
        }
        match df.column(c.name) {
            Ok(column) => read_column(c, column.as_materialized_series(), &mut records)?,
            Err(_) if c.optional => {}
            Err(_) => bail!("column `{}` is missing", c.name),
        }
    }
    read_stages(df, &mut records)?;
    read_params(df, &mut records)?;
    Ok(records)
}

/// Puts one fixed column's values into `records`.
fn read_column(c: &ColumnDef, s: &Series, records: &mut [CellRecord]) -> Result<()> {
    let name = c.name;
    let required = |v: Option<&str>| -> Result<String> {
        v.map(str::to_owned)
            .with_context(|| format!("column `{name}` has a missing value"))
    };
    match c.field {
        Field::Str(_, set) => {
            for (r, v) in records.iter_mut().zip(s.str()?.iter()) {
                set(r, required(v)?);
            }
        }
        Field::OptStr(_, set) => {
            for (r, v) in records.iter_mut().zip(s.str()?.iter()) {
                set(r, v.map(str::to_owned));
            }
        }
        Field::Status => {
            for (r, v) in records.iter_mut().zip(s.str()?.iter()) {
                let v = required(v)?;
                r.status = Status::parse(&v).with_context(|| format!("unknown status `{v}`"))?;
            }
        }
        Field::Bool(_, set) => {
            for (r, v) in records.iter_mut().zip(s.bool()?.iter()) {
                set(r, v.unwrap_or(false));
            }
        }
        Field::F64(_, set) => {
            for (r, v) in records.iter_mut().zip(s.f64()?.iter()) {
                set(r, v.unwrap_or(f64::NAN));
            }
        }
        Field::OptF64(_, set) => {
            for (r, v) in records.iter_mut().zip(s.f64()?.iter()) {
                set(r, v);
            }
        }
        Field::OptU64(_, set) => {
            for (r, v) in records.iter_mut().zip(s.i64()?.iter()) {
                set(r, v.map(|x| x as u64));
            }
        }
        Field::U32(_, set) => {
            for (r, v) in records.iter_mut().zip(s.i64()?.iter()) {
                set(r, v.unwrap_or(0) as u32);
            }
        }
        Field::Samples(_, set) => {
            let list = s.list()?;
            for (i, r) in records.iter_mut().enumerate() {
                set(r, samples_at(list, i)?.unwrap_or_default());
            }
        }
        Field::Counts(_, set) => {
            let list = s.list()?;
            for (i, r) in records.iter_mut().enumerate() {
                let counts = match list.get_as_series(i) {
                    Some(s) => s
                        .i64()?
                        .iter()
                        .map(|v| v.unwrap_or(0).max(0) as u64)
                        .collect(),
                    None => Vec::new(),
                };
                set(r, counts);
            }
        }
        Field::Derived(_) | Field::DerivedCount(_) | Field::DerivedBool(_) => {}
    }
    Ok(())
}

/// Row `i` of a `list<double>` column; a null inside a list reads as NaN.
fn samples_at(list: &ListChunked, i: usize) -> Result<Option<Vec<f64>>> {
    Ok(match list.get_as_series(i) {
        Some(s) => Some(s.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect()),
        None => None,
    })
}

/// The `stage_<name>_ms` columns, in file order, into each row's stages.
fn read_stages(df: &DataFrame, records: &mut [CellRecord]) -> Result<()> {
    for column in df.columns() {
        let Some(stage) = column
            .name()
            .strip_prefix(STAGE_PREFIX)
            .and_then(|s| s.strip_suffix(STAGE_SUFFIX))
        else {
            continue;
        };
        let list = column.as_materialized_series().list()?;
        for (i, r) in records.iter_mut().enumerate() {
            if let Some(samples) = samples_at(list, i)? {
                r.stages.push((stage.to_owned(), samples));
            }
        }
    }
    Ok(())
}

/// The `param_<name>` columns into each row's parameters, typed as stored.
fn read_params(df: &DataFrame, records: &mut [CellRecord]) -> Result<()> {
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
        for (r, v) in records.iter_mut().zip(values) {
            if let Some(v) = v {
                r.params.insert(name.to_owned(), v);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::RunMetadata;

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
            round_sample_counts: Vec::new(),
            round_started_s: Vec::new(),
            round_positions: Vec::new(),
            definition_sha256: None,
            framework: Some("candle".into()),
            framework_version: Some("0.11.1".into()),
            program_info: None,
            energy_j: None,
            energy_timed_s: None,
            energy_source: None,
            energy_note: None,
            device_state: Default::default(),
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
            kernels: None,
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

    /// A row with every field set to a value unlike [`CellRecord::blank`]'s. The struct literal
    /// lists every field, so a new field must be given a value here; a field that is not stored
    /// (or not read back) then fails the round trip below.
    fn full_row() -> CellRecord {
        CellRecord {
            study: "study".into(),
            experiment: "experiment".into(),
            workload: "pipeline".into(),
            cell_id: "00112233445566ff".into(),
            cell_key: "model=mlp batch=32".into(),
            params: [
                ("model".to_owned(), ParamValue::Str("mlp".into())),
                ("batch".to_owned(), ParamValue::Int(32)),
                ("lr".to_owned(), ParamValue::Float(0.5)),
                ("tf32".to_owned(), ParamValue::Bool(true)),
            ]
            .into_iter()
            .collect(),
            device_kind: "cuda".into(),
            device_name: "NVIDIA H200".into(),
            status: Status::Ok,
            reason: Some("a note".into()),
            samples_ms: (1..=12).map(f64::from).collect(),
            warmup_samples_ms: vec![30.0, 20.0],
            round_sample_counts: vec![4, 4, 4],
            round_started_s: vec![0.5, 3.25, 6.0],
            round_positions: vec![2, 0, 1],
            definition_sha256: Some("5e".repeat(32)),
            framework: Some("PyTorch".into()),
            framework_version: Some("2.11.0+cu130".into()),
            program_info: Some(r#"{"threads":16}"#.into()),
            energy_j: Some(123.5),
            energy_timed_s: Some(2.5),
            energy_source: Some("nvml".into()),
            // Every column filled: a note beside a figure is a caveat.
            energy_note: Some("counter moved every 100 ms".into()),
            device_state: crate::energy::state::DeviceState {
                sm_mhz_start: Some(1980),
                sm_mhz_end: Some(1530),
                memory_mhz_start: Some(2619),
                memory_mhz_end: Some(2619),
                temperature_c_start: Some(38),
                temperature_c_end: Some(61),
                power_limit_w: Some(700.0),
                clock_events_start: Some(String::new()),
                clock_events_end: Some("sw_power_cap".into()),
                held_back_s: Some(2.1),
                power_integrated_j: Some(121.0),
                note: Some("a caveat".into()),
            },
            flops_per_iteration: Some(2.5e9),
            samples_per_iteration: Some(32),
            param_count: Some(86_544),
            weight_bytes: Some(346_176),
            optimizer_state_bytes: Some(692_352),
            activation_bytes: Some(4096),
            peak_rss_bytes: Some(1 << 30),
            device_allocated_bytes: Some(1 << 20),
            cpu_ms_per_iteration: Some(1.25),
            cpu_utilization: Some(1.9),
            prediction_error: Some(0.003),
            kernels: Some("attention (cuda), layer-norm (cuda)".into()),
            stages: vec![
                ("load".into(), vec![0.5, 0.25]),
                ("forward".into(), vec![2.0, 3.0]),
            ],
            measure_settings: "warmup=3".into(),
            cell_started_at: "2026-11-26T00:00:01Z".into(),
            cell_wall_s: 1.5,
            meta: RunMetadata {
                git_dirty: true,
                cpu_backend: "gemm".into(),
                ..meta()
            },
        }
    }

    #[test]
    fn every_column_of_a_full_row_is_stored_filled_and_read_back() {
        let dir = std::env::temp_dir().join(format!("benchplan-schema-{}", std::process::id()));
        let path = dir.join("cells.parquet");
        let full = full_row();
        let blank = CellRecord::blank();
        // The full row's value of each stored column differs from the blank one, so a column
        // that is written but not read back leaves a difference below.
        for c in schema::COLUMNS {
            let mut probe = blank.clone();
            match c.field {
                Field::Str(get, set) => set(&mut probe, get(&full).to_owned()),
                Field::OptStr(get, set) => set(&mut probe, get(&full).map(str::to_owned)),
                Field::Status => probe.status = full.status,
                Field::Bool(get, set) => set(&mut probe, get(&full)),
                Field::F64(get, set) => set(&mut probe, get(&full)),
                Field::OptF64(get, set) => set(&mut probe, get(&full)),
                Field::OptU64(get, set) => set(&mut probe, get(&full)),
                Field::U32(get, set) => set(&mut probe, get(&full)),
                Field::Samples(get, set) => set(&mut probe, get(&full).to_vec()),
                Field::Counts(get, set) => set(&mut probe, get(&full).to_vec()),
                Field::Derived(_) | Field::DerivedCount(_) | Field::DerivedBool(_) => continue,
            }
            assert_ne!(
                format!("{probe:?}"),
                format!("{blank:?}"),
                "`{}`: the full row's value is the blank one",
                c.name
            );
        }
        write_atomic(&path, std::slice::from_ref(&full)).unwrap();
        assert_eq!(read(&path).unwrap(), vec![full]);
        assert_eq!(format_version(&path).unwrap(), FORMAT_VERSION);
        // Every fixed column is in the file and filled (derived figures included); nothing
        // else is, but the parameter and stage families.
        let df = ParquetReader::new(File::open(&path).unwrap())
            .finish()
            .unwrap();
        for c in schema::COLUMNS {
            let column = df
                .column(c.name)
                .unwrap_or_else(|_| panic!("`{}` is not written", c.name));
            assert_eq!(
                column.null_count(),
                0,
                "`{}` is null for a full row",
                c.name
            );
        }
        for name in df.get_column_names() {
            let name = name.as_str();
            assert!(
                schema::COLUMNS.iter().any(|c| c.name == name)
                    || name.starts_with(PARAM_PREFIX)
                    || (name.starts_with(STAGE_PREFIX) && name.ends_with(STAGE_SUFFIX)),
                "`{name}` is written but not in the schema"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Sets written before the format version was stored (version 1) still read: every
    /// committed set under `results/`.
    #[test]
    fn committed_sets_of_earlier_formats_still_read() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        let sets = crate::results::catalog::find_sets(&root, "").unwrap();
        assert!(!sets.is_empty());
        for set in sets {
            assert!(format_version(&set.cells).unwrap() <= FORMAT_VERSION);
            assert!(!set.read().unwrap().is_empty(), "{}", set.cells.display());
        }
    }

    #[test]
    fn a_file_from_a_newer_format_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("benchplan-newer-{}", std::process::id()));
        let path = dir.join("cells.parquet");
        std::fs::create_dir_all(&dir).unwrap();
        let mut df = to_dataframe(&[record("a", &[], vec![1.0])]).unwrap();
        let newer = KeyValueMetadata::from_static(vec![(
            FORMAT_KEY.to_owned(),
            (FORMAT_VERSION + 1).to_string(),
        )]);
        ParquetWriter::new(File::create(&path).unwrap())
            .with_key_value_metadata(Some(newer))
            .finish(&mut df)
            .unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(
            err.contains("newer than this benchplan reads") && err.contains("cells.parquet"),
            "{err}"
        );
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
