//! The synchronisation facade (STYLE rule 9): the run queues import their
//! atomics and locks from here, so that under `--cfg loom` the same code is
//! model-checked with loom's types, and with smaller capacities (see
//! [`crate::runq::RUNQ_CAP`]).
//!
//! Only the code loom models goes through this module: the run queue ring,
//! `runnext` and the global queue, and a timer's state word, deleted flag
//! and callback lock (`timer/mod.rs`, modelled in `timer/loom_timer.rs`). The rest of the scheduler (threads,
//! coroutines) cannot run inside a loom model and uses `std` directly.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering, fence},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering, fence},
};
