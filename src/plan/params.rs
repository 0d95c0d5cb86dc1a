//! The catalogue of workloads and the parameters each one takes: names, types, defaults and
//! the checks a value must pass. The matrix may only use parameters listed here.

use std::fmt;

use super::measure::check_measure_value;
use super::value::ParamValue;
use crate::device::DeviceSpec;

/// The kinds of benchmark a plan can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    /// C = A·B for square n×n matrices (docs/src/canonical-workloads.md §1).
    Matmul,
    /// One training step: forward, MSE, backward, AdamW (§3).
    Train,
    /// One forward pass without gradient tracking (§4).
    Infer,
    /// One batch from the multi-threaded loader (§7).
    Dataload,
    /// One end-to-end training iteration, timed per stage (§8).
    Pipeline,
    /// An external program that times its own iterations and reports them on stdout
    /// (runs PyTorch, CoreML, or anything else beside candle in the same study).
    Command,
    /// An empty iteration: what timing itself costs, the runner's floor.
    Noop,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 7] = [
        WorkloadKind::Matmul,
        WorkloadKind::Train,
        WorkloadKind::Infer,
        WorkloadKind::Dataload,
        WorkloadKind::Pipeline,
        WorkloadKind::Command,
        WorkloadKind::Noop,
    ];

    pub fn parse(name: &str) -> Option<WorkloadKind> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Matmul => "matmul",
            WorkloadKind::Train => "train",
            WorkloadKind::Infer => "infer",
            WorkloadKind::Dataload => "dataload",
            WorkloadKind::Pipeline => "pipeline",
            WorkloadKind::Command => "command",
            WorkloadKind::Noop => "noop",
        }
    }

    /// The parameters of this workload, in the order cells are displayed: its own, then the
    /// measurement settings every workload takes.
    pub fn params(self) -> impl Iterator<Item = &'static ParamDef> + Clone {
        self.own_params().iter().chain(MEASURE.iter())
    }

    /// The parameters that are this workload's own (not the measurement settings).
    fn own_params(self) -> &'static [ParamDef] {
        match self {
            WorkloadKind::Matmul => MATMUL,
            WorkloadKind::Train => TRAIN,
            WorkloadKind::Infer => INFER,
            WorkloadKind::Dataload => DATALOAD,
            WorkloadKind::Pipeline => PIPELINE,
            WorkloadKind::Command => COMMAND,
            WorkloadKind::Noop => NOOP,
        }
    }

    /// The parameter `name`: one of [`params`](Self::params), or, for a `command`, any other
    /// name (its values are handed to the program, which defines what they mean).
    pub fn param(self, name: &str) -> Option<&'static ParamDef> {
        self.params()
            .find(|p| p.name == name)
            .or_else(|| (self.takes_free_params() && is_free_name(name)).then_some(&FREE))
    }

    /// Whether the matrix may hold parameters the workload does not define.
    pub fn takes_free_params(self) -> bool {
        self == WorkloadKind::Command
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What values a parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// A whole number in `1..=max`.
    PositiveInt { max: i64 },
    /// A whole number ≥ 0 (seeds).
    Seed,
    /// `f32`, `bf16` or `f16`.
    Dtype,
    /// `cpu`, `cuda`, `cuda:N`, `metal`, `metal:N`.
    Device,
    /// A device name, spelled as for `Device`, whether or not this build supports it.
    DeviceName,
    /// The name of a model declared in the plan.
    Model,
    /// `random`, or the name of a dataset declared in the plan.
    Data,
    /// The name of a dataset declared in the plan.
    Dataset,
    /// A whole number in `0..=max`.
    Count { max: i64 },
    /// A float ≥ 0.
    NonNegative,
    /// `true` or `false`.
    Bool,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
    /// A measurement setting (not part of a cell's identity).
    Measure,
    /// Any string, whole number, float or boolean: a parameter of an external program.
    Free,
}

/// A parameter's default when the matrix does not set it.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    /// The matrix must set it.
    Required,
    Int(i64),
    Str(&'static str),
    Float(f64),
    Bool(bool),
    /// Taken from the measurement settings; not stored as a parameter.
    FromSettings,
}

/// Names declared in the plan that parameter values may refer to.
#[derive(Debug, Default, Clone, Copy)]
pub struct Names<'a> {
    pub models: &'a [&'a str],
    pub datasets: &'a [&'a str],
    /// Accept devices this build lacks (`run --skip-unavailable` records their cells as skipped).
    pub lenient_devices: bool,
}

fn name_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One parameter a workload takes.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: DefaultValue,
    pub help: &'static str,
}

impl ParamDef {
    /// Whether the parameter is part of the cell's identity. Measurement settings are not:
    /// taking more samples of the same cell must not make it a different cell.
    pub fn is_identity(&self) -> bool {
        self.kind != ParamKind::Measure
    }

    pub fn default_value(&self) -> Option<ParamValue> {
        match self.default {
            DefaultValue::Int(i) => Some(ParamValue::Int(i)),
            DefaultValue::Str(s) => Some(ParamValue::Str(s.to_owned())),
            DefaultValue::Float(x) => Some(ParamValue::Float(x)),
            DefaultValue::Bool(b) => Some(ParamValue::Bool(b)),
            DefaultValue::Required | DefaultValue::FromSettings => None,
        }
    }

    /// Checks one value against the names the plan declares.
    /// `Err` holds the problem and, after a `\n`, what to do about it.
    pub fn check(&self, value: &ParamValue, names: Names) -> Result<(), String> {
        let models = names.models;
        let name = self.name;
        match self.kind {
            ParamKind::PositiveInt { max } => match value {
                ParamValue::Int(n) if (1..=max).contains(n) => Ok(()),
                ParamValue::Int(n) => Err(format!(
                    "`{name}` must be between 1 and {max}, not {n}\nuse a positive whole number"
                )),
                other => Err(format!(
                    "`{name}` must be a whole number, not {}\nwrite it without quotes, e.g. `{name} = [32]`",
                    other.type_name()
                )),
            },
            ParamKind::Seed => match value {
                ParamValue::Int(n) if *n >= 0 => Ok(()),
                other => Err(format!(
                    "`{name}` must be a whole number ≥ 0, not {}\nuse e.g. `seed = [0]`",
                    other.to_toml()
                )),
            },
            ParamKind::Dtype => match value.as_str() {
                Some("f32" | "bf16" | "f16") => Ok(()),
                _ => Err(format!(
                    "unknown dtype {}\nuse one of `f32`, `bf16`, `f16`",
                    value.to_toml()
                )),
            },
            ParamKind::Device => {
                let Some(text) = value.as_str() else {
                    return Err(format!(
                        "a device is a string such as `\"cpu\"`, not {}\nuse one of `cpu`, `cuda`, `cuda:N`, `metal`",
                        value.type_name()
                    ));
                };
                let spec = DeviceSpec::parse(text)?;
                if names.lenient_devices {
                    Ok(())
                } else {
                    spec.check_supported_by_build()
                }
            }
            ParamKind::DeviceName => match value.as_str() {
                Some(text) => DeviceSpec::parse(text).map(|_| ()),
                None => Err(format!(
                    "a device is a string such as `\"cpu\"`, not {}\nuse one of `cpu`, `cuda`, `cuda:N`, `metal`",
                    value.type_name()
                )),
            },
            ParamKind::Model => match value.as_str() {
                Some(m) if models.contains(&m) => Ok(()),
                _ => Err(format!(
                    "unknown model {}\n{}",
                    value.to_toml(),
                    if models.is_empty() {
                        "declare it in the plan, e.g. `[models.NAME]` with `kind = \"mlp\"`".to_owned()
                    } else {
                        format!("declare it under `[models.NAME]`, or use one of: {}", name_list(models))
                    }
                )),
            },
            ParamKind::Data | ParamKind::Dataset => match value.as_str() {
                Some("random") if self.kind == ParamKind::Data => Ok(()),
                Some(d) if names.datasets.contains(&d) => Ok(()),
                _ => {
                    let random = if self.kind == ParamKind::Data { "`random`, or " } else { "" };
                    Err(format!(
                        "unknown dataset {}\nuse {random}a dataset declared under `[datasets.NAME]`{}",
                        value.to_toml(),
                        if names.datasets.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", name_list(names.datasets))
                        }
                    ))
                }
            },
            ParamKind::Count { max } => match value {
                ParamValue::Int(n) if (0..=max).contains(n) => Ok(()),
                other => Err(format!(
                    "`{name}` must be a whole number from 0 to {max}, not {}\nuse e.g. `{name} = [0, 2]`",
                    other.to_toml()
                )),
            },
            ParamKind::NonNegative => match value {
                ParamValue::Float(x) if *x >= 0.0 && x.is_finite() => Ok(()),
                other => Err(format!(
                    "`{name}` must be a number ≥ 0 written with a decimal point, not {}\nuse e.g. `{name} = [0.0, 0.01]`",
                    other.to_toml()
                )),
            },
            ParamKind::Bool => match value {
                ParamValue::Bool(_) => Ok(()),
                other => Err(format!("`{name}` must be `true` or `false`, not {}\nwrite it without quotes", other.to_toml())),
            },
            ParamKind::Choice(choices) => match value.as_str() {
                Some(v) if choices.contains(&v) => Ok(()),
                _ => Err(format!(
                    "`{name}` cannot be {}\nuse one of {}",
                    value.to_toml(),
                    name_list(choices)
                )),
            },
            ParamKind::Measure => check_measure_value(name, value),
            ParamKind::Free => match value {
                ParamValue::Str(s) if s.contains('\0') => Err(
                    "this value contains a NUL byte, which no program argument can hold\nremove it"
                        .to_owned(),
                ),
                _ => Ok(()),
            },
        }
    }
}

const DEVICE: ParamDef = ParamDef {
    name: "device",
    kind: ParamKind::Device,
    default: DefaultValue::Str("cpu"),
    help: "where the cell runs: `cpu`, `cuda`, `cuda:N`, `metal`",
};
const DTYPE: ParamDef = ParamDef {
    name: "dtype",
    kind: ParamKind::Dtype,
    default: DefaultValue::Str("f32"),
    help: "element type of weights, inputs and activations",
};
const SEED: ParamDef = ParamDef {
    name: "seed",
    kind: ParamKind::Seed,
    default: DefaultValue::Int(0),
    help: "seed of the random inputs and weights",
};
const MODEL: ParamDef = ParamDef {
    name: "model",
    kind: ParamKind::Model,
    default: DefaultValue::Required,
    help: "a model declared under `[models.NAME]`",
};

macro_rules! measure_param {
    ($name:literal, $help:literal) => {
        ParamDef {
            name: $name,
            kind: ParamKind::Measure,
            default: DefaultValue::FromSettings,
            help: $help,
        }
    };
}

/// The measurement settings, which every workload takes as parameters (so that one axis can
/// vary them) after its own; they are not part of a cell's identity.
const MEASURE: [ParamDef; 8] = [
    measure_param!("warmup", "warm-up: a count or a duration"),
    measure_param!("iterations", "timed iterations: a count or a time budget"),
    measure_param!(
        "min_iterations",
        "least timed iterations under a time budget"
    ),
    measure_param!(
        "max_iterations",
        "most timed iterations under a time budget"
    ),
    measure_param!("timeout", "a cell running longer than this fails"),
    measure_param!(
        "target_ci",
        "add rounds until the 95% interval between rounds is within this fraction of the median"
    ),
    measure_param!(
        "rounds",
        "measure the cell in this many rounds, each in a fresh process, the budget split across them"
    ),
    measure_param!("max_rounds", "with target_ci, the most rounds a cell gets"),
];

const DATA: ParamDef = ParamDef {
    name: "data",
    kind: ParamKind::Data,
    default: DefaultValue::Str("random"),
    help: "inputs: `random` (seeded N(0, 1)), or a dataset declared under `[datasets.NAME]`",
};
const DATASET: ParamDef = ParamDef {
    name: "data",
    kind: ParamKind::Dataset,
    default: DefaultValue::Required,
    help: "a dataset declared under `[datasets.NAME]`",
};
const WORKERS: ParamDef = ParamDef {
    name: "workers",
    kind: ParamKind::Count { max: 256 },
    default: DefaultValue::Int(1),
    help: "loader threads assembling batches; 0 assembles them in the consumer's thread",
};
const PREFETCH: ParamDef = ParamDef {
    name: "prefetch",
    kind: ParamKind::Count { max: 1024 },
    default: DefaultValue::Int(2),
    help: "finished batches the loader's queue holds; 0 for no read-ahead",
};
const SHUFFLE: ParamDef = ParamDef {
    name: "shuffle",
    kind: ParamKind::Bool,
    default: DefaultValue::Bool(true),
    help: "visit windows in a seeded random order each epoch",
};
const JITTER: ParamDef = ParamDef {
    name: "jitter",
    kind: ParamKind::NonNegative,
    default: DefaultValue::Float(0.0),
    help: "standard deviation of Gaussian noise added to inputs (augmentation); 0.0 for none",
};

/// A parameter of a `command` that benchplan does not define: handed over as it is.
const FREE: ParamDef = ParamDef {
    name: "*",
    kind: ParamKind::Free,
    default: DefaultValue::Required,
    help: "a value for the program: substituted where the command says `{NAME}`",
};

/// Names a free parameter may have: those of plain identifiers, so that `{name}` in a command
/// and the parameter's column in the results are unambiguous.
fn is_free_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// For a `command`, the device is what the program is asked to use; benchplan does not open
/// it, so any device name is accepted whatever this build supports.
const COMMAND_DEVICE: ParamDef = ParamDef {
    name: "device",
    kind: ParamKind::DeviceName,
    default: DefaultValue::Str("cpu"),
    help: "the device the program is asked to use: `cpu`, `cuda`, `cuda:N`, `metal`",
};

const COMMAND: &[ParamDef] = &[COMMAND_DEVICE];

const NOOP: &[ParamDef] = &[
    ParamDef {
        name: "fault",
        kind: ParamKind::Choice(&["none", "panic", "abort", "segfault", "hang"]),
        default: DefaultValue::Str("none"),
        help: "make the iteration fail this way, to test a setup's isolation (child processes per cell, `run`'s default)",
    },
    DEVICE,
];

const MATMUL: &[ParamDef] = &[
    ParamDef {
        name: "n",
        kind: ParamKind::PositiveInt { max: 65_536 },
        default: DefaultValue::Required,
        help: "side of the square matrices",
    },
    DTYPE,
    DEVICE,
    SEED,
];

const TRAIN: &[ParamDef] = &[
    MODEL,
    ParamDef {
        name: "batch",
        kind: ParamKind::PositiveInt { max: 1 << 20 },
        default: DefaultValue::Int(32),
        help: "samples per step",
    },
    DTYPE,
    DATA,
    DEVICE,
    SEED,
];

const INFER: &[ParamDef] = &[
    MODEL,
    ParamDef {
        name: "batch",
        kind: ParamKind::PositiveInt { max: 1 << 20 },
        default: DefaultValue::Int(1),
        help: "samples per forward pass",
    },
    DTYPE,
    ParamDef {
        name: "quant",
        kind: ParamKind::Choice(&["none", "q8_0", "q4_0"]),
        default: DefaultValue::Str("none"),
        help: "quantize Linear weights to a GGML block format (8-bit or 4-bit)",
    },
    ParamDef {
        name: "kernels",
        kind: ParamKind::Choice(&["composed", "fused"]),
        default: DefaultValue::Str("composed"),
        help: "differentiable layer norm and attention (benchplan's fused CUDA kernels on CUDA in f32, candle's elementary ops elsewhere), or candle's forward-only fused kernels",
    },
    DATA,
    DEVICE,
    SEED,
];

const BATCH32: ParamDef = ParamDef {
    name: "batch",
    kind: ParamKind::PositiveInt { max: 1 << 20 },
    default: DefaultValue::Int(32),
    help: "samples per batch",
};

const DATALOAD: &[ParamDef] = &[
    DATASET, BATCH32, WORKERS, PREFETCH, SHUFFLE, JITTER, DEVICE, SEED,
];

const PIPELINE: &[ParamDef] = &[
    MODEL, DATASET, BATCH32, WORKERS, PREFETCH, SHUFFLE, JITTER, DTYPE, DEVICE, SEED,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::measure::MEASURE_KEYS;

    #[test]
    fn every_workload_takes_the_measurement_keys() {
        for w in WorkloadKind::ALL {
            for key in MEASURE_KEYS {
                assert!(w.param(key).is_some(), "{w} lacks {key}");
            }
        }
    }

    #[test]
    fn values_are_checked_by_kind() {
        let batch = WorkloadKind::Train.param("batch").unwrap();
        let none = Names::default();
        assert!(batch.check(&ParamValue::Int(32), none).is_ok());
        assert!(batch.check(&ParamValue::Int(0), none).is_err());
        assert!(batch.check(&ParamValue::Str("32".into()), none).is_err());
        let model = WorkloadKind::Train.param("model").unwrap();
        let names = Names {
            models: &["a"],
            datasets: &["d"],
            lenient_devices: false,
        };
        assert!(model.check(&ParamValue::Str("a".into()), names).is_ok());
        let err = model
            .check(&ParamValue::Str("b".into()), names)
            .unwrap_err();
        assert!(err.contains("unknown model \"b\""), "{err}");
        let dtype = WorkloadKind::Matmul.param("dtype").unwrap();
        assert!(dtype.check(&ParamValue::Str("f64".into()), none).is_err());
        let data = WorkloadKind::Train.param("data").unwrap();
        assert!(data.check(&ParamValue::Str("random".into()), names).is_ok());
        assert!(data.check(&ParamValue::Str("d".into()), names).is_ok());
        let data = WorkloadKind::Dataload.param("data").unwrap();
        assert!(
            data.check(&ParamValue::Str("random".into()), names)
                .is_err(),
            "dataload needs real data"
        );
        let quant = WorkloadKind::Infer.param("quant").unwrap();
        assert!(quant.check(&ParamValue::Str("q4_0".into()), none).is_ok());
        assert!(quant.check(&ParamValue::Str("q3".into()), none).is_err());
    }
}
