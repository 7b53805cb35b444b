//! Stress: stack compaction against every way a goroutine parks and is
//! woken. Goroutines parked in a channel receive, a channel send, a
//! `select!`, a receive with a deadline, a socket read and a sleep are
//! compacted (decay 0: every sysmon sweep compacts whatever is parked) and
//! then woken in random order, some by a goroutine and some by a plain
//! thread, while sysmon keeps compacting. Every value must arrive exactly
//! once, and every goroutine's stack bytes must survive each park (each
//! keeps a checksum of a pattern in its own frame across the park).
//! Size: `BURROW_STRESS` (default 1).

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use burrow::net::TcpListener;
use burrow::{Receiver, Runtime, Sender, chan, go, select};

/// Goroutines of each kind.
const PER_KIND: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Recv,
    Send,
    Select,
    RecvTimeout,
    Socket,
    Sleep,
    /// Plain receivers on one channel that a `select!` send arm feeds:
    /// the select's readiness check walks the queue of compacted waiters.
    SharedRecv,
}

const KINDS: [Kind; 7] = [
    Kind::Recv,
    Kind::Send,
    Kind::Select,
    Kind::RecvTimeout,
    Kind::Socket,
    Kind::Sleep,
    Kind::SharedRecv,
];

/// What goroutine `i` of a kind gets (or gives) in `round`.
fn value(kind: Kind, i: usize, round: usize) -> u64 {
    ((kind as u64) << 48) | ((i as u64) << 24) | round as u64
}

/// A small xorshift, so the test needs no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
    }
}

/// Fills a frame array with a pattern, parks through `park`, and tells
/// whether the array came back intact.
#[inline(never)]
fn park_with_pattern<T>(seed: u64, park: impl FnOnce() -> T) -> (T, bool) {
    let mut frame = [0u64; 48];
    for (k, w) in frame.iter_mut().enumerate() {
        *w = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (k as u64).rotate_left(29);
    }
    let before: u64 = black_box(&frame)
        .iter()
        .fold(0, |a, &w| a.rotate_left(3) ^ w);
    let out = park();
    let after: u64 = black_box(&frame)
        .iter()
        .fold(0, |a, &w| a.rotate_left(3) ^ w);
    (out, before == after)
}

/// The driver's handle on one parked goroutine.
enum Waker {
    Recv(Sender<u64>),
    Send(Receiver<u64>),
    Select(Sender<u64>, Sender<u64>),
    RecvTimeout(Sender<u64>),
    Socket(std::net::TcpStream),
    Sleep,
    SharedSend(Sender<u64>),
}

impl Waker {
    /// Wakes goroutine `i` for `round` (the sleeper wakes itself).
    fn wake(&mut self, kind: Kind, i: usize, round: usize, pick: u64) {
        let v = value(kind, i, round);
        match self {
            Waker::Recv(tx) | Waker::RecvTimeout(tx) => tx.send(v).expect("receiver alive"),
            Waker::Send(rx) => assert_eq!(rx.recv(), Some(v), "the sender's value"),
            Waker::Select(a, b) => {
                let tx = if pick % 2 == 0 { a } else { b };
                tx.send(v).expect("selector alive");
            }
            Waker::Socket(s) => s.write_all(&v.to_le_bytes()).expect("socket write"),
            Waker::Sleep => {}
            Waker::SharedSend(tx) => select! {
                send(tx, v) -> r => r.expect("receivers alive"),
            },
        }
    }
}

fn stats() -> burrow::runtime::Stats {
    burrow::runtime::stats().expect("in the runtime")
}

#[test]
fn compaction_loses_no_wakeup_and_no_stack_byte() {
    let rt = Runtime::builder()
        .maxprocs(2)
        .stack_compaction(Some(Duration::ZERO))
        .build()
        .expect("runtime builds");
    if rt.stack_compaction().is_none() {
        eprintln!("skipped: stack compaction is unavailable here (no membarrier(2))");
        return;
    }
    let rounds = 4 * std::env::var("BURROW_STRESS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    let (done_tx, done_rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let r = rt.run(move || run(rounds));
        let _ = done_tx.send(());
        r
    });
    if done_rx.recv_timeout(Duration::from_secs(240)).is_err() {
        panic!("compaction stress did not finish within 240 s (a lost wake-up?)");
    }
    let (results, compactions, restores) = t.join().expect("stress panicked");
    let n = KINDS.len() * PER_KIND * rounds;
    assert_eq!(results.len(), n, "a wake-up was lost or doubled");
    let mut want: Vec<(Kind, usize, usize, u64)> = Vec::new();
    for &kind in &KINDS {
        for i in 0..PER_KIND {
            for round in 0..rounds {
                // Shared receivers get the values in any order.
                let (wi, wr) = if kind == Kind::SharedRecv {
                    (0, 0)
                } else {
                    (i, round)
                };
                want.push((kind, wi, wr, value(kind, i, round)));
            }
        }
    }
    want.sort_unstable();
    let mut got: Vec<(Kind, usize, usize, u64)> = results
        .iter()
        .map(|&(k, i, r, v, _)| (k, i, r, v))
        .collect();
    got.sort_unstable();
    assert_eq!(got, want, "every value arrives exactly once");
    let torn: Vec<_> = results.iter().filter(|r| !r.4).collect();
    assert!(
        torn.is_empty(),
        "stack bytes changed across a park: {torn:?}"
    );
    assert!(
        compactions > 0 && restores > 0,
        "the stress must exercise compaction: {compactions} compactions, {restores} restores"
    );
}

type Outcome = (Kind, usize, usize, u64, bool);

fn run(rounds: usize) -> (Vec<Outcome>, u64, u64) {
    let start = stats();
    let (out_tx, out_rx) = chan::<Outcome>(KINDS.len() * PER_KIND);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut wakers: Vec<(Kind, usize, Waker)> = Vec::new();
    let (shared_tx, shared_rx) = chan::<u64>(0);
    for &kind in &KINDS {
        for i in 0..PER_KIND {
            let out = out_tx.clone();
            let waker = match kind {
                Kind::Recv | Kind::RecvTimeout => {
                    let (tx, rx) = chan::<u64>(0);
                    go(move || {
                        for round in 0..rounds {
                            let (v, ok) = park_with_pattern(value(kind, i, round), || {
                                if kind == Kind::Recv {
                                    rx.recv().expect("driver alive")
                                } else {
                                    rx.recv_timeout(Duration::from_secs(120))
                                        .expect("woken in time")
                                }
                            });
                            out.send((kind, i, round, v, ok)).expect("collector alive");
                        }
                    });
                    if kind == Kind::Recv {
                        Waker::Recv(tx)
                    } else {
                        Waker::RecvTimeout(tx)
                    }
                }
                Kind::Send => {
                    let (tx, rx) = chan::<u64>(0);
                    go(move || {
                        for round in 0..rounds {
                            let v = value(kind, i, round);
                            let ((), ok) =
                                park_with_pattern(v, || tx.send(v).expect("driver alive"));
                            out.send((kind, i, round, v, ok)).expect("collector alive");
                        }
                    });
                    Waker::Send(rx)
                }
                Kind::Select => {
                    let (a_tx, a) = chan::<u64>(0);
                    let (b_tx, b) = chan::<u64>(0);
                    go(move || {
                        for round in 0..rounds {
                            let (v, ok) = park_with_pattern(value(kind, i, round), || {
                                select! {
                                    recv(a) -> v => v.expect("driver alive"),
                                    recv(b) -> v => v.expect("driver alive"),
                                }
                            });
                            out.send((kind, i, round, v, ok)).expect("collector alive");
                        }
                    });
                    Waker::Select(a_tx, b_tx)
                }
                Kind::Socket => {
                    let peer = std::net::TcpStream::connect(addr).expect("connect");
                    let (mut conn, _) = listener.accept().expect("accept");
                    go(move || {
                        for round in 0..rounds {
                            let (v, ok) = park_with_pattern(value(kind, i, round), || {
                                let mut b = [0u8; 8];
                                conn.read_exact(&mut b).expect("socket read");
                                u64::from_le_bytes(b)
                            });
                            out.send((kind, i, round, v, ok)).expect("collector alive");
                        }
                    });
                    Waker::Socket(peer)
                }
                Kind::SharedRecv => {
                    let rx = shared_rx.clone();
                    go(move || {
                        for _ in 0..rounds {
                            let (v, ok) =
                                park_with_pattern(i as u64, || rx.recv().expect("driver alive"));
                            out.send((kind, 0, 0, v, ok)).expect("collector alive");
                        }
                    });
                    Waker::SharedSend(shared_tx.clone())
                }
                Kind::Sleep => {
                    go(move || {
                        for round in 0..rounds {
                            let ms = 10 + (i as u64 * 7 + round as u64 * 13) % 90;
                            let ((), ok) = park_with_pattern(ms, || {
                                burrow::sleep(Duration::from_millis(ms));
                            });
                            out.send((kind, i, round, value(kind, i, round), ok))
                                .expect("collector alive");
                        }
                    });
                    Waker::Sleep
                }
            };
            wakers.push((kind, i, waker));
        }
    }
    drop((out_tx, shared_tx, shared_rx));
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut results = Vec::new();
    for round in 0..rounds {
        // Let sysmon compact most of the goroutines that wait for us (the
        // sleepers come and go on their own).
        let end = Instant::now() + Duration::from_secs(20);
        while stats().compacted_goroutines < (PER_KIND * 4) as u64 {
            assert!(
                Instant::now() < end,
                "round {round}: no compaction within 20 s: {:?}",
                stats()
            );
            burrow::sleep(Duration::from_millis(5));
        }
        // Wake them in random order: half from this goroutine, half from a
        // plain thread, both while sysmon keeps compacting.
        rng.shuffle(&mut wakers);
        let half = wakers.len() / 2;
        let mut from_thread = wakers.split_off(half);
        let seed = rng.next();
        let thread = std::thread::spawn(move || {
            let mut rng = Rng(seed | 1);
            for (kind, i, w) in &mut from_thread {
                w.wake(*kind, *i, round, rng.next());
            }
            from_thread
        });
        for (kind, i, w) in &mut wakers {
            w.wake(*kind, *i, round, rng.next());
        }
        // The thread's `Send` wakers block in `recv` until their goroutine
        // is resumed; join it through the blocking hand-off so our P
        // keeps running goroutines meanwhile.
        let back = burrow::blocking(move || thread.join().expect("waker thread"))
            .expect("a thread for the join");
        wakers.extend(back);
        for _ in 0..KINDS.len() * PER_KIND {
            results.push(out_rx.recv().expect("every goroutine reports each round"));
        }
    }
    let end = stats();
    (
        results,
        end.stack_compactions - start.stack_compactions,
        end.stack_restores - start.stack_restores,
    )
}
