//! Listening sockets: bound here, or adopted from a parent process; and the accept loop that
//! hands each connection to the layer above.

use crate::engine::context::Base;
use crate::engine::error::{Error, ErrorKind, Result};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

/// What the server does with an accepted connection (spawns its HTTP task).
pub type OnAccept = Arc<dyn Fn(tokio::net::TcpStream, SocketAddr) + Send + Sync>;

/// Binds and listens on `addr` (SO_REUSEADDR; SO_REUSEPORT when asked), non-blocking. No
/// thread and no runtime are involved, so a process may fork after it.
pub fn bind(addr: SocketAddr, reuse_port: bool) -> Result<std::net::TcpListener> {
    let io_err = |what: &str, e: std::io::Error| {
        let text = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "address {addr} is already in use (port {} taken)",
                addr.port()
            )
        } else {
            format!("cannot {what} {addr}: {e}")
        };
        Error::new(ErrorKind::Io, text)
    };
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))
        .map_err(|e| io_err("create a socket for", e))?;
    socket
        .set_reuse_address(true)
        .map_err(|e| io_err("set SO_REUSEADDR on", e))?;
    if reuse_port {
        socket
            .set_reuse_port(true)
            .map_err(|e| io_err("set SO_REUSEPORT on", e))?;
    }
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(true);
    }
    socket.bind(&addr.into()).map_err(|e| io_err("bind", e))?;
    socket.listen(1024).map_err(|e| io_err("listen on", e))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| io_err("configure", e))?;
    Ok(socket.into())
}

/// Takes a duplicate of a listening TCP socket made elsewhere (inherited from a parent
/// process); the caller keeps and closes its own descriptor.
pub fn adopt(fd: RawFd) -> Result<std::net::TcpListener> {
    use std::os::fd::BorrowedFd;
    if fd < 0 {
        return Err(Error::invalid(format!("{fd} is not a file descriptor")));
    }
    // SAFETY: the fd is only borrowed for the duration of the dup; an fd that is not open
    // makes the dup fail with EBADF.
    let owned = unsafe { BorrowedFd::borrow_raw(fd) }
        .try_clone_to_owned()
        .map_err(|e| Error::invalid(format!("descriptor {fd}: {e}")))?;
    let socket = socket2::Socket::from(owned);
    let listening = socket.is_listener().unwrap_or(false);
    let tcp = matches!(socket.r#type(), Ok(t) if t == socket2::Type::STREAM)
        && socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some();
    if !(listening && tcp) {
        return Err(Error::invalid(format!(
            "descriptor {fd} is not a listening TCP socket"
        )));
    }
    socket.set_nonblocking(true).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot configure descriptor {fd}: {e}"),
        )
    })?;
    Ok(socket.into())
}

/// Accepts on `listener` until shutdown begins, then drops it (the port stops taking
/// connections at once; those accepted earlier go on).
pub async fn accept_loop(base: Arc<Base>, listener: tokio::net::TcpListener, on_accept: OnAccept) {
    let mut stopping = base.life.stopping();
    while !*stopping.borrow_and_update() {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => on_accept(stream, peer),
                Err(e) => {
                    // EMFILE/ENFILE/ECONNABORTED: keep serving; back off briefly so that a
                    // descriptor shortage does not spin the loop.
                    base.log.debug(|| format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = stopping.changed() => {}
        }
    }
}
