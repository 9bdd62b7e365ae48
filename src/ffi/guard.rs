//! Status codes, the panic boundary
//!
//! Every export's body is exactly one `guard(|| ...)` call (build.rs refuses to build an export
//! that is not): the closure converts the arguments and calls the engine; `guard` catches a
//! panic and turns an error into the failure value of the export's return type, with the reason
//! as this thread's last error. Nothing here knows HTTP.

use crate::engine::{ErrorKind, Result};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Status codes. Every `int`-returning function returns `HS_OK` (0) or a non-negative result on
/// success and one of these negative values on failure; `hs_last_error()` then tells why.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum hs_status {
    /// Success.
    HS_OK = 0,
    /// An argument is invalid: NULL where a value is needed, not UTF-8, out of range, malformed.
    HS_ERR_INVALID = -1,
    /// The call does not fit the server's state (not started, running, shut down, freed handle).
    HS_ERR_STATE = -2,
    /// The operating system refused (bind, listen, address in use, resolve).
    HS_ERR_IO = -3,
    /// Unknown connection, timer or route id (it may have closed or ended).
    HS_ERR_NOT_FOUND = -4,
    /// The route pattern does not compile; the message quotes it and the regex error.
    HS_ERR_PATTERN = -5,
    /// A WebSocket client's send queue is full (it does not read); the client is being dropped.
    HS_ERR_FULL = -6,
    /// A panic inside the library was caught; the server is still usable.
    HS_ERR_PANIC = -7,
}

fn code_of(kind: ErrorKind) -> hs_status {
    match kind {
        ErrorKind::Invalid => hs_status::HS_ERR_INVALID,
        ErrorKind::State => hs_status::HS_ERR_STATE,
        ErrorKind::Io => hs_status::HS_ERR_IO,
        ErrorKind::NotFound => hs_status::HS_ERR_NOT_FOUND,
        ErrorKind::Pattern => hs_status::HS_ERR_PATTERN,
        ErrorKind::Full => hs_status::HS_ERR_FULL,
        ErrorKind::Panic => hs_status::HS_ERR_PANIC,
    }
}

/// The `int` an export returns for plain success.
pub(crate) fn ok() -> Result<c_int> {
    Ok(hs_status::HS_OK as c_int)
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "?")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Pointer to the thread's last error text; valid until the next failing call on this thread
/// (only `guard` replaces the text, and only when a call fails).
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal panic caught at the C boundary: {what}")
}

/// What an export returns when it fails, chosen by its return type: the negative `hs_status` for
/// `int` and `int64_t`, NULL for a pointer, 0 for a `uint64_t` id, nothing for `void`.
pub(crate) trait Failure {
    fn failure(status: hs_status) -> Self;
}

impl Failure for c_int {
    fn failure(status: hs_status) -> Self {
        status as c_int
    }
}

impl Failure for i64 {
    fn failure(status: hs_status) -> Self {
        status as i64
    }
}

/// Ids are never 0, so 0 says "failed" (the reason is in `hs_last_error()`).
impl Failure for u64 {
    fn failure(_: hs_status) -> Self {
        0
    }
}

impl Failure for () {
    fn failure(_: hs_status) -> Self {}
}

impl<T> Failure for *const T {
    fn failure(_: hs_status) -> Self {
        std::ptr::null()
    }
}

impl<T> Failure for *mut T {
    fn failure(_: hs_status) -> Self {
        std::ptr::null_mut()
    }
}

/// The panic boundary: the body of every export is one call of this. Runs `body`; an error, or a
/// panic caught here (`HS_ERR_PANIC`), becomes the return type's failure value and its reason
/// the thread's last error (`hs_last_error`). Success leaves the last error as it was.
pub(crate) fn guard<R: Failure>(body: impl FnOnce() -> Result<R>) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            R::failure(code_of(e.kind))
        }
        Err(p) => {
            set_last_error(&panic_message(p.as_ref()));
            R::failure(hs_status::HS_ERR_PANIC)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Error;
    use std::ffi::CStr;

    fn last() -> String {
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn errors_become_the_failure_value_of_each_return_type() {
        assert_eq!(guard(|| -> Result<c_int> { Err(Error::state("s")) }), -2);
        assert_eq!(last(), "s");
        assert_eq!(guard(|| -> Result<i64> { Err(Error::not_found("n")) }), -4);
        assert_eq!(last(), "n");
        assert_eq!(guard(|| -> Result<u64> { Err(Error::invalid("u")) }), 0);
        assert_eq!(last(), "u");
        assert!(guard(|| -> Result<*const u8> { Err(Error::invalid("p")) }).is_null());
        assert!(guard(|| -> Result<*mut u8> { Err(Error::invalid("m")) }).is_null());
        guard(|| -> Result<()> { Err(Error::invalid("v")) });
        assert_eq!(last(), "v");
    }

    #[test]
    fn a_panic_is_caught_and_named() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let rc = guard(|| -> Result<c_int> { panic!("boom") });
        let p = guard(|| -> Result<*const c_char> { panic!("bang") });
        std::panic::set_hook(prev);
        assert_eq!(rc, hs_status::HS_ERR_PANIC as c_int);
        assert!(p.is_null());
        assert!(last().ends_with("bang"), "{}", last());
    }

    #[test]
    fn success_keeps_the_last_error() {
        guard(|| -> Result<c_int> { Err(Error::invalid("kept")) });
        assert_eq!(guard(|| Ok(7 as c_int)), 7);
        assert_eq!(guard(|| Ok(9u64)), 9);
        assert_eq!(last(), "kept");
    }
}
