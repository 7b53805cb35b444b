//! `cargo xtask bench`: discover, build and run the benchmark binaries.
//!
//! Binaries are discovered from `cargo metadata` (every `bin` target of the
//! `burrow-benches` package), so adding a benchmark is adding a file to
//! `benches/src/bin/`. Each binary runs as its own process, one at a time,
//! so peers never share the two cores with each other.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use crate::protocol::{Record, Skip, median};
use indicatif::{ProgressBar, ProgressStyle};

use crate::report;

/// What a run of `cargo xtask bench` produced.
#[derive(Default, serde::Serialize)]
pub(crate) struct Results {
    /// Every `BENCH` line, in the order received.
    pub records: Vec<Record>,
    /// Every `SKIP` line.
    pub skips: Vec<Skip>,
    /// Binaries that exited unsuccessfully, with the tail of their log.
    pub failures: Vec<(String, String)>,
    /// Whether `--quick` was given.
    pub quick: bool,
}

struct Opts {
    quick: bool,
    filter: Option<String>,
    json: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        quick: false,
        filter: None,
        json: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--filter" => o.filter = Some(it.next().ok_or("--filter needs a NAME")?.clone()),
            "--json" => o.json = Some(it.next().ok_or("--json needs a PATH")?.into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

pub(crate) fn main(args: &[String]) -> ExitCode {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("cargo xtask bench: {e}");
            return ExitCode::from(2);
        }
    };
    let (target_dir, bins) = match discover() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("cargo xtask bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("building {} benchmark binaries (release)…", bins.len());
    let built = crate::cargo()
        .args([
            "build",
            "--release",
            "--package",
            "burrow-benches",
            "--bins",
        ])
        .status();
    if !matches!(built, Ok(s) if s.success()) {
        eprintln!("cargo xtask bench: building the benchmarks failed");
        return ExitCode::FAILURE;
    }
    let out_dir = target_dir.join("bench");
    let logs = out_dir.join("logs");
    if let Err(e) = std::fs::create_dir_all(&logs) {
        eprintln!("cargo xtask bench: cannot create {}: {e}", logs.display());
        return ExitCode::FAILURE;
    }

    let mut results = Results {
        quick: opts.quick,
        ..Results::default()
    };
    let bar = ProgressBar::new(bins.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let order = run_order(&bins, opts.quick);
    bar.set_length(order.len() as u64);
    let mut seen = BTreeMap::new();
    for bin in &order {
        bar.set_message(bin.clone());
        let exe = target_dir.join("release").join(bin);
        let runs = seen.entry(bin.clone()).or_insert(0u32);
        *runs += 1;
        let log_name = if *runs == 1 {
            format!("{bin}.log")
        } else {
            format!("{bin}.{runs}.log")
        };
        run_one(bin, &exe, &opts, &logs.join(log_name), &bar, &mut results);
        bar.inc(1);
    }
    bar.finish_and_clear();
    results.records = merge_repeats(std::mem::take(&mut results.records));

    let table = report::table(&results);
    println!("{table}");
    let json_path = opts
        .json
        .clone()
        .unwrap_or_else(|| out_dir.join("results.json"));
    let html_path = out_dir.join("index.html");
    let json = serde_json::to_string_pretty(&results).expect("results serialise");
    for (path, text) in [(&json_path, json), (&html_path, report::html(&results))] {
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("cargo xtask bench: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!("wrote {} and {}", json_path.display(), html_path.display());
    if results.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        for (bin, tail) in &results.failures {
            eprintln!("benchmark binary {bin} failed; end of its log:\n{tail}");
        }
        ExitCode::FAILURE
    }
}

/// Runs one benchmark binary, collecting its `BENCH`/`SKIP` lines.
fn run_one(
    bin: &str,
    exe: &Path,
    opts: &Opts,
    log_path: &Path,
    bar: &ProgressBar,
    results: &mut Results,
) {
    let mut log = match std::fs::File::create(log_path) {
        Ok(f) => f,
        Err(e) => {
            results
                .failures
                .push((bin.into(), format!("cannot create log: {e}")));
            return;
        }
    };
    let mut cmd = std::process::Command::new(exe);
    if opts.quick {
        cmd.arg("--quick");
    }
    // `--filter` names a suite (a binary: `sched`, `chan`…) or benchmarks
    // inside any binary (`skynet`, `pingpong`…): a binary whose name
    // matches runs whole.
    if let Some(f) = &opts.filter
        && !bin.contains(f.as_str())
    {
        cmd.args(["--filter", f]);
    }
    let stderr = match log.try_clone() {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::null(),
    };
    let mut child = match cmd.stdout(Stdio::piped()).stderr(stderr).spawn() {
        Ok(c) => c,
        Err(e) => {
            results
                .failures
                .push((bin.into(), format!("cannot start {}: {e}", exe.display())));
            return;
        }
    };
    let stdout = child.stdout.take().expect("stdout was piped");
    // A hung benchmark must not hang CI: a watchdog kills it past the limit.
    let limit = if opts.quick {
        Duration::from_secs(10 * 60)
    } else {
        Duration::from_secs(60 * 60)
    };
    let child = std::sync::Arc::new(std::sync::Mutex::new(child));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (child, done) = (child.clone(), done.clone());
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + limit;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if std::time::Instant::now() > deadline {
                    let _ = child.lock().map(|mut c| c.kill());
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        })
    };
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let _ = writeln!(log, "{line}");
        if let Some(json) = line.strip_prefix("BENCH ") {
            match serde_json::from_str::<Record>(json) {
                Ok(r) => {
                    bar.set_message(format!(
                        "{bin}: {} {} = {:.3} {}",
                        r.bench, r.imp, r.median, r.unit
                    ));
                    results.records.push(r);
                }
                Err(e) => {
                    bar.println(format!("{bin}: bad BENCH line ({e}): {json}"));
                    results
                        .failures
                        .push((bin.into(), format!("unparsable BENCH line ({e}): {json}")));
                }
            }
        } else if let Some(json) = line.strip_prefix("SKIP ") {
            match serde_json::from_str::<Skip>(json) {
                Ok(s) => results.skips.push(s),
                Err(e) => {
                    bar.println(format!("{bin}: bad SKIP line ({e}): {json}"));
                    results
                        .failures
                        .push((bin.into(), format!("unparsable SKIP line ({e}): {json}")));
                }
            }
        }
    }
    let status = child.lock().expect("child lock").wait();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    if watchdog.join().unwrap_or(false) {
        results.failures.push((
            bin.into(),
            format!("killed after {limit:?}: it did not finish"),
        ));
        return;
    }
    if !matches!(status, Ok(s) if s.success()) {
        drop(log);
        let text = std::fs::read_to_string(log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        results
            .failures
            .push((bin.into(), format!("{status:?}\n{tail}")));
    }
}

/// The order the binaries run in: each once, in name order, except the
/// allocator suite (`alloc_*`, one binary per allocator, every one running
/// the same benchmarks). A full run goes through that suite forward and
/// then backward (`alloc_burrow`, `alloc_jemalloc`, … `alloc_system`, then
/// `alloc_system` … `alloc_burrow`), so that on a machine whose speed
/// drifts no allocator always runs first or last, and each row gets the
/// samples of both passes ([`merge_repeats`]); `--quick` goes through it
/// once.
fn run_order(bins: &[String], quick: bool) -> Vec<String> {
    let suite: Vec<String> = bins
        .iter()
        .filter(|b| b.starts_with("alloc_"))
        .cloned()
        .collect();
    let mut order = Vec::new();
    for b in bins {
        if !b.starts_with("alloc_") {
            order.push(b.clone());
        } else if *b == suite[0] {
            order.extend(suite.iter().cloned());
            if !quick {
                order.extend(suite.iter().rev().cloned());
            }
        }
    }
    order
}

/// Merges the records of one benchmark, size and implementation that
/// repeated runs produced: their samples together, in the order measured,
/// and the median of all of them; first appearance keeps its place.
fn merge_repeats(records: Vec<Record>) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for r in records {
        match out
            .iter_mut()
            .find(|o| o.bench == r.bench && o.size == r.size && o.imp == r.imp && o.unit == r.unit)
        {
            Some(o) => {
                o.samples.extend(r.samples);
                o.median = median(&o.samples);
            }
            None => out.push(r),
        }
    }
    out
}

/// Finds the target directory and the bin targets of `burrow-benches`.
fn discover() -> Result<(PathBuf, Vec<String>), String> {
    let out = crate::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    let target = meta["target_directory"]
        .as_str()
        .ok_or("no target_directory")?
        .into();
    let mut bins = BTreeMap::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        if pkg["name"] != "burrow-benches" {
            continue;
        }
        for t in pkg["targets"].as_array().into_iter().flatten() {
            let is_bin = t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            if let (true, Some(name)) = (is_bin, t["name"].as_str()) {
                bins.insert(name.to_string(), ());
            }
        }
    }
    if bins.is_empty() {
        return Err("no binaries in the burrow-benches package".into());
    }
    Ok((target, bins.into_keys().collect()))
}

#[cfg(test)]
mod tests {
    use super::{merge_repeats, run_order};
    use crate::protocol::{Better, Record};

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_allocator_suite_runs_forward_then_backward_unless_quick() {
        let bins = names(&[
            "alloc_burrow",
            "alloc_jemalloc",
            "alloc_system",
            "chan",
            "sched",
        ]);
        assert_eq!(
            run_order(&bins, false),
            names(&[
                "alloc_burrow",
                "alloc_jemalloc",
                "alloc_system",
                "alloc_system",
                "alloc_jemalloc",
                "alloc_burrow",
                "chan",
                "sched"
            ])
        );
        assert_eq!(run_order(&bins, true), bins);
    }

    #[test]
    fn repeated_records_merge_their_samples_and_median() {
        let rec = |imp: &str, samples: Vec<f64>| Record {
            bench: "alloc_pair_16".into(),
            size: "5000000 pairs".into(),
            unit: "ns/pair".into(),
            better: Better::Lower,
            imp: imp.into(),
            median: samples[samples.len() / 2],
            samples,
        };
        let merged = merge_repeats(vec![
            rec("burrow", vec![3.0, 1.0, 2.0]),
            rec("jemalloc", vec![5.0]),
            rec("burrow", vec![4.0]),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].imp, "burrow");
        assert_eq!(merged[0].samples, vec![3.0, 1.0, 2.0, 4.0]);
        assert_eq!(merged[0].median, 2.5);
        assert_eq!(merged[1].imp, "jemalloc");
    }
}
