//! Every plan shipped in `plans/` must pass `check`, with no warnings.

use std::path::Path;

use benchplan::plan::Plan;

#[test]
fn every_shipped_plan_checks_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let plan = Plan::load(&path).unwrap_or_else(|e| panic!("{}:\n{e:#}", path.display()));
        assert!(
            plan.warnings.is_empty(),
            "{}:\n{}",
            path.display(),
            plan.render_warnings()
        );
        assert!(plan.cells().count() > 0, "{} has no cells", path.display());
        count += 1;
    }
    assert!(count >= 2, "expected the quickstart and seed plans");
}

#[test]
fn the_seed_plan_expresses_the_canonical_shapes() {
    let plan = Plan::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/seed.toml")).unwrap();
    let ns: std::collections::BTreeSet<i64> = plan
        .cells()
        .filter(|c| c.experiment == "matmul")
        .filter_map(|c| c.get("n").and_then(|v| v.as_int()))
        .collect();
    assert_eq!(ns.into_iter().collect::<Vec<_>>(), [1000, 5000, 10000]);
    let workloads: std::collections::BTreeSet<&str> =
        plan.cells().map(|c| c.workload.name()).collect();
    // Every section of WORKLOADS.md, and the seed's own PyTorch programs (`command`).
    assert_eq!(
        workloads.into_iter().collect::<Vec<_>>(),
        ["command", "dataload", "infer", "matmul", "pipeline", "train"],
        "every section of WORKLOADS.md"
    );
    // candle's cells name their data set; a PyTorch program builds the declared model and
    // times it on inputs of its shape, as plans/vs-pytorch.toml's do.
    for cell in plan
        .cells()
        .filter(|c| c.get("model").is_some() && c.workload.name() != "command")
    {
        let data = cell.get("data").and_then(|v| v.as_str());
        assert!(
            matches!(data, Some("energy" | "wti-lags")),
            "{} reads real data, not {data:?}",
            cell.key()
        );
    }
    for model in [
        "mlp-small",
        "mlp-medium",
        "mlp-large",
        "lstm-forecaster",
        "transformer-forecaster",
    ] {
        assert!(plan.model(model).is_some(), "seed plan lacks {model}");
    }
    let infer_batches: std::collections::BTreeSet<i64> = plan
        .cells()
        .filter(|c| c.experiment == "infer")
        .filter_map(|c| c.get("batch").and_then(|v| v.as_int()))
        .collect();
    assert_eq!(
        infer_batches.into_iter().collect::<Vec<_>>(),
        [1, 8, 32, 128]
    );
}
