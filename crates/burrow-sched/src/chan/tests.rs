//! Unit tests of the channel state machine: a proptest of random
//! send/recv/close/try_* sequences against a `VecDeque` model, on one
//! thread (only operations that cannot block, or block with a zero
//! timeout); a select that unwinds with entries queued; a plain blocked
//! receive that unwinds before its park.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;

use super::handles::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError, chan};

#[derive(Clone, Debug)]
enum Op {
    TrySend(u32),
    TryRecv,
    Send(u32),
    Recv,
    SendTimeout(u32),
    RecvTimeout,
    Close,
    Len,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u32>().prop_map(Op::TrySend),
        4 => Just(Op::TryRecv),
        2 => any::<u32>().prop_map(Op::Send),
        2 => Just(Op::Recv),
        1 => any::<u32>().prop_map(Op::SendTimeout),
        1 => Just(Op::RecvTimeout),
        1 => Just(Op::Close),
        1 => Just(Op::Len),
    ]
}

proptest! {
    #[test]
    fn matches_vecdeque_model(cap in 0usize..5, ops in proptest::collection::vec(op(), 0..64)) {
        let (tx, rx) = chan::<u32>(cap);
        let mut model: VecDeque<u32> = VecDeque::new();
        let mut closed = false;
        for op in ops {
            match op {
                Op::TrySend(v) => {
                    let got = tx.try_send(v);
                    if closed {
                        prop_assert_eq!(got, Err(TrySendError::Closed(v)));
                    } else if model.len() < cap {
                        prop_assert_eq!(got, Ok(()));
                        model.push_back(v);
                    } else {
                        prop_assert_eq!(got, Err(TrySendError::Full(v)));
                    }
                }
                Op::Send(v) => {
                    // Only when it cannot block on this single thread.
                    if closed {
                        prop_assert_eq!(tx.send(v).map_err(|e| e.0), Err(v));
                    } else if model.len() < cap {
                        prop_assert!(tx.send(v).is_ok());
                        model.push_back(v);
                    }
                }
                Op::SendTimeout(v) => {
                    let got = tx.send_timeout(v, Duration::ZERO);
                    if closed {
                        prop_assert_eq!(got, Err(SendTimeoutError::Closed(v)));
                    } else if model.len() < cap {
                        prop_assert_eq!(got, Ok(()));
                        model.push_back(v);
                    } else {
                        prop_assert_eq!(got, Err(SendTimeoutError::Timeout(v)));
                    }
                }
                Op::TryRecv => {
                    let want = match model.pop_front() {
                        Some(v) => Ok(v),
                        None if closed => Err(TryRecvError::Closed),
                        None => Err(TryRecvError::Empty),
                    };
                    prop_assert_eq!(rx.try_recv(), want);
                }
                Op::Recv => {
                    if !model.is_empty() || closed {
                        prop_assert_eq!(rx.recv(), model.pop_front());
                    }
                }
                Op::RecvTimeout => {
                    let want = match model.pop_front() {
                        Some(v) => Ok(v),
                        None if closed => Err(RecvTimeoutError::Closed),
                        None => Err(RecvTimeoutError::Timeout),
                    };
                    prop_assert_eq!(rx.recv_timeout(Duration::ZERO), want);
                }
                Op::Close => {
                    prop_assert_eq!(tx.close(), !closed);
                    closed = true;
                }
                Op::Len => {
                    prop_assert_eq!(rx.len(), model.len());
                    prop_assert_eq!(tx.cap(), cap);
                    prop_assert_eq!(rx.is_closed(), closed);
                }
            }
        }
        // Dropping the only sender closes; the rest drains in order.
        drop(tx);
        prop_assert_eq!(rx.iter().collect::<Vec<_>>(), Vec::from(model));
    }
}

#[test]
fn dropping_last_receiver_closes_for_senders() {
    let (tx, rx) = chan::<u8>(1);
    let rx2 = rx.clone();
    drop(rx);
    assert_eq!(tx.try_send(1), Ok(()));
    drop(rx2);
    assert_eq!(tx.try_send(2), Err(TrySendError::Closed(2)));
    assert!(tx.is_closed());
}

#[test]
fn never_channels_never_fire_and_never_close() {
    let rx = super::handles::Receiver::<u8>::never();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
    let tx = super::handles::Sender::<u8>::never();
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    assert!(!tx.is_closed());
}

/// A select arm that is never ready and panics when asked to register:
/// a select unwinds in pass 2 with its other arms' entries queued.
struct PanicOnRegister;

impl super::select::SelectCase for PanicOnRegister {
    fn poll(&mut self) -> bool {
        false
    }
    fn register(&mut self, _: &super::select::SelectWaiter, _: usize) -> bool {
        panic!("injected: register panics (as add_timer or a lock might)")
    }
    fn unregister(&mut self, _: &super::select::SelectWaiter) {}
    fn complete(&mut self) {}
}

/// Review finding 2: an unwind between enqueue and park must retract the
/// queued entry. Before the fix the receive arm's entry (pointing at a
/// slot in the unwound frame) stayed queued: the next `try_send` claimed
/// it, wrote into the dead frame and returned `Ok` for a lost value.
#[test]
fn select_unwinding_after_registering_leaves_no_entry() {
    let (tx, rx) = chan::<u32>(0);
    // The poll order is random: over 32 tries the receive arm registers
    // before the panicking one about half the time.
    for i in 0..32 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut recv = super::select::RecvCase::new(&rx);
            let mut boom = PanicOnRegister;
            super::select::select_impl(&mut [&mut recv, &mut boom], None, false)
        }));
        assert!(r.is_err(), "the injected panic propagates");
        assert_eq!(rx.__waiters(), 0, "try {i}: no live entry after unwind");
        assert_eq!(
            tx.try_send(i),
            Err(TrySendError::Full(i)),
            "try {i}: a send found the unwound select's entry"
        );
    }
}

thread_local! {
    /// Set by a test: the next `Chan::block_local` on this thread panics
    /// after queueing its entry, before it parks.
    static INJECT_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The injection point in `Chan::block_local` (unit tests only).
pub(super) fn inject_panic_before_park() {
    if INJECT_PANIC.with(|c| c.replace(false)) {
        panic!("injected: panic between enqueue and park");
    }
}

/// The unwind guard of the waiter-in-frame path (`Local` in `chan/mod.rs`):
/// a plain `recv` that unwinds after queueing its entry must remove that
/// entry exactly (its waiter dies with the frame, so the entry may not
/// linger as a select's may), and must leave other waiters' entries alone.
#[test]
fn plain_recv_unwinding_before_park_leaves_no_entry() {
    let (tx, rx) = chan::<u32>(0);
    let rx2 = rx.clone();
    // A receiver parked ahead of ours (a plain thread: its entry is first).
    let ahead = std::thread::spawn(move || rx2.recv());
    let t0 = std::time::Instant::now();
    while rx.__waiters() != 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the receiver never parked"
        );
        std::thread::yield_now();
    }
    for i in 0..8 {
        INJECT_PANIC.with(|c| c.set(true));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rx.recv()));
        assert!(r.is_err(), "try {i}: the injected panic propagates");
        assert_eq!(rx.__waiters(), 1, "try {i}: only the other receiver waits");
        assert_eq!(
            rx.chan.entries(),
            1,
            "try {i}: the unwound entry was removed"
        );
    }
    assert_eq!(
        tx.try_send(7),
        Ok(()),
        "the parked receiver takes the value"
    );
    assert_eq!(ahead.join().expect("receiver thread"), Some(7));
    assert_eq!(
        tx.try_send(8),
        Err(TrySendError::Full(8)),
        "a send found an unwound receive's entry"
    );
}
