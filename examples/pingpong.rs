//! Ping-pong: two goroutines bounce a counter over two unbuffered
//! channels; prints the time per round trip (two direct hand-offs, two
//! parks, each readied goroutine running next from `runnext`).
//!
//! `cargo run --release --example pingpong [-- ROUND_TRIPS]`;
//! `BURROW_MAXPROCS` sets the number of Ps.

use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rt = burrow::Runtime::builder().build().expect("runtime builds");
    let procs = rt.maxprocs();
    let ns = rt.run(move || {
        let (ping_tx, ping_rx) = burrow::chan::<u64>(0);
        let (pong_tx, pong_rx) = burrow::chan::<u64>(0);
        let echo = burrow::go(move || {
            for v in &ping_rx {
                pong_tx.send(v + 1).expect("pinger is alive");
            }
        });
        let t = Instant::now();
        let mut x = 0;
        for _ in 0..n {
            ping_tx.send(x).expect("echo is alive");
            x = pong_rx.recv().expect("echo is alive");
        }
        let ns = t.elapsed().as_nanos() as f64 / n as f64;
        assert_eq!(x, n, "a value was lost");
        drop(ping_tx); // closes: the echo goroutine's loop ends
        echo.join().expect("echo does not panic");
        ns
    });
    println!("pingpong: {n} round trips, {ns:.0} ns per round trip, maxprocs {procs}");
}
