//! The kernel of the scheduler: G, M and P, the run queues, tasks,
//! park/ready, the idle path and the public runtime API ([`runtime`]).
//! Everything above it (channels, sync, sleeping) uses the kernel through
//! a few items: [`park`] (`Ready`, `park`, `LockedPark`, `WaitReason`),
//! [`m::current_g`] and [`m::with_m`] (the current goroutine, and the
//! current M with its runtime and P), [`runtime`]'s public functions, and
//! the runtime state those reach (`sched::Shared`: its Ps' timer heaps,
//! `timer_added`, the idle counters). See *Layers* in `docs/ARCHITECTURE.md`.
//!
//! The modules in here use one another freely, as Go's `proc.go` and
//! `runtime2.go` do: a G, its M and its P are one machine. What they may
//! *not* do is reach up: nothing in the kernel imports `chan`, `sync` or
//! `time`. Below the kernel are only the run-queue ring's facade (`loom`),
//! the runtime clock (`clock`), cache prefetch hints (`prefetch`) and the
//! timer heaps (`timer`), which import nothing of the kernel but
//! [`park::Ready`] (the callback of a sleep's timer).

pub(crate) mod compact;
pub(crate) mod dump;
pub(crate) mod g;
pub(crate) mod gfree;
pub(crate) mod idle;
pub(crate) mod local;
pub(crate) mod m;
pub(crate) mod p;
pub(crate) mod park;
pub(crate) mod poller;
pub(crate) mod runq;
pub(crate) mod runtime;
pub(crate) mod sched;
pub(crate) mod spinning;
pub(crate) mod syscall;
pub(crate) mod sysmon;
pub(crate) mod task;

#[cfg(all(test, loom))]
mod loom_compact;
#[cfg(all(test, loom))]
mod loom_idle;
#[cfg(all(test, loom))]
mod loom_runq;
#[cfg(all(test, not(loom)))]
mod runq_tests;
