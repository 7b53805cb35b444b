//! Scale on a default Linux box (vm.max_map_count = 65530): many guarded
//! stacks cost one page each and a handful of VMAs; when guards must come
//! from mprotect, the VMA budget is respected and stacks keep coming.
//!
//! `BURROW_STACKS` sets the count of the in-CI test (default 100,000); the
//! 1,000,000 test is `#[ignore]`d (it touches ~4 GiB): run it with
//! `cargo test --release -p burrow-stack --test scale -- --ignored`.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use burrow_stack::{GuardKind, Pool, StackConfig};

fn maps_lines() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

mod common;
use common::rss_bytes;

fn guarded_stacks(n: usize) {
    if burrow_stack::current_guard_mode() != GuardKind::Madvise {
        eprintln!(
            "skipping: this kernel has no MADV_GUARD_INSTALL (Linux >= 6.13); the mprotect path is tested below"
        );
        return;
    }
    let pool = Pool::new(StackConfig {
        usable_size: 64 * 1024,
        ..StackConfig::default()
    })
    .unwrap();
    let mut stacks = Vec::with_capacity(n);
    let maps_before = maps_lines();
    let rss_before = rss_bytes();
    for i in 0..n {
        let s = pool.alloc().unwrap_or_else(|e| panic!("stack {i}: {e}"));
        assert_eq!(s.guard(), GuardKind::Madvise, "stack {i} lost its guard");
        // Touch the top page, as a goroutine's first frame does.
        // SAFETY: writing inside the usable region we own.
        unsafe { s.top().sub(64).write_volatile(1) };
        stacks.push(s);
    }
    let maps_after = maps_lines();
    let per_stack = (rss_bytes() - rss_before) as f64 / n as f64;
    eprintln!(
        "{n} guarded 64 KiB stacks: /proc/self/maps {maps_before} -> {maps_after} lines, RSS +{:.0} MiB = {per_stack:.0} B/stack",
        (rss_bytes() - rss_before) as f64 / (1 << 20) as f64
    );
    assert!(maps_after < 1000, "{maps_after} lines in /proc/self/maps");
    assert!(
        per_stack <= 4.3 * 1024.0,
        "{per_stack:.0} bytes of RSS per stack (limit 4.3 KiB)"
    );
    assert_eq!(pool.stats().guarded_madvise, n as u64);
}

#[test]
fn many_guarded_stacks_cost_a_page_each_and_few_vmas() {
    let n = std::env::var("BURROW_STACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    guarded_stacks(n);
}

#[test]
#[ignore = "touches ~4 GiB; run with --ignored"]
fn one_million_guarded_stacks() {
    guarded_stacks(1_000_000);
}

/// With mprotect guards, stacks beyond the VMA budget come unguarded with a
/// canary and one log line names the sysctl, instead of failing.
#[test]
fn mprotect_budget_degrades_to_canary_without_failing() {
    const T: &str = "mprotect_budget_degrades_to_canary_without_failing";
    if std::env::var("BURROW_SCALE_CHILD").is_ok() {
        let pool = Pool::new(StackConfig {
            usable_size: 16 * 1024,
            guard_size: 4096,
            ..StackConfig::default()
        })
        .unwrap();
        // The parent set BURROW_STACK_VMA_BUDGET=20000: 10,000 guards (two
        // VMAs each), then canaries; 15,000 stacks go past it on any box.
        let n = 15_000;
        let stacks: Vec<_> = (0..n)
            .map(|i| pool.alloc().unwrap_or_else(|e| panic!("stack {i}: {e}")))
            .collect();
        let st = pool.stats();
        println!(
            "RESULT mprotect={} canary={} maps={}",
            st.guarded_mprotect,
            st.canary,
            maps_lines()
        );
        assert_eq!(st.guarded_mprotect, 10_000, "{st:?}");
        assert_eq!(st.canary, 5_000, "{st:?}");
        assert!(
            maps_lines() < 25_000,
            "maps {} exceed the 20,000-VMA budget",
            maps_lines()
        );
        drop(stacks);
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", T, "--nocapture", "--test-threads=1"])
        .env("BURROW_SCALE_CHILD", "1")
        .env("BURROW_STACK_GUARD", "mprotect")
        .env("BURROW_STACK_VMA_BUDGET", "20000")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed ({:?}, signal {:?}):\n{stdout}\n{stderr}",
        out.status,
        out.status.signal()
    );
    assert!(
        stdout.contains("RESULT"),
        "child did not run the case:\n{stdout}"
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("vm.max_map_count"))
            .count(),
        1,
        "exactly one log line must name the sysctl:\n{stderr}"
    );
}
