//! A runtime whose goroutines all wait on idle sockets costs ~no CPU: the
//! last idle M blocks in the netpoller instead of polling. In a file of its
//! own so that no other test's CPU is counted. Real sockets (Unix socket pairs), every wait bounded.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use burrow_sched::netpoll::{Direction, PollFd};
use burrow_sched::{Runtime, go};

mod common;
use common::bounded;

/// A non-blocking socket with its `PollFd` (dropped before the socket).
struct Sock {
    pfd: PollFd,
    s: UnixStream,
}

impl Sock {
    fn new(s: UnixStream) -> Sock {
        s.set_nonblocking(true).unwrap();
        Sock {
            pfd: PollFd::new(s.as_raw_fd()),
            s,
        }
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.pfd.check(Direction::Read)?;
            match (&self.s).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.pfd.wait(Direction::Read)?
                }
                r => return r,
            }
        }
    }
}

fn rt(procs: usize) -> Runtime {
    Runtime::builder().maxprocs(procs).build().unwrap()
}

fn cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[test]
fn goroutines_waiting_on_idle_sockets_use_no_cpu() {
    let used = bounded(20, "idle cpu", || {
        rt(2).run(|| {
            let mut keep = Vec::new();
            let mut hs = Vec::new();
            for _ in 0..50 {
                let (a, b) = UnixStream::pair().unwrap();
                let a = Arc::new(Sock::new(a));
                keep.push((a.clone(), b));
                hs.push(go(move || a.read(&mut [0u8; 1])));
            }
            burrow_sched::sleep(Duration::from_millis(50));
            let before = cpu_time();
            burrow_sched::sleep(Duration::from_millis(1000));
            let used = cpu_time() - before;
            for (_, b) in &keep {
                (&*b).write_all(b"z").unwrap();
            }
            for h in hs {
                assert_eq!(h.join().unwrap().unwrap(), 1);
            }
            used
        })
    });
    // An idle runtime makes a handful of system calls in a second; the
    // whole test process (other tests run beside it) is measured, so the
    // bound is loose.
    assert!(
        used < Duration::from_millis(100),
        "an idle runtime used {used:?} of CPU in 1 s"
    );
}
