//! The `benchplan` binary: everything lives in the library so tests can call it.

fn main() -> std::process::ExitCode {
    benchplan::cli::main()
}
