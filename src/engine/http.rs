//! One TCP connection served by hyper's HTTP/1.1 server, and the service that answers each
//! request: rate limit, WebSocket upgrade, connection-required mode, routing, body collection,
//! the host's handler, default headers, the response filter.

use crate::engine::limits::{
    Activity, Timed, STATE_BODY, STATE_HANDLER, STATE_WAITING, STOP_GRACEFUL, STOP_NOW,
};
use crate::engine::request::{Matched, Request};
use crate::engine::response::Response;
use crate::engine::router::normalize_path;
use crate::engine::server::{ErrorType, Shared};
use crate::engine::{host_call, ws};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER,
    TRANSFER_ENCODING,
};
use hyper::http::request::Parts;
use hyper::service::service_fn;
use hyper::{Method, StatusCode, Version};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

pub type HttpResponse = hyper::Response<Full<Bytes>>;

const RESPONSE_TYPE: &str = "x-server-response-type";

/// Spawns the task serving one accepted connection.
pub fn spawn_connection(shared: &Arc<Shared>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    let limits = shared.limits.read().clone();
    let open = shared.active.load(Ordering::Acquire);
    if limits.max_connections > 0 && open >= limits.max_connections {
        shared
            .log
            .debug(|| format!("refused {peer}: {open} connections open (max)"));
        tokio::spawn(async move {
            let mut stream = stream;
            let body = "Too many connections. Try again later.";
            let msg = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n{body}",
                body.len()
            );
            let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(msg.as_bytes()))
                .await;
            let _ = stream.shutdown().await;
        });
        return;
    }
    let guard = shared.enter();
    let conn_id = shared.next_conn_id.fetch_add(1, Ordering::Relaxed) + 1;
    let shared = shared.clone();
    tokio::spawn(async move {
        let _guard = guard;
        stream.set_nodelay(true).ok();
        shared
            .log
            .debug(|| format!("conn {conn_id}: open from {peer}"));
        serve_connection(shared, stream, conn_id, peer).await;
    });
}

/// Serves one connection until it closes, is closed by the watchdog, or is upgraded (the
/// WebSocket task then owns the stream). Generic over the stream so that the fuzz harness
/// (`fuzz/`) can drive the real service over an in-memory pipe; the server passes a TcpStream.
/// The idle and request-head timeouts need the server's `watchdog` task running.
pub async fn serve_connection<S>(shared: Arc<Shared>, stream: S, conn_id: u64, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = shared.limits.read().clone();
    let activity = Arc::new(Activity::new(limits.idle_timeout));
    shared.conns.lock().insert(conn_id, activity.clone());
    let _registered = Registered(&shared, conn_id);
    // Checked after registering: a shutdown that began before is seen here, one that begins
    // after reaches the connection through the watchdog.
    if *shared.stopping.borrow() {
        activity.request_stop(STOP_GRACEFUL);
    }
    let io = TokioIo::new(Timed {
        inner: stream,
        activity: activity.clone(),
    });
    let svc = {
        let shared = shared.clone();
        let activity = activity.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let activity = activity.clone();
            async move {
                Activity::bump(&activity.requests);
                activity.state.store(STATE_HANDLER, Ordering::Relaxed);
                let res = handle(&shared, &activity, conn_id, peer, req).await;
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
    shared.log.debug(|| format!("conn {conn_id}: {reason}"));
}

/// Removes a connection from the watchdog's table when its task ends (or is dropped).
struct Registered<'a>(&'a Shared, u64);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.conns.lock().remove(&self.1);
    }
}

/// The server's one watchdog task: every quarter of the idle timeout it looks at each open HTTP
/// connection and closes those idle or stuck in a request head for the timeout (so a connection
/// closes between 1 and 1.25 timeouts after the fact); when shutdown begins it starts the
/// graceful shutdown of every connection and tells every WebSocket client's task. One timer for
/// the server instead of one per connection and one per request.
pub async fn watchdog(shared: Arc<Shared>) {
    let mut stopping = shared.stopping.subscribe();
    let mut graceful = false;
    loop {
        let period = (shared.limits.read().idle_timeout / 4).max(Duration::from_millis(5));
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            changed = stopping.changed(), if !graceful => {
                if changed.is_err() || *stopping.borrow() {
                    graceful = true;
                    // WebSocket clients close with 1001 (their tasks check the flag first).
                    shared.hub.stop_all();
                }
            }
        }
        let now = tokio::time::Instant::now();
        let conns: Vec<Arc<Activity>> = shared.conns.lock().values().cloned().collect();
        for conn in conns {
            if graceful {
                conn.request_stop(STOP_GRACEFUL);
            }
            if let Some(why) = conn.check(now) {
                conn.mark.lock().why = Some(why);
                conn.request_stop(STOP_NOW);
            }
        }
    }
}

fn text(status: u16, body: &'static str, kind: &'static str) -> Response {
    let mut res = Response::new();
    res.status = status;
    res.headers
        .push((CONTENT_TYPE, HeaderValue::from_static("text/plain")));
    res.headers.push((
        RESPONSE_TYPE.parse().unwrap(),
        HeaderValue::from_static(kind),
    ));
    res.body = Bytes::from_static(body.as_bytes());
    res
}

/// Luminova's answer for an error type, passed through the host's error hook.
pub fn error_response(shared: &Shared, req: &Request, kind: ErrorType) -> Response {
    let (status, body, name) = kind.defaults();
    let mut res = text(status, body, name);
    res.touched = false;
    let hook = shared.on_error.read().clone();
    if let Some(hook) = hook {
        let mut custom = Response::new();
        let ok = host_call(|| hook.on_error(req, kind, &mut custom));
        if ok.is_ok() && custom.touched && custom.poisoned.is_none() {
            return custom;
        }
        if let Some(why) = custom.poisoned {
            shared
                .log
                .debug(|| format!("error hook gave an invalid response ({why})"));
        }
    }
    res
}

fn bare_request(parts: Parts, peer: SocketAddr, conn_id: u64) -> Request {
    Request::bare(parts, peer, conn_id)
}

/// RFC 9112 rules hyper leaves to the application: one valid Host (required in HTTP/1.1, §3.2);
/// authority-form only with CONNECT, asterisk-form only with OPTIONS (§3.2.3, §3.2.4); no
/// transfer coding but a single chunked, the only one the engine decodes (§6.1, §7: 501).
fn malformed(parts: &Parts) -> Option<StatusCode> {
    // One pass over the fields instead of a lookup per name: cheaper for the handful of fields
    // a request carries.
    let mut hosts = 0;
    let mut valid = true;
    let mut chunked = 0;
    for (name, value) in parts.headers.iter() {
        if name == HOST {
            hosts += 1;
            valid &= valid_host(value.as_bytes());
        } else if name == TRANSFER_ENCODING {
            for coding in value.to_str().unwrap_or("?").split(',').map(str::trim) {
                if coding.eq_ignore_ascii_case("chunked") {
                    chunked += 1;
                } else if !coding.is_empty() {
                    return Some(StatusCode::NOT_IMPLEMENTED);
                }
            }
        }
    }
    if hosts > 1 || (hosts == 0 && parts.version == Version::HTTP_11) || !valid {
        return Some(StatusCode::BAD_REQUEST);
    }
    let uri = &parts.uri;
    if (uri.scheme().is_none() && uri.authority().is_some() && parts.method != Method::CONNECT)
        || (uri.path() == "*" && parts.method != Method::OPTIONS)
    {
        return Some(StatusCode::BAD_REQUEST);
    }
    (chunked > 1).then_some(StatusCode::BAD_REQUEST)
}

/// A Host field value: empty, or an authority without userinfo (RFC 9112 §3.2, RFC 3986 §3.2).
/// The common shape (a name or IPv4 address, an optional port) is recognised here; anything else
/// goes through `http`'s authority parser, which costs about ten times more.
fn valid_host(b: &[u8]) -> bool {
    if b.is_empty() {
        return true;
    }
    let (host, port) = match b.iter().position(|&c| c == b':') {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let simple_host = !host.is_empty()
        && host
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'-');
    let simple_port = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.iter().all(u8::is_ascii_digit)
            && p.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= 65535
    });
    if simple_host && simple_port {
        return true;
    }
    std::str::from_utf8(b)
        .is_ok_and(|s| !s.contains('@') && s.parse::<hyper::http::uri::Authority>().is_ok())
}

async fn handle(
    shared: &Arc<Shared>,
    activity: &Activity,
    conn_id: u64,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> HttpResponse {
    shared.log.debug(|| {
        format!(
            "conn {conn_id}: {} {} {:?}",
            req.method(),
            req.uri(),
            req.version()
        )
    });
    let (parts, body) = req.into_parts();
    if let Some(status) = malformed(&parts) {
        let r = bare_request(parts, peer, conn_id);
        let mut res = if status == StatusCode::BAD_REQUEST {
            error_response(shared, &r, ErrorType::BadRequest)
        } else {
            text(501, "Transfer coding not implemented.", "BAD_REQUEST")
        };
        // The body, if any, is not read.
        res.headers
            .push((CONNECTION, HeaderValue::from_static("close")));
        return finish(shared, &r, res);
    }
    let ip = peer.ip();
    if let Err(retry_after) = shared.rate.check(ip, || shared.clock.now_ms()) {
        let r = bare_request(parts, peer, conn_id);
        let mut res = error_response(shared, &r, ErrorType::RequestLimit);
        res.headers
            .push((RETRY_AFTER, HeaderValue::from(retry_after)));
        return finish(shared, &r, res);
    }

    if shared.ws_enabled.load(Ordering::Relaxed) && ws::is_upgrade(&parts.headers) {
        return ws::upgrade(
            shared,
            conn_id,
            peer,
            hyper::Request::from_parts(parts, body),
        );
    }

    // Borrows the head in the common case (a path without a trailing slash): no allocation.
    let path = normalize_path(parts.uri.path());

    if shared.connection_required.load(Ordering::Relaxed) {
        let is = |p: &str| path == p || path.starts_with(&format!("{p}/"));
        if parts.method == Method::GET && is("/connect") {
            shared.connected.on(ip);
        } else if parts.method == Method::GET && is("/disconnect") {
            shared.connected.off(ip);
        } else if !shared.connected.contains(&ip) {
            let r = bare_request(parts, peer, conn_id);
            let res = error_response(shared, &r, ErrorType::NotConnected);
            return finish(shared, &r, res);
        }
    }

    let found = {
        let routes = shared.routes.read();
        routes.find(&parts.method, &path).map(|(route, caps)| {
            (
                route.id,
                route.handler.clone(),
                caps,
                route.pattern.names().clone(),
            )
        })
    };
    let Some((route_id, handler, caps, names)) = found else {
        let builtin = builtin(shared, &parts.method, &path);
        let r = bare_request(parts, peer, conn_id);
        let res = builtin.unwrap_or_else(|| error_response(shared, &r, ErrorType::NotFound));
        return finish(shared, &r, res);
    };

    // Waiting for the client's body is not the handler being busy: the idle timeout applies, so
    // a client that stops sending its body is dropped.
    activity.state.store(STATE_BODY, Ordering::Relaxed);
    let body = read_body(shared, &parts.headers, body).await;
    activity.state.store(STATE_HANDLER, Ordering::Relaxed);
    let body = match body {
        Ok(b) => b,
        Err(kind) => {
            let r = bare_request(parts, peer, conn_id);
            let mut res = error_response(shared, &r, kind);
            // The unread rest of the body makes the connection unusable.
            res.headers
                .push((CONNECTION, HeaderValue::from_static("close")));
            return finish(shared, &r, res);
        }
    };

    let matched = Matched::new(path, caps);
    let request = Request::new(parts, body, peer, conn_id, route_id, matched, names);
    let mut res = Response::new();
    let outcome = host_call(|| handler.handle(&request, &mut res));
    let res = match (outcome, res.poisoned.take()) {
        (Err(_), _) => {
            shared
                .log
                .debug(|| format!("conn {conn_id}: handler panicked; answering 500"));
            error_response(shared, &request, ErrorType::ServerError)
        }
        (Ok(()), Some(why)) => {
            shared
                .log
                .debug(|| format!("conn {conn_id}: invalid response from handler: {why}"));
            error_response(shared, &request, ErrorType::ServerError)
        }
        (Ok(()), None) if !res.touched => text(200, "Hello world!", "DEFAULT"),
        (Ok(()), None) => res,
    };
    finish(shared, &request, res)
}

/// Answers of the engine itself when no route matched: connect/disconnect in
/// connection-required mode.
fn builtin(shared: &Shared, method: &Method, path: &str) -> Option<Response> {
    if !shared.connection_required.load(Ordering::Relaxed) || method != Method::GET {
        return None;
    }
    let is = |p: &str| path == p || path.starts_with(&format!("{p}/"));
    if is("/connect") {
        Some(text(200, "Client successfully connected.", "CONNECTED"))
    } else if is("/disconnect") {
        Some(text(
            200,
            "Client successfully disconnected.",
            "DISCONNECTED",
        ))
    } else {
        None
    }
}

async fn read_body(
    shared: &Shared,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Bytes, ErrorType> {
    let max = shared.limits.read().max_body_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        // Refused before reading: no `100 Continue` is sent for it.
        return Err(ErrorType::PayloadTooLarge);
    }
    if declared == Some(0) || hyper::body::Body::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ErrorType::PayloadTooLarge)
        }
        Err(_) => Err(ErrorType::BadRequest),
    }
}

/// Default headers, the response filter, and the conversion to hyper's type.
pub fn finish(shared: &Shared, req: &Request, mut res: Response) -> HttpResponse {
    let filter = shared.on_response.read().clone();
    if let Some(filter) = filter {
        let before = res.status;
        let ok = host_call(|| filter.filter(req, &mut res));
        if ok.is_err() || res.poisoned.is_some() {
            shared
                .log
                .debug(|| "response filter failed; answering 500".into());
            let (s, b, n) = ErrorType::ServerError.defaults();
            res = text(s, b, n);
        } else if res.status == 0 {
            res.status = before;
        }
    }
    let mut out = hyper::Response::new(Full::new(res.body));
    *out.status_mut() =
        StatusCode::from_u16(res.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The host's fields first (several of one name are all sent), then each default the host
    // did not set: one hash per field either way, and the host's values are moved, not cloned.
    let defaults = shared.default_headers.read();
    let mut headers = HeaderMap::with_capacity(defaults.len() + res.headers.len());
    for (name, value) in res.headers {
        headers.append(name, value);
    }
    for (name, value) in defaults.iter() {
        headers.entry(name).or_insert_with(|| value.clone());
    }
    drop(defaults);
    *out.headers_mut() = headers;
    shared
        .log
        .debug(|| format!("conn {}: -> {}", req.conn_id, out.status()));
    out
}

#[cfg(test)]
mod tests {
    use super::valid_host;

    /// The fast path must agree with the authority parser it short-cuts.
    #[test]
    fn host_fast_path_agrees_with_the_parser() {
        let slow = |s: &str| !s.contains('@') && s.parse::<hyper::http::uri::Authority>().is_ok();
        for h in [
            "localhost",
            "example.com",
            "example.com:8080",
            "127.0.0.1",
            "127.0.0.1:1",
            "a:65535",
            "a-b.c",
            "-",
            ".",
            "a..b",
            "x:0",
            "A1.b2:00080",
            "a:65536",
            "a:99999",
            "a:",
            ":80",
            "a:b",
            "[::1]",
            "[::1]:80",
            "a b",
            "a@b",
            "a:1:2",
            "%41",
            "a_b",
            "a~b",
            "a!b",
        ] {
            assert_eq!(valid_host(h.as_bytes()), slow(h), "{h}");
        }
    }
}
