//! Cache prefetch hints, for memory the scheduler knows it will touch
//! soon and that is likely cold: a sleeping goroutine's frames when its
//! timer readies it (`Ready::ready_cold`), a free G's frames and the next
//! free G, the next timer to fire and the G it wakes. With a
//! hundred thousand goroutines parked, each one's stack and G were last
//! touched long ago; resuming one pays a cache miss (and a TLB miss) for
//! every line its unwinding frames touch, one after another. A prefetch
//! issued when the scheduler first learns the goroutine will run turns
//! those serial misses into parallel ones, overlapped with the work in
//! between (`timers_1m`: about a sixth of its time; `docs/timers.md`).
//!
//! A prefetch is only a hint: it never faults, so any address will do (a
//! compacted stack's released page, a guard page), and it is a no-op on
//! targets without one here.

/// Bytes of a parked goroutine's stack, from its saved stack pointer up,
/// that a resume touches first: the switch's frame and the few above it
/// (park, the blocking call, the goroutine's own frame). Measured as
/// stack compaction's copy size: ~750 B for a goroutine parked in a
/// channel receive.
pub(crate) const FRAMES: usize = 768;

/// Hints that the line holding `addr` will be read soon.
#[inline(always)]
pub(crate) fn line(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and has no other effect than on the
    // cache, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Hints that `[addr, addr + len)` will be read soon.
#[inline]
pub(crate) fn range(addr: usize, len: usize) {
    let mut a = addr & !63;
    while a < addr.saturating_add(len) {
        line(a);
        a += 64;
    }
}
