//! A cell's definition fingerprint: a SHA-256 of everything in the plan (and the files it
//! names) that decides what the cell measures. A cell's id deliberately ignores most of this
//! (it must match across commits and edits, see [`cell`](super::cell)); resume must not: a row
//! is kept at the same commit only while its fingerprint still matches, so editing a model's
//! layers, a dataset, a command's arguments or program, or the measurement settings of an
//! untracked plan (or of a plan outside git) re-measures the cells it touches instead of
//! keeping rows measured from the old definition.
//!
//! What goes in: the experiment's name and workload; every parameter (defaults included); the
//! measurement settings; for a `model`, its declaration; for `data`, the dataset's declaration,
//! the declarations of all sources and the built dataset's values (so an edited CSV counts);
//! for `command`, the argument template and the bytes of every argument that names a file
//! under the plan's folder (the program). The text is versioned: a build that changes what
//! goes in changes the prefix, and rows of the old fingerprint are measured again (the safe
//! side).

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Cell, Plan};

/// Files larger than this named by a command are fingerprinted by size and modification time
/// instead of their bytes (a model checkpoint passed as an argument need not be read whole).
const HASHED_FILE_LIMIT: u64 = 16 << 20;

/// The fingerprint of `cell` as `plan` defines it (64 hex digits).
pub fn definition_sha256(plan: &Plan, cell: &Cell) -> String {
    let mut text = String::from("benchplan cell definition v1\n");
    let _ = writeln!(
        text,
        "experiment {}\nworkload {}",
        cell.experiment,
        cell.workload.name()
    );
    for (name, value) in &cell.params {
        let _ = writeln!(text, "param {name}={value}");
    }
    let _ = writeln!(text, "measure {}", cell.measure.describe());
    let mut hasher = Sha256::new();
    if let Some(model) = cell.params.get("model").and_then(|v| v.as_str()) {
        let _ = writeln!(text, "model {:?}", plan.model(model));
    }
    if let Some(data) = cell.params.get("data").and_then(|v| v.as_str()) {
        let spec = plan.datasets.iter().find(|(s, _)| s.name == data);
        let _ = writeln!(text, "dataset {:?}", spec.map(|(s, _)| s));
        // As declared, not as resolved: the resolved path depends on the folder benchplan was
        // started from, and the same plan run from elsewhere is the same definition.
        for src in &plan.sources {
            let _ = writeln!(
                text,
                "source {:?} {:?} {:?} {:?}",
                src.name, src.file, src.date, src.column
            );
        }
        if let Some((_, built)) = spec {
            for v in built.features.iter().chain(&built.target) {
                hasher.update(v.to_le_bytes());
            }
            let _ = writeln!(text, "dates {:?}", built.dates);
        }
    }
    let experiment = plan.experiments.iter().find(|e| e.name == cell.experiment);
    if let Some(argv) = experiment.and_then(|e| e.command.as_ref()) {
        let dir = plan.path.parent().unwrap_or(Path::new("."));
        for arg in argv {
            let _ = writeln!(text, "arg {arg:?}");
            if let Some(digest) = file_digest(&dir.join(arg)) {
                let _ = writeln!(text, "file {digest}");
            }
        }
    }
    hasher.update(text.as_bytes());
    format!("{:x}", hasher.finalize())
}

/// The digest of a regular file an argument names (`None` when it names none: a flag, a
/// value, a program found on `PATH`). Large files are described by size and mtime.
fn file_digest(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    if meta.len() > HASHED_FILE_LIMIT {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        return Some(format!("size={} mtime={mtime}", meta.len()));
    }
    let bytes = std::fs::read(path).ok()?;
    Some(format!("{:x}", Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn plan_in(dir: &Path, text: &str) -> Plan {
        let path: PathBuf = dir.join("p.toml");
        std::fs::write(&path, text).unwrap();
        Plan::load(&path).unwrap()
    }

    fn fingerprints(plan: &Plan) -> Vec<String> {
        plan.cells().map(|c| definition_sha256(plan, c)).collect()
    }

    const MODEL: &str = "version = 1\nname = \"s\"\n[models.m]\nkind = \"mlp\"\ninputs = 4\nhidden = [HIDDEN]\noutputs = 1\n[[experiments]]\nname = \"inf\"\nworkload = \"infer\"\n[experiments.matrix]\nmodel = [\"m\"]\nbatch = [1]\ndevice = [\"cpu\"]\n";

    #[test]
    fn a_model_edit_changes_the_fingerprint_and_a_comment_does_not() {
        let dir = tempdir("model");
        let small = fingerprints(&plan_in(&dir, &MODEL.replace("HIDDEN", "16")));
        let commented = fingerprints(&plan_in(
            &dir,
            &format!("# a note\n{}", MODEL.replace("HIDDEN", "16")),
        ));
        let large = fingerprints(&plan_in(&dir, &MODEL.replace("HIDDEN", "4096, 4096")));
        assert_eq!(small, commented);
        assert_ne!(small, large);
    }

    #[test]
    fn the_folder_benchplan_starts_from_does_not_change_the_fingerprint() {
        let dir = tempdir("cwd");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("data/p.csv"), "Date,Price\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n2020-01-04,4\n2020-01-05,5\n2020-01-06,6\n2020-01-07,7\n2020-01-08,8\n2020-01-09,9\n2020-01-10,10\n").unwrap();
        let text = "version = 1\nname = \"s\"\n[sources.p]\nfile = \"data/p.csv\"\ndate = \"Date\"\ncolumn = \"Price\"\n[datasets.d]\nfeatures = [\"p\"]\ntarget = \"p\"\nseq_len = 2\nhorizon = 1\nvalidation = 0.2\n[[experiments]]\nname = \"dl\"\nworkload = \"dataload\"\n[experiments.matrix]\ndata = [\"d\"]\nbatch = [2]\n";
        std::fs::write(dir.join("p.toml"), text).unwrap();
        let direct = Plan::load(&dir.join("p.toml")).unwrap();
        let roundabout = Plan::load(&dir.join("data/../p.toml")).unwrap();
        assert_eq!(fingerprints(&direct), fingerprints(&roundabout));
    }

    #[test]
    fn a_command_program_edit_changes_the_fingerprint() {
        let dir = tempdir("command");
        let plan = "version = 1\nname = \"s\"\n[[experiments]]\nname = \"c\"\nworkload = \"command\"\ncommand = [\"python3\", \"prog.py\", \"{n}\"]\n[experiments.matrix]\nn = [1]\n";
        std::fs::write(dir.join("prog.py"), "print(1)\n").unwrap();
        let before = fingerprints(&plan_in(&dir, plan));
        std::fs::write(dir.join("prog.py"), "print(2)\n").unwrap();
        let after = fingerprints(&plan_in(&dir, plan));
        assert_ne!(before, after);
        let other_args = fingerprints(&plan_in(
            &dir,
            &plan.replace("\"{n}\"]", "\"{n}\", \"--fast\"]"),
        ));
        assert_ne!(after, other_args);
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "benchplan-definition-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
