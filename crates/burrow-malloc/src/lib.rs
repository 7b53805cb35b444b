//! burrow-alloc as the C allocation API, for `LD_PRELOAD`.
//!
//! `LD_PRELOAD=target/release/libburrow_malloc.so program` runs `program`
//! with Go's size-class allocator behind `malloc calloc realloc free
//! posix_memalign aligned_alloc memalign valloc pvalloc malloc_usable_size
//! reallocarray`.
//!
//! # Pitfalls, and how they are met
//!
//! - **No unwinding out.** These are `extern "C"` functions: a Rust panic
//!   reaching their boundary aborts the process (Rust ≥ 1.81) with a
//!   message. The allocator itself never panics on a valid call; it reports
//!   impossible states with `burrow_alloc::fatal`, which writes to fd 2 and
//!   aborts without allocating.
//! - **No recursion.** The allocator calls only syscalls and a few pthread
//!   functions; where glibc may call `malloc` back (`pthread_setspecific`,
//!   `pthread_atfork`), the thread is marked *initialising* and such calls
//!   take a shared, locked cache (see *Thread lifecycle* in burrow-alloc's
//!   `mcache.rs`). The first call may come before `main`, from the dynamic
//!   loader or a constructor: the heap is a static that needs no set-up.
//! - **`fork`.** `pthread_atfork` handlers take every allocator lock before
//!   `fork` and release them in parent and child (burrow-alloc `fork.rs`).
//! - **`malloc(0)`** returns a unique 16-byte block; `free(NULL)` is a no-op;
//!   pointers outside our heap are ignored by `free` (a program may free
//!   memory the loader got before we were there).
//! - **Double and invalid frees** of large blocks (and of pointers into our
//!   heap that no block covers) abort with `burrow-alloc: double free or
//!   invalid pointer 0x… (free)`, as glibc aborts; small objects are
//!   checked with the `debug-free` feature (see *Double frees* in
//!   burrow-alloc). `tests/c/double_free.c` checks it under the preload.
//! - **Errors**: out of memory, a size no object can have (over
//!   `PTRDIFF_MAX`, or wrapping when rounded up to its alignment or to
//!   pages) or an overflowing `calloc`/`reallocarray` product give NULL with
//!   `errno = ENOMEM` (`posix_memalign` returns `ENOMEM`) — never a smaller
//!   block; a refused `realloc` leaves the old block as it was. Bad
//!   alignments give `EINVAL`. Every size computation here and in
//!   burrow-alloc is checked arithmetic (see *Sizes near the top of the
//!   address space* in burrow-alloc); `tests/c/edges.c` walks
//!   `SIZE_MAX - k`, k < 4096, through every function under the preload.
//! - **Idle memory goes back to the OS.** Free pages are released after
//!   `BURROW_ALLOC_DECAY_MS` (default 1000) by a background thread, started
//!   at an allocation once the heap holds a few MiB (so small programs
//!   never get one) and started again lazily in a `fork` child; so RSS
//!   falls while the program is idle. `BURROW_ALLOC_SCAVENGER=0` keeps the
//!   process free of that thread (for programs that must stay
//!   single-threaded, e.g. to `unshare(CLONE_NEWUSER)`); idle pages are then
//!   released only at the heap's slow paths. See *Background by default*
//!   in burrow-alloc's `scavenger.rs`.
//!
//! The library holds TLS (the mcache) in the static TLS block, which is what
//! `LD_PRELOAD` and linking at start-up give; loading it with `dlopen` is not
//! supported.

use core::ffi::c_void;
use core::ptr;

use burrow_alloc::{allocate, allocate_zeroed, deallocate, reallocate, usable_size};

/// glibc's `malloc` alignment on 64-bit targets (`max_align_t`).
const MIN_ALIGN: usize = 16;

fn set_errno(e: i32) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

fn alloc_or_enomem(size: usize, align: usize) -> *mut c_void {
    let p = allocate(size, align);
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

fn page_size() -> usize {
    // SAFETY: no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// C `malloc`.
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    alloc_or_enomem(size, MIN_ALIGN)
}

/// C `calloc`: NULL and `ENOMEM` when `n * size` overflows.
#[unsafe(no_mangle)]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    let p = allocate_zeroed(total, MIN_ALIGN);
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

/// C `free`.
///
/// # Safety
/// `p` is null or a live block from this allocator, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the C contract of free.
    unsafe { deallocate(p.cast()) }
}

/// C `realloc`: `realloc(NULL, n)` is `malloc(n)`; `realloc(p, 0)` frees
/// `p` and returns NULL (glibc's behaviour).
///
/// # Safety
/// `p` is null or a live block from this allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // SAFETY: the C contract of realloc.
        unsafe { deallocate(p.cast()) };
        return ptr::null_mut();
    }
    // SAFETY: the C contract of realloc; our blocks are MIN_ALIGN-aligned or
    // more, and keeping MIN_ALIGN is what C asks.
    let q = unsafe { reallocate(p.cast(), MIN_ALIGN, size) };
    if q.is_null() {
        set_errno(libc::ENOMEM);
    }
    q.cast()
}

/// `reallocarray`: `realloc(p, n * size)` with overflow checked.
///
/// # Safety
/// As [`realloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: as realloc.
        Some(total) => unsafe { realloc(p, total) },
        None => {
            set_errno(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

/// `posix_memalign`: returns `EINVAL` unless `align` is a power of two
/// multiple of `sizeof(void *)`.
///
/// # Safety
/// `out` is a valid pointer to write the result to.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    if !align.is_power_of_two() || align % core::mem::size_of::<usize>() != 0 {
        return libc::EINVAL;
    }
    let p = allocate(size, align.max(MIN_ALIGN));
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller passes a valid out-pointer.
    unsafe { *out = p.cast() };
    0
}

/// C11 `aligned_alloc`: NULL and `EINVAL` unless `align` is a power of two.
#[unsafe(no_mangle)]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    alloc_or_enomem(size, align.max(MIN_ALIGN))
}

/// `memalign`: like glibc, a non-power-of-two alignment is rounded up.
#[unsafe(no_mangle)]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(a) = align.max(MIN_ALIGN).checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    alloc_or_enomem(size, a)
}

/// `valloc`: page-aligned.
#[unsafe(no_mangle)]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    alloc_or_enomem(size, page_size())
}

/// `pvalloc`: page-aligned, size rounded up to whole pages.
#[unsafe(no_mangle)]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let ps = page_size();
    let Some(rounded) = size.max(1).checked_next_multiple_of(ps) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    alloc_or_enomem(rounded, ps)
}

/// `malloc_usable_size`: 0 for NULL.
///
/// # Safety
/// `p` is null or a live block from this allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    usable_size(p.cast())
}
