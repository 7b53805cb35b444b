//! Freed memory goes back to the OS while the program is idle, by default:
//! after a 256 MiB burst of 64 KiB..1 MiB blocks is freed, RSS falls back
//! to within 32 MiB of where it was, within 10 s, while this thread makes
//! no allocator call at all (the wait reads `/proc/self/statm` into a stack
//! buffer with raw `open`/`read`). Default settings: the background
//! scavenger (a thread named `burrow-scavenge`) and the 1 s decay. One
//! test in this binary, so no other test allocates meanwhile.
//!
//! Before the background thread was on by default for the C library, a
//! program that went idle after a burst kept it resident until its next
//! allocation slow path.

use std::time::{Duration, Instant};

use burrow_alloc::BurrowAlloc;

#[global_allocator]
static GLOBAL: BurrowAlloc = BurrowAlloc::new();

/// Resident bytes, read without allocating.
fn rss() -> u64 {
    let mut buf = [0u8; 128];
    // SAFETY: a NUL-terminated path, a stack buffer of its length, and the
    // descriptor we opened.
    let n = unsafe {
        let fd = libc::open(c"/proc/self/statm".as_ptr(), libc::O_RDONLY);
        assert!(fd >= 0, "open statm");
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    assert!(n > 0, "read statm");
    let mut fields = buf[..n as usize].split(|&b| b == b' ');
    let pages = fields
        .nth(1)
        .expect("resident field")
        .iter()
        .fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
    pages * 4096
}

/// Whether a thread of this process is the background scavenger.
fn scavenger_thread_exists() -> bool {
    std::fs::read_dir("/proc/self/task")
        .expect("task dir")
        .filter_map(Result::ok)
        .any(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim_end() == "burrow-scavenge")
        })
}

/// 256 MiB in blocks of 64 KiB to 1 MiB (sizes cycling through 16 steps),
/// every page written; returns the blocks.
fn burst() -> Vec<Vec<u8>> {
    let mut blocks = Vec::new();
    let mut total = 0;
    let mut i = 0;
    while total < 256 << 20 {
        let size = (64 << 10) + (i % 16) * (60 << 10);
        blocks.push(vec![i as u8 | 1; size]);
        total += size;
        i += 1;
    }
    blocks
}

#[test]
fn rss_falls_while_idle_by_default() {
    let before = rss();
    let blocks = burst();
    let peak = rss();
    assert!(peak > before + (200 << 20), "burst not resident: {peak}");
    drop(blocks);

    let limit = before + (32 << 20);
    let mallocs = burrow_alloc::stats().mallocs;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10);
    let mut now = rss();
    while now > limit {
        assert!(
            Instant::now() < deadline,
            "RSS still {} MiB 10 s after freeing a 256 MiB burst (before: {} MiB, bound {} MiB)",
            now >> 20,
            before >> 20,
            limit >> 20
        );
        std::thread::sleep(Duration::from_millis(20));
        now = rss();
    }
    let took = start.elapsed();
    // The scavenger counts what it released after its `madvise` returns:
    // RSS may fall a moment before the count rises.
    let mut s = burrow_alloc::stats();
    while s.scavenged_total < 200 << 20 {
        assert!(
            Instant::now() < deadline,
            "RSS fell but the scavenger released only {} MiB",
            s.scavenged_total >> 20
        );
        std::thread::sleep(Duration::from_millis(20));
        s = burrow_alloc::stats();
    }
    assert_eq!(s.mallocs, mallocs, "the wait itself allocated");
    eprintln!(
        "RSS {} MiB before, {} MiB at peak, {} MiB {took:?} after the free",
        before >> 20,
        peak >> 20,
        now >> 20
    );
    assert!(scavenger_thread_exists(), "no burrow-scavenge thread");
}
