//! The records a benchmark binary prints, shared with `cargo xtask bench`.
//!
//! The xtask includes this file by path (`#[path]`) rather than depending on
//! the benches package, so building the xtask never builds the peers.

use serde::{Deserialize, Serialize};

/// Whether a smaller or a larger number is better for a unit.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Times, bytes, CPU per operation.
    Lower,
    /// Throughputs.
    Higher,
}

/// One measured result, as printed after `BENCH `.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// Benchmark name, shared by all implementations that are compared.
    pub bench: String,
    /// What size the benchmark ran at, in words ("1000000 goroutines").
    pub size: String,
    /// Unit of `median` and `samples` ("ns/op", "M msg/s", "KiB/goroutine").
    pub unit: String,
    /// Direction of goodness for `unit`.
    pub better: Better,
    /// Implementation: `burrow`, or a peer (`go`, `tokio`, `may`, …).
    #[serde(rename = "impl")]
    pub imp: String,
    /// Median of `samples`.
    pub median: f64,
    /// Every sample, in the order measured.
    pub samples: Vec<f64>,
}

/// A peer that could not run, as printed after `SKIP `.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Skip {
    /// Benchmark name.
    pub bench: String,
    /// Implementation that was skipped.
    #[serde(rename = "impl")]
    pub imp: String,
    /// Why, and how to get it ("go not on PATH (apt-get install golang-go)").
    pub reason: String,
}

/// Median of a non-empty slice (mean of the middle two for even lengths):
/// what a `Record`'s `median` is, for the benchmarks that print it and for
/// `cargo xtask bench`, which merges the samples of repeated runs.
pub fn median(samples: &[f64]) -> f64 {
    assert!(!samples.is_empty(), "median of no samples");
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
