//! Per-connection activity counters, sampled by the watchdog (`transport::watchdog`) for the idle
//! and request-head timeouts, and the table of open connections it walks.

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant as TokioInstant;

/// One HTTP connection as the watchdog (`transport::watchdog`) sees it. The connection's task
/// writes the counters (one writer: plain loads and stores, no locked instructions on the hot
/// path); the watchdog samples them every quarter of the idle timeout and, to close the
/// connection or begin its graceful shutdown, sets `stop` and wakes the task. Counters rather than
/// timestamps: no clock read per request, and no timer armed per request (hyper's
/// `header_read_timeout` arms one per request head, which cost more than a tenth of a request).
pub struct Activity {
    /// Reads that moved bytes.
    pub reads: AtomicU64,
    /// Writes that moved bytes.
    pub writes: AtomicU64,
    /// Request heads received.
    pub requests: AtomicU64,
    /// 1 while a request is in the host's handler (a slow handler does not make its connection
    /// idle), 2 while a request body is being read (bytes arriving are progress, not a slow head).
    pub state: AtomicU32,
    /// 0 serve, STOP_GRACEFUL, or STOP_NOW.
    pub stop: AtomicU32,
    /// HTTP/2: streams run concurrently, so instead of `state` the connection counts the
    /// requests in flight (head received, answer not yet given), those of them in the host's
    /// handler, and the WebSockets it carries (RFC 8441). Zero on HTTP/1.
    pub streams: AtomicU32,
    pub handlers: AtomicU32,
    pub tunnels: AtomicU32,
    multiplexed: std::sync::atomic::AtomicBool,
    pub waker: AtomicWaker,
    /// This connection's idle timeout (the limit when it was accepted).
    pub idle: Duration,
    /// The watchdog's own marks (only it reads and writes them).
    pub mark: parking_lot::Mutex<Mark>,
}

pub const STATE_WAITING: u32 = 0;
pub const STATE_HANDLER: u32 = 1;
pub const STATE_BODY: u32 = 2;
pub const STOP_GRACEFUL: u32 = 1;
pub const STOP_NOW: u32 = 2;

/// What the watchdog saw at its last look at a connection. Times are tokio's (which a test
/// runtime may pause and advance).
pub struct Mark {
    pub io: u64,
    pub reads: u64,
    pub requests: u64,
    /// When bytes last moved (or the handler was last seen busy).
    pub quiet_since: TokioInstant,
    /// When bytes of a request head began to arrive without a head being completed since.
    pub head_since: Option<TokioInstant>,
    /// Why the watchdog closed the connection (for the debug log).
    pub why: Option<String>,
}

impl Activity {
    pub fn new(idle: Duration) -> Activity {
        Activity {
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            state: AtomicU32::new(STATE_WAITING),
            stop: AtomicU32::new(0),
            streams: AtomicU32::new(0),
            handlers: AtomicU32::new(0),
            tunnels: AtomicU32::new(0),
            multiplexed: std::sync::atomic::AtomicBool::new(false),
            waker: AtomicWaker::new(),
            idle,
            mark: parking_lot::Mutex::new(Mark {
                io: 0,
                reads: 0,
                requests: 0,
                quiet_since: TokioInstant::now(),
                head_since: None,
                why: None,
            }),
        }
    }

    /// Adds one to a counter that only the connection's task writes.
    #[inline]
    pub fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// The connection is HTTP/2 (set before its first request): `begin`/`phase`/`end` count
    /// streams instead of setting `state`.
    pub fn set_multiplexed(&self) {
        self.multiplexed.store(true, Ordering::Relaxed);
    }

    /// A request head arrived: its handler phase begins.
    #[inline]
    pub fn begin(&self) {
        if self.multiplexed.load(Ordering::Relaxed) {
            self.requests.fetch_add(1, Ordering::Relaxed);
            self.streams.fetch_add(1, Ordering::Relaxed);
            self.handlers.fetch_add(1, Ordering::Relaxed);
        } else {
            Activity::bump(&self.requests);
            self.state.store(STATE_HANDLER, Ordering::Relaxed);
        }
    }

    /// The request moves to reading its body (`STATE_BODY`) or back to the handler.
    #[inline]
    pub fn phase(&self, state: u32) {
        if self.multiplexed.load(Ordering::Relaxed) {
            if state == STATE_BODY {
                self.handlers.fetch_sub(1, Ordering::Relaxed);
            } else {
                self.handlers.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            self.state.store(state, Ordering::Relaxed);
        }
    }

    /// The request was answered.
    #[inline]
    pub fn end(&self) {
        if self.multiplexed.load(Ordering::Relaxed) {
            self.handlers.fetch_sub(1, Ordering::Relaxed);
            self.streams.fetch_sub(1, Ordering::Relaxed);
        } else {
            self.state.store(STATE_WAITING, Ordering::Relaxed);
        }
    }

    /// Asks the connection's task to stop (`STOP_GRACEFUL` or `STOP_NOW`); never lowers it.
    pub fn request_stop(&self, how: u32) {
        if self.stop.fetch_max(how, Ordering::AcqRel) < how {
            self.waker.wake();
        }
    }

    /// The watchdog's verdict at `now`: why the connection must close, if it must. Idle: no
    /// byte moved and no handler ran for `idle`. Slow head: bytes of a request head kept coming
    /// for `idle` without a head being completed (slowloris); a body being read is not a head.
    /// On HTTP/2, bytes that bring no new request while none is in flight are a slow head too
    /// (a TLS handshake that never ends is one as well); a connection carrying a WebSocket is
    /// left to the WebSocket's own ping and timeout.
    pub fn check(&self, now: TokioInstant) -> Option<String> {
        let reads = self.reads.load(Ordering::Relaxed);
        let io = reads + self.writes.load(Ordering::Relaxed);
        let requests = self.requests.load(Ordering::Relaxed);
        let state = self.state.load(Ordering::Relaxed);
        let tunnels = self.tunnels.load(Ordering::Relaxed);
        let busy = state == STATE_HANDLER || self.handlers.load(Ordering::Relaxed) > 0;
        let in_flight = state != STATE_WAITING || self.streams.load(Ordering::Relaxed) > 0;
        let mut m = self.mark.lock();
        if io != m.io || busy || tunnels > 0 {
            m.quiet_since = now;
        }
        if requests != m.requests || in_flight || tunnels > 0 {
            m.head_since = None;
        } else if reads != m.reads && m.head_since.is_none() {
            m.head_since = Some(now);
        }
        m.io = io;
        m.reads = reads;
        m.requests = requests;
        let quiet = now.saturating_duration_since(m.quiet_since);
        if quiet >= self.idle {
            return Some(format!("idle for {quiet:?}, closed"));
        }
        match m.head_since {
            Some(t) if now.saturating_duration_since(t) >= self.idle => Some(format!(
                "request head still incomplete after {:?}, closed",
                now.saturating_duration_since(t)
            )),
            _ => None,
        }
    }
}

/// Wraps a socket and counts every read and write that moves bytes.
pub struct Timed<T> {
    pub inner: T,
    pub activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Timed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            Activity::bump(&self.activity.reads);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Timed<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            Activity::bump(&self.activity.writes);
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            Activity::bump(&self.activity.writes);
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The open connections the watchdog looks after, by connection id.
#[derive(Default)]
pub struct Connections(Mutex<HashMap<u64, Arc<Activity>>>);

impl Connections {
    /// Registers a connection until the returned guard drops (its task ends or is dropped).
    pub fn register(&self, conn_id: u64, activity: Arc<Activity>) -> Registered<'_> {
        self.0.lock().insert(conn_id, activity);
        Registered(self, conn_id)
    }

    /// A snapshot of the open connections (the lock is not held while they are examined).
    pub fn snapshot(&self) -> Vec<Arc<Activity>> {
        self.0.lock().values().cloned().collect()
    }
}

/// Removes a connection from the table when dropped.
pub struct Registered<'a>(&'a Connections, u64);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0 .0.lock().remove(&self.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_rules() {
        let ms = |t0: TokioInstant, n: u64| t0 + Duration::from_millis(n);
        let a = Activity::new(Duration::from_millis(1000));
        let t0 = a.mark.lock().quiet_since;
        assert_eq!(a.check(ms(t0, 500)), None);
        assert!(
            a.check(ms(t0, 1000)).unwrap().starts_with("idle"),
            "no byte for 1 s"
        );

        // A slow head: bytes keep coming, no head completes.
        let a = Activity::new(Duration::from_millis(1000));
        let t0 = a.mark.lock().quiet_since;
        for t in (250..=1000).step_by(250) {
            Activity::bump(&a.reads);
            assert_eq!(a.check(ms(t0, t)), None, "at {t} ms");
        }
        Activity::bump(&a.reads);
        assert!(a.check(ms(t0, 1250)).unwrap().starts_with("request head"));

        // Heads completing (keep-alive traffic) and a body trickling in are progress.
        let a = Activity::new(Duration::from_millis(1000));
        let t0 = a.mark.lock().quiet_since;
        for t in (250..=5000).step_by(250) {
            Activity::bump(&a.reads);
            Activity::bump(&a.requests);
            assert_eq!(a.check(ms(t0, t)), None, "at {t} ms");
        }
        a.state.store(STATE_BODY, Ordering::Relaxed);
        for t in (5250..=9000).step_by(250) {
            Activity::bump(&a.reads);
            assert_eq!(a.check(ms(t0, t)), None, "at {t} ms");
        }

        // A slow handler is not idle; the stop request only ever rises.
        a.state.store(STATE_HANDLER, Ordering::Relaxed);
        assert_eq!(a.check(ms(t0, 20_000)), None);
        a.request_stop(STOP_NOW);
        a.request_stop(STOP_GRACEFUL);
        assert_eq!(a.stop.load(Ordering::Relaxed), STOP_NOW);
    }
}
