//! loom models of the pollDesc protocol (run with
//! `RUSTFLAGS="--cfg loom" cargo test -p burrow-netpoll --lib --release`):
//! a park racing an event, and a park racing a close, must hand the waiter
//! back exactly once in every interleaving.

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
            // The event came first: pdReady was consumed by the park.
            Park::Ready(7) => {
                assert!(out.is_empty());
                assert!(!pd.is_ready(Direction::Read));
            }
            other => panic!("unexpected {other:?}"),
        }
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
