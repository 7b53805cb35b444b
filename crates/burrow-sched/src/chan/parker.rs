//! How a channel operation parks: [`prepare_park`] gives a one-shot
//! [`Unparker`] and the [`Parker`] it wakes. Outside loom this is exactly
//! [`crate::Ready::for_current`] + [`crate::kernel::park`]; under `--cfg loom` a
//! loom `Notify`, so that loom threads can model goroutines in the channel
//! models (`chan/loom_tests.rs`).

#[cfg(loom)]
use crate::loom::Ordering;

/// Prepares a park of the current goroutine (or thread): the [`Unparker`]
/// wakes it once, from any thread; [`Parker::park`] sleeps until it does
/// (or returns at once if it already did). Outside loom this is exactly
/// [`crate::Ready::for_current`] + [`crate::kernel::park`]; under loom a loom
/// `Notify`, so that loom threads can model goroutines.
pub(crate) fn prepare_park() -> (Unparker, Parker) {
    #[cfg(not(loom))]
    {
        (Unparker(crate::Ready::for_current()), Parker(()))
    }
    #[cfg(loom)]
    {
        let n = std::sync::Arc::new(LoomPark {
            notify: loom::sync::Notify::new(),
            fired: loom::sync::atomic::AtomicBool::new(false),
        });
        (Unparker(n.clone()), Parker(n))
    }
}

/// Wakes one prepared park, once (see [`prepare_park`]).
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct Unparker(crate::Ready);

/// Under loom: a `Notify` (whose `wait` may return spuriously) and the
/// flag that says the unpark really happened.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct LoomPark {
    notify: loom::sync::Notify,
    fired: loom::sync::atomic::AtomicBool,
}

/// Wakes one prepared park, once (see [`prepare_park`]).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Unparker(std::sync::Arc<LoomPark>);

#[cfg(not(loom))]
impl Unparker {
    /// An unparker around a handle made elsewhere (`park::LockedPark`).
    pub(crate) fn from_ready(r: crate::Ready) -> Unparker {
        Unparker(r)
    }
}

impl Unparker {
    /// Wakes the parked (or about to park) waiter.
    pub(crate) fn unpark(self) {
        #[cfg(not(loom))]
        self.0.ready();
        #[cfg(loom)]
        {
            // Release: pairs with the Acquire load in `Parker::park`.
            self.0.fired.store(true, Ordering::Release);
            self.0.notify.notify();
        }
    }
}

/// Sleeps until the matching [`Unparker`] fires (see [`prepare_park`]).
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct Parker(());

/// Sleeps until the matching [`Unparker`] fires (see [`prepare_park`]).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Parker(std::sync::Arc<LoomPark>);

impl Parker {
    /// Parks until unparked; `reason` shows in goroutine dumps.
    pub(crate) fn park(self, reason: crate::WaitReason) {
        #[cfg(not(loom))]
        crate::park(reason);
        #[cfg(loom)]
        {
            let _ = reason;
            // Acquire: pairs with the Release store in `Unparker::unpark`.
            while !self.0.fired.load(Ordering::Acquire) {
                self.0.notify.wait();
            }
        }
    }
}
