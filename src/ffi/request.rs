//! The request
//!
//! Read-only accessors of the `hs_request *` lent to a handler, an error hook, a response
//! filter or a WebSocket open callback. Every pointer they return is owned by the request and
//! valid until that callback returns; do not free it. Text is NUL-terminated with its length
//! (without the NUL) through `len` (may be NULL); the body and the packed head are bytes.
//! A NULL request is HS_ERR_INVALID (NULL for pointer results).

use super::convert::{bytes_out, field_out, field_ptr, put, text};
use super::guard::{guard, ok};
use super::handles::{borrow, hs_request};
use crate::engine::{Error, Field};
use std::ffi::{c_char, c_int};

/// The request method (`"GET"`). Owned by the request; valid until the callback returns.
#[no_mangle]
pub extern "C" fn hs_request_method(r: *const hs_request, len: *mut usize) -> *const c_char {
    guard(|| field_out(unsafe { borrow(r, "r") }?.field(Field::Method), len))
}

/// The path as received, percent-encoding kept, without the query (`"/user/42"`). Owned by the
/// request; valid until the callback returns.
#[no_mangle]
pub extern "C" fn hs_request_path(r: *const hs_request, len: *mut usize) -> *const c_char {
    guard(|| field_out(unsafe { borrow(r, "r") }?.field(Field::Path), len))
}

/// The raw query string without `?` (`"a=1&b=2"`), `""` when there is none. Owned by the
/// request; valid until the callback returns.
#[no_mangle]
pub extern "C" fn hs_request_query(r: *const hs_request, len: *mut usize) -> *const c_char {
    guard(|| field_out(unsafe { borrow(r, "r") }?.field(Field::Query), len))
}

/// The request target as received: path and query (`"/user/42?a=1"`). Owned by the request;
/// valid until the callback returns.
#[no_mangle]
pub extern "C" fn hs_request_uri(r: *const hs_request, len: *mut usize) -> *const c_char {
    guard(|| field_out(unsafe { borrow(r, "r") }?.field(Field::Uri), len))
}

/// The protocol version as text (`"HTTP/1.1"`, `"HTTP/1.0"`, `"HTTP/2.0"`). Static storage.
#[no_mangle]
pub extern "C" fn hs_request_version(r: *const hs_request) -> *const c_char {
    guard(|| {
        let v = unsafe { borrow(r, "r") }?.head.version;
        let s = match v {
            hyper::Version::HTTP_10 => c"HTTP/1.0",
            hyper::Version::HTTP_2 => c"HTTP/2.0",
            _ => c"HTTP/1.1",
        };
        Ok(s.as_ptr())
    })
}

/// 1 when the request arrived over TLS (https, wss), 0 otherwise; negative on a NULL request.
#[no_mangle]
pub extern "C" fn hs_request_is_secure(r: *const hs_request) -> c_int {
    guard(|| Ok(c_int::from(unsafe { borrow(r, "r") }?.secure)))
}

/// A header by case-insensitive name; several fields of that name are joined with ", ".
/// NULL when absent (no error is recorded for that). `name` is only read during the call. The
/// value is owned by the request; valid until the callback returns.
#[no_mangle]
pub extern "C" fn hs_request_header(
    r: *const hs_request,
    name: *const c_char,
    len: *mut usize,
) -> *const c_char {
    guard(|| {
        let name = unsafe { text(name, "header name") }?;
        match unsafe { borrow(r, "r") }?.header(name) {
            Some(v) => field_out(v, len),
            None => Ok(std::ptr::null()),
        }
    })
}

/// How many header fields the request has.
#[no_mangle]
pub extern "C" fn hs_request_header_count(r: *const hs_request) -> c_int {
    guard(|| Ok(unsafe { borrow(r, "r") }?.header_count() as c_int))
}

/// The `index`-th header field: its name (lower case) and value, written through `name` and
/// `value` (either may be NULL) as NUL-terminated text owned by the request, valid until the
/// callback returns. Returns `HS_OK`, or `HS_ERR_NOT_FOUND` past the end.
#[no_mangle]
pub extern "C" fn hs_request_header_at(
    r: *const hs_request,
    index: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> c_int {
    guard(|| {
        let (n, v) = unsafe { borrow(r, "r") }?
            .header_at(index)
            .ok_or_else(|| Error::not_found(format!("no header at index {index}")))?;
        unsafe {
            put(name, field_ptr(n));
            put(value, field_ptr(v));
        }
        ok()
    })
}

/// The request body, whole (chunked transfer decoded): bytes, not NUL-terminated, may contain
/// NUL bytes (hence `uint8_t`: a host such as PHP FFI reads a returned `char *` as a C string
/// and would cut it). Never NULL: an empty body gives a valid pointer and `*len` 0. Owned by the
/// request; valid until the callback returns.
#[no_mangle]
pub extern "C" fn hs_request_body(r: *const hs_request, len: *mut usize) -> *const u8 {
    guard(|| Ok(bytes_out(&unsafe { borrow(r, "r") }?.body, len)))
}

/// How many captures (`{name}` segments and regex groups) the matched route has.
#[no_mangle]
pub extern "C" fn hs_request_param_count(r: *const hs_request) -> c_int {
    guard(|| Ok(unsafe { borrow(r, "r") }?.capture_count() as c_int))
}

/// The capture at `index` (0 = first group), NULL past the end. Owned by the request; valid
/// until the callback returns.
#[no_mangle]
pub extern "C" fn hs_request_param(
    r: *const hs_request,
    index: usize,
    len: *mut usize,
) -> *const c_char {
    guard(|| match unsafe { borrow(r, "r") }?.capture(index) {
        Some(v) => field_out(v, len),
        None => Err(Error::not_found(format!("no capture at index {index}"))),
    })
}

/// The capture named `name` (`{id}` in the pattern gives `"id"`), NULL when there is none.
/// Owned by the request; valid until the callback returns.
#[no_mangle]
pub extern "C" fn hs_request_param_named(
    r: *const hs_request,
    name: *const c_char,
    len: *mut usize,
) -> *const c_char {
    guard(|| {
        let name = unsafe { text(name, "parameter name") }?;
        match unsafe { borrow(r, "r") }?.capture_by_name(name) {
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
    guard(|| Ok(bytes_out(unsafe { borrow(r, "r") }?.packed_head(), len)))
}

/// The client's IP address as text (`"127.0.0.1"`, `"::1"`). Owned by the request; valid until
/// the callback returns.
#[no_mangle]
pub extern "C" fn hs_request_peer_ip(r: *const hs_request, len: *mut usize) -> *const c_char {
    guard(|| field_out(unsafe { borrow(r, "r") }?.peer_ip(), len))
}

/// The client's TCP port, or a negative status.
#[no_mangle]
pub extern "C" fn hs_request_peer_port(r: *const hs_request) -> c_int {
    guard(|| Ok(unsafe { borrow(r, "r") }?.peer.port() as c_int))
}

/// The id of the TCP connection the request came on (shared by its keep-alive requests; for a
/// WebSocket upgrade it is also the WebSocket client id). 0 if `r` is NULL.
#[no_mangle]
pub extern "C" fn hs_request_conn_id(r: *const hs_request) -> u64 {
    guard(|| Ok(unsafe { borrow(r, "r") }?.conn_id))
}

/// The id of the route that matched (as returned by `hs_route`/`hs_accept`), or -1 for none.
#[no_mangle]
pub extern "C" fn hs_request_route_id(r: *const hs_request) -> c_int {
    guard(|| {
        let id = unsafe { borrow(r, "r") }?.route_id;
        Ok(if id == u32::MAX { -1 } else { id as c_int })
    })
}
