//! The argument template of a `command` experiment: `{name}` placeholders filled from each
//! cell, `{{` and `}}` for literal braces.
//!
//! The result is an argument vector handed to the program directly, never a line for a shell:
//! a parameter value such as `; rm -rf ~` reaches the program as that one string.

use super::cell::Cell;

/// One piece of a templated argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    /// A placeholder: a parameter, a measurement setting, or a built-in such as `cell_id`.
    Param(String),
}

/// Placeholders every cell can fill besides its parameters.
pub const BUILT_INS: [&str; 3] = ["cell_id", "experiment", "study"];

/// Splits `arg` into text and placeholders; `Err` says what is malformed.
pub fn parse(arg: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = arg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => {
                            return Err(format!(
                                "`{{` without a closing `}}` in {arg:?}\nwrite `{{name}}` for a parameter, or `{{{{` for a literal brace"
                            ))
                        }
                    }
                }
                if name.is_empty() {
                    return Err(format!(
                        "empty placeholder `{{}}` in {arg:?}\nname a parameter, e.g. `{{batch}}`"
                    ));
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Param(name));
            }
            '}' => {
                return Err(format!(
                    "`}}` without an opening `{{` in {arg:?}\nwrite `}}}}` for a literal brace"
                ))
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// The value a placeholder takes in `cell` of `study`, or `None` when nothing by that name
/// exists for it.
pub fn lookup(name: &str, cell: &Cell, study: &str) -> Option<String> {
    match name {
        "cell_id" => return Some(cell.id.clone()),
        "experiment" => return Some(cell.experiment.clone()),
        "study" => return Some(study.to_owned()),
        _ => {}
    }
    if let Some(v) = cell.get(name) {
        return Some(v.to_string());
    }
    let m = &cell.measure;
    Some(match name {
        "warmup" => m.warmup.to_string(),
        "iterations" => m.iterations.to_string(),
        "min_iterations" => m.min_iterations.to_string(),
        "max_iterations" => m.max_iterations.to_string(),
        "timeout" => super::measure::format_duration(m.timeout),
        "target_ci" => m.target_ci?.to_string(),
        _ => return None,
    })
}

/// The argument vector of `cell`: every placeholder of `template` filled.
/// The plan checks guarantee every placeholder resolves; one that does not is an error here.
pub fn render(template: &[String], cell: &Cell, study: &str) -> Result<Vec<String>, String> {
    template
        .iter()
        .map(|arg| {
            let mut out = String::new();
            for piece in parse(arg)? {
                match piece {
                    Piece::Text(t) => out.push_str(&t),
                    Piece::Param(name) => match lookup(&name, cell, study) {
                        Some(v) => out.push_str(&v),
                        None => return Err(format!("cell {} has no `{name}`", cell.id)),
                    },
                }
            }
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::measure::MeasureSettings;
    use crate::plan::{ParamValue, WorkloadKind};
    use std::collections::{BTreeMap, BTreeSet};

    fn cell() -> Cell {
        let mut params = BTreeMap::new();
        params.insert("batch".to_owned(), ParamValue::Int(32));
        params.insert("name".to_owned(), ParamValue::Str("; rm -rf ~".into()));
        Cell::new(
            "e",
            WorkloadKind::Command,
            params,
            BTreeSet::new(),
            MeasureSettings::default(),
        )
    }

    #[test]
    fn placeholders_are_filled_and_braces_escaped() {
        let template = vec![
            "--batch={batch}".to_owned(),
            "{name}".to_owned(),
            "{{literal}}".to_owned(),
            "{iterations}".to_owned(),
            "{experiment}".to_owned(),
        ];
        let argv = render(&template, &cell(), "s").unwrap();
        assert_eq!(argv, ["--batch=32", "; rm -rf ~", "{literal}", "2s", "e"]);
    }

    #[test]
    fn malformed_templates_are_explained() {
        assert!(parse("{batch").unwrap_err().contains("without a closing"));
        assert!(parse("x}").unwrap_err().contains("without an opening"));
        assert!(parse("{}").unwrap_err().contains("empty placeholder"));
        assert_eq!(parse("").unwrap(), vec![Piece::Text(String::new())]);
        assert!(render(&["{nope}".to_owned()], &cell(), "s").is_err());
    }
}
