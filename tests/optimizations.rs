//! The cost side of optimizations: every optimized inference cell records its prediction error
//! against the f32 baseline on the same inputs, and the bytes its weights really occupy.

use std::path::Path;

use benchplan::plan::Plan;
use benchplan::workload::{infer, relative_l2};
use candle_core::{Device, Tensor};

const PLAN: &str = r#"
version = 1
name = "opt"

[models.mlp]
kind = "mlp"
inputs = 64
hidden = [256, 256]
outputs = 16

[models.t]
kind = "transformer"
features = 8
d_model = 128
heads = 4
ff = 512
layers = 2
seq_len = 60
outputs = 5

[[experiments]]
name = "q"
workload = "infer"
[experiments.matrix]
model = ["mlp", "t"]
batch = [4]
quant = ["none", "q8_0", "q4_0"]

[[experiments]]
name = "p"
workload = "infer"
[experiments.matrix]
model = ["mlp"]
batch = [4]
dtype = ["f32", "f16"]

[[experiments]]
name = "k"
workload = "infer"
[experiments.matrix]
model = ["t"]
batch = [4]
kernels = ["composed", "fused"]
"#;

fn info(
    plan: &Plan,
    experiment: &str,
    model: &str,
    key: &str,
    value: &str,
) -> benchplan::workload::BenchInfo {
    let cell = plan
        .cells()
        .find(|c| {
            c.experiment == experiment
                && c.str_param("model") == model
                && c.get(key).map(ToString::to_string).as_deref() == Some(value)
        })
        .unwrap();
    infer::build(cell, plan, &Device::Cpu).unwrap().1
}

#[test]
fn relative_l2_is_the_normalised_distance() {
    let a = Tensor::new(&[3f32, 4.0], &Device::Cpu).unwrap();
    let b = Tensor::new(&[0f32, 0.0], &Device::Cpu).unwrap();
    assert_eq!(relative_l2(&a, &a).unwrap(), 0.0);
    let c = Tensor::new(&[3f32, 0.0], &Device::Cpu).unwrap();
    assert!(
        (relative_l2(&c, &a).unwrap() - 0.8).abs() < 1e-6,
        "‖(0,-4)‖/‖(3,4)‖ = 0.8"
    );
    assert_eq!(
        relative_l2(&a, &b).unwrap(),
        5.0,
        "against zeros, the plain norm"
    );
}

#[test]
fn quantization_costs_accuracy_and_saves_bytes_in_order() {
    let plan = Plan::from_bytes(Path::new("opt.toml"), PLAN.as_bytes()).unwrap();
    for model in ["mlp", "t"] {
        let base = info(&plan, "q", model, "quant", "none");
        let q8 = info(&plan, "q", model, "quant", "q8_0");
        let q4 = info(&plan, "q", model, "quant", "q4_0");
        assert_eq!(
            base.prediction_error, None,
            "the baseline has nothing to differ from"
        );
        let (e8, e4) = (q8.prediction_error.unwrap(), q4.prediction_error.unwrap());
        assert!(e8 > 0.0 && e8 < 0.05, "{model}: q8_0 error {e8}");
        assert!(
            e4 > e8 && e4 < 0.5,
            "{model}: q4_0 error {e4} should exceed q8_0's {e8}"
        );
        let (b, b8, b4) = (
            base.weight_bytes.unwrap(),
            q8.weight_bytes.unwrap(),
            q4.weight_bytes.unwrap(),
        );
        assert!(b4 < b8 && b8 < b, "{model}: bytes {b} > {b8} > {b4}");
        // Q8_0 stores 34 bytes per 32 weights: a little over a quarter of f32.
        assert!((b8 as f64) < 0.4 * b as f64, "{model}: {b8} of {b}");
        assert_eq!(
            base.param_count, q8.param_count,
            "same model, same parameters"
        );
    }
}

#[test]
fn half_precision_and_fused_kernels_report_small_errors() {
    let plan = Plan::from_bytes(Path::new("opt.toml"), PLAN.as_bytes()).unwrap();
    let f16 = info(&plan, "p", "mlp", "dtype", "f16");
    let e = f16.prediction_error.unwrap();
    assert!(e > 0.0 && e < 1e-2, "f16 error {e}");
    assert_eq!(f16.weight_bytes, Some(86_544 * 2), "half the bytes of f32");
    let fused = info(&plan, "k", "t", "kernels", "fused");
    let e = fused.prediction_error.unwrap();
    assert!(
        e < 1e-5,
        "fused kernels compute the same function: error {e}"
    );
}
