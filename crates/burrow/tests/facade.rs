//! The facade: `go!`, re-exports and `#[burrow::main]` on a helper.

#[test]
fn go_macro_and_reexports() {
    let v = burrow::Runtime::builder()
        .maxprocs(2)
        .build()
        .unwrap()
        .run(|| {
            let x = 20;
            let h = burrow::go!(x + 1);
            let g = burrow::go!({
                burrow::yield_now();
                burrow::current_id().unwrap()
            });
            assert!(g.join().unwrap() > 1);
            h.join().unwrap() * 2
        });
    assert_eq!(v, 42);
}

mod with_main {
    #[burrow::main]
    pub fn main() -> u64 {
        let hs: Vec<_> = (0..10u64).map(|i| burrow::go(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>() + burrow::current_id().unwrap()
    }
}

#[test]
fn burrow_main_runs_the_body_as_the_main_goroutine() {
    // Main goroutine id is 1.
    assert_eq!(with_main::main(), 45 + 1);
}
