//! The plan exactly as the TOML file spells it: serde shapes only, no defaults, no checks.
//!
//! Every struct denies unknown keys (a misspelled `warmup` silently ignored would corrupt a
//! study) and wraps user values in `toml::Spanned`, so that the validation pass can point at
//! the line and column of whatever it rejects. No `flatten` and no `untagged`: both lose spans.
//!
//! The same types generate the plan's JSON Schema (`benchplan schema`, [`super::schema`]): each
//! field's doc comment is its description, `schemars(with)` says what a spanned value holds.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::Deserialize as DeriveDeserialize;
use toml::Spanned;

use super::schema::{MeasuresName, ModelKindName, NamedTable, Positive, WorkloadName};

use super::measure::RawMeasure;
use super::value::ParamValue;

/// A benchplan plan: a study of ML workloads, expanded into a matrix of cells.
#[derive(Debug, DeriveDeserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "benchplan plan")]
pub struct RawPlan {
    /// Plan format version; only `1` exists.
    #[schemars(with = "i64", extend("const" = 1))]
    pub version: Spanned<i64>,
    /// Study name: names the results folder (`results/<name>/`) and every result row. Letters,
    /// digits, `-`, `_` and `.`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// What the study asks; shown at the top of its report.
    #[serde(default)]
    pub description: Option<String>,
    /// Measurement defaults for every experiment (an experiment's `measure`, then a matrix
    /// parameter of the same name, override them key by key).
    #[serde(default)]
    pub measure: Option<RawMeasure>,
    /// Models by name (`[models.NAME]`), with their architecture parameters; cells name them in a
    /// `model` axis.
    #[serde(default, deserialize_with = "ordered_table")]
    #[schemars(with = "NamedTable<RawModel>")]
    pub models: Vec<(Spanned<String>, Spanned<RawModel>)>,
    /// Data sources by name (`[sources.NAME]`): one column of one CSV file.
    #[serde(default, deserialize_with = "ordered_table")]
    #[schemars(with = "NamedTable<RawSource>")]
    pub sources: Vec<(Spanned<String>, Spanned<RawSource>)>,
    /// Datasets by name (`[datasets.NAME]`): windows over sources; cells name them in a `data`
    /// or `dataset` axis.
    #[serde(default, deserialize_with = "ordered_table")]
    #[schemars(with = "NamedTable<RawDataset>")]
    pub datasets: Vec<(Spanned<String>, Spanned<RawDataset>)>,
    /// Facts about devices, by device name (`[devices.cuda]`): their price per hour.
    #[serde(default, deserialize_with = "ordered_table")]
    #[schemars(with = "NamedTable<RawDevice>")]
    pub devices: Vec<(Spanned<String>, Spanned<RawDevice>)>,
    /// The experiments (`[[experiments]]`): each a workload and the matrix of its parameters.
    #[serde(default)]
    pub experiments: Vec<RawExperiment>,
    /// Claims a write-up makes (`[[claims]]`), each tied to the cells that test it: the report
    /// says whether each holds on the machine that ran them.
    #[serde(default)]
    pub claims: Vec<RawClaim>,
}

/// `[[claims]]`: what a write-up says, and the cells that test it.
#[derive(Debug, DeriveDeserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClaim {
    /// A short name, unique in the plan.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The claim's words, as its source says them.
    pub says: String,
    /// Where it is said: a citation or a link.
    #[serde(default)]
    pub source: Option<String>,
    /// The figure the claim states, in `unit`.
    #[schemars(with = "f64")]
    pub value: Spanned<f64>,
    /// The figure's unit, one of those `of` allows: for times `s`, `ms`, `us` (per iteration
    /// or stage), `samples/s`, or `x` (a speed-up of `cells` over `over`); for memory `B`,
    /// `KB`, `MB`, `GB` (binary: 1 MB = 2^20 bytes), `x` (a size ratio) or `%` (a change,
    /// e.g. -75); for energy `J` (per sample), `samples/J`, `W` (average power) or `x` (samples per joule of
    /// `cells` over `over`); for `cpu`, `%` of one core.
    #[schemars(with = "String")]
    pub unit: Spanned<String>,
    /// What the figure is of: `time` (default: the time per iteration), a pipeline stage
    /// (`load`, `transfer`, `forward`, `backward`, `optimizer`), a memory figure (`weights`,
    /// `optimizer-state`, `activations`, `peak-memory`, `device-memory`), `energy`, or `cpu`
    /// (the cores an iteration keeps busy).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub of: Option<Spanned<String>>,
    /// The hardware the claim was measured on, as part of a device's name (`Apple M4`,
    /// `A100`). Where the tested cells ran on other hardware, the claim is not measurable
    /// here and its cells are reported as the closest comparison.
    #[serde(default)]
    pub hardware: Option<String>,
    /// Why this plan cannot measure what the claim states (a model or a tool it does not
    /// have); its cells are then the closest comparison, never a verdict.
    #[serde(default)]
    pub not_measured: Option<String>,
    /// The cells that test the claim, as `--filter` selects them: keys are parameters,
    /// `experiment`, `workload` or `id`; a value or a list of accepted values. Only a claim
    /// with `not_measured` may go without (its unit is then not checked either).
    #[serde(default)]
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    pub cells: Option<Spanned<toml::Table>>,
    /// For a speed-up (`unit = "x"`): the cells the claim says `cells` are faster than.
    #[serde(default)]
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    pub over: Option<Spanned<toml::Table>>,
    /// How far the measured figure may be from the claimed one, as a fraction, for the claim
    /// to hold. Default 0.25.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub tolerance: Option<Spanned<f64>>,
}

/// A model declaration. One struct for every kind, so that keys keep their spans; the
/// validation pass checks that a kind's required keys are present and foreign ones absent.
#[derive(Debug, DeriveDeserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// The architecture: `mlp`, `lstm` or `transformer`; it says which other keys apply.
    #[schemars(with = "ModelKindName")]
    pub kind: Spanned<String>,
    /// mlp: input features.
    #[schemars(with = "Option<Positive>")]
    pub inputs: Option<Spanned<i64>>,
    /// mlp: the width of each hidden layer, in order (e.g. `[64, 32]`).
    #[schemars(with = "Option<Vec<Positive>>")]
    pub hidden: Option<Spanned<Vec<Spanned<i64>>>>,
    /// lstm and transformer: features per time step.
    #[schemars(with = "Option<Positive>")]
    pub features: Option<Spanned<i64>>,
    /// lstm: the hidden state's size.
    #[schemars(with = "Option<Positive>")]
    pub hidden_size: Option<Spanned<i64>>,
    /// lstm and transformer: stacked layers.
    #[schemars(with = "Option<Positive>")]
    pub layers: Option<Spanned<i64>>,
    /// lstm and transformer: time steps per sample.
    #[schemars(with = "Option<Positive>")]
    pub seq_len: Option<Spanned<i64>>,
    /// transformer: the model width (a multiple of `heads`).
    #[schemars(with = "Option<Positive>")]
    pub d_model: Option<Spanned<i64>>,
    /// transformer: attention heads.
    #[schemars(with = "Option<Positive>")]
    pub heads: Option<Spanned<i64>>,
    /// transformer: the feed-forward layer's width.
    #[schemars(with = "Option<Positive>")]
    pub ff: Option<Spanned<i64>>,
    /// Every kind: outputs per sample.
    #[schemars(with = "Option<Positive>")]
    pub outputs: Option<Spanned<i64>>,
}

/// `[sources.NAME]`: a value column of a CSV file, with its date column.
#[derive(Debug, DeriveDeserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// Path of the CSV file, relative to the plan's folder.
    #[schemars(with = "String")]
    pub file: Spanned<String>,
    /// Column holding ISO dates (`YYYY-MM-DD`).
    #[schemars(with = "String")]
    pub date: Spanned<String>,
    /// Column holding the values.
    #[schemars(with = "String")]
    pub column: Spanned<String>,
}

/// `[devices.NAME]`: what a device costs, for the report's cost per million samples.
#[derive(Debug, DeriveDeserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    /// Price of an hour of this device (any currency; the report shows the same unit).
    #[schemars(with = "Option<f64>", range(min = 0.0))]
    pub price_per_hour: Option<Spanned<f64>>,
    /// Price of a kilowatt-hour of electricity where this device runs: the report gives the
    /// energy cost of a million samples from the measured joules per sample.
    #[schemars(with = "Option<f64>", range(min = 0.0))]
    pub price_per_kwh: Option<Spanned<f64>>,
}

/// `[datasets.NAME]`: windows over aligned sources.
#[derive(Debug, DeriveDeserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDataset {
    /// Feature expressions: source names or functions of them (e.g. `"log_return(brent)"`).
    #[schemars(with = "Vec<String>")]
    pub features: Spanned<Vec<Spanned<String>>>,
    /// The series each window's `horizon` next values are taken from.
    #[schemars(with = "String")]
    pub target: Spanned<String>,
    /// Time steps per window.
    #[schemars(with = "Positive")]
    pub seq_len: Spanned<i64>,
    /// Values to predict after each window.
    #[schemars(with = "Positive")]
    pub horizon: Spanned<i64>,
    /// Fraction of rows, the latest, held out for validation.
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 1.0), extend("default" = 0.2))]
    pub validation: Option<Spanned<f64>>,
}

/// One experiment: a workload and the matrix of its parameters.
#[derive(Debug, DeriveDeserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    /// The experiment's name, unique in the plan; part of every cell's id.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// What each cell runs; it decides which matrix parameters exist.
    #[schemars(with = "WorkloadName")]
    pub workload: Spanned<String>,
    /// What the experiment shows; used in reports.
    #[serde(default)]
    pub description: Option<String>,
    /// Measurement settings of this experiment's cells, over the plan's `[measure]`.
    #[serde(default)]
    pub measure: Option<RawMeasure>,
    /// Smallest relative change `benchplan diff` counts for this experiment (0.05 = 5%; default:
    /// diff's `--threshold`, 5%).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 10.0))]
    pub diff_threshold: Option<Spanned<f64>>,
    /// `command` workload: the program and its arguments, with `{param}` placeholders for
    /// matrix parameters (`{{` for a literal brace). Never run through a shell.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub command: Option<Spanned<Vec<Spanned<String>>>>,
    /// `command` workload: what the program measures, so that the report sets its cells beside
    /// benchplan's own in that section, labelled with the program's framework: `train`,
    /// `infer`, `matmul` or `dataload`. Without it, a `command` experiment that names (or is
    /// named by) another experiment in `compare_with` takes that one's workload; otherwise its
    /// cells appear under "Other measurements".
    #[serde(default)]
    #[schemars(with = "Option<MeasuresName>")]
    pub measures: Option<Spanned<String>>,
    /// Another experiment whose cells the report sets beside this one's, matched by the
    /// parameters both share, with the ratio of their medians (this one over that one).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub compare_with: Option<Spanned<String>>,
    /// The parameters: each key an axis with its list of values; the cells are their cartesian
    /// product, minus `exclude`, plus `include`, with `zip` groups varying together.
    #[schemars(with = "RawMatrix")]
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
