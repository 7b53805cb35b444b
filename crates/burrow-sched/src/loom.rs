//! The synchronisation facade (STYLE rule 9): the run queues import their
//! atomics and locks from here, so that under `--cfg loom` the same code is
//! model-checked with loom's types, and with smaller capacities (see
//! [`crate::runq::RUNQ_CAP`]).
//!
//! Only the code loom models goes through this module: the run queue ring,
//! `runnext` and the global queue. The rest of the scheduler (threads,
//! coroutines) cannot run inside a loom model and uses `std` directly.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex,
    atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex,
    atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering},
};
