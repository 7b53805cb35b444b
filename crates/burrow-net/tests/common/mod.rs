//! Shared helpers for the socket tests: a runtime run with a bounded
//! wait, and a checksum for streamed data.

#![allow(dead_code)] // each test file uses a different subset

use std::sync::mpsc;
use std::time::Duration;

/// The bound on any one wait in these tests: longer means a hang, and the
/// test fails saying what it waited for.
pub const WAIT: Duration = Duration::from_secs(20);

/// Runs `main` as the main goroutine of a runtime with `maxprocs` Ps, on a
/// thread of its own, and fails the test if it has not returned within
/// `limit` (a panic inside fails it too, with the panic's message).
pub fn run<T: Send + 'static>(
    maxprocs: usize,
    limit: Duration,
    what: &str,
    main: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        let rt = burrow_sched::Runtime::builder()
            .maxprocs(maxprocs)
            .build()
            .expect("build a runtime");
        let r = rt.run(main);
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(limit) {
        Ok(()) => h.join().expect("the runtime thread"),
        // The sender dropped without sending: the runtime panicked.
        Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: not done within {limit:?} (hung?)")
        }
    }
}

/// A deterministic byte stream: byte `i` of stream `seed`.
pub fn pattern(seed: u64, i: u64) -> u8 {
    let x = (i ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    (x >> 56) as u8
}

/// FNV-1a over a stream, fed in pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Waits for `child` (spawned with stdout and stderr piped) for at most
/// `limit`, looking every `every` with `pause` (burrow's `sleep` inside a
/// goroutine, the thread's outside one); kills it and fails the test
/// naming `what` if it runs longer. Returns its status, stdout and stderr.
pub fn wait_child(
    child: &mut std::process::Child,
    limit: Duration,
    what: &str,
    every: Duration,
    pause: impl Fn(Duration),
) -> (std::process::ExitStatus, String, String) {
    use std::io::Read;
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("poll the child") {
            break s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} did not finish within {limit:?}");
        }
        pause(every);
    };
    let read = |pipe: Option<&mut dyn Read>| {
        let mut s = String::new();
        pipe.expect("a piped output")
            .read_to_string(&mut s)
            .expect("read the child's output");
        s
    };
    let out = read(child.stdout.as_mut().map(|p| p as &mut dyn Read));
    let err = read(child.stderr.as_mut().map(|p| p as &mut dyn Read));
    (status, out, err)
}
