//! Channels, `select!` and channel timers through the public API:
//! hand-off between goroutines, goroutines and plain threads talking,
//! close semantics, timeouts, select's default/timeout/never arms, and
//! `after`/`tick`/`Timer`/`Ticker`.

mod common;
use common::{bounded, rt};

use std::time::{Duration, Instant};

use burrow_sched::{
    Receiver, RecvTimeoutError, SendTimeoutError, Sender, Ticker, Timer, after, chan, go, select,
    tick,
};

#[test]
fn unbuffered_ping_pong_between_goroutines() {
    let n = bounded(30, "ping-pong", || {
        rt(2).run(|| {
            let (ping_tx, ping_rx) = chan::<u32>(0);
            let (pong_tx, pong_rx) = chan::<u32>(0);
            let h = go(move || {
                for v in &ping_rx {
                    pong_tx.send(v + 1).unwrap();
                }
            });
            let mut x = 0;
            for _ in 0..10_000 {
                ping_tx.send(x).unwrap();
                x = pong_rx.recv().unwrap();
            }
            drop(ping_tx);
            h.join().unwrap();
            x
        })
    });
    assert_eq!(n, 10_000);
}

#[test]
fn goroutines_and_threads_talk_both_ways() {
    let sum = bounded(30, "thread <-> goroutine", || {
        let (to_g, from_t) = chan::<u64>(0);
        let (to_t, from_g) = chan::<u64>(0);
        // A plain thread feeds the runtime and reads its answers.
        let feeder = std::thread::spawn(move || {
            let mut got = 0;
            for i in 0..1000 {
                to_g.send(i).unwrap();
                got += from_g.recv().unwrap();
            }
            got
        });
        rt(2).run(move || {
            for v in &from_t {
                to_t.send(v * 2).unwrap();
            }
        });
        feeder.join().unwrap()
    });
    assert_eq!(sum, 2 * (0..1000).sum::<u64>());
}

#[test]
fn recv_drains_buffer_after_close_then_none() {
    let (tx, rx) = chan::<i32>(4);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert!(tx.close());
    assert!(!tx.close(), "second close reports it was closed");
    assert_eq!(tx.send(3).unwrap_err().0, 3, "send on closed returns value");
    assert_eq!(rx.recv(), Some(1));
    assert_eq!(rx.recv(), Some(2));
    assert_eq!(rx.recv(), None);
    assert_eq!(rx.len(), 0);
    assert_eq!(rx.cap(), 4);
}

#[test]
fn dropping_all_senders_ends_iteration_in_goroutines() {
    let got = bounded(30, "iteration end", || {
        rt(2).run(|| {
            let (tx, rx) = chan::<usize>(8);
            for p in 0..4 {
                let tx = tx.clone();
                go(move || (0..100).for_each(|i| tx.send(p * 100 + i).unwrap()));
            }
            drop(tx);
            let mut v: Vec<_> = rx.into_iter().collect();
            v.sort_unstable();
            v
        })
    });
    assert_eq!(got, (0..400).collect::<Vec<_>>());
}

#[test]
fn close_wakes_blocked_sender_with_its_value() {
    let back = bounded(30, "close wakes sender", || {
        rt(2).run(|| {
            let (tx, rx) = chan::<String>(0);
            let (started_tx, started_rx) = chan::<()>(0);
            let h = go(move || {
                started_tx.send(()).unwrap();
                tx.send("kept".to_string())
            });
            started_rx.recv().unwrap();
            // rx dropped: the last receiver closes the channel.
            drop(rx);
            h.join().unwrap()
        })
    });
    assert_eq!(back.unwrap_err().0, "kept");
}

#[test]
fn timeouts_expire_and_return_value() {
    let (tx, rx) = chan::<u8>(0);
    let t = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(20)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(20), "woke early");
    assert_eq!(
        tx.send_timeout(9, Duration::from_millis(5)),
        Err(SendTimeoutError::Timeout(9))
    );
    drop(tx);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Err(RecvTimeoutError::Closed)
    );
}

#[test]
fn recv_timeout_gets_value_sent_in_time() {
    let v = bounded(30, "recv_timeout hand-off", || {
        rt(2).run(|| {
            let (tx, rx) = chan::<u8>(0);
            go(move || tx.send(5).unwrap());
            rx.recv_timeout(Duration::from_secs(10))
        })
    });
    assert_eq!(v, Ok(5));
}

#[test]
fn select_default_timeout_and_never() {
    let never: Receiver<u8> = Receiver::never();
    let never_tx: Sender<u8> = Sender::never();
    let r = select! {
        recv(never) -> _ => "never",
        send(never_tx, 1) -> _ => "never-send",
        default => "default",
    };
    assert_eq!(r, "default");
    let t = Instant::now();
    let r = select! {
        recv(never) -> _ => "never",
        timeout(Duration::from_millis(10)) => "timeout",
    };
    assert_eq!(r, "timeout");
    assert!(t.elapsed() >= Duration::from_millis(10));
    let r = select! {
        recv(never) -> _ => 0,
        recv(after(Duration::from_millis(5))) -> at => { assert!(at.is_some()); 1 }
    };
    assert_eq!(r, 1);
}

#[test]
fn select_sees_closed_channel_as_ready() {
    let (tx, rx) = chan::<u8>(0);
    drop(tx);
    let r = select! {
        recv(rx) -> v => v,
        timeout(Duration::from_secs(5)) => Some(99),
    };
    assert_eq!(r, None);
}

#[test]
fn select_blocks_then_takes_whichever_arrives() {
    let (which, v) = bounded(30, "blocking select", || {
        rt(2).run(|| {
            let (atx, arx) = chan::<u8>(0);
            let (btx, brx) = chan::<u16>(0);
            go(move || btx.send(700).unwrap());
            let r = select! {
                recv(arx) -> v => ("a", v.map(u32::from)),
                recv(brx) -> v => ("b", v.map(u32::from)),
            };
            drop(atx);
            r
        })
    });
    assert_eq!((which, v), ("b", Some(700)));
}

#[test]
fn select_send_arm_hands_off_to_receiver() {
    let got = bounded(30, "select send", || {
        rt(2).run(|| {
            let (tx, rx) = chan::<u32>(0);
            let h = go(move || rx.recv());
            let never: Receiver<u32> = Receiver::never();
            select! {
                send(tx, 42) -> r => r.unwrap(),
                recv(never) -> _ => unreachable!(),
            }
            h.join().unwrap()
        })
    });
    assert_eq!(got, Some(42));
}

#[test]
fn select_same_channel_send_and_recv_does_not_spin() {
    // A select both sending and receiving on one unbuffered channel must
    // not match itself; a partner's receive completes it.
    let r = bounded(30, "self-select", || {
        rt(2).run(|| {
            let (tx, rx) = chan::<u8>(0);
            let rx2 = rx.clone();
            let h = go(move || rx2.recv());
            let r = select! {
                send(tx, 1) -> _ => "sent",
                recv(rx) -> _ => "received",
            };
            (r, h.join().unwrap())
        })
    });
    assert_eq!(r, ("sent", Some(1)));
}

#[test]
fn select_is_fair_between_ready_arms() {
    let (a, b) = chan::<u8>(1024);
    let (c, d) = chan::<u8>(1024);
    let (mut na, mut nc) = (0, 0);
    for _ in 0..1000 {
        a.send(0).unwrap();
        c.send(0).unwrap();
        select! {
            recv(b) -> _ => na += 1,
            recv(d) -> _ => nc += 1,
        }
    }
    assert!(na > 300 && nc > 300, "random start: {na} vs {nc}");
}

#[test]
fn timer_stop_reset_and_ticker() {
    let t = Timer::new(Duration::from_secs(3600));
    assert!(t.stop(), "an armed timer stops");
    assert!(!t.stop(), "a stopped timer reports false");
    assert!(!t.reset(Duration::from_millis(1)));
    let fired = t.receiver().recv_timeout(Duration::from_secs(5));
    assert!(fired.is_ok(), "reset timer fires");
    assert!(!t.stop(), "fired timer reports false");

    let tk = Ticker::new(Duration::from_millis(2));
    for _ in 0..3 {
        assert!(tk.receiver().recv_timeout(Duration::from_secs(5)).is_ok());
    }
    tk.reset(Duration::from_millis(1));
    assert!(tk.receiver().recv_timeout(Duration::from_secs(5)).is_ok());
    tk.stop();
    // At most one tick in flight may still land; then nothing.
    let _ = tk.receiver().recv_timeout(Duration::from_millis(20));
    assert!(
        tk.receiver()
            .recv_timeout(Duration::from_millis(30))
            .is_err()
    );

    let rx = tick(Duration::from_millis(1));
    let a = rx.recv().unwrap();
    let b = rx.recv().unwrap();
    assert!(b > a);
}

#[test]
fn after_fires_not_early_inside_goroutine() {
    let late = bounded(30, "after", || {
        rt(2).run(|| {
            let t = Instant::now();
            let at = after(Duration::from_millis(15)).recv().unwrap();
            (at - t, t.elapsed())
        })
    });
    assert!(late.0 >= Duration::from_millis(15), "fired early");
}
