//! While a runtime is up, sysmon returns the allocator's idle pages to
//! the OS (`scavenge_decayed` on its rounds) and burrow-alloc's own
//! scavenger thread does not run. Its own process: the allocator's
//! scavenger switch is process-wide.

mod common;
use common::{bounded, thread_names};

use std::time::{Duration, Instant};

use burrow_sched::Runtime;

#[test]
fn sysmon_returns_the_allocators_idle_pages() {
    burrow_alloc::set_scavenger_decay(Duration::from_millis(200));
    let (released, names) = bounded(60, "allocator scavenging on sysmon", || {
        Runtime::builder().maxprocs(1).build().unwrap().run(|| {
            // 64 MiB in 64 KiB blocks, then all freed: idle, resident.
            let blocks: Vec<usize> = (0..1024)
                .map(|_| {
                    let p = burrow_alloc::allocate(64 * 1024, 16);
                    assert!(!p.is_null());
                    // SAFETY: a fresh 64 KiB block; touch it so it is resident.
                    unsafe { p.write_bytes(1, 64 * 1024) };
                    p as usize
                })
                .collect();
            let before = burrow_alloc::stats().scavenged_total;
            for p in blocks {
                // SAFETY: each block allocated above, freed once.
                unsafe { burrow_alloc::deallocate(p as *mut u8) };
            }
            let end = Instant::now() + Duration::from_secs(30);
            loop {
                let s = burrow_alloc::stats();
                if s.scavenged_total >= before + 32 * 1024 * 1024 {
                    break (s.scavenged_total - before, thread_names());
                }
                assert!(
                    Instant::now() < end,
                    "the idle 64 MiB were not released in 30 s: {s:?}"
                );
                burrow_sched::sleep(Duration::from_millis(20));
            }
        })
    });
    assert!(released >= 32 << 20);
    assert!(
        !names.iter().any(|n| n == "burrow-scavenge"),
        "no allocator scavenger thread while a runtime is up: {names:?}"
    );
}
