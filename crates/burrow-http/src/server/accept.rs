//! The [`Server`]: Go's `http.Server` around [`serve_conn`](super::serve_conn).
//! It holds the accept loop ([`Server::serve`] and the ways to run it),
//! the registry of the connections being served with their states, and
//! the graceful [`shutdown`](Server::shutdown) and the abrupt
//! [`close`](Server::close) that use it (the design is *Shutdown*, on
//! [`Server`]). What happens on one connection is in `server.rs`.

use std::collections::HashMap;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Handler, ServerConfig, serve_tracked};
use crate::conn::{Closer, Conn, Listener};

/// Go's `http.Server`: a handler, a configuration, and an accept loop.
///
/// [`serve_goroutines`](Self::serve_goroutines) is Go's `srv.Serve(l)`: the
/// calling goroutine accepts, and each connection is served by a goroutine
/// of its own, on burrow-net sockets that park only their goroutine.
/// [`serve`](Self::serve) is the same loop, generic over the [`Listener`]
/// and over how a connection is run (the caller passes a spawner), and
/// [`serve_threads`](Self::serve_threads) runs it with a thread per
/// connection for std's blocking listeners.
///
/// A `Server` is a cheap handle (an `Arc`): clone it to call
/// [`shutdown`](Self::shutdown) or [`close`](Self::close) from another
/// goroutine while one is serving.
///
/// # Shutdown
///
/// Go's `Shutdown` keeps a registry of connections with their state (new,
/// active, idle) and, once the listeners are closed, closes the idle ones
/// until none is left. So does this server: each connection publishes its
/// state in an atomic, and the registry holds a [`Closer`] per connection
/// (a duplicate of its socket, on which `shutdown(2)` wakes the goroutine
/// parked in a read with end-of-file; the goroutine still owns and closes
/// the descriptor). The races are settled by a compare-and-swap: a
/// connection leaves *idle* for *active* when a request's first byte
/// arrives, `shutdown` leaves it for *closing*, and only one of them wins.
/// A connection that is mid-request when the shutdown begins finishes it,
/// answers with `Connection: close`, and ends. A new connection that has
/// not sent a whole head is treated as busy for its first 5 seconds, as in
/// Go (it is most likely a request on its way).
///
/// As in Go, [`serve`](Self::serve) returns as soon as the shutdown
/// begins, not when the last connection ends. A program whose main
/// goroutine serves must wait for [`shutdown`](Self::shutdown) to return
/// before it returns itself: when the main goroutine returns the runtime
/// stops, and a connection goroutine still in a request (or coming back
/// from a blocking call) never runs again.
pub struct Server<H> {
    shared: Arc<Shared<H>>,
}

impl<H> Clone for Server<H> {
    fn clone(&self) -> Self {
        Server {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<H> {
    handler: H,
    config: ServerConfig,
    /// Set once by `shutdown` or `close`; never cleared.
    shutting_down: AtomicBool,
    /// The accept loops' listeners, to stop them.
    listeners: Mutex<Vec<Closer>>,
    /// The connections being served, by an id of ours.
    conns: Mutex<HashMap<u64, Arc<ConnTrack>>>,
    next_conn: AtomicU64,
}

pub(super) const STATE_NEW: u8 = 0;
const STATE_ACTIVE: u8 = 1;
pub(super) const STATE_IDLE: u8 = 2;
const STATE_CLOSING: u8 = 3;

/// How long a new connection that has not sent a whole head counts as
/// busy to a shutdown (Go's 5 seconds).
const NEW_CONN_GRACE: Duration = Duration::from_secs(5);

/// A connection as the registry sees it (Go's `conn.curState`).
pub(super) struct ConnTrack {
    pub(super) state: AtomicU8,
    born: Instant,
    closer: Option<Closer>,
}

impl ConnTrack {
    /// `from` → active; false when a shutdown got there first.
    pub(super) fn activate(&self, from: u8) -> bool {
        self.state
            .compare_exchange(from, STATE_ACTIVE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Closes the connection if it is idle (or new past its grace); true
    /// if it did.
    fn close_if_idle(&self) -> bool {
        let Some(closer) = &self.closer else {
            return false;
        };
        let idle = self
            .state
            .compare_exchange(
                STATE_IDLE,
                STATE_CLOSING,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok();
        let stale_new = !idle
            && self.born.elapsed() >= NEW_CONN_GRACE
            && self
                .state
                .compare_exchange(STATE_NEW, STATE_CLOSING, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
        if idle || stale_new {
            closer(Shutdown::Read);
        }
        idle || stale_new
    }
}

/// Removes a connection from the registry when its job ends, panics
/// included.
struct Registered<'a, H> {
    shared: &'a Shared<H>,
    id: u64,
}

impl<H> Drop for Registered<'_, H> {
    fn drop(&mut self) {
        lock(&self.shared.conns).remove(&self.id);
    }
}

/// The registry's mutexes guard plain maps whose every update is one
/// call, so a panic elsewhere cannot leave them half-changed.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection's work, handed to the spawner.
pub type ConnJob = Box<dyn FnOnce() + Send + 'static>;

/// First and longest wait after an accept error such as `EMFILE` (Go's
/// accept backoff, 5 ms doubling to 1 s).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The longest pause between two looks at the registry in
/// [`Server::shutdown`] (Go's `shutdownPollIntervalMax`); the first is
/// 1 ms, doubling.
const SHUTDOWN_POLL_MAX: Duration = Duration::from_millis(500);

impl<H: Handler + 'static> Server<H> {
    /// A server with the default configuration.
    pub fn new(handler: H) -> Self {
        Self::with_config(handler, ServerConfig::default())
    }

    /// A server with `config`.
    pub fn with_config(handler: H, config: ServerConfig) -> Self {
        Server {
            shared: Arc::new(Shared {
                handler,
                config,
                shutting_down: AtomicBool::new(false),
                listeners: Mutex::new(Vec::new()),
                conns: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// Accepts connections until [`shutdown`](Self::shutdown) or
    /// [`close`](Self::close), handing each to `spawn` as a job that serves
    /// it; then returns `Ok` (Go returns `ErrServerClosed`). Transient
    /// accept errors (aborted connections, `EMFILE`) are retried after a
    /// growing pause; the loop returns `Err` only on an error that says the
    /// listener itself is unusable.
    pub fn serve<L, F>(&self, listener: &L, mut spawn: F) -> io::Result<()>
    where
        L: Listener,
        F: FnMut(ConnJob),
    {
        let shared = &*self.shared;
        {
            // Under the lock, so a shutdown either sees this listener or
            // we see its flag.
            let mut listeners = lock(&shared.listeners);
            if shared.shutting_down.load(Ordering::SeqCst) {
                return Ok(());
            }
            if let Some(closer) = listener.closer() {
                listeners.push(closer);
            }
        }
        let mut backoff = Duration::ZERO;
        loop {
            let accepted = listener.accept();
            if shared.shutting_down.load(Ordering::SeqCst) {
                return Ok(());
            }
            match accepted {
                Ok(conn) => {
                    backoff = Duration::ZERO;
                    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
                    let track = Arc::new(ConnTrack {
                        state: AtomicU8::new(STATE_NEW),
                        born: Instant::now(),
                        closer: conn.closer(),
                    });
                    lock(&shared.conns).insert(id, Arc::clone(&track));
                    let shared = Arc::clone(&self.shared);
                    spawn(Box::new(move || {
                        let _registered = Registered {
                            shared: &shared,
                            id,
                        };
                        let tracking = Some((&*track, &shared.shutting_down));
                        if let Err(e) =
                            serve_tracked(conn, &shared.handler, &shared.config, tracking)
                        {
                            shared.config.log(&format!("connection failed: {e}"));
                        }
                    }));
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::Interrupted
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::WouldBlock => {}
                    io::ErrorKind::InvalidInput | io::ErrorKind::NotConnected => return Err(e),
                    _ => {
                        // Out of descriptors or memory: wait for some to be
                        // freed (Go's server: 5 ms doubling to 1 s). In a
                        // goroutine this parks only the accepting
                        // goroutine; on a plain thread it sleeps the thread.
                        // Logged once per run of errors, not per retry.
                        if backoff.is_zero() {
                            shared.config.log(&format!(
                                "accept error: {e}; retrying with backoff \
                                 (raise `ulimit -n` if it says too many open files)"
                            ));
                        }
                        backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                        burrow_sched::sleep(backoff);
                    }
                },
            }
        }
    }

    /// Go's `srv.Serve(l)`: accepts on `listener` in the calling goroutine
    /// and serves each connection in a goroutine of its own. Call it from
    /// a goroutine of a running `burrow` runtime.
    ///
    /// # Panics
    ///
    /// Outside a goroutine (`burrow_sched::go` needs a runtime).
    pub fn serve_goroutines<L: Listener>(&self, listener: &L) -> io::Result<()> {
        self.serve(listener, |job| {
            // Detached: a connection's goroutine reports its own errors,
            // and a panic outside the handler is printed with its id.
            drop(burrow_sched::go(job));
        })
    }

    /// [`serve`](Self::serve) with one OS thread per connection, for std's
    /// blocking listeners (no runtime needed).
    pub fn serve_threads<L: Listener>(&self, listener: &L) -> io::Result<()> {
        let log = self.shared.config.clone();
        self.serve(listener, |job| {
            if let Err(e) = std::thread::Builder::new()
                .name("burrow-http-conn".into())
                .spawn(job)
            {
                log.log(&format!("cannot start a connection thread: {e}"));
            }
        })
    }

    /// Go's `srv.ListenAndServe()`: binds `addr` with burrow-net (with
    /// `SO_REUSEPORT` when [`ServerConfig::reuse_port`] is set) and serves
    /// it with a goroutine per connection until shutdown. Call it from a
    /// goroutine.
    pub fn listen_and_serve(&self, addr: impl std::net::ToSocketAddrs) -> io::Result<()> {
        let listener = if self.shared.config.reuse_port {
            burrow_net::TcpListener::bind_reuseport(addr)?
        } else {
            burrow_net::TcpListener::bind(addr)?
        };
        self.serve_goroutines(&listener)
    }

    /// Whether [`shutdown`](Self::shutdown) or [`close`](Self::close) has
    /// been called.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::SeqCst)
    }

    /// The number of connections being served.
    pub fn num_conns(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    /// Stops the accept loops and marks the server closing: no new
    /// connection is served and no connection is kept alive after its
    /// current response.
    fn begin_shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        for closer in lock(&self.shared.listeners).drain(..) {
            closer(Shutdown::Read);
        }
    }

    /// Go's `srv.Shutdown(ctx)`: stops accepting, closes idle connections,
    /// lets the in-flight requests finish (their responses say
    /// `Connection: close`), and returns once no connection is left, or
    /// with `ErrorKind::TimedOut` after `timeout` (the rest are left to
    /// finish; [`close`](Self::close) ends them). See *Shutdown*. It waits
    /// by sleeping: in a goroutine it parks only the caller.
    pub fn shutdown(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        self.begin_shutdown();
        let mut pause = Duration::from_millis(1);
        loop {
            // Closed connections leave the registry when their goroutine
            // ends, so "empty" means every one has finished.
            let left = {
                let conns = lock(&self.shared.conns);
                for track in conns.values() {
                    track.close_if_idle();
                }
                conns.len()
            };
            if left == 0 {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("shutdown: {left} connections still open"),
                ));
            }
            burrow_sched::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(SHUTDOWN_POLL_MAX);
        }
    }

    /// Go's `srv.Close()`: stops accepting and ends every connection at
    /// once, busy or not (a handler's next read sees end-of-file and its
    /// writes fail). It does not wait for the connection goroutines.
    pub fn close(&self) {
        self.begin_shutdown();
        for track in lock(&self.shared.conns).values() {
            track.state.store(STATE_CLOSING, Ordering::SeqCst);
            if let Some(closer) = &track.closer {
                closer(Shutdown::Both);
            }
        }
    }
}

/// Go's `http.ListenAndServe(addr, handler)`: listens on `addr` with
/// burrow-net and serves it with the default configuration, a goroutine
/// per connection, forever. Call it from a goroutine (for example in a
/// `#[burrow::main]` function).
///
/// ```no_run
/// use burrow_http::{ResponseWriter, Request, ServeMux};
/// # let rt = burrow_sched::Runtime::builder().build().unwrap();
/// # rt.run(|| {
/// let mut mux = ServeMux::new();
/// mux.must_handle_func("/", |w: &mut ResponseWriter, _r: &mut Request| {
///     let _ = std::io::Write::write_all(w, b"hello world\n");
/// });
/// burrow_http::listen_and_serve("127.0.0.1:8080", mux).unwrap();
/// # });
/// ```
pub fn listen_and_serve<H: Handler + 'static>(
    addr: impl std::net::ToSocketAddrs,
    handler: H,
) -> io::Result<()> {
    let listener = burrow_net::TcpListener::bind(addr)?;
    Server::new(handler).serve_goroutines(&listener)
}
