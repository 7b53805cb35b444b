//! Stress: many-to-many channel throughput holds steady across rounds in
//! one process. The 4→4 pattern of `chan_throughput_4to4` (4 producer and
//! 4 consumer goroutines over one channel of capacity 1024, on 2 Ps) runs
//! several rounds in one runtime; a later round must not be more than 3×
//! slower than the first rounds (whatever a round leaves behind — parked
//! Ms, recycled Gs, stacks — must not cost the next one).
//!
//! Timing on a shared 2-core box is noisy, so by default the check is
//! lenient: it compares the *median* of the later rounds with the *best*
//! of the first two, and a failing attempt is repeated twice (a collapse
//! shows in every attempt, a burst of load from another process rarely
//! does). `BURROW_STRICT_TIMING=1` makes it strict: every later round,
//! one attempt. Size: `BURROW_STRESS` (default 1: 400 000 messages a
//! round; the benchmark's 2 000 000 is `BURROW_STRESS=5`).

mod common;
use common::{bounded, rt, scale};

use std::time::{Duration, Instant};

use burrow_sched::{chan, go};

/// Rounds per attempt.
const ROUNDS: usize = 7;
/// How much slower than the first rounds a later round may be.
const LIMIT: f64 = 3.0;

/// One round of the 4→4 pattern: `n` messages, wall time.
fn round(n: usize) -> Duration {
    let (p, c) = (4, 4);
    let (tx, rx) = chan::<u64>(1024);
    let t = Instant::now();
    let cs: Vec<_> = (0..c)
        .map(|_| {
            let rx = rx.clone();
            go(move || rx.iter().count())
        })
        .collect();
    drop(rx);
    let ps: Vec<_> = (0..p)
        .map(|_| {
            let tx = tx.clone();
            go(move || (0..(n / p) as u64).for_each(|i| tx.send(i).unwrap()))
        })
        .collect();
    drop(tx);
    ps.into_iter().for_each(|h| h.join().unwrap());
    let got: usize = cs.into_iter().map(|h| h.join().unwrap()).sum();
    let took = t.elapsed();
    assert_eq!(got, n / p * p, "a message was lost or duplicated");
    took
}

/// One attempt: `ROUNDS` rounds in one fresh runtime, wall time each.
fn attempt(n: usize) -> Vec<Duration> {
    bounded(120, "4->4 rounds", move || {
        rt(2).run(move || (0..ROUNDS).map(|_| round(n)).collect())
    })
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

#[test]
fn many_to_many_throughput_does_not_collapse_after_the_first_round() {
    let n = 400_000 * scale();
    let strict = std::env::var_os("BURROW_STRICT_TIMING").is_some_and(|v| v != "0");
    let attempts = if strict { 1 } else { 3 };
    let mut seen = Vec::new();
    for _ in 0..attempts {
        let rounds = attempt(n);
        let first = rounds[0].min(rounds[1]);
        let later = &rounds[2..];
        let worst = if strict {
            *later.iter().max().expect("rounds")
        } else {
            median(later)
        };
        let ratio = worst.as_secs_f64() / first.as_secs_f64();
        if ratio <= LIMIT {
            return;
        }
        seen.push(format!("{ratio:.1}× ({rounds:?})"));
    }
    panic!(
        "4->4 throughput collapsed after the first rounds: later rounds more than {LIMIT}× \
         slower than the first in every attempt: {}",
        seen.join("; ")
    );
}
