//! A benchmark of the benchmark harness itself: the cost of `Instant::now`,
//! so every run shows the timer resolution that other numbers stand on.

use std::time::Instant;

use burrow_benches::{Args, Better, report, sample_n};

fn main() {
    let args = Args::parse();
    if !args.wants("timer_now") {
        return;
    }
    let n = args.pick(1_000_000, 10_000);
    let samples = sample_n(args.samples(7), || {
        let t = Instant::now();
        let mut last = t;
        for _ in 0..n {
            last = std::hint::black_box(Instant::now());
        }
        (last - t).as_nanos() as f64 / n as f64
    });
    report(
        "timer_now",
        &format!("{n} calls"),
        "ns/call",
        Better::Lower,
        "std",
        &samples,
    );
}
