//! Model declarations: the architecture parameters a plan gives under `[models.NAME]`,
//! checked into a [`ModelSpec`] that the workloads build with candle-nn.

use std::ops::Range;

use toml::Spanned;

use super::raw::RawModel;
use crate::diagnostic::Diagnostic;

/// A checked model architecture.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// Linear layers with GELU between them: inputs → hidden… → outputs.
    Mlp {
        inputs: usize,
        hidden: Vec<usize>,
        outputs: usize,
    },
    /// Stacked LSTM (PyTorch gate order, two biases per layer) → last step → Linear.
    Lstm {
        features: usize,
        hidden_size: usize,
        layers: usize,
        seq_len: usize,
        outputs: usize,
    },
    /// Linear embedding, pre-norm encoder layers, mean over time, Linear head.
    Transformer {
        features: usize,
        d_model: usize,
        heads: usize,
        ff: usize,
        layers: usize,
        seq_len: usize,
        outputs: usize,
    },
}

impl ModelSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::Mlp { .. } => "mlp",
            ModelSpec::Lstm { .. } => "lstm",
            ModelSpec::Transformer { .. } => "transformer",
        }
    }

    /// The declaration as JSON, for external programs that build the same model
    /// (`command` cells get it in `BENCHPLAN_MODEL`): `kind` plus the plan's keys.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            ModelSpec::Mlp {
                inputs,
                hidden,
                outputs,
            } => json!({"kind": "mlp", "inputs": inputs, "hidden": hidden, "outputs": outputs}),
            ModelSpec::Lstm {
                features,
                hidden_size,
                layers,
                seq_len,
                outputs,
            } => json!({"kind": "lstm", "features": features, "hidden_size": hidden_size,
                "layers": layers, "seq_len": seq_len, "outputs": outputs}),
            ModelSpec::Transformer {
                features,
                d_model,
                heads,
                ff,
                layers,
                seq_len,
                outputs,
            } => json!({"kind": "transformer", "features": features, "d_model": d_model,
                "heads": heads, "ff": ff, "layers": layers, "seq_len": seq_len, "outputs": outputs}),
        }
    }

    /// Shape of one input sample: `[inputs]` for an MLP, `[seq_len, features]` otherwise.
    pub fn sample_shape(&self) -> Vec<usize> {
        match self {
            ModelSpec::Mlp { inputs, .. } => vec![*inputs],
            ModelSpec::Lstm {
                seq_len, features, ..
            }
            | ModelSpec::Transformer {
                seq_len, features, ..
            } => vec![*seq_len, *features],
        }
    }

    /// Parameters (weights and biases) the model has, from its declaration alone, so that a
    /// model too large for a device is refused before anything is allocated. u128 because
    /// declared dimensions can multiply past u64 in principle.
    pub fn parameter_count(&self) -> u128 {
        let linear = |i: usize, o: usize| (i as u128) * (o as u128) + o as u128;
        match self {
            ModelSpec::Mlp {
                inputs,
                hidden,
                outputs,
            } => {
                let mut sizes = vec![*inputs];
                sizes.extend(hidden);
                sizes.push(*outputs);
                sizes.windows(2).map(|w| linear(w[0], w[1])).sum()
            }
            ModelSpec::Lstm {
                features,
                hidden_size,
                layers,
                outputs,
                ..
            } => {
                let h = *hidden_size as u128;
                (0..*layers)
                    .map(|l| {
                        let input = if l == 0 { *features } else { *hidden_size } as u128;
                        4 * h * (input + h) + 8 * h
                    })
                    .sum::<u128>()
                    + linear(*hidden_size, *outputs)
            }
            ModelSpec::Transformer {
                features,
                d_model,
                ff,
                layers,
                outputs,
                ..
            } => {
                let d = *d_model;
                let layer = 2 * (2 * d as u128)
                    + linear(d, 3 * d)
                    + linear(d, d)
                    + linear(d, *ff)
                    + linear(*ff, d);
                linear(*features, d) + *layers as u128 * layer + linear(d, *outputs)
            }
        }
    }

    pub fn outputs(&self) -> usize {
        match self {
            ModelSpec::Mlp { outputs, .. }
            | ModelSpec::Lstm { outputs, .. }
            | ModelSpec::Transformer { outputs, .. } => *outputs,
        }
    }
}

const KINDS: [(&str, &[&str], &[&str]); 3] = [
    ("mlp", &["inputs", "hidden", "outputs"], &[]),
    (
        "lstm",
        &["features", "hidden_size", "layers", "seq_len", "outputs"],
        &[],
    ),
    (
        "transformer",
        &[
            "features", "d_model", "heads", "ff", "layers", "seq_len", "outputs",
        ],
        &[],
    ),
];

/// Upper bound on any one dimension: far beyond what fits in memory, low enough that products
/// of dimensions cannot overflow.
const MAX_DIM: i64 = 1 << 20;

/// Checks one model declaration. `span` is the model's table, used when a key is missing.
pub fn check_model(
    name: &str,
    raw: &RawModel,
    span: Range<usize>,
) -> Result<ModelSpec, Vec<Diagnostic>> {
    let kind = raw.kind.get_ref().as_str();
    let Some((_, required, optional)) = KINDS.iter().find(|(k, _, _)| *k == kind) else {
        return Err(vec![Diagnostic::new(
            format!("model `{name}` has unknown kind `{kind}`"),
            Some(raw.kind.span()),
        )
        .with_help("use one of `mlp`, `lstm`, `transformer`")]);
    };
    let mut errors = Vec::new();
    let present = present_keys(raw);
    for (key, key_span) in &present {
        if !required.contains(key) && !optional.contains(key) {
            errors.push(
                Diagnostic::new(
                    format!("`{key}` does not apply to a model of kind `{kind}`"),
                    Some(key_span.clone()),
                )
                .with_help(format!("a `{kind}` model takes {}", list(required))),
            );
        }
    }
    for key in required.iter() {
        if !present.iter().any(|(k, _)| k == key) {
            errors.push(
                Diagnostic::new(
                    format!("model `{name}` (kind `{kind}`) is missing `{key}`"),
                    Some(span.clone()),
                )
                .with_help(format!("a `{kind}` model takes {}", list(required))),
            );
        }
    }
    let mut dim = |v: &Option<Spanned<i64>>, key: &str| -> usize {
        match v {
            Some(v) if (1..=MAX_DIM).contains(v.get_ref()) => *v.get_ref() as usize,
            Some(v) => {
                errors.push(
                    Diagnostic::new(
                        format!(
                            "`{key}` must be between 1 and {MAX_DIM}, not {}",
                            v.get_ref()
                        ),
                        Some(v.span()),
                    )
                    .with_help("model dimensions are positive whole numbers"),
                );
                1
            }
            None => 1,
        }
    };
    let spec = match kind {
        "mlp" => {
            let inputs = dim(&raw.inputs, "inputs");
            let outputs = dim(&raw.outputs, "outputs");
            let hidden = raw
                .hidden
                .as_ref()
                .map(|h| {
                    h.get_ref()
                        .iter()
                        .map(|v| dim(&Some(v.clone()), "hidden"))
                        .collect()
                })
                .unwrap_or_default();
            ModelSpec::Mlp {
                inputs,
                hidden,
                outputs,
            }
        }
        "lstm" => ModelSpec::Lstm {
            features: dim(&raw.features, "features"),
            hidden_size: dim(&raw.hidden_size, "hidden_size"),
            layers: dim(&raw.layers, "layers"),
            seq_len: dim(&raw.seq_len, "seq_len"),
            outputs: dim(&raw.outputs, "outputs"),
        },
        _ => {
            let spec = ModelSpec::Transformer {
                features: dim(&raw.features, "features"),
                d_model: dim(&raw.d_model, "d_model"),
                heads: dim(&raw.heads, "heads"),
                ff: dim(&raw.ff, "ff"),
                layers: dim(&raw.layers, "layers"),
                seq_len: dim(&raw.seq_len, "seq_len"),
                outputs: dim(&raw.outputs, "outputs"),
            };
            if let (ModelSpec::Transformer { d_model, heads, .. }, Some(h)) = (&spec, &raw.heads) {
                if d_model % heads != 0 {
                    errors.push(
                        Diagnostic::new(
                            format!("`d_model` ({d_model}) is not divisible by `heads` ({heads})"),
                            Some(h.span()),
                        )
                        .with_help("each attention head gets d_model / heads dimensions; pick heads that divide d_model"),
                    );
                }
            }
            spec
        }
    };
    if errors.is_empty() {
        Ok(spec)
    } else {
        Err(errors)
    }
}

fn present_keys(raw: &RawModel) -> Vec<(&'static str, Range<usize>)> {
    let mut keys = Vec::new();
    let mut add = |name: &'static str, span: Option<Range<usize>>| {
        if let Some(span) = span {
            keys.push((name, span));
        }
    };
    add("inputs", raw.inputs.as_ref().map(|v| v.span()));
    add("hidden", raw.hidden.as_ref().map(|v| v.span()));
    add("features", raw.features.as_ref().map(|v| v.span()));
    add("hidden_size", raw.hidden_size.as_ref().map(|v| v.span()));
    add("layers", raw.layers.as_ref().map(|v| v.span()));
    add("seq_len", raw.seq_len.as_ref().map(|v| v.span()));
    add("d_model", raw.d_model.as_ref().map(|v| v.span()));
    add("heads", raw.heads.as_ref().map(|v| v.span()));
    add("ff", raw.ff.as_ref().map(|v| v.span()));
    add("outputs", raw.outputs.as_ref().map(|v| v.span()));
    keys
}

fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
