//! Go's G/M/P scheduler for Rust: goroutines on stackful coroutines.
//!
//! # The problem
//!
//! Go gives every function call the option to block — on a channel, a lock,
//! a socket — without blocking its thread, and lets a program run a million
//! such calls at once. The runtime multiplexes goroutines (G) onto OS
//! threads (M) through processors (P): a P is the right to run goroutines
//! and owns the local work, so the hot paths touch no shared state.
//!
//! # The design (Go's, see `docs/scheduler.md`)
//!
//! - **G** (`kernel/g.rs`): a goroutine: id, status, a coroutine
//!   (corosensei) on a burrow-stack stack, wait reason, spawn site,
//!   goroutine-locals. Gs and their warm stacks are recycled through per-P
//!   and global free lists.
//! - **M** (`kernel/m.rs`): an OS thread running `schedule()` on its own
//!   stack (Go's g0). It switches into a G; the G switches back when it
//!   yields, parks or exits.
//! - **P** (`kernel/p.rs`): `maxprocs` of them (`BURROW_MAXPROCS`, default
//!   the CPU count), each split into the part only its holder touches
//!   (`PCore`, moved between Ms as one owned value: its run queue's owner
//!   handle, free Gs, tick) and the part others touch (`P`: the steal
//!   handle, timers). Each run queue is a 256-slot ring with a `runnext`
//!   slot (`kernel/runq.rs`). Full local queues spill half to the global
//!   queue; idle Ps steal half of a random victim's queue.
//! - `schedule()` looks in Go's order: the global queue (and the network)
//!   every 61st tick, `runnext`, the local queue, the global queue, the
//!   netpoller without blocking, stealing, then sleep. Spinning Ms follow
//!   Go's parking/unparking rule (*Spinning Ms* in `kernel/sched.rs`).
//! - **Timers** (`timer/`, `kernel/idle.rs`, `time.rs`): Go 1.14's per-P
//!   4-ary timer heaps, run by `schedule()` (and by stealing Ms for their
//!   victims); an idle runtime sleeps until its next timer. [`sleep`] and
//!   [`sleep_until`] park on them. [`Runtime::try_run`] reports a deadlock
//!   (nothing can ever run again) instead of hanging. See `docs/timers.md`.
//! - **park/ready** (`kernel/park.rs`): [`Ready::for_current`] + [`park`]
//!   put a goroutine to sleep; [`Ready::ready`] wakes it exactly once from
//!   any thread, into the readier's `runnext`. Channels, timers and the
//!   poller build on it. On a plain thread the same calls park the thread.
//! - **The netpoller** (`kernel/poller.rs`, [`netpoll`]): each runtime
//!   owns a `burrow_netpoll::Poller`; `schedule()` polls it and the last
//!   idle M blocks in it, as in Go. [`netpoll::PollFd`] is what
//!   blocking-style sockets (burrow-net) park on.
//! - **Blocking calls and sysmon** (`kernel/syscall.rs`,
//!   `kernel/sysmon.rs`): [`blocking`] lets a call block its thread while
//!   sysmon hands its P to another M; sysmon also relieves Ps starved by a
//!   goroutine that computes without runtime calls. See `docs/sysmon.md`.
//! - **sync** (`sync/`): Go's `Mutex` (with starvation mode), `RWMutex`,
//!   `WaitGroup`, `Once`, `Cond` and a weighted `Semaphore`, parking on
//!   park/ready, so goroutines and plain threads can share them.
//!
//! - **Tasks** (`kernel/task.rs`): each goroutine's closure and join slot
//!   are one block from burrow-alloc (Go's mcache → mcentral → mheap), not
//!   from the global allocator: a task is often freed on another M than
//!   the one that made it, and a spawn+join loop keeps up to a million
//!   alive (see *Where tasks live* in `kernel/task.rs`). This is why the
//!   crate depends on `burrow-alloc`.
//!
//! # What differs from Go, and why
//!
//! - Stacks do not grow by copying (Rust cannot move a stack): each is a
//!   reserved region that commits pages on touch (burrow-stack). A deep
//!   goroutine pays for its pages once; its G keeps the warm stack.
//! - No preemption: a goroutine that never yields, parks or spawns keeps
//!   its M (sysmon flags it and lends a spare P to the rest of its P's
//!   work instead; see `kernel/sysmon.rs`). Because of that, every
//!   schedule advances the 61-tick counter (Go skips it for `runnext`,
//!   relying on preemption).
//! - [`go`] yields when its P's queue holds 8 or more Gs (spawner
//!   back-pressure; Go's `newproc` never yields). A spawning loop would
//!   otherwise keep hundreds of thousands of Gs alive, each on a cold stack
//!   (page faults on spawn, `madvise` on exit); with it, a loop keeps ~8
//!   Gs per P alive and reuses their warm stacks. See `SPAWN_YIELD_QUEUE`.
//! - A goroutine is bound to its G when it first runs, not when it is
//!   spawned: it moves to the warmest free G of the P that runs it, so
//!   goroutines that run back to back share one stack hot in the core's
//!   cache (*Warm stacks* in `kernel/g.rs`).
//! - A spinning M that finds nothing watches for work for up to 50 µs
//!   before giving up its P, while another P runs goroutines (Go's gives
//!   it up at once): a thread woken a moment later was often queued for
//!   milliseconds behind a running one (*The idle spin* in `kernel/m.rs`).
//! - `yield_now` puts the goroutine at the tail of its local queue (Go's
//!   `Gosched` uses the global queue): no lock, and the 1-in-61 rule still
//!   serves the global queue.
//! - `run` returns when the main goroutine does; see [`Runtime::run`] for
//!   what happens to goroutines still alive (never resumed, stacks leaked,
//!   never freed under them).
//!
//! # Thread-locals
//!
//! A goroutine may resume on another M after any park or yield (stealing,
//! hand-off). A reference obtained inside `LocalKey::with` of a
//! `thread_local!` and held across a park would then point at the *old*
//! thread's value while that thread uses it: a data race reachable from
//! safe code. Go never meets this (it has no thread-locals); stackful Rust
//! runtimes all do (`may` made `spawn` unsafe for it). Our contract:
//!
//! > **Never park (yield, join, channel operation, I/O) while holding a
//! > borrow of a thread-local or a thread-affine value (a `std::sync`
//! > `MutexGuard`, an `Rc` shared with a thread-local).**
//!
//! [`go`] counts as a yield here: it yields when its P's run queue is long
//! (spawner back-pressure, see `SPAWN_YIELD_QUEUE` in `kernel/runtime.rs`).
//!
//! [`go`] stays a safe function taking `Send + 'static` closures, as in
//! every practical stackful runtime; the contract is the price, stated
//! here, in `docs/scheduler.md` and as an Architecture Invariant. Use
//! [`goroutine_local!`] instead: its values live on the goroutine and
//! follow it across Ms. The runtime's own thread-local (the current M) is
//! only read through non-inlined functions, so the compiler never reuses
//! a thread-local address computed before a switch.
//!
//! # Panics
//!
//! A panic is caught at the goroutine boundary: [`JoinHandle::join`]
//! returns `Err(Panic)`. If the handle was dropped, the panic is printed
//! with the goroutine id and the other goroutines go on.
//! [`Builder::abort_on_panic`] makes any goroutine panic abort the process,
//! as in Go. A panic in the main goroutine is re-raised by
//! [`Runtime::run`].
//!
//! ```
//! let rt = burrow_sched::Runtime::builder().maxprocs(2).build().unwrap();
//! let sum = rt.run(|| {
//!     let hs: Vec<_> = (0..10u64).map(|i| burrow_sched::go(move || i * i)).collect();
//!     hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(sum, 285);
//! ```

mod chan;
mod clock;
mod kernel;
mod loom;
pub mod netpoll;
mod prefetch;
pub mod sync;
// Sleeping (`sleep`, `sleep_until`) and the internal timer contract
// (`add_timer`, with `timer::del_timer`) that channels and sync build on.
pub mod time;
mod timer;

pub use chan::{
    IntoIter, Iter, Receiver, RecvTimeoutError, SendError, SendTimeoutError, Sender, Ticker, Timer,
    TryIter, TryRecvError, TrySendError, after, chan, tick,
};
pub use kernel::dump::{Stats, dump, stats, write_dump};
pub use kernel::local::LocalKey;
pub use kernel::park::{Ready, WaitReason, park};
pub use kernel::runtime::{
    BuildError, Builder, DEFAULT_DEADLOCK_GRACE, MAXPROCS_ENV, RunError, Runtime, current_id, go,
    maxprocs, num_goroutine, yield_now,
};
pub use kernel::syscall::{MAX_THREADS_ENV, ThreadLimit, blocking};
pub use kernel::task::{JoinHandle, Panic};

/// What `select!` expands to; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::chan::{RecvCase, SelectCase, Selected, SendCase, select_impl};
}

pub use time::{sleep, sleep_until};

/// Go's scheduler constants, for tests and docs.
pub mod consts {
    /// Slots in a P's local run queue.
    pub const RUNQ_SIZE: usize = crate::kernel::runq::RUNQ_CAP;
    /// Every this many schedules a P checks the global queue first.
    pub const GLOBAL_CHECK_PERIOD: u32 = crate::kernel::m::GLOBAL_CHECK_PERIOD;
}
