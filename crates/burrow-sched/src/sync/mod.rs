//! Goroutine synchronisation: Go's `sync` package (`Mutex`, `RWMutex`,
//! `WaitGroup`, `Once`, `Cond`) and `x/sync/semaphore`, in std's shapes.
//!
//! # The problem
//!
//! A goroutine that blocks on a `std::sync::Mutex` blocks its M: with
//! `maxprocs` Ms, a handful of blocked goroutines stop the whole runtime,
//! and holding a std guard across a park breaks the thread-local contract
//! (see the crate docs). Goroutines need locks that *park the goroutine*
//! and let the M run others, yet a program also has plain threads that
//! must be able to share the same lock with them.
//!
//! # The design (Go's, see `docs/sync.md`)
//!
//! ## The semaphore
//!
//! Everything that sleeps sleeps in a `sema::Sema` (Go's
//! `runtime/sema.go`): a unit count and a FIFO queue of parked waiters.
//! A waiter counts itself in `nwait`, re-checks the count, queues a
//! [`Ready`](crate::Ready) handle and parks; a releaser bumps the count
//! and, if `nwait` is non-zero, dequeues the front waiter and readies it.
//! With *hand-off* the releaser takes the unit for the waiter (the
//! *ticket*) and yields, so the waiter runs next in its place. Because
//! park/ready parks a plain thread when called outside a goroutine, every
//! primitive here works from threads too, and both kinds can wait in one
//! queue.
//!
//! ## Mutex
//!
//! Go's `sync.Mutex`, line for line ([`Mutex`]): one state word
//! `LOCKED | WOKEN | STARVING | waiters << 3`. In *normal mode* a locker
//! that finds it held spins up to 4 × 30 pauses (only with more than one
//! CPU, another P busy and nothing in its own run queue), then queues
//! FIFO; a woken waiter competes with new
//! arrivals, which usually win (they are already on a CPU): this gives
//! the throughput. A waiter that has waited more than 1 ms switches the
//! mutex to *starvation mode*: `unlock` then hands ownership straight to
//! the front waiter, and new arrivals neither spin nor grab it but queue
//! at the tail. The waiter that receives it leaves starvation mode if it
//! waited under 1 ms or is the last one.
//!
//! ## RwLock
//!
//! Go's `sync.RWMutex` ([`RwLock`]): readers increment `reader_count`; a
//! writer takes an inner mutex (serialising writers), subtracts 2³⁰ from
//! `reader_count` (so new readers see it negative and park on
//! `reader_sem`), and waits on `writer_sem` for the readers that were
//! inside (`reader_wait`); the last of those wakes it. `unlock_write`
//! adds 2³⁰ back and releases one `reader_sem` unit per reader that
//! parked. A pending writer therefore blocks new readers: writer
//! preference.
//!
//! ## WaitGroup
//!
//! One 64-bit word, counter in the high half and waiter count in the low
//! ([`WaitGroup`]): `wait` increments the waiter count and parks on the
//! semaphore; the `add` that brings the counter to zero resets the word
//! and releases one unit per waiter. Go's misuse checks (negative
//! counter, `add` racing `wait`, reuse before `wait` returned) panic.
//!
//! ## Once
//!
//! Go's `sync.Once` ([`Once`]): an atomic `done` flag read with Acquire on
//! the fast path (one load when initialised); the slow path takes a mutex,
//! so concurrent callers park on it until the first finishes.
//!
//! ## Cond
//!
//! A FIFO list of waiters ([`Cond`]); `wait` queues the caller *before*
//! unlocking the mutex, so no notify is lost. `wait_timeout` adds a timer
//! through the internal contract (`timer.rs`); the notifier and the timer
//! race to claim the waiter's one `Ready`, and a notifier skips claimed
//! (timed-out) entries, so `notify_one` never wakes nobody while someone
//! waits.
//!
//! ## Semaphore
//!
//! Go's `x/sync/semaphore` ([`Semaphore`]): weighted, strictly FIFO (a
//! large request at the head blocks smaller ones behind it), the releaser
//! grants the units to each waiter before readying it.
//!
//! # Poisoning
//!
//! None of these locks poison. Go has no poisoning; std's exists so that
//! a panic in a critical section is not silently ignored, but in a
//! goroutine runtime the panic is already surfaced (returned by `join`,
//! printed for a detached goroutine, or aborting with
//! `abort_on_panic`), and poisoning makes every `lock()` return a
//! `Result` nobody can handle better than by unwrapping. A guard dropped
//! while unwinding unlocks normally. (`parking_lot` made the same call.)
//!
//! # What differs from Go, and why
//!
//! - Semaphore queues live in each primitive, not in Go's global treap
//!   keyed by address: a Rust value owns its memory; there is nothing to
//!   key by, and per-lock queues avoid a shared hot spot.
//! - The queue lock is a `std::sync::Mutex` held for a few instructions
//!   (never across a park, never around user code); Go's is a runtime
//!   futex lock. It may briefly block an M, as Go's does.
//! - Each park allocates a small `Arc<Waiter>` (Go's `sudog`s are
//!   cached per P); parks are already microseconds, so this is noise.
//! - Guards may be sent across threads and goroutines (Go lets any
//!   goroutine unlock); std's `MutexGuard` is `!Send` because pthreads
//!   requires the locking thread to unlock. Ours has no such rule.
//! - `Once` retries after a panicking initialiser (Go marks it done):
//!   a `Once` usually guards initialisation of data, and "done but not
//!   initialised" would let later callers read what was never written.
//! - `Semaphore::acquire(n)` with `n` above the size panics (Go blocks
//!   until its context is cancelled; there is no context here).
//! - `Cond` is bound per wait to a [`MutexGuard`] (std's shape) rather than
//!   holding a `Locker` (Go's).
//!
//! Synchronisation here uses `std` atomics directly, not `crate::loom`:
//! loom cannot run the park/ready machinery underneath (see `loom.rs`).

pub(crate) mod sema;

mod cond;
mod mutex;
mod once;
mod rwlock;
mod semaphore;
mod waitgroup;

pub use cond::{Cond, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard, starvation_entries};
pub use once::Once;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use waitgroup::{WaitGroup, WaitGroupGuard};
