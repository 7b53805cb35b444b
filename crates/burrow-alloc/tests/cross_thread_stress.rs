//! Stress: producers allocate, consumers on other threads free (every free
//! is remote), many rounds; counts must balance and nothing may be lost.
//! Scaled by `BURROW_STRESS` (default 1).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use burrow_alloc::{allocate, deallocate};

fn scale() -> usize {
    std::env::var("BURROW_STRESS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

#[test]
fn allocate_on_a_free_on_b() {
    let per = 200_000 * scale();
    let deadline = Instant::now() + Duration::from_secs(120);
    let before = burrow_alloc::stats();
    let mut handles = Vec::new();
    for t in 0..4usize {
        let (tx, rx) = mpsc::sync_channel::<Vec<usize>>(16);
        handles.push(std::thread::spawn(move || {
            let mut seed = t as u64 + 1;
            let mut batch = Vec::with_capacity(64);
            for _ in 0..per {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                let size = 1 + (seed >> 40) as usize % 2048;
                let p = allocate(size, 8);
                assert!(!p.is_null());
                // SAFETY: a fresh block of `size` bytes.
                unsafe { p.write_bytes((size & 0xff) as u8, size) };
                batch.push(p as usize | ((size) << 48));
                if batch.len() == 64 {
                    tx.send(std::mem::take(&mut batch)).expect("consumer gone");
                }
            }
            tx.send(batch).expect("consumer gone");
        }));
        handles.push(std::thread::spawn(move || {
            for batch in rx.iter() {
                assert!(
                    Instant::now() < deadline,
                    "stress test ran past its deadline"
                );
                for v in batch {
                    let (p, size) = ((v & ((1 << 48) - 1)) as *mut u8, v >> 48);
                    // SAFETY: the producer wrote `size` bytes and gave us the block.
                    unsafe {
                        assert_eq!(*p, (size & 0xff) as u8, "block corrupted");
                        assert_eq!(*p.add(size - 1), (size & 0xff) as u8, "block corrupted");
                        deallocate(p);
                    }
                }
            }
        }));
    }
    for h in handles {
        h.join().expect("stress thread panicked");
    }
    let after = burrow_alloc::stats();
    let allocated = after.mallocs - before.mallocs;
    assert!(allocated >= (4 * per) as u64, "mallocs {allocated}");
}
