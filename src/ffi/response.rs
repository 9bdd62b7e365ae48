//! The response
//!
//! Fills the `hs_response *` lent to a handler, an error hook or a response filter, during that
//! call only. Data passed in is copied. A setter given nonsense (status outside 200-999, an
//! invalid header name or value, NULL data with a non-zero length, a raw response that does not
//! parse) returns HS_ERR_INVALID and turns the response into a 500 (the reason is a debug line).

use super::answer::answer_arg;
use super::convert::{bytes, bytes_out, text};
use super::guard::{guard, ok};
use super::handles::{borrow, borrow_mut, hs_response};
use crate::engine::{Response, Result};
use bytes::Bytes;
use std::ffi::{c_char, c_int};

/// Sets the status code (200-999; default 200; a 1xx is interim only and gives a 500).
#[no_mangle]
pub extern "C" fn hs_response_set_status(r: *mut hs_response, status: c_int) -> c_int {
    guard(|| {
        unsafe { borrow_mut(r, "r") }?.set_status(status as i64)?;
        ok()
    })
}

/// Adds a header field (copied). Several fields of one name are all sent. Content-Length and
/// Transfer-Encoding are ignored: the engine frames the body. Returns `HS_OK` or `HS_ERR_INVALID`.
#[no_mangle]
pub extern "C" fn hs_response_add_header(
    r: *mut hs_response,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    guard(|| {
        let response = unsafe { borrow_mut(r, "r") }?;
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
        let response = unsafe { borrow_mut(r, "r") }?;
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
        let response = unsafe { borrow_mut(r, "r") }?;
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
        let response = unsafe { borrow_mut(r, "r") }?;
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
        let response = unsafe { borrow_mut(r, "r") }?;
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
        let response = unsafe { borrow_mut(r, "r") }?;
        let reason = if reason.is_null() {
            "the handler failed"
        } else {
            unsafe { text(reason, "reason") }.unwrap_or("the handler failed (reason not UTF-8)")
        };
        response.fail(reason);
        ok()
    })
}

/// The current status (useful in a response filter).
#[no_mangle]
pub extern "C" fn hs_response_status(r: *mut hs_response) -> c_int {
    guard(|| Ok(unsafe { borrow(r, "r") }?.status as c_int))
}

/// The current body (useful in a response filter): bytes, not NUL-terminated; valid until the
/// body is changed or the callback returns.
#[no_mangle]
pub extern "C" fn hs_response_body(r: *mut hs_response, len: *mut usize) -> *const u8 {
    guard(|| Ok(bytes_out(&unsafe { borrow(r, "r") }?.body, len)))
}
