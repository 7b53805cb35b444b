//! `cargo xtask`: the project's automation, kept small (STYLE.md rule 15).
//!
//! - `cargo xtask bench [--quick] [--filter NAME] [--json PATH]` builds every
//!   binary of the `burrow-benches` package in release mode, runs each with
//!   its peers in the same run, and writes a table to the terminal, JSON to
//!   `target/bench/results.json` and an HTML page to `target/bench/index.html`.
//!   See `benches/src/lib.rs` for the protocol a benchmark binary speaks.
//!   `--filter NAME` runs the binaries whose name contains NAME whole (a
//!   suite: `sched`, `chan`, `sync`, `timers`, `netpoll`, `stack`,
//!   `alloc`) and, in the others, the benchmarks whose name contains it.
//! - `cargo xtask ci` runs what `.ci/run` runs.

mod bench;
#[path = "../../benches/src/protocol.rs"]
mod protocol;
mod report;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench::main(&args[1..]),
        Some("ci") => ci(),
        _ => {
            eprintln!(
                "usage: cargo xtask bench [--quick] [--filter NAME] [--json PATH]\n       cargo xtask ci"
            );
            ExitCode::from(2)
        }
    }
}

/// The cargo that invoked us (`$CARGO`), or `cargo`.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn ci() -> ExitCode {
    let steps: [&[&str]; 4] = [
        &["fmt", "--all", "--check"],
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &["test", "--workspace"],
        &["xtask", "bench", "--quick"],
    ];
    for step in steps {
        eprintln!("== cargo {}", step.join(" "));
        match cargo().args(step).status() {
            Ok(s) if s.success() => {}
            other => {
                eprintln!("step `cargo {}` failed: {other:?}", step.join(" "));
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
