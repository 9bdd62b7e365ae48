//! The WebSocket opening handshake (RFC 6455 §4.2): recognise an upgrade, check it, answer 101
//! and start the client's session, or refuse with an HTTP answer (404, 405, 400, 426) — never a
//! half-open socket.

use crate::engine::context::ActiveGuard;
use crate::engine::http::request::{Matched, Request};
use crate::engine::http::response::Response;
use crate::engine::http::router::normalize_path;
use crate::engine::http::service::{error_response, finish};
use crate::engine::http::{Answer, HttpContext, HttpResponse, Upgrade};
use crate::engine::ws::context::WsContext;
use crate::engine::ws::deflate;
use crate::engine::ws::session::run_client;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use hyper::http::request::Parts;
use hyper::{Method, StatusCode};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// `Upgrade: websocket` and `Connection: upgrade` (tokens, any case, in any field of the name).
pub fn is_upgrade(headers: &hyper::HeaderMap) -> bool {
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has_token(UPGRADE, "websocket") && has_token(CONNECTION, "upgrade")
}

/// A Sec-WebSocket-Key must be the base64 form of 16 bytes (RFC 6455 §4.2.1): 22 characters of
/// the base64 alphabet and "==".
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// Checks the handshake, answers 101 and spawns the client's session; or refuses.
pub fn upgrade(
    ws: &WsContext,
    http: &Arc<HttpContext>,
    conn_id: u64,
    peer: SocketAddr,
    mut req: hyper::Request<Incoming>,
) -> HttpResponse {
    let path = normalize_path(req.uri().path()).into_owned();
    let found = {
        let routes = ws.routes.read();
        routes
            .find(&Method::GET, &path)
            .map(|(r, caps)| (r.id, r.handler.clone(), caps, r.pattern.names().clone()))
    };
    let refuse = |req: hyper::Request<Incoming>, res: Option<Response>, why: &str| {
        http.base
            .log
            .debug(|| format!("conn {conn_id}: upgrade on {path} refused: {why}"));
        let (parts, _) = req.into_parts();
        let r = Request::bare(parts, peer, conn_id);
        let res = res.unwrap_or_else(|| error_response(http, &r, Answer::NotFound));
        finish(http, &r, res)
    };
    let Some((route_id, handler, caps, names)) = found else {
        return refuse(req, None, "no accept route");
    };
    if req.method() != Method::GET {
        let res = Answer::UpgradeNeedsGet.response();
        return refuse(req, Some(res), "not GET");
    }
    let key = match req.headers().get(SEC_WEBSOCKET_KEY) {
        Some(k) if valid_key(k.as_bytes()) => k.clone(),
        _ => {
            let res = Answer::BadWebSocketKey.response();
            return refuse(req, Some(res), "bad Sec-WebSocket-Key");
        }
    };
    if req
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v != "13")
    {
        let mut res = Answer::BadWebSocketVersion.response();
        res.headers
            .push((SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13")));
        return refuse(req, Some(res), "Sec-WebSocket-Version is not 13");
    }
    let deflate = ws.deflate.negotiate(req.headers());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (parts, _) = req.into_parts();
    let matched = Matched {
        normalized: Some(path.clone().into_boxed_str()),
        captures: caps,
    };
    let request = Request::new(parts, Bytes::new(), peer, conn_id, route_id, matched, names);
    http.base
        .log
        .debug(|| format!("conn {conn_id}: upgrade to WebSocket on {path}"));

    let guard = ActiveGuard::new(&ws.base);
    let base = ws.base.clone();
    let hub = ws.hub.clone();
    let keep_head = ws.keep_heads.load(Ordering::Relaxed);
    tokio::spawn(async move {
        let _guard = guard;
        match on_upgrade.await {
            Ok(upgraded) => {
                run_client(base, hub, keep_head, upgraded, request, handler, deflate).await
            }
            Err(e) => base
                .log
                .debug(|| format!("conn {conn_id}: upgrade failed: {e}")),
        }
    });

    let mut res = hyper::Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&derive_accept_key(key.as_bytes())).unwrap(),
    );
    deflate::respond(deflate, h);
    res
}

impl Upgrade for WsContext {
    fn wants(&self, head: &Parts) -> bool {
        self.enabled.load(Ordering::Relaxed) && is_upgrade(&head.headers)
    }

    fn upgrade(
        &self,
        http: &Arc<HttpContext>,
        conn_id: u64,
        peer: SocketAddr,
        req: hyper::Request<Incoming>,
    ) -> HttpResponse {
        upgrade(self, http, conn_id, peer, req)
    }
}
