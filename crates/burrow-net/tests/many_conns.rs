//! 10,000 concurrent connections echoing through one runtime with two Ps.
//!
//! The server is this test; the clients are a child process (this binary
//! re-run with an environment variable) with its own runtime, so that each
//! process needs 10,000 descriptors rather than one needing 20,000. Both
//! raise their soft `RLIMIT_NOFILE` to the hard limit; the test skips,
//! saying why, when the hard limit is too low. `BURROW_NET_CONNS` changes
//! the count.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use burrow_net::{TcpListener, TcpStream};
use burrow_sched::sync::WaitGroup;
use burrow_sched::{go, sleep};
use common::{run, wait_child};

const CHILD_ENV: &str = "BURROW_NET_MANY_CONNS_CHILD";
const MSG: usize = 64;
const LIMIT: Duration = Duration::from_secs(120);

fn conns() -> usize {
    std::env::var("BURROW_NET_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Raises the soft descriptor limit to the hard one; returns it.
fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        lim.rlim_cur
    }
}

#[test]
fn ten_thousand_connections_echo_on_two_ps() {
    let n = conns();
    let limit = raise_nofile();
    if limit < n as u64 + 100 {
        println!(
            "skipped: {n} connections need {} descriptors per process, the hard limit is {limit} \
             (raise it, or set BURROW_NET_CONNS lower)",
            n + 100
        );
        return;
    }
    let (served, peak) = run(2, LIMIT, "many connections", move || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let open = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        {
            let (open, peak, served) = (open.clone(), peak.clone(), served.clone());
            go(move || {
                for s in l.incoming() {
                    let mut s = s.unwrap();
                    let now = open.fetch_add(1, Ordering::Relaxed) + 1;
                    peak.fetch_max(now, Ordering::Relaxed);
                    let (open, served) = (open.clone(), served.clone());
                    go(move || {
                        let mut buf = [0u8; MSG];
                        loop {
                            match s.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(k) => {
                                    s.write_all(&buf[..k]).unwrap();
                                    served.fetch_add(k, Ordering::Relaxed);
                                }
                            }
                        }
                        open.fetch_sub(1, Ordering::Relaxed);
                    });
                }
            });
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_clients",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, addr.to_string())
            .env("BURROW_NET_CONNS", n.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("re-run the test binary as the clients");
        let (status, out, err) = wait_child(
            &mut child,
            LIMIT,
            "the clients",
            Duration::from_millis(20),
            sleep,
        );
        assert!(status.success(), "clients failed: {status}\n{out}\n{err}");
        println!(
            "{}",
            out.lines()
                .filter(|l| l.contains("clients:"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        (served.load(Ordering::Relaxed), peak.load(Ordering::Relaxed))
    });
    assert_eq!(served, n * MSG, "every byte echoed");
    assert_eq!(peak, n, "all {n} connections open at once on the server");
}

/// The clients; does nothing unless run as the child.
#[test]
fn child_clients() {
    let Some(addr) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let addr: SocketAddr = addr.to_str().unwrap().parse().unwrap();
    let n = conns();
    raise_nofile();
    run(2, LIMIT, "clients", move || {
        let t = Instant::now();
        let connected = Arc::new(WaitGroup::new());
        let echoed = Arc::new(WaitGroup::new());
        connected.add(n as i32);
        echoed.add(n as i32);
        let hs: Vec<_> = (0..n)
            .map(|i| {
                let (connected, echoed) = (connected.clone(), echoed.clone());
                go(move || {
                    let mut s = TcpStream::connect(addr).expect("connect");
                    s.set_deadline(Some(Instant::now() + LIMIT));
                    // Every connection is open before any echoes.
                    connected.done();
                    connected.wait();
                    let mut msg = [0u8; MSG];
                    msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
                    s.write_all(&msg).unwrap();
                    let mut back = [0u8; MSG];
                    s.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg, "echo of client {i}");
                    // And stays open until every echo came back.
                    echoed.done();
                    echoed.wait();
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        println!(
            "clients: {n} connections open at once, each echoed, in {:?}",
            t.elapsed()
        );
    });
}
