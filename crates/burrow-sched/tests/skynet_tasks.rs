//! Stress: the skynet tree (every goroutine spawns ten and joins them) on
//! 2 and 4 Ps gives the exact sum. Each goroutine's task (closure plus join
//! slot) is allocated on one M and freed on another, and joins park and
//! resume on other Ms in a loop: in a release build this caught the task
//! allocator's thread-local mcache being reused across a migration (a
//! crash; see `heap_alloc` in `src/job.rs`). Scaled by `BURROW_STRESS`
//! (default 100,000 leaves per run).

mod common;
use common::{bounded, rt, scale};

use burrow_sched::go;

fn skynet(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let sub = size / 10;
    let hs: Vec<_> = (0..10)
        .map(|i| go(move || skynet(num + i * sub, sub)))
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

fn check(procs: usize) {
    // Leaves must be a power of ten for the tree to be exact.
    let leaves = 10u64.pow((100_000 * scale()).max(10).ilog10());
    let want = leaves * (leaves - 1) / 2;
    let got = bounded(300, "skynet", move || {
        rt(procs).run(move || (0..3).map(|_| skynet(0, leaves)).collect::<Vec<_>>())
    });
    assert_eq!(
        got,
        vec![want; 3],
        "skynet over {leaves} leaves on {procs} Ps"
    );
}

#[test]
fn skynet_sums_exactly_on_2_ps() {
    check(2);
}

#[test]
fn skynet_sums_exactly_on_4_ps() {
    check(4);
}
