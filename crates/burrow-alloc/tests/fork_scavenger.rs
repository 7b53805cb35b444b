//! `fork` after the background scavenger started: the child, which has no
//! scavenger thread (threads do not survive `fork`), allocates and frees a
//! burst, starts its own scavenger lazily, sees its RSS fall and exits
//! cleanly; the parent waits at most 60 s for it (see *Background by
//! default* in `scavenger.rs`).
//!
//! The child reports by exit status (it must not panic or print across a
//! `fork` of a threaded process): 0 ok, 2 it inherited a scavenger thread,
//! 3 none started, 4 RSS did not fall within 10 s.

use std::time::{Duration, Instant};

use burrow_alloc::BurrowAlloc;

#[global_allocator]
static GLOBAL: BurrowAlloc = BurrowAlloc::new();

fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
    s.split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .expect("rss")
        * 4096
}

fn scavenger_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("task dir")
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim_end() == "burrow-scavenge")
        })
        .count()
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn burst(mib: usize) -> Vec<Vec<u8>> {
    (0..mib * 4).map(|i| vec![i as u8 | 1; 256 << 10]).collect()
}

fn child() -> i32 {
    if scavenger_threads() != 0 {
        return 2;
    }
    let before = rss();
    drop(burst(128));
    let _keep = burst(1); // an allocation slow path with a big heap
    if !wait_for(Duration::from_secs(10), || scavenger_threads() == 1) {
        return 3;
    }
    if !wait_for(Duration::from_secs(10), || rss() < before + (32 << 20)) {
        return 4;
    }
    0
}

#[test]
fn child_of_fork_restarts_its_scavenger() {
    drop(burst(16));
    assert!(
        wait_for(Duration::from_secs(10), || scavenger_threads() == 1),
        "no scavenger thread in the parent"
    );
    // SAFETY: the child only allocates (our allocator's fork handlers made
    // its locks consistent), reads /proc and exits with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child();
        // SAFETY: leaving the child without running the parent's atexit
        // handlers or test harness.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    let done = wait_for(Duration::from_secs(60), || {
        // SAFETY: waiting on our own child with a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == pid }
    });
    if !done {
        // SAFETY: our child's pid.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        panic!("forked child did not exit within 60 s");
    }
    assert!(
        libc::WIFEXITED(status),
        "child died: wait status {status:#x}"
    );
    let code = libc::WEXITSTATUS(status);
    let why = match code {
        0 => "",
        2 => "it inherited a scavenger thread",
        3 => "it started no scavenger of its own",
        4 => "its RSS did not fall within 10 s",
        _ => "unknown failure",
    };
    assert_eq!(code, 0, "child exited with {code}: {why}");
}
