//! Go's concurrent prime sieve (from the Go tour and `doc/play/sieve.go`):
//! a generator goroutine sends 2, 3, 4, ... and each prime found adds a
//! filter goroutine to the chain, dropping multiples of its prime. Every
//! number crosses one unbuffered channel per prime below it, so this is a
//! chain of hand-offs between many goroutines. Prints the first N primes
//! (the last few of them) and the time.
//!
//! `cargo run --release --example prime_sieve [-- N]`; `BURROW_MAXPROCS`
//! sets the number of Ps.

use std::time::Instant;

use burrow::{Receiver, Sender, chan, go};

/// Sends 2, 3, 4, ... until the receiver is gone.
fn generate(tx: Sender<u64>) {
    let mut i = 2;
    while tx.send(i).is_ok() {
        i += 1;
    }
}

/// Copies values from `rx` to `tx`, dropping those divisible by `prime`.
fn filter(rx: Receiver<u64>, tx: Sender<u64>, prime: u64) {
    for v in &rx {
        if v % prime != 0 && tx.send(v).is_err() {
            return;
        }
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let rt = burrow::Runtime::builder().build().expect("runtime builds");
    let procs = rt.maxprocs();
    let t = Instant::now();
    let primes = rt.run(move || {
        let (tx, mut rx) = chan::<u64>(0);
        go(move || generate(tx));
        let mut primes = Vec::with_capacity(n);
        for _ in 0..n {
            let prime = rx.recv().expect("the chain never closes");
            primes.push(prime);
            let (tx1, rx1) = chan::<u64>(0);
            go(move || filter(rx, tx1, prime));
            rx = rx1;
        }
        // Dropping the last receiver closes its channel; each filter then
        // fails to send and returns, closing the one before it.
        drop(rx);
        primes
    });
    let el = t.elapsed();
    assert_eq!(&primes[..5], &[2, 3, 5, 7, 11]);
    let tail: Vec<String> = primes
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(u64::to_string)
        .collect();
    println!(
        "prime_sieve: first {n} primes (.., {}) in {:.1} ms, {} filter goroutines, maxprocs {procs}",
        tail.join(", "),
        el.as_secs_f64() * 1e3,
        n
    );
}
