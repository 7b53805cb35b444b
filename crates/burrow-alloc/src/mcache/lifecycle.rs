//! An mcache's life: registration at a thread's first slow path, the
//! flush that hands every span back at thread exit (or on request), and
//! the fallback cache's lock around `fork` (*Thread lifecycle* in
//! `mcache.rs`).

use core::ptr;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use super::{
    FALLBACK, MCache, ST_ACTIVE, ST_DEAD, ST_INITIALIZING, bins, flush_counts, flush_remote, mcache,
};
use crate::sizeclass::NUM_CLASSES;
use crate::span::{LIST_NONE, MSpan};
use crate::{central, heap};

const INIT_NONE: u8 = 0;
const INIT_RUNNING: u8 = 1;
const INIT_DONE: u8 = 2;
static INIT: AtomicU8 = AtomicU8::new(INIT_NONE);
static KEY: AtomicU32 = AtomicU32::new(0);

/// Hands span `s` of `mc` and its local free list `local` to its mcentral
/// (or, if every object is free, to the heap).
///
/// # Safety
/// `mc` owns `s`; `local` lists free objects of `s`.
unsafe fn give_up(s: *mut MSpan, local: *mut u8) {
    // SAFETY: the caller owns `s`.
    unsafe {
        (*s).list = LIST_NONE;
        (*s).local_free = ptr::null_mut();
        if central::detach_owned(s, local) {
            heap::free_span(s);
        }
    }
}

/// Hands every span of `mc` back to the mcentrals and flushes its counts.
/// Objects delivered meanwhile are freed afterwards, as remote frees into
/// the spans, which nobody owns then.
unsafe fn flush(mc: *mut MCache) {
    // SAFETY: the caller has exclusive use of `mc`. The bins go first:
    // their blocks return to the spans about to be given up.
    unsafe {
        bins::flush_all(mc);
        flush_remote(mc);
    }
    for class in 1..NUM_CLASSES {
        // SAFETY: the caller has exclusive use of `mc` and owns its spans.
        unsafe {
            flush_counts(mc, class);
            let cc = &mut (*mc).classes[class];
            let s = cc.span;
            if !s.is_null() {
                let local = cc.free;
                cc.free = ptr::null_mut();
                cc.span = ptr::null_mut();
                give_up(s, local);
            }
            for list in [&mut (*mc).avail[class], &mut (*mc).full[class]] {
                loop {
                    let r = list.head;
                    if r.is_null() {
                        break;
                    }
                    list.remove(r);
                    give_up(r, (*r).local_free);
                }
            }
            (*mc).nempty[class] = 0;
        }
    }
    // SAFETY: every span is given up and no delivery is under way
    // (`central::wait_for_delivery`); Acquire pairs with the Release push
    // in `deliver`.
    unsafe {
        let mut p = (*mc).delayed.swap(ptr::null_mut(), Ordering::Acquire);
        while !p.is_null() {
            let next = *(p as *mut *mut u8);
            central::free_remote(heap::span_of(p as usize), p);
            p = next;
        }
    }
}

pub(super) unsafe fn init_thread(mc: *mut MCache) {
    // SAFETY: `mc` is this thread's cache.
    unsafe {
        (*mc).state = ST_INITIALIZING;
        global_init();
        // May allocate in glibc (keys past the first 32); we are
        // INITIALIZING, so such calls use the fallback cache.
        libc::pthread_setspecific(KEY.load(Ordering::Relaxed), mc as *const libc::c_void);
        (*mc).state = ST_ACTIVE;
        bins::open(mc);
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
    // Dead first: nothing on the flush path allocates or frees today,
    // but a free there must go to its span, never reopen a bin that no
    // later flush would empty.
    unsafe {
        (*mc).state = ST_DEAD;
        bins::close(mc);
        flush(mc);
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
                flush_counts(mc, class);
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
        unsafe { flush_counts(mc, class) };
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
