//! A global allocator that asks the kernel for transparent huge pages on
//! large allocations.
//!
//! The credential map at 10 M entries is about a gigabyte of hash table
//! touched at random: with 4 KiB pages nearly every look-up misses the TLB
//! and walks page tables in DRAM. Backing big allocations with 2 MiB pages
//! (`madvise(MADV_HUGEPAGE)`, honoured when
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`)
//! removes most of those walks. Small allocations are untouched.
//! `PORTCULLIS_HUGEPAGES=off` disables the advice (for before/after runs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

/// Allocations at least this large are advised.
pub const THRESHOLD: usize = 4 << 20;
const HUGE: usize = 2 << 20;

/// System allocator plus huge-page advice for large blocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct HugePageAlloc;

/// 0 = not yet read, 1 = on, 2 = off.
static MODE: AtomicU8 = AtomicU8::new(0);

fn enabled() -> bool {
    match MODE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            // Reading the environment allocates small strings only, below
            // the threshold, so this does not recurse.
            let on = std::env::var_os("PORTCULLIS_HUGEPAGES").is_none_or(|v| v != "off");
            MODE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
    }
}

fn advise(ptr: *mut u8, len: usize) {
    if !enabled() {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) & !(HUGE - 1);
    if end > start {
        // SAFETY: [start, end) lies inside the block just returned by the
        // system allocator; MADV_HUGEPAGE only changes how the kernel backs
        // those pages, never their contents or validity.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

// SAFETY: every method delegates to `System`, which upholds the
// `GlobalAlloc` contract; the advice does not touch allocator metadata.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() && layout.size() >= THRESHOLD {
            advise(p, layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() && layout.size() >= THRESHOLD {
            advise(p, layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() && new_size >= THRESHOLD {
            advise(p, new_size);
        }
        p
    }
}
