//! A 4-ary min-heap of timers ordered by their `when` (Go's `siftupTimer`
//! and `siftdownTimer` in runtime/time.go).
//!
//! Why four children: a timer heap is pushed and popped about equally
//! often; a 4-ary heap is half as deep as a binary one, so `push` (sift
//! up) does half the compares and moves, while `pop` (sift down) does
//! about the same work as a binary heap's but on fewer cache lines. Go
//! switched its timers to 4-ary heaps for this in Go 1.10.
//!
//! Who touches it: one heap lives in each P's [`super::PTimers`] behind
//! that P's timer lock; the fallback timer thread owns one too.

use std::sync::Arc;

use super::TimerInner;

/// Children per node.
const ARITY: usize = 4;

/// One pending firing: at `when` (nanoseconds on the runtime clock, see
/// `super::nanos`), run `timer`.
pub(crate) struct Entry {
    /// When to fire (nanoseconds, `super::nanos`).
    pub(crate) when: u64,
    /// The timer; its state word says whether it was deleted meanwhile.
    pub(crate) timer: Arc<TimerInner>,
    /// The address of what firing it touches next (the G a sleep's timer
    /// readies), 0 if not known: prefetched with the timer when it nears
    /// the top (`PTimers::run_expired`).
    pub(crate) touches: usize,
}

/// A 4-ary min-heap on `Entry::when`.
#[derive(Default)]
pub(crate) struct TimerHeap {
    v: Vec<Entry>,
}

impl TimerHeap {
    /// Number of entries (deleted ones included until removed).
    pub(crate) fn len(&self) -> usize {
        self.v.len()
    }

    /// The earliest `when`, if any.
    pub(crate) fn peek_when(&self) -> Option<u64> {
        self.v.first().map(|e| e.when)
    }

    /// The earliest entry, if any.
    pub(crate) fn peek(&self) -> Option<&Entry> {
        self.v.first()
    }

    /// Adds an entry.
    pub(crate) fn push(&mut self, e: Entry) {
        self.v.push(e);
        self.sift_up(self.v.len() - 1);
    }

    /// Removes and returns the earliest entry.
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        let last = self.v.len().checked_sub(1)?;
        self.v.swap(0, last);
        let e = self.v.pop();
        if !self.v.is_empty() {
            self.sift_down(0);
        }
        e
    }

    /// Keeps only the entries for which `keep` is true and restores the
    /// heap order (Go's `clearDeletedTimers`). Returns how many went.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) -> usize {
        let before = self.v.len();
        self.v.retain(|e| keep(e));
        // Floyd's bottom-up heapify: O(n).
        if self.v.len() > 1 {
            for i in (0..=(self.v.len() - 2) / ARITY).rev() {
                self.sift_down(i);
            }
        }
        before - self.v.len()
    }

    /// Removes every entry.
    pub(crate) fn drain(&mut self) -> std::vec::Drain<'_, Entry> {
        self.v.drain(..)
    }

    fn sift_up(&mut self, mut i: usize) {
        let when = self.v[i].when;
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if when >= self.v[parent].when {
                break;
            }
            self.v.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.v.len();
        let when = self.v[i].when;
        loop {
            let first = i * ARITY + 1;
            if first >= n {
                break;
            }
            let end = (first + ARITY).min(n);
            let (mut best, mut best_when) = (first, self.v[first].when);
            for c in first + 1..end {
                if self.v[c].when < best_when {
                    (best, best_when) = (c, self.v[c].when);
                }
            }
            if best_when >= when {
                break;
            }
            self.v.swap(i, best);
            i = best;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(when: u64) -> Entry {
        Entry {
            when,
            timer: TimerInner::new_for_test(),
            touches: 0,
        }
    }

    proptest! {
        /// Pops come out in `when` order whatever the pushes, pops and
        /// retains before them: the heap agrees with a sorted model.
        #[test]
        fn agrees_with_a_sorted_model(ops in proptest::collection::vec((0u8..4, 0u64..1000), 0..300)) {
            let mut h = TimerHeap::default();
            let mut model: Vec<u64> = Vec::new();
            for (op, x) in ops {
                match op {
                    0 | 1 => {
                        h.push(entry(x));
                        model.push(x);
                    }
                    2 => {
                        model.sort_unstable();
                        let want = if model.is_empty() { None } else { Some(model.remove(0)) };
                        prop_assert_eq!(h.pop().map(|e| e.when), want);
                    }
                    _ => {
                        let gone = h.retain(|e| e.when % 7 != x % 7);
                        let before = model.len();
                        model.retain(|w| w % 7 != x % 7);
                        prop_assert_eq!(gone, before - model.len());
                    }
                }
                model.sort_unstable();
                prop_assert_eq!(h.peek_when(), model.first().copied());
                prop_assert_eq!(h.len(), model.len());
            }
            let mut out = Vec::new();
            while let Some(e) = h.pop() {
                out.push(e.when);
            }
            prop_assert_eq!(out, model);
        }
    }
}
