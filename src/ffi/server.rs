//! Server lifecycle
//!
//! hs_new() -> configure, register routes -> hs_start() (optional: binds early) -> hs_run(),
//! or hs_poll() in slices -> hs_shutdown() (from anywhere) -> hs_free(). The hs_server handle
//! is owned by the caller from hs_new() to hs_free(); a freed handle is HS_ERR_STATE, never a
//! crash.

use super::convert::{copy_text_out, put, tcp_port, text};
use super::guard::{guard, ok};
use super::handles::{borrow, free, hs_server, into_handle};
use crate::engine::transport::parse_address;
use crate::engine::{Error, PollState, Result, Server};
use std::ffi::{c_char, c_int};
use std::time::Duration;

/// Creates a server for `address` and `port`. Nothing is bound yet (see `hs_start`) and no thread
/// is created.
///
/// `address`: `127.0.0.1`, `localhost`, `::1`, `[::1]`, `0.0.0.0`, a host name, or
/// `tcp://host:port` (`tcp://[::1]:8080` for IPv6); see `hs_parse_address`. `tls://host:port`
/// and `ssl://host:port` ask for TLS: `hs_start` then fails with `HS_ERR_STATE` unless a
/// certificate was configured (`hs_tls_cert_file`), so such a server never serves plain text. `port`: 0-65535;
/// with a `tcp://` address, 0 takes the URL's port; otherwise 0 asks for an ephemeral port (read
/// it with `hs_port()` after `hs_start`). `address` is copied.
///
/// Returns a handle owned by the caller, to release with `hs_free()`; NULL on error.
#[no_mangle]
pub extern "C" fn hs_new(address: *const c_char, port: c_int) -> *mut hs_server {
    guard(|| {
        let address = unsafe { text(address, "address") }?;
        let port = tcp_port(port)?;
        into_handle(Box::new(Server::new(address, port)?))
    })
}

/// A port argument of `hs_parse_address`: 0-65535, or -1 for "the default" (`None`).
fn port_or_default(p: c_int) -> Result<Option<u16>> {
    if p == -1 {
        Ok(None)
    } else {
        tcp_port(p).map(Some)
    }
}

/// Parses an address the way `hs_new` does, without creating a server: the one address parser,
/// for hosts that show the address before binding (PHP's `getAddress()`). Writes the host
/// (brackets removed; NUL-terminated, truncated to `host_cap`; `host` may be NULL when
/// `host_cap` is 0) and the port through `port_out` (may be NULL). `port`: -1 means Luminova's
/// default (the port of a `tcp://` address, else 8080); 0 takes the port of a `tcp://` address,
/// else 0 (ephemeral), as `hs_new` does; any other port wins over the address's.
///
/// Returns the host's length (like snprintf), or `HS_ERR_INVALID` with the reason (empty
/// address, bad port, a scheme other than `tcp://`, `tls://`, `ssl://`).
#[no_mangle]
pub extern "C" fn hs_parse_address(
    address: *const c_char,
    port: c_int,
    host: *mut c_char,
    host_cap: usize,
    port_out: *mut c_int,
) -> c_int {
    guard(|| {
        let address = unsafe { text(address, "address") }?;
        let (h, p) = parse_address(address, port_or_default(port)?)?;
        let n = unsafe { copy_text_out(&h, host, host_cap) }?;
        unsafe { put(port_out, p as c_int) };
        Ok(n)
    })
}

/// Releases a server. Call it after `hs_run()` returned (or after the last `hs_poll()`); a
/// running server is shut down first. Open connections are dropped without their close
/// callbacks. NULL is ignored. After this call the handle is dead: any call with it returns
/// `HS_ERR_STATE`.
///
/// If a thread is still inside `hs_run`/`hs_poll` of this server (for example a PHP fatal error
/// left a callback by longjmp), the memory is deliberately leaked instead of freed, so that
/// nothing is freed under a frame that still uses it.
#[no_mangle]
pub extern "C" fn hs_free(server: *mut hs_server) {
    guard(|| {
        // A NULL, unknown or already freed handle is ignored.
        if let Some(boxed) = unsafe { free(server) } {
            boxed.shutdown();
            if boxed.is_polling() {
                std::mem::forget(boxed);
            } else {
                drop(boxed);
            }
        }
        Ok(())
    })
}

/// Binds and listens. Idempotent: a second call on a listening server does nothing. A taken
/// port is `HS_ERR_IO` with a message naming the address and port. Creates no thread, so the
/// process may `fork()` after it (each child then calls `hs_run`/`hs_poll` on its copy).
/// Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_start(server: *mut hs_server) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.start()?;
        ok()
    })
}

/// The bound port (useful after asking for port 0), or `HS_ERR_STATE` before `hs_start`.
#[no_mangle]
pub extern "C" fn hs_port(server: *const hs_server) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        s.local_addr()
            .map(|a| a.port() as c_int)
            .ok_or_else(|| Error::state("the server is not listening yet (call hs_start)"))
    })
}

/// Runs the event loop on the calling thread until the server has shut down (`hs_shutdown`, or a
/// signal with `hs_handle_signals`). Starts the server first if needed. Returns `HS_OK` once every
/// connection has ended or the shutdown grace time is over.
///
/// Threads: by default every callback runs on this thread, one at a time. Must not be called
/// from a callback of the same server (`HS_ERR_STATE`).
///
/// Signals: the first run/poll sets SIGPIPE to SIG_IGN when it is still SIG_DFL (a client that
/// resets its connection during a write must not kill the process); a host handler is kept.
#[no_mangle]
pub extern "C" fn hs_run(server: *mut hs_server) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.poll(None)?;
        ok()
    })
}

/// Runs the event loop on the calling thread for at most `timeout_ms` milliseconds, then
/// returns, so that a host (PHP) can dispatch its own signals and timers between slices. While no
/// `hs_poll` runs, nothing is served (with the default single thread): connections wait.
///
/// Returns 1 when the slice ended and the server still runs, 0 when it has shut down (further
/// calls return 0 at once), or a negative `hs_status`. A negative `timeout_ms` means no limit
/// (same as `hs_run`).
#[no_mangle]
pub extern "C" fn hs_poll(server: *mut hs_server, timeout_ms: c_int) -> c_int {
    guard(|| {
        let slice = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
        match unsafe { borrow(server, "server") }?.poll(slice)? {
            PollState::Running => Ok(1),
            PollState::Stopped => Ok(0),
        }
    })
}

/// Starts a graceful shutdown: stop accepting, let in-flight requests finish, close WebSocket
/// clients with 1001, then `hs_run` returns (or `hs_poll` returns 0). Returns at once.
///
/// Safe from any thread, from inside any callback, and from a signal handler (it only checks the
/// handle against a lock-free table, stores a flag and writes one byte to a pipe). Calling it
/// again, or before `hs_run`, is harmless; a shutdown requested before the loop runs takes
/// effect when it starts.
#[no_mangle]
pub extern "C" fn hs_shutdown(server: *mut hs_server) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.shutdown();
        ok()
    })
}
