//! `mspan`: a run of pages, either free in the page heap, carved into the
//! objects of one size class, or holding one large object.
//!
//! # Who touches what
//!
//! - `base`, `npages`, `state`, `class`, `elem_size`, `nelems`: written under
//!   the heap lock when the span changes hands with the page heap; read by any
//!   thread that holds an object of the span (it got the object through the
//!   allocation, which happened after those writes).
//! - `bump`, `limit`: the **owner** only — the thread whose mcache holds the
//!   span, or the holder of the class's mcentral lock while nobody owns it.
//! - `local_free`, `used`: the owner only, and only while the span is one
//!   of its cache's spans other than the current one (see *Owned spans* in
//!   `mcache.rs`): the owner's own frees into it, and how many of its
//!   objects the owner does not know to be free. `local_free` is null
//!   whenever the span is current or unowned.
//! - `owner`: the owning mcache's address, or 0. Written only by the owner
//!   itself; other threads read it only to learn that they are *not* the
//!   owner, which a stale value can never make wrong.
//! - `remote`: the atomic remote free list, see *The remote word* below.
//! - `next`, `prev`, `list`: under the lock of whichever list holds the span
//!   (the mcentral lock for unowned small spans, the heap lock for free
//!   spans), or by the owner for its cache's lists (`LIST_OWNED_*`).
//! - `freed_at`, `released`, `needzero`: free spans only, heap lock.
//! - `remapped`: large spans, heap lock: some of the block's pages were
//!   moved there by `mremap` (see *Moving a block* in `heap/large.rs`).
//!
//! # The remote word
//!
//! Frees by threads other than the owner push onto `remote`, a single
//! `AtomicU64` holding the list head (low 48 bits: user addresses fit in 48
//! bits on x86-64 and aarch64 Linux; arenas above that are refused), the
//! number of objects on the list (12 bits; a span has at most 1024 objects)
//! and four state bits:
//!
//! - [`R_UNOWNED`]: no mcache owns the span; it sits in its mcentral. The
//!   list then holds *every* free object of the span, and `target` is how
//!   many objects were ever carved: when the count reaches `target` the span
//!   is empty and goes back to the heap.
//! - [`R_NOTIFY`]: the span is on the mcentral's *full* list. The push that
//!   clears it (setting [`R_MOVING`]) must move the span to the *partial*
//!   list so allocators find it.
//! - [`R_MOVING`]: such a move is under way.
//! - [`R_RECLAIM`]: the span became empty; adopters skip it. Exactly one
//!   thread frees it to the heap: the push that set the bit, unless a move
//!   was under way, in which case the mover does it after the move.
//!
//! While an mcache owns the span (`R_UNOWNED` clear), two bits tell a
//! remote free what the owner needs (mimalloc's *delayed free*):
//!
//! - [`R_NOTIFY`]: the span is on its owner's *full* list, where the owner
//!   does not look (or was, and the owner left the bit set: see *Owned
//!   spans* in `mcache.rs`). The push that sees it does not put its object on the
//!   span's list: it swaps the bit for [`R_MOVING`], hands the object to
//!   the owner's `delayed` list (`mcache::deliver`), which the owner drains
//!   at its next refill (the span becomes available again), then clears
//!   [`R_MOVING`].
//! - [`R_MOVING`]: such a delivery is under way; the owner's cache must
//!   stay alive until it ends, so an exiting owner waits for the bit to
//!   clear before it gives the span up (`central::detach_owned`).
//!
//! Each push is one CAS, so exactly one thread sees each transition and takes
//! the duty that comes with it; duties on unowned spans take the mcentral
//! lock, a delivery takes none.

use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::sys;

/// `state`: in the page heap's free lists.
pub(crate) const SPAN_FREE: u8 = 0;
/// `state`: carved into objects of `class`.
pub(crate) const SPAN_SMALL: u8 = 1;
/// `state`: one large object.
pub(crate) const SPAN_LARGE: u8 = 2;
/// `state`: taken out of the free lists by the scavenger while it releases
/// the pages; never coalesced or allocated in this state.
pub(crate) const SPAN_BUSY: u8 = 3;

/// `list`: on no list.
pub(crate) const LIST_NONE: u8 = 0;
/// `list`: an mcentral's partial list.
pub(crate) const LIST_PARTIAL: u8 = 1;
/// `list`: an mcentral's full list.
pub(crate) const LIST_FULL: u8 = 2;
/// `list`: a page-heap free list.
pub(crate) const LIST_HEAP: u8 = 3;
/// `list`: its owner's list of spans with free objects (`MCache::avail`).
pub(crate) const LIST_OWNED_AVAIL: u8 = 4;
/// `list`: its owner's list of used-up spans (`MCache::full`).
pub(crate) const LIST_OWNED_FULL: u8 = 5;

/// Remote word: no mcache owns the span (see *The remote word*).
pub(crate) const R_UNOWNED: u64 = 1 << 60;
/// Remote word: the span is on a full list (the mcentral's, or its owner's
/// when `R_UNOWNED` is clear); a push moves it, or delivers its object.
pub(crate) const R_NOTIFY: u64 = 1 << 61;
/// Remote word: a move from full to partial (unowned) or a delivery to the
/// owner (owned) is under way.
pub(crate) const R_MOVING: u64 = 1 << 62;
/// Remote word: the span is empty and on its way back to the heap.
pub(crate) const R_RECLAIM: u64 = 1 << 63;
const R_PTR_MASK: u64 = (1 << 48) - 1;
const R_COUNT_SHIFT: u32 = 48;
const R_COUNT_MASK: u64 = 0xfff;
const R_FLAGS: u64 = R_UNOWNED | R_NOTIFY | R_MOVING | R_RECLAIM;

/// Packs a remote word.
#[inline]
pub(crate) fn r_pack(head: *mut u8, count: u64, flags: u64) -> u64 {
    (head as u64 & R_PTR_MASK) | (count << R_COUNT_SHIFT) | flags
}
/// List head of a remote word.
#[inline]
pub(crate) fn r_head(w: u64) -> *mut u8 {
    (w & R_PTR_MASK) as *mut u8
}
/// Object count of a remote word.
#[inline]
pub(crate) fn r_count(w: u64) -> u64 {
    (w >> R_COUNT_SHIFT) & R_COUNT_MASK
}
/// State bits of a remote word.
#[inline]
pub(crate) fn r_flags(w: u64) -> u64 {
    w & R_FLAGS
}

/// A span (Go's `mspan`). See the module docs for who may touch each field.
pub(crate) struct MSpan {
    pub base: usize,
    pub npages: usize,
    pub state: u8,
    pub class: u8,
    pub list: u8,
    pub needzero: bool,
    pub elem_size: usize,
    pub nelems: usize,
    pub bump: usize,
    pub limit: usize,
    pub local_free: *mut u8,
    pub used: u32,
    pub owner: AtomicUsize,
    pub remote: AtomicU64,
    pub target: AtomicU32,
    pub next: *mut MSpan,
    pub prev: *mut MSpan,
    pub freed_at: u64,
    pub released: usize,
    pub remapped: bool,
}

impl MSpan {
    const fn empty() -> MSpan {
        MSpan {
            base: 0,
            npages: 0,
            state: SPAN_FREE,
            class: 0,
            list: LIST_NONE,
            needzero: false,
            elem_size: 0,
            nelems: 0,
            bump: 0,
            limit: 0,
            local_free: ptr::null_mut(),
            used: 0,
            owner: AtomicUsize::new(0),
            remote: AtomicU64::new(0),
            target: AtomicU32::new(0),
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            freed_at: 0,
            released: 0,
            remapped: false,
        }
    }

    /// Bytes the span covers.
    pub(crate) fn bytes(&self) -> usize {
        self.npages << crate::sizeclass::PAGE_SHIFT
    }

    /// Objects handed out from the bump region so far.
    pub(crate) fn carved(&self) -> usize {
        (self.bump - self.base) / self.elem_size
    }
}

/// An intrusive doubly linked list of spans. The caller holds the lock that
/// guards the list.
pub(crate) struct SpanList {
    pub head: *mut MSpan,
    tail: *mut MSpan,
}

// SAFETY: a list is only reached through the lock that owns it.
unsafe impl Send for SpanList {}

impl SpanList {
    pub(crate) const fn new() -> SpanList {
        SpanList {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
        }
    }

    /// Pushes `s` at the front.
    ///
    /// # Safety
    /// `s` is a live span on no list; the caller holds this list's lock.
    pub(crate) unsafe fn push(&mut self, s: *mut MSpan) {
        // SAFETY: the caller guarantees `s` and the list's spans are live and
        // guarded by the lock it holds.
        unsafe {
            (*s).prev = ptr::null_mut();
            (*s).next = self.head;
            if !self.head.is_null() {
                (*self.head).prev = s;
            } else {
                self.tail = s;
            }
        }
        self.head = s;
    }

    /// Pushes `s` at the back.
    ///
    /// # Safety
    /// As for [`SpanList::push`].
    pub(crate) unsafe fn push_back(&mut self, s: *mut MSpan) {
        // SAFETY: as in `push`.
        unsafe {
            (*s).next = ptr::null_mut();
            (*s).prev = self.tail;
            if !self.tail.is_null() {
                (*self.tail).next = s;
            } else {
                self.head = s;
            }
        }
        self.tail = s;
    }

    /// Unlinks `s`.
    ///
    /// # Safety
    /// `s` is on this list; the caller holds this list's lock.
    pub(crate) unsafe fn remove(&mut self, s: *mut MSpan) {
        // SAFETY: the caller guarantees `s` and its neighbours are on this list.
        unsafe {
            let (p, n) = ((*s).prev, (*s).next);
            if p.is_null() {
                self.head = n;
            } else {
                (*p).next = n;
            }
            if !n.is_null() {
                (*n).prev = p;
            } else {
                self.tail = p;
            }
            (*s).next = ptr::null_mut();
            (*s).prev = ptr::null_mut();
        }
    }
}

const POOL_CHUNK: usize = 256 * 1024;

/// Go's `fixalloc` for span structs: bump allocation from mapped chunks and
/// a free list of returned structs. Used under the heap lock only.
pub(crate) struct SpanPool {
    free: *mut MSpan,
    next: usize,
    end: usize,
    /// Bytes mapped for span structs (reported as metadata).
    pub mapped: usize,
}

// SAFETY: the pool is only used under the heap lock.
unsafe impl Send for SpanPool {}

impl SpanPool {
    pub(crate) const fn new() -> SpanPool {
        SpanPool {
            free: ptr::null_mut(),
            next: 0,
            end: 0,
            mapped: 0,
        }
    }

    /// A fresh, reset span struct, or null when the OS refuses memory.
    pub(crate) fn get(&mut self) -> *mut MSpan {
        let s = if !self.free.is_null() {
            let s = self.free;
            // SAFETY: structs on the free list are ours and unused; `next`
            // threads the list.
            self.free = unsafe { (*s).next };
            s
        } else {
            let sz = core::mem::size_of::<MSpan>();
            if self.next + sz > self.end {
                let c = sys::map(POOL_CHUNK);
                if c.is_null() {
                    return ptr::null_mut();
                }
                self.mapped += POOL_CHUNK;
                self.next = c as usize;
                self.end = c as usize + POOL_CHUNK;
            }
            let s = self.next as *mut MSpan;
            self.next += sz.next_multiple_of(core::mem::align_of::<MSpan>());
            s
        };
        // SAFETY: `s` is unused memory sized and aligned for an MSpan.
        unsafe { s.write(MSpan::empty()) };
        s
    }

    /// Returns a span struct to the pool.
    ///
    /// # Safety
    /// Nothing refers to `s` any more.
    pub(crate) unsafe fn put(&mut self, s: *mut MSpan) {
        // SAFETY: the caller gives `s` up; we reuse `next` as the link.
        unsafe {
            (*s).next = self.free;
            (*s).remote.store(0, Ordering::Relaxed);
        }
        self.free = s;
    }
}
