//! WebSocket
//!
//! hs_websocket() turns upgrades on; hs_accept() registers a route with its open, message and
//! close callbacks, which run on the event-loop thread (a worker thread with hs_set_threads()).
//! A client is named by its connection id from on_open until its on_close. Sending, closing and
//! listing (hs_ws_send(), hs_ws_broadcast*(), hs_ws_close(), hs_ws_count(), hs_ws_clients())
//! are safe from any thread and any callback: messages are copied and queued, and written by the
//! event loop while hs_run()/hs_poll() runs.

use super::convert::{
    bytes, c_string, copy_text_out, flag, put, struct_arg, text, text_or_null, OutArray, UserData,
};
use super::guard::{guard, ok};
use super::handles::{borrow, hs_request, hs_server, lend};
use crate::engine::{Error, Request, Result, WsHandler};
use bytes::Bytes;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;

/// A client finished the upgrade on an accept route. `req` is the upgrade request (path,
/// headers, captures, peer), valid only during the call. `conn_id` identifies the client for
/// `hs_ws_send`/`hs_ws_close` until its close callback. Runs on the event-loop thread (a worker
/// thread with `hs_set_threads`), before any message of that client.
#[allow(non_camel_case_types)]
pub type hs_ws_open_cb = Option<
    unsafe extern "C-unwind" fn(user_data: *mut c_void, conn_id: u64, req: *const hs_request),
>;

/// A whole message (fragments joined, text already checked to be UTF-8). `data` is bytes
/// (`uint8_t`, so that a host like PHP FFI does not read it as a C string), not
/// NUL-terminated, and is valid only during the call. `is_binary` is 1 for binary, 0 for text.
/// Runs on the event-loop thread (a worker thread with `hs_set_threads`), in arrival order.
#[allow(non_camel_case_types)]
pub type hs_ws_message_cb = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        conn_id: u64,
        data: *const u8,
        len: usize,
        is_binary: c_int,
    ),
>;

/// The client is gone. `code` is the close code it sent or that the server sent (1001 on
/// shutdown, 1007 bad UTF-8, 1009 too big, 1002 protocol error, 1008 send queue full), 1005 for
/// a Close without code, 1006 when the connection just ended. `reason` is NUL-terminated, valid
/// only during the call. Runs on the event-loop thread, once per client, also at shutdown (but
/// not for the clients dropped by `hs_free`).
#[allow(non_camel_case_types)]
pub type hs_ws_close_cb = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        conn_id: u64,
        code: c_int,
        reason: *const c_char,
    ),
>;

/// The callbacks of one accept route; any may be NULL. Copied by `hs_accept`.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct hs_ws_handlers {
    pub on_open: hs_ws_open_cb,
    pub on_message: hs_ws_message_cb,
    pub on_close: hs_ws_close_cb,
}

struct CWs {
    open: hs_ws_open_cb,
    message: hs_ws_message_cb,
    close: hs_ws_close_cb,
    user_data: UserData,
}

impl WsHandler for CWs {
    fn on_open(&self, conn_id: u64, req: &Request) {
        if let Some(f) = self.open {
            // SAFETY: host-registered function and user_data; `req` lives for the call.
            unsafe { f(self.user_data.0, conn_id, lend(req)) }
        }
    }
    fn on_message(&self, conn_id: u64, data: &[u8], binary: bool) {
        if let Some(f) = self.message {
            // SAFETY: as above; `data` lives for the call.
            unsafe {
                f(
                    self.user_data.0,
                    conn_id,
                    data.as_ptr(),
                    data.len(),
                    binary as c_int,
                )
            }
        }
    }
    fn on_close(&self, conn_id: u64, code: u16, reason: &str) {
        if let Some(f) = self.close {
            let reason = c_string(reason);
            // SAFETY: as above.
            unsafe { f(self.user_data.0, conn_id, code as c_int, reason.as_ptr()) }
        }
    }
}

/// Turns WebSocket support on or off (off by default, as in Luminova). While off, upgrade
/// requests are routed as plain HTTP requests. Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_websocket(server: *mut hs_server, enable: c_int) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.set_websocket(flag(enable));
        ok()
    })
}

/// Registers a WebSocket route: upgrade requests whose path matches `pattern` (same rules as
/// `hs_route`) become clients of this route. An upgrade on a path with no accept route gets 404;
/// a bad Sec-WebSocket-Key gets 400, a version other than 13 gets 426: never a half-open socket.
/// `handlers` is copied; `user_data` must stay valid until `hs_free`.
///
/// Returns the route id (>= 0) for `hs_ws_broadcast_route`, or a negative status.
#[no_mangle]
pub extern "C" fn hs_accept(
    server: *mut hs_server,
    pattern: *const c_char,
    handlers: *const hs_ws_handlers,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let pattern = unsafe { text(pattern, "pattern") }?;
        let h = unsafe { struct_arg(handlers, "handlers") }?;
        let cws = CWs {
            open: h.on_open,
            message: h.on_message,
            close: h.on_close,
            user_data: UserData(user_data),
        };
        Ok(s.accept(pattern, Arc::new(cws))? as c_int)
    })
}

pub(super) unsafe fn message(data: *const c_char, len: usize, is_binary: c_int) -> Result<Message> {
    let bytes = bytes(data, len, "data")?;
    if flag(is_binary) {
        Ok(Message::Binary(Bytes::copy_from_slice(bytes)))
    } else {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::invalid("text message is not valid UTF-8"))?;
        Ok(Message::text(text))
    }
}

/// Queues a message for one client (`data`, `len` bytes, is copied). Text must be UTF-8
/// (`HS_ERR_INVALID` otherwise). Returns `HS_OK` once queued;
/// `HS_ERR_NOT_FOUND` if the client is gone; `HS_ERR_FULL` if its queue is full (it is dropped).
#[no_mangle]
pub extern "C" fn hs_ws_send(
    server: *mut hs_server,
    conn_id: u64,
    data: *const c_char,
    len: usize,
    is_binary: c_int,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let msg = unsafe { message(data, len, is_binary) }?;
        s.ws_send(conn_id, msg)?;
        ok()
    })
}

/// Queues a message for every client except `except_conn` (0 = none). The payload is copied
/// once and shared. Returns how many clients it was queued for. Clients whose queue is full are
/// dropped, so a broadcast never waits for a slow client.
#[no_mangle]
pub extern "C" fn hs_ws_broadcast(
    server: *mut hs_server,
    data: *const c_char,
    len: usize,
    is_binary: c_int,
    except_conn: u64,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let msg = unsafe { message(data, len, is_binary) }?;
        let except = (except_conn != 0).then_some(except_conn);
        Ok(s.ws_broadcast(msg, except, None) as c_int)
    })
}

/// As `hs_ws_broadcast`, to the clients of one accept route only (`route_id` from `hs_accept`).
/// Returns how many clients it was queued for, or a negative status.
#[no_mangle]
pub extern "C" fn hs_ws_broadcast_route(
    server: *mut hs_server,
    route_id: c_int,
    data: *const c_char,
    len: usize,
    is_binary: c_int,
    except_conn: u64,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let route = u32::try_from(route_id).map_err(|_| Error::invalid("route id must be >= 0"))?;
        let msg = unsafe { message(data, len, is_binary) }?;
        let except = (except_conn != 0).then_some(except_conn);
        Ok(s.ws_broadcast(msg, except, Some(route)) as c_int)
    })
}

/// Starts the close handshake with a client: `code` 1000-1003, 1007-1014 or 3000-4999, `reason`
/// (may be NULL) at most 123 bytes of UTF-8. The close callback follows when the client is gone.
#[no_mangle]
pub extern "C" fn hs_ws_close(
    server: *mut hs_server,
    conn_id: u64,
    code: c_int,
    reason: *const c_char,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let reason = unsafe { text_or_null(reason, "reason") }?.unwrap_or("");
        let code = u16::try_from(code)
            .map_err(|_| Error::invalid(format!("close code {code} is invalid")))?;
        s.ws_close(conn_id, code, reason)?;
        ok()
    })
}

fn route_filter(route_id: c_int) -> Option<u32> {
    u32::try_from(route_id).ok()
}

/// How many WebSocket clients are connected (to route `route_id`, or all with -1), in every
/// process: this one, the other workers of a cluster and the other nodes (hs_redis()).
#[no_mangle]
pub extern "C" fn hs_ws_count(server: *const hs_server, route_id: c_int) -> c_int {
    guard(|| Ok(unsafe { borrow(server, "server") }?.ws_count(route_filter(route_id)) as c_int))
}

/// Lists connected client ids (of route `route_id`, or all with -1) of every process, in id
/// order (connection order within a process). Writes
/// at most `cap` ids to `ids` (which may be NULL when `cap` is 0) and returns the total count, so
/// a caller can size its array and call again.
#[no_mangle]
pub extern "C" fn hs_ws_clients(
    server: *const hs_server,
    route_id: c_int,
    ids: *mut u64,
    cap: usize,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let ids = unsafe { OutArray::new(ids, cap, "ids") }?;
        let list = s.ws_clients(route_filter(route_id));
        Ok(ids.fill(list.iter().copied()) as c_int)
    })
}

/// Copies a client's IP address into `buf` (NUL-terminated, truncated to `cap`) and its port into
/// `*port` (may be NULL). Returns the address length (like snprintf), or `HS_ERR_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn hs_ws_client_peer(
    server: *const hs_server,
    conn_id: u64,
    buf: *mut c_char,
    cap: usize,
    port: *mut u16,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let info = s
            .ws_client(conn_id)
            .ok_or_else(|| Error::not_found(format!("no WebSocket client with id {conn_id}")))?;
        unsafe { put(port, info.peer.port()) };
        unsafe { copy_text_out(&info.peer.ip().to_string(), buf, cap) }
    })
}

/// Copies the path a client connected on into `buf` (NUL-terminated, truncated to `cap`).
/// Returns the path length (like snprintf), or `HS_ERR_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn hs_ws_client_path(
    server: *const hs_server,
    conn_id: u64,
    buf: *mut c_char,
    cap: usize,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let info = s
            .ws_client(conn_id)
            .ok_or_else(|| Error::not_found(format!("no WebSocket client with id {conn_id}")))?;
        unsafe { copy_text_out(&info.path, buf, cap) }
    })
}

/// Keeps (non-zero) or not (0, the default) each WebSocket client's upgrade request, packed, for
/// `hs_ws_client_head`: a few hundred bytes per client (more with a browser's headers), paid
/// only by a host that reads them. Applies to clients that connect afterwards. Returns `HS_OK`.
#[no_mangle]
pub extern "C" fn hs_ws_keep_heads(server: *mut hs_server, enable: c_int) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.set_ws_keep_heads(flag(enable));
        ok()
    })
}

/// Copies the packed head of a client's upgrade request (the format of `hs_request_packed`)
/// into `buf`: at most `cap` bytes, no NUL added (`buf` may be NULL when `cap` is 0). Returns the
/// head's full length, so a caller with a small buffer can size one and call again;
/// `HS_ERR_NOT_FOUND` for no such client; `HS_ERR_STATE` when heads are not kept
/// (`hs_ws_keep_heads`, off by default). Works for the clients of this process, also inside a
/// client's own `on_close` callback (on the thread running it), so a host needs no registry of
/// its own; for another process's client (another worker or node) it gives the head without its
/// headers (the `headers` field empty), which every process keeps.
#[no_mangle]
pub extern "C" fn hs_ws_client_head(
    server: *const hs_server,
    conn_id: u64,
    buf: *mut u8,
    cap: usize,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let buf = unsafe { OutArray::new(buf, cap, "buf") }?;
        s.ws_client_head(conn_id, |head| buf.copy(head) as c_int)
    })
}

/// permessage-deflate (RFC 7692), for clients that connect afterwards. Returns `HS_OK`, or
/// `HS_ERR_INVALID` for a `max_window_bits` outside 8-15.
///
/// - `enabled`: negotiate it when a client offers it (default 1; browsers always offer it).
/// - `min_size`: outgoing messages shorter than this go out uncompressed (default 256), as do
///   messages that do not shrink.
/// - `context_takeover`: 0 (default) answers `server_no_context_takeover;
///   client_no_context_takeover`: no zlib state per connection (each thread shares a compressor
///   and a decompressor, reset per message; a broadcast is compressed once per thread, not per
///   client); an idle compressed client costs about 300 bytes more than an uncompressed one.
///   1 keeps a zlib stream per connection when the client allows it (better ratio on similar
///   messages, but about 340 KiB per connection once it exchanged compressed messages).
/// - `max_window_bits`: the largest LZ77 window the server compresses with, 8-15 (default 15;
///   8 compresses with 9, zlib's smallest raw-deflate window).
///
/// A compressed message that would inflate past `HS_LIMIT_WS_MAX_MESSAGE` is closed with 1009
/// as soon as the inflated bytes pass the limit; data that does not inflate is closed with
/// 1007; RSV1 on a control or continuation frame with 1002.
#[no_mangle]
pub extern "C" fn hs_set_ws_deflate(
    server: *mut hs_server,
    enabled: c_int,
    min_size: usize,
    context_takeover: c_int,
    max_window_bits: c_int,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        s.set_ws_deflate(
            flag(enabled),
            min_size,
            flag(context_takeover),
            max_window_bits.into(),
        )?;
        ok()
    })
}
