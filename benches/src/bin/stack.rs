//! Stack benchmarks: burrow-stack's pool against one `mmap` per stack
//! (corosensei's `DefaultStack`, the approach may and most coroutine
//! libraries take).
//!
//! - `stack_alloc_free`: get a stack and give it back (warm reuse vs mmap).
//! - `coroutine_spawn_32k`: make a coroutine, run it to completion using
//!   32 KiB of stack, free it — the cost a goroutine that grows pays. Go's
//!   number for this shape is measured in `deepstack_32k` (sched bench).
//! - `guarded_stacks_100k`: RSS per stack for 100k live stacks that touched
//!   their top page, and how many VMAs they needed.

use std::hint::black_box;
use std::time::Instant;

use burrow_benches::{Args, Better, report, skip};
use burrow_stack::{Pool, StackConfig};
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, Yielder};

const STACK: usize = 256 * 1024;

#[inline(never)]
fn use_stack(depth: u32) -> u64 {
    let frame = black_box([depth as u64; 64]); // ~512 B per frame
    if depth == 0 {
        0
    } else {
        use_stack(depth - 1) + black_box(frame[1])
    }
}

fn main() {
    let args = Args::parse();
    let pool = Pool::new(StackConfig {
        usable_size: STACK,
        ..StackConfig::default()
    })
    .expect("pool");

    if args.wants("stack_alloc_free") {
        let n = args.pick(200_000u64, 5_000);
        let size = format!("{n} stacks of {} KiB", STACK / 1024);
        let s = burrow_benches::sample_n(args.samples(7), || {
            let t = Instant::now();
            for _ in 0..n {
                drop(black_box(pool.alloc().expect("stack")));
            }
            t.elapsed().as_nanos() as f64 / n as f64
        });
        report(
            "stack_alloc_free",
            &size,
            "ns/stack",
            Better::Lower,
            "burrow",
            &s,
        );
        let s = burrow_benches::sample_n(args.samples(7), || {
            let t = Instant::now();
            for _ in 0..n / 10 {
                drop(black_box(DefaultStack::new(STACK).expect("mmap stack")));
            }
            t.elapsed().as_nanos() as f64 / (n / 10) as f64
        });
        report(
            "stack_alloc_free",
            &size,
            "ns/stack",
            Better::Lower,
            "mmap-per-stack",
            &s,
        );
    }

    if args.wants("coroutine_spawn_32k") {
        let n = args.pick(100_000u64, 2_000);
        let size = format!("{n} coroutines x 32 KiB deep");
        let run = |mk: &mut dyn FnMut() -> u64| {
            burrow_benches::sample_n(args.samples(5), || {
                let t = Instant::now();
                for _ in 0..n {
                    black_box(mk());
                }
                t.elapsed().as_nanos() as f64 / n as f64
            })
        };
        let s = run(&mut || {
            let mut co =
                Coroutine::with_stack(pool.alloc().expect("stack"), |_: &Yielder<(), ()>, ()| {
                    use_stack(64)
                });
            co.resume(()).as_return().unwrap_or(0)
        });
        report(
            "coroutine_spawn_32k",
            &size,
            "ns/coroutine",
            Better::Lower,
            "burrow",
            &s,
        );
        let s = run(&mut || {
            let stack = DefaultStack::new(STACK).expect("mmap stack");
            let mut co = Coroutine::with_stack(stack, |_: &Yielder<(), ()>, ()| use_stack(64));
            co.resume(()).as_return().unwrap_or(0)
        });
        report(
            "coroutine_spawn_32k",
            &size,
            "ns/coroutine",
            Better::Lower,
            "mmap-per-stack",
            &s,
        );
    }

    if args.wants("guarded_stacks") {
        let n = args.pick(100_000usize, 10_000);
        let size = format!(
            "{n} live stacks, top page touched, guards: {}",
            burrow_stack::current_guard_mode().name()
        );
        let maps = || std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());
        let measure = |alloc: &mut dyn FnMut() -> Option<usize>| -> Option<(f64, usize)> {
            let before = (burrow_benches::rss_bytes(), maps());
            let mut keep = Vec::with_capacity(n);
            for _ in 0..n {
                keep.push(alloc()?);
            }
            let per = (burrow_benches::rss_bytes().saturating_sub(before.0)) as f64 / n as f64;
            Some((per, maps().saturating_sub(before.1)))
        };
        let mut live = Vec::new();
        let burrow = measure(&mut || {
            let s = pool.alloc().ok()?;
            // SAFETY: writing inside the usable region of a stack we own.
            unsafe { s.top().sub(64).write_volatile(1) };
            let top = s.top() as usize;
            live.push(s);
            Some(top)
        });
        if let Some((per, vmas)) = burrow {
            report(
                "guarded_stacks",
                &size,
                "bytes RSS/stack",
                Better::Lower,
                "burrow",
                &[per],
            );
            report(
                "guarded_stacks_vmas",
                &size,
                "VMAs",
                Better::Lower,
                "burrow",
                &[vmas as f64],
            );
        }
        drop(live);
        let mut live = Vec::new();
        let mmap = measure(&mut || {
            let s = DefaultStack::new(STACK).ok()?;
            let top = corosensei::stack::Stack::base(&s).get();
            // SAFETY: writing inside the top page of a stack we own.
            unsafe { ((top - 64) as *mut u8).write_volatile(1) };
            live.push(s);
            Some(top)
        });
        match mmap {
            Some((per, vmas)) => {
                report(
                    "guarded_stacks",
                    &size,
                    "bytes RSS/stack",
                    Better::Lower,
                    "mmap-per-stack",
                    &[per],
                );
                report(
                    "guarded_stacks_vmas",
                    &size,
                    "VMAs",
                    Better::Lower,
                    "mmap-per-stack",
                    &[vmas as f64],
                );
            }
            None => skip(
                "guarded_stacks",
                "mmap-per-stack",
                &format!(
                    "failed: vm.max_map_count ({}) allows about half that many guarded mmap stacks",
                    std::fs::read_to_string("/proc/sys/vm/max_map_count")
                        .unwrap_or_default()
                        .trim()
                ),
            ),
        }
    }
}
