//! The docs keep their shape: the README is a first screen (at most 250 lines, opening with the
//! two set-up commands), every page of the book is in its table of contents, and ARCHITECTURE.md
//! names every top-level module of `src/` (so the code map cannot silently fall behind).
//! Links are checked by `tests/docs/check_links.py`, in CI.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap()
}

#[test]
fn the_readme_is_a_first_screen_with_the_two_set_up_commands() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; move the rest into the book (docs/src)"
    );
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("README opens with a ```sh block");
    let commands: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert!(commands[0].starts_with("cargo run --release -- run plans/quickstart.toml"));
    assert!(commands[1].starts_with("cargo test --release"));
}

#[test]
fn every_page_of_the_book_is_in_its_summary() {
    let summary = read("docs/src/SUMMARY.md");
    for entry in std::fs::read_dir(Path::new(ROOT).join("docs/src")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") && name != "SUMMARY.md" {
            assert!(
                summary.contains(&format!("]({name})")),
                "docs/src/{name} is not in SUMMARY.md"
            );
        }
    }
}

#[test]
fn the_architecture_names_every_top_level_module() {
    let architecture = read("ARCHITECTURE.md");
    for entry in std::fs::read_dir(Path::new(ROOT).join("src")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let shown = if path.is_dir() {
            format!("`{name}/`")
        } else {
            format!("`{name}`")
        };
        if name == "lib.rs" {
            continue;
        }
        assert!(
            architecture.contains(&shown),
            "ARCHITECTURE.md does not name {shown}"
        );
    }
}
