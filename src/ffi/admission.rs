//! WebSocket admission
//!
//! Who may open a WebSocket, decided before the upgrade is answered, in this order: the allowed
//! origins (hs_ws_set_origins(): 403), the accept route's client limit (hs_ws_route_limit():
//! 503 with Retry-After), the host's authorizer (hs_ws_authorize(): its own answer, 403 by
//! default, 500 when it fails). A refused client gets an ordinary HTTP answer with status,
//! headers and body, on HTTP/1.1 as on HTTP/2 (RFC 8441: a non-200 :status to its CONNECT):
//! never a 101 followed by a close. They apply to WebSocket upgrades only, not to HTTP routes.
//! The settings may change at any time and apply to the upgrades that come afterwards.

use super::convert::{bytes, text, UserData};
use super::guard::{guard, ok};
use super::handles::{borrow, borrow_mut, hs_admission, hs_request, hs_response, hs_server};
use super::handles::{lend, lend_mut};
use crate::engine::ws::{Admission, Authorizer, Verdict};
use crate::engine::{Error, Request, Response, Result};
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

/// Decides a WebSocket upgrade. `req` is the whole upgrade request (path, query, headers with
/// Cookie and Origin, captures of the accept route's pattern, peer; `hs_request_route_id` is
/// the accept route's id, `hs_request_conn_id` the id the client will have; `hs_request_packed`
/// works on it). Return:
///
/// - 1 (any positive value): accept. What was set with `hs_admission_user` and
///   `hs_admission_join` goes with the client; anything written into `res` is ignored.
/// - 0: refuse. The answer is what the callback wrote into `res` with the `hs_response_*` calls
///   (status, headers, body; e.g. 401 with `WWW-Authenticate`), or 403 "Forbidden."
///   (`HS_ANSWER_UPGRADE_REFUSED`) if it wrote nothing. A status below 300 is not a refusal a
///   client would understand (on HTTP/2 a 200 opens the tunnel): it is answered 403 instead.
/// - negative: the host's code failed: 500 (`HS_ANSWER_SERVER_ERROR`, through the error hook)
///   and a debug log line. So does `hs_response_fail(res, ...)`, whatever the return value.
///
/// Runs on the event-loop thread (a worker thread with `hs_set_threads`), before the upgrade is
/// answered, once per upgrade, after the origin and route-limit checks passed. `req`,
/// `admission` and `res` are valid only during the call. Declared `C-unwind`: a Rust host's
/// panic is caught and answered 500.
#[allow(non_camel_case_types)]
pub type hs_authorize_handler = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        req: *const hs_request,
        admission: *mut hs_admission,
        res: *mut hs_response,
    ) -> c_int,
>;

type AuthorizeFn = unsafe extern "C-unwind" fn(
    *mut c_void,
    *const hs_request,
    *mut hs_admission,
    *mut hs_response,
) -> c_int;

struct CAuthorizer(AuthorizeFn, UserData);

impl Authorizer for CAuthorizer {
    fn authorize(&self, req: &Request, admission: &mut Admission, res: &mut Response) -> Verdict {
        // SAFETY: host-registered function and user_data; the handles live for the call.
        let rc = unsafe { (self.0)(self.1 .0, lend(req), lend_mut(admission), lend_mut(res)) };
        match rc {
            1.. => Verdict::Accept,
            0 => Verdict::Refuse,
            _ => Verdict::Failed,
        }
    }
}

/// `count` C strings, borrowed for the call.
///
/// # Safety
/// `list` is NULL or points to `count` pointers, each NULL or a NUL-terminated string.
unsafe fn text_list<'a>(list: *const *const c_char, count: c_int) -> Result<Vec<&'a str>> {
    let n =
        usize::try_from(count).map_err(|_| Error::invalid(format!("count {count} is negative")))?;
    if n == 0 {
        return Ok(Vec::new());
    }
    if list.is_null() {
        return Err(Error::invalid(format!("origins is NULL but count is {n}")));
    }
    (0..n)
        .map(|i| text(*list.add(i), &format!("origins[{i}]")))
        .collect()
}

/// Sets the origins a WebSocket upgrade may come from, replacing the list set before: `count`
/// strings, each an exact origin `scheme://host[:port]` (`https://app.example.com`,
/// `http://localhost:8080`), `"*"` for any origin, or `"null"` for the opaque origin of
/// sandboxed and `file:` pages. Scheme and host are compared without regard to case, and a
/// scheme's default port (80 for http, 443 for https) may be written or left out. `count` 0
/// (`origins` may then be NULL) removes the check, which is the default.
///
/// An upgrade whose `Origin` header is not in the list gets 403 "Origin not allowed."
/// (`HS_ANSWER_ORIGIN_REFUSED`). An upgrade without an `Origin` header is allowed: browsers
/// always send one, other clients (servers, command-line tools, apps) usually do not, and could
/// send any value they like anyway — this check protects browser users from other sites' pages
/// (cross-site WebSocket hijacking), it does not authenticate. The strings are copied.
///
/// Returns `HS_OK`, or `HS_ERR_INVALID` naming the first entry that is not an origin (a path,
/// a wildcard inside a name, a bad port): the list is then left as it was.
#[no_mangle]
pub extern "C" fn hs_ws_set_origins(
    server: *mut hs_server,
    origins: *const *const c_char,
    count: c_int,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let list = unsafe { text_list(origins, count) }?;
        s.set_ws_origins(&list)?;
        ok()
    })
}

/// Sets the most clients accept route `route_id` (from `hs_accept`) may have at once; 0 (the
/// default) means no limit. An upgrade beyond it gets 503 "Too many clients on this route."
/// (`HS_ANSWER_ROUTE_FULL`) with `Retry-After: 5`. Clients already connected stay when the
/// limit is lowered.
///
/// Returns `HS_OK`; `HS_ERR_INVALID` for a negative `route_id` or `max_clients`;
/// `HS_ERR_NOT_FOUND` for an id that is not an accept route's (an HTTP route's id included).
#[no_mangle]
pub extern "C" fn hs_ws_route_limit(
    server: *mut hs_server,
    route_id: c_int,
    max_clients: c_int,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let route = u32::try_from(route_id)
            .map_err(|_| Error::invalid(format!("route id {route_id} is negative")))?;
        let max = usize::try_from(max_clients)
            .map_err(|_| Error::invalid(format!("max_clients {max_clients} is negative")))?;
        s.set_ws_route_limit(route, max)?;
        ok()
    })
}

/// Sets (or with NULL removes) the authorizer, which decides every WebSocket upgrade of every
/// accept route (see `hs_authorize_handler`). `user_data` is passed back to it and must stay
/// valid until `hs_free` (or until the authorizer is replaced and no upgrade is being decided).
/// Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_ws_authorize(
    server: *mut hs_server,
    handler: hs_authorize_handler,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        s.set_ws_authorizer(
            handler.map(|h| Arc::new(CAuthorizer(h, UserData(user_data))) as Arc<dyn Authorizer>),
        );
        ok()
    })
}

/// Names the user an accepted client acts for (in an authorizer only): `user_id`, 1-256 bytes
/// of UTF-8 (presence channels list users by it: a user with several clients is one member),
/// and `info`, `info_len` bytes the host keeps about the user (opaque to the engine; JSON in the
/// PHP wrapper; at most 65536 bytes; NULL when `info_len` is 0). Both are copied. A second call
/// replaces the first. Only an accepted upgrade keeps it.
///
/// Returns `HS_OK`, or `HS_ERR_INVALID` (NULL handle or id, id not UTF-8, empty or too long,
/// info too large) with the reason in `hs_last_error`; the admission is then unchanged.
#[no_mangle]
pub extern "C" fn hs_admission_user(
    admission: *mut hs_admission,
    user_id: *const c_char,
    info: *const u8,
    info_len: usize,
) -> c_int {
    guard(|| {
        let a = unsafe { borrow_mut(admission, "admission") }?;
        let id = unsafe { text(user_id, "user_id") }?;
        let info = unsafe { bytes(info.cast(), info_len, "info") }?;
        a.set_user(id, info)?;
        ok()
    })
}

/// Adds a channel the accepted client joins as it opens (in an authorizer only): `channel`,
/// 1-200 bytes of UTF-8 without control characters, copied. A channel named twice is joined
/// once; at most 100 channels per upgrade. Names starting with `presence-` are presence
/// channels (their members are users: see `hs_admission_user`).
///
/// Returns `HS_OK`, or `HS_ERR_INVALID` (NULL, not UTF-8, empty, too long, a control character,
/// the 101st channel) with the reason in `hs_last_error`.
#[no_mangle]
pub extern "C" fn hs_admission_join(admission: *mut hs_admission, channel: *const c_char) -> c_int {
    guard(|| {
        let a = unsafe { borrow_mut(admission, "admission") }?;
        let channel = unsafe { text(channel, "channel") }?;
        a.join(channel)?;
        ok()
    })
}
