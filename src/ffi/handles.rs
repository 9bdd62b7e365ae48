//! Opaque handles
//!
//! C sees `hs_server`, `hs_request`, `hs_response` and `hs_admission` only as incomplete struct
//! types. The `Handle` trait says for each what it points to and how it is owned; the functions
//! below are the only places where a handle is cast to or from the engine type behind it:
//!
//! | handle         | points to        | owned by              | made by       | ends at            |
//! |----------------|------------------|-----------------------|---------------|--------------------|
//! | `hs_server`    | `Box<Server>`    | C (in the live table) | `into_handle` | `free`             |
//! | `hs_request`   | `&Request`       | the engine, lent to C | `lend`        | the callback's end |
//! | `hs_response`  | `&mut Response`  | the engine, lent to C | `lend_mut`    | the callback's end |
//! | `hs_admission` | `&mut Admission` | the engine, lent to C | `lend_mut`    | the callback's end |
//!
//! Every handle is read with `borrow`; `hs_response` and `hs_admission` are written with
//! `borrow_mut`.
//!
//! NULL is `HS_ERR_INVALID` with a message naming the argument; a server handle that is not in
//! the live table (freed, or never from `hs_new`) is `HS_ERR_STATE` and is never dereferenced.
//! A request, response or admission handle cannot be checked beyond NULL: the header says it is
//! valid only during its callback.

use crate::engine::ws::Admission;
use crate::engine::{Error, Request, Response, Result, Server};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Opaque server handle. Created by `hs_new()`, owned by the caller, released by `hs_free()`;
/// after `hs_free()` every call with it returns `HS_ERR_STATE`.
#[allow(non_camel_case_types)]
pub struct hs_server {
    _opaque: [u8; 0],
}

/// Opaque request handle given to a handler. Valid only during that callback; every pointer read
/// from it stays valid until the callback returns. Read-only.
///
/// The `hs_request_*` string accessors return text that is NUL-terminated, owned by the request,
/// as received on the wire (not validated as UTF-8), and valid until the callback returns; their
/// `len` out-parameter (may be NULL) receives the length without the NUL. The body is the
/// exception: it is not NUL-terminated and may contain NUL bytes.
#[allow(non_camel_case_types)]
pub struct hs_request {
    _opaque: [u8; 0],
}

/// Opaque response handle given to a handler, to fill in. Valid only during that callback.
#[allow(non_camel_case_types)]
pub struct hs_response {
    _opaque: [u8; 0],
}

/// Opaque handle given to an authorizer (`hs_authorize_handler`): what an accepted upgrade
/// brings to its client (the user, the channels to join), filled with `hs_admission_user` and
/// `hs_admission_join`. Valid only during that callback.
#[allow(non_camel_case_types)]
pub struct hs_admission {
    _opaque: [u8; 0],
}

/// How the value behind a handle is owned, and what a non-NULL handle must pass before it is
/// dereferenced.
pub(crate) trait Ownership {
    fn check(addr: usize, what: &str) -> Result<()>;
}

/// A `Box` owned by the C caller from `into_handle` to `free`, registered in the live table
/// meanwhile, so that a freed or foreign pointer is refused instead of dereferenced.
pub(crate) enum Registered {}

/// A shared reference lent by the engine for the duration of one callback.
pub(crate) enum Lent {}

/// An exclusive reference lent by the engine for the duration of one callback.
pub(crate) enum LentMut {}

impl Ownership for Registered {
    fn check(addr: usize, what: &str) -> Result<()> {
        if LIVE.contains(addr) {
            Ok(())
        } else {
            Err(Error::state(format!(
                "{what} is not live (already freed, or not from hs_new)"
            )))
        }
    }
}

impl Ownership for Lent {
    fn check(_: usize, _: &str) -> Result<()> {
        Ok(())
    }
}

impl Ownership for LentMut {
    fn check(_: usize, _: &str) -> Result<()> {
        Ok(())
    }
}

/// An opaque C handle: what it points to and how that is owned.
pub(crate) trait Handle {
    type Target;
    type Ownership: Ownership;
    /// What the handle is called in error messages.
    const WHAT: &'static str;
}

impl Handle for hs_server {
    type Target = Server;
    type Ownership = Registered;
    const WHAT: &'static str = "server handle";
}

impl Handle for hs_request {
    type Target = Request;
    type Ownership = Lent;
    const WHAT: &'static str = "request handle";
}

impl Handle for hs_response {
    type Target = Response;
    type Ownership = LentMut;
    const WHAT: &'static str = "response handle";
}

impl Handle for hs_admission {
    type Target = Admission;
    type Ownership = LentMut;
    const WHAT: &'static str = "admission handle";
}

fn checked<H: Handle>(p: *const H, arg: &str) -> Result<()> {
    if p.is_null() {
        return Err(Error::invalid(format!(
            "{} is NULL (argument `{arg}`)",
            H::WHAT
        )));
    }
    H::Ownership::check(p as usize, H::WHAT)
}

/// Borrows what a handle points to, for reading. `arg` is the C argument's name.
///
/// # Safety
/// `p` is NULL or a handle of the kind `H` that C got from this library and that is still valid
/// (a registered handle is checked against the live table; a lent one cannot be checked).
pub(crate) unsafe fn borrow<'a, H: Handle>(p: *const H, arg: &str) -> Result<&'a H::Target> {
    checked(p, arg)?;
    Ok(&*(p as *const H::Target))
}

/// Borrows what a mutably lent handle points to, for writing. `arg` is the C argument's name.
///
/// # Safety
/// As `borrow`, and no other reference to the target is in use during the borrow.
pub(crate) unsafe fn borrow_mut<'a, H: Handle<Ownership = LentMut>>(
    p: *mut H,
    arg: &str,
) -> Result<&'a mut H::Target> {
    checked(p, arg)?;
    Ok(&mut *(p as *mut H::Target))
}

/// Lends a shared reference to C as a handle, valid while `r` is (the callback it is passed to).
pub(crate) fn lend<H: Handle<Ownership = Lent>>(r: &H::Target) -> *const H {
    r as *const H::Target as *const H
}

/// Lends an exclusive reference to C as a handle, valid while `r` is.
pub(crate) fn lend_mut<H: Handle<Ownership = LentMut>>(r: &mut H::Target) -> *mut H {
    r as *mut H::Target as *mut H
}

/// Gives the ownership of `value` to C as a registered handle (freed by `free`). Fails, dropping
/// `value`, when the live table is full.
pub(crate) fn into_handle<H: Handle<Ownership = Registered>>(
    value: Box<H::Target>,
) -> Result<*mut H> {
    let p = Box::into_raw(value);
    if let Err(e) = LIVE.insert(p as usize) {
        // SAFETY: `p` came from `Box::into_raw` just above and was never handed out.
        drop(unsafe { Box::from_raw(p) });
        return Err(e);
    }
    Ok(p as *mut H)
}

/// Takes the ownership back from C: the handle leaves the live table (so every later call with
/// it is `HS_ERR_STATE`) and the caller gets the `Box`. `None` for NULL or a handle that is not
/// live; of two threads freeing one handle, only one gets it.
///
/// # Safety
/// `p` is NULL or any pointer: only a live handle, which came from `into_handle`, is used.
pub(crate) unsafe fn free<H: Handle<Ownership = Registered>>(p: *mut H) -> Option<Box<H::Target>> {
    if p.is_null() || !LIVE.remove(p as usize) {
        return None;
    }
    Some(Box::from_raw(p as *mut H::Target))
}

/// The addresses of live registered handles. Lock-free (a fixed table of atomics) so that a
/// check, as in `hs_shutdown`, stays async-signal-safe.
struct LiveTable {
    slots: [AtomicUsize; SLOTS],
    /// One past the highest slot ever used: the searches stop there.
    high: AtomicUsize,
}

const SLOTS: usize = 256;

static LIVE: LiveTable = LiveTable {
    slots: [const { AtomicUsize::new(0) }; SLOTS],
    high: AtomicUsize::new(0),
};

impl LiveTable {
    fn used(&self) -> &[AtomicUsize] {
        &self.slots[..self.high.load(Ordering::Acquire)]
    }

    fn insert(&self, addr: usize) -> Result<()> {
        for (i, slot) in self.slots.iter().enumerate() {
            if slot
                .compare_exchange(0, addr, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.high.fetch_max(i + 1, Ordering::AcqRel);
                return Ok(());
            }
        }
        Err(Error::state(format!(
            "more than {SLOTS} servers alive at once"
        )))
    }

    fn remove(&self, addr: usize) -> bool {
        self.used().iter().any(|s| {
            s.compare_exchange(addr, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    fn contains(&self, addr: usize) -> bool {
        addr != 0
            && self
                .used()
                .iter()
                .any(|s| s.load(Ordering::Acquire) == addr)
    }
}
