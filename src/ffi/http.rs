//! HTTP routes, the request and response handles given to handlers, and the error/response hooks.

use super::boundary::*;
use crate::engine::{
    Answer, Error, ErrorHandler, Field, HttpHandler, Request, Response, ResponseFilter, Result,
};
use bytes::Bytes;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

/// Opaque request handle given to a handler. Valid only during that callback; every pointer read
/// from it stays valid until the callback returns. Read-only.
///
/// The `hs_request_*` string accessors return text that is NUL-terminated, owned by the request,
/// as received on the wire (not validated as UTF-8), and valid until the callback returns; their
/// `len` out-parameter (may be NULL) receives the length without the NUL. The body is the
/// exception: it is not NUL-terminated and may contain NUL bytes.
#[allow(non_camel_case_types)]
pub struct hs_request {
    _opaque: [u8; 0],
}

/// Opaque response handle given to a handler, to fill in. Valid only during that callback.
#[allow(non_camel_case_types)]
pub struct hs_response {
    _opaque: [u8; 0],
}

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
}

fn answer_of(kind: Answer) -> hs_answer {
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
    }
}

fn answer_arg(kind: c_int) -> Result<Answer> {
    Answer::from_code(kind).ok_or_else(|| Error::invalid(format!("unknown answer kind {kind}")))
}

/// An HTTP handler: read `req`, fill `res` (an untouched `res` sends Luminova's default
/// 200 "Hello world!"). Runs on the thread inside `hs_run`/`hs_poll` (or a worker thread with
/// `hs_set_threads`). `req` and `res` are valid only during the call. Declared `C-unwind` so that
/// a Rust host's panic is caught (answered with 500) instead of aborting.
#[allow(non_camel_case_types)]
pub type hs_handler = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        req: *const hs_request,
        res: *mut hs_response,
    ),
>;

/// An HTTP handler that receives the request packed in two buffers instead of a request
/// handle: the head (see `hs_request_packed` for its format) and the body. The fast path for
/// hosts that pay for every call across the boundary (PHP FFI: one `FFI::string` for the head,
/// one more only when there is a body, no accessor calls). `head` is followed by a NUL not
/// counted in `head_len`; `body` is bytes (not NUL-terminated; a valid pointer even when empty).
/// Both are valid only during the call. Same thread rules as `hs_handler`.
#[allow(non_camel_case_types)]
pub type hs_packed_handler = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        head: *const u8,
        head_len: usize,
        body: *const u8,
        body_len: usize,
        res: *mut hs_response,
    ),
>;

/// Shapes an error answer (kinds `HS_ANSWER_NOT_FOUND` to `HS_ANSWER_PAYLOAD_TOO_LARGE`). `res`
/// starts empty; if the callback sets nothing, the engine's answer of that kind is sent. `req`
/// has no body for errors found before the body was read.
#[allow(non_camel_case_types)]
pub type hs_error_handler = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        req: *const hs_request,
        kind: hs_answer,
        res: *mut hs_response,
    ),
>;

/// Sees every HTTP response (not the 101 of a WebSocket upgrade) before it is sent; may read and
/// replace status, headers and body through `res` (`hs_response_body`, `hs_response_set_body`).
/// Content-Length always follows the final body.
#[allow(non_camel_case_types)]
pub type hs_response_filter = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        req: *const hs_request,
        res: *mut hs_response,
    ),
>;

struct CHandler(
    unsafe extern "C-unwind" fn(*mut c_void, *const hs_request, *mut hs_response),
    UserData,
);

impl HttpHandler for CHandler {
    fn handle(&self, req: &Request, res: &mut Response) {
        // SAFETY: the host registered this function and user_data; the handles live for the call.
        unsafe { (self.0)(self.1 .0, req_ptr(req), res_ptr(res)) }
    }
}

struct CPackedHandler(
    unsafe extern "C-unwind" fn(*mut c_void, *const u8, usize, *const u8, usize, *mut hs_response),
    UserData,
);

thread_local! {
    /// The buffer the packed head is written into, reused from request to request on a thread
    /// (taken while in use, so a nested use could only get a new one).
    static HEAD: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl HttpHandler for CPackedHandler {
    fn handle(&self, req: &Request, res: &mut Response) {
        let mut head = HEAD.take();
        head.clear();
        // Written with the NUL the format promises after the head (not counted in head_len).
        req.write_packed_head(&mut head);
        let body = bytes_out(&req.body, std::ptr::null_mut());
        // SAFETY: host-registered function and user_data; `head`, the body and `res` live for
        // the call.
        unsafe {
            (self.0)(
                self.1 .0,
                head.as_ptr(),
                head.len() - 1,
                body,
                req.body.len(),
                res_ptr(res),
            )
        }
        if head.capacity() <= 64 * 1024 {
            HEAD.set(head);
        }
    }
}

struct CErrorHandler(
    unsafe extern "C-unwind" fn(*mut c_void, *const hs_request, hs_answer, *mut hs_response),
    UserData,
);

impl ErrorHandler for CErrorHandler {
    fn on_error(&self, req: &Request, kind: Answer, res: &mut Response) {
        // SAFETY: as for CHandler.
        unsafe { (self.0)(self.1 .0, req_ptr(req), answer_of(kind), res_ptr(res)) }
    }
}

struct CFilter(
    unsafe extern "C-unwind" fn(*mut c_void, *const hs_request, *mut hs_response),
    UserData,
);

impl ResponseFilter for CFilter {
    fn filter(&self, req: &Request, res: &mut Response) {
        // SAFETY: as for CHandler.
        unsafe { (self.0)(self.1 .0, req_ptr(req), res_ptr(res)) }
    }
}

pub(crate) fn req_ptr(r: &Request) -> *const hs_request {
    r as *const Request as *const hs_request
}

fn res_ptr(r: &mut Response) -> *mut hs_response {
    r as *mut Response as *mut hs_response
}

unsafe fn req<'a>(p: *const hs_request) -> Result<&'a Request> {
    if p.is_null() {
        return Err(Error::invalid("request handle is NULL"));
    }
    Ok(&*(p as *const Request))
}

unsafe fn res<'a>(p: *mut hs_response) -> Result<&'a mut Response> {
    if p.is_null() {
        return Err(Error::invalid("response handle is NULL"));
    }
    Ok(&mut *(p as *mut Response))
}

/// Registers an HTTP route. `methods`: `"GET"`, `"GET|POST"`, … or `"ALL"` / `"*"` for any (HEAD
/// is answered by a GET route, without a body). `pattern`: Luminova's form, an anchored regular
/// expression over the request path with `{name}` segments as captures: `"/user/{id}"`,
/// `"/ws(?:/.*)?"`. Both the pattern and the path are compared as `'/' + trim(path, '/')`.
/// Routes naming the method are tried before `ALL` routes; within each, the first registered
/// match wins. Strings are copied; `user_data` is passed back to `handler` and must stay valid
/// until `hs_free`.
///
/// Returns the route id (>= 0), or `HS_ERR_PATTERN` for a pattern that does not compile (the
/// message quotes it), `HS_ERR_INVALID` for a bad method list or a NULL handler.
#[no_mangle]
pub extern "C" fn hs_route(
    server: *mut hs_server,
    methods: *const c_char,
    pattern: *const c_char,
    handler: hs_handler,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { live_server(server) }?;
        let methods = unsafe { text(methods, "methods") }?;
        let pattern = unsafe { text(pattern, "pattern") }?;
        let handler = handler.ok_or_else(|| Error::invalid("handler is NULL"))?;
        Ok(s.route(
            methods,
            pattern,
            Arc::new(CHandler(handler, UserData(user_data))),
        )? as c_int)
    })
}

/// As `hs_route`, with a handler that receives the request packed in one buffer
/// (`hs_packed_handler`). Returns the route id (>= 0) or a negative status.
#[no_mangle]
pub extern "C" fn hs_route_packed(
    server: *mut hs_server,
    methods: *const c_char,
    pattern: *const c_char,
    handler: hs_packed_handler,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { live_server(server) }?;
        let methods = unsafe { text(methods, "methods") }?;
        let pattern = unsafe { text(pattern, "pattern") }?;
        let handler = handler.ok_or_else(|| Error::invalid("handler is NULL"))?;
        let h = CPackedHandler(handler, UserData(user_data));
        Ok(s.route(methods, pattern, Arc::new(h))? as c_int)
    })
}

/// Sets (or with NULL removes) the error hook. See `hs_error_handler`.
#[no_mangle]
pub extern "C" fn hs_on_error(
    server: *mut hs_server,
    handler: hs_error_handler,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { live_server(server) }?;
        s.set_on_error(
            handler
                .map(|h| Arc::new(CErrorHandler(h, UserData(user_data))) as Arc<dyn ErrorHandler>),
        );
        ok()
    })
}

/// Sets (or with NULL removes) the response filter. See `hs_response_filter`.
#[no_mangle]
pub extern "C" fn hs_on_response(
    server: *mut hs_server,
    filter: hs_response_filter,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { live_server(server) }?;
        s.set_on_response(
            filter.map(|f| Arc::new(CFilter(f, UserData(user_data))) as Arc<dyn ResponseFilter>),
        );
        ok()
    })
}

/// A byte buffer out: its pointer (a valid one even when empty) and its length through `len`.
fn bytes_out(bytes: &[u8], len: *mut usize) -> *const u8 {
    unsafe { put(len, bytes.len()) };
    if bytes.is_empty() {
        c"".as_ptr().cast()
    } else {
        bytes.as_ptr()
    }
}

fn field_out(bytes: &[u8], len: *mut usize) -> Result<*const c_char> {
    unsafe { put(len, bytes.len()) };
    Ok(bytes.as_ptr().cast())
}

/// The request method (`"GET"`).
#[no_mangle]
pub extern "C" fn hs_request_method(r: *const hs_request, len: *mut usize) -> *const c_char {
    guard(|| field_out(unsafe { req(r) }?.field(Field::Method), len))
}

/// The path as received, percent-encoding kept, without the query (`"/user/42"`).
#[no_mangle]
pub extern "C" fn hs_request_path(r: *const hs_request, len: *mut usize) -> *const c_char {
    guard(|| field_out(unsafe { req(r) }?.field(Field::Path), len))
}

/// The raw query string without `?` (`"a=1&b=2"`), `""` when there is none.
#[no_mangle]
pub extern "C" fn hs_request_query(r: *const hs_request, len: *mut usize) -> *const c_char {
    guard(|| field_out(unsafe { req(r) }?.field(Field::Query), len))
}

/// The request target as received: path and query (`"/user/42?a=1"`).
#[no_mangle]
pub extern "C" fn hs_request_uri(r: *const hs_request, len: *mut usize) -> *const c_char {
    guard(|| field_out(unsafe { req(r) }?.field(Field::Uri), len))
}

/// The protocol version as text (`"HTTP/1.1"`, `"HTTP/1.0"`). Static storage.
#[no_mangle]
pub extern "C" fn hs_request_version(r: *const hs_request) -> *const c_char {
    guard(|| {
        let v = unsafe { req(r) }?.head.version;
        let s: &'static [u8] = if v == hyper::Version::HTTP_10 {
            b"HTTP/1.0\0"
        } else {
            b"HTTP/1.1\0"
        };
        Ok(s.as_ptr().cast())
    })
}

/// A header by case-insensitive name; several fields of that name are joined with ", ".
/// NULL when absent (no error is recorded for that).
#[no_mangle]
pub extern "C" fn hs_request_header(
    r: *const hs_request,
    name: *const c_char,
    len: *mut usize,
) -> *const c_char {
    guard(|| {
        let name = unsafe { text(name, "header name") }?;
        match unsafe { req(r) }?.header(name) {
            Some(v) => field_out(v, len),
            None => Ok(std::ptr::null()),
        }
    })
}

/// How many header fields the request has.
#[no_mangle]
pub extern "C" fn hs_request_header_count(r: *const hs_request) -> c_int {
    guard(|| Ok(unsafe { req(r) }?.header_count() as c_int))
}

/// The `index`-th header field: its name (lower case) and value. `name` and `value` may be NULL.
/// Returns `HS_ERR_NOT_FOUND` past the end.
#[no_mangle]
pub extern "C" fn hs_request_header_at(
    r: *const hs_request,
    index: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> c_int {
    guard(|| {
        let (n, v) = unsafe { req(r) }?
            .header_at(index)
            .ok_or_else(|| Error::not_found(format!("no header at index {index}")))?;
        unsafe {
            put(name, n.as_ptr().cast());
            put(value, v.as_ptr().cast());
        }
        ok()
    })
}

/// The request body, whole (chunked transfer decoded): bytes, not NUL-terminated, may contain
/// NUL bytes (hence `uint8_t`: a host such as PHP FFI reads a returned `char *` as a C string
/// and would cut it). Never NULL: an empty body gives a valid pointer and `*len` 0.
#[no_mangle]
pub extern "C" fn hs_request_body(r: *const hs_request, len: *mut usize) -> *const u8 {
    guard(|| Ok(bytes_out(&unsafe { req(r) }?.body, len)))
}

/// How many captures (`{name}` segments and regex groups) the matched route has.
#[no_mangle]
pub extern "C" fn hs_request_param_count(r: *const hs_request) -> c_int {
    guard(|| Ok(unsafe { req(r) }?.capture_count() as c_int))
}

/// The capture at `index` (0 = first group), NULL past the end.
#[no_mangle]
pub extern "C" fn hs_request_param(
    r: *const hs_request,
    index: usize,
    len: *mut usize,
) -> *const c_char {
    guard(|| match unsafe { req(r) }?.capture(index) {
        Some(v) => field_out(v, len),
        None => Err(Error::not_found(format!("no capture at index {index}"))),
    })
}

/// The capture named `name` (`{id}` in the pattern gives `"id"`), NULL when there is none.
#[no_mangle]
pub extern "C" fn hs_request_param_named(
    r: *const hs_request,
    name: *const c_char,
    len: *mut usize,
) -> *const c_char {
    guard(|| {
        let name = unsafe { text(name, "parameter name") }?;
        match unsafe { req(r) }?.capture_by_name(name) {
            Some(v) => field_out(v, len),
            None => Err(Error::not_found(format!("no capture named '{name}'"))),
        }
    })
}

/// The request's head packed in one buffer (no body: `hs_request_body`), valid until the
/// callback returns. Fields are separated by NUL, in this order: route id (-1 for none),
/// connection id, peer port, capture count, method, path, query, URI, version (`HTTP/1.1`), peer
/// IP, headers (`name: value\r\n` per field, names in lower case); then one `name`, `value`
/// pair per capture (an unnamed capture has an empty name; values as in the path, not
/// percent-decoded). A NUL also follows the last field and is not counted in `*len`, so every
/// field is a C string and splitting on NUL gives exactly 11 + 2 × capture count fields.
/// Bytes (`uint8_t`), like the body. The same format reaches an `hs_packed_handler` and
/// `hs_ws_client_head`.
#[no_mangle]
pub extern "C" fn hs_request_packed(r: *const hs_request, len: *mut usize) -> *const u8 {
    guard(|| Ok(bytes_out(unsafe { req(r) }?.packed_head(), len)))
}

/// The client's IP address as text (`"127.0.0.1"`, `"::1"`).
#[no_mangle]
pub extern "C" fn hs_request_peer_ip(r: *const hs_request, len: *mut usize) -> *const c_char {
    guard(|| field_out(unsafe { req(r) }?.peer_ip(), len))
}

/// The client's TCP port, or a negative status.
#[no_mangle]
pub extern "C" fn hs_request_peer_port(r: *const hs_request) -> c_int {
    guard(|| Ok(unsafe { req(r) }?.peer.port() as c_int))
}

/// The id of the TCP connection the request came on (shared by its keep-alive requests; for a
/// WebSocket upgrade it is also the WebSocket client id). 0 if `r` is NULL.
#[no_mangle]
pub extern "C" fn hs_request_conn_id(r: *const hs_request) -> u64 {
    guard(|| Ok(unsafe { req(r) }?.conn_id))
}

/// The id of the route that matched (as returned by `hs_route`/`hs_accept`), or -1 for none.
#[no_mangle]
pub extern "C" fn hs_request_route_id(r: *const hs_request) -> c_int {
    guard(|| {
        let id = unsafe { req(r) }?.route_id;
        Ok(if id == u32::MAX { -1 } else { id as c_int })
    })
}

// Response setters. A call with nonsense (status outside 200-999, an invalid header name or
// value, NULL data with a non-zero length, a raw response that does not parse) returns
// HS_ERR_INVALID and turns the response into a 500 (the reason is a debug line).

/// Sets the status code (200-999; default 200; a 1xx is interim only and gives a 500).
#[no_mangle]
pub extern "C" fn hs_response_set_status(r: *mut hs_response, status: c_int) -> c_int {
    guard(|| {
        unsafe { res(r) }?.set_status(status as i64)?;
        ok()
    })
}

/// Adds a header field (copied). Several fields of one name are all sent. Content-Length and
/// Transfer-Encoding are ignored: the engine frames the body.
#[no_mangle]
pub extern "C" fn hs_response_add_header(
    r: *mut hs_response,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    guard(|| {
        let response = unsafe { res(r) }?;
        let name = match unsafe { text(name, "header name") } {
            Ok(n) => n,
            Err(e) => return response.poison(e.message),
        };
        let value = match unsafe { text(value, "header value") } {
            Ok(v) => v,
            Err(e) => return response.poison(e.message),
        };
        response.add_header(name.as_bytes(), value.as_bytes())?;
        ok()
    })
}

unsafe fn body_arg<'a>(
    response: &mut Response,
    data: *const c_char,
    len: usize,
) -> Result<&'a [u8]> {
    match bytes(data, len, "body") {
        Ok(b) => Ok(b),
        Err(e) => response.poison(e.message),
    }
}

/// Sets the body (copied; may contain NUL bytes). NULL with `len` 0 is an empty body.
#[no_mangle]
pub extern "C" fn hs_response_set_body(
    r: *mut hs_response,
    data: *const c_char,
    len: usize,
) -> c_int {
    guard(|| {
        let response = unsafe { res(r) }?;
        let body = unsafe { body_arg(response, data, len) }?;
        response.set_body(Bytes::copy_from_slice(body));
        ok()
    })
}

/// The whole answer in one call: status, a block of `Name: value` lines separated by `\r\n` or
/// `\n` (may be NULL or empty), and the body (copied). The fast path for hosts that cross the
/// FFI boundary at a cost (PHP).
#[no_mangle]
pub extern "C" fn hs_respond(
    r: *mut hs_response,
    status: c_int,
    headers: *const c_char,
    headers_len: usize,
    body: *const c_char,
    body_len: usize,
) -> c_int {
    guard(|| {
        let response = unsafe { res(r) }?;
        response.set_status(status as i64)?;
        let block = match unsafe { bytes(headers, headers_len, "headers") } {
            Ok(b) => b,
            Err(e) => return response.poison(e.message),
        };
        response.add_header_block(block)?;
        let body = unsafe { body_arg(response, body, body_len) }?;
        response.set_body(Bytes::copy_from_slice(body));
        ok()
    })
}

/// Replaces the response with a whole raw HTTP response (`"HTTP/1.1 200 OK\r\nContent-Type:
/// text/plain\r\n\r\nHello"`), parsed by the engine. Its Content-Length/Transfer-Encoding are not
/// used; the body is everything after the blank line. A malformed one gives a 500.
#[no_mangle]
pub extern "C" fn hs_response_set_raw(
    r: *mut hs_response,
    data: *const c_char,
    len: usize,
) -> c_int {
    guard(|| {
        let response = unsafe { res(r) }?;
        let raw = unsafe { body_arg(response, data, len) }?;
        response.set_raw(raw)?;
        ok()
    })
}

/// Replaces the response with the engine's answer of `kind` (an `hs_answer`): status,
/// `Content-Type: text/plain`, `X-Server-Response-Type` and text. The error hook is not called.
/// `HS_ERR_INVALID` for an unknown kind (the response is left as it was).
#[no_mangle]
pub extern "C" fn hs_response_answer(r: *mut hs_response, kind: c_int) -> c_int {
    guard(|| {
        let response = unsafe { res(r) }?;
        *response = answer_arg(kind)?.response();
        ok()
    })
}

/// Declares that the handler failed (an exception in the host): the client gets
/// `HS_ANSWER_SERVER_ERROR`, shaped by the error hook when one is set (it runs after the handler
/// returned), and whatever the handler set is dropped. `reason` (may be NULL; copied) goes to
/// the debug log.
#[no_mangle]
pub extern "C" fn hs_response_fail(r: *mut hs_response, reason: *const c_char) -> c_int {
    guard(|| {
        let response = unsafe { res(r) }?;
        let reason = if reason.is_null() {
            "the handler failed"
        } else {
            unsafe { text(reason, "reason") }.unwrap_or("the handler failed (reason not UTF-8)")
        };
        response.fail(reason);
        ok()
    })
}

/// The `X-Server-Response-Type` name of an answer kind (`"NOT_FOUND"`, `"PING"`). Static
/// storage. NULL for an unknown kind.
#[no_mangle]
pub extern "C" fn hs_answer_name(kind: c_int) -> *const c_char {
    guard(|| Ok(answer_arg(kind)?.name_with_nul().as_ptr().cast()))
}

/// The current status (useful in a response filter).
#[no_mangle]
pub extern "C" fn hs_response_status(r: *mut hs_response) -> c_int {
    guard(|| Ok(unsafe { res(r) }?.status as c_int))
}

/// The current body (useful in a response filter): bytes, not NUL-terminated; valid until the
/// body is changed or the callback returns.
#[no_mangle]
pub extern "C" fn hs_response_body(r: *mut hs_response, len: *mut usize) -> *const u8 {
    guard(|| Ok(bytes_out(&unsafe { res(r) }?.body, len)))
}
