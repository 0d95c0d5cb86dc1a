//! `[models.NAME]`: each model's name and declaration.

use super::Collector;
use crate::plan::model::{check_model, ModelSpec};
use crate::plan::raw::RawPlan;

/// The models that check; the problems of the others go to `c`.
pub(super) fn check_models(c: &mut Collector, raw: &RawPlan) -> Vec<(String, ModelSpec)> {
    let mut models = Vec::new();
    for (name, model) in &raw.models {
        let ok = c.check(super::check_name("model name", name.get_ref()), name.span());
        match check_model(name.get_ref(), model.get_ref(), model.span()) {
            Ok(spec) if ok => models.push((name.get_ref().clone(), spec)),
            Ok(_) => {}
            Err(diags) => diags.into_iter().for_each(|d| c.error(d)),
        }
    }
    models
}
