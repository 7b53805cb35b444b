//! UDP behaviour: many goroutines exchanging datagrams on one P, connected
//! sockets, peeking, deadlines, close waking a blocked receiver.

mod common;

use std::io;
use std::time::{Duration, Instant};

use burrow_net::UdpSocket;
use burrow_sched::{chan, go};
use common::{WAIT, run};

#[test]
fn many_goroutines_exchange_datagrams_on_one_p() {
    const CLIENTS: usize = 100;
    const ROUNDS: usize = 10;
    run(1, WAIT, "udp echo on maxprocs(1)", || {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        go(move || {
            let mut buf = [0u8; 1500];
            loop {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        let hs: Vec<_> = (0..CLIENTS)
            .map(|c| {
                go(move || {
                    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                    s.connect(addr).unwrap();
                    assert_eq!(s.peer_addr().unwrap(), addr);
                    let mut buf = [0u8; 64];
                    for r in 0..ROUNDS {
                        let msg = format!("client {c} round {r}");
                        s.send(msg.as_bytes()).unwrap();
                        // Loopback does not drop under this load; a lost
                        // datagram would show as a TimedOut here.
                        s.set_read_deadline(Some(Instant::now() + WAIT));
                        let n = s.recv(&mut buf).unwrap();
                        assert_eq!(&buf[..n], msg.as_bytes());
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn peek_leaves_the_datagram_and_recv_from_names_the_sender() {
    run(1, WAIT, "udp peek", || {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.send_to(b"hello", a.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = a.peek_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"hello"[..], b.local_addr().unwrap()));
        let (n, from) = a.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"hello"[..], b.local_addr().unwrap()));
        a.set_broadcast(true).unwrap();
        assert!(a.broadcast().unwrap());
    });
}

#[test]
fn recv_deadline_fires_and_close_wakes_a_receiver() {
    run(1, WAIT, "udp deadline + close", || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let d = Duration::from_millis(40);
        let t = Instant::now();
        s.set_read_deadline(Some(t + d));
        let e = s.recv_from(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(t.elapsed() >= d, "fired early: {:?}", t.elapsed());
        s.set_read_deadline(None);

        let s = std::sync::Arc::new(s);
        let s2 = s.clone();
        let (started_tx, started_rx) = chan::<()>(0);
        let receiver = go(move || {
            started_tx.send(()).unwrap();
            s2.recv_from(&mut [0u8; 8]).map(|_| ())
        });
        started_rx.recv().unwrap();
        s.close();
        let e = receiver.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotConnected, "{e}");
    });
}
