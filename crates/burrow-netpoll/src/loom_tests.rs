//! loom models of the pollDesc slot protocol (*Lock-free slots* in
//! `poll_desc.rs`; run with
//! `RUSTFLAGS="--cfg loom" cargo test -p burrow-netpoll --lib --release loom`).
//! In every interleaving each waiter comes back exactly once, readiness is
//! never lost, and the waiter cell is never touched by two threads at once
//! (loom's `UnsafeCell` checks that).

use loom::sync::Arc;
use loom::thread;

use crate::event::{Direction, Interest, Readiness, Token};
use crate::poll_desc::{Park, PollDesc};

fn pd() -> Arc<PollDesc<u32>> {
    Arc::new(PollDesc::new(3, Token::new(0, 1), Interest::BOTH))
}

#[test]
fn park_racing_an_event_is_never_lost() {
    loom::model(|| {
        let pd = pd();
        let p2 = Arc::clone(&pd);
        let poller = thread::spawn(move || {
            let mut out = Vec::new();
            p2.ready(Readiness::READABLE, &mut out);
            out
        });
        let parked = pd.park(Direction::Read, 7);
        let out = poller.join().unwrap();
        match parked {
            // Parked first: the event must have handed it back.
            Park::Parked => assert_eq!(out, vec![7]),
            // The event came first (or while the park was claiming the
            // slot): the readiness was consumed by the park.
            Park::Ready(7) => assert!(out.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!pd.is_ready(Direction::Read));
        assert!(!pd.has_waiter(Direction::Read));
        assert_eq!(pd.ready_seq(Direction::Read), 1);
    });
}

#[test]
fn park_racing_close_is_never_stranded() {
    loom::model(|| {
        let pd = pd();
        let p2 = Arc::clone(&pd);
        let closer = thread::spawn(move || p2.close().into_iter().collect::<Vec<_>>());
        let parked = pd.park(Direction::Write, 9);
        let closed = closer.join().unwrap();
        match parked {
            Park::Parked => assert_eq!(closed, vec![9]),
            Park::Closing(9) => assert!(closed.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!pd.has_waiter(Direction::Write));
    });
}

#[test]
fn event_racing_unblock_hands_the_waiter_back_once() {
    loom::model(|| {
        let pd = pd();
        assert_eq!(pd.park(Direction::Read, 5), Park::Parked);
        let p2 = Arc::clone(&pd);
        let poller = thread::spawn(move || {
            let mut out = Vec::new();
            assert!(p2.ready(Readiness::READABLE, &mut out));
            out
        });
        let timed_out = pd.unblock(Direction::Read);
        let out = poller.join().unwrap();
        match timed_out {
            // The deadline won: the event, after or during the take, must
            // have left readiness behind for the next park.
            Some(5) => {
                assert!(out.is_empty());
                assert!(pd.is_ready(Direction::Read));
            }
            // The event won: the slot is empty again.
            None => {
                assert_eq!(out, vec![5]);
                assert!(!pd.is_ready(Direction::Read));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!pd.has_waiter(Direction::Read));
    });
}

#[test]
fn hangup_racing_close_wakes_each_waiter_once() {
    loom::model(|| {
        let pd = pd();
        assert_eq!(pd.park(Direction::Read, 1), Park::Parked);
        assert_eq!(pd.park(Direction::Write, 2), Park::Parked);
        let p2 = Arc::clone(&pd);
        let poller = thread::spawn(move || {
            let mut out = Vec::new();
            p2.ready(Readiness::READ_CLOSED | Readiness::WRITE_CLOSED, &mut out);
            out
        });
        let mut all: Vec<u32> = pd.close().into_iter().collect();
        all.extend(poller.join().unwrap());
        all.sort_unstable();
        assert_eq!(all, vec![1, 2]);
        assert!(pd.is_closing());
    });
}

#[test]
fn two_parkers_never_share_the_cell() {
    loom::model(|| {
        let pd = pd();
        let p2 = Arc::clone(&pd);
        let other = thread::spawn(move || p2.park(Direction::Read, 8));
        let mine = pd.park(Direction::Read, 7);
        let theirs = other.join().unwrap();
        // Exactly one parks; the other is refused with its own waiter.
        match (mine, theirs) {
            (Park::Parked, Park::Busy(8)) => assert_eq!(pd.close().read, Some(7)),
            (Park::Busy(7), Park::Parked) => assert_eq!(pd.close().read, Some(8)),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn hand_back_racing_the_next_park_keeps_the_cell_exclusive() {
    loom::model(|| {
        let pd = pd();
        assert_eq!(pd.park(Direction::Read, 5), Park::Parked);
        let p2 = Arc::clone(&pd);
        // A second waiter arrives while the first may be mid-hand-back: it
        // parks only once the cell is free, and never while it is read.
        let parker = thread::spawn(move || p2.park(Direction::Read, 6));
        let mut out = Vec::new();
        assert!(pd.ready(Readiness::READABLE, &mut out));
        assert_eq!(out, vec![5]);
        match parker.join().unwrap() {
            Park::Parked => assert_eq!(pd.unblock(Direction::Read), Some(6)),
            Park::Busy(6) => assert!(!pd.has_waiter(Direction::Read)),
            other => panic!("unexpected {other:?}"),
        }
    });
}
