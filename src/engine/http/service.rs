//! The service that answers each HTTP request: validation, rate limit, the upgrade hand-off,
//! connection-required mode, routing, body collection, the host's handler, the error hook,
//! default headers and the response filter.

use crate::engine::context::host_call;
use crate::engine::http::answers::Answer;
use crate::engine::http::context::{Hooks, HttpResponse};
use crate::engine::http::request::{Conn, Matched, Request};
use crate::engine::http::response::{block_map, Response};
use crate::engine::http::router::normalize_path;
use crate::engine::http::validate::malformed;
use crate::engine::http::HttpContext;
use crate::engine::transport::activity::{STATE_BODY, STATE_HANDLER};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, RETRY_AFTER,
};
use hyper::{Method, StatusCode, Version};
use std::sync::Arc;

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
    conn: &Conn,
    req: hyper::Request<Incoming>,
) -> HttpResponse {
    let conn_id = conn.id;
    http.base.log.debug(|| {
        format!(
            "conn {conn_id}: {} {} {:?}",
            req.method(),
            req.uri(),
            req.version()
        )
    });
    let (mut parts, body) = req.into_parts();
    if parts.version == Version::HTTP_2 {
        // HTTP/2 carries the host in `:authority`: hosts read a Host header on every protocol.
        if let (None, Some(a)) = (parts.headers.get(HOST), parts.uri.authority()) {
            if let Ok(v) = HeaderValue::from_str(a.as_str()) {
                parts.headers.insert(HOST, v);
            }
        }
    }
    if let Some(status) = malformed(&parts) {
        let r = Request::bare(parts, conn);
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
    let ip = conn.peer.ip();
    if let Err(retry_after) = http.access.rate.check(ip, || http.base.clock.now_ms()) {
        let r = Request::bare(parts, conn);
        let mut res = error_response(http, &r, Answer::RequestLimit);
        res.headers
            .push((RETRY_AFTER, HeaderValue::from(retry_after)));
        return finish(http, &r, res);
    }

    if let Some(mount) = http.mount.get() {
        if mount.wants(&parts) {
            return mount
                .serve(http, conn, hyper::Request::from_parts(parts, body))
                .await;
        }
    }

    if let Some(upgrade) = http.upgrade.get() {
        if upgrade.wants(&parts) {
            return upgrade.upgrade(http, conn, hyper::Request::from_parts(parts, body));
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
            let r = Request::bare(parts, conn);
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
        let r = Request::bare(parts, conn);
        let res = match builtin {
            Some(answer) => answer.response(),
            None => error_response(http, &r, Answer::NotFound),
        };
        return finish(http, &r, res);
    };

    // Waiting for the client's body is not the handler being busy: the idle timeout applies, so
    // a client that stops sending its body is dropped.
    conn.activity.phase(STATE_BODY);
    let body = read_body(http, &parts.headers, body).await;
    conn.activity.phase(STATE_HANDLER);
    let body = match body {
        Ok(b) => b,
        Err(kind) => {
            let r = Request::bare(parts, conn);
            let mut res = error_response(http, &r, kind);
            // The unread rest of the body makes the connection unusable.
            res.headers
                .push((CONNECTION, HeaderValue::from_static("close")));
            return finish(http, &r, res);
        }
    };

    let matched = Matched::new(path, caps);
    let request = Request::new(parts, body, conn, route_id, matched, names);
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
    read_limited(headers, body, http.base.limit(|l| l.max_body_bytes)).await
}

/// Reads a whole body of at most `max` bytes (`PayloadTooLarge` past it).
pub async fn read_limited(
    headers: &HeaderMap,
    body: Incoming,
    max: usize,
) -> Result<Bytes, Answer> {
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
    // hyper's HTTP/1 leaves out a HEAD answer's body; its HTTP/2 sends it. Send the length the
    // GET would have (RFC 9110 §9.3.2) and no body.
    let head_on_h2 = req.head.method == Method::HEAD && req.head.version == Version::HTTP_2;
    let body_len = res.body.len();
    let body = if head_on_h2 { Bytes::new() } else { res.body };
    let mut out = hyper::Response::new(Full::new(body));
    *out.status_mut() =
        StatusCode::from_u16(res.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    *out.headers_mut() = response_headers(&http.hooks, res.headers, res.block);
    if head_on_h2 && !out.headers().contains_key(CONTENT_LENGTH) {
        out.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(body_len));
    }
    http.base
        .log
        .debug(|| format!("conn {}: -> {}", req.conn_id, out.status()));
    out
}

/// The response's header map: the default headers, less those the host set, then the host's
/// fields (several of one name are all sent). Fields set from one repeated header block get a
/// clone of the map built for that block once per thread (`response::block_map`): two
/// allocations and a copy instead of the hashing, the insertions and the growth of a map built
/// field by field (about half the cost; callgrind, C hello).
fn response_headers(
    hooks: &Hooks,
    fields: Vec<(HeaderName, HeaderValue)>,
    block: Option<u64>,
) -> HeaderMap {
    let build = |fields: Vec<(HeaderName, HeaderValue)>| {
        let mut headers = hooks.defaults().clone();
        if !headers.is_empty() {
            for (name, _) in &fields {
                headers.remove(name);
            }
        }
        for (name, value) in fields {
            headers.append(name, value);
        }
        headers
    };
    match block {
        Some(id) => block_map(id, hooks.defaults_version(), fields, build),
        None => build(fields),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&'static str, &'static str)]) -> Vec<(HeaderName, HeaderValue)> {
        pairs
            .iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect()
    }

    fn sorted(map: &HeaderMap) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = map
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        v.sort();
        v
    }

    /// The map of a repeated block comes from the cache only while it is right: same fields,
    /// same defaults.
    #[test]
    fn response_headers_cached_per_block_and_defaults() {
        let hooks = Hooks::default();
        let host = fields(&[
            ("content-type", "text/plain"),
            ("access-control-allow-origin", "https://a.example"),
            ("x-two", "1"),
            ("x-two", "2"),
        ]);
        let expect = vec![
            (
                "access-control-allow-headers".to_string(),
                "Content-Type".to_string(),
            ),
            (
                "access-control-allow-methods".to_string(),
                "GET, POST, OPTIONS".to_string(),
            ),
            (
                "access-control-allow-origin".to_string(),
                "https://a.example".to_string(),
            ),
            ("content-type".to_string(), "text/plain".to_string()),
            ("x-two".to_string(), "1".to_string()),
            ("x-two".to_string(), "2".to_string()),
        ];
        // The fields as a host's repeated block sets them (the second time from the block cache,
        // with the block's id).
        let text =
            b"Content-Type: text/plain\r\nAccess-Control-Allow-Origin: https://a.example\r\n\
                     X-Two: 1\r\nX-Two: 2\r\n";
        let mut res = Response::new();
        for _ in 0..2 {
            res = Response::new();
            res.add_header_block(text).unwrap();
        }
        assert_eq!(res.headers, host);
        let block = res.block;
        assert!(block.is_some(), "the second use of a block names it");
        // Built, kept, then reused: the same map each time.
        for _ in 0..3 {
            assert_eq!(
                sorted(&response_headers(&hooks, host.clone(), block)),
                expect
            );
        }
        // Fields changed after the block was set (a Connection: close pushed): not the kept map.
        let mut changed = host.clone();
        changed.push((CONNECTION, HeaderValue::from_static("close")));
        let got = sorted(&response_headers(&hooks, changed, block));
        assert!(got.contains(&("connection".to_string(), "close".to_string())));
        // New defaults: the kept map is stale.
        hooks.set_default(
            HeaderName::from_static("x-default"),
            Some(HeaderValue::from_static("d")),
        );
        let got = sorted(&response_headers(&hooks, host.clone(), block));
        assert!(got.contains(&("x-default".to_string(), "d".to_string())));
        hooks.clear_defaults();
        let got = sorted(&response_headers(&hooks, host.clone(), block));
        assert_eq!(got.len(), 4, "{got:?}");
        // Without a block: built each time, same rules.
        assert_eq!(sorted(&response_headers(&hooks, host, None)).len(), 4);
    }
}
