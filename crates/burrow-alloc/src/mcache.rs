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
//!   its `owner` is this mcache, push onto the class's list (the current
//!   span) or the span's `local_free` (an owned used-up span); otherwise
//!   push onto the span's remote list (`central::free_remote`, one CAS).
//!
//! # Owned spans
//!
//! Why a thread's free of its own block could take the remote path: an
//! mcache used to own only its *current* span per class. A used-up span
//! went straight to the mcentral's full list, unowned, so every later free
//! of its objects — by the very thread that allocated them — was a remote
//! free: a CAS, the remote word's bookkeeping, and after an eighth of the
//! span a move to the partial list under the class lock. With a working
//! set of four spans of a class, three quarters of a thread's own frees
//! went that way (`tests/own_thread_frees.rs` counted 2046 of 2728).
//!
//! Now an mcache keeps owning up to `OWNED_SPANS` used-up spans per class
//! (`MCache::owned`). The owner's frees into them push onto the span's
//! `local_free` list, no atomics; other threads' frees push onto its remote
//! list as onto any owned span, without state bits or duties. When the
//! current span runs dry, `switch_owned` makes the first owned span with
//! local or remote frees current (the used-up one takes its slot); if none
//! has any, the used-up span takes a free slot or evicts one (round robin),
//! which goes to its mcentral through `detach_owned` (the thread-exit path). At
//! thread exit every owned span is handed back the same way. The refill
//! looks at every slot, so remote frees into owned spans are found there
//! and never stranded for longer than the owner's next refill of the class.
//!
//! The bound keeps memory per thread bounded (at most that many spans per
//! class stay with a thread, free or not) and is the limit of the fix: a
//! thread whose working set in one class spans more than the current span
//! and its owned ones still frees into older spans remotely (measured with
//! `examples/alloc_churn.rs`: about half the frees of 4096 live blocks of
//! 16–1024 B). Owning every span a thread allocates from, as mimalloc
//! does, needs a way for remote frees to tell a busy owner about a full
//! span (mimalloc's delayed-free list) and a hand-over of a dead thread's
//! spans; not done.
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
use crate::stats::{CLASS_FREES, CLASS_MALLOCS, FLUSH_EVERY, REMOTE_FREES};

/// Used-up spans an mcache keeps owning per class, besides its current
/// span (see *Owned spans*). More keeps more of a thread's own frees local
/// and holds more memory per thread: up to this many spans per class stay
/// with the thread, free or not, until it needs room, exits or calls
/// `release_thread_cache`.
const OWNED_SPANS: usize = 4;

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
    /// Per class, used-up spans this cache still owns (null: a free slot);
    /// see *Owned spans*. Kept apart from `classes` so the fast path's
    /// slots stay 32 bytes.
    owned: [[*mut MSpan; OWNED_SPANS]; NUM_CLASSES],
    /// Per class, the slot of `owned` the next eviction empties.
    evict: [u8; NUM_CLASSES],
    /// Frees that took the remote path since the last flush (stats).
    nremote: u64,
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
            owned: [[ptr::null_mut(); OWNED_SPANS]; NUM_CLASSES],
            evict: [0; NUM_CLASSES],
            nremote: 0,
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
            flush_remote(mc);
        }
        if (*s).owner.load(Ordering::Relaxed) == mc as usize {
            if s == cc.span {
                *(p as *mut *mut u8) = cc.free;
                cc.free = p;
            } else {
                // A used-up span this cache still owns (*Owned spans*).
                *(p as *mut *mut u8) = (*s).local_free;
                (*s).local_free = p;
            }
        } else {
            (*mc).nremote += 1;
            central::free_remote(s, p);
        }
    }
}

/// Adds `mc`'s remote-free count to the global one.
///
/// # Safety
/// The caller has exclusive use of `mc`.
#[cold]
unsafe fn flush_remote(mc: *mut MCache) {
    // SAFETY: the caller's exclusive use of `mc`.
    unsafe {
        if (*mc).nremote != 0 {
            REMOTE_FREES.fetch_add((*mc).nremote, Ordering::Relaxed);
            (*mc).nremote = 0;
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
        crate::scavenger::maybe_start(bg);
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
        flush_remote(mc);
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
                    // `cc` is not used across the call, which changes the
                    // class's current span through `mc`.
                    let list = switch_owned(mc, class);
                    (*mc).classes[class].free = list;
                }
            }
        }
        let cc = &mut (*mc).classes[class];
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

/// The current span of `class` is used up: make an owned span with free
/// objects current and return its list, the used-up span taking its slot;
/// else keep the used-up span in a slot (evicting the oldest if all are
/// full), leave the class without a current span and return null.
///
/// # Safety
/// The caller has exclusive use of `mc`; its current span of `class` has
/// no free object in its local list, remote list or bump region.
unsafe fn switch_owned(mc: *mut MCache, class: usize) -> *mut u8 {
    // SAFETY: the caller's exclusive use of `mc`; the spans in its slots
    // are owned by it, so their owner-only fields are ours.
    unsafe {
        let used = (*mc).classes[class].span;
        let slots = &mut (*mc).owned[class];
        for slot in slots.iter_mut() {
            let r = *slot;
            if r.is_null() {
                continue;
            }
            let mut list = (*r).local_free;
            if !list.is_null() {
                (*r).local_free = ptr::null_mut();
            } else if (*r).remote.load(Ordering::Relaxed) != 0 {
                // Acquire: pairs with the pushers' Release CAS.
                list = r_head((*r).remote.swap(0, Ordering::Acquire));
            }
            if !list.is_null() {
                *slot = used;
                (*mc).classes[class].span = r;
                return list;
            }
        }
        let i = match slots.iter().position(|r| r.is_null()) {
            Some(i) => i,
            None => {
                let i = usize::from((*mc).evict[class]);
                (*mc).evict[class] = ((i + 1) % OWNED_SPANS) as u8;
                i
            }
        };
        let victim = slots[i];
        slots[i] = used;
        (*mc).classes[class].span = ptr::null_mut();
        if !victim.is_null() {
            give_up(victim);
        }
        ptr::null_mut()
    }
}

/// Hands owned span `s` and its local free list to its mcentral (or, if
/// every object is free, to the heap).
///
/// # Safety
/// The caller's cache owns `s`, which is not its current span.
unsafe fn give_up(s: *mut MSpan) {
    // SAFETY: the caller owns `s`; `local_free` holds free objects of `s`.
    unsafe {
        let local = (*s).local_free;
        (*s).local_free = ptr::null_mut();
        if central::detach_owned(s, local) {
            heap::free_span(s);
        }
    }
}

/// Hands every span of `mc` back to the mcentrals and flushes its counts.
unsafe fn flush(mc: *mut MCache) {
    // SAFETY: the caller has exclusive use of `mc`.
    unsafe { flush_remote(mc) };
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
            for slot in (*mc).owned[class].iter_mut() {
                let r = core::mem::replace(slot, ptr::null_mut());
                if !r.is_null() {
                    give_up(r);
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
            flush_remote(mc);
            for class in 1..NUM_CLASSES {
                flush_counts(class, &mut (*mc).classes[class]);
            }
        }
    }
}

/// Flushes the calling thread's counters (for `stats`).
pub(crate) fn flush_my_counts() {
    let mc = mcache();
    // SAFETY: this thread's cache.
    unsafe { flush_remote(mc) };
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
