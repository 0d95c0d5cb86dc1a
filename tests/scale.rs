//! Scaling out through the real binary: `run --shard`, `merge`, reports and diffs of merged
//! sets, `--devices available`, and the Slurm / Kubernetes / CI-matrix writers. (The Slurm
//! scripts are run on a real one-node cluster by `tests/cluster/slurm.sh`, from `.ci/run`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use benchplan::plan::Plan;
use benchplan::results::store;

const CLUSTER_PLAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cluster/cluster.toml");

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("benchplan-scale-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_benchplan"));
        cmd.args(args)
            .current_dir(&self.0)
            .env_remove("BENCHPLAN_MACHINE")
            .env(
                "BENCHPLAN_GIT_COMMIT",
                "00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee",
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Standard output alone, of a command that must succeed.
    fn stdout(&self, args: &[&str]) -> String {
        let out = self.run(args, &[]);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Standard output and error together, of a command that must succeed.
    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.run(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every `cells.parquet` under `dir`.
fn sets_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(sets_under(&p));
        } else if p.file_name().is_some_and(|n| n == "cells.parquet") {
            out.push(p);
        }
    }
    out
}

fn plan_ids() -> BTreeSet<String> {
    let plan = Plan::load(Path::new(CLUSTER_PLAN)).unwrap();
    plan.cells().map(|c| c.id.clone()).collect()
}

#[test]
fn four_shards_are_disjoint_and_merge_into_exactly_the_plans_cells() {
    let s = Scratch::new("shards");
    let mut seen = BTreeSet::new();
    for k in 0..4 {
        let shard = format!("{k}/4");
        let results = format!("shards/{k}");
        let log = s.ok(
            &[
                "run",
                CLUSTER_PLAN,
                "--shard",
                &shard,
                "--results",
                &results,
                "--in-process",
            ],
            &[],
        );
        assert!(
            log.contains(&format!("shard {k}/4: 4 of 16 cell(s)")),
            "{log}"
        );
        let sets = sets_under(&s.path(&results));
        assert_eq!(sets.len(), 1);
        for r in store::read(&sets[0]).unwrap() {
            assert!(
                seen.insert(r.cell_id.clone()),
                "{} in two shards",
                r.cell_id
            );
        }
    }
    assert_eq!(seen, plan_ids());

    let log = s.ok(
        &[
            "merge",
            "shards",
            "--plan",
            CLUSTER_PLAN,
            "--into",
            "results",
        ],
        &[],
    );
    assert!(
        log.contains("every one of the plan's 16 cell(s) is in the merged set"),
        "{log}"
    );
    let merged = sets_under(&s.path("results"));
    assert_eq!(merged.len(), 1);
    let rows = store::read(&merged[0]).unwrap();
    assert_eq!(rows.len(), 16);
    let ids: BTreeSet<String> = rows.iter().map(|r| r.cell_id.clone()).collect();
    assert_eq!(ids, plan_ids());
    assert!(merged[0].parent().unwrap().join("plan.toml").is_file());
    // The merged set reports like any other.
    s.ok(&["report", "--results", "results"], &[]);

    // With earlier results of another commit, the split follows their durations.
    let log = s.ok(
        &[
            "list",
            CLUSTER_PLAN,
            "--shard",
            "0/4",
            "--results",
            "results",
        ],
        &[(
            "BENCHPLAN_GIT_COMMIT",
            "11c0ffee11c0ffee11c0ffee11c0ffee11c0ffee",
        )],
    );
    assert!(
        log.contains("by earlier durations of 16 of 16 cells"),
        "{log}"
    );
    // … but never from this commit's own sets, which other shards may be writing.
    let log = s.ok(
        &[
            "list",
            CLUSTER_PLAN,
            "--shard",
            "0/4",
            "--results",
            "results",
        ],
        &[],
    );
    assert!(log.contains("by cell id"), "{log}");
}

#[test]
fn durations_come_from_one_machine_the_one_that_knows_most_cells() {
    let s = Scratch::new("one-machine");
    s.ok(
        &[
            "run",
            CLUSTER_PLAN,
            "--filter",
            "experiment=matmul",
            "--machine",
            "laptop",
            "--in-process",
        ],
        &[],
    );
    s.ok(
        &[
            "run",
            CLUSTER_PLAN,
            "--machine",
            "workstation",
            "--in-process",
        ],
        &[],
    );
    let log = s.ok(
        &["list", CLUSTER_PLAN, "--shard", "1/2"],
        &[(
            "BENCHPLAN_GIT_COMMIT",
            "33c0ffee33c0ffee33c0ffee33c0ffee33c0ffee",
        )],
    );
    assert!(
        log.contains("by earlier durations of 16 of 16 cells, measured on `workstation`"),
        "{log}"
    );
    // The cluster is the laptop's kind of machine: name it (a part of its label will do).
    let other_commit = [(
        "BENCHPLAN_GIT_COMMIT",
        "33c0ffee33c0ffee33c0ffee33c0ffee33c0ffee",
    )];
    let log = s.ok(
        &[
            "list",
            CLUSTER_PLAN,
            "--shard",
            "1/2",
            "--balance-machine",
            "lapt",
        ],
        &other_commit,
    );
    assert!(
        log.contains("by earlier durations of 8 of 16 cells, measured on `laptop`"),
        "{log}"
    );
    // The slurm generator passes the choice on to every shard.
    let job = s.path("job");
    s.ok(
        &[
            "slurm",
            CLUSTER_PLAN,
            "--shards",
            "2",
            "--balance-machine",
            "laptop",
            "--out",
            job.to_str().unwrap(),
        ],
        &other_commit,
    );
    let array = std::fs::read_to_string(job.join("array.sbatch")).unwrap();
    assert!(array.contains("--balance-machine laptop"), "{array}");
    // A name that matches no machine, or several, says which machines there are.
    for (wanted, says) in [("mac", "machines found there"), ("o", "names 2 machines")] {
        let out = s.run(
            &[
                "list",
                CLUSTER_PLAN,
                "--shard",
                "0/2",
                "--balance-machine",
                wanted,
            ],
            &other_commit,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{wanted}: {err}"
        );
        assert!(
            err.contains("`laptop`") && err.contains("`workstation`"),
            "{err}"
        );
    }
}

#[test]
fn merging_twice_measured_cells_reports_the_conflicts_and_keeps_one_row() {
    let s = Scratch::new("conflicts");
    for root in ["a", "b"] {
        s.ok(
            &[
                "run",
                CLUSTER_PLAN,
                "--filter",
                "experiment=matmul",
                "--results",
                root,
                "--in-process",
            ],
            &[],
        );
    }
    let out = s.run(&["merge", "a", "b", "--into", "results"], &[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("8 cell(s) had more than one row on the same machine"),
        "{log}"
    );
    assert!(log.contains("kept:") && log.contains("dropped:"), "{log}");
    let rows = store::read(&sets_under(&s.path("results"))[0]).unwrap();
    assert_eq!(rows.len(), 8);

    // A cell missing against the plan: exit 1 with the cells named.
    let out = s.run(
        &["merge", "a", "--into", "results2", "--plan", CLUSTER_PLAN],
        &[],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("8 of the plan's 16 cell(s) have no row in any input"),
        "{log}"
    );

    // Another commit's rows do not merge with these.
    s.ok(
        &[
            "run",
            CLUSTER_PLAN,
            "--filter",
            "experiment=infer",
            "--results",
            "c",
            "--in-process",
        ],
        &[(
            "BENCHPLAN_GIT_COMMIT",
            "22c0ffee22c0ffee22c0ffee22c0ffee22c0ffee",
        )],
    );
    let out = s.run(&["merge", "a", "c", "--into", "results3"], &[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{log}");
    assert!(log.contains("2 different commits"), "{log}");
    assert!(
        !s.path("results3").join("cluster-smoke").exists()
            || sets_under(&s.path("results3")).is_empty()
    );
}

#[test]
fn a_set_of_two_machines_reports_each_machine_and_diffs_machine_by_machine() {
    let s = Scratch::new("machines");
    for machine in ["mac-m4", "gpu-box"] {
        s.ok(
            &[
                "run",
                CLUSTER_PLAN,
                "--filter",
                "experiment=matmul",
                "--filter",
                "n=16",
                "--results",
                machine,
                "--machine",
                machine,
                "--in-process",
            ],
            &[],
        );
    }
    let log = s.ok(&["merge", "mac-m4", "gpu-box", "--into", "results"], &[]);
    assert!(log.contains("4 cell(s) on 2 machine(s)"), "{log}");
    let set = sets_under(&s.path("results"));
    assert_eq!(set.len(), 1);
    assert!(set[0].to_string_lossy().contains("2-machines-"), "{set:?}");
    let report = s.ok(
        &["report", "--set", set[0].to_str().unwrap(), "--output", "-"],
        &[],
    );
    assert!(report.contains("holds rows from 2 machines"), "{report}");
    assert!(
        report.contains("`gpu-box`") && report.contains("`mac-m4`"),
        "{report}"
    );
    // The study's index names both machines of the merged folder, not only its first.
    s.ok(&["report", "--results", "results"], &[]);
    let index = std::fs::read_to_string(s.path("results/cluster-smoke/REPORT.md")).unwrap();
    let row = index
        .lines()
        .find(|l| l.contains("2-machines-"))
        .unwrap_or_else(|| panic!("{index}"));
    assert!(
        row.contains("`gpu-box`: ") && row.contains("`mac-m4`: ") && row.contains("4 ok"),
        "{row}"
    );

    let set = set[0].to_str().unwrap();
    let diff = s.stdout(&[
        "diff",
        set,
        set,
        "--format",
        "json",
        "--allow-cross-machine",
    ]);
    let json: serde_json::Value = serde_json::from_str(&diff).unwrap();
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(
        cells.len(),
        4,
        "each cell matched with itself on the same machine"
    );
    assert!(cells
        .iter()
        .all(|c| c["key"].as_str().unwrap().starts_with("machine=")));
}

#[test]
fn devices_available_leaves_out_what_this_machine_cannot_run() {
    let s = Scratch::new("devices");
    std::fs::write(
        s.path("plan.toml"),
        "version = 1\nname = \"hetero\"\n[measure]\nwarmup = 1\niterations = 3\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [16]\ndevice = [\"cpu\", \"cuda\", \"metal\"]\n",
    )
    .unwrap();
    if benchplan::device::built_backends().len() > 1 {
        return; // an accelerator build: what is available depends on the machine
    }
    let log = s.ok(
        &["run", "plan.toml", "--devices", "available", "--in-process"],
        &[],
    );
    assert!(log.contains("2 cell(s) left out"), "{log}");
    let rows = store::read(&sets_under(&s.path("results"))[0]).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].params["device"].to_string(), "cpu");
}

#[test]
fn slurm_scripts_ask_for_an_array_gpus_and_a_dependent_merge() {
    let s = Scratch::new("slurm");
    std::fs::write(
        s.path("plan.toml"),
        "version = 1\nname = \"gpu-study\"\n[measure]\ntimeout = \"30s\"\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [16, 32, 64, 128, 256, 512]\ndevice = [\"cpu\", \"cuda\"]\n",
    )
    .unwrap();
    s.ok(
        &[
            "slurm",
            "plan.toml",
            "--shards",
            "3",
            "--out",
            "job",
            "--partition",
            "gpu",
            "--sbatch=--account=ml",
        ],
        &[],
    );
    let array = std::fs::read_to_string(s.path("job/array.sbatch")).unwrap();
    for want in [
        "#SBATCH --array=0-2",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --exclusive",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=ml",
        "--shard \"$shard/3\"",
        "SLURM_ARRAY_TASK_ID",
    ] {
        assert!(array.contains(want), "no `{want}` in:\n{array}");
    }
    // 12 cells, 4 a shard, 30 s timeouts: the limit is at most 4 × (30 + 10) s, in whole minutes.
    assert!(array.contains("#SBATCH --time=00:03:00"), "{array}");
    let submit = std::fs::read_to_string(s.path("job/submit.sh")).unwrap();
    assert!(
        submit.contains("--dependency=afterok:\"$array\" --kill-on-invalid-dep=yes"),
        "{submit}"
    );
    let merge = std::fs::read_to_string(s.path("job/merge.sbatch")).unwrap();
    assert!(
        merge.contains(" merge ")
            && merge.contains("--plan")
            && merge.contains(" report --study gpu-study"),
        "{merge}"
    );
    // A failed submission says so, and keeps the scripts.
    let fake = s.path("fakebin");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(
        fake.join("sbatch"),
        "#!/bin/sh\necho 'sbatch: error: Unable to contact slurm controller' >&2\nexit 1\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(fake.join("sbatch"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    let path = format!("{}:/usr/bin:/bin", fake.display());
    let out = s.run(
        &[
            "slurm",
            "plan.toml",
            "--shards",
            "3",
            "--out",
            "job2",
            "--submit",
        ],
        &[("PATH", &path)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("Unable to contact") && err.contains("submitting failed"),
        "{err}"
    );
    assert!(s.path("job2/array.sbatch").is_file());
}

#[test]
fn kubernetes_manifests_and_the_ci_matrix() {
    let s = Scratch::new("k8s");
    std::fs::write(
        s.path("plan.toml"),
        "version = 1\nname = \"gpu_Study\"\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [16, 32, 64, 128]\ndevice = [\"cuda:1\"]\n",
    )
    .unwrap();
    s.ok(
        &[
            "k8s",
            "plan.toml",
            "--shards",
            "2",
            "--image",
            "registry.example/benchplan:1",
            "--out",
            "k8s",
            "--commit",
            "abc",
        ],
        &[],
    );
    let job = std::fs::read_to_string(s.path("k8s/job.yaml")).unwrap();
    for want in [
        "kind: \"PersistentVolumeClaim\"",
        "completionMode: \"Indexed\"",
        "completions: 2",
        "nvidia.com/gpu: 2",
        "$JOB_COMPLETION_INDEX/2",
        "name: \"benchplan-gpu-study\"",
        "value: \"abc\"",
    ] {
        assert!(job.contains(want), "no `{want}` in:\n{job}");
    }
    let merge = std::fs::read_to_string(s.path("k8s/merge-job.yaml")).unwrap();
    assert!(
        merge.contains(
            "merge /results/jobs/gpu_Study-abc/shards --into /results --plan /benchplan/plan.toml"
        ),
        "{merge}"
    );

    let out = s.stdout(&["shards", "plan.toml", "--shards", "2", "--format", "github"]);
    let line = out.lines().next().unwrap();
    let m: serde_json::Value = serde_json::from_str(line).unwrap();
    let include = m["include"].as_array().unwrap();
    assert_eq!(include.len(), 2);
    assert_eq!(include[1]["shard"], "1/2");
    assert_eq!(
        include
            .iter()
            .map(|e| e["cells"].as_u64().unwrap())
            .sum::<u64>(),
        4
    );
}

#[test]
fn bad_shard_arguments_say_what_to_write() {
    let s = Scratch::new("bad");
    for (args, want) in [
        (
            vec!["list", CLUSTER_PLAN, "--shard", "4/4"],
            "K must be below 4",
        ),
        (vec!["list", CLUSTER_PLAN, "--shard", "two"], "write `K/N`"),
        (
            vec!["shards", CLUSTER_PLAN, "--shards", "17"],
            "more than the 16 cell(s)",
        ),
        (
            vec![
                "shards",
                CLUSTER_PLAN,
                "--shards",
                "2",
                "--time-limit",
                "soon",
            ],
            "not a duration",
        ),
        (vec!["merge", "nowhere"], "`nowhere` does not exist"),
    ] {
        let out = s.run(&args, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
