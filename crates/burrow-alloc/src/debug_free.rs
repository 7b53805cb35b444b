//! Debug knob: catch double and invalid frees of small objects.
//!
//! Large blocks are always checked (see *Double frees* in `lib.rs`): their
//! span says whether a live block starts at the pointer, under the heap
//! lock their free takes anyway. A small object is freed without a lock,
//! and its span cannot tell a free object from a live one short of walking
//! free lists that other threads are pushing onto. So the checks below
//! cost something and are off unless the crate is built with the cargo
//! feature `debug-free`:
//!
//! - every arena gets an *allocation bitmap*, one bit per 8 bytes (1 MiB
//!   per 64 MiB arena, mapped without reserve, so only the pages covering
//!   used memory are ever touched);
//! - [`allocate`](crate::allocate) sets the bit of each small object it
//!   hands out;
//! - a free checks that the pointer starts an object of a small span, then
//!   clears the bit with one atomic RMW; a bit already clear means the
//!   object was not live — a double free — and the process aborts with
//!   `burrow-alloc: double free or invalid pointer 0x… (free)`.
//!
//! Cost: one atomic RMW on each allocation and each free of a small
//! object, and 1/64 of the heap in bitmap. Tests: `tests/double_free.rs`
//! (run with `--features debug-free`).
//!
//! The bit's atomic RMWs are Relaxed: the allocation that sets it happens
//! before the free that clears it (the program passed the pointer between
//! them, or a free list did, with its own Release/Acquire), and RMWs on one
//! word are totally ordered, so the free sees the set bit.

use core::sync::atomic::Ordering;

use crate::heap;
use crate::span::{MSpan, SPAN_SMALL};
use crate::sys;

/// Whether small-object frees are checked (cargo feature `debug-free`;
/// off by default).
pub(crate) const DEBUG_FREE: bool = cfg!(feature = "debug-free");

/// The bitmap word and bit of the object at `p`; aborts if `p` has no
/// bitmap (only our arenas have one, and only with `DEBUG_FREE`).
fn bit_of(p: *mut u8, op: &str) -> (&'static core::sync::atomic::AtomicU64, u64) {
    let w = heap::alloc_bits_word(p as usize);
    if w.is_null() {
        sys::bad_pointer(p as usize, op);
    }
    // SAFETY: bitmaps are mapped for the life of the process.
    (unsafe { &*w }, 1u64 << ((p as usize >> 3) & 63))
}

/// Marks the small object at `p`, just handed out, as live.
pub(crate) fn on_alloc(p: *mut u8) {
    let (w, bit) = bit_of(p, "malloc");
    // Relaxed: see the module docs.
    if w.fetch_or(bit, Ordering::Relaxed) & bit != 0 {
        sys::fatal("debug-free: a live small object was handed out again");
    }
}

/// Checks that `p` starts an object of small span `s`; aborts naming `p`
/// and `op` if not.
///
/// # Safety
/// `s` is the span the side table names for `p` (a stale one too: span
/// structs are never unmapped).
unsafe fn check_object(s: *mut MSpan, p: *mut u8, op: &str) {
    // SAFETY: reading a span struct is sound (never unmapped); for a live
    // object these fields are stable, and a double free only needs them to
    // be some past value, which fails the checks here or the bit.
    let (state, base, size, n) = unsafe { ((*s).state, (*s).base, (*s).elem_size, (*s).nelems) };
    let off = (p as usize).wrapping_sub(base);
    if state != SPAN_SMALL || size == 0 || off % size != 0 || off / size >= n {
        sys::bad_pointer(p as usize, op);
    }
}

/// Checks that `p` is a live object of small span `s` and marks it free;
/// aborts naming `p` if it is not.
///
/// # Safety
/// As `check_object`.
pub(crate) unsafe fn on_free(s: *mut MSpan, p: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe { check_object(s, p, "free") };
    let (w, bit) = bit_of(p, "free");
    // Relaxed: see the module docs.
    if w.fetch_and(!bit, Ordering::Relaxed) & bit == 0 {
        sys::bad_pointer(p as usize, "free");
    }
}

/// Checks that `p` is a live object of small span `s` (for `op`, e.g.
/// `realloc`), leaving it live.
///
/// # Safety
/// As `check_object`.
pub(crate) unsafe fn check_live(s: *mut MSpan, p: *mut u8, op: &str) {
    // SAFETY: the caller's contract.
    unsafe { check_object(s, p, op) };
    let (w, bit) = bit_of(p, op);
    // Relaxed: see the module docs.
    if w.load(Ordering::Relaxed) & bit == 0 {
        sys::bad_pointer(p as usize, op);
    }
}
