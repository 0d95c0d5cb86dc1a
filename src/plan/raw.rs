//! The plan exactly as the TOML file spells it: serde shapes only, no defaults, no checks.
//!
//! Every struct denies unknown keys (a misspelled `warmup` silently ignored would corrupt a
//! study) and wraps user values in `toml::Spanned`, so that the validation pass can point at
//! the line and column of whatever it rejects. No `flatten` and no `untagged`: both lose spans.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::Deserialize as DeriveDeserialize;
use toml::Spanned;

use super::measure::RawMeasure;
use super::value::ParamValue;

/// The whole plan file.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// Plan format version; only `1` exists.
    pub version: Spanned<i64>,
    /// Study name: names the results folder and every result row.
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Measurement defaults for every experiment.
    #[serde(default)]
    pub measure: Option<RawMeasure>,
    /// Models by name, with their architecture parameters.
    #[serde(default, deserialize_with = "ordered_table")]
    pub models: Vec<(Spanned<String>, Spanned<RawModel>)>,
    /// Data sources by name: one column of one CSV file.
    #[serde(default, deserialize_with = "ordered_table")]
    pub sources: Vec<(Spanned<String>, Spanned<RawSource>)>,
    /// Datasets by name, built from sources.
    #[serde(default, deserialize_with = "ordered_table")]
    pub datasets: Vec<(Spanned<String>, Spanned<RawDataset>)>,
    /// Facts about devices, by device name (`cpu`, `cuda`, `metal`): their price.
    #[serde(default, deserialize_with = "ordered_table")]
    pub devices: Vec<(Spanned<String>, Spanned<RawDevice>)>,
    #[serde(default)]
    pub experiments: Vec<RawExperiment>,
}

/// A model declaration. One struct for every kind, so that keys keep their spans; the
/// validation pass checks that a kind's required keys are present and foreign ones absent.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub kind: Spanned<String>,
    // mlp
    pub inputs: Option<Spanned<i64>>,
    pub hidden: Option<Spanned<Vec<Spanned<i64>>>>,
    // lstm and transformer
    pub features: Option<Spanned<i64>>,
    pub hidden_size: Option<Spanned<i64>>,
    pub layers: Option<Spanned<i64>>,
    pub seq_len: Option<Spanned<i64>>,
    // transformer
    pub d_model: Option<Spanned<i64>>,
    pub heads: Option<Spanned<i64>>,
    pub ff: Option<Spanned<i64>>,
    // all
    pub outputs: Option<Spanned<i64>>,
}

/// `[sources.NAME]`: a value column of a CSV file, with its date column.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// Path of the CSV file, relative to the plan's folder.
    pub file: Spanned<String>,
    /// Column holding ISO dates (`YYYY-MM-DD`).
    pub date: Spanned<String>,
    /// Column holding the values.
    pub column: Spanned<String>,
}

/// `[devices.NAME]`: what a device costs, for the report's cost per million samples.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    /// Price of an hour of this device (any currency; the report shows the same unit).
    pub price_per_hour: Spanned<f64>,
}

/// `[datasets.NAME]`: windows over aligned sources.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDataset {
    /// Feature expressions: source names or functions of them.
    pub features: Spanned<Vec<Spanned<String>>>,
    /// The series each window's `horizon` next values are taken from.
    pub target: Spanned<String>,
    pub seq_len: Spanned<i64>,
    pub horizon: Spanned<i64>,
    /// Fraction of rows, the latest, held out for validation (default 0.2).
    pub validation: Option<Spanned<f64>>,
}

/// One experiment: a workload and the matrix of its parameters.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    pub name: Spanned<String>,
    pub workload: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub measure: Option<RawMeasure>,
    /// Smallest relative change `benchplan diff` counts for this experiment (0.05 = 5%).
    #[serde(default)]
    pub diff_threshold: Option<Spanned<f64>>,
    /// `command` workload: the program and its arguments, with `{param}` placeholders.
    #[serde(default)]
    pub command: Option<Spanned<Vec<Spanned<String>>>>,
    /// Another experiment whose cells the report sets beside this one's, matched by the
    /// parameters both share, with the ratio of their medians (this one over that one).
    #[serde(default)]
    pub compare_with: Option<Spanned<String>>,
    pub matrix: Spanned<RawMatrix>,
}

/// One axis (or zipped parameter): its name and its values.
pub type RawAxis = (Spanned<String>, Spanned<Vec<Spanned<ParamValue>>>);

/// One `key = value` of an include or exclude entry.
pub type RawEntry = Vec<(Spanned<String>, Spanned<ParamValue>)>;

/// The matrix table: axes by name, plus the reserved keys `include`, `exclude` and `zip`
/// (the same reserved keys as a GitHub Actions matrix, plus `zip`).
#[derive(Debug, Default)]
pub struct RawMatrix {
    /// Axes in file order: name and values.
    pub axes: Vec<RawAxis>,
    pub include: Vec<Spanned<RawEntry>>,
    pub exclude: Vec<Spanned<RawEntry>>,
    /// Groups of parameters that vary together: each key holds a list, all of one length.
    pub zip: Vec<Spanned<Vec<RawAxis>>>,
}

/// A table deserialized as an ordered list of pairs, so that file order (which sets the order
/// of axes and of cells) survives.
struct Ordered<K, V>(Vec<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Ordered<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<K, V> {
            type Value = Ordered<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(key) = map.next_key()? {
                    pairs.push((key, map.next_value()?));
                }
                Ok(Ordered(pairs))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

/// `models` keeps file order too; serde's derive cannot, so route it through [`Ordered`].
pub(crate) fn ordered_table<'de, D, K, V>(deserializer: D) -> Result<Vec<(K, V)>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de>,
    V: Deserialize<'de>,
{
    Ordered::deserialize(deserializer).map(|o| o.0)
}

impl<'de> Deserialize<'de> for RawMatrix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MatrixVisitor;
        impl<'de> Visitor<'de> for MatrixVisitor {
            type Value = RawMatrix;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of axes, e.g. `batch = [1, 32]`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMatrix, A::Error> {
                let mut matrix = RawMatrix::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.get_ref().as_str() {
                        "include" | "exclude" => {
                            let entries: Vec<
                                Spanned<Ordered<Spanned<String>, Spanned<ParamValue>>>,
                            > = map.next_value()?;
                            let entries = entries
                                .into_iter()
                                .map(|e| {
                                    let span = e.span();
                                    Spanned::new(span, e.into_inner().0)
                                })
                                .collect();
                            if key.get_ref() == "include" {
                                matrix.include = entries;
                            } else {
                                matrix.exclude = entries;
                            }
                        }
                        "zip" => {
                            let groups: Vec<Spanned<ZipGroup>> = map.next_value()?;
                            matrix.zip = groups
                                .into_iter()
                                .map(|g| {
                                    let span = g.span();
                                    Spanned::new(span, g.into_inner().0)
                                })
                                .collect();
                        }
                        _ => {
                            let values: Spanned<AxisValues> = map.next_value()?;
                            let span = values.span();
                            matrix
                                .axes
                                .push((key, Spanned::new(span, values.into_inner().0)));
                        }
                    }
                }
                Ok(matrix)
            }
        }
        deserializer.deserialize_map(MatrixVisitor)
    }
}

/// The values of one axis. Only an array is accepted: a lone value is a likely slip for a
/// one-element axis, and the message says how to write it.
struct AxisValues(Vec<Spanned<ParamValue>>);

impl<'de> Deserialize<'de> for AxisValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AxisVisitor;
        impl<'de> Visitor<'de> for AxisVisitor {
            type Value = AxisValues;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of values, e.g. `[1, 32]` (write a single value as `[32]`)")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<AxisValues, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element()? {
                    values.push(v);
                }
                Ok(AxisValues(values))
            }
        }
        deserializer.deserialize_seq(AxisVisitor)
    }
}

/// One zip group: parameter name → its list of values.
struct ZipGroup(Vec<RawAxis>);

impl<'de> Deserialize<'de> for ZipGroup {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs: Ordered<Spanned<String>, Spanned<AxisValues>> =
            Ordered::deserialize(deserializer)?;
        Ok(ZipGroup(
            pairs
                .0
                .into_iter()
                .map(|(k, v)| {
                    let span = v.span();
                    (k, Spanned::new(span, v.into_inner().0))
                })
                .collect(),
        ))
    }
}
