//! Property tests of the run queue against a `VecDeque` model, and
//! single-threaded checks of stealing and overflow.

use std::collections::VecDeque;
use std::ptr::NonNull;

use proptest::prelude::*;

use crate::kernel::runq::{GlobalQueue, Local, RUNQ_CAP, RunItem, Steal, local};

/// Items are boxed u32s; the queues move the pointers.
struct Item(Box<u32>);

// SAFETY: `from_raw` rebuilds the box `into_raw` leaked.
unsafe impl RunItem for Item {
    fn into_raw(self) -> NonNull<()> {
        NonNull::from(Box::leak(self.0)).cast()
    }
    unsafe fn from_raw(p: NonNull<()>) -> Self {
        // SAFETY: made by `into_raw` (caller's promise), converted once.
        Item(unsafe { Box::from_raw(p.cast::<u32>().as_ptr()) })
    }
}

fn item(v: u32) -> Item {
    Item(Box::new(v))
}

fn free(i: Item) -> u32 {
    *i.0
}

fn val(i: &Item) -> u32 {
    *i.0
}

fn queue() -> (Steal<Item>, Local<Item>) {
    local()
}

#[derive(Debug, Clone)]
enum Op {
    Push(u32),
    PushNext(u32),
    Pop,
    Steal,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u32>().prop_map(Op::Push),
        1 => any::<u32>().prop_map(Op::PushNext),
        3 => Just(Op::Pop),
        1 => Just(Op::Steal),
    ]
}

/// The model: a runnext slot, a FIFO, and the overflow rule (half of a full
/// ring plus the new item go to the global queue, oldest first).
#[derive(Default)]
struct Model {
    next: Option<u32>,
    ring: VecDeque<u32>,
    global: VecDeque<u32>,
}

impl Model {
    fn push_back(&mut self, v: u32) {
        if self.ring.len() == RUNQ_CAP {
            let half: Vec<u32> = self.ring.drain(..RUNQ_CAP / 2).collect();
            self.global.extend(half);
            self.global.push_back(v);
        } else {
            self.ring.push_back(v);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn runq_matches_vecdeque_model(ops in proptest::collection::vec(op(), 1..2000)) {
        let (qs, mut q) = queue();
        let (_, mut thief) = queue();
        let global: GlobalQueue<Item> = GlobalQueue::new();
        let mut m = Model::default();
        for op in ops {
            match op {
                Op::Push(v) | Op::PushNext(v) => {
                    let next = matches!(op, Op::PushNext(_));
                    if let Some(batch) = q.push(item(v), next) {
                        global.push_batch(batch);
                    }
                    if next {
                        if let Some(old) = m.next.replace(v) {
                            m.push_back(old);
                        }
                    } else {
                        m.push_back(v);
                    }
                }
                Op::Pop => {
                    let got = q.pop().map(|(p, from_next)| (free(p), from_next));
                    let want = match m.next.take() {
                        Some(v) => Some((v, true)),
                        None => m.ring.pop_front().map(|v| (v, false)),
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Steal => {
                    // Steal half of the ring (runnext only if the ring is empty).
                    let got = thief.steal_from(&qs, true, None);
                    let n = m.ring.len() - m.ring.len() / 2;
                    let mut stolen: Vec<u32> = if n == 0 {
                        m.next.take().into_iter().collect()
                    } else {
                        m.ring.drain(..n).collect()
                    };
                    // The thief runs the last stolen item and queues the rest.
                    let want_run = stolen.pop();
                    prop_assert_eq!(got.map(free), want_run);
                    let rest: Vec<u32> = thief.drain().into_iter().map(free).collect();
                    prop_assert_eq!(rest, stolen);
                }
            }
            prop_assert_eq!(q.len(), m.ring.len() + usize::from(m.next.is_some()));
            prop_assert_eq!(global.len(), m.global.len());
        }
        // Drain and compare the global queue's order too.
        let g: Vec<u32> = global.pop_batch(1, usize::MAX).into_iter().map(free).collect();
        prop_assert_eq!(g, Vec::from(m.global.clone()));
        for p in q.drain() {
            free(p);
        }
    }
}

#[test]
fn full_ring_spills_half_plus_one_to_global() {
    let (_, mut q) = queue();
    for i in 0..RUNQ_CAP as u32 {
        assert!(q.push(item(i), false).is_none());
    }
    let batch = q.push(item(999), false).expect("a full ring spills");
    assert_eq!(batch.len(), RUNQ_CAP / 2 + 1);
    let vals: Vec<u32> = batch.into_iter().map(free).collect();
    let mut want: Vec<u32> = (0..RUNQ_CAP as u32 / 2).collect();
    want.push(999);
    assert_eq!(vals, want);
    assert_eq!(q.len(), RUNQ_CAP / 2);
    let rest: Vec<u32> = q.drain().into_iter().map(free).collect();
    assert_eq!(
        rest,
        (RUNQ_CAP as u32 / 2..RUNQ_CAP as u32).collect::<Vec<_>>()
    );
}

#[test]
fn global_batches_take_a_fair_share() {
    let g: GlobalQueue<Item> = GlobalQueue::new();
    g.push_batch((0..100).map(item));
    let b = g.pop_batch(4, usize::MAX);
    assert_eq!(b.len(), 100 / 4 + 1);
    assert_eq!(val(&b[0]), 0);
    b.into_iter().for_each(|p| {
        free(p);
    });
    let rest = g.pop_batch(1, usize::MAX);
    assert_eq!(rest.len(), 74);
    rest.into_iter().for_each(|p| {
        free(p);
    });
    assert_eq!(g.len(), 0);
}

#[test]
fn concurrent_steals_lose_and_duplicate_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const N: u32 = 200_000;
    let (qs, mut q) = queue();
    let global: GlobalQueue<Item> = GlobalQueue::new();
    let done = AtomicBool::new(false);
    let mut seen = vec![0u8; N as usize];
    std::thread::scope(|s| {
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let qs = qs.clone();
                let done = &done;
                s.spawn(move || {
                    let (_, mut mine) = queue();
                    let mut got = Vec::new();
                    while !done.load(Ordering::Acquire) || !qs.is_empty() {
                        if let Some(p) = mine.steal_from(&qs, true, None) {
                            got.push(free(p));
                            got.extend(mine.drain().into_iter().map(free));
                        }
                    }
                    got
                })
            })
            .collect();
        let mut own = Vec::new();
        for i in 0..N {
            if let Some(b) = q.push(item(i), i % 7 == 0) {
                global.push_batch(b);
            }
            if i % 3 == 0 {
                if let Some((p, _)) = q.pop() {
                    own.push(free(p));
                }
            }
        }
        done.store(true, Ordering::Release);
        for t in thieves {
            for v in t.join().unwrap() {
                seen[v as usize] += 1;
            }
        }
        own.extend(q.drain().into_iter().map(free));
        own.extend(global.pop_batch(1, usize::MAX).into_iter().map(free));
        for v in own {
            seen[v as usize] += 1;
        }
    });
    let bad: Vec<_> = seen
        .iter()
        .enumerate()
        .filter(|(_, c)| **c != 1)
        .take(5)
        .collect();
    assert!(
        bad.is_empty(),
        "items seen a wrong number of times: {bad:?}"
    );
}
