//! HTTP routes and hooks
//!
//! Handlers run on the thread inside hs_run()/hs_poll() (a worker thread with
//! hs_set_threads()), one at a time by default. The `hs_request *` and `hs_response *` they get
//! are lent for the call only. Callbacks are declared `C-unwind`: a Rust host's panic in one is
//! caught (a 500) instead of aborting. Registration copies the strings; `user_data` is passed
//! back untouched and must stay valid until hs_free().

use super::answer::{answer_arg, answer_of, hs_answer};
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

/// What a fast handler (`hs_fast_handler`) answered: the low 3 bits of its return value. The
/// other bits: status (or, for `HS_FAST_ANSWER`, the `hs_answer` kind) in bits 3-12, the
/// header block's length in bits 13-36, the body's length in bits 37-62 (see `hs_fast_reply`).
#[repr(C)]
#[allow(non_camel_case_types, clippy::enum_variant_names)]
pub enum hs_fast_reply {
    /// Nothing set: the engine's default answer (Luminova's 200 "Hello world!").
    HS_FAST_NONE = 0,
    /// Status, header lines (`reply_headers`, "Name: value\r\n" each) and body (`reply_body`).
    HS_FAST_RESPOND = 1,
    /// A whole raw HTTP response in `reply_body` (as `hs_response_set_raw`).
    HS_FAST_RAW = 2,
    /// The engine's answer of the `hs_answer` kind in the status bits (as `hs_response_answer`).
    HS_FAST_ANSWER = 3,
    /// The handler failed: 500 through the error hook (as `hs_response_fail`); the reason, if
    /// any, in `reply_body` (body length bits).
    HS_FAST_FAIL = 4,
    /// The handler answered through `hs_fast_response()`'s handle itself (a reply too big for
    /// the buffers).
    HS_FAST_DONE = 5,
}

/// Buffers a host lends for its `hs_route_fast` routes, so that a request and its reply cross
/// the boundary without a pointer argument or a second call: the engine writes the request into
/// `head` and `body`; the handler writes its reply into `reply_headers` and `reply_body` and
/// describes it in its return value. The host allocates the struct and the four buffers, and
/// keeps them valid and in place until `hs_free` (as `user_data`); `busy` starts at 0 and is the
/// engine's (set while a fast handler uses the buffers). Share one set between routes.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct hs_fast_buffers {
    pub head: *mut u8,
    pub head_cap: usize,
    pub body: *mut u8,
    pub body_cap: usize,
    pub reply_headers: *mut u8,
    pub reply_headers_cap: usize,
    pub reply_body: *mut u8,
    pub reply_body_cap: usize,
    pub busy: u32,
}

/// A fast handler (`hs_route_fast`). The request is in the route's `hs_fast_buffers`: `head`
/// holds first the decoded captures (each followed by a NUL), then the packed head
/// (`hs_request_packed`'s format); `body` holds the body. Its numbers come in three integers of
/// three 21-bit fields each (field 0 in bits 0-20, field 1 in bits 21-41, field 2 in bits
/// 42-62), so that the call has few arguments (each costs a PHP FFI callback about 150
/// instructions):
///
/// - `route`: the route id | the number of captures | their bytes (the NULs included);
/// - `lengths`: bytes in `head` (captures and packed head) | bytes in `body` | length of the
///   headers block;
/// - `spans`: where the query starts in `head` | its length | where the headers block starts.
///
/// So the query and the headers can be read without splitting the head. Returns an
/// `hs_fast_reply` kind | status << 3 | header length << 13 | body length << 37, the reply in
/// the buffers. Runs as `hs_handler` does (same thread rules); the buffers belong to it only
/// during the call.
#[allow(non_camel_case_types)]
pub type hs_fast_handler = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        route: i64,
        lengths: i64,
        spans: i64,
    ) -> i64,
>;

/// The largest value of a field of `hs_fast_handler`'s arguments (21 bits): buffers and route
/// ids beyond it are refused by `hs_route_fast`.
const FAST_FIELD_MAX: usize = (1 << 21) - 1;

/// Three 21-bit fields in one integer (`hs_fast_handler`).
fn fields3(a: usize, b: usize, c: usize) -> i64 {
    (a | b << 21 | c << 42) as i64
}

struct CFastHandler {
    fast: unsafe extern "C-unwind" fn(*mut c_void, i64, i64, i64) -> i64,
    /// For a request that does not fit the buffers, or that arrives while they are in use
    /// (another thread of `hs_set_threads`).
    slow: CPackedHandler,
    buffers: *mut hs_fast_buffers,
}

// SAFETY: the buffers are only touched by the thread that won `busy`; the host promised they
// stay valid until hs_free.
unsafe impl Send for CFastHandler {}
unsafe impl Sync for CFastHandler {}

thread_local! {
    /// The response of the fast call running on this thread (`hs_fast_response`).
    static FAST_RESPONSE: std::cell::Cell<*mut hs_response> =
        const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// Clears `busy` and the thread's current response even when the handler unwinds.
struct FastCall<'a>(&'a std::sync::atomic::AtomicU32);

impl Drop for FastCall<'_> {
    fn drop(&mut self) {
        FAST_RESPONSE.set(std::ptr::null_mut());
        self.0.store(0, std::sync::atomic::Ordering::Release);
    }
}

impl HttpHandler for CFastHandler {
    fn handle(&self, req: &Request, res: &mut Response) {
        use std::sync::atomic::{AtomicU32, Ordering};
        // SAFETY: the host keeps the struct valid until hs_free; `busy` is only accessed
        // atomically by the engine.
        let busy = unsafe { AtomicU32::from_ptr(std::ptr::addr_of_mut!((*self.buffers).busy)) };
        if busy.swap(1, Ordering::Acquire) != 0 {
            return self.slow.handle(req, res);
        }
        let call = FastCall(busy);
        // SAFETY: as above; read while this thread holds `busy`.
        let b = unsafe { &*self.buffers };
        let mut head = HEAD.take();
        head.clear();
        let caps = req.write_decoded_captures(&mut head);
        let spans = req.write_packed_head(&mut head);
        let head_len = head.len() - 1; // the packed head's trailing NUL is not sent
        if head_len > b.head_cap
            || req.body.len() > b.body_cap
            || req.route_id as usize > FAST_FIELD_MAX
        {
            drop(call);
            HEAD.set(head);
            return self.slow.handle(req, res);
        }
        // SAFETY: both fit their buffers (checked above), which the host keeps valid.
        unsafe {
            std::ptr::copy_nonoverlapping(head.as_ptr(), b.head, head_len);
            if !req.body.is_empty() {
                std::ptr::copy_nonoverlapping(req.body.as_ptr(), b.body, req.body.len());
            }
        }
        if head.capacity() <= 64 * 1024 {
            HEAD.set(head);
        }
        FAST_RESPONSE.set(lend_mut(res));
        // Every length is within a buffer (so within FAST_FIELD_MAX, checked at registration);
        // the route id and the capture count are far below it.
        let route = fields3(req.route_id as usize, req.capture_count(), caps);
        let lengths = fields3(head_len, req.body.len(), spans.headers.1);
        let spans = fields3(spans.query.0, spans.query.1, spans.headers.0);
        // SAFETY: host-registered function and user_data; the buffers hold the request.
        let code = unsafe { (self.fast)(self.slow.1 .0, route, lengths, spans) };
        FAST_RESPONSE.set(std::ptr::null_mut());
        fast_reply(code, b, res);
        drop(call);
    }
}

/// Applies a fast handler's reply (`hs_fast_handler`'s return value) to `res`.
fn fast_reply(code: i64, b: &hs_fast_buffers, res: &mut Response) {
    let kind = code & 7;
    let status = (code >> 3) & 0x3ff;
    let headers_len = ((code >> 13) & 0xff_ffff) as usize;
    let body_len = ((code >> 37) & 0x3ff_ffff) as usize;
    if code < 0 || headers_len > b.reply_headers_cap || body_len > b.reply_body_cap {
        res.fail(format!(
            "a fast handler returned {code}, which is not a reply its buffers can hold"
        ));
        return;
    }
    // SAFETY: the lengths are within the buffers' capacities (checked above); the host wrote
    // them during the call, which has returned.
    let (headers, body) = unsafe {
        (
            std::slice::from_raw_parts(b.reply_headers.cast_const(), headers_len),
            std::slice::from_raw_parts(b.reply_body.cast_const(), body_len),
        )
    };
    // Each setter poisons the response (a 500 with the reason logged) on a bad value, as the
    // separate calls do; their Result adds nothing here.
    match kind {
        0 | 5 => {}
        1 => {
            if res.set_status(status).is_ok() && res.add_header_block(headers).is_ok() {
                res.set_body(bytes::Bytes::copy_from_slice(body));
            }
        }
        2 => {
            let _ = res.set_raw(body);
        }
        3 => match answer_arg(status as c_int) {
            Ok(a) => *res = a.response(),
            Err(e) => res.fail(e.message),
        },
        4 if body.is_empty() => res.fail("the handler failed"),
        4 => res.fail(String::from_utf8_lossy(body).into_owned()),
        _ => res.fail(format!(
            "a fast handler returned the unknown reply kind {kind}"
        )),
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

/// As `hs_route_packed`, with a fast handler that gets the request in `buffers` and returns its
/// reply in them (`hs_fast_handler`): no pointer argument, no second call. `slow` serves the
/// requests that do not fit the buffers (and any that arrives while they are in use, on
/// another thread of `hs_set_threads`). `buffers` and `user_data` must stay valid until
/// `hs_free`. Returns the route id (>= 0) or a negative status.
#[no_mangle]
pub extern "C" fn hs_route_fast(
    server: *mut hs_server,
    methods: *const c_char,
    pattern: *const c_char,
    buffers: *mut hs_fast_buffers,
    fast: hs_fast_handler,
    slow: hs_packed_handler,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let methods = unsafe { text(methods, "methods") }?;
        let pattern = unsafe { text(pattern, "pattern") }?;
        let fast = fast.ok_or_else(|| Error::invalid("fast is NULL"))?;
        let slow = slow.ok_or_else(|| Error::invalid("slow is NULL"))?;
        if buffers.is_null() {
            return Err(Error::invalid("buffers is NULL"));
        }
        // SAFETY: non-NULL; the host promises a valid struct.
        let b = unsafe { &*buffers };
        for (ptr, cap, name) in [
            (b.head, b.head_cap, "head"),
            (b.body, b.body_cap, "body"),
            (b.reply_headers, b.reply_headers_cap, "reply_headers"),
            (b.reply_body, b.reply_body_cap, "reply_body"),
        ] {
            if ptr.is_null() && cap > 0 {
                return Err(Error::invalid(format!("buffers->{name} is NULL")));
            }
            if cap > FAST_FIELD_MAX {
                return Err(Error::invalid(format!(
                    "buffers->{name}_cap is {cap}: at most {FAST_FIELD_MAX} bytes"
                )));
            }
        }
        let h = CFastHandler {
            fast,
            slow: CPackedHandler(slow, UserData(user_data)),
            buffers,
        };
        // A route id beyond FAST_FIELD_MAX (two million routes) takes the slow path.
        Ok(s.route(methods, pattern, Arc::new(h))? as c_int)
    })
}

/// The response handle of the fast call running on this thread, for a fast handler whose reply
/// does not fit its buffers: answer through it (`hs_respond`, ...) and return `HS_FAST_DONE`.
/// Valid until the handler returns. NULL (`HS_ERR_STATE`) outside a fast handler.
#[no_mangle]
pub extern "C" fn hs_fast_response() -> *mut hs_response {
    guard(|| {
        let r = FAST_RESPONSE.get();
        if r.is_null() {
            Err(Error::state(
                "hs_fast_response() is for a fast handler, during its call",
            ))
        } else {
            Ok(r)
        }
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
