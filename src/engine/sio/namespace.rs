//! The host's side of Socket.IO (`SioHandler`), its namespaces and the settings: the types the
//! rest of the layer shares.

use crate::engine::http::request::Request;
use crate::engine::ws::context::{Admission, Verdict};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// Socket.IO events of one namespace (the host's side). Every call runs on the event-loop
/// thread (a worker thread with opted-in threads), one at a time.
pub trait SioHandler: Send + Sync {
    /// A client asks to connect the namespace: accept (filling `admission`: user, rooms) or
    /// refuse (`admission.refusal` is the message). `req` is the Engine.IO handshake request;
    /// `auth` the CONNECT packet's JSON payload (empty when none).
    fn on_connect(
        &self,
        socket_id: u64,
        req: &Request,
        auth: &[u8],
        admission: &mut Admission,
    ) -> Verdict;
    /// An event: its name, its arguments as a JSON array (binary ones as placeholders) and the
    /// attachments; `ack` when the client waits for an acknowledgement (`SioContext::ack`).
    fn on_event(
        &self,
        socket_id: u64,
        event: &str,
        args: &[u8],
        attachments: &[Bytes],
        ack: Option<i64>,
    );
    /// The answer to an `emit_to` with a token: the client's arguments, or None when it timed
    /// out or the socket went away.
    fn on_ack(&self, socket_id: u64, token: u64, reply: Option<(&[u8], &[Bytes])>);
    /// The socket is gone, for `reason` (Socket.IO's words).
    fn on_disconnect(&self, socket_id: u64, reason: &str);
}

/// A namespace: its name ("/" or "/chat"), its route id (the `route` of its sockets in the
/// world) and the host's handler (None: the default namespace nobody registered; its sockets
/// connect and their events are dropped).
pub struct Namespace {
    pub name: Box<str>,
    pub route: u32,
    pub handler: Option<Arc<dyn SioHandler>>,
}

/// The settings (Engine.IO's defaults).
#[derive(Clone, Debug)]
pub struct SioConfig {
    /// Where it is served, with a trailing slash ("/socket.io/").
    pub path: Box<str>,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Most bytes of one polling request's body or one WebSocket message.
    pub max_payload: usize,
    /// How long a session may live without a connected namespace.
    pub connect_timeout: Duration,
    /// Connection state recovery: how long a socket whose transport was lost is kept for its
    /// client to come back (None: off, as in Socket.IO).
    pub recovery: Option<Duration>,
}

impl Default for SioConfig {
    fn default() -> SioConfig {
        SioConfig {
            path: "/socket.io/".into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            max_payload: 1_000_000,
            connect_timeout: Duration::from_millis(45_000),
            recovery: None,
        }
    }
}
