//! Limits and policies
//!
//! Timeouts, sizes and queue lengths (hs_limit), the per-IP rate limit, Luminova's
//! connection-required mode, and the default headers of every response. Set them before
//! hs_run()/hs_poll() or at any time: connection-level limits apply to connections accepted
//! afterwards. Strings are copied.

use super::convert::{flag, put, text, text_or_null};
use super::guard::{guard, ok};
use super::handles::{borrow, hs_server};
use crate::engine::{Error, Result, Server};
use std::ffi::{c_char, c_int, c_long};
use std::net::IpAddr;
use std::time::Duration;

/// Limits settable with `hs_set_limit()` / readable with `hs_get_limit()`.
#[repr(C)]
#[allow(non_camel_case_types, clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy)]
pub enum hs_limit {
    /// Milliseconds a connection may stay without any byte moving before it is closed; also the
    /// time a client has to send a whole request head. Default 60000.
    HS_LIMIT_IDLE_TIMEOUT_MS = 1,
    /// Open connections (HTTP + WebSocket) at once; a new one beyond it gets 503 and is closed.
    /// 0 = no limit (default).
    HS_LIMIT_MAX_CONNECTIONS = 2,
    /// Largest request head in bytes; beyond it the answer is 431. Default 65536, minimum 8192
    /// (smaller values are raised to it).
    HS_LIMIT_MAX_HEADER_BYTES = 3,
    /// Largest request body in bytes (after chunked decoding); beyond it 413. Default 16 MiB.
    HS_LIMIT_MAX_BODY_BYTES = 4,
    /// Largest WebSocket message in bytes; beyond it the client is closed with 1009. Default 16 MiB.
    HS_LIMIT_WS_MAX_MESSAGE = 5,
    /// A silent WebSocket client is pinged after this many ms. Default 30000.
    HS_LIMIT_WS_PING_INTERVAL_MS = 6,
    /// ...and dropped when nothing came from it for this many ms after that ping. Default 30000.
    HS_LIMIT_WS_PING_TIMEOUT_MS = 7,
    /// Messages queued per WebSocket client; a client whose queue is full is dropped. Default 1024.
    HS_LIMIT_WS_SEND_QUEUE = 8,
    /// Longest wait of a graceful shutdown for in-flight work, in ms. Default 10000.
    HS_LIMIT_SHUTDOWN_GRACE_MS = 9,
    /// Concurrent streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS); streams
    /// beyond it are refused (RST_STREAM REFUSED_STREAM). Default 100, at least 1. Applies to
    /// connections accepted afterwards.
    HS_LIMIT_H2_MAX_STREAMS = 10,
}

/// Closes connections idle for `seconds` + `microseconds` (Luminova's `setTimeout`). The total
/// must be at least 1 ms. Applies to connections accepted afterwards.
#[no_mangle]
pub extern "C" fn hs_set_timeout(
    server: *mut hs_server,
    seconds: c_long,
    microseconds: c_long,
) -> c_int {
    guard(|| {
        if seconds < 0 || microseconds < 0 {
            return Err(Error::invalid("timeout parts must not be negative"));
        }
        let d = Duration::from_secs(seconds as u64) + Duration::from_micros(microseconds as u64);
        if d < Duration::from_millis(1) {
            return Err(Error::invalid("timeout must be at least 1 ms"));
        }
        unsafe { borrow(server, "server") }?.update_limits(|l| l.idle_timeout = d);
        ok()
    })
}

/// Allows each client IP at most `max_requests` HTTP requests per `window_seconds`; more get
/// 429 (REQUEST_LIMIT) with `Retry-After`. `max_requests` 0 turns the limit off (the default).
/// Returns `HS_OK`, or `HS_ERR_INVALID` for a limit with a window of 0 seconds.
#[no_mangle]
pub extern "C" fn hs_set_rate_limit(
    server: *mut hs_server,
    max_requests: u32,
    window_seconds: u32,
) -> c_int {
    guard(|| {
        if max_requests > 0 && window_seconds == 0 {
            return Err(Error::invalid(
                "rate limit window must be at least 1 second",
            ));
        }
        let s = unsafe { borrow(server, "server") }?;
        s.set_rate_limit(max_requests, Duration::from_secs(window_seconds as u64));
        ok()
    })
}

fn limit_of(which: c_int) -> Result<hs_limit> {
    use hs_limit::*;
    Ok(match which {
        1 => HS_LIMIT_IDLE_TIMEOUT_MS,
        2 => HS_LIMIT_MAX_CONNECTIONS,
        3 => HS_LIMIT_MAX_HEADER_BYTES,
        4 => HS_LIMIT_MAX_BODY_BYTES,
        5 => HS_LIMIT_WS_MAX_MESSAGE,
        6 => HS_LIMIT_WS_PING_INTERVAL_MS,
        7 => HS_LIMIT_WS_PING_TIMEOUT_MS,
        8 => HS_LIMIT_WS_SEND_QUEUE,
        9 => HS_LIMIT_SHUTDOWN_GRACE_MS,
        10 => HS_LIMIT_H2_MAX_STREAMS,
        _ => return Err(Error::invalid(format!("unknown limit {which}"))),
    })
}

/// Sets one of the `hs_limit` values. Connection-level limits apply to connections accepted
/// afterwards. Returns `HS_ERR_INVALID` for an unknown limit or a value out of range (the
/// millisecond limits need at least 1).
#[no_mangle]
pub extern "C" fn hs_set_limit(server: *mut hs_server, which: c_int, value: u64) -> c_int {
    guard(|| {
        use hs_limit::*;
        let which = limit_of(which)?;
        let ms = |v: u64| {
            if v == 0 {
                Err(Error::invalid(format!("{which:?} must be at least 1 ms")))
            } else {
                Ok(Duration::from_millis(v))
            }
        };
        let size = |v: u64| usize::try_from(v).map_err(|_| Error::invalid("value too large"));
        let s = unsafe { borrow(server, "server") }?;
        match which {
            HS_LIMIT_IDLE_TIMEOUT_MS => {
                let d = ms(value)?;
                s.update_limits(|l| l.idle_timeout = d)
            }
            HS_LIMIT_MAX_CONNECTIONS => {
                let n = size(value)?;
                s.update_limits(|l| l.max_connections = n)
            }
            HS_LIMIT_MAX_HEADER_BYTES => {
                let n = size(value)?;
                s.update_limits(|l| l.max_header_bytes = n)
            }
            HS_LIMIT_MAX_BODY_BYTES => {
                let n = size(value)?;
                s.update_limits(|l| l.max_body_bytes = n)
            }
            HS_LIMIT_WS_MAX_MESSAGE => {
                let n = size(value)?.max(1);
                s.update_limits(|l| l.ws_max_message = n)
            }
            HS_LIMIT_WS_PING_INTERVAL_MS => {
                let d = ms(value)?;
                s.update_limits(|l| l.ws_ping_interval = d)
            }
            HS_LIMIT_WS_PING_TIMEOUT_MS => {
                let d = ms(value)?;
                s.update_limits(|l| l.ws_ping_timeout = d)
            }
            HS_LIMIT_WS_SEND_QUEUE => {
                let n = size(value)?.clamp(1, 1 << 20);
                s.update_limits(|l| l.ws_send_queue = n)
            }
            HS_LIMIT_SHUTDOWN_GRACE_MS => {
                let d = Duration::from_millis(value);
                s.update_limits(|l| l.shutdown_grace = d)
            }
            HS_LIMIT_H2_MAX_STREAMS => {
                let n =
                    u32::try_from(value.max(1)).map_err(|_| Error::invalid("value too large"))?;
                s.update_limits(|l| l.h2_max_streams = n)
            }
        }
        ok()
    })
}

/// Reads one of the `hs_limit` values into `*value`.
/// Returns `HS_OK`, or `HS_ERR_INVALID` for an unknown limit or a NULL `value`.
#[no_mangle]
pub extern "C" fn hs_get_limit(server: *const hs_server, which: c_int, value: *mut u64) -> c_int {
    guard(|| {
        use hs_limit::*;
        let which = limit_of(which)?;
        if value.is_null() {
            return Err(Error::invalid("value is NULL"));
        }
        let l = unsafe { borrow(server, "server") }?.limits();
        let ms = |d: Duration| d.as_millis() as u64;
        let v = match which {
            HS_LIMIT_IDLE_TIMEOUT_MS => ms(l.idle_timeout),
            HS_LIMIT_MAX_CONNECTIONS => l.max_connections as u64,
            HS_LIMIT_MAX_HEADER_BYTES => l.max_header_bytes as u64,
            HS_LIMIT_MAX_BODY_BYTES => l.max_body_bytes as u64,
            HS_LIMIT_WS_MAX_MESSAGE => l.ws_max_message as u64,
            HS_LIMIT_WS_PING_INTERVAL_MS => ms(l.ws_ping_interval),
            HS_LIMIT_WS_PING_TIMEOUT_MS => ms(l.ws_ping_timeout),
            HS_LIMIT_WS_SEND_QUEUE => l.ws_send_queue as u64,
            HS_LIMIT_SHUTDOWN_GRACE_MS => ms(l.shutdown_grace),
            HS_LIMIT_H2_MAX_STREAMS => u64::from(l.h2_max_streams),
        };
        unsafe { put(value, v) };
        ok()
    })
}

/// HTTP/2. `enabled`: offered over TLS by ALPN (`h2`, then `http/1.1`); default 1. `h2c`: on a
/// plain (non-TLS) listener, a connection that opens with the HTTP/2 preface is served as
/// cleartext HTTP/2 ("prior knowledge"; there is no HTTP/1.1 `Upgrade: h2c`); default 1, and
/// only with `enabled`. Everything served on HTTP/1.1 is served on HTTP/2 the same way; a
/// WebSocket may arrive as an extended CONNECT (RFC 8441). Before the first `hs_run`/`hs_poll`
/// (`HS_ERR_STATE` after).
#[no_mangle]
pub extern "C" fn hs_set_http2(server: *mut hs_server, enabled: c_int, h2c: c_int) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.set_http2(flag(enabled), flag(h2c))?;
        ok()
    })
}

/// Connection-required mode (Luminova's `connectionRequired`): a client IP must first
/// `GET /connect` (or be marked with `hs_client_on`); its other requests get NOT_CONNECTED (400)
/// until then. `GET /disconnect` unmarks it. Routes registered for /connect and /disconnect
/// still run (after the marking); without them the engine answers CONNECTED / DISCONNECTED.
/// Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_set_connection_required(server: *mut hs_server, enable: c_int) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.set_connection_required(flag(enable));
        ok()
    })
}

fn client_ip(server: &Server, address: *const c_char) -> Result<IpAddr> {
    if address.is_null() {
        return server.own_ip();
    }
    let a = unsafe { text(address, "address") }?;
    a.trim_matches(['[', ']'])
        .parse()
        .map_err(|_| Error::invalid(format!("'{a}' is not an IP address")))
}

/// Marks a client IP as connected (`address` NULL: the server's own IP, as Luminova's `on()`).
#[no_mangle]
pub extern "C" fn hs_client_on(server: *mut hs_server, address: *const c_char) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        s.client_on(client_ip(s, address)?);
        ok()
    })
}

/// Marks a client IP as disconnected. Returns 1 if it was connected, 0 if not.
#[no_mangle]
pub extern "C" fn hs_client_off(server: *mut hs_server, address: *const c_char) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        Ok(s.client_off(client_ip(s, address)?) as c_int)
    })
}

/// Sets a default header sent with every HTTP response unless the handler sets the same name;
/// replaces an earlier default of that name. `value` NULL removes the default. Luminova's CORS
/// defaults (`Access-Control-Allow-Origin: *`, `-Methods: GET, POST, OPTIONS`,
/// `-Headers: Content-Type`) are set initially. Strings are copied.
#[no_mangle]
pub extern "C" fn hs_set_header(
    server: *mut hs_server,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let name = unsafe { text(name, "header name") }?;
        let value = unsafe { text_or_null(value, "header value") }?;
        s.set_header(name, value)?;
        ok()
    })
}

/// Removes every default header, the CORS defaults included. Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_clear_headers(server: *mut hs_server) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.clear_headers();
        ok()
    })
}
