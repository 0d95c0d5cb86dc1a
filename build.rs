//! Records the candle version this binary was built against (from Cargo.lock), so every
//! result row can say which candle produced it.

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut version = String::from("unknown");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"candle-core\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                version = v.trim_end_matches('"').to_owned();
            }
        }
    }
    println!("cargo:rustc-env=BENCHPLAN_CANDLE_VERSION={version}");
}
