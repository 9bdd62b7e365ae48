//! Argument and result conversions
//!
//! Text and bytes in (borrowed for the call, copied by the engine when it keeps them), text and
//! bytes out (pointers into memory the library owns, or copies into the caller's buffers), and
//! out-parameters. Each function checks what can be checked (NULL, UTF-8, a NULL buffer with a
//! non-zero capacity) and returns `HS_ERR_INVALID` naming the argument.

use crate::engine::{Error, Result};
use std::ffi::{c_char, c_int, c_void, CStr, CString};

/// A NUL-terminated UTF-8 argument, borrowed for the call.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::invalid(format!("{what} is not valid UTF-8")))
}

/// As `text`, where NULL means "none".
///
/// # Safety
/// As `text`.
pub(crate) unsafe fn text_or_null<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        text(p, what).map(Some)
    }
}

/// A (pointer, length) byte argument, borrowed for the call; NULL is allowed only with length 0.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that outlive `'a`.
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

/// A struct argument passed by pointer, borrowed for the call.
///
/// # Safety
/// `p` is NULL or points to a valid `T` that outlives `'a`.
pub(crate) unsafe fn struct_arg<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    p.as_ref()
        .ok_or_else(|| Error::invalid(format!("{what} is NULL")))
}

/// An `int` flag: non-zero is true.
pub(crate) fn flag(v: c_int) -> bool {
    v != 0
}

/// A TCP port argument: 0-65535.
pub(crate) fn tcp_port(port: c_int) -> Result<u16> {
    u16::try_from(port).map_err(|_| Error::invalid(format!("port {port} is outside 0-65535")))
}

/// Writes `v` through an optional out-parameter (NULL: not wanted).
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn put<T>(out: *mut T, v: T) {
    if !out.is_null() {
        *out = v;
    }
}

/// A pointer to `bytes` for C: valid as long as `bytes` is, and a valid pointer (to a static
/// empty string) even when `bytes` is empty, so that C never sees NULL for "no bytes".
pub(crate) fn bytes_ptr(bytes: &[u8]) -> *const u8 {
    if bytes.is_empty() {
        c"".as_ptr().cast()
    } else {
        bytes.as_ptr()
    }
}

/// A byte buffer out: `bytes_ptr`, and its length through the optional `len`.
pub(crate) fn bytes_out(bytes: &[u8], len: *mut usize) -> *const u8 {
    // SAFETY: `len` is NULL or writable (the header's contract for every `len` out-parameter).
    unsafe { put(len, bytes.len()) };
    bytes_ptr(bytes)
}

/// A request field out: `field` is followed by a NUL in the request's storage, so its pointer
/// is a C string valid as long as the request; its length goes through the optional `len`.
pub(crate) fn field_out(field: &[u8], len: *mut usize) -> Result<*const c_char> {
    // SAFETY: as in `bytes_out`.
    unsafe { put(len, field.len()) };
    Ok(field_ptr(field))
}

/// The C-string pointer of a NUL-followed field (see `field_out`).
pub(crate) fn field_ptr(field: &[u8]) -> *const c_char {
    field.as_ptr().cast()
}

/// A static NUL-terminated text (`"NOT_FOUND\0"`) as a C string of static storage.
pub(crate) fn static_text(with_nul: &'static str) -> *const c_char {
    debug_assert!(with_nul.ends_with('\0'));
    with_nul.as_ptr().cast()
}

/// Text handed to a callback: a C string that lives while the returned value does; a NUL inside
/// `s` becomes `?`.
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "?")).unwrap_or_default()
}

/// Copies `src` into the caller's `buf` (NUL-terminated, truncated to `cap` bytes with the NUL;
/// `buf` may be NULL when `cap` is 0); returns `src`'s full length, as snprintf does.
///
/// # Safety
/// `buf` is NULL or points to `cap` writable bytes.
pub(crate) unsafe fn copy_text_out(src: &str, buf: *mut c_char, cap: usize) -> Result<c_int> {
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

/// The caller's array out-parameter (`ids`, `buf`) of `cap` elements, checked before use: NULL
/// is allowed only with `cap` 0.
pub(crate) struct OutArray<T> {
    ptr: *mut T,
    cap: usize,
}

impl<T: Copy> OutArray<T> {
    /// # Safety
    /// `ptr` is NULL or points to `cap` writable elements, for as long as the value is used.
    pub(crate) unsafe fn new(ptr: *mut T, cap: usize, what: &str) -> Result<Self> {
        if ptr.is_null() && cap > 0 {
            return Err(Error::invalid(format!("{what} is NULL but cap is not 0")));
        }
        Ok(OutArray { ptr, cap })
    }

    /// Writes the first `cap` items; returns how many `items` there were in all.
    pub(crate) fn fill(&self, items: impl IntoIterator<Item = T>) -> usize {
        let mut n = 0;
        for item in items {
            if n < self.cap {
                // SAFETY: `n < cap`, and `new` was promised `cap` writable elements.
                unsafe { *self.ptr.add(n) = item };
            }
            n += 1;
        }
        n
    }

    /// Copies as much of `src` as fits (no terminator); returns `src`'s full length.
    pub(crate) fn copy(&self, src: &[T]) -> usize {
        let n = src.len().min(self.cap);
        if n > 0 {
            // SAFETY: `0 < n <= cap`, and `new` was promised `cap` writable elements.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr, n) };
        }
        src.len()
    }
}

/// A host's `void *user_data`, passed back untouched to the host's callbacks.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub *mut c_void);
// SAFETY: user_data is only handed back to the host's own callbacks, on the threads the header
// documents; what it points to is the host's business.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}
