//! Unix domain sockets: stream echo through a socket file with many
//! goroutines on one P, socket pairs, datagrams by path, deadlines.

mod common;

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use burrow_net::{UnixDatagram, UnixListener, UnixStream};
use burrow_sched::go;
use common::{WAIT, run};

/// A fresh socket path in the temporary directory.
fn sock_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("burrow-net-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn stream_echo_with_many_goroutines_on_one_p() {
    const CLIENTS: usize = 100;
    let path = sock_path("echo");
    let p2 = path.clone();
    run(1, WAIT, "unix echo on maxprocs(1)", move || {
        let l = UnixListener::bind(&p2).unwrap();
        go(move || {
            for s in l.incoming() {
                let mut s = s.unwrap();
                go(move || {
                    let mut buf = [0u8; 256];
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => s.write_all(&buf[..n]).unwrap(),
                        }
                    }
                });
            }
        });
        let hs: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let p = p2.clone();
                go(move || {
                    let mut s = UnixStream::connect(&p).unwrap();
                    for r in 0..10 {
                        let msg = format!("client {c} round {r}");
                        s.write_all(msg.as_bytes()).unwrap();
                        let mut back = vec![0u8; msg.len()];
                        s.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn pair_half_close_and_read_deadline() {
    run(1, WAIT, "unix pair", || {
        let (a, b) = UnixStream::pair().unwrap();
        let d = Duration::from_millis(40);
        let t = Instant::now();
        a.set_read_deadline(Some(t + d));
        let e = (&a).read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(t.elapsed() >= d);
        a.set_read_deadline(None);
        (&b).write_all(b"last words").unwrap();
        b.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = String::new();
        (&a).read_to_string(&mut got).unwrap();
        assert_eq!(got, "last words");
    });
}

#[test]
fn datagrams_by_path_and_pair() {
    let path = sock_path("dgram");
    let p2 = path.clone();
    run(1, WAIT, "unix datagrams", move || {
        let server = UnixDatagram::bind(&p2).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        let reader = go(move || {
            let mut buf = [0u8; 32];
            let (n, _) = server.recv_from(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        client.send_to(b"by path", &p2).unwrap();
        assert_eq!(reader.join().unwrap(), b"by path");

        let (a, b) = UnixDatagram::pair().unwrap();
        let reader = go(move || {
            let mut buf = [0u8; 32];
            let n = b.recv(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        a.send(b"paired").unwrap();
        assert_eq!(reader.join().unwrap(), b"paired");
    });
    let _ = std::fs::remove_file(&path);
}
