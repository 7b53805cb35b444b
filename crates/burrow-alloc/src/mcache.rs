//! `mcache`: the per-thread cache in front of everything, and the fast paths.
//!
//! Go gives each P an mcache holding one span per size class; allocation
//! takes the next free slot of that span without a lock. We have no Ps, so
//! the cache is per thread: a `thread_local!` with a `const` initialiser and
//! no `Drop`, which Rust lays out as a plain `#[thread_local]` static — no
//! lazy-init check and no destructor registration on the fast path.
//!
//! # Fast paths
//!
//! - **alloc**: TLS address, index by class, pop the head of the class's
//!   free list, bump a counter. A null head falls to `alloc_slow`.
//! - **free**: find the span through the arena map (`heap::span_of`); if
//!   its `owner` is this mcache, push onto the class's list; otherwise push
//!   onto the span's remote list (`central::free_remote`, one CAS).
//!
//! # Slow path (refill)
//!
//! Collect the current span's remote frees; else carve more objects from the
//! span's never-used tail; else give the span to the mcentral and adopt a
//! partial one from it; else take a fresh span from the heap.
//!
//! # Thread lifecycle
//!
//! A thread's first slow path registers the cache with a `pthread_key_create`
//! key whose destructor hands every span back to the mcentrals at thread
//! exit. States, in order: `UNINIT` → `INITIALIZING` → `ACTIVE` → `DEAD`.
//! While `INITIALIZING` (registration may itself call `malloc` in glibc)
//! and once `DEAD` (other TLS destructors run after ours and may allocate),
//! the thread allocates from `FALLBACK`, one shared mcache behind a lock.

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use crate::central;
use crate::heap;
use crate::lock::SpinLock;
use crate::sizeclass::{NUM_CLASSES, PAGE_SIZE};
use crate::span::{MSpan, r_head};
use crate::stats::{CLASS_FREES, CLASS_MALLOCS, FLUSH_EVERY};

const ST_UNINIT: u8 = 0;
const ST_INITIALIZING: u8 = 1;
const ST_ACTIVE: u8 = 2;
const ST_DEAD: u8 = 3;

/// One class's slot in an mcache. Owner thread only.
#[derive(Clone, Copy)]
struct ClassCache {
    free: *mut u8,
    span: *mut MSpan,
    nmalloc: u64,
    nfree: u64,
}

/// A thread's cache (Go's `mcache`). Touched only by its thread (or, for
/// `FALLBACK`, under its lock); its address is the owner id in `MSpan::owner`.
pub(crate) struct MCache {
    state: u8,
    classes: [ClassCache; NUM_CLASSES],
}

// SAFETY: an MCache is only used by one thread at a time (its own, or the
// holder of the FALLBACK lock); the raw pointers point into the heap.
unsafe impl Send for MCache {}

impl MCache {
    const fn new(state: u8) -> MCache {
        MCache {
            state,
            classes: [ClassCache {
                free: ptr::null_mut(),
                span: ptr::null_mut(),
                nmalloc: 0,
                nfree: 0,
            }; NUM_CLASSES],
        }
    }
}

thread_local! {
    static MCACHE: UnsafeCell<MCache> = const { UnsafeCell::new(MCache::new(ST_UNINIT)) };
}

/// The shared cache for threads without a usable one of their own.
static FALLBACK: SpinLock<MCache> = SpinLock::new(MCache::new(ST_ACTIVE));

const INIT_NONE: u8 = 0;
const INIT_RUNNING: u8 = 1;
const INIT_DONE: u8 = 2;
static INIT: AtomicU8 = AtomicU8::new(INIT_NONE);
static KEY: AtomicU32 = AtomicU32::new(0);

/// This thread's cache. Never inlined: a caller may run on a stackful
/// coroutine that resumes on another thread (a burrow goroutine after a
/// park), and an inlined thread-local address computed before the switch
/// could be reused after it, so that two threads shared one mcache. A
/// call computes it afresh each time; the rest of the fast path stays
/// inline. (burrow-sched's tasks hit exactly this: a crash in skynet.)
///
/// The address then passes through an empty `asm!` that may read and
/// write memory (no `nomem`/`pure`): otherwise this function touches no
/// memory (LLVM treats `llvm.threadlocal.address` as pure), is inferred
/// `memory(none)` (checked in the IR), and two calls in one caller could
/// be merged across a park all the same. `black_box` does the same job on
/// other targets but spills the pointer to the stack: ~1 ns more per pair.
#[inline(never)]
fn mcache() -> *mut MCache {
    #[allow(unused_mut)]
    let mut p = MCACHE.with(|c| c.get());
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    // SAFETY: an empty instruction sequence: it reads and writes nothing;
    // it only makes the compiler assume that it may.
    unsafe {
        core::arch::asm!("/* {0} */", inout(reg) p, options(nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let p = core::hint::black_box(p);
    p
}

/// Allocates an object of size class `class`.
///
/// # Safety
/// `class` is in `1..NUM_CLASSES`.
#[inline(always)]
pub(crate) unsafe fn alloc_small(class: usize, bg: bool) -> *mut u8 {
    let mc = mcache();
    // SAFETY: `mc` is this thread's cache; `class` is in bounds (caller).
    unsafe {
        let cc = (*mc).classes.get_unchecked_mut(class);
        let p = cc.free;
        if !p.is_null() {
            cc.free = *(p as *mut *mut u8);
            cc.nmalloc += 1;
            return p;
        }
        alloc_slow(mc, class, bg)
    }
}

/// Frees object `p` of small span `s`.
///
/// # Safety
/// `p` is a live object of `s`, freed once.
#[inline(always)]
pub(crate) unsafe fn free_small(s: *mut MSpan, p: *mut u8) {
    let mc = mcache();
    // SAFETY: `s` is live while `p` is; `mc` is this thread's cache.
    unsafe {
        let class = (*s).class as usize;
        let cc = (*mc).classes.get_unchecked_mut(class);
        cc.nfree += 1;
        if cc.nfree >= FLUSH_EVERY {
            flush_counts(class, cc);
        }
        if (*s).owner.load(Ordering::Relaxed) == mc as usize {
            *(p as *mut *mut u8) = cc.free;
            cc.free = p;
        } else {
            central::free_remote(s, p);
        }
    }
}

#[cold]
fn flush_counts(class: usize, cc: &mut ClassCache) {
    if cc.nmalloc != 0 {
        CLASS_MALLOCS[class].fetch_add(cc.nmalloc, Ordering::Relaxed);
        cc.nmalloc = 0;
    }
    if cc.nfree != 0 {
        CLASS_FREES[class].fetch_add(cc.nfree, Ordering::Relaxed);
        cc.nfree = 0;
    }
}

#[cold]
#[inline(never)]
unsafe fn alloc_slow(mc: *mut MCache, class: usize, bg: bool) -> *mut u8 {
    // SAFETY: `mc` is this thread's cache and nothing else borrows it.
    unsafe {
        if (*mc).state == ST_UNINIT {
            init_thread(mc);
        }
        if (*mc).state != ST_ACTIVE {
            return fallback_alloc(class);
        }
        let p = refill(mc, class);
        if bg && !crate::scavenger::background_running() {
            crate::scavenger::start_background();
        }
        p
    }
}

fn fallback_alloc(class: usize) -> *mut u8 {
    FALLBACK.raw_lock();
    // SAFETY: we hold the FALLBACK lock, so its cache is ours for now.
    let p = unsafe { refill(FALLBACK.get(), class) };
    // SAFETY: taken above.
    unsafe { FALLBACK.raw_unlock() };
    p
}

/// Carves up to a page of objects from the span's bump region onto `cc`.
unsafe fn carve(s: *mut MSpan, cc: &mut ClassCache) {
    // SAFETY: the caller owns `s`; the carved memory is unused span memory.
    unsafe {
        let size = (*s).elem_size;
        let n = (PAGE_SIZE / size).max(1);
        let end = ((*s).bump + n * size).min((*s).limit);
        let mut p = end - size;
        let mut head = cc.free;
        while p >= (*s).bump {
            *(p as *mut *mut u8) = head;
            head = p as *mut u8;
            if p < size {
                break;
            }
            p -= size;
        }
        cc.free = head;
        (*s).bump = end;
    }
}

/// Gets an object for `class` into `mc`'s list and pops it; null when the
/// OS refuses memory.
unsafe fn refill(mc: *mut MCache, class: usize) -> *mut u8 {
    // SAFETY: the caller has exclusive use of `mc`; spans it owns are its
    // to mutate (owner-only fields).
    unsafe {
        let me = mc as usize;
        let cc = &mut (*mc).classes[class];
        flush_counts(class, cc);
        if cc.free.is_null() {
            let s = cc.span;
            if !s.is_null() {
                if (*s).remote.load(Ordering::Relaxed) != 0 {
                    // Acquire: pairs with the pushers' Release CAS.
                    cc.free = r_head((*s).remote.swap(0, Ordering::Acquire));
                }
                if cc.free.is_null() && (*s).bump < (*s).limit {
                    carve(s, cc);
                }
                if cc.free.is_null() {
                    cc.free = central::detach_exhausted(s, me);
                    if cc.free.is_null() {
                        cc.span = ptr::null_mut();
                    }
                }
            }
        }
        while cc.free.is_null() {
            if let Some((s, list)) = central::adopt(class, me) {
                cc.span = s;
                cc.free = list;
                if list.is_null() && (*s).bump < (*s).limit {
                    carve(s, cc);
                }
                if cc.free.is_null() {
                    // Nothing usable after all: hand it back and go on.
                    cc.free = central::detach_exhausted(s, me);
                    if cc.free.is_null() {
                        cc.span = ptr::null_mut();
                    }
                }
                continue;
            }
            let s = heap::alloc_small_span(class);
            if s.is_null() {
                return ptr::null_mut();
            }
            (*s).owner.store(me, Ordering::Relaxed);
            cc.span = s;
            carve(s, cc);
        }
        let p = cc.free;
        cc.free = *(p as *mut *mut u8);
        cc.nmalloc += 1;
        p
    }
}

/// Hands every span of `mc` back to the mcentrals and flushes its counts.
unsafe fn flush(mc: *mut MCache) {
    for class in 1..NUM_CLASSES {
        // SAFETY: the caller has exclusive use of `mc` and owns its spans.
        unsafe {
            let cc = &mut (*mc).classes[class];
            flush_counts(class, cc);
            let s = cc.span;
            if !s.is_null() {
                let local = cc.free;
                cc.free = ptr::null_mut();
                cc.span = ptr::null_mut();
                if central::detach_owned(s, local) {
                    heap::free_span(s);
                }
            }
        }
    }
}

unsafe fn init_thread(mc: *mut MCache) {
    // SAFETY: `mc` is this thread's cache.
    unsafe {
        (*mc).state = ST_INITIALIZING;
        global_init();
        // May allocate in glibc (keys past the first 32); we are
        // INITIALIZING, so such calls use the fallback cache.
        libc::pthread_setspecific(KEY.load(Ordering::Relaxed), mc as *const libc::c_void);
        (*mc).state = ST_ACTIVE;
    }
}

fn global_init() {
    // Acquire: pairs with the Release store of INIT_DONE below.
    if INIT.load(Ordering::Acquire) == INIT_DONE {
        return;
    }
    if INIT
        .compare_exchange(
            INIT_NONE,
            INIT_RUNNING,
            Ordering::Acquire,
            Ordering::Acquire,
        )
        .is_ok()
    {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: valid out-pointer and an extern "C" destructor.
        if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } != 0 {
            crate::sys::fatal("pthread_key_create failed");
        }
        KEY.store(key, Ordering::Relaxed);
        crate::fork::register();
        // Release: publishes KEY to threads that see INIT_DONE.
        INIT.store(INIT_DONE, Ordering::Release);
        return;
    }
    // Another thread initialises; it never waits for us, so this ends.
    while INIT.load(Ordering::Acquire) != INIT_DONE {
        // SAFETY: no preconditions.
        unsafe { libc::sched_yield() };
    }
}

extern "C" fn thread_exit(arg: *mut libc::c_void) {
    let mc = arg as *mut MCache;
    // SAFETY: the key's value is this exiting thread's own cache.
    unsafe {
        flush(mc);
        (*mc).state = ST_DEAD;
    }
}

/// Returns the calling thread's cached spans to the mcentrals (Go's
/// `mcache.releaseAll`), e.g. before a thread goes idle for long.
pub(crate) fn release_thread_cache() {
    let mc = mcache();
    // SAFETY: this thread's cache, used exclusively here.
    unsafe {
        if (*mc).state == ST_ACTIVE {
            flush(mc);
        } else {
            for class in 1..NUM_CLASSES {
                flush_counts(class, &mut (*mc).classes[class]);
            }
        }
    }
}

/// Flushes the calling thread's counters (for `stats`).
pub(crate) fn flush_my_counts() {
    let mc = mcache();
    for class in 1..NUM_CLASSES {
        // SAFETY: this thread's cache; counters are owner-only.
        unsafe { flush_counts(class, &mut (*mc).classes[class]) };
    }
}

/// Fork prepare: take the fallback lock (then the mcentrals and heap).
pub(crate) fn lock_fallback() {
    FALLBACK.raw_lock();
}

/// Fork parent/child: release the fallback lock.
///
/// # Safety
/// Taken by [`lock_fallback`] before the fork.
pub(crate) unsafe fn unlock_fallback() {
    // SAFETY: the caller took it.
    unsafe { FALLBACK.raw_unlock() };
}
