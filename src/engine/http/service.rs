//! The service that answers each HTTP request: validation, rate limit, the upgrade hand-off,
//! connection-required mode, routing, body collection, the host's handler, the error hook,
//! default headers and the response filter.

use crate::engine::context::host_call;
use crate::engine::http::answers::Answer;
use crate::engine::http::request::{Matched, Request};
use crate::engine::http::response::Response;
use crate::engine::http::router::normalize_path;
use crate::engine::http::validate::malformed;
use crate::engine::http::HttpContext;
use crate::engine::transport::activity::{Activity, STATE_BODY, STATE_HANDLER};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONNECTION, CONTENT_LENGTH, RETRY_AFTER};
use hyper::{Method, StatusCode};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub type HttpResponse = hyper::Response<Full<Bytes>>;

/// One of the engine's answers, shaped by the host's error hook when it is one of the hooked
/// kinds and a hook is set.
pub fn error_response(http: &HttpContext, req: &Request, kind: Answer) -> Response {
    let hook = http.hooks.on_error.read().clone();
    if let (Some(hook), true) = (hook, kind.is_hooked()) {
        let mut custom = Response::new();
        let ok = host_call(|| hook.on_error(req, kind, &mut custom));
        if ok.is_ok() && custom.touched && custom.poisoned.is_none() {
            return custom;
        }
        if let Some(why) = custom.poisoned {
            http.base
                .log
                .debug(|| format!("error hook gave an invalid response ({why})"));
        }
    }
    kind.response()
}

pub async fn handle(
    http: &Arc<HttpContext>,
    activity: &Activity,
    conn_id: u64,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> HttpResponse {
    http.base.log.debug(|| {
        format!(
            "conn {conn_id}: {} {} {:?}",
            req.method(),
            req.uri(),
            req.version()
        )
    });
    let (parts, body) = req.into_parts();
    if let Some(status) = malformed(&parts) {
        let r = Request::bare(parts, peer, conn_id);
        let mut res = if status == StatusCode::BAD_REQUEST {
            error_response(http, &r, Answer::BadRequest)
        } else {
            Answer::NotImplemented.response()
        };
        // The body, if any, is not read.
        res.headers
            .push((CONNECTION, HeaderValue::from_static("close")));
        return finish(http, &r, res);
    }
    let ip = peer.ip();
    if let Err(retry_after) = http.access.rate.check(ip, || http.base.clock.now_ms()) {
        let r = Request::bare(parts, peer, conn_id);
        let mut res = error_response(http, &r, Answer::RequestLimit);
        res.headers
            .push((RETRY_AFTER, HeaderValue::from(retry_after)));
        return finish(http, &r, res);
    }

    if let Some(upgrade) = http.upgrade.get() {
        if upgrade.wants(&parts) {
            return upgrade.upgrade(http, conn_id, peer, hyper::Request::from_parts(parts, body));
        }
    }

    // Borrows the head in the common case (a path without a trailing slash): no allocation.
    let path = normalize_path(parts.uri.path());

    if http.access.connection_required() {
        let is = |p: &str| path == p || path.starts_with(&format!("{p}/"));
        if parts.method == Method::GET && is("/connect") {
            http.access.connected.on(ip);
        } else if parts.method == Method::GET && is("/disconnect") {
            http.access.connected.off(ip);
        } else if !http.access.connected.contains(&ip) {
            let r = Request::bare(parts, peer, conn_id);
            let res = error_response(http, &r, Answer::NotConnected);
            return finish(http, &r, res);
        }
    }

    let found = {
        let routes = http.routes.read();
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
        let builtin = builtin(http, &parts.method, &path);
        let r = Request::bare(parts, peer, conn_id);
        let res = match builtin {
            Some(answer) => answer.response(),
            None => error_response(http, &r, Answer::NotFound),
        };
        return finish(http, &r, res);
    };

    // Waiting for the client's body is not the handler being busy: the idle timeout applies, so
    // a client that stops sending its body is dropped.
    activity.state.store(STATE_BODY, Ordering::Relaxed);
    let body = read_body(http, &parts.headers, body).await;
    activity.state.store(STATE_HANDLER, Ordering::Relaxed);
    let body = match body {
        Ok(b) => b,
        Err(kind) => {
            let r = Request::bare(parts, peer, conn_id);
            let mut res = error_response(http, &r, kind);
            // The unread rest of the body makes the connection unusable.
            res.headers
                .push((CONNECTION, HeaderValue::from_static("close")));
            return finish(http, &r, res);
        }
    };

    let matched = Matched::new(path, caps);
    let request = Request::new(parts, body, peer, conn_id, route_id, matched, names);
    let mut res = Response::new();
    let outcome = host_call(|| handler.handle(&request, &mut res));
    let res = match (outcome, res.poisoned.take()) {
        (Err(_), _) => {
            http.base
                .log
                .debug(|| format!("conn {conn_id}: handler panicked; answering 500"));
            error_response(http, &request, Answer::ServerError)
        }
        (Ok(()), Some(why)) => {
            http.base
                .log
                .debug(|| format!("conn {conn_id}: handler failed: {why}"));
            error_response(http, &request, Answer::ServerError)
        }
        (Ok(()), None) if !res.touched => Answer::Default.response(),
        (Ok(()), None) => res,
    };
    finish(http, &request, res)
}

/// Answers of the engine itself when no route matched: connect/disconnect in
/// connection-required mode.
fn builtin(http: &HttpContext, method: &Method, path: &str) -> Option<Answer> {
    if !http.access.connection_required() || method != Method::GET {
        return None;
    }
    let is = |p: &str| path == p || path.starts_with(&format!("{p}/"));
    if is("/connect") {
        Some(Answer::Connected)
    } else if is("/disconnect") {
        Some(Answer::Disconnected)
    } else {
        None
    }
}

async fn read_body(
    http: &HttpContext,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Bytes, Answer> {
    let max = http.base.limit(|l| l.max_body_bytes);
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        // Refused before reading: no `100 Continue` is sent for it.
        return Err(Answer::PayloadTooLarge);
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
            Err(Answer::PayloadTooLarge)
        }
        Err(_) => Err(Answer::BadRequest),
    }
}

/// The response filter, default headers, and the conversion to hyper's type.
pub fn finish(http: &HttpContext, req: &Request, mut res: Response) -> HttpResponse {
    let filter = http.hooks.on_response.read().clone();
    if let Some(filter) = filter {
        let before = res.status;
        let ok = host_call(|| filter.filter(req, &mut res));
        if ok.is_err() || res.poisoned.is_some() {
            http.base
                .log
                .debug(|| "response filter failed; answering 500".into());
            res = Answer::ServerError.response();
        } else if res.status == 0 {
            res.status = before;
        }
    }
    let mut out = hyper::Response::new(Full::new(res.body));
    *out.status_mut() =
        StatusCode::from_u16(res.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The defaults, less those the host set, then the host's fields (several of one name are
    // all sent; its values are moved, not cloned). Cloning the defaults' map costs one copy and
    // no hashing; each host field costs two lookups (its default removed, itself added). Most
    // responses carry one or two fields of the host's and three defaults (measured with
    // callgrind: about 200 instructions less per response than inserting each default).
    let mut headers = http.hooks.default_headers.read().clone();
    if !headers.is_empty() {
        for (name, _) in &res.headers {
            headers.remove(name);
        }
    }
    headers.reserve(res.headers.len());
    for (name, value) in res.headers {
        headers.append(name, value);
    }
    *out.headers_mut() = headers;
    http.base
        .log
        .debug(|| format!("conn {}: -> {}", req.conn_id, out.status()));
    out
}
