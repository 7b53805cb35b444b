//! `compacted_resume` (see the list in `main.rs`): what waking a goroutine
//! whose stack was compacted costs (the page fault and the copy back),
//! against waking one whose stack stayed resident, in the same program.

use std::time::{Duration, Instant};

use burrow_benches::{Args, Better, procs, report};
use burrow_sched::{Runtime, Sender, chan, go};

/// Compaction's decay in this benchmark: long enough that the driver's own
/// short waits are never compacted, short enough to keep samples quick.
const DECAY: Duration = Duration::from_millis(50);

pub(crate) fn bench_compacted_resume(args: &Args) {
    let name = "compacted_resume";
    let n = args.pick(10_000usize, 1_000);
    let size = format!("{n} parked goroutines woken one by one");
    let s = args.samples(5);
    for (imp, decay) in [("burrow", Some(DECAY)), ("burrow-resident", None)] {
        let rt = Runtime::builder()
            .maxprocs(procs())
            .stack_compaction(decay)
            .build()
            .expect("runtime");
        if decay.is_some() && rt.stack_compaction().is_none() {
            burrow_benches::skip(name, imp, "stack compaction is unavailable here");
            continue;
        }
        let samples = rt.run(move || sample(n, s, decay.is_some()));
        report(name, &size, "ns/wake", Better::Lower, imp, &samples);
    }
}

/// `s` samples: park `n` goroutines, let them sit (until all are compacted,
/// when `compacted`), then wake each in turn and wait for its answer.
fn sample(n: usize, s: usize, compacted: bool) -> Vec<f64> {
    let (reply_tx, reply_rx) = chan::<usize>(0);
    let txs: Vec<Sender<usize>> = (0..n)
        .map(|_| {
            let (tx, rx) = chan::<usize>(0);
            let reply = reply_tx.clone();
            go(move || {
                while let Some(v) = rx.recv() {
                    reply.send(v).expect("driver alive");
                }
            });
            tx
        })
        .collect();
    let out = (0..s)
        .map(|_| {
            let end = Instant::now() + Duration::from_secs(60);
            let sat = |st: &burrow_sched::Stats| st.compacted_goroutines as usize >= n;
            // Both runtimes idle the same time before the wake-ups.
            burrow_sched::sleep(DECAY * 2);
            while compacted && !sat(&burrow_sched::stats().expect("in the runtime")) {
                assert!(Instant::now() < end, "compaction did not finish in 60 s");
                burrow_sched::sleep(Duration::from_millis(5));
            }
            let t = Instant::now();
            for (i, tx) in txs.iter().enumerate() {
                tx.send(i).expect("goroutine alive");
                assert_eq!(reply_rx.recv(), Some(i));
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    drop(txs);
    out
}
