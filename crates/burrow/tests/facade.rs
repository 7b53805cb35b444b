//! The facade: `go!`, re-exports and `#[burrow::main]` on a helper.

#[test]
fn go_macro_and_reexports() {
    let v = burrow::Runtime::builder()
        .maxprocs(2)
        .build()
        .unwrap()
        .run(|| {
            let x = 20;
            let h = burrow::go!(x + 1);
            let g = burrow::go!({
                burrow::yield_now();
                burrow::current_id().unwrap()
            });
            assert!(g.join().unwrap() > 1);
            h.join().unwrap() * 2
        });
    assert_eq!(v, 42);
}

mod with_main {
    #[burrow::main]
    pub fn main() -> u64 {
        let hs: Vec<_> = (0..10u64).map(|i| burrow::go(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>() + burrow::current_id().unwrap()
    }
}

#[test]
fn burrow_main_runs_the_body_as_the_main_goroutine() {
    // Main goroutine id is 1.
    assert_eq!(with_main::main(), 45 + 1);
}

mod with_deadlock {
    #[burrow::main]
    pub fn main() {
        let (_keep, rx) = burrow::chan::<u8>(0);
        let h = burrow::go(move || rx.recv());
        let _ = h.join();
    }
}

/// The child half of the test below: a `#[burrow::main]` program that
/// deadlocks. Does nothing unless the parent asked for it.
#[test]
fn deadlock_child() {
    if std::env::var_os("BURROW_TEST_DEADLOCK_CHILD").is_some() {
        with_deadlock::main();
        unreachable!("a deadlocked program exits");
    }
}

#[test]
fn a_deadlocked_program_prints_gos_message_and_the_dump_and_exits_2() {
    use std::time::{Duration, Instant};
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "deadlock_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BURROW_TEST_DEADLOCK_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the deadlocked child did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "exit status; stderr:\n{err}");
    assert!(
        err.contains("fatal error: all goroutines are asleep - deadlock!"),
        "{err}"
    );
    assert!(err.contains("goroutine 1 [join]:"), "{err}");
    assert!(err.contains("goroutine 2 [chan receive]:"), "{err}");
    assert!(
        err.contains("created at") && err.contains("facade.rs"),
        "spawn sites: {err}"
    );
}
