//! A runtime whose goroutines all wait on idle sockets burns no CPU: 200
//! goroutines parked in `read` on 100 silent connections, and the process
//! CPU time measured over 2 s. One test in this binary, so that no other
//! test's work is counted.

mod common;

use std::io::Read;
use std::time::Duration;

use burrow_net::{TcpListener, TcpStream};
use burrow_sched::{go, sleep};
use common::run;

/// The process's user + system CPU time.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the zeroed struct we pass it.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut ru), 0);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The measured window, and the most CPU it may cost: 1% of one core,
/// covering sysmon's ticks and the timer that ends the wait.
const WINDOW: Duration = Duration::from_secs(2);
const BUDGET: Duration = Duration::from_millis(20);

#[test]
fn goroutines_parked_on_idle_sockets_use_no_cpu() {
    const CONNS: usize = 100;
    let used = run(2, Duration::from_secs(30), "idle sockets", || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut keep = Vec::new();
        for _ in 0..CONNS {
            let c = TcpStream::connect(addr).unwrap();
            let (s, _) = l.accept().unwrap();
            let c = std::sync::Arc::new(c);
            let s = std::sync::Arc::new(s);
            for side in [c.clone(), s.clone()] {
                // Parked until the test ends (the read fails when the
                // process exits; nothing is ever sent).
                go(move || {
                    let _ = (&*side).read(&mut [0u8; 16]);
                });
            }
            keep.push((c, s));
        }
        // A warm-up, not a synchronisation: a reader that has not parked
        // yet would only add its few microseconds to the window.
        sleep(Duration::from_millis(100));
        let before = cpu_time();
        sleep(WINDOW);
        let used = cpu_time() - before;
        for (c, s) in &keep {
            c.close();
            s.close();
        }
        used
    });
    println!("CPU time over {WINDOW:?} with 200 goroutines parked on reads: {used:?}");
    assert!(
        used < BUDGET,
        "idle runtime used {used:?} of CPU over {WINDOW:?} (budget {BUDGET:?})"
    );
}
