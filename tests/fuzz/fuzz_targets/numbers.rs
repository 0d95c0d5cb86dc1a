//! Extreme numbers and durations in a well-formed plan: the fuzzer's bytes choose, for each
//! measurement setting and numeric parameter, a value from a table of edge cases (and bytes of
//! its own as a number or a duration). Loading, checking, expanding and describing the cells
//! must return a plan or diagnostics, never panic. `plan.rs` covers arbitrary bytes; this
//! target reaches the arithmetic behind well-formed syntax that arbitrary bytes rarely do.
#![no_main]

use libfuzzer_sys::fuzz_target;

const EDGES: &[&str] = &[
    "0", "-1", "1", "2", "9223372036854775807", "-9223372036854775808", "18446744073709551616",
    "1e308", "-1e308", "1e-308", "5e-324", "nan", "inf", "-inf", "0.5", "1.0000000001",
    "\"99999999999999999999h\"", "\"184467440737095516160s\"", "\"1e400s\"", "\"0us\"",
    "\"0.0000000000001us\"", "\"-1s\"", "\"1.5.5s\"", "\"s\"", "\"\"", "\"9e18m\"", "\"18446744073709551615us\"",
];
const KEYS: &[&str] = &[
    "warmup", "iterations", "min_iterations", "max_iterations", "timeout", "rounds", "target_ci",
    "max_rounds",
];

fn value(bytes: &mut impl Iterator<Item = u8>) -> String {
    let pick = bytes.next().unwrap_or(0) as usize;
    if pick < 200 {
        return EDGES[pick % EDGES.len()].to_owned();
    }
    // A number or duration made of the fuzzer's own bytes.
    let raw: Vec<u8> = bytes.take(8).collect();
    let n = u64::from_le_bytes(std::array::from_fn(|i| raw.get(i).copied().unwrap_or(0)));
    match pick % 4 {
        0 => n.to_string(),
        1 => format!("{}", f64::from_bits(n)),
        2 => format!("\"{}s\"", f64::from_bits(n)),
        _ => format!("\"{n}ms\""),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.iter().copied();
    let mut text = String::from("version = 1\nname = \"x\"\n[measure]\n");
    for key in KEYS {
        if bytes.next().unwrap_or(0) % 2 == 1 {
            text.push_str(&format!("{key} = {}\n", value(&mut bytes)));
        }
    }
    let (n, seed, key) = (value(&mut bytes), value(&mut bytes), KEYS[bytes.next().unwrap_or(0) as usize % KEYS.len()]);
    let setting = value(&mut bytes);
    text.push_str(&format!(
        "[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [8, {n}]\nseed = [{seed}]\n{key} = [{setting}]\n"
    ));
    if let Ok(plan) = benchplan::plan::Plan::from_bytes(std::path::Path::new("fuzz/numbers.toml"), text.as_bytes()) {
        for cell in plan.cells() {
            let _ = (cell.key(), cell.measure.describe(), cell.measure.effective_rounds());
            let _ = cell.measure.for_round().describe();
        }
    }
});
