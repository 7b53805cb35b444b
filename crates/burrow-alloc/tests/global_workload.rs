//! A real workload with `BurrowAlloc` as this test binary's global
//! allocator: BTreeMap and String churn on several threads, checked against
//! a deterministic expectation, then the heap must account for it.

use std::collections::BTreeMap;

use burrow_alloc::BurrowAlloc;

#[global_allocator]
static GLOBAL: BurrowAlloc = BurrowAlloc::new();

fn churn(seed: u64, rounds: usize) -> (usize, u64) {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut x = seed;
    for i in 0..rounds {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = format!("key-{}", x % 5000);
        let entry = map.entry(key).or_default();
        entry.push("v".repeat((x >> 50) as usize % 300));
        if entry.len() > 20 {
            entry.truncate(3);
            entry.shrink_to_fit();
        }
        if i % 5 == 0 {
            let k = format!("key-{}", (x >> 20) % 5000);
            map.remove(&k);
        }
    }
    let total: usize = map.values().flat_map(|v| v.iter()).map(String::len).sum();
    let check = map.keys().map(|k| k.len() as u64).sum::<u64>();
    (total, check)
}

#[test]
fn btreemap_and_string_churn_on_threads() {
    let expected: Vec<(usize, u64)> = (0..4).map(|s| churn(s, 60_000)).collect();
    let handles: Vec<_> = (0..4u64)
        .map(|s| std::thread::spawn(move || churn(s, 60_000)))
        .collect();
    let got: Vec<(usize, u64)> = handles
        .into_iter()
        .map(|h| h.join().expect("churn"))
        .collect();
    assert_eq!(got, expected);
    let s = burrow_alloc::stats();
    assert!(s.mallocs > 400_000, "{s:?}");
    assert!(s.frees > 300_000, "{s:?}");
    assert!(s.heap_inuse <= s.heap_sys);
}
