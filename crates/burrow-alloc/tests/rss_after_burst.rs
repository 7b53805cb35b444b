//! RSS after freeing a 1 GiB burst returns to within 10 % of the pre-burst
//! RSS once the scavenger's decay has passed (background scavenger, decay
//! 300 ms). The program holds a 32 MiB working set, as a real one would.

use std::time::{Duration, Instant};

use burrow_alloc::BurrowAlloc;

#[global_allocator]
static GLOBAL: BurrowAlloc = BurrowAlloc::new();

fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("rss");
    pages * 4096
}

#[test]
#[cfg_attr(
    feature = "debug-free",
    ignore = "the debug-free allocation bitmap (1/64 of the small-object heap) stays resident"
)]
fn rss_returns_after_a_1gib_burst() {
    burrow_alloc::set_scavenger_decay(Duration::from_millis(300));
    let working: Vec<Vec<u8>> = (0..512).map(|i| vec![i as u8; 64 * 1024]).collect();
    std::thread::sleep(Duration::from_millis(100));
    let before = rss();
    {
        // 1 GiB: 768 MiB in 256 KiB blocks and 256 MiB in 16 KiB blocks.
        let mut burst: Vec<Vec<u8>> = Vec::new();
        for _ in 0..3072 {
            burst.push(vec![1u8; 256 * 1024]);
        }
        for _ in 0..16384 {
            burst.push(vec![2u8; 16 * 1024]);
        }
        let peak = rss();
        assert!(peak > before + (900 << 20), "burst not resident: {peak}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let limit = before + before / 10;
    loop {
        let now = rss();
        if now <= limit {
            eprintln!("RSS before {} MiB, after {} MiB", before >> 20, now >> 20);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "RSS {} MiB did not return within 10% of {} MiB",
            now >> 20,
            before >> 20
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(working.len(), 512);
}
