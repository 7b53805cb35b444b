//! burrow: Go's runtime rebuilt in Rust. Goroutines on a G/M/P scheduler
//! (`burrow-sched`), on stacks that cost a page until used
//! (`burrow-stack`).
//!
//! ```
//! let rt = burrow::Runtime::builder().maxprocs(2).build().unwrap();
//! let answer = rt.run(|| {
//!     let h = burrow::go!(6 * 7);
//!     h.join().unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```
//!
//! Or let `#[burrow::main]` build the runtime and run `main` as the main
//! goroutine:
//!
//! ```no_run
//! #[burrow::main]
//! fn main() {
//!     let hs: Vec<_> = (0..10).map(|i| burrow::go(move || i * i)).collect();
//!     let sum: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
//!     println!("{sum}");
//! }
//! ```
//!
//! # Thread-locals: the contract
//!
//! A goroutine may resume on a different OS thread after any point where
//! it can switch: `yield_now`, `join`, `park`, `go` (which yields when its
//! run queue is long, to keep a spawning loop from outrunning the
//! scheduler), [`blocking`] (the goroutine may come back on another
//! thread), and every channel, lock and I/O operation built on them. So:
//!
//! > **Never park while holding a borrow of a `thread_local!` value or a
//! > thread-affine value (a `std::sync::MutexGuard`, an `Rc` shared with a
//! > thread-local).** After the switch the borrow would point at the old
//! > thread's value while that thread uses it.
//!
//! [`go`] is nevertheless a safe function taking `Send + 'static`
//! closures, like every practical stackful runtime; this contract is the
//! price, and it is an Architecture Invariant of the project. Use
//! [`goroutine_local!`] for per-goroutine state: its values live on the
//! goroutine and follow it from thread to thread. The runtime reads its
//! own thread-local only through non-inlined functions so the compiler
//! never caches a thread-local address across a switch.
//!
//! # Blocking calls
//!
//! A std call that blocks its thread (`std::fs`, `std::thread::sleep`, a
//! `std::sync` lock, DNS through `ToSocketAddrs`) holds its P for as long
//! as it blocks: the other goroutines queued on that P wait until sysmon
//! sees the P stuck (about 10 ms) and lends them a spare P, and the
//! thread stays blocked either way. Wrap such calls in [`blocking`],
//! which hands the P to another thread while the call blocks, as Go does
//! for system calls; [`net`]'s sockets park only the goroutine and need no
//! wrapping.
//!
//! # Panics and shutdown
//!
//! A goroutine's panic is caught at its boundary and returned by
//! [`JoinHandle::join`]; a detached goroutine's panic is printed with its
//! id and the others go on ([`Builder::abort_on_panic`] aborts instead,
//! as Go does). When the main goroutine returns, [`Runtime::run`] returns;
//! goroutines still suspended are never resumed and their stacks are
//! leaked rather than freed (see [`Runtime::run`]).

/// Go's `net/http`: server, `ServeMux` with Go 1.22 patterns, client.
pub use burrow_http as http;
pub use burrow_macros::main;
/// Go's `net`: TCP sockets whose blocking calls park only the goroutine.
pub use burrow_net as net;
/// Goroutine synchronisation: Go's `Mutex`, `RWMutex`, `WaitGroup`,
/// `Once`, `Cond` and a weighted `Semaphore` (see `docs/sync.md`).
pub use burrow_sched::sync;
pub use burrow_sched::{
    BuildError, Builder, JoinHandle, LocalKey, MAXPROCS_ENV, Panic, Ready, Runtime, WaitReason,
    consts, current_id, go, goroutine_local, maxprocs, num_goroutine, park, yield_now,
};
/// Channels, `select!` and channel timers (Go's `chan`, `select`,
/// `time.After`/`Tick`/`Timer`/`Ticker`).
pub use burrow_sched::{
    IntoIter, Iter, Receiver, RecvTimeoutError, SendError, SendTimeoutError, Sender, Ticker, Timer,
    TryIter, TryRecvError, TrySendError, after, chan, select, tick,
};
/// Goroutine stacks (re-exported for configuration and statistics).
pub use burrow_stack as stack;

pub mod fs;

/// Go's `runtime` package: counts, the goroutine dump, yielding.
pub mod runtime {
    pub use burrow_sched::{
        Stats, current_id, dump, maxprocs, num_goroutine, stats, write_dump, yield_now as gosched,
    };
}

/// Sleeping and deadlock detection.
pub use burrow_sched::{DEFAULT_DEADLOCK_GRACE, RunError, sleep, sleep_until, time};
/// Blocking calls that hand their P to another thread (Go's
/// `entersyscall`), and the thread cap (`Builder::max_threads`).
pub use burrow_sched::{MAX_THREADS_ENV, ThreadLimit, blocking};

/// Starts a goroutine running the given expression or block, like Go's
/// `go` statement: `burrow::go!(work(x))` is `burrow::go(move || work(x))`.
#[macro_export]
macro_rules! go {
    ($($body:tt)+) => {
        $crate::go(move || { $($body)+ })
    };
}

/// Used by `#[burrow::main]`: builds a runtime with the defaults and runs
/// `main` as its main goroutine. A deadlock ends the program as it ends a
/// Go program: `fatal error: all goroutines are asleep - deadlock!` and
/// the goroutine dump on stderr, exit status 2.
#[doc(hidden)]
pub fn __run_main<F, T>(main: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let rt = Runtime::builder()
        .build()
        .unwrap_or_else(|e| panic!("burrow: cannot build the runtime: {e}"));
    match rt.try_run(main) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("fatal error: {e}");
            std::process::exit(2);
        }
    }
}
