//! HTTP routes and hooks
//!
//! Handlers run on the thread inside hs_run()/hs_poll() (a worker thread with
//! hs_set_threads()), one at a time by default. The `hs_request *` and `hs_response *` they get
//! are lent for the call only. Callbacks are declared `C-unwind`: a Rust host's panic in one is
//! caught (a 500) instead of aborting. Registration copies the strings; `user_data` is passed
//! back untouched and must stay valid until hs_free().

use super::answer::{answer_of, hs_answer};
use super::convert::{bytes_ptr, text, UserData};
use super::guard::{guard, ok};
use super::handles::{borrow, hs_request, hs_response, hs_server, lend, lend_mut};
use crate::engine::{Answer, Error, ErrorHandler, HttpHandler, Request, Response, ResponseFilter};
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

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
/// has no body for errors found before the body was read. Both are valid only during the call.
/// Runs on the thread that serves the request (as `hs_handler`), before the answer is sent.
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
/// Content-Length always follows the final body. `req` and `res` are valid only during the call.
/// Runs on the thread that serves the request (as `hs_handler`).
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
        unsafe { (self.0)(self.1 .0, lend(req), lend_mut(res)) }
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
        let body = bytes_ptr(&req.body);
        // SAFETY: host-registered function and user_data; `head`, the body and `res` live for
        // the call.
        unsafe {
            (self.0)(
                self.1 .0,
                head.as_ptr(),
                head.len() - 1,
                body,
                req.body.len(),
                lend_mut(res),
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
        unsafe { (self.0)(self.1 .0, lend(req), answer_of(kind), lend_mut(res)) }
    }
}

struct CFilter(
    unsafe extern "C-unwind" fn(*mut c_void, *const hs_request, *mut hs_response),
    UserData,
);

impl ResponseFilter for CFilter {
    fn filter(&self, req: &Request, res: &mut Response) {
        // SAFETY: as for CHandler.
        unsafe { (self.0)(self.1 .0, lend(req), lend_mut(res)) }
    }
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
        let s = unsafe { borrow(server, "server") }?;
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
        let s = unsafe { borrow(server, "server") }?;
        let methods = unsafe { text(methods, "methods") }?;
        let pattern = unsafe { text(pattern, "pattern") }?;
        let handler = handler.ok_or_else(|| Error::invalid("handler is NULL"))?;
        let h = CPackedHandler(handler, UserData(user_data));
        Ok(s.route(methods, pattern, Arc::new(h))? as c_int)
    })
}

/// Sets (or with NULL removes) the error hook, which shapes the engine's error answers (see
/// `hs_error_handler`). `user_data` is passed back to it and must stay valid until `hs_free`.
/// Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_on_error(
    server: *mut hs_server,
    handler: hs_error_handler,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        s.set_on_error(
            handler
                .map(|h| Arc::new(CErrorHandler(h, UserData(user_data))) as Arc<dyn ErrorHandler>),
        );
        ok()
    })
}

/// Sets (or with NULL removes) the response filter, which sees every HTTP response before it is
/// sent (see `hs_response_filter`). `user_data` is passed back to it and must stay valid until
/// `hs_free`. Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_on_response(
    server: *mut hs_server,
    filter: hs_response_filter,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        s.set_on_response(
            filter.map(|f| Arc::new(CFilter(f, UserData(user_data))) as Arc<dyn ResponseFilter>),
        );
        ok()
    })
}
