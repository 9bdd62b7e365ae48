//! What the WebSocket layer of one server holds (`WsContext`), and the host's side of it (the
//! `WsHandler` trait).

use crate::engine::context::Base;
use crate::engine::http::request::Request;
use crate::engine::http::router::Router;
use crate::engine::ws::admission::{Admitting, Authorizer};
use crate::engine::ws::deflate::DeflateConfig;
use crate::engine::ws::hub::Hub;
use parking_lot::RwLock;
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
