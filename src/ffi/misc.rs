//! Timers, port helpers, logging, errors and version.

use super::boundary::*;
use crate::engine::{ports, Error};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Arc;
use std::time::Duration;

/// A timer callback. Runs on the event-loop thread (a worker with `hs_set_threads`).
#[allow(non_camel_case_types)]
pub type hs_timer_cb = Option<unsafe extern "C-unwind" fn(user_data: *mut c_void)>;

/// A log sink: one debug line (NUL-terminated, no trailing newline), valid during the call.
/// Called on whichever thread the event happened on (the loop thread by default).
#[allow(non_camel_case_types)]
pub type hs_log_cb =
    Option<unsafe extern "C-unwind" fn(user_data: *mut c_void, line: *const c_char)>;

/// Calls `cb(user_data)` every `interval_ms` (`repeat` non-zero) or once after it, on the event
/// loop, while `hs_run`/`hs_poll` runs. May be called before the loop starts or from inside any
/// callback. Timers end at shutdown. `user_data` must stay valid until the timer is cancelled,
/// has fired once (`repeat` 0), or the server is freed.
///
/// Returns the timer id (> 0) for `hs_cancel_timer`, or a negative status.
#[no_mangle]
pub extern "C" fn hs_add_timer(
    server: *mut hs_server,
    interval_ms: u64,
    repeat: c_int,
    cb: hs_timer_cb,
    user_data: *mut c_void,
) -> i64 {
    guard(|| {
        let s = unsafe { live_server(server) }?;
        let cb = cb.ok_or_else(|| Error::invalid("timer callback is NULL"))?;
        let ud = UserData(user_data);
        let f = Arc::new(move || {
            let ud = ud;
            // SAFETY: host-registered function and user_data.
            unsafe { cb(ud.0) }
        });
        Ok(s.add_timer(Duration::from_millis(interval_ms), flag(repeat), f)? as i64)
    })
}

/// Cancels a timer (also from inside its own callback). `HS_ERR_NOT_FOUND` if it already ended.
#[no_mangle]
pub extern "C" fn hs_cancel_timer(server: *mut hs_server, timer_id: i64) -> c_int {
    guard(|| {
        let s = unsafe { live_server(server) }?;
        let id = u64::try_from(timer_id).map_err(|_| Error::invalid("timer id must be > 0"))?;
        s.cancel_timer(id)?;
        ok()
    })
}

/// Returns 1 when something accepts TCP connections on `address`:`port` (a wildcard address is
/// checked through loopback), 0 when nothing does, or a negative status.
#[no_mangle]
pub extern "C" fn hs_port_in_use(address: *const c_char, port: c_int) -> c_int {
    guard(|| {
        let address = unsafe { text(address, "address") }?;
        let port = check_port(port)?;
        Ok(ports::in_use(address, port)? as c_int)
    })
}

/// Ends the OTHER processes (never this one) that listen on TCP `port`, found through /proc:
/// SIGTERM, then SIGKILL after 1 s for those still alive. Returns how many ended (0 if none held
/// it), or a negative status. Blocks up to about 3 s. Luminova's `freePortIfStuck()`.
#[no_mangle]
pub extern "C" fn hs_kill_port_holders(port: c_int) -> c_int {
    guard(|| {
        let port = check_port(port)?;
        Ok(ports::kill_holders(port, Duration::from_secs(1))? as c_int)
    })
}

/// Debug output on (non-zero) or off: one line per connection, request, response, upgrade,
/// WebSocket frame and close, on stderr or to the `hs_set_log` sink.
#[no_mangle]
pub extern "C" fn hs_set_debug(server: *mut hs_server, enable: c_int) -> c_int {
    guard(|| {
        unsafe { live_server(server) }?.set_debug(flag(enable));
        ok()
    })
}

/// Sends debug lines to `cb` instead of stderr (NULL: back to stderr). Does not turn debug on.
#[no_mangle]
pub extern "C" fn hs_set_log(
    server: *mut hs_server,
    cb: hs_log_cb,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { live_server(server) }?;
        let ud = UserData(user_data);
        let sink = cb.map(|cb| {
            Arc::new(move |line: &str| {
                let ud = ud;
                let c = CString::new(line.replace('\0', "?")).unwrap_or_default();
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

/// A short fixed text for a status code (`"invalid argument"`). Static storage.
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
