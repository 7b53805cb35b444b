//! Loom models of the channel protocols: the unbuffered hand-off, close
//! waking a blocked sender, a timeout racing a hand-off for the same
//! waiter, and a select whose two channels become ready at once.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p burrow-sched --lib --release loom_`.
//! The channel code is the real one: under `cfg(loom)` its lock, atomics,
//! cells and park/unpark come from loom (`crate::loom`), and loom threads
//! stand in for goroutines. Timers cannot run in a model, so the timeout
//! model claims the waiter from a loom thread exactly as the timer
//! callback does (`try_claim(TIMED_OUT)` then `wake`).

use std::sync::Arc;

use loom::thread;

use super::handles::{TrySendError, chan};
use super::waiter::{Slot, Sudog, TIMED_OUT, Waiter};
use super::{Chan, Try};
use crate::select;

/// A value sent on an unbuffered channel is received exactly once; the
/// drop of the last sender then ends the receive.
#[test]
fn loom_unbuffered_handoff() {
    loom::model(|| {
        let (tx, rx) = chan::<u32>(0);
        let t = thread::spawn(move || {
            tx.send(7).unwrap();
        });
        assert_eq!(rx.recv(), Some(7));
        t.join().unwrap();
        assert_eq!(rx.recv(), None);
    });
}

/// A buffered channel of capacity 1 with two senders: both values arrive,
/// in some order, exactly once.
#[test]
fn loom_buffered_two_senders() {
    loom::model(|| {
        let (tx, rx) = chan::<u32>(1);
        let tx2 = tx.clone();
        let a = thread::spawn(move || tx.send(1).unwrap());
        let b = thread::spawn(move || tx2.send(2).unwrap());
        let mut got = [rx.recv().unwrap(), rx.recv().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// Close races a blocked (or blocking) send and a receive: the value is
/// either received or returned to the sender, never both, never neither.
#[test]
fn loom_close_races_send() {
    loom::model(|| {
        let (tx, rx) = chan::<u32>(0);
        let closer = tx.clone();
        let s = thread::spawn(move || tx.send(5).is_ok());
        let c = thread::spawn(move || {
            closer.close();
        });
        let got = rx.recv();
        let sent = s.join().unwrap();
        c.join().unwrap();
        assert_eq!(sent, got == Some(5), "value lost or duplicated");
    });
}

/// A receiver's waiter is claimed by a sender and by its timeout at once:
/// exactly one wins, and the value is neither lost nor duplicated.
#[test]
fn loom_timeout_races_handoff() {
    loom::model(|| {
        let c: Arc<Chan<u32>> = Arc::new(Chan::new(0));
        let slot = Slot::new(None);
        let (w, parker) = Waiter::new();
        {
            let mut s = c.lock();
            assert!(matches!(c.try_recv_locked(&mut s), Try::Block(_)));
            Chan::enqueue(&mut s, Sudog::shared(&w, 0, &slot), false);
        }
        let timer = {
            let w = w.clone();
            thread::spawn(move || {
                if w.try_claim(TIMED_OUT) {
                    w.wake();
                }
            })
        };
        let sender = {
            let c = c.clone();
            thread::spawn(move || {
                let mut s = c.lock();
                match c.try_send_locked(&mut s, 9) {
                    Try::Done(u) => {
                        drop(s);
                        if let Some(u) = u {
                            u.unpark();
                        }
                        Ok(())
                    }
                    Try::Block(v) => Err(TrySendError::Full(v.unwrap())),
                    _ => unreachable!(),
                }
            })
        };
        parker.park(crate::WaitReason::ChanReceive);
        let timed_out = w.outcome() == TIMED_OUT;
        if timed_out {
            c.unregister(&w, false);
        }
        // SAFETY: our entry left the queue (popped by the sender's claim,
        // or unregistered above).
        let got = unsafe { slot.take() };
        let sent = sender.join().unwrap();
        timer.join().unwrap();
        match sent {
            Ok(()) => assert_eq!((timed_out, got), (false, Some(9))),
            Err(e) => {
                assert_eq!(e.into_inner(), 9);
                assert_eq!((timed_out, got), (true, None));
            }
        }
    });
}

/// Two channels become ready while a select registers on them: the
/// select takes exactly one value, the other stays for a later receive.
#[test]
fn loom_select_claim() {
    loom::model(|| {
        let (atx, arx) = chan::<u32>(0);
        let (btx, brx) = chan::<u32>(0);
        let a = thread::spawn(move || atx.send(1).unwrap());
        let b = thread::spawn(move || btx.send(2).unwrap());
        let first = select! {
            recv(arx) -> v => v.unwrap(),
            recv(brx) -> v => v.unwrap(),
        };
        let second = if first == 1 {
            brx.recv().unwrap()
        } else {
            arx.recv().unwrap()
        };
        let mut got = [first, second];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        a.join().unwrap();
        b.join().unwrap();
    });
}
