//! The connected clients of this process, through which any thread sends, broadcasts and
//! closes. Each client keeps the packed head of its upgrade request (`Request::packed_head`), so
//! a host can read a client's request at any time without keeping its own registry.

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::ws::outbox::{reply_to_current, Outbox, Outgoing, DELIVERING, STOP};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;

/// A client as the hub holds it.
pub struct Client {
    pub outbox: Arc<Outbox>,
    pub route_id: u32,
    pub peer: SocketAddr,
    pub path: Box<str>,
    /// The packed head of its upgrade request, when the server keeps heads
    /// (`WsContext::keep_heads`: off unless a host reads them).
    pub head: Option<Box<[u8]>>,
}

/// A client's id and its kept head (None when heads are not kept).
type Closing = (u64, Option<Box<[u8]>>);

thread_local! {
    /// The client whose close callback this thread runs: already out of the hub, still readable
    /// through `Hub::head` during the callback.
    static CLOSING: RefCell<Option<Closing>> = const { RefCell::new(None) };
}

/// Information about a connected client, for listings.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub id: u64,
    pub route_id: u32,
    pub peer: SocketAddr,
    pub path: String,
}

/// The connected clients. The lock is held only to look up or copy senders, never while a
/// callback runs, so sending from inside a callback cannot deadlock.
#[derive(Default)]
pub struct Hub {
    clients: Mutex<HashMap<u64, Client>>,
}

/// Close codes a server may send (RFC 6455 §7.4): 1000-1003, 1007-1014, 3000-4999.
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

impl Hub {
    pub fn insert(&self, id: u64, client: Client) {
        self.clients.lock().insert(id, client);
    }

    /// Takes a client out (its task ended).
    pub fn remove(&self, id: u64) -> Option<Client> {
        self.clients.lock().remove(&id)
    }

    /// Runs `f` with the packed head of client `id`'s upgrade request: a connected client of
    /// this process, or the one whose close callback this thread is running. `NotFound` for no
    /// such client, `State` when the server does not keep heads.
    pub fn head<R>(&self, id: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let not_kept = || {
            Error::state("the server keeps no request heads (hs_ws_keep_heads was not turned on)")
        };
        if let Some(c) = self.clients.lock().get(&id) {
            return c.head.as_deref().map(f).ok_or_else(not_kept);
        }
        CLOSING.with_borrow(|c| match c {
            Some((cid, head)) if *cid == id => head.as_deref().map(f).ok_or_else(not_kept),
            _ => Err(Error::not_found(format!(
                "no WebSocket client with id {id}"
            ))),
        })
    }

    /// Runs `f` (the host's close callback) with client `id`'s head readable through `head`.
    pub fn closing<R>(id: u64, head: Option<Box<[u8]>>, f: impl FnOnce() -> R) -> R {
        let previous = CLOSING.replace(Some((id, head)));
        let r = f();
        CLOSING.set(previous);
        r
    }

    fn offer(client: &Client, msg: Outgoing) -> std::result::Result<(), bool> {
        client.outbox.push(msg)
    }

    pub fn send(&self, id: u64, msg: Message) -> Result<()> {
        self.send_out(id, Outgoing::Message(msg))
    }

    /// Queues `out` for client `id` (a reply when it is the client being delivered to).
    pub fn send_out(&self, id: u64, out: Outgoing) -> Result<()> {
        if DELIVERING.get().0 == id {
            return match reply_to_current(id, out) {
                Some(false) => Err(Self::full(id)),
                _ => Ok(()),
            };
        }
        let clients = self.clients.lock();
        let client = clients
            .get(&id)
            .ok_or_else(|| Error::not_found(format!("no WebSocket client with id {id}")))?;
        match Self::offer(client, out) {
            Ok(()) => Ok(()),
            Err(true) => Err(Self::full(id)),
            Err(false) => Err(Error::not_found(format!(
                "WebSocket client {id} is closing"
            ))),
        }
    }

    /// The route of client `id` of this process.
    pub fn route_of(&self, id: u64) -> Option<u32> {
        self.clients.lock().get(&id).map(|c| c.route_id)
    }

    fn full(id: u64) -> Error {
        Error::new(
            ErrorKind::Full,
            format!("client {id} does not read; its send queue is full, it is being dropped"),
        )
    }

    /// Queues `msg` for every client (of `route` when given) except `except`; returns how many
    /// got it.
    pub fn broadcast(&self, msg: Message, except: Option<u64>, route: Option<u32>) -> usize {
        self.broadcast_out(&Outgoing::Message(msg), except, route)
    }

    /// As `broadcast`, for any outgoing item.
    pub fn broadcast_out(&self, out: &Outgoing, except: Option<u64>, route: Option<u32>) -> usize {
        let current = DELIVERING.get().0;
        let clients = self.clients.lock();
        let mut n = 0;
        for (id, client) in clients.iter() {
            if Some(*id) == except || route.is_some_and(|r| r != client.route_id) {
                continue;
            }
            let queued = if *id == current {
                reply_to_current(*id, out.clone()) == Some(true)
            } else {
                Self::offer(client, out.clone()).is_ok()
            };
            if queued {
                n += 1;
            }
        }
        n
    }

    /// Tells every client's task that the server is shutting down (each closes with 1001).
    pub fn stop_all(&self) {
        for client in self.clients.lock().values() {
            client.outbox.signal.raise(STOP);
        }
    }

    /// A close code and reason a server may send.
    pub fn check_close(code: u16, reason: &str) -> Result<()> {
        if !valid_close_code(code) {
            return Err(Error::invalid(format!(
                "close code {code} may not be sent (RFC 6455 7.4)"
            )));
        }
        if reason.len() > 123 {
            return Err(Error::invalid("close reason is longer than 123 bytes"));
        }
        Ok(())
    }

    pub fn close(&self, id: u64, code: u16, reason: &str) -> Result<()> {
        Self::check_close(code, reason)?;
        if reply_to_current(id, Outgoing::Close(code, reason.to_string())).is_some() {
            return Ok(());
        }
        let clients = self.clients.lock();
        let client = clients
            .get(&id)
            .ok_or_else(|| Error::not_found(format!("no WebSocket client with id {id}")))?;
        // A full queue drops the client (push raises KILL): it is closed either way.
        let _ = client
            .outbox
            .push(Outgoing::Close(code, reason.to_string()));
        Ok(())
    }

    pub fn count(&self, route: Option<u32>) -> usize {
        let clients = self.clients.lock();
        match route {
            None => clients.len(),
            Some(r) => clients.values().filter(|c| c.route_id == r).count(),
        }
    }

    pub fn list(&self, route: Option<u32>) -> Vec<ClientInfo> {
        let clients = self.clients.lock();
        let mut v: Vec<ClientInfo> = clients
            .iter()
            .filter(|(_, c)| route.is_none_or(|r| r == c.route_id))
            .map(|(id, c)| ClientInfo {
                id: *id,
                route_id: c.route_id,
                peer: c.peer,
                path: c.path.to_string(),
            })
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    pub fn info(&self, id: u64) -> Option<ClientInfo> {
        let clients = self.clients.lock();
        clients.get(&id).map(|c| ClientInfo {
            id,
            route_id: c.route_id,
            peer: c.peer,
            path: c.path.to_string(),
        })
    }
}
