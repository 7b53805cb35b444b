//! The protocol between benchmark binaries and `cargo xtask bench`.
//!
//! Every binary in `benches/src/bin/` is discovered and run by the xtask with
//! the same arguments: `--quick` (a smoke size CI can afford) and
//! `--filter NAME` (substring of benchmark names to run). A binary measures
//! one or more *benchmarks*, each with one or more *implementations*
//! (`burrow` and its peers), and prints one line per result on stdout:
//!
//! ```text
//! BENCH {"bench":"stack_alloc_free","size":"1000 stacks","unit":"ns/op","better":"lower","impl":"burrow","median":12.5,"samples":[12.4,12.5,13.0]}
//! SKIP {"bench":"skynet_1m","impl":"go","reason":"go not on PATH (apt-get install golang-go)"}
//! ```
//!
//! Anything else on stdout or stderr is kept in `target/bench/logs/` for
//! reading after a failure. Results of one benchmark may come from several
//! binaries (an allocator peer must be a separate process, since the global
//! allocator is chosen per binary): the xtask merges them by benchmark name.
//!
//! Peers that need another toolchain (Go) are run through [`run_go`], which
//! prints a `SKIP` line naming the package to install when `go` is absent.
//! Go programs live in `benches/go/` and print the same `BENCH` lines; each
//! is built together with `benches/go/common.go` (the shared `report`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

pub mod protocol;
pub use protocol::{Better, Record, Skip, median};

/// Arguments every benchmark binary accepts.
#[derive(Clone, Debug, Default)]
pub struct Args {
    /// Run the smoke size.
    pub quick: bool,
    /// Only run benchmarks whose name contains this.
    pub filter: Option<String>,
}

impl Args {
    /// Parses `--quick` and `--filter NAME` from the process arguments.
    pub fn parse() -> Args {
        let mut args = Args::default();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => args.quick = true,
                "--filter" => args.filter = it.next(),
                other => eprintln!("ignoring unknown argument {other:?}"),
            }
        }
        args
    }

    /// Whether benchmark `name` is selected by `--filter`.
    pub fn wants(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }

    /// `quick` if `--quick` was given, else `full`.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }

    /// Number of samples to take: 3 in quick mode, `full` otherwise.
    pub fn samples(&self, full: usize) -> usize {
        if self.quick { 3.min(full) } else { full }
    }
}

/// Prints one `BENCH` line for `samples`.
pub fn report(bench: &str, size: &str, unit: &str, better: Better, imp: &str, samples: &[f64]) {
    let rec = Record {
        bench: bench.into(),
        size: size.into(),
        unit: unit.into(),
        better,
        imp: imp.into(),
        median: median(samples),
        samples: samples.to_vec(),
    };
    emit("BENCH", &rec);
}

/// Prints one `SKIP` line.
pub fn skip(bench: &str, imp: &str, reason: &str) {
    let s = Skip {
        bench: bench.into(),
        imp: imp.into(),
        reason: reason.into(),
    };
    emit("SKIP", &s);
}

fn emit<T: Serialize>(tag: &str, v: &T) {
    let line = serde_json::to_string(v).expect("records always serialise");
    let mut out = std::io::stdout().lock();
    // A closed stdout means the xtask went away; nothing useful to do then.
    let _ = writeln!(out, "{tag} {line}");
    let _ = out.flush();
}

/// Runs `sample` `n` times and returns what each call returned.
///
/// `sample` measures one sample and returns it in the benchmark's unit; one
/// warm-up call is made first and discarded.
pub fn sample_n(n: usize, mut sample: impl FnMut() -> f64) -> Vec<f64> {
    let _ = sample();
    (0..n).map(|_| sample()).collect()
}

/// Times `f` and returns nanoseconds per operation for `ops` operations.
pub fn ns_per_op(ops: u64, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_nanos() as f64 / ops as f64
}

/// Resident set size of this process in bytes (from `/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    statm_rss("/proc/self/statm").unwrap_or(0)
}

/// Resident set size of process `pid` in bytes (from `/proc/PID/statm`);
/// `None` if it cannot be read (the process is gone).
pub fn rss_bytes_of(pid: u32) -> Option<u64> {
    statm_rss(&format!("/proc/{pid}/statm"))
}

/// The resident pages a `statm` file gives, in bytes.
fn statm_rss(path: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// Peak resident set size of this process in bytes (`VmHWM`).
pub fn peak_rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time (user + system) consumed so far by process `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, i.e. the 12th and 13th after ')'.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (tick(11) + tick(12)) / hz.max(1.0)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as u64 }
}

/// Workers every runtime in a benchmark gets (burrow's Ps, tokio's and
/// may's workers, Go's `GOMAXPROCS`): `BURROW_MAXPROCS` when set (to draw a
/// scaling curve), else the machine's CPU count, as Go's default.
pub fn procs() -> usize {
    std::env::var(burrow_sched::MAXPROCS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// A burrow runtime with [`procs`] Ps.
pub fn burrow_rt() -> burrow_sched::Runtime {
    burrow_sched::Runtime::builder()
        .maxprocs(procs())
        .build()
        .expect("runtime")
}

/// A multi-thread tokio runtime with [`procs`] workers and its timer on.
pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(procs())
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// The workspace's `benches/go` folder.
pub fn go_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go")
}

/// Runs the Go peer `benches/go/<file>` with `args`, forwarding its `BENCH`
/// lines. Prints a `SKIP` line for `bench` and returns false when `go` is not
/// on PATH or the program fails.
///
/// With `BURROW_BENCH_GO_BIN=DIR` the peer is the prebuilt `DIR/<file stem>`
/// instead (for a machine without Go: build there with
/// `CGO_ENABLED=0 go build -o DIR/sched benches/go/sched.go benches/go/common.go`
/// and carry it).
pub fn run_go(bench: &str, file: &str, args: &[String]) -> bool {
    let stem = file.trim_end_matches(".go");
    let bin = match std::env::var_os("BURROW_BENCH_GO_BIN") {
        Some(dir) => PathBuf::from(dir).join(stem),
        None => match build_go(bench, file, stem) {
            Some(bin) => bin,
            None => return false,
        },
    };
    match Command::new(&bin)
        .args(args)
        .env("GOMAXPROCS", procs().to_string())
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut out = std::io::stdout().lock();
            for line in text
                .lines()
                .filter(|l| l.starts_with("BENCH ") || l.starts_with("SKIP "))
            {
                let _ = writeln!(out, "{line}");
            }
            true
        }
        Ok(out) => {
            skip(
                bench,
                "go",
                &format!("go program exited with {}", out.status),
            );
            false
        }
        Err(e) => {
            skip(
                bench,
                "go",
                &format!("could not run {}: {e}", bin.display()),
            );
            false
        }
    }
}

/// The Go program `benches/go/<file>`, built (or prebuilt under
/// `BURROW_BENCH_GO_BIN`, as for [`run_go`]), for a peer the benchmark
/// drives itself (a server); prints a `SKIP` line for `bench` and returns
/// None when it cannot be had.
pub fn go_program(bench: &str, file: &str) -> Option<PathBuf> {
    let stem = file.trim_end_matches(".go");
    match std::env::var_os("BURROW_BENCH_GO_BIN") {
        Some(dir) => Some(PathBuf::from(dir).join(stem)),
        None => build_go(bench, file, stem),
    }
}

/// Builds `benches/go/<file>` (with the shared `common.go`) into the temp dir; prints a `SKIP` line for
/// `bench` and returns None when `go` is missing or the build fails.
fn build_go(bench: &str, file: &str, stem: &str) -> Option<PathBuf> {
    let Some(go) = which("go") else {
        skip(bench, "go", "go not on PATH (apt-get install golang-go)");
        return None;
    };
    let dir = std::env::temp_dir().join("burrow-bench-go");
    let _ = std::fs::create_dir_all(&dir);
    let bin = dir.join(stem);
    let built = Command::new(&go)
        .arg("build")
        .arg("-o")
        .arg(&bin)
        .arg(go_dir().join(file))
        .arg(go_dir().join("common.go"))
        .env("GO111MODULE", "off")
        .status();
    if !matches!(built, Ok(s) if s.success()) {
        skip(bench, "go", &format!("go build {file} failed"));
        return None;
    }
    Some(bin)
}

/// Finds an executable on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn record_round_trips_through_json() {
        let r = Record {
            bench: "b".into(),
            size: "1".into(),
            unit: "ns/op".into(),
            better: Better::Lower,
            imp: "burrow".into(),
            median: 1.0,
            samples: vec![1.0],
        };
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"impl\":\"burrow\""), "{s}");
        let back: Record = serde_json::from_str(&s).unwrap();
        assert_eq!(back.imp, "burrow");
        assert_eq!(back.better, Better::Lower);
    }

    #[test]
    fn rss_is_nonzero() {
        assert!(rss_bytes() > 0);
        assert!(peak_rss_bytes() >= rss_bytes() / 2);
        assert!(cpu_seconds(std::process::id()) >= 0.0);
    }
}
