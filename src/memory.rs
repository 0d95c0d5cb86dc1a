//! Measuring memory and CPU time of the process.
//!
//! - Host allocations are counted by [`CountingAlloc`], the process's global allocator: the
//!   bytes live now and the peak since the last reset. On the CPU backend every tensor is a host
//!   allocation, so the peak above the level before a forward pass is that pass's activation
//!   memory, measured rather than computed. (Device memory on GPUs is not seen here.)
//! - Peak resident set size comes from the kernel: on Linux it is reset before each cell
//!   (`/proc/self/clear_refs`), so it is the cell's own peak; elsewhere it is the process's.
//! - CPU time (user + system, all threads) comes from `getrusage`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes and their peak. Two relaxed atomic operations per
/// allocation: noise next to the allocation itself.
pub struct CountingAlloc;

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            record_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            record_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            record_alloc(new_size);
        }
        p
    }
}

fn record_alloc(size: usize) {
    let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// Host bytes allocated and not yet freed.
pub fn allocated_bytes() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// Runs `f` and returns its result with the peak of host bytes allocated during it, above the
/// level before it started.
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let base = allocated_bytes();
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    (out, peak as u64)
}

/// Starts a new peak-RSS measurement; `true` when the kernel allows it (Linux).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size in bytes: since the last [`reset_peak_rss`] on Linux, since the
/// process started elsewhere.
pub fn peak_rss_bytes() -> Option<u64> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        if let Some(kb) = kb {
            return Some(kb * 1024);
        }
    }
    let usage = rusage()?;
    // ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    let scale = if cfg!(target_os = "macos") { 1 } else { 1024 };
    Some(usage.ru_maxrss as u64 * scale)
}

fn rusage() -> Option<libc::rusage> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    // SAFETY: rc == 0 means the struct was filled in.
    (rc == 0).then(|| unsafe { usage.assume_init() })
}

/// CPU time used by the process so far (user + system, every thread), in milliseconds.
pub fn cpu_time_ms() -> Option<f64> {
    let u = rusage()?;
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    Some(ms(u.ru_utime) + ms(u.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_peak_of_a_temporary_allocation() {
        let ((), peak) = peak_during(|| {
            let v = vec![1u8; 8 << 20];
            std::hint::black_box(&v);
        });
        // Other test threads allocate and free meanwhile (the counter is the process's), so the
        // peak is certain only to within what they free during the window: a little slack.
        assert!(peak >= (8 << 20) - (1 << 16), "{peak}");
    }

    #[test]
    fn cpu_time_advances_with_work() {
        let before = cpu_time_ms().unwrap();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        assert!(cpu_time_ms().unwrap() > before);
        assert!(peak_rss_bytes().unwrap() > 0);
    }
}
