//! Coroutines run on pool stacks, switch between each other, and stacks are
//! reused warm.

use std::hint::black_box;

use burrow_stack::{Pool, StackConfig};
use corosensei::{Coroutine, CoroutineResult, Yielder};

#[test]
fn coroutines_switch_between_pool_stacks() {
    let pool = Pool::new(StackConfig {
        usable_size: 64 * 1024,
        ..StackConfig::default()
    })
    .unwrap();
    // Ten coroutines, resumed round-robin, each keeping state on its own
    // stack across suspensions.
    let mut cos: Vec<_> = (0..10u64)
        .map(|k| {
            let stack = pool.alloc().unwrap();
            Coroutine::with_stack(stack, move |y: &Yielder<u64, u64>, mut acc: u64| {
                let local = [k; 128]; // lives on this coroutine's stack
                for _ in 0..5 {
                    acc = y.suspend(acc + black_box(local[127]));
                }
                acc
            })
        })
        .collect();
    let mut totals = [0u64; 10];
    for round in 0..5 {
        for (k, co) in cos.iter_mut().enumerate() {
            match co.resume(totals[k]) {
                CoroutineResult::Yield(v) => totals[k] = v,
                CoroutineResult::Return(_) => {
                    panic!("coroutine {k} returned early in round {round}")
                }
            }
        }
    }
    for (k, co) in cos.iter_mut().enumerate() {
        assert!(matches!(co.resume(totals[k]), CoroutineResult::Return(_)));
        assert_eq!(totals[k], 5 * k as u64, "coroutine {k} lost its state");
    }
    assert_eq!(pool.stats().in_use, 10);
    drop(cos);
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn deep_stack_use_fits_the_usable_size() {
    let pool = Pool::new(StackConfig {
        usable_size: 128 * 1024,
        ..StackConfig::default()
    })
    .unwrap();
    let stack = pool.alloc().unwrap();
    let (lo, hi) = (stack.bottom() as usize, stack.top() as usize);
    assert_eq!(hi - lo, 128 * 1024);
    let mut co = Coroutine::with_stack(stack, |_: &Yielder<(), ()>, ()| {
        // Tens of KiB of frames, well inside 128 KiB.
        fn go(n: u32) -> u64 {
            let buf = black_box([n as u64; 128]);
            if n == 0 { 0 } else { go(n - 1) + buf[5] }
        }
        go(40)
    });
    assert!(matches!(co.resume(()), CoroutineResult::Return(_)));
}

#[test]
fn released_stacks_are_reused_warm() {
    let pool = Pool::new(StackConfig {
        usable_size: 64 * 1024,
        ..StackConfig::default()
    })
    .unwrap();
    let a = pool.alloc().unwrap();
    let id = a.id();
    // SAFETY: writing inside the usable region of a stack we own.
    unsafe { a.top().sub(8).cast::<u64>().write(0xfeed) };
    drop(a);
    let b = pool.alloc().unwrap();
    assert_eq!(b.id(), id, "the thread cache hands the same slot back");
    // SAFETY: reading inside the usable region of a stack we own.
    let v = unsafe { b.top().sub(8).cast::<u64>().read() };
    assert_eq!(v, 0xfeed, "a warm stack keeps its pages");
    assert_eq!(pool.stats().carved, 1);
}

#[test]
fn stacks_move_between_threads() {
    let pool = Pool::new(StackConfig {
        usable_size: 64 * 1024,
        thread_cache: 2,
        ..StackConfig::default()
    })
    .unwrap();
    let stacks: Vec<_> = (0..100).map(|_| pool.alloc().unwrap()).collect();
    std::thread::spawn(move || drop(stacks)).join().unwrap();
    // The other thread exited, so its cache went to the global pool.
    let s = pool.stats();
    assert_eq!(s.in_use, 0);
    assert_eq!(s.warm + s.tepid + s.cold, 100, "{s:?}");
    let again: Vec<_> = (0..100).map(|_| pool.alloc().unwrap()).collect();
    assert_eq!(
        pool.stats().carved,
        100,
        "freed slots are reused before carving"
    );
    drop(again);
}

#[test]
fn invalid_configs_are_errors() {
    assert!(
        Pool::new(StackConfig {
            usable_size: 1,
            ..StackConfig::default()
        })
        .is_err()
    );
    assert!(
        Pool::new(StackConfig {
            usable_size: 2 << 30,
            ..StackConfig::default()
        })
        .is_err()
    );
}
