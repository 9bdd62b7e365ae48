//! Errors, debug log and version
//!
//! hs_last_error() is the reason of this thread's last failing call. The debug log (off by
//! default) writes one line per connection event to stderr or to a host's sink.

use super::convert::{c_string, flag, UserData};
use super::guard::{guard, last_error_ptr, ok};
use super::handles::{borrow, hs_server};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;

/// A log sink: one debug line (NUL-terminated, no trailing newline), valid during the call.
/// Called on whichever thread the event happened on (the loop thread by default).
#[allow(non_camel_case_types)]
pub type hs_log_cb =
    Option<unsafe extern "C-unwind" fn(user_data: *mut c_void, line: *const c_char)>;

/// Debug output on (non-zero) or off: one line per connection, request, response, upgrade,
/// WebSocket frame and close, on stderr or to the `hs_set_log` sink. Returns `HS_OK` or a
/// negative status.
#[no_mangle]
pub extern "C" fn hs_set_debug(server: *mut hs_server, enable: c_int) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.set_debug(flag(enable));
        ok()
    })
}

/// Sends debug lines to `cb` instead of stderr (NULL: back to stderr). Does not turn debug on.
/// `cb` runs on whichever thread the event happened on (see `hs_log_cb`); `user_data` is passed
/// back to it and must stay valid until `hs_free`. Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_set_log(
    server: *mut hs_server,
    cb: hs_log_cb,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let ud = UserData(user_data);
        let sink = cb.map(|cb| {
            Arc::new(move |line: &str| {
                let ud = ud;
                let c = c_string(line);
                // SAFETY: host-registered function and user_data; `c` lives for the call.
                unsafe { cb(ud.0, c.as_ptr()) }
            }) as crate::engine::LogSink
        });
        s.set_log_sink(sink);
        ok()
    })
}

/// The message of the last failing `hs_*` call on this thread ("" if none failed yet).
/// Thread-local; valid until the next failing call on this thread. Do not free.
#[no_mangle]
pub extern "C" fn hs_last_error() -> *const c_char {
    guard(|| Ok(last_error_ptr()))
}

/// A short fixed text for a status code (`"invalid argument"`). Static storage. Never NULL.
#[no_mangle]
pub extern "C" fn hs_status_str(status: c_int) -> *const c_char {
    guard(|| {
        let s: &'static CStr = match status {
            0 => c"ok",
            -1 => c"invalid argument",
            -2 => c"wrong state",
            -3 => c"operating system error",
            -4 => c"not found",
            -5 => c"invalid route pattern",
            -6 => c"queue full",
            -7 => c"internal panic",
            s if s > 0 => c"ok (value)",
            _ => c"unknown status",
        };
        Ok(s.as_ptr())
    })
}

/// The library version, `"MAJOR.MINOR.PATCH"`. Static storage.
#[no_mangle]
pub extern "C" fn hs_version() -> *const c_char {
    guard(|| Ok(VERSION.as_ptr()))
}

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version contains a NUL"),
    };
