//! The WebSocket opening handshake: recognise an upgrade, check it, answer and start the
//! client's session, or refuse with an HTTP answer (404, 405, 400, 426) — never a half-open
//! socket. On HTTP/1.1 (RFC 6455 §4.2) a GET with `Upgrade: websocket` answered 101; on HTTP/2
//! (RFC 8441) an extended CONNECT with `:protocol = websocket` answered 200, the stream then
//! carrying the WebSocket (no key, no accept: the stream is already the client's alone).

use crate::engine::context::ActiveGuard;
use crate::engine::http::request::{Conn, Matched, Request};
use crate::engine::http::response::Response;
use crate::engine::http::router::normalize_path;
use crate::engine::http::service::{error_response, finish};
use crate::engine::http::{Answer, HttpContext, HttpResponse, Upgrade};
use crate::engine::ws::admission::admit;
use crate::engine::ws::context::WsContext;
use crate::engine::ws::deflate;
use crate::engine::ws::session::{run_client, Opening};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use hyper::http::request::Parts;
use hyper::{Method, StatusCode, Version};
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

/// An HTTP/2 extended CONNECT for a WebSocket (RFC 8441 §4).
pub fn is_h2_websocket(head: &Parts) -> bool {
    h2_websocket(head.version, &head.method, &head.extensions)
}

/// As `is_h2_websocket`, on a whole request.
pub fn is_h2_connect<B>(req: &hyper::Request<B>) -> bool {
    h2_websocket(req.version(), req.method(), req.extensions())
}

fn h2_websocket(version: Version, method: &Method, ext: &hyper::http::Extensions) -> bool {
    version == Version::HTTP_2
        && method == Method::CONNECT
        && ext
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
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
    conn: &Conn,
    mut req: hyper::Request<Incoming>,
) -> HttpResponse {
    let conn_id = conn.id;
    let h2 = req.version() == Version::HTTP_2;
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
        let r = Request::bare(parts, conn);
        let res = res.unwrap_or_else(|| error_response(http, &r, Answer::NotFound));
        finish(http, &r, res)
    };
    let Some((route_id, handler, caps, names)) = found else {
        return refuse(req, None, "no accept route");
    };
    let hs = match handshake(ws, &mut req) {
        Ok(hs) => hs,
        Err(answer) => {
            let mut res = answer.response();
            let why = match answer {
                Answer::UpgradeNeedsGet => "not GET",
                Answer::BadWebSocketKey => "bad Sec-WebSocket-Key",
                _ => {
                    res.headers
                        .push((SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13")));
                    "Sec-WebSocket-Version is not 13"
                }
            };
            return refuse(req, Some(res), why);
        }
    };
    let (parts, _) = req.into_parts();
    let matched = Matched {
        normalized: Some(path.clone().into_boxed_str()),
        captures: caps,
    };
    // On HTTP/2 several WebSockets share one connection: each gets an id of its own (the id
    // every hs_ws_* call names a client by); on HTTP/1.1 the connection's id is the client's.
    let own;
    let client = if h2 {
        own = Conn {
            id: ws.base.next_conn_id(),
            ..conn.clone()
        };
        &own
    } else {
        conn
    };
    let request = Request::new(parts, Bytes::new(), client, route_id, matched, names);
    // Origins, the route's limit, the host's authorizer: a refusal is an HTTP answer.
    // Boxed: the task keeps what it captures for the client's whole life (8 bytes, not ~80).
    let admission = match admit(ws, http, &request) {
        Ok(a) => Box::new(a),
        Err(res) => {
            http.base.log.debug(|| {
                format!(
                    "conn {conn_id}: upgrade on {path} refused with {}",
                    res.status
                )
            });
            return finish(http, &request, res);
        }
    };
    http.base.log.debug(|| {
        let over = if h2 { " over HTTP/2" } else { "" };
        format!("conn {conn_id}: upgrade to WebSocket on {path}{over}")
    });

    let guard = ActiveGuard::new(&ws.base);
    let base = ws.base.clone();
    let hub = ws.hub.clone();
    let rooms = ws.rooms.clone();
    let keep_head = ws.keep_heads.load(Ordering::Relaxed);
    // A WebSocket over HTTP/2 keeps its connection open: the watchdog leaves it alone while
    // the WebSocket lives (its own ping and timeout watch the client).
    let tunnel = h2.then(|| Tunnel::new(conn));
    tokio::spawn(async move {
        let _guard = guard;
        let _tunnel = tunnel;
        match hs.on_upgrade.await {
            Ok(upgraded) => {
                let opening = Opening {
                    request,
                    handler,
                    deflate: hs.deflate,
                    admission,
                };
                run_client(base, hub, rooms, keep_head, upgraded, opening).await
            }
            Err(e) => base
                .log
                .debug(|| format!("conn {conn_id}: upgrade failed: {e}")),
        }
    });

    hs.response
}

/// A WebSocket handshake checked and answered for a layer that owns its sockets itself (Socket.IO):
/// the answer to send (101, or 200 on HTTP/2), the upgrade to await, and the agreed
/// permessage-deflate. No route, admission or session: the caller does those.
pub struct Handshake {
    pub response: HttpResponse,
    pub on_upgrade: hyper::upgrade::OnUpgrade,
    pub deflate: Option<deflate::Agreed>,
}

/// Checks a WebSocket handshake (method, key, version; or RFC 8441's CONNECT) and builds its
/// answer. The error is the answer to refuse with.
pub fn handshake(ws: &WsContext, req: &mut hyper::Request<Incoming>) -> Result<Handshake, Answer> {
    let h2 = req.version() == Version::HTTP_2;
    if !h2 && req.method() != Method::GET {
        return Err(Answer::UpgradeNeedsGet);
    }
    let key = match req.headers().get(SEC_WEBSOCKET_KEY) {
        _ if h2 => None,
        Some(k) if valid_key(k.as_bytes()) => Some(k.clone()),
        _ => return Err(Answer::BadWebSocketKey),
    };
    if req
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v != "13")
    {
        return Err(Answer::BadWebSocketVersion);
    }
    let deflate = ws.deflate.negotiate(req.headers());
    let on_upgrade = hyper::upgrade::on(&mut *req);
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    if let Some(key) = key {
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(
            SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&derive_accept_key(key.as_bytes())).unwrap(),
        );
    }
    deflate::respond(deflate, response.headers_mut());
    Ok(Handshake {
        response,
        on_upgrade,
        deflate,
    })
}

/// Counts a WebSocket carried by an HTTP/2 connection while it lives.
pub struct Tunnel(Arc<crate::engine::transport::Activity>);

impl Tunnel {
    pub fn new(conn: &Conn) -> Tunnel {
        conn.activity.tunnels.fetch_add(1, Ordering::Relaxed);
        Tunnel(conn.activity.clone())
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.0.tunnels.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Upgrade for WsContext {
    fn wants(&self, head: &Parts) -> bool {
        self.enabled.load(Ordering::Relaxed) && (is_upgrade(&head.headers) || is_h2_websocket(head))
    }

    fn upgrade(
        &self,
        http: &Arc<HttpContext>,
        conn: &Conn,
        req: hyper::Request<Incoming>,
    ) -> HttpResponse {
        upgrade(self, http, conn, req)
    }
}
