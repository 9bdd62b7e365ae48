//! Lifecycle and configuration of a server.

use super::boundary::*;
use crate::engine::{Error, PollState, Server};
use std::ffi::{c_char, c_int, c_long};
use std::net::IpAddr;
use std::time::Duration;

/// Limits settable with `hs_set_limit()` / readable with `hs_get_limit()`.
#[repr(C)]
#[allow(non_camel_case_types, clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy)]
pub enum hs_limit {
    /// Milliseconds a connection may stay without any byte moving before it is closed; also the
    /// time a client has to send a whole request head. Default 60000.
    HS_LIMIT_IDLE_TIMEOUT_MS = 1,
    /// Open connections (HTTP + WebSocket) at once; a new one beyond it gets 503 and is closed.
    /// 0 = no limit (default).
    HS_LIMIT_MAX_CONNECTIONS = 2,
    /// Largest request head in bytes; beyond it the answer is 431. Default 65536, minimum 8192
    /// (smaller values are raised to it).
    HS_LIMIT_MAX_HEADER_BYTES = 3,
    /// Largest request body in bytes (after chunked decoding); beyond it 413. Default 16 MiB.
    HS_LIMIT_MAX_BODY_BYTES = 4,
    /// Largest WebSocket message in bytes; beyond it the client is closed with 1009. Default 16 MiB.
    HS_LIMIT_WS_MAX_MESSAGE = 5,
    /// A silent WebSocket client is pinged after this many ms. Default 30000.
    HS_LIMIT_WS_PING_INTERVAL_MS = 6,
    /// ...and dropped when nothing came from it for this many ms after that ping. Default 30000.
    HS_LIMIT_WS_PING_TIMEOUT_MS = 7,
    /// Messages queued per WebSocket client; a client whose queue is full is dropped. Default 1024.
    HS_LIMIT_WS_SEND_QUEUE = 8,
    /// Longest wait of a graceful shutdown for in-flight work, in ms. Default 10000.
    HS_LIMIT_SHUTDOWN_GRACE_MS = 9,
}

/// Creates a server for `address` and `port`. Nothing is bound yet (see `hs_start`) and no thread
/// is created.
///
/// `address`: `127.0.0.1`, `localhost`, `::1`, `[::1]`, `0.0.0.0`, a host name, or
/// `tcp://host:port` (`tcp://[::1]:8080` for IPv6); see `hs_parse_address`. `port`: 0-65535;
/// with a `tcp://` address, 0 takes the URL's port; otherwise 0 asks for an ephemeral port (read
/// it with `hs_port()` after `hs_start`).
///
/// Returns a handle owned by the caller, to release with `hs_free()`; NULL on error.
#[no_mangle]
pub extern "C" fn hs_new(address: *const c_char, port: c_int) -> *mut hs_server {
    guard(|| {
        let address = unsafe { text(address, "address") }?;
        let port = check_port(port)?;
        let server = Box::new(Server::new(address, port)?);
        let p = Box::into_raw(server);
        if let Err(e) = register(p as usize) {
            drop(unsafe { Box::from_raw(p) });
            return Err(e);
        }
        Ok(p as *mut hs_server)
    })
}

/// A port argument: 0-65535, or -1 for "the default" (`None`).
fn port_arg(port: c_int) -> crate::engine::Result<Option<u16>> {
    if port == -1 {
        Ok(None)
    } else {
        check_port(port).map(Some)
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
/// address, bad port, a scheme other than `tcp://`).
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
        let (h, p) = crate::engine::transport::parse_address(address, port_arg(port)?)?;
        let n = unsafe { copy_out(&h, host, host_cap) }?;
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
        if server.is_null() || !unregister(server as usize) {
            return Ok(());
        }
        let boxed = unsafe { Box::from_raw(server as *mut Server) };
        boxed.shutdown();
        if boxed.is_polling() {
            std::mem::forget(boxed);
        } else {
            drop(boxed);
        }
        Ok(())
    })
}

/// Binds and listens. Idempotent: a second call on a listening server does nothing. A taken
/// port is `HS_ERR_IO` with a message naming the address and port. Creates no thread, so the
/// process may `fork()` after it (each child then calls `hs_run`/`hs_poll` on its copy).
#[no_mangle]
pub extern "C" fn hs_start(server: *mut hs_server) -> c_int {
    guard(|| {
        unsafe { live_server(server) }?.start()?;
        ok()
    })
}

/// The bound port (useful after asking for port 0), or `HS_ERR_STATE` before `hs_start`.
#[no_mangle]
pub extern "C" fn hs_port(server: *const hs_server) -> c_int {
    guard(|| {
        let s = unsafe { live_server(server) }?;
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
        unsafe { live_server(server) }?.poll(None)?;
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
        match unsafe { live_server(server) }?.poll(slice)? {
            PollState::Running => Ok(1),
            PollState::Stopped => Ok(0),
        }
    })
}

/// Starts a graceful shutdown: stop accepting, let in-flight requests finish, close WebSocket
/// clients with 1001, then `hs_run` returns (or `hs_poll` returns 0). Returns at once.
///
/// Safe from any thread, from inside any callback, and from a signal handler (it only stores a
/// flag and writes one byte to a pipe). Calling it again, or before `hs_run`, is harmless; a
/// shutdown requested before the loop runs takes effect when it starts.
#[no_mangle]
pub extern "C" fn hs_shutdown(server: *mut hs_server) -> c_int {
    guard(|| {
        unsafe { live_server(server) }?.shutdown();
        ok()
    })
}

/// Opt-in to concurrency: with `threads` > 1 the event loop runs on that many worker threads,
/// created by the first `hs_run`/`hs_poll`, and callbacks run concurrently on them (never on a
/// thread the library did not create for this purpose or the caller's). Default 1: everything on
/// the caller's thread. Must be called before the first `hs_run`/`hs_poll`. Never use from PHP.
#[no_mangle]
pub extern "C" fn hs_set_threads(server: *mut hs_server, threads: c_int) -> c_int {
    guard(|| {
        let n = usize::try_from(threads)
            .map_err(|_| Error::invalid("thread count must be positive"))?;
        unsafe { live_server(server) }?.set_threads(n)?;
        ok()
    })
}

/// Sets SO_REUSEPORT, so that several processes can each bind the same port and the kernel
/// spreads connections among them. Before `hs_start` the socket is bound with it; between
/// `hs_start` and the first `hs_run`/`hs_poll` it is set on the bound socket, so that workers
/// forked afterwards can bind the port beside it (see `hs_adopt_listener`). Default off.
#[no_mangle]
pub extern "C" fn hs_set_reuse_port(server: *mut hs_server, enable: c_int) -> c_int {
    guard(|| {
        unsafe { live_server(server) }?.set_reuse_port(flag(enable))?;
        ok()
    })
}

/// Lets the event loop catch SIGINT and SIGTERM and shut down gracefully. Default off (the host
/// keeps its own signal handling). Set before the first `hs_run`/`hs_poll`. Once on, the
/// process-wide handler stays installed for the life of the process.
#[no_mangle]
pub extern "C" fn hs_handle_signals(server: *mut hs_server, enable: c_int) -> c_int {
    guard(|| {
        unsafe { live_server(server) }?.set_handle_signals(flag(enable))?;
        ok()
    })
}

/// Closes connections idle for `seconds` + `microseconds` (Luminova's `setTimeout`). The total
/// must be at least 1 ms. Applies to connections accepted afterwards.
#[no_mangle]
pub extern "C" fn hs_set_timeout(
    server: *mut hs_server,
    seconds: c_long,
    microseconds: c_long,
) -> c_int {
    guard(|| {
        if seconds < 0 || microseconds < 0 {
            return Err(Error::invalid("timeout parts must not be negative"));
        }
        let d = Duration::from_secs(seconds as u64) + Duration::from_micros(microseconds as u64);
        if d < Duration::from_millis(1) {
            return Err(Error::invalid("timeout must be at least 1 ms"));
        }
        unsafe { live_server(server) }?.update_limits(|l| l.idle_timeout = d);
        ok()
    })
}

/// Allows each client IP at most `max_requests` HTTP requests per `window_seconds`; more get
/// 429 (REQUEST_LIMIT) with `Retry-After`. `max_requests` 0 turns the limit off (the default).
#[no_mangle]
pub extern "C" fn hs_set_rate_limit(
    server: *mut hs_server,
    max_requests: u32,
    window_seconds: u32,
) -> c_int {
    guard(|| {
        if max_requests > 0 && window_seconds == 0 {
            return Err(Error::invalid(
                "rate limit window must be at least 1 second",
            ));
        }
        let s = unsafe { live_server(server) }?;
        s.set_rate_limit(max_requests, Duration::from_secs(window_seconds as u64));
        ok()
    })
}

fn limit_of(which: c_int) -> crate::engine::Result<hs_limit> {
    use hs_limit::*;
    Ok(match which {
        1 => HS_LIMIT_IDLE_TIMEOUT_MS,
        2 => HS_LIMIT_MAX_CONNECTIONS,
        3 => HS_LIMIT_MAX_HEADER_BYTES,
        4 => HS_LIMIT_MAX_BODY_BYTES,
        5 => HS_LIMIT_WS_MAX_MESSAGE,
        6 => HS_LIMIT_WS_PING_INTERVAL_MS,
        7 => HS_LIMIT_WS_PING_TIMEOUT_MS,
        8 => HS_LIMIT_WS_SEND_QUEUE,
        9 => HS_LIMIT_SHUTDOWN_GRACE_MS,
        _ => return Err(Error::invalid(format!("unknown limit {which}"))),
    })
}

/// Sets one of the `hs_limit` values. Connection-level limits apply to connections accepted
/// afterwards. Returns `HS_ERR_INVALID` for an unknown limit or a value out of range (the
/// millisecond limits need at least 1).
#[no_mangle]
pub extern "C" fn hs_set_limit(server: *mut hs_server, which: c_int, value: u64) -> c_int {
    guard(|| {
        use hs_limit::*;
        let which = limit_of(which)?;
        let ms = |v: u64| {
            if v == 0 {
                Err(Error::invalid(format!("{which:?} must be at least 1 ms")))
            } else {
                Ok(Duration::from_millis(v))
            }
        };
        let size = |v: u64| usize::try_from(v).map_err(|_| Error::invalid("value too large"));
        let s = unsafe { live_server(server) }?;
        match which {
            HS_LIMIT_IDLE_TIMEOUT_MS => {
                let d = ms(value)?;
                s.update_limits(|l| l.idle_timeout = d)
            }
            HS_LIMIT_MAX_CONNECTIONS => {
                let n = size(value)?;
                s.update_limits(|l| l.max_connections = n)
            }
            HS_LIMIT_MAX_HEADER_BYTES => {
                let n = size(value)?;
                s.update_limits(|l| l.max_header_bytes = n)
            }
            HS_LIMIT_MAX_BODY_BYTES => {
                let n = size(value)?;
                s.update_limits(|l| l.max_body_bytes = n)
            }
            HS_LIMIT_WS_MAX_MESSAGE => {
                let n = size(value)?.max(1);
                s.update_limits(|l| l.ws_max_message = n)
            }
            HS_LIMIT_WS_PING_INTERVAL_MS => {
                let d = ms(value)?;
                s.update_limits(|l| l.ws_ping_interval = d)
            }
            HS_LIMIT_WS_PING_TIMEOUT_MS => {
                let d = ms(value)?;
                s.update_limits(|l| l.ws_ping_timeout = d)
            }
            HS_LIMIT_WS_SEND_QUEUE => {
                let n = size(value)?.clamp(1, 1 << 20);
                s.update_limits(|l| l.ws_send_queue = n)
            }
            HS_LIMIT_SHUTDOWN_GRACE_MS => {
                let d = Duration::from_millis(value);
                s.update_limits(|l| l.shutdown_grace = d)
            }
        }
        ok()
    })
}

/// Reads one of the `hs_limit` values into `*value`.
#[no_mangle]
pub extern "C" fn hs_get_limit(server: *const hs_server, which: c_int, value: *mut u64) -> c_int {
    guard(|| {
        use hs_limit::*;
        let which = limit_of(which)?;
        if value.is_null() {
            return Err(Error::invalid("value is NULL"));
        }
        let l = unsafe { live_server(server) }?.limits();
        let ms = |d: Duration| d.as_millis() as u64;
        let v = match which {
            HS_LIMIT_IDLE_TIMEOUT_MS => ms(l.idle_timeout),
            HS_LIMIT_MAX_CONNECTIONS => l.max_connections as u64,
            HS_LIMIT_MAX_HEADER_BYTES => l.max_header_bytes as u64,
            HS_LIMIT_MAX_BODY_BYTES => l.max_body_bytes as u64,
            HS_LIMIT_WS_MAX_MESSAGE => l.ws_max_message as u64,
            HS_LIMIT_WS_PING_INTERVAL_MS => ms(l.ws_ping_interval),
            HS_LIMIT_WS_PING_TIMEOUT_MS => ms(l.ws_ping_timeout),
            HS_LIMIT_WS_SEND_QUEUE => l.ws_send_queue as u64,
            HS_LIMIT_SHUTDOWN_GRACE_MS => ms(l.shutdown_grace),
        };
        unsafe { put(value, v) };
        ok()
    })
}

/// Connection-required mode (Luminova's `connectionRequired`): a client IP must first
/// `GET /connect` (or be marked with `hs_client_on`); its other requests get NOT_CONNECTED (400)
/// until then. `GET /disconnect` unmarks it. Routes registered for /connect and /disconnect
/// still run (after the marking); without them the engine answers CONNECTED / DISCONNECTED.
#[no_mangle]
pub extern "C" fn hs_set_connection_required(server: *mut hs_server, enable: c_int) -> c_int {
    guard(|| {
        unsafe { live_server(server) }?.set_connection_required(flag(enable));
        ok()
    })
}

fn client_ip(server: &Server, address: *const c_char) -> crate::engine::Result<IpAddr> {
    if address.is_null() {
        return server.own_ip();
    }
    let a = unsafe { text(address, "address") }?;
    a.trim_matches(['[', ']'])
        .parse()
        .map_err(|_| Error::invalid(format!("'{a}' is not an IP address")))
}

/// Marks a client IP as connected (`address` NULL: the server's own IP, as Luminova's `on()`).
#[no_mangle]
pub extern "C" fn hs_client_on(server: *mut hs_server, address: *const c_char) -> c_int {
    guard(|| {
        let s = unsafe { live_server(server) }?;
        s.client_on(client_ip(s, address)?);
        ok()
    })
}

/// Marks a client IP as disconnected. Returns 1 if it was connected, 0 if not.
#[no_mangle]
pub extern "C" fn hs_client_off(server: *mut hs_server, address: *const c_char) -> c_int {
    guard(|| {
        let s = unsafe { live_server(server) }?;
        Ok(s.client_off(client_ip(s, address)?) as c_int)
    })
}

/// Sets a default header sent with every HTTP response unless the handler sets the same name;
/// replaces an earlier default of that name. `value` NULL removes the default. Luminova's CORS
/// defaults (`Access-Control-Allow-Origin: *`, `-Methods: GET, POST, OPTIONS`,
/// `-Headers: Content-Type`) are set initially. Strings are copied.
#[no_mangle]
pub extern "C" fn hs_set_header(
    server: *mut hs_server,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    guard(|| {
        let s = unsafe { live_server(server) }?;
        let name = unsafe { text(name, "header name") }?;
        let value = if value.is_null() {
            None
        } else {
            Some(unsafe { text(value, "header value") }?)
        };
        s.set_header(name, value)?;
        ok()
    })
}

/// Removes every default header, the CORS defaults included.
#[no_mangle]
pub extern "C" fn hs_clear_headers(server: *mut hs_server) -> c_int {
    guard(|| {
        unsafe { live_server(server) }?.clear_headers();
        ok()
    })
}

/// The descriptor of the listening socket, between `hs_start` and the first `hs_run`/`hs_poll`
/// (`HS_ERR_STATE` otherwise). It stays owned by the server: do not close it. Meant for a process
/// that forks workers: they inherit it and serve it with `hs_adopt_listener`, so the port never
/// goes without a listener while they start or restart.
#[no_mangle]
pub extern "C" fn hs_listener_fd(server: *const hs_server) -> c_int {
    guard(|| unsafe { live_server(server) }?.listener_fd())
}

/// Serves a listening TCP socket made elsewhere (typically inherited across `fork()` from the
/// parent's server, see `hs_listener_fd`) alongside this server's own: connections that reach it
/// are accepted by this server too. `fd` is duplicated; the caller keeps (and closes) its own.
/// Call before the first `hs_run`/`hs_poll`. `HS_ERR_INVALID` if `fd` is not a listening TCP
/// socket.
#[no_mangle]
pub extern "C" fn hs_adopt_listener(server: *mut hs_server, fd: c_int) -> c_int {
    guard(|| {
        unsafe { live_server(server) }?.adopt_listener(fd)?;
        ok()
    })
}
