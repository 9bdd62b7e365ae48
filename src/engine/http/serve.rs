//! One accepted connection: the TLS handshake when TLS is on, then hyper's HTTP/1.1 or HTTP/2
//! server until it closes, is closed by the watchdog, or is upgraded (the upgrade's new owner
//! then has the stream).

use crate::engine::config::Limits;
use crate::engine::context::ActiveGuard;
use crate::engine::http::answers::Answer;
use crate::engine::http::request::Conn;
use crate::engine::http::service::handle;
use crate::engine::http::{HttpContext, HttpResponse};
use crate::engine::transport::activity::{Activity, Timed, STOP_GRACEFUL, STOP_NOW};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Spawns the task serving one accepted connection, or refuses it (503) over the connection
/// limit.
pub fn spawn_connection(http: &Arc<HttpContext>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    let base = &http.base;
    let max = base.limit(|l| l.max_connections);
    let open = base.life.active();
    if max > 0 && open >= max {
        base.log
            .debug(|| format!("refused {peer}: {open} connections open (max)"));
        tokio::spawn(refuse(stream));
        return;
    }
    let guard = ActiveGuard::new(base);
    let conn_id = base.next_conn_id();
    let http = http.clone();
    tokio::spawn(async move {
        let _guard = guard;
        stream.set_nodelay(true).ok();
        http.base
            .log
            .debug(|| format!("conn {conn_id}: open from {peer}"));
        serve_connection(http, stream, conn_id, peer).await;
    });
}

/// The 503 of a connection over the limit, written without hyper, then the connection closes.
async fn refuse(mut stream: tokio::net::TcpStream) {
    let (status, body, name) = Answer::TooManyConnections.parts();
    let head = ("Service Unavailable", name, "Retry-After: 1\r\n");
    answer_and_close(&mut stream, status, head, body).await;
}

/// An answer written without hyper to a connection that is not served (over the connection
/// limit; plain text on a TLS port), then the connection closes; at most 2 s of writing.
/// `head`: the reason phrase, the `X-Server-Response-Type` and any more header lines.
async fn answer_and_close<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    (reason, name, more): (&str, &str, &str),
    body: &str,
) {
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n\
         X-Server-Response-Type: {name}\r\nContent-Length: {}\r\nConnection: close\r\n\
         {more}\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(msg.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// How a connection speaks HTTP.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Speak {
    Http1,
    Http2,
    /// Whichever the client's first bytes say (the HTTP/2 preface, or else HTTP/1).
    Either,
}

/// Serves one connection until it closes, is closed by the watchdog, or is upgraded: the TLS
/// handshake first when TLS is on, then HTTP/1.1 or HTTP/2 (by ALPN over TLS; by the preface on
/// a plain connection when h2c is on). Generic over the stream so that the fuzz harness
/// (`fuzz/`) can drive the real service over an in-memory pipe; the server passes a TcpStream.
/// The idle and request-head timeouts (which cover the TLS handshake too) need the server's
/// watchdog task (`transport::watchdog`) running over `http.conns`.
pub async fn serve_connection<S>(http: Arc<HttpContext>, stream: S, conn_id: u64, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = http.base.limits();
    let activity = Arc::new(Activity::new(limits.idle_timeout));
    let _registered = http.conns.register(conn_id, activity.clone());
    // Checked after registering: a shutdown that began before is seen here, one that begins
    // after reaches the connection through the watchdog.
    if http.base.life.is_stopping() {
        activity.request_stop(STOP_GRACEFUL);
    }
    let io = Timed {
        inner: stream,
        activity: activity.clone(),
    };
    let http2 = http.http2.load(Ordering::Relaxed);
    let conn = Conn {
        id: conn_id,
        peer,
        secure: false,
        activity: activity.clone(),
    };
    let reason = match http.tls.current() {
        None => {
            let speak = if http2 && http.h2c.load(Ordering::Relaxed) {
                Speak::Either
            } else {
                Speak::Http1
            };
            serve_http(&http, Lead::new(io), conn, speak, &limits).await
        }
        // Boxed: a TLS connection's state (rustls, the handshake) would otherwise widen every
        // connection's task, plain ones included.
        Some(config) => Box::pin(serve_tls(&http, io, conn, config, http2, &limits)).await,
    };
    // The task's waker, registered for the watchdog, would keep the finished task's memory
    // alive as long as the activity lives: an upgraded connection's stream (the WebSocket)
    // holds it to its end.
    activity.waker.take();
    http.base.log.debug(|| format!("conn {conn_id}: {reason}"));
}

/// Polls `fut` until it is ready or the connection is asked to stop (any stop: there is no
/// request to finish yet); None when stopped.
async fn unless_stopped<F: Future>(activity: &Activity, fut: F) -> Option<F::Output> {
    tokio::pin!(fut);
    std::future::poll_fn(|cx| {
        activity.waker.register(cx.waker());
        if activity.stop.load(Ordering::Acquire) != 0 {
            return Poll::Ready(None);
        }
        fut.as_mut().poll(cx).map(Some)
    })
    .await
}

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// The TLS side of a connection: its first byte tells a TLS client from one speaking plain HTTP
/// to the TLS port (answered 400 in plain text, as nginx does, rather than dropped without a
/// word); then the handshake (cut by the watchdog like a slow request head if it stalls, and by
/// any stop), then HTTP as ALPN chose.
async fn serve_tls<S>(
    http: &Arc<HttpContext>,
    io: S,
    conn: Conn,
    config: Arc<rustls::ServerConfig>,
    http2: bool,
    limits: &Limits,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = conn.activity.clone();
    let mut io = Lead::new(io);
    if let Err(why) = io.fill(&activity, |b| !b.is_empty()).await {
        return format!("{why} before the TLS handshake");
    }
    let first = io.pending()[0];
    if first != TLS_HANDSHAKE {
        if first.is_ascii_uppercase() {
            let body = "This port speaks HTTPS: use https:// (or wss://).\n";
            answer_and_close(&mut io.inner, 400, ("Bad Request", "BAD_REQUEST", ""), body).await;
            return "plain HTTP on the TLS port: answered 400".into();
        }
        return format!("not TLS (first byte {first:#04x}): closed");
    }
    let accept = tokio_rustls::TlsAcceptor::from(config).accept(io);
    let tls = match unless_stopped(&activity, accept).await {
        Some(Ok(tls)) => tls,
        Some(Err(e)) => return format!("TLS handshake failed: {e}"),
        None => return stopped_why(&activity, "during the TLS handshake"),
    };
    let speak = match tls.get_ref().1.alpn_protocol() {
        Some(b"h2") => Speak::Http2,
        Some(_) => Speak::Http1,
        None if http2 => Speak::Either,
        None => Speak::Http1,
    };
    let conn = Conn {
        secure: true,
        ..conn
    };
    serve_http(http, Lead::new(tls), conn, speak, limits).await
}

/// Why the watchdog or the shutdown ended a connection.
fn stopped_why(activity: &Activity, when: &str) -> String {
    activity
        .mark
        .lock()
        .why
        .take()
        .unwrap_or_else(|| format!("closed by the watchdog {when}"))
}

/// The service hyper calls for each request (each HTTP/2 stream) of one connection.
fn service(
    http: &Arc<HttpContext>,
    conn: Conn,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = HttpResponse,
    Error = Infallible,
    Future = impl Future<Output = Result<HttpResponse, Infallible>> + Send + 'static,
> + Clone
       + Send
       + 'static {
    let http = http.clone();
    let conn = Arc::new(conn);
    service_fn(move |req| {
        let http = http.clone();
        let conn = conn.clone();
        async move {
            conn.activity.begin();
            let res = handle(&http, &conn, req).await;
            conn.activity.end();
            Ok::<_, Infallible>(res)
        }
    })
}

/// Serves HTTP on an established stream (plain, or TLS after its handshake) the way `speak`
/// says; returns why it ended.
async fn serve_http<I>(
    http: &Arc<HttpContext>,
    mut io: Lead<I>,
    conn: Conn,
    speak: Speak,
    limits: &Limits,
) -> String
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = conn.activity.clone();
    let speak = match speak {
        // The first bytes tell: the HTTP/2 preface, or anything else (HTTP/1). hyper-util's auto
        // builder does the same, but its wrapper stays on every read and write of the
        // connection (about 5 % of an HTTP/1.1 request, callgrind).
        Speak::Either => {
            let decided =
                |b: &[u8]| b.len() == PREFACE.len() || !b.is_empty() && !PREFACE.starts_with(b);
            if let Err(why) = io.fill(&activity, decided).await {
                return why;
            }
            if io.pending() == PREFACE {
                Speak::Http2
            } else {
                Speak::Http1
            }
        }
        s => s,
    };
    if speak == Speak::Http2 {
        activity.set_multiplexed();
    }
    let svc = service(http, conn);
    // No hyper timer: the idle and request-head timeouts are the watchdog's (see `Activity`),
    // which costs nothing per request; HTTP/2 keep-alive pings are not sent.
    match speak {
        Speak::Http1 => {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.max_buf_size(limits.max_header_bytes);
            // No `pipeline_flush`: with it, hyper skips flushing while unread bytes sit in its
            // read buffer, so an answer given before the request was read whole (431, 413 on a
            // chunked body) was dropped at close, never sent; it also lifted hyper's write-buffer
            // cap.
            let conn = builder
                .serve_connection(TokioIo::new(io), svc)
                .with_upgrades();
            tokio::pin!(conn);
            // hyper closes an idle HTTP/1 connection at once by itself.
            drive(conn, &activity, |c| c.graceful_shutdown(), || false).await
        }
        // Boxed, as TLS is: HTTP/2's connection state would widen every HTTP/1 connection's task.
        Speak::Http2 => {
            Box::pin(async move {
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder
                    .max_concurrent_streams(limits.h2_max_streams)
                    .max_header_list_size(limits.max_header_bytes as u32)
                    .enable_connect_protocol();
                let conn = builder.serve_connection(TokioIo::new(io), svc);
                tokio::pin!(conn);
                // hyper's HTTP/2 finishes its handshake before a graceful close, and the
                // handshake waits for the client's preface: a connection opened ahead of need
                // (browsers preconnect) that never sent a request would hold the shutdown for
                // the whole grace time. Nothing was ever asked on it: it is closed at once.
                let never_used = || {
                    activity.requests.load(Ordering::Relaxed) == 0
                        && activity.tunnels.load(Ordering::Relaxed) == 0
                };
                drive(conn, &activity, |c| c.graceful_shutdown(), never_used).await
            })
            .await
        }
        Speak::Either => unreachable!("decided above"),
    }
}

/// Polls a connection until it ends; between polls looks only at the stop flag (an atomic
/// load), so a request costs nothing here beyond hyper's own work. A graceful stop is passed on
/// once; a hard one drops the connection.
async fn drive<C, E>(
    mut conn: std::pin::Pin<&mut C>,
    activity: &Activity,
    graceful: impl Fn(std::pin::Pin<&mut C>),
    nothing_to_finish: impl Fn() -> bool,
) -> String
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut asked = false;
    let ended = std::future::poll_fn(|cx| {
        activity.waker.register(cx.waker());
        match activity.stop.load(Ordering::Acquire) {
            STOP_NOW => return Poll::Ready(None),
            STOP_GRACEFUL if !asked => {
                asked = true;
                if nothing_to_finish() {
                    return Poll::Ready(None);
                }
                graceful(conn.as_mut());
            }
            _ => {}
        }
        conn.as_mut().poll(cx).map(Some)
    })
    .await;
    match ended {
        Some(Ok(())) => "closed".to_string(),
        Some(Err(e)) => format!("closed: {e}"),
        None => stopped_why(activity, ""),
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A stream whose first bytes were read ahead to decide how to serve it (TLS or plain text on a
/// TLS port; the HTTP/2 preface or HTTP/1 on a plain one), then given back first: one read of
/// at most 24 bytes per connection, and a test of an empty range per read after that.
struct Lead<I> {
    inner: I,
    buf: [u8; 24],
    start: u8,
    end: u8,
}

impl<I: AsyncRead + Unpin> Lead<I> {
    fn new(inner: I) -> Lead<I> {
        Lead {
            inner,
            buf: [0; 24],
            start: 0,
            end: 0,
        }
    }

    /// The bytes read ahead and not yet given back.
    fn pending(&self) -> &[u8] {
        &self.buf[self.start as usize..self.end as usize]
    }

    /// Reads ahead until `enough` says so or the buffer is full, unless the connection is asked
    /// to stop; Err says why not (the peer closed, an error, a stop).
    async fn fill(
        &mut self,
        activity: &Activity,
        enough: impl Fn(&[u8]) -> bool,
    ) -> std::result::Result<(), String> {
        use tokio::io::AsyncReadExt;
        while !enough(self.pending()) && (self.end as usize) < self.buf.len() {
            let end = self.end as usize;
            match unless_stopped(activity, self.inner.read(&mut self.buf[end..])).await {
                None => return Err(stopped_why(activity, "before a request")),
                Some(Ok(0)) => return Err("closed".into()),
                Some(Ok(n)) => self.end += n as u8,
                Some(Err(e)) => return Err(format!("closed: {e}")),
            }
        }
        Ok(())
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Lead<I> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.start < self.end {
            let n = self.pending().len().min(buf.remaining());
            let from = self.start as usize;
            buf.put_slice(&self.buf[from..from + n]);
            self.start += n as u8;
            return Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Lead<I> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
