//! Port helpers
//!
//! For a host that starts a server where an old one may still run: is the port taken, and
//! ending whoever holds it. No server handle is needed.

use super::convert::{tcp_port, text};
use super::guard::guard;
use crate::engine::ports;
use std::ffi::{c_char, c_int};
use std::time::Duration;

/// Returns 1 when something accepts TCP connections on `address`:`port` (a wildcard address is
/// checked through loopback), 0 when nothing does, or a negative status.
#[no_mangle]
pub extern "C" fn hs_port_in_use(address: *const c_char, port: c_int) -> c_int {
    guard(|| {
        let address = unsafe { text(address, "address") }?;
        let port = tcp_port(port)?;
        Ok(ports::in_use(address, port)? as c_int)
    })
}

/// Ends the OTHER processes (never this one) that listen on TCP `port`, found through /proc:
/// SIGTERM, then SIGKILL after 1 s for those still alive. Returns how many ended (0 if none held
/// it), or a negative status. Blocks up to about 3 s. Luminova's `freePortIfStuck()`.
#[no_mangle]
pub extern "C" fn hs_kill_port_holders(port: c_int) -> c_int {
    guard(|| {
        let port = tcp_port(port)?;
        Ok(ports::kill_holders(port, Duration::from_secs(1))? as c_int)
    })
}
