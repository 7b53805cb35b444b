//! Regression tests for the review of the merged channel code: "forever"
//! durations (`Duration::MAX`) in timeouts and channel timers, uniform
//! choice among ready `select!` arms, `Sender::never().close()`, and many
//! selects sharing one channel (amortised O(1) unregister).

mod common;
use common::{bounded, rt, scale};

use std::time::{Duration, Instant};

use burrow_sched::{Receiver, Sender, Ticker, Timer, TryRecvError, after, chan, go, select, tick};

/// Polls (bounded, no sleeps) until `n` operations are parked on `rx`'s
/// channel.
fn wait_parked(rx: &Receiver<u32>, n: usize) {
    let t = Instant::now();
    while rx.__waiters() < n {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "waiters never parked"
        );
        std::thread::yield_now();
    }
}

#[test]
fn recv_timeout_duration_max_on_a_ready_channel() {
    let (tx, rx) = chan::<u32>(1);
    tx.send(1).unwrap();
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
}

#[test]
fn send_timeout_duration_max_on_a_channel_with_room() {
    let (tx, _rx) = chan::<u32>(1);
    assert!(tx.send_timeout(1, Duration::MAX).is_ok());
}

#[test]
fn recv_timeout_duration_max_waits_like_recv() {
    let got = bounded(30, "recv_timeout(MAX)", || {
        let (tx, rx) = chan::<u32>(0);
        let probe = rx.clone();
        let th = std::thread::spawn(move || {
            wait_parked(&probe, 1);
            tx.send(5).unwrap();
        });
        let got = rx.recv_timeout(Duration::MAX);
        th.join().unwrap();
        got
    });
    assert_eq!(got, Ok(5));
}

#[test]
fn send_timeout_duration_max_waits_like_send() {
    let got = bounded(30, "send_timeout(MAX)", || {
        let (tx, rx) = chan::<u32>(0);
        let th = std::thread::spawn(move || tx.send_timeout(6, Duration::MAX).is_ok());
        // Wait for the sender's entry, then take its value.
        let t = Instant::now();
        loop {
            if let Ok(v) = rx.try_recv() {
                break (v, th.join().unwrap());
            }
            assert!(t.elapsed() < Duration::from_secs(20), "sender never came");
            std::thread::yield_now();
        }
    });
    assert_eq!(got, (6, true));
}

#[test]
fn select_timeout_duration_max_with_a_ready_arm() {
    let (tx, rx) = chan::<u32>(1);
    tx.send(7).unwrap();
    let v = select! {
        recv(rx) -> v => v,
        timeout(Duration::MAX) => None,
    };
    assert_eq!(v, Some(7));
}

#[test]
fn select_timeout_duration_max_waits_for_an_arm() {
    let v = bounded(30, "select timeout(MAX)", || {
        let (tx, rx) = chan::<u32>(0);
        let probe = rx.clone();
        let th = std::thread::spawn(move || {
            wait_parked(&probe, 1);
            tx.send(8).unwrap();
        });
        let v = select! {
            recv(rx) -> v => v,
            timeout(Duration::MAX) => None,
        };
        th.join().unwrap();
        v
    });
    assert_eq!(v, Some(8));
}

#[test]
fn channel_timers_with_duration_max_never_fire() {
    assert_eq!(after(Duration::MAX).try_recv(), Err(TryRecvError::Empty));
    assert_eq!(tick(Duration::MAX).try_recv(), Err(TryRecvError::Empty));
    let t = Timer::new(Duration::MAX);
    assert_eq!(t.receiver().try_recv(), Err(TryRecvError::Empty));
    assert!(t.stop(), "a forever timer is active until stopped");
    assert!(!t.stop(), "stopped once");
    assert!(!t.reset(Duration::MAX), "was stopped");
    assert!(t.reset(Duration::MAX), "a forever timer is active");
    // Back to a real duration: it fires.
    assert!(t.reset(Duration::from_millis(1)));
    assert!(t.receiver().recv_timeout(Duration::from_secs(20)).is_ok());
    let k = Ticker::new(Duration::MAX);
    assert_eq!(k.receiver().try_recv(), Err(TryRecvError::Empty));
    k.reset(Duration::MAX);
    k.reset(Duration::from_millis(1));
    assert!(k.receiver().recv_timeout(Duration::from_secs(20)).is_ok());
    k.stop();
}

/// Review finding 8: with arms A, B ready and C never ready, each of A
/// and B must win about half the time. Scanning from a random start in
/// rotation order (the old pass 1) made A win 2/3 of the time.
#[test]
fn select_picks_uniformly_among_ready_arms() {
    let trials = 6000;
    let (atx, arx) = chan::<u32>(trials);
    let (btx, brx) = chan::<u32>(trials);
    for i in 0..trials as u32 {
        atx.send(i).unwrap();
        btx.send(i).unwrap();
    }
    let crx = Receiver::<u32>::never();
    let mut a_wins = 0usize;
    for _ in 0..trials {
        let a = select! {
            recv(arx) -> _ => true,
            recv(brx) -> _ => false,
            recv(crx) -> _ => unreachable!("never fires"),
        };
        a_wins += usize::from(a);
    }
    // Fair: mean 3000, sd ~39; rotation: mean 4000.
    assert!(
        (2700..=3300).contains(&a_wins),
        "arm A won {a_wins} of {trials} (fair: ~{})",
        trials / 2
    );
}

/// Review finding 8: closing a `Sender::never` must not make its send arm
/// fire (it is Go's nil channel; Go panics on `close(nil)`).
#[test]
fn closing_a_never_sender_keeps_it_never() {
    let tx = Sender::<u32>::never();
    assert!(!tx.close(), "close on a never channel does nothing");
    assert!(!tx.is_closed());
    let r = select! {
        send(tx, 1) -> _ => "fired",
        timeout(Duration::from_millis(5)) => "timeout",
    };
    assert_eq!(r, "timeout");
    let rx = Receiver::<u32>::never();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// Review finding 7: `n` workers select on their work channel and on a
/// shared `done` channel; each completed select retires its entry on
/// `done`. A `retain` over `done`'s whole queue per completion made this
/// quadratic (20k workers: 1.37 s measured by the reviewer). Size:
/// `BURROW_STRESS` (default 1: 20k workers); the time bound is asserted
/// in release builds only (debug timings mean little).
#[test]
fn many_workers_select_on_a_shared_done_channel() {
    let n = 20_000 * scale();
    let e = bounded(300, "shared done", move || {
        rt(2).run(move || {
            let (wtx, wrx) = chan::<usize>(0);
            let (dtx, drx) = chan::<()>(0);
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (wrx, drx) = (wrx.clone(), drx.clone());
                    go(move || select! { recv(wrx) -> v => v, recv(drx) -> _ => None })
                })
                .collect();
            let t = Instant::now();
            for i in 0..n {
                wtx.send(i).unwrap();
            }
            let mut got = 0;
            for h in hs {
                got += usize::from(h.join().unwrap().is_some());
            }
            let e = t.elapsed();
            drop(dtx);
            assert_eq!(got, n, "every item went to one worker");
            e
        })
    });
    eprintln!("{n} workers: {e:?} to hand out {n} items");
    if !cfg!(debug_assertions) {
        // Linear: tens of ms on a busy 2-core box; quadratic: seconds.
        assert!(
            e < Duration::from_millis(500) * scale() as u32,
            "{n} selecting workers took {e:?}: unregister is not O(1)"
        );
    }
}
