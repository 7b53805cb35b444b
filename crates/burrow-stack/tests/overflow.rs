//! A coroutine that overflows its stack is reported as
//! `goroutine stack overflow` and the process aborts — in every guard mode.
//!
//! Each case re-runs this test binary as a child with
//! `BURROW_STACK_OVERFLOW_CHILD` set, so the abort kills the child only.

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use burrow_stack::{GuardKind, Pool, StackConfig};
use corosensei::Coroutine;

const CHILD: &str = "BURROW_STACK_OVERFLOW_CHILD";

/// Recurses without bound (guarded modes: hits the guard).
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse_forever(n: u64) -> u64 {
    let frame = black_box([n; 32]);
    recurse_forever(n + 1) + black_box(frame[7])
}

/// Recurses until a frame lies below `floor`, then unwinds normally.
#[inline(never)]
fn recurse_below(floor: usize, n: u64) -> u64 {
    let frame = black_box([n; 32]);
    let here = frame.as_ptr() as usize;
    if here < floor {
        n
    } else {
        recurse_below(floor, n + 1) + black_box(frame[7])
    }
}

/// The child's side: overflow one coroutine's stack. Never returns normally
/// if the runtime works.
fn child(mode: &str) {
    let pool = Pool::new(StackConfig {
        usable_size: 64 * 1024,
        ..StackConfig::default()
    })
    .unwrap();
    // Overflow a stack from the middle of a fresh run, whose guard was
    // installed in a batch with its neighbours' (*Fresh slots* in pool.rs).
    let _neighbours: Vec<_> = (0..5).map(|_| pool.alloc().unwrap()).collect();
    let stack = pool.alloc().unwrap();
    let expect = match mode {
        "madvise" => GuardKind::Madvise,
        "mprotect" => GuardKind::Mprotect,
        _ => GuardKind::Canary,
    };
    if expect == GuardKind::Madvise && stack.guard() != GuardKind::Madvise {
        // The kernel has no MADV_GUARD_INSTALL (Linux < 6.13).
        println!("SKIP: no guard markers on this kernel");
        std::process::exit(0);
    }
    assert_eq!(stack.guard(), expect, "forced guard mode not honoured");
    stack.set_owner(42);
    if expect == GuardKind::Canary {
        // Overflow 4 KiB into the unprotected cushion, come back, and let
        // the owner's check find the canary gone.
        let floor = stack.bottom() as usize - 4096;
        let mut co = Coroutine::with_stack(stack, move |_: &corosensei::Yielder<(), ()>, ()| {
            recurse_below(floor, 0)
        });
        let _ = co.resume(());
        // The owner checks after every switch back.
        co.into_stack().check_overflow();
    } else {
        let mut co = Coroutine::with_stack(stack, |_: &corosensei::Yielder<(), ()>, ()| {
            recurse_forever(0)
        });
        let _ = co.resume(());
    }
    eprintln!("child survived the overflow: the runtime did not catch it");
    std::process::exit(3);
}

/// Runs `cmd`, killing it and failing the test if it outlives `limit`.
fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child test process");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait for child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child test process still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("collect child output")
}

fn run_child(mode: &str, test: &str) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .env("BURROW_STACK_GUARD", mode);
    let out = output_within(cmd, Duration::from_secs(60));
    if String::from_utf8_lossy(&out.stdout).contains("SKIP:") && out.status.success() {
        eprintln!("skipping: this kernel has no MADV_GUARD_INSTALL (Linux >= 6.13)");
        return;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("goroutine stack overflow"),
        "mode {mode}: child stderr lacks the report; status {:?}; stderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("goroutine 42"),
        "mode {mode}: report lacks the owner id:\n{stderr}"
    );
    assert!(
        stderr.contains("stack size 65536"),
        "mode {mode}: report lacks the size:\n{stderr}"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "mode {mode}: child must die by abort, not {:?}; stderr:\n{stderr}",
        out.status
    );
}

fn case(mode: &str, test: &str) {
    match std::env::var(CHILD) {
        Ok(m) if m == mode => child(mode),
        Ok(_) => {} // a child spawned for another case: nothing to do
        Err(_) => run_child(mode, test),
    }
}

#[test]
fn overflow_reported_with_madvise_guards() {
    // MADV_GUARD_INSTALL needs Linux >= 6.13; on older kernels the mode
    // falls back and the child's assertion names it.
    case("madvise", "overflow_reported_with_madvise_guards");
}

#[test]
fn overflow_reported_with_mprotect_guards() {
    case("mprotect", "overflow_reported_with_mprotect_guards");
}

#[test]
fn overflow_reported_with_canary() {
    case("canary", "overflow_reported_with_canary");
}

#[test]
fn other_segfaults_are_not_reported_as_overflow() {
    const T: &str = "other_segfaults_are_not_reported_as_overflow";
    if std::env::var(CHILD).is_ok_and(|m| m == "wild") {
        let _stack = Pool::global().alloc().unwrap(); // installs the handler
        // SAFETY: a deliberate fault at an unmapped address.
        unsafe { std::ptr::write_volatile(16 as *mut u64, 1) };
        std::process::exit(3);
    }
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", T, "--nocapture", "--test-threads=1"])
        .env(CHILD, "wild");
    let out = output_within(cmd, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("goroutine stack overflow"),
        "a wild pointer was reported as overflow:\n{stderr}"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "expected a plain SIGSEGV, got {:?}",
        out.status
    );
}
