//! `[sources.NAME]` and `[datasets.NAME]`: files that exist, features and windows that make
//! sense, data sets that build; and models paired with data of the right shape.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use toml::Spanned;

use super::{check_name, Collector};
use crate::data::features::Feature;
use crate::data::{Dataset, DatasetSpec, SourceSpec};
use crate::diagnostic::Diagnostic;
use crate::plan::model::ModelSpec;
use crate::plan::raw::{RawDataset, RawPlan};
use crate::plan::value::ParamValue;
use crate::plan::Experiment;

/// The sources whose files exist.
pub(super) fn check_sources(c: &mut Collector, raw: &RawPlan, plan_dir: &Path) -> Vec<SourceSpec> {
    let mut sources = Vec::new();
    for (name, src) in &raw.sources {
        let s = src.get_ref();
        if !c.check(check_name("source name", name.get_ref()), name.span()) {
            continue;
        }
        let spec = SourceSpec::new(
            name.get_ref(),
            s.file.get_ref(),
            s.date.get_ref(),
            s.column.get_ref(),
            plan_dir,
        );
        let problem = match std::fs::metadata(&spec.path) {
            Err(_) => Some((
                format!("file `{}` does not exist", spec.path.display()),
                "paths are relative to the folder of the plan file".to_owned(),
            )),
            Ok(m) if !m.is_file() => Some((
                format!(
                    "`{}` is not a regular file (a folder, a pipe or a device)",
                    spec.path.display()
                ),
                "name a CSV file".to_owned(),
            )),
            Ok(m) if m.len() > crate::limits::SOURCE.bytes() => Some((
                crate::limits::SOURCE.exceeded(&spec.path, m.len()),
                "a source is read whole into memory".to_owned(),
            )),
            Ok(_) => None,
        };
        if let Some((what, help)) = problem {
            c.error(
                Diagnostic::new(
                    format!("source `{}`: {what}", name.get_ref()),
                    Some(s.file.span()),
                )
                .with_help(help),
            );
            continue;
        }
        sources.push(spec);
    }
    sources
}

/// The datasets that check and build from `sources`.
pub(super) fn check_datasets(
    c: &mut Collector,
    raw: &RawPlan,
    sources: &[SourceSpec],
) -> Vec<(DatasetSpec, Arc<Dataset>)> {
    let mut datasets = Vec::new();
    for (name, ds) in &raw.datasets {
        if !c.check(check_name("dataset name", name.get_ref()), name.span()) {
            continue;
        }
        if let Some(spec) = check_dataset(c, name.get_ref(), ds.get_ref(), raw, sources) {
            match Dataset::build(&spec, sources) {
                Ok(d) => datasets.push((spec, Arc::new(d))),
                Err(e) => c.error(
                    Diagnostic::new(
                        format!("dataset `{}` cannot be built: {e:#}", name.get_ref()),
                        Some(ds.span()),
                    )
                    .with_help(
                        "check the sources it uses, and its seq_len, horizon and validation",
                    ),
                ),
            }
        }
    }
    datasets
}

fn check_dataset(
    c: &mut Collector,
    name: &str,
    raw: &RawDataset,
    plan: &RawPlan,
    sources: &[SourceSpec],
) -> Option<DatasetSpec> {
    let errors_before = c.errors.len();
    let mut parse = |text: &Spanned<String>| -> Option<Feature> {
        match Feature::parse(text.get_ref()) {
            Err(e) => {
                c.check(Err(e), text.span());
                None
            }
            Ok(f) => {
                for src in f.sources() {
                    if !sources.iter().any(|s| s.name == src) {
                        let declared = plan.sources.iter().any(|(n, _)| n.get_ref() == src);
                        if !declared {
                            c.error(
                                Diagnostic::new(format!("dataset `{name}` uses source `{src}`, which is not declared"), Some(text.span()))
                                    .with_help(format!("declare it: `[sources.{src}]` with `file`, `date` and `column`")),
                            );
                        }
                        return None;
                    }
                }
                Some(f)
            }
        }
    };
    let features: Vec<Feature> = raw
        .features
        .get_ref()
        .iter()
        .filter_map(&mut parse)
        .collect();
    let target = parse(&raw.target);
    if raw.features.get_ref().is_empty() {
        c.error(
            Diagnostic::new(
                format!("dataset `{name}` has no features"),
                Some(raw.features.span()),
            )
            .with_help("list at least one, e.g. `features = [\"wti\"]`"),
        );
    }
    let mut positive = |v: &Spanned<i64>, key: &str| -> usize {
        if (1..=100_000).contains(v.get_ref()) {
            *v.get_ref() as usize
        } else {
            c.error(
                Diagnostic::new(
                    format!("`{key}` must be between 1 and 100000, not {}", v.get_ref()),
                    Some(v.span()),
                )
                .with_help("use a positive whole number of rows"),
            );
            1
        }
    };
    let seq_len = positive(&raw.seq_len, "seq_len");
    let horizon = positive(&raw.horizon, "horizon");
    let validation = match &raw.validation {
        None => 0.2,
        Some(v) if *v.get_ref() > 0.0 && *v.get_ref() < 1.0 => *v.get_ref(),
        Some(v) => {
            c.error(
                Diagnostic::new(
                    format!(
                        "`validation` must be a fraction between 0 and 1, not {}",
                        v.get_ref()
                    ),
                    Some(v.span()),
                )
                .with_help("e.g. `validation = 0.2` holds out the latest 20% of rows"),
            );
            0.2
        }
    };
    // An expression naming a source that could not be used (its file is missing, reported
    // there) leaves the dataset unbuildable without an error of its own.
    let unresolved = features.len() < raw.features.get_ref().len() || target.is_none();
    if c.errors.len() > errors_before || unresolved {
        return None;
    }
    Some(DatasetSpec {
        name: name.to_owned(),
        features,
        target: target?,
        seq_len,
        horizon,
        validation,
    })
}

/// A model fed from a dataset must take its windows and predict its horizon.
pub(super) fn check_model_data_pairs(
    c: &mut Collector,
    experiments: &[Experiment],
    models: &[(String, ModelSpec)],
    datasets: &[(DatasetSpec, Arc<Dataset>)],
) {
    for e in experiments {
        let mut reported = HashSet::new();
        for cell in &e.cells {
            let (Some(ParamValue::Str(m)), Some(ParamValue::Str(d))) =
                (cell.get("model"), cell.get("data"))
            else {
                continue;
            };
            let (Some((_, model)), Some((ds, _))) = (
                models.iter().find(|(n, _)| n == m),
                datasets.iter().find(|(s, _)| &s.name == d),
            ) else {
                continue;
            };
            let (f, t, h) = (ds.features.len(), ds.seq_len, ds.horizon);
            let fits = match model {
                ModelSpec::Mlp {
                    inputs, outputs, ..
                } => *inputs == t * f && *outputs == h,
                ModelSpec::Lstm {
                    features,
                    seq_len,
                    outputs,
                    ..
                }
                | ModelSpec::Transformer {
                    features,
                    seq_len,
                    outputs,
                    ..
                } => *features == f && *seq_len == t && *outputs == h,
            };
            if !fits && reported.insert((m.clone(), d.clone())) {
                c.error(
                    Diagnostic::new(
                        format!("experiment `{}` feeds model `{m}` from dataset `{d}`, whose windows do not fit it", e.name),
                        Some(e.name_span.clone()),
                    )
                    .with_help(format!(
                        "`{d}` gives {t} steps × {f} features and {h} targets; an mlp needs inputs = steps × features, others features and seq_len equal, and outputs = horizon. Exclude the pair or declare a matching dataset"
                    )),
                );
            }
        }
    }
}
