//! TCP behaviour: round trips on one P (parking, not thread blocking),
//! large transfers both ways at once, Go's deadlines, close and shutdown
//! waking blocked readers, half-close, resets, full send buffers, refused
//! connects, std conversions, DNS through the blocking hand-off, and the
//! same calls from a plain thread.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use burrow_net::{TcpListener, TcpStream};
use burrow_sched::{chan, go};
use common::{Fnv, WAIT, pattern, run};

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Echoes every byte of `s` back until the peer closes.
fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

#[test]
fn many_goroutines_echo_on_one_p() {
    // 200 clients and 200 server goroutines on one P: only parking lets
    // them all make progress (a blocked thread would stall every other
    // goroutine, and the run would hang).
    const CLIENTS: usize = 200;
    const ROUNDS: usize = 20;
    run(1, WAIT, "200 echo clients on maxprocs(1)", || {
        let (l, addr) = listener();
        go(move || {
            for s in l.incoming() {
                go(move || echo(s.unwrap()));
            }
        });
        let hs: Vec<_> = (0..CLIENTS)
            .map(|c| {
                go(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    for r in 0..ROUNDS {
                        let msg = format!("client {c} round {r}\n");
                        s.write_all(msg.as_bytes()).unwrap();
                        let mut back = vec![0u8; msg.len()];
                        s.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg.as_bytes(), "echo of client {c} round {r}");
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// Sends `len` bytes of stream `seed` and returns their checksum.
fn send_stream(mut s: &TcpStream, seed: u64, len: u64) -> Fnv {
    let mut sum = Fnv::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut i = 0;
    while i < len {
        let n = (len - i).min(buf.len() as u64) as usize;
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(seed, i + k as u64);
        }
        s.write_all(&buf[..n]).unwrap();
        sum.update(&buf[..n]);
        i += n as u64;
    }
    s.shutdown(Shutdown::Write).unwrap();
    sum
}

/// Reads to the end of the stream; returns the checksum and length, and
/// checks every byte against stream `seed`.
fn recv_stream(mut s: &TcpStream, seed: u64) -> (Fnv, u64) {
    let mut sum = Fnv::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut i = 0u64;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            return (sum, i);
        }
        for (k, &b) in buf[..n].iter().enumerate() {
            assert_eq!(
                b,
                pattern(seed, i + k as u64),
                "byte {} of stream {seed}",
                i + k as u64
            );
        }
        sum.update(&buf[..n]);
        i += n as u64;
    }
}

#[test]
fn large_transfer_both_ways_at_once_arrives_intact() {
    // 64 MiB each way by default; BURROW_NET_STREAM_MB=1024 for the 1 GiB
    // run.
    let mb: u64 = std::env::var("BURROW_NET_STREAM_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let len = mb << 20;
    let limit = WAIT + Duration::from_secs(mb / 4);
    run(2, limit, "bidirectional stream", move || {
        let (l, addr) = listener();
        let server = go(move || {
            let (s, _) = l.accept().unwrap();
            let s = std::sync::Arc::new(s);
            let s2 = s.clone();
            let rx = go(move || recv_stream(&s2, 1));
            let sent = send_stream(&s, 2, len);
            (sent, rx.join().unwrap())
        });
        let c = std::sync::Arc::new(TcpStream::connect(addr).unwrap());
        let c2 = c.clone();
        let rx = go(move || recv_stream(&c2, 2));
        let sent = send_stream(&c, 1, len);
        let (got, got_len) = rx.join().unwrap();
        let (server_sent, (server_got, server_got_len)) = server.join().unwrap();
        assert_eq!(got_len, len, "client received everything");
        assert_eq!(server_got_len, len, "server received everything");
        assert_eq!(got, server_sent, "server to client checksum");
        assert_eq!(server_got, sent, "client to server checksum");
    });
}

fn pair() -> (TcpStream, TcpStream) {
    let (l, addr) = listener();
    let c = TcpStream::connect(addr).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

#[test]
fn deadline_in_the_past_fails_at_once() {
    run(1, WAIT, "past deadline", || {
        let (c, _s) = pair();
        c.set_read_deadline(Some(Instant::now() - Duration::from_millis(1)));
        let t = Instant::now();
        let e = (&c).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(
            t.elapsed() < Duration::from_millis(50),
            "failed at once, took {:?}",
            t.elapsed()
        );
        // And again: the deadline stays expired until moved.
        let e = (&c).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    });
}

/// How late a deadline may fire on a shared 2-core box.
const SLACK: Duration = Duration::from_millis(200);

#[test]
fn future_deadline_fires_within_slack_then_moving_it_lets_the_read_succeed() {
    run(1, WAIT, "future deadline", || {
        let (c, s) = pair();
        let d = Duration::from_millis(50);
        let t = Instant::now();
        c.set_read_deadline(Some(t + d));
        let e = (&c).read(&mut [0u8; 8]).unwrap_err();
        let took = t.elapsed();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(took >= d, "fired early: {took:?}");
        assert!(took < d + SLACK, "fired late: {took:?} for {d:?}");
        // Move it forward: the next read succeeds once data arrives.
        c.set_read_deadline(Some(Instant::now() + WAIT));
        (&s).write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        (&c).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    });
}

#[test]
fn moving_the_deadline_from_another_goroutine_wakes_the_reader() {
    run(1, WAIT, "deadline moved by another goroutine", || {
        let (c, _s) = pair();
        let c = std::sync::Arc::new(c);
        let c2 = c.clone();
        let (started_tx, started_rx) = chan::<()>(0);
        let reader = go(move || {
            started_tx.send(()).unwrap();
            let t = Instant::now();
            let e = (&*c2).read(&mut [0u8; 8]).unwrap_err();
            (e.kind(), t.elapsed())
        });
        started_rx.recv().unwrap();
        // The reader has no deadline and no data: only the move wakes it.
        c.set_read_deadline(Some(Instant::now() - Duration::from_millis(1)));
        let (kind, _) = reader.join().unwrap();
        assert_eq!(kind, io::ErrorKind::TimedOut);
    });
}

#[test]
fn close_wakes_a_blocked_reader_with_an_error() {
    run(1, WAIT, "close wakes reader", || {
        let (c, _s) = pair();
        let c = std::sync::Arc::new(c);
        let c2 = c.clone();
        let (started_tx, started_rx) = chan::<()>(0);
        let reader = go(move || {
            started_tx.send(()).unwrap();
            (&*c2).read(&mut [0u8; 8])
        });
        started_rx.recv().unwrap();
        c.close();
        let e = reader.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotConnected, "{e}");
        assert!(e.to_string().contains("closed"), "{e}");
    });
}

#[test]
fn listener_close_wakes_a_blocked_accept() {
    run(1, WAIT, "close wakes accept", || {
        let (l, _) = listener();
        let l = std::sync::Arc::new(l);
        let l2 = l.clone();
        let (started_tx, started_rx) = chan::<()>(0);
        let acceptor = go(move || {
            started_tx.send(()).unwrap();
            l2.accept().map(|_| ())
        });
        started_rx.recv().unwrap();
        l.close();
        let e = acceptor.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotConnected, "{e}");
    });
}

#[test]
fn shutdown_wakes_a_blocked_reader_with_end_of_stream() {
    run(1, WAIT, "shutdown wakes reader", || {
        let (c, _s) = pair();
        let c = std::sync::Arc::new(c);
        let c2 = c.clone();
        let (started_tx, started_rx) = chan::<()>(0);
        let reader = go(move || {
            started_tx.send(()).unwrap();
            (&*c2).read(&mut [0u8; 8])
        });
        started_rx.recv().unwrap();
        c.shutdown(Shutdown::Read).unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), 0);
    });
}

#[test]
fn half_close_loses_nothing_written_before_it() {
    run(1, WAIT, "half-close", || {
        let (l, addr) = listener();
        let server = go(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            // The read half saw the end; the write half still works.
            s.write_all(&got).unwrap();
            s.write_all(b" done").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            got.len()
        });
        let mut c = TcpStream::connect(addr).unwrap();
        let msg = vec![7u8; 300_000];
        c.write_all(&msg).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(server.join().unwrap(), msg.len());
        assert_eq!(back.len(), msg.len() + 5);
        assert_eq!(&back[..msg.len()], &msg[..]);
        assert_eq!(&back[msg.len()..], b" done");
    });
}

/// Data and the peer's FIN arriving together while the reader is parked
/// raise one edge: the short read that takes the data must not make the
/// next read wait for another (*Short reads* in `docs/net.md`). On one P
/// the reader parks before the main goroutine writes (it runs first at
/// the yield); either order must give the same result.
#[test]
fn a_short_read_then_the_end_of_stream() {
    run(1, WAIT, "short read then end of stream", || {
        let (c, s) = pair();
        let reader = go(move || {
            let mut buf = [0u8; 64];
            let n = (&s).read(&mut buf).unwrap();
            let end = (&s).read(&mut buf).unwrap();
            (n, end)
        });
        burrow_sched::yield_now();
        (&c).write_all(b"hello").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), (5, 0));
    });
}

/// A reset arriving with data while the reader is parked: after the short
/// read, the next read reports the reset instead of waiting.
#[test]
fn a_short_read_then_a_reset() {
    run(1, WAIT, "short read then reset", || {
        let (c, s) = pair();
        let reader = go(move || {
            let mut buf = [0u8; 64];
            let n = (&s).read(&mut buf).unwrap();
            let next = (&s).read(&mut buf);
            (n, next.map_err(|e| e.kind()))
        });
        burrow_sched::yield_now();
        (&c).write_all(b"hello").unwrap();
        // SO_LINGER 0: close sends a reset.
        socket2::SockRef::from(&c)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(c);
        let (n, next) = reader.join().unwrap();
        assert_eq!(n, 5);
        // Linux reports the reset, or an end of stream when the data was
        // already read; either way the read returns.
        assert!(
            matches!(next, Ok(0) | Err(io::ErrorKind::ConnectionReset)),
            "{next:?}"
        );
    });
}

#[test]
fn peer_reset_fails_the_blocked_reader() {
    run(1, WAIT, "peer reset", || {
        let (c, s) = pair();
        let c = std::sync::Arc::new(c);
        let c2 = c.clone();
        c.set_read_deadline(Some(Instant::now() + WAIT));
        let (started_tx, started_rx) = chan::<()>(0);
        let reader = go(move || {
            started_tx.send(()).unwrap();
            (&*c2).read(&mut [0u8; 8])
        });
        started_rx.recv().unwrap();
        // SO_LINGER 0 turns the close into a reset.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
        let e = reader.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    });
}

#[test]
fn a_peer_that_stops_reading_fails_the_writer_at_its_deadline() {
    run(1, WAIT, "full send buffer", || {
        let (c, _s) = pair();
        let d = Duration::from_millis(100);
        let t = Instant::now();
        c.set_write_deadline(Some(t + d));
        let chunk = vec![0u8; 1 << 16];
        let mut sent = 0usize;
        let e = loop {
            match (&c).write(&chunk) {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(sent > 0, "some bytes fit in the buffers first");
        assert!(t.elapsed() < d + SLACK, "took {:?}", t.elapsed());
    });
}

#[test]
fn std_style_timeouts() {
    run(1, WAIT, "std timeouts", || {
        let (c, s) = pair();
        assert!(
            c.set_read_timeout(Some(Duration::ZERO)).is_err(),
            "zero is refused, as std"
        );
        c.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(30)));
        for _ in 0..2 {
            // Each read gets its own 30 ms: the second is not failed at
            // once by the first's expired deadline.
            let t = Instant::now();
            let e = (&c).read(&mut [0u8; 1]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert!(
                t.elapsed() >= Duration::from_millis(30),
                "{:?}",
                t.elapsed()
            );
        }
        (&s).write_all(b"x").unwrap();
        assert_eq!((&c).read(&mut [0u8; 1]).unwrap(), 1);
        c.set_read_timeout(None).unwrap();
        assert_eq!(c.read_timeout().unwrap(), None);
        assert_eq!(c.read_deadline(), None);
    });
}

#[test]
fn connect_refused_is_an_error() {
    run(1, WAIT, "connect refused", || {
        // A port that was just free: bind, note it, close.
        let addr = listener().1;
        let e = TcpStream::connect(addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
    });
}

#[test]
fn connect_by_host_name_and_vectored_io() {
    run(2, WAIT, "localhost + vectored", || {
        let l = TcpListener::bind("localhost:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = go(move || echo(l.accept().unwrap().0));
        let mut c = TcpStream::connect(("localhost", port)).unwrap();
        let n = c
            .write_vectored(&[io::IoSlice::new(b"ab"), io::IoSlice::new(b"cd")])
            .unwrap();
        assert_eq!(n, 4);
        let mut buf = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            let (x, y) = buf[got..].split_at_mut((4 - got) / 2);
            let n = c
                .read_vectored(&mut [io::IoSliceMut::new(x), io::IoSliceMut::new(y)])
                .unwrap();
            assert!(n > 0, "echo ended early");
            got += n;
        }
        assert_eq!(&buf, b"abcd");
        drop(c);
        server.join().unwrap();
    });
}

/// A resolver that takes `delay` of thread time, as a slow DNS server
/// makes `getaddrinfo` do.
struct SlowResolver {
    addr: SocketAddr,
    delay: Duration,
}

impl ToSocketAddrs for SlowResolver {
    type Iter = std::option::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        std::thread::sleep(self.delay);
        Ok(Some(self.addr).into_iter())
    }
}

#[test]
fn a_slow_resolver_does_not_hold_the_p() {
    run(1, WAIT, "slow resolver", || {
        let (l, addr) = listener();
        let (tick_tx, tick_rx) = chan::<u32>(0);
        // On one P, this goroutine only runs while the resolver's thread
        // has let the P go.
        go(move || {
            for i in 0.. {
                if tick_tx.send(i).is_err() {
                    return;
                }
            }
        });
        let dialer = go(move || {
            TcpStream::connect(SlowResolver {
                addr,
                delay: Duration::from_millis(300),
            })
        });
        // Ticks arrive while the lookup sleeps.
        let first = tick_rx.recv().unwrap();
        let t = Instant::now();
        let mut last = first;
        while t.elapsed() < Duration::from_millis(100) {
            last = tick_rx.recv().unwrap();
        }
        assert!(last > first, "the other goroutine ran during the lookup");
        drop(tick_rx);
        let c = dialer
            .join()
            .unwrap()
            .expect("connect through the slow resolver");
        let (s, _) = l.accept().unwrap();
        assert_eq!(c.local_addr().unwrap(), s.peer_addr().unwrap());
    });
}

#[test]
fn std_conversions_and_raw_fds_round_trip() {
    use std::os::fd::{FromRawFd, IntoRawFd};
    run(1, WAIT, "std conversions", || {
        let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_l.local_addr().unwrap();
        let l = TcpListener::from(std_l);
        let c = TcpStream::from(std::net::TcpStream::connect(addr).unwrap());
        let (s, _) = l.accept().unwrap();
        // Through a raw descriptor and back.
        // SAFETY: the descriptor was just given up by `s` and is owned by
        // nothing else.
        let s = unsafe { TcpStream::from_raw_fd(s.into_raw_fd()) };
        (&c).write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        (&s).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        // Back to std: blocking again.
        let mut std_s: std::net::TcpStream = s.into();
        std_s.write_all(b"pong").unwrap();
        (&c).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
        let std_l: std::net::TcpListener = l.into();
        assert_eq!(std_l.local_addr().unwrap(), addr);
    });
}

#[test]
fn outside_a_goroutine_calls_block_the_thread() {
    // No runtime at all: plain threads.
    let (l, addr) = listener();
    let server = std::thread::spawn(move || echo(l.accept().unwrap().0));
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_deadline(Some(Instant::now() + WAIT));
    c.write_all(b"thread").unwrap();
    let mut buf = [0u8; 6];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"thread");
    // A deadline fires for a thread too.
    c.set_read_deadline(Some(Instant::now() + Duration::from_millis(30)));
    let e = c.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    drop(c);
    server.join().unwrap();
}
