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
