//! What the WebSocket layer of one server holds (`WsContext`), and the host's side of it (the
//! `WsHandler` trait).

use crate::engine::context::Base;
use crate::engine::http::request::Request;
use crate::engine::http::response::Response;
use crate::engine::http::router::Router;
use crate::engine::ws::deflate::DeflateConfig;
use crate::engine::ws::hub::Hub;
use crate::engine::ws::rooms::Rooms;
pub use crate::engine::ws::rooms::User;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// WebSocket events of the clients of one accept route.
pub trait WsHandler: Send + Sync {
    /// The upgrade is done; `req` is the upgrade request (valid only during the call).
    fn on_open(&self, conn_id: u64, req: &Request);
    /// A whole message (fragments joined).
    fn on_message(&self, conn_id: u64, data: &[u8], binary: bool);
    /// The client is gone; `code` is the close code received or sent, 1006 when none was.
    fn on_close(&self, conn_id: u64, code: u16, reason: &str);
}

/// What an accepted upgrade brings to its client.
#[derive(Debug, Default)]
pub struct Admission {
    pub user: Option<User>,
    /// Channels the client joins as it opens (each once, in the order named).
    pub channels: Vec<String>,
    /// On a route with a client limit: the client's place, held from the admission until the
    /// client is registered (then the client list counts it) or the upgrade fails. Released
    /// when the `Admission` is dropped; nothing needs to take it.
    pub reservation: Option<Reservation>,
    /// A Socket.IO connect the host refused: the message (and JSON data) the client gets.
    pub refusal: Option<Refusal>,
}

/// Why a Socket.IO connect was refused, as the client's `connect_error` shows it.
#[derive(Debug, Default)]
pub struct Refusal {
    pub message: String,
    pub data: Option<Vec<u8>>,
}

/// The upgrades admitted on limited routes whose clients are not registered yet: (route id,
/// connection id), kept by `admission::admit`. Counted with the registered clients, so that a burst of upgrades cannot
/// pass a limit that each of them checks before any is registered (the 101 is written, and
/// the session registers the client, after `admit` returns).
#[derive(Default)]
pub struct Admitting(pub(crate) Mutex<Vec<(u32, u64)>>);

/// One admitted upgrade's place on a limited route (see `Admission::reservation`).
pub struct Reservation {
    pub(crate) admitting: Arc<Admitting>,
    pub(crate) id: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.admitting.0.lock().retain(|(_, id)| *id != self.id);
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reservation(conn {})", self.id)
    }
}

/// The host's decision on an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Refused: the response the authorizer wrote is the answer (403 when it wrote nothing).
    Refuse,
    /// The host's code failed: 500, and a log line.
    Failed,
}

/// Decides upgrades (the host's hook; `admission::admit` runs it). Runs on the event-loop
/// thread, before the 101.
pub trait Authorizer: Send + Sync {
    fn authorize(&self, req: &Request, admission: &mut Admission, res: &mut Response) -> Verdict;
}

/// What the WebSocket layer of one server needs.
pub struct WsContext {
    pub base: Arc<Base>,
    pub routes: RwLock<Router<Arc<dyn WsHandler>>>,
    /// Off by default, as in Luminova: upgrade requests are then routed as plain HTTP.
    pub enabled: AtomicBool,
    /// Whether each client's request head is kept in the hub (`Hub::head`): off by default, so
    /// that a host that never reads it does not pay its memory.
    pub keep_heads: AtomicBool,
    pub hub: Arc<Hub>,
    /// Every client of every process, channels and presence.
    pub rooms: Arc<Rooms>,
    /// permessage-deflate: negotiated when a client offers it (on by default).
    pub deflate: DeflateConfig,
    /// Origins an upgrade may come from (empty: no check; "*" any). An upgrade without an
    /// Origin header (not a browser) is allowed.
    pub origins: RwLock<Vec<Box<str>>>,
    /// The host's upgrade hook, if any.
    pub authorizer: RwLock<Option<Arc<dyn Authorizer>>>,
    /// Most clients per accept route (route id -> limit), over every worker and node.
    pub route_limits: RwLock<HashMap<u32, usize>>,
    /// Upgrades admitted on a limited route whose client is not registered yet.
    pub admitting: Arc<Admitting>,
}

impl WsContext {
    pub fn new(base: Arc<Base>) -> WsContext {
        WsContext {
            rooms: Arc::new(Rooms::new(base.clone())),
            base,
            routes: RwLock::new(Router::default()),
            enabled: AtomicBool::new(false),
            keep_heads: AtomicBool::new(false),
            hub: Arc::new(Hub::default()),
            deflate: DeflateConfig::default(),
            origins: RwLock::new(Vec::new()),
            authorizer: RwLock::new(None),
            route_limits: RwLock::new(HashMap::new()),
            admitting: Arc::default(),
        }
    }
}
