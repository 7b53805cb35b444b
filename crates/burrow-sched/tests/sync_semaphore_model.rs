//! Property: a `Semaphore` driven by random sequences of `try_acquire`,
//! blocking `acquire` (each on its own thread) and `release` behaves like
//! a model FIFO weighted semaphore: same grants, same held units, same
//! queue length, and every blocked acquirer the model grants wakes.
//! Cases scaled by `BURROW_STRESS` (32 × scale).

mod common;
use common::scale;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use burrow_sched::sync::Semaphore;
use proptest::prelude::*;

const SIZE: u64 = 6;

#[derive(Clone, Debug)]
enum Op {
    TryAcquire(u64),
    Acquire(u64),
    /// Release the held chunk at this index (modulo the number held).
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..=SIZE).prop_map(Op::TryAcquire),
        (1..=SIZE).prop_map(Op::Acquire),
        any::<usize>().prop_map(Op::Release),
    ]
}

/// The model: units held, chunks held (by id), FIFO of (id, n).
#[derive(Default)]
struct Model {
    cur: u64,
    held: Vec<(usize, u64)>,
    queue: VecDeque<(usize, u64)>,
}

impl Model {
    /// Grants queued requests in order while the head fits; returns ids.
    fn grant(&mut self) -> Vec<usize> {
        let mut ids = Vec::new();
        while let Some(&(id, n)) = self.queue.front() {
            if SIZE - self.cur < n {
                break;
            }
            self.cur += n;
            self.held.push((id, n));
            self.queue.pop_front();
            ids.push(id);
        }
        ids
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not reached in 10 s");
        std::thread::yield_now();
    }
}

/// Receives exactly the ids in `want` (any order) from the acquirers.
fn expect_woken(rx: &mpsc::Receiver<usize>, want: &[usize]) {
    let mut got: Vec<usize> = (0..want.len())
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("a granted acquirer never woke")
        })
        .collect();
    got.sort_unstable();
    let mut want = want.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "woken acquirers differ from the model's");
}

fn run(ops: Vec<Op>) {
    let sem = Arc::new(Semaphore::new(SIZE));
    let mut m = Model::default();
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    for (id, op) in ops.into_iter().enumerate() {
        match op {
            Op::TryAcquire(n) => {
                let ok = sem.try_acquire(n);
                let model_ok = m.queue.is_empty() && SIZE - m.cur >= n;
                assert_eq!(ok, model_ok, "try_acquire({n})");
                if ok {
                    m.cur += n;
                    m.held.push((id, n));
                }
            }
            Op::Acquire(n) => {
                let (s, tx) = (sem.clone(), tx.clone());
                threads.push(std::thread::spawn(move || {
                    s.acquire(n);
                    tx.send(id).expect("test alive");
                }));
                m.queue.push_back((id, n));
                let granted = m.grant();
                if granted.is_empty() {
                    let q = m.queue.len();
                    wait_for("acquirer queued", || sem.waiting() == q);
                } else {
                    expect_woken(&rx, &granted);
                }
            }
            Op::Release(i) => {
                if m.held.is_empty() {
                    continue;
                }
                let (_, n) = m.held.remove(i % m.held.len());
                sem.release(n);
                m.cur -= n;
                let granted = m.grant();
                expect_woken(&rx, &granted);
            }
        }
        assert_eq!(sem.held(), m.cur, "held units");
        assert_eq!(sem.waiting(), m.queue.len(), "queue length");
    }
    // Drain: release everything until the queue empties.
    while let Some((_, n)) = m.held.pop() {
        sem.release(n);
        m.cur -= n;
        let granted = m.grant();
        expect_woken(&rx, &granted);
    }
    assert!(m.queue.is_empty());
    assert_eq!(sem.held(), 0);
    for t in threads {
        t.join().expect("acquirer panicked");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32 * scale() as u32))]

    #[test]
    fn semaphore_matches_fifo_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
