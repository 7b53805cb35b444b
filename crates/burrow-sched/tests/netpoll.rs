//! Goroutines parked on descriptors through `PollFd` and the runtime's
//! netpoller: a read parks only its goroutine, deadlines (Go's semantics),
//! close, deadlock detection with I/O waiters. Real sockets (Unix socket
//! pairs); every wait bounded.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_sched::netpoll::{Direction, PollFd};
use burrow_sched::{Runtime, chan, go};

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

    fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            self.pfd.check(Direction::Write)?;
            match (&self.s).write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.pfd.wait(Direction::Write)?
                }
                Err(e) => return Err(e),
                Ok(n) => buf = &buf[n..],
            }
        }
        Ok(())
    }
}

fn rt(procs: usize) -> Runtime {
    Runtime::builder().maxprocs(procs).build().unwrap()
}

/// A goroutine reading up to two bytes from `a`, started: returns once it
/// is about to read (it may not have parked yet).
fn reader_of_two(a: &Arc<Sock>) -> burrow_sched::JoinHandle<io::Result<Vec<u8>>> {
    let (tx, rx) = chan::<()>(0);
    let a = a.clone();
    let reader = go(move || {
        tx.send(()).unwrap();
        let mut buf = [0u8; 2];
        a.read(&mut buf).map(|n| buf[..n].to_vec())
    });
    rx.recv().unwrap();
    reader
}

#[test]
fn a_read_parks_only_its_goroutine() {
    // One P: if the reader blocked its M, the writer could never run.
    let got = bounded(20, "read parks the goroutine", || {
        rt(1).run(|| {
            let (a, b) = UnixStream::pair().unwrap();
            let (a, b) = (Arc::new(Sock::new(a)), Sock::new(b));
            let reader = {
                let a = a.clone();
                go(move || {
                    let mut buf = [0u8; 5];
                    let mut n = 0;
                    while n < 5 {
                        n += a.read(&mut buf[n..]).unwrap();
                    }
                    buf
                })
            };
            // Let the reader park first: it runs when we yield.
            burrow_sched::yield_now();
            b.write_all(b"hello").unwrap();
            reader.join().unwrap()
        })
    });
    assert_eq!(&got, b"hello");
}

#[test]
fn a_megabyte_each_way_at_once_arrives_intact() {
    const N: usize = 1 << 20;
    let ok = bounded(60, "1 MiB each way", || {
        rt(2).run(|| {
            let (a, b) = UnixStream::pair().unwrap();
            let (a, b) = (Arc::new(Sock::new(a)), Arc::new(Sock::new(b)));
            let data: Arc<Vec<u8>> = Arc::new((0..N).map(|i| (i * 7 + i / 255) as u8).collect());
            let mut hs = Vec::new();
            for (w, r) in [(a.clone(), b.clone()), (b, a)] {
                let d = data.clone();
                hs.push(go(move || {
                    w.write_all(&d).unwrap();
                    true
                }));
                let d = data.clone();
                hs.push(go(move || {
                    let mut got = vec![0u8; N];
                    let mut n = 0;
                    while n < N {
                        let k = r.read(&mut got[n..]).unwrap();
                        assert!(k > 0, "early EOF at {n}");
                        n += k;
                    }
                    got == *d
                }));
            }
            hs.into_iter().all(|h| h.join().unwrap())
        })
    });
    assert!(ok, "bytes differ");
}

#[test]
fn a_past_deadline_fails_at_once_and_a_future_one_fires_on_time() {
    let (past, waited, err) = bounded(20, "deadlines", || {
        rt(1).run(|| {
            let (a, _b) = UnixStream::pair().unwrap();
            let a = Sock::new(a);
            a.pfd.set_deadline(
                Direction::Read,
                Some(Instant::now() - Duration::from_millis(1)),
            );
            let t = Instant::now();
            let past = a.read(&mut [0u8; 1]).unwrap_err();
            assert!(t.elapsed() < Duration::from_millis(50));
            let t = Instant::now();
            a.pfd.set_deadline(
                Direction::Read,
                Some(Instant::now() + Duration::from_millis(100)),
            );
            let err = a.read(&mut [0u8; 1]).unwrap_err();
            (past.kind(), t.elapsed(), err.kind())
        })
    });
    assert_eq!(past, io::ErrorKind::TimedOut);
    assert_eq!(err, io::ErrorKind::TimedOut);
    // Slack: the timer never fires early; 200 ms late at most here.
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_millis(300),
        "deadline fired after {waited:?}, want 100..300 ms"
    );
}

#[test]
fn moving_the_deadline_lets_the_blocked_call_succeed() {
    let got = bounded(20, "moved deadline", || {
        rt(2).run(|| {
            let (a, b) = UnixStream::pair().unwrap();
            let (a, b) = (Arc::new(Sock::new(a)), Sock::new(b));
            a.pfd.set_deadline(
                Direction::Read,
                Some(Instant::now() + Duration::from_millis(100)),
            );
            let reader = reader_of_two(&a);
            // Push the deadline out while the reader waits, then write
            // after the old deadline has passed.
            a.pfd.set_deadline(
                Direction::Read,
                Some(Instant::now() + Duration::from_secs(10)),
            );
            burrow_sched::sleep(Duration::from_millis(200));
            b.write_all(b"ok").unwrap();
            reader.join().unwrap()
        })
    });
    assert_eq!(got.unwrap(), b"ok");
}

/// The timer armed by an earlier wait stays armed after it (see *The
/// armed timer* in `src/netpoll.rs`): a deadline moved later must survive
/// that timer's firing, and still fire itself.
#[test]
fn a_deadline_moved_later_outlives_the_timer_an_earlier_wait_armed() {
    let (second, third, waited) = bounded(20, "moved later while armed", || {
        rt(2).run(|| {
            let (a, b) = UnixStream::pair().unwrap();
            let (a, b) = (Arc::new(Sock::new(a)), Arc::new(Sock::new(b)));
            let t0 = Instant::now();
            // First wait: arms a timer at t0 + 1 s (room for a loaded
            // machine), then succeeds when the byte comes at 20 ms.
            a.pfd
                .set_deadline(Direction::Read, Some(t0 + Duration::from_secs(1)));
            let writer = {
                let b = b.clone();
                go(move || {
                    burrow_sched::sleep(Duration::from_millis(20));
                    b.write_all(b"1").unwrap();
                })
            };
            a.read(&mut [0u8; 1]).unwrap();
            writer.join().unwrap();
            // Second wait: the deadline moved to t0 + 2.5 s; the armed
            // timer fires at 1 s and must not fail this read, whose byte
            // comes at 1.5 s.
            a.pfd
                .set_deadline(Direction::Read, Some(t0 + Duration::from_millis(2500)));
            let writer = {
                let b = b.clone();
                go(move || {
                    burrow_sched::sleep_until(t0 + Duration::from_millis(1500));
                    b.write_all(b"2").unwrap();
                })
            };
            let mut buf = [0u8; 1];
            let second = a.read(&mut buf).map(|_| buf[0]);
            writer.join().unwrap();
            // Third wait: nothing comes; the moved deadline fires.
            let third = a.read(&mut buf).map(|_| buf[0]);
            (second, third, t0.elapsed())
        })
    });
    assert_eq!(second.unwrap(), b'2', "the old timer failed a read");
    assert_eq!(third.unwrap_err().kind(), io::ErrorKind::TimedOut);
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(5),
        "moved deadline fired after {waited:?}, want 2.5..5 s"
    );
}

/// A deadline moved earlier than the armed timer, while a reader waits,
/// fires at the new time, not the armed one.
#[test]
fn a_deadline_moved_earlier_while_armed_fires_early() {
    let (err, waited) = bounded(20, "moved earlier while armed", || {
        rt(2).run(|| {
            let (a, _b) = UnixStream::pair().unwrap();
            let a = Arc::new(Sock::new(a));
            let t0 = Instant::now();
            a.pfd
                .set_deadline(Direction::Read, Some(t0 + Duration::from_secs(10)));
            let (tx, rx) = chan::<()>(0);
            let reader = {
                let a = a.clone();
                go(move || {
                    tx.send(()).unwrap();
                    a.read(&mut [0u8; 1])
                })
            };
            rx.recv().unwrap();
            burrow_sched::sleep(Duration::from_millis(50));
            a.pfd
                .set_deadline(Direction::Read, Some(t0 + Duration::from_millis(200)));
            let err = reader.join().unwrap().unwrap_err();
            (err.kind(), t0.elapsed())
        })
    });
    assert_eq!(err, io::ErrorKind::TimedOut);
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
        "moved-earlier deadline fired after {waited:?}, want 200 ms..2 s"
    );
}

/// A cleared deadline disarms nothing eagerly: the armed timer fires,
/// finds no deadline and leaves the waiter parked.
#[test]
fn a_cleared_deadline_lets_the_armed_timer_pass_harmlessly() {
    let got = bounded(20, "cleared while armed", || {
        rt(2).run(|| {
            let (a, b) = UnixStream::pair().unwrap();
            let (a, b) = (Arc::new(Sock::new(a)), Sock::new(b));
            a.pfd.set_deadline(
                Direction::Read,
                Some(Instant::now() + Duration::from_secs(1)),
            );
            let reader = reader_of_two(&a);
            burrow_sched::sleep(Duration::from_millis(20));
            a.pfd.set_deadline(Direction::Read, None);
            burrow_sched::sleep(Duration::from_millis(1300));
            b.write_all(b"ok").unwrap();
            reader.join().unwrap()
        })
    });
    assert_eq!(got.unwrap(), b"ok");
}

#[test]
fn close_wakes_a_blocked_reader_with_an_error() {
    let err = bounded(20, "close wakes", || {
        rt(2).run(|| {
            let (a, _b) = UnixStream::pair().unwrap();
            let a = Arc::new(Sock::new(a));
            let (tx, rx) = chan::<()>(0);
            let reader = {
                let a = a.clone();
                go(move || {
                    tx.send(()).unwrap();
                    a.read(&mut [0u8; 1])
                })
            };
            rx.recv().unwrap();
            burrow_sched::sleep(Duration::from_millis(20));
            a.pfd.close();
            reader.join().unwrap()
        })
    });
    let e = err.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotConnected, "{e}");
}

#[test]
fn goroutines_waiting_on_io_are_not_a_deadlock() {
    // The reader waits longer than the deadlock grace for a plain thread's
    // write: a runtime with I/O waiters must not report a deadlock.
    let r = bounded(20, "io is not deadlock", || {
        let (a, b) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            (&b).write_all(b"x").unwrap();
            b
        });
        let r = Runtime::builder()
            .maxprocs(1)
            .deadlock_grace(Some(Duration::from_millis(50)))
            .build()
            .unwrap()
            .try_run(move || {
                let a = Sock::new(a);
                let mut buf = [0u8; 1];
                a.read(&mut buf).map(|_| buf[0])
            });
        drop(writer.join());
        r
    });
    assert_eq!(r.expect("no deadlock report").unwrap(), b'x');
}
