//! The few OS calls the allocator makes, none of which allocates.
//!
//! The allocator must never call `malloc` (it *is* `malloc` under
//! `burrow-malloc`), so everything here is a thin wrapper over a syscall:
//! `mmap`, `munmap`, `madvise`, `clock_gettime`, `write`, `abort`; and the
//! two ways the allocator dies, [`fatal`] and `bad_pointer`, which print
//! with a raw `write(2)` and abort.

use core::ptr;

/// Maps `len` bytes of fresh zeroed read-write memory, or returns null.
///
/// `MAP_NORESERVE`: the kernel commits a page only when it is first touched.
pub(crate) fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choice touches no existing memory.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Maps `len` bytes of fresh zeroed memory at exactly `addr` if nothing is
/// mapped anywhere in `[addr, addr + len)`; returns whether it did.
///
/// `MAP_FIXED_NOREPLACE` (Linux 4.17) refuses an occupied range instead of
/// replacing it; older kernels ignore the flag and treat `addr` as a hint,
/// so a mapping placed elsewhere is unmapped again and counts as refused.
pub(crate) fn map_at(addr: usize, len: usize) -> bool {
    // SAFETY: NOREPLACE never touches an existing mapping; a hint at worst
    // gives a fresh range elsewhere, which we unmap below.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE
                | libc::MAP_ANONYMOUS
                | libc::MAP_NORESERVE
                | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    if p as usize != addr {
        // SAFETY: the range the kernel just gave us instead; nobody uses it.
        unsafe { libc::munmap(p, len) };
        return false;
    }
    true
}

/// Maps `len` bytes aligned to `align` (a power of two), or returns null.
pub(crate) fn map_aligned(len: usize, align: usize) -> *mut u8 {
    let Some(over) = len.checked_add(align) else {
        return ptr::null_mut();
    };
    let p = map(over);
    if p.is_null() {
        return p;
    }
    let start = p as usize;
    let aligned = start.next_multiple_of(align);
    let head = aligned - start;
    let tail = over - head - len;
    // SAFETY: both ranges lie inside the mapping just made and are unused.
    unsafe {
        if head > 0 {
            libc::munmap(p.cast(), head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
    }
    aligned as *mut u8
}

/// Moves the pages of `[from, from + len)` to `to` without copying them
/// (`mremap`), replacing whatever was mapped at `[to, to + len)`, and maps
/// fresh zero pages at `from` again. Returns false, with nothing changed,
/// when the kernel refuses (the range spans two mappings, an old kernel).
///
/// # Safety
/// Both ranges are page-aligned memory this allocator mapped, disjoint;
/// the caller owns both, and nobody else touches them during the call.
#[cfg(target_os = "linux")]
pub(crate) unsafe fn move_pages(from: usize, to: usize, len: usize) -> bool {
    // SAFETY: the caller owns both ranges; MREMAP_FIXED replaces only `to`.
    let r = unsafe {
        libc::mremap(
            from as *mut libc::c_void,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to as *mut libc::c_void,
        )
    };
    if r == libc::MAP_FAILED {
        return false;
    }
    // SAFETY: `from` is unmapped now, a hole in our arena; we fill it.
    if !unsafe { map_fresh(from, len) } {
        fatal("mmap over a moved range failed");
    }
    true
}

/// The portable build never moves pages; callers copy.
///
/// # Safety
/// None needed; nothing is touched.
#[cfg(not(target_os = "linux"))]
pub(crate) unsafe fn move_pages(_from: usize, _to: usize, _len: usize) -> bool {
    false
}

/// Replaces `[addr, addr + len)` with fresh zero pages (`MAP_FIXED`),
/// dropping the old ones at once; the new mapping merges with neighbours
/// that a `mremap` split off. Returns whether it did.
///
/// # Safety
/// The range is page-aligned memory this allocator mapped and nobody uses.
pub(crate) unsafe fn map_fresh(addr: usize, len: usize) -> bool {
    // SAFETY: the caller owns the range; MAP_FIXED replaces only it.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    p != libc::MAP_FAILED
}

/// Tells the kernel it may drop the pages of `[addr, addr + len)`; they read
/// as zero afterwards and cost no memory until touched again.
///
/// # Safety
/// The range must be memory this allocator mapped and nobody uses.
pub(crate) unsafe fn release(addr: usize, len: usize) {
    // SAFETY: the caller guarantees the range is ours and unused.
    unsafe {
        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
    }
}

/// Monotonic clock in nanoseconds, at the kernel tick's resolution
/// (`CLOCK_MONOTONIC_COARSE`: 1–4 ms). Every reader is the scavenger's
/// bookkeeping (when a span was freed, when the last pass ran) against a
/// decay of a second or so, and a large block's pair reads it twice
/// (freeing a span, then the inline scavenger's check): the coarse clock
/// is one vDSO load where the precise one reads the TSC and scales it,
/// 11 % of a large-block pair's time in a VM.
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Writes `msg` to stderr without allocating.
pub(crate) fn write_stderr(msg: &[u8]) {
    let mut rest = msg;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid readable buffer of its length.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// Prints `burrow-alloc: fatal: MSG` and aborts, without allocating or
/// unwinding (an allocator cannot unwind through C callers).
#[cold]
pub fn fatal(msg: &str) -> ! {
    write_stderr(b"burrow-alloc: fatal: ");
    write_stderr(msg.as_bytes());
    write_stderr(b"\n");
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// Prints `burrow-alloc: double free or invalid pointer 0x… (OP)` and
/// aborts, without allocating or unwinding: `free`, `realloc` or the debug
/// checks found that `addr` is not a live block of ours (see *Double frees*
/// in `lib.rs`). `op` names the call.
#[cold]
#[inline(never)]
pub(crate) fn bad_pointer(addr: usize, op: &str) -> ! {
    let mut hex = [0u8; 16];
    let mut n = 0;
    let mut v = addr;
    loop {
        hex[15 - n] = b"0123456789abcdef"[v & 0xf];
        n += 1;
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    write_stderr(b"burrow-alloc: double free or invalid pointer 0x");
    write_stderr(&hex[16 - n..]);
    write_stderr(b" (");
    write_stderr(op.as_bytes());
    write_stderr(b")\n");
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// Reads environment variable `name` (NUL-terminated) as a number, without
/// allocating; `None` when unset or not a number.
pub(crate) fn env_u64(name: &core::ffi::CStr) -> Option<u64> {
    // SAFETY: getenv with a valid C string; it does not allocate.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returns a NUL-terminated string.
    let s = unsafe { core::ffi::CStr::from_ptr(p) };
    let mut v: u64 = 0;
    let bytes = s.to_bytes();
    if bytes.is_empty() {
        return None;
    }
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}
