//! What every export shares: status codes, the thread's last error message, the panic guard,
//! the registry of live server handles, and argument conversions. Nothing here knows HTTP.

use crate::engine::{Error, ErrorKind, Result, Server};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

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

pub(crate) fn code_of(kind: ErrorKind) -> hs_status {
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

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "?")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Pointer to the thread's last error text; valid until the next failing call on this thread.
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

/// What an export returns when it fails, chosen by its return type: a negative `hs_status` for
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

/// The panic boundary: the body of every export is one call of this. Runs `body`, catches a
/// panic, and turns an error or a panic into the return type's failure value, with the reason
/// as the thread's last error (`hs_last_error`).
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

pub(crate) fn ok() -> Result<c_int> {
    Ok(hs_status::HS_OK as c_int)
}

/// Live server handles. Lock-free (a fixed table of atomics) so that `hs_shutdown` stays
/// async-signal-safe; a freed or foreign pointer is refused instead of dereferenced.
const SLOTS: usize = 256;
static LIVE: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static HIGH: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn register(p: usize) -> Result<()> {
    for (i, slot) in LIVE.iter().enumerate() {
        if slot
            .compare_exchange(0, p, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            HIGH.fetch_max(i + 1, Ordering::AcqRel);
            return Ok(());
        }
    }
    Err(Error::state(format!(
        "more than {SLOTS} servers alive at once"
    )))
}

pub(crate) fn unregister(p: usize) -> bool {
    LIVE[..HIGH.load(Ordering::Acquire)].iter().any(|s| {
        s.compare_exchange(p, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    })
}

pub(crate) fn is_live(p: usize) -> bool {
    p != 0
        && LIVE[..HIGH.load(Ordering::Acquire)]
            .iter()
            .any(|s| s.load(Ordering::Acquire) == p)
}

/// Opaque server handle. Created by `hs_new`, released by `hs_free`.
#[allow(non_camel_case_types)]
pub struct hs_server {
    _opaque: [u8; 0],
}

/// Borrows the engine server behind a handle, refusing NULL and handles not (or no longer) live.
///
/// # Safety
/// `p` is NULL or a pointer from `hs_new`; the table check makes a freed one an error.
pub(crate) unsafe fn live_server<'a>(p: *const hs_server) -> Result<&'a Server> {
    if p.is_null() {
        return Err(Error::invalid("server handle is NULL"));
    }
    if !is_live(p as usize) {
        return Err(Error::state(
            "server handle is not live (already freed, or not from hs_new)",
        ));
    }
    Ok(&*(p as *const Server))
}

/// A NUL-terminated UTF-8 argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::invalid(format!("{what} is not valid UTF-8")))
}

/// A (pointer, length) byte argument; NULL is allowed only with length 0.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes.
pub(crate) unsafe fn bytes<'a>(p: *const c_char, len: usize, what: &str) -> Result<&'a [u8]> {
    if p.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::invalid(format!(
                "{what} is NULL but its length is {len}"
            )))
        };
    }
    Ok(std::slice::from_raw_parts(p.cast(), len))
}

/// Writes `v` through an optional out-parameter.
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn put<T>(out: *mut T, v: T) {
    if !out.is_null() {
        *out = v;
    }
}

pub(crate) fn flag(v: c_int) -> bool {
    v != 0
}

pub(crate) fn check_port(port: c_int) -> Result<u16> {
    u16::try_from(port).map_err(|_| Error::invalid(format!("port {port} is outside 0-65535")))
}

/// Copies `src` into `buf` (NUL-terminated, truncated to `cap`); returns the full length.
pub(crate) unsafe fn copy_out(src: &str, buf: *mut c_char, cap: usize) -> Result<c_int> {
    if buf.is_null() && cap > 0 {
        return Err(Error::invalid("buffer is NULL but cap is not 0"));
    }
    if cap > 0 {
        let n = src.len().min(cap - 1);
        std::ptr::copy_nonoverlapping(src.as_ptr(), buf.cast(), n);
        *buf.add(n) = 0;
    }
    Ok(src.len() as c_int)
}

/// Host pointers that cross threads only as the host allowed (see the header's thread rules).
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub *mut std::ffi::c_void);
// SAFETY: user_data is only handed back to the host's own callbacks, on the threads the header
// documents; what it points to is the host's business.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}
