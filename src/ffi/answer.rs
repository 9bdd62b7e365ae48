//! The engine's answers
//!
//! The fixed responses the engine sends by itself (404, 429, 500, ...) and those a handler may
//! send with hs_response_answer(). Each is `Content-Type: text/plain` with an
//! `X-Server-Response-Type: <NAME>` header.

use super::convert::static_text;
use super::guard::guard;
use crate::engine::{Answer, Error, Result};
use std::ffi::{c_char, c_int};

/// The engine's own answers: the kinds of the error hook (`hs_on_error`, 1-6) and the answers a
/// handler may send with `hs_response_answer`. Each is sent with `Content-Type: text/plain` and
/// `X-Server-Response-Type: <NAME>` (`hs_answer_name`); the texts are Luminova's.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy)]
pub enum hs_answer {
    /// 404 "404 Not Found" (NOT_FOUND): no route matched (also a WebSocket upgrade with no
    /// accept route).
    HS_ANSWER_NOT_FOUND = 1,
    /// 429 "Rate limit exceeded. Try again later." (REQUEST_LIMIT), with Retry-After.
    HS_ANSWER_REQUEST_LIMIT = 2,
    /// 400 "Client is not connected." (NOT_CONNECTED): connection-required mode.
    HS_ANSWER_NOT_CONNECTED = 3,
    /// 400 "Bad Request" (BAD_REQUEST): a request hyper's parser let through but RFC 9112
    /// refuses (missing, repeated or invalid Host in HTTP/1.1; authority- or asterisk-form with
    /// the wrong method; `chunked` twice), or a body that could not be read. The connection is
    /// closed after it.
    HS_ANSWER_BAD_REQUEST = 4,
    /// 500 "An error occurred on the server." (SERVER_ERROR): a handler failed
    /// (`hs_response_fail`, an invalid response, a panic).
    HS_ANSWER_SERVER_ERROR = 5,
    /// 413 "Request body is too large." (PAYLOAD_TOO_LARGE): over `HS_LIMIT_MAX_BODY_BYTES`.
    HS_ANSWER_PAYLOAD_TOO_LARGE = 6,
    /// 200 "Hello world!" (DEFAULT): a handler that set nothing.
    HS_ANSWER_DEFAULT = 7,
    /// 200 "Client successfully connected." (CONNECTED): `GET /connect`.
    HS_ANSWER_CONNECTED = 8,
    /// 200 "Client successfully disconnected." (DISCONNECTED): `GET /disconnect`.
    HS_ANSWER_DISCONNECTED = 9,
    /// 200 "PONG" (PING): a health check.
    HS_ANSWER_PONG = 10,
    /// 501 "Transfer coding not implemented." (BAD_REQUEST): a coding other than chunked.
    HS_ANSWER_NOT_IMPLEMENTED = 11,
    /// 503 "Too many connections. Try again later." (TOO_MANY_CONNECTIONS): over
    /// `HS_LIMIT_MAX_CONNECTIONS`, with Retry-After; the connection is closed.
    HS_ANSWER_TOO_MANY_CONNECTIONS = 12,
    /// 405 "WebSocket upgrade needs GET." (BAD_REQUEST).
    HS_ANSWER_UPGRADE_NEEDS_GET = 13,
    /// 400 "WebSocket key is missing or invalid." (INVALID_WS_KEY).
    HS_ANSWER_BAD_WEBSOCKET_KEY = 14,
    /// 426 "Unsupported WebSocket version; use 13." (BAD_REQUEST), with
    /// `Sec-WebSocket-Version: 13`.
    HS_ANSWER_BAD_WEBSOCKET_VERSION = 15,
    /// 403 "Origin not allowed." (ORIGIN_REFUSED): a WebSocket upgrade whose Origin is not in
    /// the list of `hs_ws_set_origins`.
    HS_ANSWER_ORIGIN_REFUSED = 16,
    /// 403 "Forbidden." (UPGRADE_REFUSED): a WebSocket upgrade the authorizer
    /// (`hs_ws_authorize`) refused without writing an answer of its own.
    HS_ANSWER_UPGRADE_REFUSED = 17,
    /// 503 "Too many clients on this route." (ROUTE_FULL): a WebSocket upgrade on an accept
    /// route that has its most clients (`hs_ws_route_limit`), with Retry-After.
    HS_ANSWER_ROUTE_FULL = 18,
}

pub(crate) fn answer_of(kind: Answer) -> hs_answer {
    use hs_answer::*;
    match kind {
        Answer::NotFound => HS_ANSWER_NOT_FOUND,
        Answer::RequestLimit => HS_ANSWER_REQUEST_LIMIT,
        Answer::NotConnected => HS_ANSWER_NOT_CONNECTED,
        Answer::BadRequest => HS_ANSWER_BAD_REQUEST,
        Answer::ServerError => HS_ANSWER_SERVER_ERROR,
        Answer::PayloadTooLarge => HS_ANSWER_PAYLOAD_TOO_LARGE,
        Answer::Default => HS_ANSWER_DEFAULT,
        Answer::Connected => HS_ANSWER_CONNECTED,
        Answer::Disconnected => HS_ANSWER_DISCONNECTED,
        Answer::Pong => HS_ANSWER_PONG,
        Answer::NotImplemented => HS_ANSWER_NOT_IMPLEMENTED,
        Answer::TooManyConnections => HS_ANSWER_TOO_MANY_CONNECTIONS,
        Answer::UpgradeNeedsGet => HS_ANSWER_UPGRADE_NEEDS_GET,
        Answer::BadWebSocketKey => HS_ANSWER_BAD_WEBSOCKET_KEY,
        Answer::BadWebSocketVersion => HS_ANSWER_BAD_WEBSOCKET_VERSION,
        Answer::OriginRefused => HS_ANSWER_ORIGIN_REFUSED,
        Answer::UpgradeRefused => HS_ANSWER_UPGRADE_REFUSED,
        Answer::RouteFull => HS_ANSWER_ROUTE_FULL,
    }
}

pub(crate) fn answer_arg(kind: c_int) -> Result<Answer> {
    Answer::from_code(kind).ok_or_else(|| Error::invalid(format!("unknown answer kind {kind}")))
}

/// The `X-Server-Response-Type` name of an answer kind (`"NOT_FOUND"`, `"PING"`). Static
/// storage. NULL for an unknown kind.
#[no_mangle]
pub extern "C" fn hs_answer_name(kind: c_int) -> *const c_char {
    guard(|| Ok(static_text(answer_arg(kind)?.name_with_nul())))
}
