//! Panics are caught at the goroutine boundary.

mod common;
use common::{bounded, rt};

use burrow_sched::go;

fn quiet_panics() {
    // The default hook prints every caught panic; 1000 of them are noise.
    std::panic::set_hook(Box::new(|_| {}));
}

#[test]
fn panics_in_1000_goroutines_are_returned_by_join() {
    quiet_panics();
    let (ok, errs) = bounded(30, "1000 panics", || {
        rt(2).run(|| {
            let hs: Vec<_> = (0..2000u32)
                .map(|i| {
                    go(move || {
                        if i % 2 == 0 {
                            panic!("boom {i}");
                        }
                        i
                    })
                })
                .collect();
            let mut ok = 0;
            let mut errs = Vec::new();
            for (i, h) in hs.into_iter().enumerate() {
                let id = h.id();
                match h.join() {
                    Ok(v) => {
                        assert_eq!(v as usize, i);
                        ok += 1;
                    }
                    Err(p) => {
                        assert_eq!(p.goroutine_id(), id);
                        assert_eq!(p.message(), Some(format!("boom {i}").as_str()));
                        assert!(!p.is_abandoned());
                        errs.push(p);
                    }
                }
            }
            (ok, errs.len())
        })
    });
    assert_eq!(ok, 1000);
    assert_eq!(errs, 1000);
}

#[test]
fn detached_panics_do_not_kill_other_goroutines() {
    quiet_panics();
    let v = bounded(30, "detached panics", || {
        rt(2).run(|| {
            for _ in 0..100 {
                drop(go(|| panic!("detached")));
            }
            let hs: Vec<_> = (0..100u32).map(|i| go(move || i)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
        })
    });
    assert_eq!(v, (0..100).sum());
}

#[test]
fn main_goroutine_panic_is_reraised_by_run() {
    quiet_panics();
    let r = std::panic::catch_unwind(|| rt(1).run(|| panic!("main died")));
    let p = r.expect_err("run re-raises");
    assert_eq!(p.downcast_ref::<&str>(), Some(&"main died"));
}

/// A value whose destructor panics, returned by a goroutine whose handle
/// was dropped first: the runner drops it, and the panic must stay inside
/// the runtime (reported, caught): the goroutine still exits normally, so
/// `num_goroutine` falls back to 1, and other goroutines still run.
#[test]
fn detached_result_whose_drop_panics_does_not_kill_the_m() {
    quiet_panics();
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("boom in drop");
        }
    }
    let sum = bounded(30, "panicking drop of a detached result", || {
        rt(2).run(|| {
            let (tx, rx) = burrow_sched::chan::<()>(0);
            let h = go(move || {
                rx.recv().expect("main sends");
                PanicOnDrop
            });
            // Detach it before it can finish, so the runner drops the value.
            drop(h);
            tx.send(()).expect("the goroutine receives");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while burrow_sched::num_goroutine() > 1 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the detached goroutine never exited ({} alive)",
                    burrow_sched::num_goroutine()
                );
                burrow_sched::yield_now();
            }
            let hs: Vec<_> = (0..100).map(|i| go(move || i)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
        })
    });
    assert_eq!(sum, 4950);
}
