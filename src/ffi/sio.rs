//! Socket.IO
//!
//! hs_sio_enable() serves Socket.IO v5 over Engine.IO v4 under a path (`/socket.io/` by
//! default): long-polling and WebSocket transports, the upgrade between them, heartbeats,
//! namespaces, events with JSON arguments and binary attachments, acknowledgements both ways,
//! rooms. npm `socket.io-client` 4.x and other v5 clients connect unchanged.
//!
//! Each namespace a client connects is a socket: a client of the world like a WebSocket client,
//! with an id (`uint64_t`) valid from its connect callback until its disconnect callback. The
//! WebSocket calls work on it: hs_ws_join()/hs_ws_leave() put it in a room (rooms are
//! channels), hs_ws_send() emits the event "message" to it, hs_ws_close() disconnects it,
//! hs_ws_client_record()/hs_ws_client_head() describe it, hs_ws_count()/hs_ws_clients() count
//! it. Emits reach sockets on every worker and node; a room emit reaches the room's sockets of
//! the namespace only. The WebSocket admission applies to the Engine.IO handshake
//! (hs_ws_set_origins(), hs_ws_authorize(): its user and channels go to every socket of the
//! session). The client-visible socket id (`socket.id`) is hs_sio_sid().
//!
//! Arguments travel as JSON arrays (`[1,"a",{"b":true}]`); a binary argument is a placeholder
//! `{"_placeholder":true,"num":N}` in the array and the bytes are attachment N.
//!
//! Callbacks run on the event-loop thread (a worker thread with hs_set_threads()), like every
//! other callback. The emitting calls are safe from any thread and any callback.

use super::convert::{bytes, copy_text_out, put, struct_arg, text, text_or_null, UserData};
use super::guard::{guard, ok};
use super::handles::{borrow, borrow_mut, hs_admission, hs_request, hs_server, lend, lend_mut};
use crate::engine::sio::codec;
use crate::engine::sio::{SioConfig, SioHandler};
use crate::engine::{Admission, Error, Request, Result, Verdict};
use bytes::Bytes;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

/// A binary attachment: `len` bytes at `data`, borrowed (valid for the call it is passed to).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct hs_bytes {
    pub data: *const u8,
    pub len: usize,
}

/// Socket.IO settings; a zero field takes Engine.IO's default.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct hs_sio_options {
    /// Where Socket.IO is served; NULL: "/socket.io/".
    pub path: *const c_char,
    /// How often the server pings (default 25000 ms).
    pub ping_interval_ms: u32,
    /// How long a pong may take before the session ends with "ping timeout" (default 20000 ms).
    pub ping_timeout_ms: u32,
    /// Most bytes of a polling request's body or a WebSocket message (default 1000000). A bigger
    /// polling body gets 413 and ends the session; a bigger WebSocket message closes it (1009).
    pub max_payload: u32,
    /// How long a session may stay without a connected namespace (default 45000 ms).
    pub connect_timeout_ms: u32,
    /// Connection state recovery (Socket.IO 4.6+ clients): how long a socket whose connection
    /// was lost ("transport close", "transport error", "ping timeout") is kept, in its rooms
    /// and with what is sent to it queued, for its client to reconnect and get it back (same
    /// id, rooms and user, then what it missed; `socket.recovered` is true on the client). Its
    /// disconnect callback runs only when the time is over without a reconnect, and the connect
    /// callback does not run for a recovery. 0: off (the default, as in Socket.IO). Within one
    /// process: a reconnect that reaches another worker gets a new socket.
    pub recovery_ms: u32,
}

/// A client asks to connect the namespace. `socket_id` is the socket's id if it is accepted;
/// `req` the Engine.IO handshake request (headers, cookies, query, peer); `auth` the CONNECT
/// packet's JSON payload (`auth_len` 0 when none); `admission` takes the socket's user
/// (`hs_admission_user`), its rooms (`hs_admission_join`) and a refusal's message
/// (`hs_admission_refuse`). Emits to `socket_id` during the call are sent after the connect
/// answer. Return 1 to accept, 0 to refuse (the client's `connect_error` gets the message, "Not
/// authorized" by default), negative when the host's code failed ("Internal server error").
/// `req`, `auth` and `admission` are valid only during the call.
#[allow(non_camel_case_types)]
pub type hs_sio_connect_cb = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        socket_id: u64,
        req: *const hs_request,
        auth: *const u8,
        auth_len: usize,
        admission: *mut hs_admission,
    ) -> c_int,
>;

/// An event: `event` (`event_len` bytes of UTF-8, not NUL-terminated: bytes, so that a host
/// like PHP FFI does not read it as a C string), its arguments `args` (a
/// JSON array, `args_len` bytes) and binary `attachments`. `ack_id` >= 0: the client waits for
/// `hs_sio_ack(server, socket_id, ack_id, ...)`, during the call or later; -1: no ack. All
/// pointers are valid only during the call.
#[allow(non_camel_case_types)]
pub type hs_sio_event_cb = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        socket_id: u64,
        event: *const u8,
        event_len: usize,
        args: *const u8,
        args_len: usize,
        attachments: *const hs_bytes,
        n_attachments: usize,
        ack_id: i64,
    ),
>;

/// The answer to `hs_sio_emit_to(..., &token)`: the client's arguments (a JSON array) and
/// attachments; `args` NULL when the timeout passed or the socket went away first. Called once
/// per token, in the process that emitted. Pointers valid only during the call.
#[allow(non_camel_case_types)]
pub type hs_sio_ack_cb = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        socket_id: u64,
        token: u64,
        args: *const u8,
        args_len: usize,
        attachments: *const hs_bytes,
        n_attachments: usize,
    ),
>;

/// The socket is gone. `reason` (NUL-terminated, valid during the call) is Socket.IO's: "client
/// namespace disconnect", "server namespace disconnect", "transport close", "transport error",
/// "ping timeout", "parse error", "server shutting down", "forced close". Its record and head
/// are still readable during the call.
#[allow(non_camel_case_types)]
pub type hs_sio_disconnect_cb = Option<
    unsafe extern "C-unwind" fn(user_data: *mut c_void, socket_id: u64, reason: *const c_char),
>;

/// The callbacks of one namespace; any may be NULL (no connect callback: every client is
/// accepted). Copied by `hs_sio_namespace`.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct hs_sio_handlers {
    pub on_connect: hs_sio_connect_cb,
    pub on_event: hs_sio_event_cb,
    pub on_ack: hs_sio_ack_cb,
    pub on_disconnect: hs_sio_disconnect_cb,
}

struct CSio {
    connect: hs_sio_connect_cb,
    event: hs_sio_event_cb,
    ack: hs_sio_ack_cb,
    disconnect: hs_sio_disconnect_cb,
    user_data: UserData,
}

fn views(list: &[Bytes]) -> Vec<hs_bytes> {
    list.iter()
        .map(|b| hs_bytes {
            data: b.as_ptr(),
            len: b.len(),
        })
        .collect()
}

impl SioHandler for CSio {
    fn on_connect(
        &self,
        socket_id: u64,
        req: &Request,
        auth: &[u8],
        admission: &mut Admission,
    ) -> Verdict {
        let Some(f) = self.connect else {
            return Verdict::Accept;
        };
        // SAFETY: host-registered function and user_data; the handles live for the call.
        let rc = unsafe {
            f(
                self.user_data.0,
                socket_id,
                lend(req),
                auth.as_ptr(),
                auth.len(),
                lend_mut(admission),
            )
        };
        match rc {
            1.. => Verdict::Accept,
            0 => Verdict::Refuse,
            _ => Verdict::Failed,
        }
    }

    fn on_event(
        &self,
        socket_id: u64,
        event: &str,
        args: &[u8],
        attachments: &[Bytes],
        ack: Option<i64>,
    ) {
        if let Some(f) = self.event {
            let atts = views(attachments);
            // SAFETY: as above; every pointer lives for the call.
            unsafe {
                f(
                    self.user_data.0,
                    socket_id,
                    event.as_ptr(),
                    event.len(),
                    args.as_ptr(),
                    args.len(),
                    atts.as_ptr(),
                    atts.len(),
                    ack.unwrap_or(-1),
                )
            }
        }
    }

    fn on_ack(&self, socket_id: u64, token: u64, reply: Option<(&[u8], &[Bytes])>) {
        if let Some(f) = self.ack {
            let (args, atts) = match reply {
                Some((a, b)) => (a.as_ptr(), views(b)),
                None => (std::ptr::null(), Vec::new()),
            };
            let len = reply.map_or(0, |(a, _)| a.len());
            // SAFETY: as above.
            unsafe {
                f(
                    self.user_data.0,
                    socket_id,
                    token,
                    args,
                    len,
                    atts.as_ptr(),
                    atts.len(),
                )
            }
        }
    }

    fn on_disconnect(&self, socket_id: u64, reason: &str) {
        if let Some(f) = self.disconnect {
            let reason = super::convert::c_string(reason);
            // SAFETY: as above.
            unsafe { f(self.user_data.0, socket_id, reason.as_ptr()) }
        }
    }
}

/// `n` attachments, copied.
///
/// # Safety
/// `list` is NULL (with `n` 0) or points to `n` hs_bytes, each pointing to `len` readable bytes.
unsafe fn attachments(list: *const hs_bytes, n: usize) -> Result<Vec<Bytes>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if list.is_null() {
        return Err(Error::invalid(format!(
            "attachments is NULL but n_attachments is {n}"
        )));
    }
    (0..n)
        .map(|i| {
            let b = &*list.add(i);
            bytes(b.data.cast(), b.len, &format!("attachments[{i}]")).map(Bytes::copy_from_slice)
        })
        .collect()
}

/// Serves Socket.IO (see the section). `options` NULL takes every default. Calling it again
/// changes the settings for sessions made afterwards. Returns `HS_OK`, or `HS_ERR_INVALID` (a
/// path not beginning with "/").
#[no_mangle]
pub extern "C" fn hs_sio_enable(server: *mut hs_server, options: *const hs_sio_options) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let mut cfg = SioConfig::default();
        if let Some(o) = unsafe { options.as_ref() } {
            if let Some(p) = unsafe { text_or_null(o.path, "options.path") }? {
                cfg.path = p.into();
            }
            let ms = |v: u32, d: Duration| {
                if v == 0 {
                    d
                } else {
                    Duration::from_millis(v.into())
                }
            };
            cfg.ping_interval = ms(o.ping_interval_ms, cfg.ping_interval);
            cfg.ping_timeout = ms(o.ping_timeout_ms, cfg.ping_timeout);
            cfg.connect_timeout = ms(o.connect_timeout_ms, cfg.connect_timeout);
            cfg.recovery = (o.recovery_ms > 0).then(|| Duration::from_millis(o.recovery_ms.into()));
            if o.max_payload > 0 {
                cfg.max_payload = o.max_payload as usize;
            }
        }
        s.sio_enable(cfg)?;
        ok()
    })
}

/// Registers namespace `nsp` ("/" is the default namespace, which exists even unregistered: its
/// sockets connect and their events are dropped; "/name" another; no comma or control
/// character), or replaces its callbacks. `handlers` is copied; `user_data` must stay valid
/// until `hs_free`. Returns the namespace's route id (>= 0: the `route` of its sockets'
/// records, the target of `hs_sio_emit`), or a negative status (`HS_ERR_STATE` before
/// `hs_sio_enable`).
#[no_mangle]
pub extern "C" fn hs_sio_namespace(
    server: *mut hs_server,
    nsp: *const c_char,
    handlers: *const hs_sio_handlers,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let nsp = unsafe { text(nsp, "nsp") }?;
        let h = unsafe { struct_arg(handlers, "handlers") }?;
        let c = CSio {
            connect: h.on_connect,
            event: h.on_event,
            ack: h.on_ack,
            disconnect: h.on_disconnect,
            user_data: UserData(user_data),
        };
        Ok(s.sio_namespace(nsp, Arc::new(c))? as c_int)
    })
}

/// Refuses the connect being decided (from a connect callback): the client's `connect_error`
/// gets `message` (at most 1024 bytes) and, if `data` is not NULL, `data_len` bytes of JSON as
/// its `data`. Return 0 from the callback afterwards.
#[no_mangle]
pub extern "C" fn hs_admission_refuse(
    admission: *mut hs_admission,
    message: *const c_char,
    data: *const u8,
    data_len: usize,
) -> c_int {
    guard(|| {
        let a = unsafe { borrow_mut(admission, "admission") }?;
        let message = unsafe { text(message, "message") }?;
        let data = (!data.is_null())
            .then(|| unsafe { bytes(data.cast(), data_len, "data") })
            .transpose()?;
        a.refuse(message, data)?;
        ok()
    })
}

/// Emits `event` with `args` (a JSON array; NULL/0: no arguments) and `attachments` to every
/// socket of namespace `nsp_route` (`room` NULL) or to the sockets of that namespace in `room`,
/// on every worker and node, except socket `except_id` (0: none). Returns how many sockets of
/// this process got it (>= 0), or `HS_ERR_INVALID` (args not a JSON array, an empty event name),
/// `HS_ERR_NOT_FOUND` (no such namespace).
#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub extern "C" fn hs_sio_emit(
    server: *mut hs_server,
    nsp_route: c_int,
    room: *const c_char,
    except_id: u64,
    event: *const c_char,
    args: *const u8,
    args_len: usize,
    attachments_: *const hs_bytes,
    n_attachments: usize,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let route =
            u32::try_from(nsp_route).map_err(|_| Error::invalid("nsp_route must be >= 0"))?;
        let room = unsafe { text_or_null(room, "room") }?;
        let event = unsafe { text(event, "event") }?;
        let args = unsafe { bytes(args.cast(), args_len, "args") }?;
        let atts = unsafe { attachments(attachments_, n_attachments) }?;
        let except = (except_id != 0).then_some(except_id);
        Ok(s.sio().emit(route, room, except, event, args, atts)? as c_int)
    })
}

/// Emits `event` to one socket, of any worker or node. `ack_token` NULL: no acknowledgement is
/// asked. Otherwise a token is written there and the namespace's `on_ack` is called once with
/// it: with the client's answer, or with NULL args after `ack_timeout_ms` (0: no timeout, until
/// the socket goes away). A timeout is set only from the event-loop thread (a callback):
/// elsewhere it is `HS_ERR_STATE`. Returns `HS_OK`, `HS_ERR_NOT_FOUND` (no such socket),
/// `HS_ERR_INVALID` (bad args, a WebSocket client's id), `HS_ERR_FULL` (its queue is full).
#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub extern "C" fn hs_sio_emit_to(
    server: *mut hs_server,
    socket_id: u64,
    event: *const c_char,
    args: *const u8,
    args_len: usize,
    attachments_: *const hs_bytes,
    n_attachments: usize,
    ack_timeout_ms: u32,
    ack_token: *mut u64,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let event = unsafe { text(event, "event") }?;
        let args = unsafe { bytes(args.cast(), args_len, "args") }?;
        let atts = unsafe { attachments(attachments_, n_attachments) }?;
        let ask = !ack_token.is_null();
        let timeout = (ack_timeout_ms > 0).then(|| Duration::from_millis(ack_timeout_ms.into()));
        let token = s
            .sio()
            .emit_to(socket_id, event, args, atts, ask, timeout)?;
        if let Some(t) = token {
            unsafe { put(ack_token, t) };
        }
        ok()
    })
}

/// Acknowledges event `ack_id` of socket `socket_id` (any worker or node) with `args` (a JSON
/// array; NULL/0: none) and `attachments`. Returns `HS_OK`, `HS_ERR_NOT_FOUND`,
/// `HS_ERR_INVALID`.
#[no_mangle]
pub extern "C" fn hs_sio_ack(
    server: *mut hs_server,
    socket_id: u64,
    ack_id: i64,
    args: *const u8,
    args_len: usize,
    attachments_: *const hs_bytes,
    n_attachments: usize,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let args = unsafe { bytes(args.cast(), args_len, "args") }?;
        let atts = unsafe { attachments(attachments_, n_attachments) }?;
        s.sio().ack(socket_id, ack_id, args, atts)?;
        ok()
    })
}

/// Writes socket `socket_id`'s client-visible id (`socket.id`, 11 characters) into `buf`
/// (NUL-terminated, truncated to `cap`); returns its length, as snprintf does. Any id gives its
/// sid: it does not check that the socket exists.
#[no_mangle]
pub extern "C" fn hs_sio_sid(
    _server: *const hs_server,
    socket_id: u64,
    buf: *mut c_char,
    cap: usize,
) -> c_int {
    guard(|| unsafe { copy_text_out(&codec::socket_sid(socket_id), buf, cap) })
}

/// The socket id behind a client-visible sid, written to `socket_id`. Returns `HS_OK`, or
/// `HS_ERR_INVALID` for text that is no sid of ours.
#[no_mangle]
pub extern "C" fn hs_sio_socket(
    _server: *const hs_server,
    sid: *const c_char,
    socket_id: *mut u64,
) -> c_int {
    guard(|| {
        let sid = unsafe { text(sid, "sid") }?;
        let id = codec::socket_id(sid)
            .ok_or_else(|| Error::invalid(format!("{sid:?} is not a socket id")))?;
        unsafe { put(socket_id, id) };
        ok()
    })
}

/// Writes the namespace of socket `socket_id` (any worker or node) into `buf` as
/// `hs_sio_sid` does; returns its length, or `HS_ERR_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn hs_sio_namespace_of(
    server: *const hs_server,
    socket_id: u64,
    buf: *mut c_char,
    cap: usize,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let ns = s.sio().namespace_of(socket_id)?;
        unsafe { copy_text_out(&ns.name, buf, cap) }
    })
}
