//! The housekeeping API a runtime uses to run the scavenger from a thread
//! of its own: `set_background_scavenger(false)` keeps the allocator from
//! starting its thread however large the heap grows, `scavenge_decayed`
//! releases what has been free for the decay, and `scavenger_decay` reads
//! back what `set_scavenger_decay` set.

use std::time::{Duration, Instant};

use burrow_alloc::BurrowAlloc;

#[global_allocator]
static GLOBAL: BurrowAlloc = BurrowAlloc::new();

fn scavenger_thread_exists() -> bool {
    std::fs::read_dir("/proc/self/task")
        .expect("task dir")
        .filter_map(Result::ok)
        .any(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .map(|c| c.trim() == "burrow-scavenge")
                .unwrap_or(false)
        })
}

#[test]
fn housekeeping_thread_drives_the_scavenger() {
    burrow_alloc::set_background_scavenger(false);
    burrow_alloc::set_scavenger_decay(Duration::from_millis(20));
    assert_eq!(burrow_alloc::scavenger_decay(), Duration::from_millis(20));

    // 64 MiB in 256 KiB blocks: far above the lazy start's threshold.
    let burst: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8; 256 * 1024]).collect();
    assert_eq!(burst.len(), 256);
    drop(burst);
    let small: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64]).collect();
    drop(small);
    assert!(
        !scavenger_thread_exists(),
        "the background scavenger started although forbidden"
    );

    // One step releases nothing that is not yet a decay old, and everything
    // once it is; poll with a deadline (the decay is 20 ms).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut released = 0;
    while released < 32 << 20 {
        assert!(
            Instant::now() < deadline,
            "scavenge_decayed released only {released} bytes in 10 s"
        );
        released += burrow_alloc::scavenge_decayed();
        std::thread::yield_now();
    }
    assert!(!scavenger_thread_exists());
}
