//! `BURROW_ALLOC_SCAVENGER=0` keeps the process free of the background
//! scavenger thread: this binary runs itself again as a child with the
//! variable set (the environment is read once per process), and the child
//! allocates and frees two 256 MiB bursts, far past the size at which the
//! thread would start, then checks that no thread is named
//! `burrow-scavenge`. The parent waits at most 60 s.

use std::process::Command;
use std::time::{Duration, Instant};

use burrow_alloc::BurrowAlloc;

#[global_allocator]
static GLOBAL: BurrowAlloc = BurrowAlloc::new();

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

/// 256 MiB in 256 KiB blocks, every page written.
fn burst() -> Vec<Vec<u8>> {
    (0..1024).map(|i| vec![i as u8 | 1; 256 << 10]).collect()
}

/// The child half: the burst under `BURROW_ALLOC_SCAVENGER=0`.
#[test]
fn knob_off_starts_no_thread_child() {
    if std::env::var_os("BURROW_IDLE_CHILD").is_none() {
        return;
    }
    drop(burst());
    let _more = burst(); // allocation slow paths with a big heap
    assert!(
        !scavenger_thread_exists(),
        "a scavenger thread despite BURROW_ALLOC_SCAVENGER=0"
    );
}

#[test]
fn knob_off_starts_no_thread() {
    if std::env::var_os("BURROW_IDLE_CHILD").is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        .args(["--exact", "knob_off_starts_no_thread_child", "--nocapture"])
        .env("BURROW_IDLE_CHILD", "1")
        .env("BURROW_ALLOC_SCAVENGER", "0")
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "child failed: {status}");
}
