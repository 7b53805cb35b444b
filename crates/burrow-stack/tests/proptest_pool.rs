//! Property: any sequence of alloc/free over pools of any sizes never hands
//! out overlapping memory, and every stack is writable over its whole
//! usable size.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use burrow_stack::{Pool, Stack, StackConfig};
use proptest::prelude::*;

/// Pools of a few sizes, made once (pools live for the process).
fn pools() -> &'static [Pool; 3] {
    static P: OnceLock<[Pool; 3]> = OnceLock::new();
    P.get_or_init(|| {
        let mk = |kib: usize, cache: usize| {
            Pool::new(StackConfig {
                usable_size: kib * 1024,
                thread_cache: cache,
                pool_bound: 8,
                ..StackConfig::default()
            })
            .unwrap()
        };
        [mk(16, 1), mk(20, 4), mk(64, 2)]
    })
}

#[derive(Debug, Clone)]
enum Op {
    Alloc(usize),
    Free(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize).prop_map(Op::Alloc),
        any::<usize>().prop_map(Op::Free)
    ]
}

fn check_disjoint(live: &[(Stack, u64)]) {
    let mut ranges = BTreeMap::new();
    for (s, _) in live {
        // Include the guard: no two slots may share any byte.
        let lo = s.bottom() as usize;
        ranges.insert(lo, s.top() as usize);
    }
    let mut prev_hi = 0;
    for (lo, hi) in ranges {
        assert!(lo >= prev_hi, "overlapping stacks: {lo:#x} < {prev_hi:#x}");
        prev_hi = hi;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn alloc_free_never_overlaps_and_is_writable(ops in prop::collection::vec(op(), 1..60)) {
        let mut live: Vec<(Stack, u64)> = Vec::new();
        let mut tag = 0u64;
        for op in ops {
            match op {
                Op::Alloc(p) => {
                    let s = pools()[p].alloc().unwrap();
                    tag += 1;
                    let words = s.usable_size() / 8;
                    let base = s.bottom().cast::<u64>();
                    // From word 8: the first 64 bytes hold the canary if the
                    // stack is unguarded (BURROW_STACK_GUARD=canary).
                    for i in 8..words {
                        // SAFETY: inside the usable region we own.
                        unsafe { base.add(i).write(tag ^ i as u64) };
                    }
                    live.push((s, tag));
                    check_disjoint(&live);
                }
                Op::Free(i) if !live.is_empty() => {
                    let (s, t) = live.swap_remove(i % live.len());
                    let base = s.bottom().cast::<u64>();
                    for i in (8..s.usable_size() / 8).step_by(61) {
                        // SAFETY: inside the usable region we own.
                        let v = unsafe { base.add(i).read() };
                        prop_assert_eq!(v, t ^ i as u64, "stack content changed while owned");
                    }
                }
                Op::Free(_) => {}
            }
        }
    }
}
