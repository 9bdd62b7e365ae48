//! The one home of the engine's own answers: status, text and `X-Server-Response-Type` for each
//! (Luminova's texts where Luminova has one). The service, the WebSocket handshake, the C ABI
//! (`hs_response_answer`, `hs_answer_name`, the error hook's kind) and, through it, the PHP
//! wrapper all take them from here.

use crate::engine::http::response::Response;
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};

pub const RESPONSE_TYPE: HeaderName = HeaderName::from_static("x-server-response-type");

/// An answer of the engine's. The numbers are the C ABI's `hs_answer` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Answer {
    /// No route matched (also an upgrade with no accept route).
    NotFound = 1,
    /// Over the rate limit (sent with Retry-After).
    RequestLimit = 2,
    /// Connection-required mode, and the client IP has not connected.
    NotConnected = 3,
    /// A request RFC 9112 refuses, or a body that could not be read.
    BadRequest = 4,
    /// A handler failed (panic, exception, invalid response).
    ServerError = 5,
    /// A body over the limit.
    PayloadTooLarge = 6,
    /// A handler that set nothing.
    Default = 7,
    /// `GET /connect` in connection-required mode.
    Connected = 8,
    /// `GET /disconnect` in connection-required mode.
    Disconnected = 9,
    /// The health check (`ping()` in PHP).
    Pong = 10,
    /// A transfer coding other than chunked (RFC 9112 §6.1).
    NotImplemented = 11,
    /// Over the connection limit (sent with Retry-After and Connection: close).
    TooManyConnections = 12,
    /// A WebSocket upgrade with another method than GET.
    UpgradeNeedsGet = 13,
    /// A WebSocket upgrade whose Sec-WebSocket-Key is missing or malformed.
    BadWebSocketKey = 14,
    /// A WebSocket upgrade with a version other than 13 (sent with Sec-WebSocket-Version: 13).
    BadWebSocketVersion = 15,
    /// A WebSocket upgrade from an origin the allowed-origins list does not hold.
    OriginRefused = 16,
    /// A WebSocket upgrade the host's authorizer refused without writing an answer of its own.
    UpgradeRefused = 17,
    /// A WebSocket upgrade on an accept route that has its most clients (sent with Retry-After).
    RouteFull = 18,
}

impl Answer {
    pub const ALL: [Answer; 18] = [
        Answer::NotFound,
        Answer::RequestLimit,
        Answer::NotConnected,
        Answer::BadRequest,
        Answer::ServerError,
        Answer::PayloadTooLarge,
        Answer::Default,
        Answer::Connected,
        Answer::Disconnected,
        Answer::Pong,
        Answer::NotImplemented,
        Answer::TooManyConnections,
        Answer::UpgradeNeedsGet,
        Answer::BadWebSocketKey,
        Answer::BadWebSocketVersion,
        Answer::OriginRefused,
        Answer::UpgradeRefused,
        Answer::RouteFull,
    ];

    /// (status, body, X-Server-Response-Type followed by a NUL, so that the C ABI can hand the
    /// name out without a copy).
    const fn spec(self) -> (u16, &'static str, &'static str) {
        match self {
            Answer::NotFound => (404, "404 Not Found", "NOT_FOUND\0"),
            Answer::RequestLimit => (
                429,
                "Rate limit exceeded. Try again later.",
                "REQUEST_LIMIT\0",
            ),
            Answer::NotConnected => (400, "Client is not connected.", "NOT_CONNECTED\0"),
            Answer::BadRequest => (400, "Bad Request", "BAD_REQUEST\0"),
            Answer::ServerError => (500, "An error occurred on the server.", "SERVER_ERROR\0"),
            Answer::PayloadTooLarge => (413, "Request body is too large.", "PAYLOAD_TOO_LARGE\0"),
            Answer::Default => (200, "Hello world!", "DEFAULT\0"),
            Answer::Connected => (200, "Client successfully connected.", "CONNECTED\0"),
            Answer::Disconnected => (200, "Client successfully disconnected.", "DISCONNECTED\0"),
            Answer::Pong => (200, "PONG", "PING\0"),
            Answer::NotImplemented => (501, "Transfer coding not implemented.", "BAD_REQUEST\0"),
            Answer::TooManyConnections => (
                503,
                "Too many connections. Try again later.",
                "TOO_MANY_CONNECTIONS\0",
            ),
            Answer::UpgradeNeedsGet => (405, "WebSocket upgrade needs GET.", "BAD_REQUEST\0"),
            Answer::BadWebSocketKey => (
                400,
                "WebSocket key is missing or invalid.",
                "INVALID_WS_KEY\0",
            ),
            Answer::BadWebSocketVersion => (
                426,
                "Unsupported WebSocket version; use 13.",
                "BAD_REQUEST\0",
            ),
            Answer::OriginRefused => (403, "Origin not allowed.", "ORIGIN_REFUSED\0"),
            Answer::UpgradeRefused => (403, "Forbidden.", "UPGRADE_REFUSED\0"),
            Answer::RouteFull => (503, "Too many clients on this route.", "ROUTE_FULL\0"),
        }
    }

    /// (status, body, X-Server-Response-Type).
    pub fn parts(self) -> (u16, &'static str, &'static str) {
        let (status, body, _) = self.spec();
        (status, body, self.name())
    }

    /// The `X-Server-Response-Type` value.
    pub fn name(self) -> &'static str {
        let n = self.spec().2;
        &n[..n.len() - 1]
    }

    /// The name with a NUL after it (for the C ABI).
    pub fn name_with_nul(self) -> &'static str {
        self.spec().2
    }

    pub fn from_code(code: i32) -> Option<Answer> {
        Answer::ALL
            .get(usize::try_from(code).ok()?.checked_sub(1)?)
            .copied()
    }

    /// The answers a host's error hook may shape (Luminova's error types).
    pub fn is_hooked(self) -> bool {
        matches!(
            self,
            Answer::NotFound
                | Answer::RequestLimit
                | Answer::NotConnected
                | Answer::BadRequest
                | Answer::ServerError
                | Answer::PayloadTooLarge
        )
    }

    /// The answer as a response: status, `Content-Type: text/plain`, the response type, text.
    pub fn response(self) -> Response {
        let (status, body, name) = self.parts();
        let mut res = Response::new();
        res.status = status;
        res.headers
            .push((CONTENT_TYPE, HeaderValue::from_static("text/plain")));
        res.headers
            .push((RESPONSE_TYPE, HeaderValue::from_static(name)));
        res.body = Bytes::from_static(body.as_bytes());
        res.touched = true;
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for a in Answer::ALL {
            assert_eq!(Answer::from_code(a as i32), Some(a));
        }
        for a in Answer::ALL {
            let n = a.name_with_nul();
            assert!(n.ends_with('\0') && !a.name().contains('\0'), "{a:?}");
        }
        assert_eq!(Answer::from_code(0), None);
        assert_eq!(Answer::from_code(-1), None);
        assert_eq!(Answer::from_code(Answer::ALL.len() as i32 + 1), None);
        let r = Answer::PayloadTooLarge.response();
        assert_eq!(r.status, 413);
        assert_eq!(
            r.header("x-server-response-type").unwrap(),
            "PAYLOAD_TOO_LARGE"
        );
        assert_eq!(&r.body[..], b"Request body is too large.");
    }
}
