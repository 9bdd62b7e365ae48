//! Threads, processes and signals
//!
//! Set before the first hs_run()/hs_poll(). By default one thread (the caller's) runs
//! everything; hs_set_threads() opts in to worker threads. Several processes serve one port
//! with hs_set_reuse_port() or by sharing the parent's socket (hs_listener_fd() before fork(),
//! hs_adopt_listener() in the child); hs_cluster_join() lets their WebSocket clients reach each
//! other.

use super::convert::{flag, text};
use super::guard::{guard, ok};
use super::handles::{borrow, hs_server};
use crate::engine::Error;
use std::ffi::{c_char, c_int};

/// Opt-in to concurrency: with `threads` > 1 the event loop runs on that many worker threads,
/// created by the first `hs_run`/`hs_poll`, and callbacks run concurrently on them (never on a
/// thread the library did not create for this purpose or the caller's). Default 1: everything on
/// the caller's thread. Must be called before the first `hs_run`/`hs_poll`. Never use from PHP.
/// Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_set_threads(server: *mut hs_server, threads: c_int) -> c_int {
    guard(|| {
        let n = usize::try_from(threads)
            .map_err(|_| Error::invalid("thread count must be positive"))?;
        unsafe { borrow(server, "server") }?.set_threads(n)?;
        ok()
    })
}

/// Lets the event loop catch SIGINT and SIGTERM and shut down gracefully. Default off (the host
/// keeps its own signal handling). Set before the first `hs_run`/`hs_poll`. Once on, the
/// process-wide handler stays installed for the life of the process.
/// Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_handle_signals(server: *mut hs_server, enable: c_int) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.set_handle_signals(flag(enable))?;
        ok()
    })
}

/// Sets SO_REUSEPORT, so that several processes can each bind the same port and the kernel
/// spreads connections among them. Before `hs_start` the socket is bound with it; between
/// `hs_start` and the first `hs_run`/`hs_poll` it is set on the bound socket, so that workers
/// forked afterwards can bind the port beside it (see `hs_adopt_listener`). Default off.
/// Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_set_reuse_port(server: *mut hs_server, enable: c_int) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.set_reuse_port(flag(enable))?;
        ok()
    })
}

/// The descriptor of the listening socket, between `hs_start` and the first `hs_run`/`hs_poll`
/// (`HS_ERR_STATE` otherwise). It stays owned by the server: do not close it. Meant for a process
/// that forks workers: they inherit it and serve it with `hs_adopt_listener`, so the port never
/// goes without a listener while they start or restart.
#[no_mangle]
pub extern "C" fn hs_listener_fd(server: *const hs_server) -> c_int {
    guard(|| unsafe { borrow(server, "server") }?.listener_fd())
}

/// Serves a listening TCP socket made elsewhere (typically inherited across `fork()` from the
/// parent's server, see `hs_listener_fd`) alongside this server's own: connections that reach it
/// are accepted by this server too. `fd` is duplicated; the caller keeps (and closes) its own.
/// Call before the first `hs_run`/`hs_poll`. `HS_ERR_INVALID` if `fd` is not a listening TCP
/// socket. Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_adopt_listener(server: *mut hs_server, fd: c_int) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.adopt_listener(fd)?;
        ok()
    })
}

/// Makes this server worker `slot` (0-based) of `slots` worker processes on this machine that
/// serve one port together (with `hs_set_reuse_port`): `hs_ws_broadcast*` then reaches the
/// clients of every worker, and `hs_ws_send`/`hs_ws_close` with the id of another worker's client
/// are forwarded to it. Workers find each other through abstract Unix sockets named after `group`
/// (1-64 characters, no '/'; use one per server, e.g. "myapp-8080"; copied); only processes of
/// the same user are accepted. Connection ids then carry the slot, so they are unique across
/// workers. Every worker must register its routes in the same order (route ids must agree).
/// Workers replicate their clients, channels and presence to each other (see hs_ws_join()):
/// `hs_ws_count`/`hs_ws_clients` count and list every worker's clients. A worker that dies is
/// forgotten by the others at once (its connection to them ends); a message to a worker that is
/// down (restarting) is dropped. Slots 0-1022. Call before the first `hs_run`/`hs_poll`.
/// Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_cluster_join(
    server: *mut hs_server,
    group: *const c_char,
    slot: c_int,
    slots: c_int,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let group = unsafe { text(group, "group") }?;
        let slot =
            u16::try_from(slot).map_err(|_| Error::invalid(format!("slot {slot} is invalid")))?;
        let slots = u16::try_from(slots)
            .map_err(|_| Error::invalid(format!("slots {slots} is invalid")))?;
        s.join_cluster(group, slot, slots)?;
        ok()
    })
}

/// Says that this worker replaces a worker of the same slot that died (`restarted` 1; 0 is the
/// default: a worker of a fresh start). A replacement learns what its siblings and the other
/// nodes already know (their clients, channels, presence) without firing presence events for
/// it: its node fired them already, through the worker it replaces or a sibling. A worker that
/// is not a replacement fires presence joins for the users it finds (it is news on this node).
/// Call before the first `hs_run`/`hs_poll`. Returns `HS_OK` or a negative status.
#[no_mangle]
pub extern "C" fn hs_cluster_restarted(server: *mut hs_server, restarted: c_int) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.set_cluster_restarted(flag(restarted))?;
        ok()
    })
}
