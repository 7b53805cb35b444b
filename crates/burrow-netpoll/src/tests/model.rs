//! Property test: a `PollDesc` driven by random parks, events, unblocks and
//! a close behaves like a simple model of Go's slots, and every waiter comes
//! back exactly once (from an event, an unblock, a refused park or close).

use std::collections::HashSet;

use proptest::prelude::*;

use crate::event::{Direction, Interest, Readiness, Token};
use crate::poll_desc::{Park, PollDesc};

#[derive(Clone, Debug)]
enum Op {
    Park(Direction),
    Event(u8),
    Unblock(Direction),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    let dir = prop_oneof![Just(Direction::Read), Just(Direction::Write)];
    prop_oneof![
        4 => dir.clone().prop_map(Op::Park),
        4 => (0u8..32).prop_map(Op::Event),
        1 => dir.prop_map(Op::Unblock),
        1 => Just(Op::Close),
    ]
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum M {
    Empty,
    Ready,
    Waiting(usize),
}

fn idx(d: Direction) -> usize {
    match d {
        Direction::Read => 0,
        Direction::Write => 1,
    }
}

proptest! {
    #[test]
    fn pd_slots_match_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let pd: PollDesc<usize> = PollDesc::new(3, Token::new(0, 1), Interest::BOTH);
        let mut model = [M::Empty, M::Empty];
        let mut closing = false;
        let mut next = 0usize;
        let mut issued = HashSet::new();
        let mut returned = HashSet::new();
        let back = |w: usize, returned: &mut HashSet<usize>| {
            assert!(returned.insert(w), "waiter {w} handed back twice");
        };
        for op in ops {
            match op {
                Op::Park(d) => {
                    let w = next;
                    next += 1;
                    issued.insert(w);
                    let got = pd.park(d, w);
                    let slot = &mut model[idx(d)];
                    let want = if closing {
                        Park::Closing(w)
                    } else {
                        match *slot {
                            M::Ready => { *slot = M::Empty; Park::Ready(w) }
                            M::Empty => { *slot = M::Waiting(w); Park::Parked }
                            M::Waiting(_) => Park::Busy(w),
                        }
                    };
                    prop_assert_eq!(&got, &want);
                    if let Park::Ready(w) | Park::Closing(w) | Park::Busy(w) = got {
                        back(w, &mut returned);
                    }
                }
                Op::Event(bits) => {
                    let r = [
                        Readiness::READABLE, Readiness::WRITABLE, Readiness::READ_CLOSED,
                        Readiness::WRITE_CLOSED, Readiness::ERROR,
                    ]
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .fold(Readiness::EMPTY, |acc, (_, b)| acc | b);
                    let mut out = Vec::new();
                    let applied = pd.ready(r, &mut out);
                    prop_assert_eq!(applied, !closing);
                    let mut want = Vec::new();
                    if !closing {
                        for d in [Direction::Read, Direction::Write] {
                            if r.wakes(d) {
                                let slot = &mut model[idx(d)];
                                if let M::Waiting(w) = *slot {
                                    want.push(w);
                                    *slot = M::Empty;
                                } else {
                                    *slot = M::Ready;
                                }
                            }
                        }
                    }
                    prop_assert_eq!(&out, &want);
                    for w in out {
                        back(w, &mut returned);
                    }
                }
                Op::Unblock(d) => {
                    let got = pd.unblock(d);
                    let slot = &mut model[idx(d)];
                    let want = match *slot {
                        M::Waiting(w) => { *slot = M::Empty; Some(w) }
                        _ => None,
                    };
                    prop_assert_eq!(got, want);
                    if let Some(w) = got {
                        back(w, &mut returned);
                    }
                }
                Op::Close => {
                    closing = true;
                    for w in pd.close() {
                        back(w, &mut returned);
                    }
                    for s in &mut model {
                        if let M::Waiting(_) = s {
                            *s = M::Empty;
                        }
                    }
                }
            }
            for d in [Direction::Read, Direction::Write] {
                prop_assert_eq!(pd.is_ready(d), model[idx(d)] == M::Ready);
                prop_assert_eq!(pd.has_waiter(d), matches!(model[idx(d)], M::Waiting(_)));
            }
        }
        for w in pd.close() {
            back(w, &mut returned);
        }
        prop_assert_eq!(issued, returned, "every waiter comes back exactly once");
    }
}
