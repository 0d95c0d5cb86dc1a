//! A report table a reader can tell apart row by row: every row is identified by its keys
//! (experiment, framework and every parameter of its cell), a key that varies between rows is
//! a column, and a key that does not is said once above the table instead of repeated.
//!
//! Because every parameter is a key, two rows can only share every visible key if they are the
//! same cell: the duplicate rows of earlier reports (one configuration measured by three
//! experiments, with no experiment column) cannot be built. [`Table::duplicate_keys`] says so
//! for a test over every committed set.

use serde::Serialize;

/// One column of a table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Column {
    pub name: String,
    /// Markdown alignment of the column (`---` or `---:`).
    pub align: &'static str,
    /// Whether the column identifies the row (a key) rather than holding a figure.
    pub key: bool,
}

/// A table ready to render: constants, columns and formatted cells.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Table {
    /// Keys equal in every row, said once above the table: `model mlp-small`, `device cpu`.
    pub constants: Vec<String>,
    pub columns: Vec<Column>,
    /// The rows' cells, in column order.
    pub rows: Vec<Vec<String>>,
}

/// A row before the table decides which of its keys to show.
#[derive(Debug, Clone)]
pub struct KeyedRow {
    /// Name and value of every key, in the section's order.
    pub keys: Vec<(String, String)>,
    /// The formatted figures, one per value column.
    pub values: Vec<String>,
}

/// A figure column: its header and whether it is numeric (right-aligned).
pub struct ValueColumn {
    pub name: String,
    pub numeric: bool,
}

impl ValueColumn {
    pub fn text(name: &str) -> ValueColumn {
        ValueColumn {
            name: name.to_owned(),
            numeric: false,
        }
    }

    pub fn number(name: &str) -> ValueColumn {
        ValueColumn {
            name: name.to_owned(),
            numeric: true,
        }
    }
}

/// Keys said only where they vary: a report of one run does not repeat its commit above
/// every table (the header names it).
pub const HIDDEN_WHEN_CONSTANT: &[&str] = &["commit"];

/// What a row lacks a key for.
pub const ABSENT: &str = "–";

impl Table {
    /// Builds the table of `rows`: key columns in first-seen order, those with one value in
    /// every row moved above the table; then the figure columns. `None` without rows.
    pub fn build(rows: Vec<KeyedRow>, values: Vec<ValueColumn>) -> Option<Table> {
        if rows.is_empty() {
            return None;
        }
        let mut names: Vec<String> = Vec::new();
        for row in &rows {
            for (k, _) in &row.keys {
                if !names.contains(k) {
                    names.push(k.clone());
                }
            }
        }
        let value_of = |row: &KeyedRow, name: &str| -> String {
            row.keys
                .iter()
                .find(|(k, _)| k == name)
                .map_or_else(|| ABSENT.to_owned(), |(_, v)| v.clone())
        };
        let mut constants = Vec::new();
        let mut shown: Vec<String> = Vec::new();
        // Keys some rows lack but the others share one value of (`dtype f32` where a program
        // does not say): said once, "where set", unless hiding them makes two rows alike.
        let mut partial: Vec<(String, String)> = Vec::new();
        for name in names {
            let values: Vec<String> = rows.iter().map(|r| value_of(r, &name)).collect();
            let mut present: Vec<&String> = values.iter().filter(|v| *v != ABSENT).collect();
            present.dedup();
            if values.iter().all(|v| *v == values[0]) {
                if values[0] != ABSENT && !HIDDEN_WHEN_CONSTANT.contains(&name.as_str()) {
                    constants.push(format!("{name} {}", code_if_word(&name, &values[0])));
                }
            } else if present.len() == 1 {
                partial.push((name, present[0].clone()));
            } else {
                shown.push(name);
            }
        }
        let visible = |shown: &[String]| -> Vec<Vec<String>> {
            rows.iter()
                .map(|r| shown.iter().map(|k| value_of(r, k)).collect())
                .collect()
        };
        let keys = visible(&shown);
        let alike = keys.iter().enumerate().any(|(i, k)| keys[..i].contains(k));
        if alike {
            shown.extend(partial.into_iter().map(|(name, _)| name));
        } else {
            for (name, value) in partial {
                constants.push(format!(
                    "{name} {} (where set)",
                    code_if_word(&name, &value)
                ));
            }
        }
        let mut columns: Vec<Column> = shown
            .iter()
            .map(|name| {
                let numeric = rows.iter().all(|r| {
                    let v = value_of(r, name);
                    v == ABSENT || v.parse::<f64>().is_ok()
                });
                Column {
                    name: name.clone(),
                    align: if numeric { "---:" } else { "---" },
                    key: true,
                }
            })
            .collect();
        columns.extend(values.iter().map(|v| Column {
            name: v.name.clone(),
            align: if v.numeric { "---:" } else { "---" },
            key: false,
        }));
        let cells = rows
            .iter()
            .map(|r| {
                let mut cells: Vec<String> = shown.iter().map(|k| value_of(r, k)).collect();
                cells.extend(r.values.iter().map(|v| escape(v)));
                cells
            })
            .collect();
        Some(Table {
            constants,
            columns,
            rows: cells,
        })
    }

    /// The visible keys shared by two rows or more: empty for a table a reader can read.
    pub fn duplicate_keys(&self) -> Vec<Vec<String>> {
        let keys: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                self.columns
                    .iter()
                    .zip(r)
                    .filter(|(c, _)| c.key)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .collect();
        let mut dup = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].contains(k) && !dup.contains(k) {
                dup.push(k.clone());
            }
        }
        dup
    }
}

/// Names (models, experiments, frameworks) in code style, numbers as they are.
fn code_if_word(name: &str, value: &str) -> String {
    if value.parse::<f64>().is_ok() || name == "framework" {
        value.to_owned()
    } else {
        format!("`{value}`")
    }
}

/// A cell's text made safe for a Markdown table: no pipe ends a cell, no newline a row.
fn escape(v: &str) -> String {
    v.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(keys: &[(&str, &str)], value: &str) -> KeyedRow {
        KeyedRow {
            keys: keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            values: vec![value.to_owned()],
        }
    }

    #[test]
    fn varying_keys_are_columns_and_the_rest_is_said_once() {
        let t = Table::build(
            vec![
                row(
                    &[("experiment", "infer"), ("model", "mlp"), ("batch", "1")],
                    "1 ms",
                ),
                row(
                    &[("experiment", "quant"), ("model", "mlp"), ("batch", "1")],
                    "2 ms",
                ),
                row(
                    &[("experiment", "infer"), ("model", "mlp"), ("batch", "8")],
                    "3 ms",
                ),
            ],
            vec![ValueColumn::text("latency")],
        )
        .unwrap();
        assert_eq!(t.constants, vec!["model `mlp`"]);
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["experiment", "batch", "latency"]);
        assert_eq!(t.columns[1].align, "---:", "a numeric key is right-aligned");
        assert_eq!(t.rows[1], ["quant", "1", "2 ms"]);
        assert!(t.duplicate_keys().is_empty());
    }

    #[test]
    fn a_key_only_some_rows_have_is_said_once_unless_rows_would_look_alike() {
        let t = Table::build(
            vec![
                row(
                    &[("experiment", "a"), ("model", "mlp"), ("seed", "1")],
                    "x|y",
                ),
                row(&[("experiment", "b"), ("model", "mlp")], "z"),
            ],
            vec![ValueColumn::text("x")],
        )
        .unwrap();
        assert_eq!(t.constants, vec!["model `mlp`", "seed 1 (where set)"]);
        assert_eq!(t.rows[0], ["a", "x\\|y"], "a pipe in a figure is escaped");
        // Hidden, the key would leave two rows alike: it stays a column, `–` where absent.
        let t = Table::build(
            vec![
                row(&[("model", "mlp"), ("seed", "1")], "a"),
                row(&[("model", "mlp")], "c"),
            ],
            vec![ValueColumn::text("x")],
        )
        .unwrap();
        assert_eq!(t.rows[1][0], ABSENT);
        assert!(t.duplicate_keys().is_empty());
        let mut dup = t.clone();
        dup.rows[1][0] = "1".into();
        assert_eq!(dup.duplicate_keys(), vec![vec!["1".to_owned()]]);
        assert!(Table::build(Vec::new(), Vec::new()).is_none());
    }
}
