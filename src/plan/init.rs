//! `benchplan init`: a commented starter plan — a small study that runs on this machine's
//! devices in well under a minute — for someone who has never seen a plan.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::schema::{plan_schema_text, SCHEMA_DIRECTIVE};

/// Cells the starter plan has per device: two matrix sizes, and training and inference at two
/// batch sizes (its test counts them in the plan [`starter`] writes).
const CELLS_PER_DEVICE: usize = 6;

/// The starter plan for study `name` on `devices` (as a plan names them: `cpu`, `cuda`, `metal`).
pub fn starter(name: &str, devices: &[String]) -> String {
    let devices = devices
        .iter()
        .map(|d| format!("\"{d}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"{SCHEMA_DIRECTIVE}
# A starter study, written by `benchplan init`. The first line lets editors with TOML schema
# support (Even Better TOML, taplo) complete keys and flag mistakes as you type.
#
#   benchplan explain plans/{name}.toml   how the matrix below expands into cells
#   benchplan check plans/{name}.toml     problems and likely mistakes
#   benchplan run plans/{name}.toml       measure; results go to results/{name}/
#   benchplan report --study {name}       the Markdown report of what was measured
version = 1
name = "{name}"
description = "A first look at this machine: matrix products, and training and inference of a small MLP."

# How each cell is measured (an experiment's `measure`, or a matrix key of the same name,
# overrides these): warm up, then time iterations for a time budget.
[measure]
warmup = "100ms"
iterations = "500ms"
min_iterations = 10

# Models are declared here and named by the matrix's `model` axis.
[models.small-mlp]
kind = "mlp"
inputs = 64
hidden = [128, 128]
outputs = 10

# One experiment per question. Every key of `matrix` is an axis; the cells are the product of
# the axes (here 2 sizes × {n_devices} device(s)).
[[experiments]]
name = "matmul"
workload = "matmul"
description = "C = A·B for square f32 matrices: how many GFLOP/s each device reaches."
[experiments.matrix]
n = [256, 512]
dtype = ["f32"]
device = [{devices}]

[[experiments]]
name = "train"
workload = "train"
description = "One training step (forward, backward, AdamW) of the small MLP, by batch size."
[experiments.matrix]
model = ["small-mlp"]
batch = [1, 32]
device = [{devices}]
# Leave a combination out, or add one, without a new experiment:
# exclude = [{{ batch = 1, device = "cuda" }}]
# include = [{{ batch = 256, device = "cpu" }}]

[[experiments]]
name = "infer"
workload = "infer"
description = "Inference of the small MLP, by batch size."
[experiments.matrix]
model = ["small-mlp"]
batch = [1, 32]
device = [{devices}]
"#,
        n_devices = devices.split(", ").count()
    )
}

/// The devices of this machine a plan can name, the CPU first.
pub fn local_devices() -> Vec<String> {
    let mut out = vec!["cpu".to_owned()];
    for kind in [
        crate::device::DeviceKind::Cuda,
        crate::device::DeviceKind::Metal,
    ] {
        let spec = crate::device::DeviceSpec { kind, ordinal: 0 };
        if kind.built() && spec.open().is_ok() {
            out.push(spec.to_string());
        }
    }
    out
}

/// What to do after `init`: the starter's size, and the three commands that come next.
pub fn next_steps(path: &Path, devices: &[String]) -> String {
    format!(
        "wrote a starter plan for {} ({} cells); next:\n  benchplan explain {p}\n  benchplan check {p}\n  benchplan run {p}",
        devices.join(" and "),
        CELLS_PER_DEVICE * devices.len(),
        p = path.display()
    )
}

/// Writes the starter plan `NAME.toml` into `dir`, refusing to overwrite, and the schema beside
/// it when missing (the plan's first line names it). Returns the plan's path.
pub fn write(dir: &Path, name: &str, devices: &[String]) -> Result<PathBuf> {
    crate::plan::validate::check_name("study name", name)
        .map_err(|e| anyhow::anyhow!(e.replace('\n', "; ")))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = dir.join(format!("{name}.toml"));
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "`{}` already exists; benchplan init never overwrites a plan. Choose another name (`benchplan init NAME`) or move the file",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot create `{}`", path.display())),
    };
    use std::io::Write;
    file.write_all(starter(name, devices).as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    let schema = dir.join("plan.schema.json");
    if !schema.exists() {
        std::fs::write(&schema, plan_schema_text())
            .with_context(|| format!("cannot write `{}`", schema.display()))?;
    }
    Ok(path)
}

/// What `init` puts in the results folder's `.gitignore`: a run's lock files and the rows it has
/// not consolidated yet are not results, and would otherwise show up as changes to commit.
pub const RESULTS_GITIGNORE: &str =
    "# Written by `benchplan init`: a run's lock files and its rows not yet consolidated.\n**/.lock\n**/pending/\n";

/// Writes `results/.gitignore` (under `results`) unless one exists; returns whether it wrote.
pub fn write_results_gitignore(results: &Path) -> Result<bool> {
    let path = results.join(".gitignore");
    if path.exists() {
        return Ok(false);
    }
    std::fs::create_dir_all(results)
        .with_context(|| format!("cannot create `{}`", results.display()))?;
    std::fs::write(&path, RESULTS_GITIGNORE)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_ignores_lock_files_and_pending_rows_once() {
        let dir =
            std::env::temp_dir().join(format!("benchplan-init-ignore-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(write_results_gitignore(&dir).unwrap());
        let text = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
        assert!(text.contains("**/.lock") && text.contains("**/pending/"));
        std::fs::write(dir.join(".gitignore"), "mine\n").unwrap();
        assert!(
            !write_results_gitignore(&dir).unwrap(),
            "an existing file is kept"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(".gitignore")).unwrap(),
            "mine\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_starter_plan_checks_cleanly_on_every_device_set() {
        for devices in [
            vec!["cpu".to_owned()],
            vec!["cpu".to_owned(), "cuda".to_owned()],
        ] {
            let text = starter("first-study", &devices);
            let plan = crate::plan::Plan::from_bytes_with(
                Path::new("plans/first-study.toml"),
                text.as_bytes(),
                crate::plan::LoadOptions {
                    lenient_devices: true,
                },
            )
            .unwrap();
            assert!(plan.warnings.is_empty(), "{}", plan.render_warnings());
            assert_eq!(plan.cells().count(), CELLS_PER_DEVICE * devices.len());
            assert!(text.starts_with(SCHEMA_DIRECTIVE));
        }
    }
}
