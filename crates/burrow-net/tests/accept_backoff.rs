//! `accept` when the process runs out of descriptors: in a child process
//! (this test binary re-run with an environment variable) whose
//! `RLIMIT_NOFILE` is lowered and whose descriptors are all taken, a
//! flood of pending connections makes `accept` back off (printing one
//! line that says to raise `ulimit -n`); once the descriptors are freed,
//! every pending connection is served.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burrow_net::{TcpListener, TcpStream, accept_backoffs};
use burrow_sched::{go, sleep};
use common::{WAIT, run, wait_child};

/// Set in the child's environment: run the scenario instead of spawning.
const CHILD_ENV: &str = "BURROW_NET_ACCEPT_BACKOFF_CHILD";

/// Connections queued while the descriptors are exhausted.
const PENDING: usize = 20;

/// The soft descriptor limit in the child.
const NOFILE: u64 = 256;

#[test]
fn accept_backs_off_when_out_of_fds_and_serves_again() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_scenario",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-run the test binary as the child");
    let (status, out, err) = wait_child(
        &mut child,
        WAIT,
        "the child",
        Duration::from_millis(10),
        std::thread::sleep,
    );
    assert!(
        status.success(),
        "child failed: {status}\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert!(out.contains("served all"), "child stdout:\n{out}");
    let logged = err.matches("ulimit -n").count();
    assert_eq!(
        logged, 1,
        "one log line naming `ulimit -n`, got stderr:\n{err}"
    );
    assert!(
        err.contains("Too many open files"),
        "the log names the error:\n{err}"
    );
}

/// The child's scenario; does nothing unless run as the child.
#[test]
fn child_scenario() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = NOFILE.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    run(2, WAIT, "accept back-off child", || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // Make the runtime's poller (an epoll and an eventfd) exist before
        // the descriptors run out: one accept that parks and times out.
        l.set_deadline(Some(Instant::now() + Duration::from_millis(1)));
        assert!(l.accept().is_err());
        l.set_deadline(None);

        // The flood: the kernel completes these handshakes into the
        // listen queue; accepting them needs descriptors.
        let clients: Vec<TcpStream> = (0..PENDING)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let mut hog = Vec::new();
        loop {
            match File::open("/dev/null") {
                Ok(f) => hog.push(f),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                    break;
                }
            }
        }
        println!("holding {} descriptors; the limit is reached", hog.len());

        go(move || {
            for s in l.incoming() {
                let mut s = s.expect("accept never fails for lack of descriptors");
                go(move || {
                    let mut buf = [0u8; 64];
                    let n = s.read(&mut buf).unwrap();
                    s.write_all(&buf[..n]).unwrap();
                });
            }
        });

        // Bounded: the server must hit EMFILE and back off a few times.
        let t = Instant::now();
        while accept_backoffs() < 3 {
            assert!(t.elapsed() < WAIT, "accept did not back off");
            sleep(Duration::from_millis(1));
        }
        let before = accept_backoffs();
        drop(hog);
        println!("{before} back-offs; descriptors freed");

        for (i, mut c) in clients.into_iter().enumerate() {
            c.set_read_deadline(Some(Instant::now() + WAIT));
            let msg = format!("client {i}");
            c.write_all(msg.as_bytes()).unwrap();
            let mut back = vec![0u8; msg.len()];
            c.read_exact(&mut back).unwrap();
            assert_eq!(back, msg.as_bytes());
        }
        println!("served all {PENDING} pending connections");
    });
}
