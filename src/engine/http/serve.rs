//! One accepted connection served by hyper's HTTP/1.1 server until it closes, is closed by the
//! watchdog, or is upgraded (the upgrade's new owner then has the stream).

use crate::engine::context::ActiveGuard;
use crate::engine::http::answers::Answer;
use crate::engine::http::service::handle;
use crate::engine::http::HttpContext;
use crate::engine::transport::activity::{
    Activity, Timed, STATE_HANDLER, STATE_WAITING, STOP_GRACEFUL, STOP_NOW,
};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
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
    let answer = Answer::TooManyConnections;
    let (status, body, name) = answer.parts();
    let msg = format!(
        "HTTP/1.1 {status} Service Unavailable\r\nContent-Type: text/plain\r\n\
         X-Server-Response-Type: {name}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Retry-After: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(msg.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// Serves one connection until it closes, is closed by the watchdog, or is upgraded. Generic
/// over the stream so that the fuzz harness (`fuzz/`) can drive the real service over an
/// in-memory pipe; the server passes a TcpStream. The idle and request-head timeouts need the
/// server's watchdog task (`transport::watchdog`) running over `http.conns`.
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
    let io = TokioIo::new(Timed {
        inner: stream,
        activity: activity.clone(),
    });
    let svc = {
        let http = http.clone();
        let activity = activity.clone();
        service_fn(move |req| {
            let http = http.clone();
            let activity = activity.clone();
            async move {
                Activity::bump(&activity.requests);
                activity.state.store(STATE_HANDLER, Ordering::Relaxed);
                let res = handle(&http, &activity, conn_id, peer, req).await;
                activity.state.store(STATE_WAITING, Ordering::Relaxed);
                Ok::<_, Infallible>(res)
            }
        })
    };
    // No hyper timer: the idle and request-head timeouts are the watchdog's (see `Activity`),
    // which costs nothing per request.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(limits.max_header_bytes);
    // No `pipeline_flush`: with it, hyper skips flushing while unread bytes sit in its read
    // buffer, so an answer given before the request was read whole (431, 413 on a chunked
    // body) was dropped at close, never sent; it also lifted hyper's write-buffer cap.
    let conn = builder.serve_connection(io, svc).with_upgrades();
    tokio::pin!(conn);
    let mut graceful = false;
    // Polls the connection; between polls, looks only at the stop flag (an atomic load), so a
    // request costs nothing here beyond hyper's own work.
    let reason = std::future::poll_fn(|cx| {
        activity.waker.register(cx.waker());
        match activity.stop.load(Ordering::Acquire) {
            STOP_NOW => return Poll::Ready(None),
            STOP_GRACEFUL if !graceful => {
                graceful = true;
                conn.as_mut().graceful_shutdown();
            }
            _ => {}
        }
        std::future::Future::poll(conn.as_mut(), cx).map(Some)
    })
    .await;
    let reason = match reason {
        Some(Ok(())) => "closed".to_string(),
        Some(Err(e)) => format!("closed: {e}"),
        None => activity
            .mark
            .lock()
            .why
            .take()
            .unwrap_or_else(|| "closed by the watchdog".into()),
    };
    http.base.log.debug(|| format!("conn {conn_id}: {reason}"));
}
