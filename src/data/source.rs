//! Sources: one value column of one CSV file, with its date column, read through polars.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use polars::prelude::{CsvReadOptions, DataFrame, DataType, SerReader};

/// A declared source: `[sources.NAME]` with `file`, `date` and `column`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    pub name: String,
    /// The file as written in the plan (relative to the plan's folder).
    pub file: String,
    /// The file resolved against the plan's folder.
    pub path: PathBuf,
    pub date: String,
    pub column: String,
}

impl SourceSpec {
    pub fn new(name: &str, file: &str, date: &str, column: &str, plan_dir: &Path) -> SourceSpec {
        SourceSpec {
            name: name.to_owned(),
            file: file.to_owned(),
            path: plan_dir.join(file),
            date: date.to_owned(),
            column: column.to_owned(),
        }
    }

    /// Reads the source as a two-column frame `date` (string, ISO dates sort as text) and
    /// `<name>` (f64), rows with a missing value dropped. Errors name the file and column.
    pub fn read(&self) -> Result<DataFrame> {
        let file = self.path.display();
        let df = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(100_000))
            .try_into_reader_with_file_path(Some(self.path.clone()))
            .and_then(|r| r.finish())
            .with_context(|| format!("cannot read source `{}` from `{file}`", self.name))?;
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        for wanted in [&self.date, &self.column] {
            if !names.contains(wanted) {
                bail!(
                    "source `{}`: file `{file}` has no column `{wanted}`; its columns are: {}",
                    self.name,
                    names
                        .iter()
                        .take(12)
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                        + if names.len() > 12 { ", …" } else { "" }
                );
            }
        }
        let date = df
            .column(&self.date)?
            .cast(&DataType::String)?
            .with_name("date".into());
        let value = df
            .column(&self.column)?
            .cast(&DataType::Float64)
            .with_context(|| {
                format!(
                    "source `{}`: column `{}` of `{file}` is not numeric",
                    self.name, self.column
                )
            })?
            .with_name(self.name.as_str().into());
        let out = DataFrame::new(df.height(), vec![date, value])?.drop_nulls::<String>(None)?;
        if out.height() == 0 {
            bail!(
                "source `{}`: column `{}` of `{file}` has no values",
                self.name,
                self.column
            );
        }
        Ok(out)
    }
}
