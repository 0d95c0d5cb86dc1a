//! Apple silicon's energy counters through IOReport (`/usr/lib/libIOReport.dylib`), readable
//! without root, as `macmon` reads them: the "Energy Model" group's `GPU Energy` channel, a
//! cumulative counter whose unit the channel states (`mJ`, `uJ`, `nJ`).
//!
//! **Never run here**: no Mac was available to this project. This module is type-checked in
//! CI (`cargo check --target aarch64-apple-darwin`) and written from IOReport's known
//! signatures; the docs say so, and the first run on a Mac should compare its figures with
//! `sudo powermetrics --samplers gpu_power`. Every failure is a reason on the row, never a
//! panic.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;

use super::Counter;

type CFTypeRef = *const c_void;
type CFStringRef = *const c_void;
type CFDictionaryRef = *const c_void;
type CFMutableDictionaryRef = *mut c_void;
type CFArrayRef = *const c_void;
type CFIndex = isize;

const UTF8: u32 = 0x0800_0100;

#[link(name = "CoreFoundation", kind = "framework")]
extern "C" {
    fn CFStringCreateWithCString(alloc: CFTypeRef, s: *const c_char, encoding: u32) -> CFStringRef;
    fn CFStringGetCString(s: CFStringRef, buf: *mut c_char, size: CFIndex, encoding: u32) -> u8;
    fn CFDictionaryGetValue(d: CFDictionaryRef, key: CFTypeRef) -> CFTypeRef;
    fn CFDictionaryGetCount(d: CFDictionaryRef) -> CFIndex;
    fn CFDictionaryCreateMutableCopy(
        alloc: CFTypeRef,
        capacity: CFIndex,
        d: CFDictionaryRef,
    ) -> CFMutableDictionaryRef;
    fn CFArrayGetCount(a: CFArrayRef) -> CFIndex;
    fn CFArrayGetValueAtIndex(a: CFArrayRef, i: CFIndex) -> CFTypeRef;
    fn CFRelease(t: CFTypeRef);
}

#[link(name = "IOReport")]
extern "C" {
    fn IOReportCopyChannelsInGroup(
        group: CFStringRef,
        subgroup: CFStringRef,
        a: u64,
        b: u64,
        c: u64,
    ) -> CFDictionaryRef;
    fn IOReportCreateSubscription(
        a: *const c_void,
        desired: CFMutableDictionaryRef,
        subscribed: *mut CFMutableDictionaryRef,
        channel_id: u64,
        b: CFTypeRef,
    ) -> *const c_void;
    fn IOReportCreateSamples(
        subscription: *const c_void,
        channels: CFMutableDictionaryRef,
        a: CFTypeRef,
    ) -> CFDictionaryRef;
    fn IOReportChannelGetChannelName(channel: CFDictionaryRef) -> CFStringRef;
    fn IOReportChannelGetUnitLabel(channel: CFDictionaryRef) -> CFStringRef;
    fn IOReportSimpleGetIntegerValue(channel: CFDictionaryRef, index: i32) -> i64;
}

/// An owned Core Foundation object, released on drop.
struct Owned(CFTypeRef);

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: created by a Create/Copy function, released once.
            unsafe { CFRelease(self.0) }
        }
    }
}

fn cf_string(s: &str) -> Owned {
    let c = CString::new(s).unwrap_or_default();
    // SAFETY: a valid NUL-terminated UTF-8 string.
    Owned(unsafe { CFStringCreateWithCString(ptr::null(), c.as_ptr(), UTF8) })
}

fn rust_string(s: CFStringRef) -> Option<String> {
    if s.is_null() {
        return None;
    }
    let mut buf = [0 as c_char; 128];
    // SAFETY: the buffer's size is passed; CF writes a NUL-terminated string into it.
    let ok = unsafe { CFStringGetCString(s, buf.as_mut_ptr(), buf.len() as CFIndex, UTF8) };
    // SAFETY: on success the buffer holds a NUL-terminated string.
    (ok != 0).then(|| {
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    })
}

/// Joules per unit of a channel's unit label.
fn joules_per(unit: &str) -> Option<f64> {
    match unit.trim() {
        "J" => Some(1.0),
        "mJ" => Some(1e-3),
        "uJ" | "µJ" => Some(1e-6),
        "nJ" => Some(1e-9),
        _ => None,
    }
}

/// The GPU's energy counter of the "Energy Model" group.
pub struct GpuEnergy {
    subscription: *const c_void,
    channels: Owned,
}

impl GpuEnergy {
    /// Subscribes to the Energy Model channels, or says why it cannot.
    pub fn open() -> Result<GpuEnergy, String> {
        let group = cf_string("Energy Model");
        // SAFETY: IOReport's documented-by-use signatures (macmon, asitop); null results are
        // checked before use.
        unsafe {
            let all = Owned(IOReportCopyChannelsInGroup(group.0, ptr::null(), 0, 0, 0));
            if all.0.is_null() {
                return Err("IOReport has no Energy Model channels on this Mac".into());
            }
            let desired =
                CFDictionaryCreateMutableCopy(ptr::null(), CFDictionaryGetCount(all.0), all.0);
            let desired = Owned(desired as CFTypeRef);
            let mut subscribed: CFMutableDictionaryRef = ptr::null_mut();
            let subscription = IOReportCreateSubscription(
                ptr::null(),
                desired.0 as CFMutableDictionaryRef,
                &mut subscribed,
                0,
                ptr::null(),
            );
            if subscription.is_null() || subscribed.is_null() {
                return Err("IOReport refused a subscription to its Energy Model channels".into());
            }
            let counter = GpuEnergy {
                subscription,
                channels: Owned(subscribed as CFTypeRef),
            };
            Ok(counter)
        }
    }
}

impl Counter for GpuEnergy {
    fn source(&self) -> &'static str {
        "ioreport"
    }

    fn read(&mut self) -> Result<f64, String> {
        let key = cf_string("IOReportChannels");
        // SAFETY: the subscription and its channels live as long as `self`; every object read
        // from the sample is borrowed from it and used before it is released.
        unsafe {
            let sample = Owned(IOReportCreateSamples(
                self.subscription,
                self.channels.0 as CFMutableDictionaryRef,
                ptr::null(),
            ));
            if sample.0.is_null() {
                return Err("IOReport gave no sample".into());
            }
            let list = CFDictionaryGetValue(sample.0, key.0);
            if list.is_null() {
                return Err("IOReport's sample has no channels".into());
            }
            for i in 0..CFArrayGetCount(list) {
                let channel = CFArrayGetValueAtIndex(list, i);
                if rust_string(IOReportChannelGetChannelName(channel)).as_deref()
                    != Some("GPU Energy")
                {
                    continue;
                }
                let unit = rust_string(IOReportChannelGetUnitLabel(channel)).unwrap_or_default();
                let per = joules_per(&unit).ok_or_else(|| {
                    format!("IOReport's GPU Energy is in `{unit}`, a unit benchplan does not know")
                })?;
                return Ok(IOReportSimpleGetIntegerValue(channel, 0) as f64 * per);
            }
            Err("IOReport's Energy Model has no `GPU Energy` channel on this Mac".into())
        }
    }

    fn wraps_at(&self) -> Option<f64> {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn units_convert_to_joules() {
        assert_eq!(super::joules_per("mJ"), Some(1e-3));
        assert_eq!(super::joules_per("nJ"), Some(1e-9));
        assert_eq!(super::joules_per("W"), None);
    }
}
