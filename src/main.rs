//! The `benchplan` binary: everything lives in the library so tests can call it.

fn main() -> std::process::ExitCode {
    pin_thread_count();
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`benchplan check plan.toml | head`): Rust ignores SIGPIPE, which made `println!` panic.
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    benchplan::cli::main()
}

/// candle asks for its CPU thread count before every matrix product, and unless
/// `RAYON_NUM_THREADS` is set that means `num_cpus::get()`, which reads cgroup files each time:
/// 7% of a run of 64×64 products was spent there, inside the timed iterations. Setting the
/// variable (to what rayon and num_cpus would choose anyway) makes the answer a lookup.
/// A value the user set is kept.
fn pin_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY (edition 2024 would require `unsafe`): no other thread exists yet.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
}
