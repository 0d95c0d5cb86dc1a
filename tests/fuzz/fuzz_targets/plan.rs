//! Any bytes given as a plan: parsing, checking and matrix expansion must return a plan or
//! diagnostics, never panic. A plan that loads is listed and rendered as `check` and `list`
//! would (cell keys, command lines, diagnostics).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz/plan.toml");
    match benchplan::plan::Plan::from_bytes(path, data) {
        Ok(plan) => {
            let _ = plan.render_warnings();
            for experiment in &plan.experiments {
                for cell in &experiment.cells {
                    let _ = cell.key();
                    if let Some(template) = &experiment.command {
                        let _ = benchplan::plan::command::render(template, cell, &plan.name);
                    }
                }
            }
        }
        Err(e) => {
            let _ = format!("{e:#}");
        }
    }
});
