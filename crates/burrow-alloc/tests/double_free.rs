//! Double and invalid frees abort with a message naming the address, never
//! hang or corrupt the heap (see *Double frees* in the crate docs).
//!
//! Each test runs its scenario in a child process: this test binary again,
//! filtered to the one test, with `BURROW_DOUBLE_FREE_CHILD` set. The child
//! prints the block's address, does the bad free and then allocates (where
//! a corrupted heap used to spin forever); the parent waits at most
//! [`LIMIT`] and asserts death by `SIGABRT` with the message on stderr.
//! A child that exits normally or hangs fails the test.
//!
//! Small objects are checked only with the `debug-free` feature:
//! `cargo test -p burrow-alloc --features debug-free --test double_free`.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use burrow_alloc::{allocate, deallocate, reallocate};

const CHILD_ENV: &str = "BURROW_DOUBLE_FREE_CHILD";
/// How long a child may take to die.
const LIMIT: Duration = Duration::from_secs(30);
/// A large block (over the 32 KiB small-object limit).
const LARGE: usize = 256 << 10;

/// What a child printed and how it ended.
struct Death {
    signal: Option<i32>,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs test `name` of this binary in a child with `CHILD_ENV` set; fails
/// the test if the child is still running after [`LIMIT`].
fn run_child(name: &str) -> Death {
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the test binary");
    let pid = child.id();
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut o, mut e) = (String::new(), String::new());
        let _ = out.read_to_string(&mut o);
        let _ = err.read_to_string(&mut e);
        let _ = tx.send((child.wait(), o, e));
    });
    match rx.recv_timeout(LIMIT) {
        Ok((status, stdout, stderr)) => {
            let status = status.expect("wait");
            Death {
                signal: status.signal(),
                code: status.code(),
                stdout,
                stderr,
            }
        }
        Err(_) => {
            // SAFETY: kill on the pid of the child we spawned.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{name}: the child did not die within {LIMIT:?} (a hang, not an abort)");
        }
    }
}

/// In the child: prints the block's address for the parent to look for
/// (on a line of its own: the harness may have printed the test's name).
fn announce(p: *mut u8) {
    println!("\nblock={:#x}", p as usize);
}

/// In the parent: runs `name`'s child and asserts it died by `SIGABRT`
/// with the message naming the announced address and `op`.
fn assert_aborts(name: &str, op: &str) {
    let d = run_child(name);
    let what = format!(
        "signal {:?}, exit code {:?}\nstdout:\n{}\nstderr:\n{}",
        d.signal, d.code, d.stdout, d.stderr
    );
    assert_eq!(d.signal, Some(libc::SIGABRT), "{name}: not aborted: {what}");
    let addr = d
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("block="))
        .unwrap_or_else(|| panic!("{name}: the child announced no block: {what}"));
    let msg = format!("burrow-alloc: double free or invalid pointer {addr} ({op})");
    assert!(
        d.stderr.contains(&msg),
        "{name}: no '{msg}' on stderr: {what}"
    );
}

/// True in the child; the caller then runs the scenario.
fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

#[test]
fn large_double_free_aborts() {
    if in_child() {
        let p = allocate(LARGE, 16);
        announce(p);
        // SAFETY: deliberately freed twice: the second free must abort.
        unsafe {
            deallocate(p);
            deallocate(p);
        }
        // Where the double free used to corrupt the page heap: spins.
        let q = allocate(LARGE, 16);
        println!("survived: {q:?}");
        return;
    }
    assert_aborts("large_double_free_aborts", "free");
}

/// The freed block merges with a free neighbour (its span struct may be
/// absorbed into the neighbour's) and the heap serves another request
/// before the second free. The test binary's own allocations use the
/// system allocator, so nothing else touches this heap in the child.
#[test]
fn large_double_free_after_a_merge_aborts() {
    if in_child() {
        let p = allocate(LARGE, 16);
        let q = allocate(LARGE, 16);
        let guard = allocate(LARGE, 16);
        announce(p);
        // SAFETY: `p` is deliberately freed twice; the others once.
        unsafe {
            deallocate(q);
            deallocate(p);
            let big = allocate(8 * LARGE, 16);
            deallocate(p);
            deallocate(big);
            deallocate(guard);
        }
        let r = allocate(LARGE, 16);
        println!("survived: {r:?}");
        return;
    }
    assert_aborts("large_double_free_after_a_merge_aborts", "free");
}

#[test]
fn free_of_a_pointer_inside_the_first_page_of_a_large_block_aborts() {
    if in_child() {
        let p = allocate(LARGE, 16).wrapping_add(16);
        announce(p);
        // SAFETY: deliberately an invalid free.
        unsafe { deallocate(p) };
        println!("survived");
        return;
    }
    assert_aborts(
        "free_of_a_pointer_inside_the_first_page_of_a_large_block_aborts",
        "free",
    );
}

#[test]
fn free_of_an_interior_page_of_a_large_block_aborts() {
    if in_child() {
        let p = allocate(LARGE, 16);
        let inner = p.wrapping_add(3 * 8192);
        announce(inner);
        // SAFETY: deliberately an invalid free.
        unsafe { deallocate(inner) };
        println!("survived");
        return;
    }
    assert_aborts("free_of_an_interior_page_of_a_large_block_aborts", "free");
}

#[test]
fn realloc_of_a_freed_large_block_aborts() {
    if in_child() {
        let p = allocate(LARGE, 16);
        announce(p);
        // SAFETY: deliberately a realloc after free.
        unsafe {
            deallocate(p);
            let q = reallocate(p, 16, 2 * LARGE);
            println!("survived: {q:?}");
        }
        return;
    }
    assert_aborts("realloc_of_a_freed_large_block_aborts", "realloc");
}

#[cfg(feature = "debug-free")]
#[test]
fn small_double_free_aborts_with_debug_free() {
    if in_child() {
        let p = allocate(48, 16);
        announce(p);
        // SAFETY: deliberately freed twice.
        unsafe {
            deallocate(p);
            deallocate(p);
        }
        println!("survived");
        return;
    }
    assert_aborts("small_double_free_aborts_with_debug_free", "free");
}

#[cfg(feature = "debug-free")]
#[test]
fn small_double_free_from_another_thread_aborts_with_debug_free() {
    if in_child() {
        let p = allocate(48, 16) as usize;
        announce(p as *mut u8);
        // SAFETY: freed once here and once on another thread.
        unsafe { deallocate(p as *mut u8) };
        std::thread::spawn(move || {
            // SAFETY: deliberately the second free.
            unsafe { deallocate(p as *mut u8) }
        })
        .join()
        .expect("the second free aborts the process, so this is not reached");
        println!("survived");
        return;
    }
    assert_aborts(
        "small_double_free_from_another_thread_aborts_with_debug_free",
        "free",
    );
}

#[cfg(feature = "debug-free")]
#[test]
fn free_inside_a_small_object_aborts_with_debug_free() {
    if in_child() {
        let p = allocate(48, 16).wrapping_add(8);
        announce(p);
        // SAFETY: deliberately an invalid free.
        unsafe { deallocate(p) };
        println!("survived");
        return;
    }
    assert_aborts("free_inside_a_small_object_aborts_with_debug_free", "free");
}

#[cfg(feature = "debug-free")]
#[test]
fn realloc_of_a_freed_small_object_aborts_with_debug_free() {
    if in_child() {
        let p = allocate(48, 16);
        announce(p);
        // SAFETY: deliberately a realloc after free.
        unsafe {
            deallocate(p);
            let q = reallocate(p, 16, 40);
            println!("survived: {q:?}");
        }
        return;
    }
    assert_aborts(
        "realloc_of_a_freed_small_object_aborts_with_debug_free",
        "realloc",
    );
}
