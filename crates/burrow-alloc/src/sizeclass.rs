//! Size classes, generated at compile time by Go's rule (`mksizeclasses.go`).
//!
//! Go does not hand-pick its size classes; a small program derives them:
//!
//! 1. Walk sizes upwards in steps of `align`, starting at 8. The step widens
//!    at powers of two: 16 from 32 bytes, `size/8` from 128 bytes, 256 from
//!    2 KiB. Small sizes are dense, big ones sparse.
//! 2. For each size, choose the smallest span (a whole number of 8 KiB pages)
//!    whose tail — what is left after packing objects — is at most 1/8 of the
//!    span: **tail waste ≤ 12.5 %**.
//! 3. If the previous class uses the same number of pages and fits the same
//!    number of objects, the new size replaces it (no point in two classes
//!    that pack identically).
//! 4. Finally grow each class to the largest size (a multiple of 128) that
//!    still packs the same number of objects into its span.
//!
//! The result is 68 classes (class 0 is unused, as in Go) up to 32 KiB.
//! Here the program is a `const fn`, so the tables are computed by the
//! compiler; `tests::go_rule_holds_for_every_class` re-checks the rule.
//!
//! # Medium spans
//!
//! Go's rule gives classes from 1 KiB up spans of one to four pages
//! holding 1–8 objects. Go sweeps a span's objects in bulk; we free them
//! one by one, and every span that runs dry or fills up is a trip through
//! the refill path (and, for one object a span, a span changing lists at
//! every pair): 1 KiB pairs cost 2–3× jemalloc's, 8 KiB pairs 5×. So a
//! class of [`MEDIUM_SIZE`] or more gets a span of a whole multiple of
//! Go's, at least [`MEDIUM_SPAN_BYTES`] ([`SPAN_PAGES`]; mimalloc's small
//! pages are 64 KiB too). The multiple keeps the tail-waste bound; the
//! classes' sizes stay Go's.

/// Bytes in a heap page (Go's `_PageSize`).
pub const PAGE_SIZE: usize = 8192;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: usize = 13;
/// Largest size served from a size class (Go's `maxSmallSize`); bigger
/// requests get whole pages.
pub const MAX_SMALL_SIZE: usize = 32768;
/// Number of size classes including the unused class 0 (Go's `_NumSizeClasses`).
pub const NUM_CLASSES: usize = 68;
/// Sizes up to this use the 8-byte lookup table (Go's `smallSizeMax`).
const SMALL_SIZE_MAX: usize = 1024;
const SMALL_SIZE_DIV: usize = 8;
const LARGE_SIZE_DIV: usize = 128;

/// One size class: object size and span length in pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeClass {
    /// Bytes per object.
    pub size: usize,
    /// Pages per span of this class.
    pub npages: usize,
}

impl SizeClass {
    /// Objects that fit in one span.
    pub const fn nelems(&self) -> usize {
        match (self.npages * PAGE_SIZE).checked_div(self.size) {
            Some(n) => n,
            None => 0,
        }
    }
}

const fn power_of_two(x: usize) -> bool {
    x != 0 && x & (x - 1) == 0
}

/// Go's `makeClasses`, as a `const fn`.
const fn make_classes() -> [SizeClass; NUM_CLASSES] {
    let mut classes = [SizeClass { size: 0, npages: 0 }; NUM_CLASSES];
    let mut n = 1; // class 0 is a dummy entry
    let mut align = 8;
    let mut size = align;
    while size <= MAX_SMALL_SIZE {
        if power_of_two(size) {
            if size >= 2048 {
                align = 256;
            } else if size >= 128 {
                align = size / 8;
            } else if size >= 32 {
                align = 16;
            }
        }
        assert!(power_of_two(align), "incorrect alignment");
        // Smallest span whose leftover is at most 1/8 of it.
        let mut allocsize = PAGE_SIZE;
        while allocsize % size > allocsize / 8 {
            allocsize += PAGE_SIZE;
        }
        let npages = allocsize / PAGE_SIZE;
        if n > 1
            && npages == classes[n - 1].npages
            && allocsize / size == allocsize / classes[n - 1].size
        {
            classes[n - 1].size = size;
        } else {
            assert!(n < NUM_CLASSES, "number of size classes has changed");
            classes[n] = SizeClass { size, npages };
            n += 1;
        }
        size += align;
    }
    assert!(n == NUM_CLASSES, "number of size classes has changed");
    // Grow sizes while the same number of objects still fit.
    let mut i = 1;
    while i < NUM_CLASSES {
        let psize = classes[i].npages * PAGE_SIZE;
        let new_size = (psize / (psize / classes[i].size)) & !(LARGE_SIZE_DIV - 1);
        if new_size > classes[i].size {
            classes[i].size = new_size;
        }
        i += 1;
    }
    classes
}

/// The size classes; index 0 is unused.
pub static CLASSES: [SizeClass; NUM_CLASSES] = make_classes();

/// Classes of this size and up get spans of at least [`MEDIUM_SPAN_BYTES`]
/// (see *Medium spans*).
pub const MEDIUM_SIZE: usize = 1024;
/// The least span of a medium class.
pub const MEDIUM_SPAN_BYTES: usize = 64 * 1024;

const fn make_span_pages() -> [usize; NUM_CLASSES] {
    let classes = make_classes();
    let mut t = [0usize; NUM_CLASSES];
    let mut i = 1;
    while i < NUM_CLASSES {
        let c = classes[i];
        let mut pages = c.npages;
        if c.size >= MEDIUM_SIZE {
            while pages * PAGE_SIZE < MEDIUM_SPAN_BYTES {
                pages += c.npages;
            }
        }
        t[i] = pages;
        i += 1;
    }
    t
}

/// Pages per span of each class: Go's `npages`, widened for medium classes
/// (see *Medium spans*).
pub static SPAN_PAGES: [usize; NUM_CLASSES] = make_span_pages();

/// Objects in one span of `class` (in `1..NUM_CLASSES`).
pub fn span_objects(class: usize) -> usize {
    SPAN_PAGES[class] * PAGE_SIZE / CLASSES[class].size
}

const fn make_size_to_class8() -> [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] {
    let classes = make_classes();
    let mut t = [0u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1];
    let mut c = 1;
    let mut i = 0;
    while i < t.len() {
        let size = i * SMALL_SIZE_DIV;
        while classes[c].size < size {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
}

const fn make_size_to_class128() -> [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] {
    let classes = make_classes();
    let mut t = [0u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1];
    let mut c = 1;
    let mut i = 0;
    while i < t.len() {
        let size = SMALL_SIZE_MAX + i * LARGE_SIZE_DIV;
        while classes[c].size < size {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
}

static SIZE_TO_CLASS8: [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] = make_size_to_class8();
static SIZE_TO_CLASS128: [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] =
    make_size_to_class128();

/// Size class for `size` bytes (`1..=MAX_SMALL_SIZE`), with 8-byte alignment.
#[inline(always)]
pub fn size_to_class(size: usize) -> usize {
    debug_assert!(size <= MAX_SMALL_SIZE);
    if size <= SMALL_SIZE_MAX {
        SIZE_TO_CLASS8[size.div_ceil(SMALL_SIZE_DIV)] as usize
    } else {
        SIZE_TO_CLASS128[(size - SMALL_SIZE_MAX).div_ceil(LARGE_SIZE_DIV)] as usize
    }
}

/// [`class_for`] with an alignment of at most 8: the common case, without
/// the search for an over-aligned class (`GlobalAlloc::dealloc` inlines
/// only this).
#[inline(always)]
pub fn class_for_8(size: usize) -> Option<usize> {
    (size <= MAX_SMALL_SIZE).then(|| size_to_class(size.max(1)))
}

/// Size class for `size` bytes aligned to `align`, or `None` when the
/// request must get whole pages (or cannot be met at all: the page path
/// checks and refuses those, see `heap::large_pages`).
///
/// Spans start on a page boundary, so every object of a class whose size is a
/// multiple of `align` is `align`-aligned: we take the first such class that
/// is big enough. Alignments above 8 that are not a power of two, or above
/// [`PAGE_SIZE`], get `None`.
///
/// No arithmetic here may wrap: a size near `usize::MAX` rounded up to the
/// alignment would wrap to a small number and pick a small class (see
/// *Sizes near the top of the address space* in `lib.rs`).
#[inline(always)]
pub fn class_for(size: usize, align: usize) -> Option<usize> {
    if align <= 8 {
        return class_for_8(size);
    }
    if align > PAGE_SIZE || !align.is_power_of_two() {
        return None;
    }
    // Checked: the size is compared with MAX_SMALL_SIZE only after rounding.
    let want = size.max(1).checked_next_multiple_of(align)?;
    if want > MAX_SMALL_SIZE {
        return None;
    }
    let mut c = size_to_class(want);
    while CLASSES[c].size % align != 0 {
        c += 1;
        if c == NUM_CLASSES {
            return None;
        }
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule that generated the classes holds for every class.
    #[test]
    fn go_rule_holds_for_every_class() {
        assert_eq!(CLASSES[0], SizeClass { size: 0, npages: 0 });
        let mut prev = 0;
        for (i, c) in CLASSES.iter().enumerate().skip(1) {
            assert!(c.size > prev, "class {i} sizes must increase");
            assert_eq!(c.size % 8, 0, "class {i} size {} not 8-aligned", c.size);
            assert!(c.size <= MAX_SMALL_SIZE);
            let span = c.npages * PAGE_SIZE;
            let tail = span % c.size;
            assert!(
                tail <= span / 8,
                "class {i} ({} B in {} pages) wastes {tail} B > 12.5%",
                c.size,
                c.npages
            );
            // npages is the smallest span meeting the tail rule for the size
            // this class was created at; one page fewer must not hold at least
            // as many objects within the rule.
            if c.npages > 1 {
                let smaller = (c.npages - 1) * PAGE_SIZE;
                let ok_smaller = smaller % c.size <= smaller / 8 && smaller / c.size == c.nelems();
                assert!(!ok_smaller, "class {i} could use fewer pages");
            }
            // The final growth step: no bigger multiple of 128 packs as many.
            let grown = (span / c.nelems()) & !(LARGE_SIZE_DIV - 1);
            assert!(grown <= c.size, "class {i} could grow to {grown}");
            prev = c.size;
        }
        assert_eq!(CLASSES[NUM_CLASSES - 1].size, MAX_SMALL_SIZE);
    }

    /// Medium classes' spans: a multiple of Go's, at least 64 KiB, no more
    /// than one Go span beyond, tail waste still at most 1/8.
    #[test]
    fn medium_spans_are_wide_multiples_of_go_spans() {
        for (i, c) in CLASSES.iter().enumerate().skip(1) {
            let pages = SPAN_PAGES[i];
            assert_eq!(pages % c.npages, 0, "class {i}: not a multiple");
            if c.size < MEDIUM_SIZE {
                assert_eq!(pages, c.npages, "class {i} widened");
                continue;
            }
            let span = pages * PAGE_SIZE;
            assert!(span >= MEDIUM_SPAN_BYTES, "class {i}: {span} B span");
            assert!(span - c.npages * PAGE_SIZE < MEDIUM_SPAN_BYTES);
            assert!(span % c.size <= span / 8, "class {i} wastes more than 1/8");
            assert!(span_objects(i) < 4096, "remote word counts 12 bits");
        }
        assert_eq!(span_objects(size_to_class(1024)), 64);
        assert_eq!(span_objects(size_to_class(8192)), 8);
    }

    /// Spot checks against Go's generated `sizeclasses.go`.
    #[test]
    fn matches_go_table() {
        let go: [(usize, usize); 12] = [
            (8, 1),
            (16, 1),
            (24, 1),
            (32, 1),
            (48, 1),
            (1024, 1),
            (1152, 1),
            (3200, 2),
            (9472, 7),
            (13568, 5),
            (27264, 10),
            (32768, 4),
        ];
        for (size, npages) in go {
            let c = CLASSES.iter().find(|c| c.size == size);
            assert_eq!(
                c.map(|c| c.npages),
                Some(npages),
                "Go has class {size} B / {npages} pages"
            );
        }
    }

    #[test]
    fn lookup_tables_pick_the_smallest_fitting_class() {
        for size in 1..=MAX_SMALL_SIZE {
            let c = size_to_class(size);
            assert!(CLASSES[c].size >= size, "size {size} -> class {c}");
            assert!(
                CLASSES[c - 1].size < size,
                "size {size} -> class {c} not smallest"
            );
        }
    }

    #[test]
    fn aligned_classes_are_multiples_of_the_alignment() {
        for shift in 0..=13 {
            let align = 1usize << shift;
            for size in (1..=MAX_SMALL_SIZE).step_by(7) {
                if let Some(c) = class_for(size, align) {
                    assert!(CLASSES[c].size >= size);
                    assert_eq!(
                        CLASSES[c].size % align.max(8),
                        0,
                        "size {size} align {align}"
                    );
                }
            }
        }
        assert_eq!(class_for(MAX_SMALL_SIZE + 1, 8), None);
        assert_eq!(class_for(8, 2 * PAGE_SIZE), None);
    }

    /// Sizes whose rounding up to the alignment would wrap get no class
    /// (a wrapped size would pick the smallest one).
    #[test]
    fn sizes_near_usize_max_get_no_class() {
        for k in 0..4096 {
            for shift in 0..=13 {
                let align = 1usize << shift;
                assert_eq!(class_for(usize::MAX - k, align), None, "MAX - {k}, {align}");
            }
        }
        assert_eq!(class_for(16, 24), None, "a non-power-of-two alignment");
    }
}
