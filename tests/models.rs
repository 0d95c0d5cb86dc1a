//! The canonical models of WORKLOADS.md §2: parameter counts, gradients reaching every
//! parameter (the fused-kernel trap), and inference agreeing with the trained model's forward.

use std::path::Path;

use benchplan::plan::Plan;
use benchplan::workload::{infer, train};
use candle_core::Device;

const CANONICAL: &str = r#"
version = 1
name = "models"

[models.mlp-small]
kind = "mlp"
inputs = 64
hidden = [256, 256]
outputs = 16

[models.mlp-medium]
kind = "mlp"
inputs = 64
hidden = [1024, 1024]
outputs = 16

[models.mlp-large]
kind = "mlp"
inputs = 64
hidden = [2048, 2048, 2048]
outputs = 16

[models.lstm-forecaster]
kind = "lstm"
features = 8
hidden_size = 128
layers = 2
seq_len = 60
outputs = 5

[models.transformer-forecaster]
kind = "transformer"
features = 8
d_model = 128
heads = 4
ff = 512
layers = 2
seq_len = 60
outputs = 5

[[experiments]]
name = "train"
workload = "train"
[experiments.matrix]
model = ["mlp-small", "mlp-medium", "mlp-large", "lstm-forecaster", "transformer-forecaster"]
batch = [2]

[[experiments]]
name = "infer"
workload = "infer"
[experiments.matrix]
model = ["mlp-small", "mlp-medium", "mlp-large", "lstm-forecaster", "transformer-forecaster"]
batch = [2]
"#;

fn plan() -> Plan {
    Plan::from_bytes(Path::new("models.toml"), CANONICAL.as_bytes()).unwrap()
}

#[test]
fn parameter_counts_match_the_spec() {
    let plan = plan();
    let expected = [
        ("mlp-small", 86_544),
        ("mlp-medium", 1_132_560),
        ("mlp-large", 8_558_608),
        ("lstm-forecaster", 203_397),
        ("transformer-forecaster", 398_341),
    ];
    for (model, count) in expected {
        let cell = plan
            .cells()
            .find(|c| c.experiment == "infer" && c.str_param("model") == model)
            .unwrap();
        let (_, info) = infer::build(cell, &plan, &Device::Cpu).unwrap();
        assert_eq!(info.param_count, Some(count), "{model}");
        assert_eq!(info.weight_bytes, Some(count * 4), "{model} in f32");
        // The count from the declaration alone (used to refuse models too large for a device)
        // agrees with the model as built.
        assert_eq!(
            plan.model(model).unwrap().parameter_count(),
            count as u128,
            "{model} from its declaration"
        );
    }
}

#[test]
fn a_model_too_large_for_the_machine_fails_its_cell_at_once() {
    let text = r#"
version = 1
name = "huge"
[models.huge]
kind = "mlp"
inputs = 64
hidden = [1048576, 1048576]
outputs = 16
[[experiments]]
name = "infer"
workload = "infer"
[experiments.matrix]
model = ["huge"]
"#;
    let plan = Plan::from_bytes(std::path::Path::new("huge.toml"), text.as_bytes()).unwrap();
    let cell = plan.cells().next().unwrap();
    let start = std::time::Instant::now();
    let err = match benchplan::workload::prepare(cell, &plan, &Device::Cpu) {
        Ok(_) => panic!("a 4 TiB model was built"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("model `huge` has"), "{err}");
    assert!(err.contains("GiB, more than the"), "{err}");
    assert!(start.elapsed().as_secs() < 5, "refused before allocating");
}

#[test]
fn every_parameter_receives_a_gradient() {
    let plan = plan();
    for cell in plan.cells().filter(|c| c.experiment == "train") {
        let coverage = train::gradient_coverage(cell, &plan).unwrap();
        assert!(!coverage.is_empty());
        let missing: Vec<_> = coverage
            .iter()
            .filter(|(_, has)| !has)
            .map(|(n, _)| n.as_str())
            .collect();
        assert!(
            missing.is_empty(),
            "{}: no gradient for {missing:?}",
            cell.str_param("model")
        );
    }
}

#[test]
fn a_training_step_lowers_the_loss_of_its_batch() {
    // AdamW on a fixed batch must make progress: proves the step really updates the weights.
    let plan = plan();
    for model in ["mlp-small", "lstm-forecaster", "transformer-forecaster"] {
        let cell = plan
            .cells()
            .find(|c| c.experiment == "train" && c.str_param("model") == model)
            .unwrap();
        let (mut step, _) = train::build(cell, &plan, &Device::Cpu).unwrap();
        let before = step.loss().unwrap().to_scalar::<f32>().unwrap();
        for _ in 0..5 {
            benchplan::workload::Bench::iterate(&mut step).unwrap();
        }
        let after = step.loss().unwrap().to_scalar::<f32>().unwrap();
        assert!(after < before, "{model}: loss {before} → {after}");
    }
}

#[test]
fn inference_is_deterministic_for_a_seed() {
    let plan = plan();
    for cell in plan.cells().filter(|c| c.experiment == "infer") {
        let (a, _) = infer::build(cell, &plan, &Device::Cpu).unwrap();
        let (b, _) = infer::build(cell, &plan, &Device::Cpu).unwrap();
        let diff = (a.predict().unwrap() - b.predict().unwrap())
            .unwrap()
            .abs()
            .unwrap();
        let max = diff
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(max, 0.0, "{}", cell.str_param("model"));
    }
}
