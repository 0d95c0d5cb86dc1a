//! Records the candle version this binary was built against (from Cargo.lock), so every
//! result row can say which candle produced it; with the `cuda` feature, compiles benchplan's
//! own CUDA kernels (src/workload/kernels/cuda/*.cu) to PTX with nvcc, as candle-kernels does
//! for candle's, for the compute capability in `CUDA_COMPUTE_CAP` (90 = Hopper by default).

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
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        compile_cuda_kernels();
    }
}

/// nvcc → `$OUT_DIR/fused.ptx`, included by src/workload/kernels/cuda.rs. A failure stops the
/// build with nvcc's own message: a `cuda` binary without its kernels would fail at run time.
fn compile_cuda_kernels() {
    let source = "src/workload/kernels/cuda/fused.cu";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo:rerun-if-env-changed=NVCC");
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".into());
    let cap: String = cap.chars().filter(char::is_ascii_digit).collect();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let nvcc = std::env::var("NVCC").unwrap_or_else(|_| "nvcc".into());
    let status = std::process::Command::new(&nvcc)
        .args(["--ptx", "-O3", "-std=c++17"])
        .arg(format!("-arch=sm_{cap}"))
        .arg(source)
        .arg("-o")
        .arg(out.join("fused.ptx"))
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`{nvcc} --ptx {source}` failed ({s}); see its messages above"),
        Err(e) => panic!(
            "could not run `{nvcc}` ({e}): the `cuda` feature needs the CUDA toolkit's nvcc on the PATH (or NVCC=/path/to/nvcc); ../shared/tools/cuda-toolkit.sh assembles one"
        ),
    }
}
