//! Timers
//!
//! Callbacks run on the event loop (a worker thread with hs_set_threads()) while hs_run()/
//! hs_poll() runs. Adding and cancelling are safe from any thread and any callback.

use super::convert::{flag, UserData};
use super::guard::{guard, ok};
use super::handles::{borrow, hs_server};
use crate::engine::Error;
use std::ffi::{c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

/// A timer callback. Runs on the event-loop thread (a worker with `hs_set_threads`).
#[allow(non_camel_case_types)]
pub type hs_timer_cb = Option<unsafe extern "C-unwind" fn(user_data: *mut c_void)>;

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
        let s = unsafe { borrow(server, "server") }?;
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

/// Cancels a timer (also from inside its own callback). Returns `HS_OK`, or `HS_ERR_NOT_FOUND`
/// if it already ended.
#[no_mangle]
pub extern "C" fn hs_cancel_timer(server: *mut hs_server, timer_id: i64) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let id = u64::try_from(timer_id).map_err(|_| Error::invalid("timer id must be > 0"))?;
        s.cancel_timer(id)?;
        ok()
    })
}
