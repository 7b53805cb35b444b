//! Goroutine-local storage: values that belong to a goroutine and follow it
//! from M to M, the safe replacement for `thread_local!` inside goroutines
//! (see *Thread-locals* in the crate docs).
//!
//! Each [`LocalKey`] gets a small index the first time it is used; a
//! goroutine's values live in a vector on its G, indexed by key, created
//! lazily by the key's initialiser and dropped when the goroutine finishes
//! (in the goroutine, so destructors run in its context). Outside a
//! goroutine, the current thread stands in for one: values live in a
//! thread-local vector.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::kernel::m::current_g;

/// Next key index (0 means "not assigned yet", so indexes start at 1).
static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

/// A goroutine-local value of type `T`, declared with
/// [`goroutine_local!`](crate::goroutine_local).
pub struct LocalKey<T: Send + 'static> {
    init: fn() -> T,
    index: AtomicUsize,
}

impl<T: Send + 'static> std::fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> LocalKey<T> {
    /// A key whose value starts as `init()` in each goroutine. Use
    /// [`goroutine_local!`](crate::goroutine_local) rather than calling this.
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey {
            init,
            index: AtomicUsize::new(0),
        }
    }

    fn index(&self) -> usize {
        let i = self.index.load(Ordering::Relaxed);
        if i != 0 {
            return i - 1;
        }
        let fresh = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        match self
            .index
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh - 1,
            Err(won) => won - 1,
        }
    }

    /// Calls `f` with this goroutine's value, creating it first if needed.
    /// The reference stays valid across parks and migrations (the value is
    /// stored on the goroutine, not the thread). Use `Cell`/`RefCell`
    /// inside `T` to mutate.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let i = self.index();
        let ptr = match with_slots(|s| s.get(i)) {
            Some(p) => p,
            None => {
                // The initialiser runs with no borrow of the slots held: it
                // may use other keys.
                let v: Box<dyn Any + Send> = Box::new((self.init)());
                with_slots(|s| s.insert(i, v))
            }
        };
        let value = ptr as *const T;
        // SAFETY: the slot holds a `T` (keys are typed and indexes unique);
        // it was allocated by a Box and is freed only when the goroutine
        // (or thread) ends, after `f` returned. The slots store raw
        // pointers, so growing the vector does not invalidate it.
        f(unsafe { &*value })
    }
}

/// A goroutine's (or thread's) local values, indexed by key. Raw pointers
/// from `Box::into_raw`, freed on drop.
#[derive(Default)]
pub(crate) struct LocalSlots(Vec<Option<*mut (dyn Any + Send)>>);

// SAFETY: the values are `Send` (keys require `T: Send`); the vector is
// owned by one goroutine or thread at a time.
unsafe impl Send for LocalSlots {}

impl LocalSlots {
    /// Whether no value is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    fn get(&self, i: usize) -> Option<*mut (dyn Any + Send)> {
        self.0.get(i).copied().flatten()
    }

    fn insert(&mut self, i: usize, v: Box<dyn Any + Send>) -> *mut (dyn Any + Send) {
        if self.0.len() <= i {
            self.0.resize(i + 1, None);
        }
        // If the initialiser already created this key (recursively), keep
        // that one and drop ours.
        *self.0[i].get_or_insert_with(|| Box::into_raw(v))
    }
}

impl Drop for LocalSlots {
    fn drop(&mut self) {
        for p in self.0.drain(..).flatten() {
            // SAFETY: made by Box::into_raw in `insert`, freed only here.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

thread_local! {
    static THREAD_LOCALS: RefCell<LocalSlots> = RefCell::new(LocalSlots::default());
}

/// Runs `f` on the current goroutine's slots, or the thread's outside a
/// goroutine. `f` must not call back into goroutine-locals.
fn with_slots<R>(f: impl FnOnce(&mut LocalSlots) -> R) -> R {
    match current_g() {
        // SAFETY: we are the running goroutine and hold our G; the borrow
        // ends with `f`, which does not re-enter.
        Some((_, g)) => f(unsafe { &mut g.g().inner().locals }),
        None => THREAD_LOCALS.with(|l| f(&mut l.borrow_mut())),
    }
}

/// Declares goroutine-local keys, like `thread_local!`:
///
/// ```
/// use std::cell::Cell;
/// burrow_sched::goroutine_local! {
///     /// Requests handled by this goroutine.
///     static HANDLED: Cell<u64> = Cell::new(0);
/// }
/// HANDLED.with(|h| h.set(h.get() + 1));
/// ```
#[macro_export]
macro_rules! goroutine_local {
    ($($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr;)+) => {$(
        $(#[$attr])*
        $vis static $name: $crate::LocalKey<$t> = $crate::LocalKey::new({
            fn __init() -> $t {
                $init
            }
            __init
        });
    )+};
}
