//! Finding the result sets a diff compares. A side is a path (a `cells.parquet` file or its
//! folder) or a git revision, looked up through the results layout
//! (`results/<study>/<machine>/<commit>[-dirty]/`). When a revision has several result sets,
//! `--study` and `--machine` choose; two different machines are refused unless asked for,
//! because such a diff measures the machines, not the change.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::results::catalog::{self, result_sets, studies, ResultSet};
use crate::results::CellRecord;

/// One side of a diff, loaded.
pub struct Side {
    pub label: String,
    pub set: ResultSet,
    pub records: Vec<CellRecord>,
}

/// How to choose among result sets.
pub struct Choice<'a> {
    pub results: &'a Path,
    pub study: Option<&'a str>,
    pub machine: Option<&'a str>,
    pub allow_cross_machine: bool,
    /// Compare result sets of different studies (result-set paths only; revisions are matched
    /// by study).
    pub allow_cross_study: bool,
}

/// A candidate result set of a revision.
struct Candidate {
    study: String,
    machine: String,
    set: ResultSet,
}

/// The full hash of a git revision, or `None` when `rev` is not one.
fn commit_of(rev: &str) -> Option<String> {
    let out = Command::new("git")
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn candidates(rev: &str, choice: &Choice) -> Result<(String, Vec<Candidate>)> {
    let Some(commit) = commit_of(rev) else {
        bail!("`{rev}` is neither a result set (a cells.parquet file or its folder) nor a git revision");
    };
    let short: String = commit.chars().take(12).collect();
    let names = match choice.study {
        Some(s) => vec![s.to_owned()],
        None => studies(choice.results).unwrap_or_default(),
    };
    let mut out = Vec::new();
    for study in names {
        for set in result_sets(choice.results, &study).unwrap_or_default() {
            let label = set.commit_label();
            if label != short && label != format!("{short}-dirty") {
                continue;
            }
            let machine = set.machine();
            if choice.machine.is_some_and(|m| m != machine) {
                continue;
            }
            out.push(Candidate {
                study: study.clone(),
                machine,
                set,
            });
        }
    }
    Ok((short, out))
}

/// Resolves the two sides: `old` and `new` as given, defaulting to HEAD's parent and HEAD.
pub fn resolve(old: Option<&str>, new: Option<&str>, choice: &Choice) -> Result<(Side, Side)> {
    let old_spec = old.unwrap_or("HEAD~1");
    let new_spec = new.unwrap_or("HEAD");
    let as_path = |spec: &str| -> Option<PathBuf> {
        let p = PathBuf::from(spec);
        p.exists().then_some(p)
    };
    match (as_path(old_spec), as_path(new_spec)) {
        (Some(o), Some(n)) => {
            let (o, n) = (ResultSet::at(&o)?, ResultSet::at(&n)?);
            let sides = (load(old_spec, o)?, load(new_spec, n)?);
            check_studies(&sides.0, &sides.1, choice.allow_cross_study)?;
            check_machines(&sides.0, &sides.1, choice.allow_cross_machine)?;
            Ok(sides)
        }
        (None, None) => {
            let (old_short, old_c) = candidates(old_spec, choice)?;
            let (new_short, new_c) = candidates(new_spec, choice)?;
            let (o, n) = pick(
                old_spec, &old_short, old_c, new_spec, &new_short, new_c, choice,
            )?;
            let sides = (load(old_spec, o)?, load(new_spec, n)?);
            check_machines(&sides.0, &sides.1, choice.allow_cross_machine)?;
            Ok(sides)
        }
        _ => bail!("give both sides as result-set paths, or both as git revisions"),
    }
}

fn load(spec: &str, set: ResultSet) -> Result<Side> {
    let records = set.read()?;
    if records.is_empty() {
        bail!("`{}` holds no cells", set.cells.display());
    }
    let label = format!("{spec} ({})", set.dir().display());
    Ok(Side {
        label,
        set,
        records,
    })
}

fn pick(
    old_spec: &str,
    old_short: &str,
    old: Vec<Candidate>,
    new_spec: &str,
    new_short: &str,
    new: Vec<Candidate>,
    choice: &Choice,
) -> Result<(ResultSet, ResultSet)> {
    let missing = |spec: &str, short: &str| {
        format!(
            "no result set for `{spec}` (commit {short}) under `{}`{}; run the plan at that commit, or give a result-set path",
            choice.results.display(),
            choice.study.map(|s| format!(" for study `{s}`")).unwrap_or_default()
        )
    };
    if old.is_empty() {
        bail!(missing(old_spec, old_short));
    }
    if new.is_empty() {
        bail!(missing(new_spec, new_short));
    }
    let mut common_studies: Vec<&str> = new
        .iter()
        .map(|c| c.study.as_str())
        .filter(|s| old.iter().any(|o| o.study == *s))
        .collect();
    common_studies.sort_unstable();
    common_studies.dedup();
    let study = match common_studies.as_slice() {
        [one] => one.to_string(),
        [] => {
            bail!("`{old_spec}` and `{new_spec}` have no study in common; pick result sets by path")
        }
        many => bail!(
            "both revisions have results for several studies ({}); pick one with `--study`",
            many.join(", ")
        ),
    };
    let of_study = |cs: Vec<Candidate>| -> Vec<Candidate> {
        cs.into_iter().filter(|c| c.study == study).collect()
    };
    let (old, new) = (of_study(old), of_study(new));
    let mut common: Vec<&str> = new
        .iter()
        .map(|c| c.machine.as_str())
        .filter(|m| old.iter().any(|o| o.machine == *m))
        .collect();
    common.sort_unstable();
    common.dedup();
    let machine_pair = match common.as_slice() {
        [one] => (one.to_string(), one.to_string()),
        [] => {
            let machines =
                |cs: &[Candidate]| cs.iter().map(|c| c.machine.clone()).collect::<Vec<_>>();
            let (om, nm) = (machines(&old), machines(&new));
            if !choice.allow_cross_machine {
                bail!(
                    "`{old_spec}` was measured on {} and `{new_spec}` on {}: a diff across machines measures the machines, not the change; pass `--allow-cross-machine` to compare anyway",
                    om.join(", "),
                    nm.join(", ")
                );
            }
            match (om.as_slice(), nm.as_slice()) {
                ([a], [b]) => (a.clone(), b.clone()),
                _ => bail!("several machines on a side; pick the result sets by path"),
            }
        }
        many => bail!(
            "both revisions have results from several machines ({}); pick one with `--machine`",
            many.join(", ")
        ),
    };
    // Of a machine's sets for a revision (clean and dirty), the newest run.
    let newest = |cs: Vec<Candidate>, machine: &str| -> Result<ResultSet> {
        let sets: Vec<ResultSet> = cs
            .into_iter()
            .filter(|c| c.machine == machine)
            .map(|c| c.set)
            .collect();
        catalog::newest(&sets)?
            .map(|(s, _)| s)
            .context("a result set vanished while reading it")
    };
    Ok((newest(old, &machine_pair.0)?, newest(new, &machine_pair.1)?))
}

/// Two studies share no cell that means the same thing: their diff would list every cell as
/// added and removed and say nothing changed.
fn check_studies(old: &Side, new: &Side, allow: bool) -> Result<()> {
    let (os, ns) = (&old.records[0].study, &new.records[0].study);
    if os != ns && !allow {
        bail!(
            "`{}` holds study `{os}` and `{}` study `{ns}`: a diff compares one study's cells; pass `--allow-cross-study` to compare anyway",
            old.set.dir().display(),
            new.set.dir().display()
        );
    }
    Ok(())
}

fn check_machines(old: &Side, new: &Side, allow: bool) -> Result<()> {
    let (om, nm) = (&old.records[0].meta.machine, &new.records[0].meta.machine);
    if om != nm && !allow {
        bail!(
            "the sides were measured on different machines (`{om}` and `{nm}`): such a diff measures the machines, not the change; pass `--allow-cross-machine` to compare anyway"
        );
    }
    Ok(())
}
