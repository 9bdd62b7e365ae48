//! The bottom layer: what every part of a server shares, and nothing that knows HTTP, WebSocket
//! or delivery. Each upper layer (`http`, `ws`, `fanout`) keeps its own narrow context and holds
//! an `Arc<Base>`; none reaches into another's fields.
//!
//! - `Base`: the debug log, the limits, the clock, connection ids and the `Lifecycle`.
//! - `Lifecycle`: how the server stops: the shutdown request (lock-free, so that a signal
//!   handler may make it), the `stopping` signal every task watches, and the count of live
//!   connections and WebSocket tasks that shutdown waits for.

use crate::engine::config::{Limits, MIN_HEADER_BYTES};
use crate::engine::log::Log;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{watch, Notify};

/// Milliseconds since the engine's epoch; cheap (vDSO) and monotonic.
#[derive(Clone, Copy)]
pub struct Clock(Instant);

impl Default for Clock {
    fn default() -> Clock {
        Clock(Instant::now())
    }
}

impl Clock {
    #[inline]
    pub fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// What every layer of one server shares. Safe to touch from any thread.
pub struct Base {
    pub log: Log,
    pub clock: Clock,
    limits: RwLock<Limits>,
    /// The last connection id handed out (ids start after it). A cluster or backplane sets its
    /// starting point so that ids are unique across processes.
    next_conn_id: AtomicU64,
    pub life: Lifecycle,
}

impl Default for Base {
    fn default() -> Base {
        Base {
            log: Log::default(),
            clock: Clock::default(),
            limits: RwLock::new(Limits::default()),
            next_conn_id: AtomicU64::new(0),
            life: Lifecycle::default(),
        }
    }
}

impl Base {
    /// A copy of the current limits (connections take one when they open).
    pub fn limits(&self) -> Limits {
        self.limits.read().clone()
    }

    /// One limit, read without copying the rest.
    pub fn limit<T>(&self, f: impl FnOnce(&Limits) -> T) -> T {
        f(&self.limits.read())
    }

    pub fn update_limits(&self, f: impl FnOnce(&mut Limits)) {
        let mut limits = self.limits.write();
        f(&mut limits);
        limits.max_header_bytes = limits.max_header_bytes.max(MIN_HEADER_BYTES);
    }

    /// A new connection id (> 0, unique in this server and, once `start_ids_at` was called by a
    /// cluster, across its processes).
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn start_ids_at(&self, first: u64) {
        self.next_conn_id
            .store(first.saturating_sub(1), Ordering::Relaxed);
    }
}

/// How a server stops. See the module comment.
pub struct Lifecycle {
    /// Set by `request_stop()`; read by the server's main task. Lock-free for signal handlers.
    requested: AtomicBool,
    /// Turns true once shutdown begins; accept loops, the watchdog and WebSocket tasks watch it.
    stopping: watch::Sender<bool>,
    /// Open connections plus live WebSocket tasks; shutdown waits for it to reach 0.
    active: AtomicUsize,
    drained: Notify,
}

impl Default for Lifecycle {
    fn default() -> Lifecycle {
        Lifecycle {
            requested: AtomicBool::new(false),
            stopping: watch::channel(false).0,
            active: AtomicUsize::new(0),
            drained: Notify::new(),
        }
    }
}

impl Lifecycle {
    /// Asks for a shutdown: an atomic store, async-signal-safe. The server's main task sees it
    /// when it is woken.
    pub fn request_stop(&self) {
        self.requested.store(true, Ordering::Release);
    }

    pub fn stop_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Tells every task watching `stopping()` that shutdown has begun.
    pub fn begin_stopping(&self) {
        self.request_stop();
        let _ = self.stopping.send(true);
    }

    /// True once shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// A receiver that changes when shutdown begins.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Waits until no connection or WebSocket task is live (or returns at once when none is).
    pub async fn drained(&self) {
        while self.active() > 0 {
            self.drained.notified().await;
        }
    }
}

/// Counts a connection or WebSocket task as live until the guard drops.
pub struct ActiveGuard(Arc<Base>);

impl ActiveGuard {
    pub fn new(base: &Arc<Base>) -> ActiveGuard {
        base.life.active.fetch_add(1, Ordering::AcqRel);
        ActiveGuard(base.clone())
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let life = &self.0.life;
        if life.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            // notify_one keeps a permit when nobody waits yet: no lost wake-up.
            life.drained.notify_one();
        }
    }
}

/// Calls into the host (a handler, a WebSocket event, a timer, a hook).
///
/// - A panic (only a Rust host can unwind; C cannot) is caught and returned as `Err`.
/// - On a multi-thread loop (`hs_set_threads`), the call runs in `block_in_place`, so that a
///   host callback that blocks hands this worker's other tasks and the I/O driver to another
///   thread instead of stalling them. On the default single-thread loop it is a plain call.
pub fn host_call<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    let guarded = || std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(guarded)
    } else {
        guarded()
    }
}
