//! Fanout: WebSocket delivery wherever the client is connected. A send, broadcast or close goes
//! to this process's clients (the `ws::Hub`) and, through a `Backplane`, to the clients of the
//! other processes of the same server (rule 5: every worker and every node sees the same world).
//!
//! Backplanes: `cluster` (worker processes on one machine, abstract Unix sockets). The Redis
//! backplane (several machines) is the next implementation of the same trait.
//!
//! Depends on `context` and `ws` (the hub); nothing below knows it exists.

pub mod cluster;

use crate::engine::context::Base;
use crate::engine::error::{Error, Result};
use crate::engine::ws::Hub;
use std::sync::{Arc, OnceLock};
use tokio_tungstenite::tungstenite::Message;

pub use cluster::{first_id, slot_of, Cluster};

/// This process's side of delivery, handed to a backplane: where to deliver what arrives from
/// the others, and the server's log, limits and lifecycle.
#[derive(Clone)]
pub struct Local {
    pub base: Arc<Base>,
    pub hub: Arc<Hub>,
}

/// Delivers sends, broadcasts and closes to the clients of the other processes of one server,
/// and delivers theirs to this process's hub.
pub trait Backplane: Send + Sync {
    /// Starts the links on the running event loop (called once, from inside it).
    fn start(&self, local: &Local) -> Result<()>;
    /// The first connection id of this process: ids carry their process, so that an id taken
    /// from any process addresses the same client.
    fn first_conn_id(&self) -> u64;
    /// Whether `conn_id` is (or would be) a client of this process.
    fn is_local(&self, conn_id: u64) -> bool;
    /// Sends to a client of another process; `NotFound` when no process can own the id.
    fn send(&self, conn_id: u64, msg: &Message) -> Result<()>;
    /// Closes a client of another process; `NotFound` when no process can own the id.
    fn close(&self, conn_id: u64, code: u16, reason: &str) -> Result<()>;
    /// Broadcasts to the clients of every other process.
    fn broadcast(&self, msg: &Message, except: Option<u64>, route: Option<u32>);
}

/// Local delivery plus the backplane, if the server joined one.
pub struct Fanout {
    local: Local,
    backplane: OnceLock<Arc<dyn Backplane>>,
}

impl Fanout {
    pub fn new(base: Arc<Base>, hub: Arc<Hub>) -> Fanout {
        Fanout {
            local: Local { base, hub },
            backplane: OnceLock::new(),
        }
    }

    /// Joins a backplane (once, before the loop runs); connection ids start at its range.
    pub fn join(&self, backplane: Arc<dyn Backplane>) -> Result<()> {
        let first = backplane.first_conn_id();
        self.backplane
            .set(backplane)
            .map_err(|_| Error::state("this server already joined a cluster"))?;
        self.local.base.start_ids_at(first);
        Ok(())
    }

    /// Starts the backplane's links; called by the server from inside its event loop.
    pub fn start(&self) -> Result<()> {
        match self.backplane.get() {
            Some(b) => b.start(&self.local),
            None => Ok(()),
        }
    }

    fn remote(&self, conn_id: u64) -> Option<&Arc<dyn Backplane>> {
        self.backplane.get().filter(|b| !b.is_local(conn_id))
    }

    /// Queues a message for a client, of this process or (forwarded) of another.
    pub fn send(&self, conn_id: u64, msg: Message) -> Result<()> {
        match self.remote(conn_id) {
            Some(b) => b.send(conn_id, &msg),
            None => self.local.hub.send(conn_id, msg),
        }
    }

    /// Broadcasts to every client (of `route` when given) except `except`, here and elsewhere;
    /// returns how many clients of this process got it.
    pub fn broadcast(&self, msg: Message, except: Option<u64>, route: Option<u32>) -> usize {
        if let Some(b) = self.backplane.get() {
            b.broadcast(&msg, except, route);
        }
        self.local.hub.broadcast(msg, except, route)
    }

    /// Starts the closing handshake with a client, here or elsewhere.
    pub fn close(&self, conn_id: u64, code: u16, reason: &str) -> Result<()> {
        Hub::check_close(code, reason)?;
        match self.remote(conn_id) {
            Some(b) => b.close(conn_id, code, reason),
            None => self.local.hub.close(conn_id, code, reason),
        }
    }
}
