//! Stack overflow reports: a SIGSEGV handler that recognises guard hits,
//! and the message shared with the canary check.
//!
//! # Why a handler
//!
//! A guard hit is a clean SIGSEGV (Rust's stack probes touch every page of a
//! large frame), but the default action prints nothing useful. The handler
//! runs on a `sigaltstack` — the faulting stack is exhausted — and asks the
//! arena registry whether the fault address is in a slot's guard. If so it
//! prints `goroutine stack overflow` with the goroutine id, the stack id and
//! its size, then aborts (SIGABRT, so a core dump and a parent's wait status
//! tell an overflow from a wild pointer). Any other fault is passed to the
//! handler that was installed before ours (std's own overflow detector for
//! thread stacks, a sanitizer, or the default action).
//!
//! Everything the handler calls is async-signal-safe: atomics, `write(2)`,
//! `sigaction(2)`, `abort(3)`. The message is formatted into a fixed buffer.

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::arena::find_slot;

/// Bytes of each thread's alternate signal stack.
const ALTSTACK_BYTES: usize = 64 * 1024;

static PROCESS_INSTALL: Once = Once::new();

/// The action that was installed before ours; read by the handler.
///
/// Written once inside `PROCESS_INSTALL` before our handler is installed,
/// never written again; `OLD_SET` (Release/Acquire) publishes it.
struct OldAction(std::cell::UnsafeCell<std::mem::MaybeUninit<libc::sigaction>>);
// SAFETY: written once before publication through OLD_SET, then only read.
unsafe impl Sync for OldAction {}
static OLD_ACTION: OldAction =
    OldAction(std::cell::UnsafeCell::new(std::mem::MaybeUninit::uninit()));
static OLD_SET: AtomicBool = AtomicBool::new(false);

/// Installs the overflow handler for the process (once) and an alternate
/// signal stack for the calling thread (once per thread). Idempotent and
/// cheap after the first call on a thread; [`crate::Pool::alloc`] calls it.
///
/// Call it on every thread that *runs* coroutines on pool stacks, since a
/// stack may be allocated on one thread and resumed on another.
pub fn install_overflow_handler() {
    PROCESS_INSTALL.call_once(install_process_handler);
    ensure_altstack();
}

fn install_process_handler() {
    // SAFETY: sigaction is called with valid pointers to initialised
    // structs; OLD_ACTION is written before our handler exists (so the
    // handler cannot read it concurrently) and published with OLD_SET.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        let old = (*OLD_ACTION.0.get()).as_mut_ptr();
        if libc::sigaction(libc::SIGSEGV, std::ptr::null(), old) != 0 {
            return;
        }
        // Release: pairs with the Acquire load in `chain`.
        OLD_SET.store(true, Ordering::Release);
        libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut());
    }
}

/// Owns the alternate signal stack this thread installed, if any.
struct AltStack {
    mem: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.mem == 0 {
            return;
        }
        // SAFETY: disabling this thread's altstack, then unmapping the
        // mapping we made for it in `ensure_altstack`; the thread is
        // exiting, so no handler can be running on it.
        unsafe {
            let ss = libc::stack_t {
                ss_sp: std::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            libc::sigaltstack(&ss, std::ptr::null_mut());
            libc::munmap(
                self.mem as *mut libc::c_void,
                ALTSTACK_BYTES + crate::page_size(),
            );
        }
    }
}

thread_local! {
    static ALT_READY: Cell<bool> = const { Cell::new(false) };
    static ALT_OWNED: Cell<Option<AltStack>> = const { Cell::new(None) };
}

fn ensure_altstack() {
    // `try_with`: during thread teardown the thread-locals may be gone; the
    // thread then keeps whatever altstack it has.
    if ALT_READY.try_with(|r| r.replace(true)).unwrap_or(true) {
        return;
    }
    // SAFETY: querying the current altstack into a valid struct.
    let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; a null new-stack pointer only queries.
    if unsafe { libc::sigaltstack(std::ptr::null(), &mut cur) } != 0 {
        return;
    }
    if cur.ss_flags & libc::SS_DISABLE == 0 && cur.ss_size >= libc::MINSIGSTKSZ {
        return; // std (or someone) already gave this thread one.
    }
    let page = crate::page_size();
    // SAFETY: a fresh anonymous mapping aliases nothing; checked below.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            ALTSTACK_BYTES + page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return;
    }
    // SAFETY: the lowest page of our own mapping becomes the altstack's
    // guard; `ss` describes the rest, which stays mapped until AltStack
    // drops at thread exit.
    unsafe {
        libc::mprotect(mem, page, libc::PROT_NONE);
        let ss = libc::stack_t {
            ss_sp: mem.cast::<u8>().add(page).cast(),
            ss_flags: 0,
            ss_size: ALTSTACK_BYTES,
        };
        libc::sigaltstack(&ss, std::ptr::null_mut());
    }
    let mut owned = Some(AltStack { mem: mem as usize });
    let _ = ALT_OWNED.try_with(|o| o.set(owned.take()));
    if let Some(a) = owned {
        // Teardown (thread-locals gone): keep the altstack installed and
        // mapped, leaked, rather than unmap memory a signal may land on.
        std::mem::forget(a);
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    // si_code <= 0: sent by kill/raise, si_addr is not a fault address.
    if code <= 0 {
        chain(sig, info, ctx);
        return;
    }
    if let Some(hit) = find_slot(addr) {
        if hit.in_guard {
            report_overflow(hit.owner, hit.id, hit.usable, addr, "guard page hit");
        }
    }
    chain(sig, info, ctx);
}

/// Passes a fault that is not ours to the previous handler, or restores the
/// default action and returns so the faulting instruction re-faults into it.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // Acquire: pairs with the Release store in `install_process_handler`.
    let old = if OLD_SET.load(Ordering::Acquire) {
        // SAFETY: written once before OLD_SET was set, never again.
        Some(unsafe { (*OLD_ACTION.0.get()).assume_init_ref() })
    } else {
        None
    };
    let prev = old.map_or(libc::SIG_DFL, |o| o.sa_sigaction);
    if prev == libc::SIG_DFL || prev == libc::SIG_IGN {
        // SAFETY: restoring the default disposition with a zeroed struct
        // (SIG_DFL == 0); returning then re-executes the faulting access.
        // A signal sent with kill (si_code <= 0) would not recur, so it is
        // raised again: pending until we return, then default-handled.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
            if (*info).si_code <= 0 {
                libc::raise(sig);
            }
        }
        return;
    }
    let siginfo = old.is_some_and(|o| o.sa_flags & libc::SA_SIGINFO != 0);
    // SAFETY: `prev` is the address of the previously installed handler,
    // of the signature its SA_SIGINFO flag promises; we call it as the
    // kernel would have.
    unsafe {
        if siginfo {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(prev);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev);
            f(sig);
        }
    }
}

/// Prints the overflow report to stderr and aborts. Async-signal-safe.
pub(crate) fn report_overflow(owner: u64, id: u64, usable: usize, addr: usize, how: &str) -> ! {
    let mut m = Msg {
        buf: [0; 320],
        len: 0,
    };
    m.push(b"\ngoroutine stack overflow: ");
    if owner != 0 {
        m.push(b"goroutine ");
        m.dec(owner);
        m.push(b" overflowed ");
    }
    m.push(b"stack ");
    m.dec(id);
    m.push(b" (stack size ");
    m.dec(usable as u64);
    m.push(b" bytes; ");
    m.push(how.as_bytes());
    if addr != 0 {
        m.push(b" at 0x");
        m.hex(addr as u64);
    }
    m.push(b"); raise the runtime's stack size if this goroutine needs a deeper stack\n");
    // SAFETY: writing our own initialised buffer to fd 2, then abort(3);
    // both are async-signal-safe.
    unsafe {
        libc::write(2, m.buf.as_ptr().cast(), m.len);
        libc::abort();
    }
}

/// A fixed-size message buffer; silently truncates.
struct Msg {
    buf: [u8; 320],
    len: usize,
}

impl Msg {
    fn push(&mut self, s: &[u8]) {
        for &b in s {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn dec(&mut self, mut v: u64) {
        let mut d = [0u8; 20];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&d[i..]);
    }

    fn hex(&mut self, v: u64) {
        let digits = b"0123456789abcdef";
        let mut d = [0u8; 16];
        for (k, slot) in d.iter_mut().enumerate() {
            *slot = digits[((v >> (60 - 4 * k)) & 0xf) as usize];
        }
        let first = d.iter().position(|&c| c != b'0').unwrap_or(15);
        self.push(&d[first..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_formats_numbers() {
        let mut m = Msg {
            buf: [0; 320],
            len: 0,
        };
        m.dec(0);
        m.push(b" ");
        m.dec(18446744073709551615);
        m.push(b" ");
        m.hex(0x7f00_dead_beef);
        assert_eq!(&m.buf[..m.len], b"0 18446744073709551615 7f00deadbeef");
    }
}
