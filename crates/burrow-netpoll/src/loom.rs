//! The synchronisation facade (STYLE rule 9): the pollDesc slots, the
//! registration table and the wake flag take their locks and atomics from
//! here, so that under `--cfg loom` the same code is model-checked with
//! loom's types (see `loom_tests.rs`).

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard, RwLock,
    atomic::{AtomicBool, Ordering},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard, RwLock,
    atomic::{AtomicBool, Ordering},
};
