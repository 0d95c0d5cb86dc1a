//! The module map holds: no two top-level modules of `src/` import each other (directly or
//! through others: the graph has no cycle), and only the command line imports `report`. Read
//! from the source text, so a new `use crate::…` that breaks the map fails here, with the files
//! that make the edge. See ARCHITECTURE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → (module it imports → files that import it).
type Edges = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Module names after `crate::`, including each name of a `crate::{a, b::c}` group.
fn imported(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            out.extend(group[..end].split(',').map(ident));
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn module_graph() -> Edges {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let top = |p: &Path| -> String {
        let rel = p.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_owned()
    };
    let modules: BTreeSet<String> = files.iter().map(|p| top(p)).collect();
    let mut edges = Edges::new();
    for f in &files {
        let from = top(f);
        if from == "main" || from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for to in imported(&text) {
            if to != from && modules.contains(&to) {
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .insert(f.strip_prefix(&src).unwrap().display().to_string());
            }
        }
    }
    edges
}

#[test]
fn top_level_modules_form_no_cycle() {
    let edges = module_graph();
    // Depth-first search for a back edge; the first cycle found is named with its files.
    fn visit(
        m: &str,
        edges: &Edges,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            return Some(path[i..].iter().cloned().chain([m.to_owned()]).collect());
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for to in edges
            .get(m)
            .map(|t| t.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if let Some(cycle) = visit(&to, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        if let Some(cycle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            let files: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} → {}: {:?}", w[0], w[1], edges[&w[0]][&w[1]]))
                .collect();
            panic!(
                "modules import each other: {}\n{}",
                cycle.join(" → "),
                files.join("\n")
            );
        }
    }
}

#[test]
fn only_the_command_line_imports_report() {
    let edges = module_graph();
    for (from, to) in &edges {
        if from != "cli" {
            assert!(
                !to.contains_key("report"),
                "`{from}` imports `report` ({:?}); stored results come from `results::catalog`",
                to.get("report")
            );
        }
    }
}

#[test]
fn the_reader_of_imports_sees_groups() {
    let got = imported(
        "use crate::{plan::Plan, results::{store, CellRecord}};\nlet x = crate::stats::median(&v);",
    );
    assert!(
        got.contains("plan") && got.contains("results") && got.contains("stats"),
        "{got:?}"
    );
}
