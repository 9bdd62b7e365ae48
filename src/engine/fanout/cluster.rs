//! The local backplane: several worker processes on one machine acting as one server for
//! WebSocket delivery: a
//! broadcast reaches the clients of every worker, and a send or close addressed to a client of
//! another worker is forwarded to it. No external service: each worker listens on an abstract
//! Unix socket named after the group and its slot; only peers with our uid are accepted
//! (abstract sockets have no file permissions, so SO_PEERCRED is the check).
//!
//! Connection ids carry the slot (`(slot + 1) << 40` plus a counter), so an id tells which
//! worker owns the client. Route ids agree across workers when every worker registers its
//! routes in the same order (the PHP supervisor replays one configuration in each).

use crate::engine::error::{Error, Result};
use crate::engine::fanout::{Backplane, Local};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr as UnixAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

pub const MAX_SLOTS: u16 = 1024;
const SLOT_SHIFT: u32 = 40;
const BROADCAST: u8 = 1;
const SEND: u8 = 2;
const CLOSE: u8 = 3;
/// Frames queued per peer; a peer that stops reading loses frames rather than blocking us.
const PEER_QUEUE: usize = 4096;

/// The slot that owns a connection id (None for ids of a server that joined no cluster).
pub fn slot_of(conn_id: u64) -> Option<u16> {
    match conn_id >> SLOT_SHIFT {
        0 => None,
        s => Some((s - 1) as u16),
    }
}

/// First connection id of `slot`.
pub fn first_id(slot: u16) -> u64 {
    (slot as u64 + 1) << SLOT_SHIFT
}

fn address(group: &str, slot: u16) -> std::io::Result<UnixAddr> {
    UnixAddr::from_abstract_name(format!("httpsock/{group}/{slot}").as_bytes())
}

pub struct Cluster {
    pub group: String,
    pub slot: u16,
    pub slots: u16,
    /// One queue per other slot, filled by any thread, drained by that peer's writer task.
    peers: Vec<Option<mpsc::Sender<Bytes>>>,
    receivers: parking_lot::Mutex<Vec<(u16, mpsc::Receiver<Bytes>)>>,
}

impl Cluster {
    pub fn new(group: &str, slot: u16, slots: u16) -> Result<Cluster> {
        if group.is_empty() || group.len() > 64 || group.contains('/') {
            return Err(Error::invalid(
                "cluster group must be 1-64 characters without '/'",
            ));
        }
        if slots == 0 || slots > MAX_SLOTS || slot >= slots {
            return Err(Error::invalid(format!(
                "cluster slot {slot} of {slots}: need slot < slots <= {MAX_SLOTS}"
            )));
        }
        let mut peers = Vec::with_capacity(slots as usize);
        let mut receivers = Vec::new();
        for s in 0..slots {
            if s == slot {
                peers.push(None);
            } else {
                let (tx, rx) = mpsc::channel(PEER_QUEUE);
                peers.push(Some(tx));
                receivers.push((s, rx));
            }
        }
        Ok(Cluster {
            group: group.to_string(),
            slot,
            slots,
            peers,
            receivers: parking_lot::Mutex::new(receivers),
        })
    }

    fn frame(kind: u8, body: impl FnOnce(&mut BytesMut), payload: &[u8]) -> Bytes {
        let mut b = BytesMut::with_capacity(32 + payload.len());
        b.put_u32_le(0);
        b.put_u8(kind);
        body(&mut b);
        b.put_slice(payload);
        let len = (b.len() - 4) as u32;
        b[..4].copy_from_slice(&len.to_le_bytes());
        b.freeze()
    }

    fn payload(msg: &Message) -> (u8, &[u8]) {
        match msg {
            Message::Binary(b) => (1, b),
            Message::Text(t) => (0, t.as_bytes()),
            _ => (0, b""),
        }
    }

    fn to_peer(&self, slot: u16, frame: Bytes) {
        if let Some(Some(tx)) = self.peers.get(slot as usize) {
            let _ = tx.try_send(frame);
        }
    }

    pub fn forward_broadcast(&self, msg: &Message, except: Option<u64>, route: Option<u32>) {
        let (binary, data) = Self::payload(msg);
        let frame = Self::frame(
            BROADCAST,
            |b| {
                b.put_u8(binary);
                b.put_u32_le(route.unwrap_or(u32::MAX));
                b.put_u64_le(except.unwrap_or(0));
            },
            data,
        );
        for s in 0..self.slots {
            if s != self.slot {
                self.to_peer(s, frame.clone());
            }
        }
    }

    pub fn forward_send(&self, slot: u16, conn_id: u64, msg: &Message) {
        let (binary, data) = Self::payload(msg);
        let frame = Self::frame(
            SEND,
            |b| {
                b.put_u8(binary);
                b.put_u64_le(conn_id);
            },
            data,
        );
        self.to_peer(slot, frame);
    }

    pub fn forward_close(&self, slot: u16, conn_id: u64, code: u16, reason: &str) {
        let frame = Self::frame(
            CLOSE,
            |b| {
                b.put_u16_le(code);
                b.put_u64_le(conn_id);
            },
            reason.as_bytes(),
        );
        self.to_peer(slot, frame);
    }

    /// Starts the listener and the peer writers on the running loop.
    fn start_links(&self, local: &Local) -> Result<()> {
        let addr = address(&self.group, self.slot)
            .map_err(|e| Error::invalid(format!("cluster address: {e}")))?;
        let listener = std::os::unix::net::UnixListener::bind_addr(&addr).map_err(|e| {
            Error::new(
                crate::engine::ErrorKind::Io,
                format!(
                    "cluster group '{}' slot {} is taken: {e}",
                    self.group, self.slot
                ),
            )
        })?;
        listener.set_nonblocking(true).ok();
        let listener = tokio::net::UnixListener::from_std(listener).map_err(|e| {
            Error::new(
                crate::engine::ErrorKind::Io,
                format!("cluster listener: {e}"),
            )
        })?;
        tokio::spawn(accept_peers(listener, local.clone()));
        for (slot, rx) in self.receivers.lock().drain(..) {
            tokio::spawn(write_peer(self.group.clone(), slot, rx, local.clone()));
        }
        Ok(())
    }
}

impl Backplane for Cluster {
    fn start(&self, local: &Local) -> Result<()> {
        self.start_links(local)
    }

    fn first_conn_id(&self) -> u64 {
        first_id(self.slot)
    }

    fn is_local(&self, conn_id: u64) -> bool {
        slot_of(conn_id).is_none_or(|s| s == self.slot)
    }

    fn send(&self, conn_id: u64, msg: &Message) -> Result<()> {
        match slot_of(conn_id) {
            Some(slot) if slot < self.slots => {
                self.forward_send(slot, conn_id, msg);
                Ok(())
            }
            _ => Err(Error::not_found(format!(
                "no WebSocket client with id {conn_id}"
            ))),
        }
    }

    fn close(&self, conn_id: u64, code: u16, reason: &str) -> Result<()> {
        match slot_of(conn_id) {
            Some(slot) if slot < self.slots => {
                self.forward_close(slot, conn_id, code, reason);
                Ok(())
            }
            _ => Err(Error::not_found(format!(
                "no WebSocket client with id {conn_id}"
            ))),
        }
    }

    fn broadcast(&self, msg: &Message, except: Option<u64>, route: Option<u32>) {
        self.forward_broadcast(msg, except, route);
    }
}

async fn accept_peers(listener: tokio::net::UnixListener, local: Local) {
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut stopping = local.base.life.stopping();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if stream.peer_cred().map(|c| c.uid()).ok() != Some(uid) {
                    local.base.log.debug(|| "cluster: refused a peer of another user".into());
                    continue;
                }
                tokio::spawn(read_peer(stream, local.clone()));
            }
            _ = stopping.changed() => break,
        }
    }
}

async fn read_peer(mut stream: tokio::net::UnixStream, local: Local) {
    let max = local.base.limit(|l| l.ws_max_message) + 64;
    loop {
        let Ok(len) = stream.read_u32_le().await else {
            return;
        };
        if len as usize > max || len == 0 {
            local
                .base
                .log
                .debug(|| format!("cluster: frame of {len} bytes refused"));
            return;
        }
        let mut buf = vec![0u8; len as usize];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        apply(&local, Bytes::from(buf));
    }
}

fn message(binary: u8, data: Bytes) -> Option<Message> {
    if binary == 1 {
        Some(Message::Binary(data))
    } else {
        std::str::from_utf8(&data).ok()?;
        // SAFETY-free: checked just above.
        Some(Message::Text(data.try_into().ok()?))
    }
}

/// Delivers a frame from a peer to this worker's clients.
fn apply(local: &Local, mut f: Bytes) {
    local
        .base
        .log
        .debug(|| format!("cluster: frame of {} bytes from a peer", f.len()));
    if f.remaining() < 1 {
        return;
    }
    match f.get_u8() {
        BROADCAST if f.remaining() >= 13 => {
            let binary = f.get_u8();
            let route = f.get_u32_le();
            let except = f.get_u64_le();
            if let Some(msg) = message(binary, f) {
                let route = (route != u32::MAX).then_some(route);
                local
                    .hub
                    .broadcast(msg, (except != 0).then_some(except), route);
            }
        }
        SEND if f.remaining() >= 9 => {
            let binary = f.get_u8();
            let id = f.get_u64_le();
            if let Some(msg) = message(binary, f) {
                let _ = local.hub.send(id, msg);
            }
        }
        CLOSE if f.remaining() >= 10 => {
            let code = f.get_u16_le();
            let id = f.get_u64_le();
            let reason = String::from_utf8_lossy(&f).into_owned();
            let _ = local.hub.close(id, code, &reason);
        }
        _ => local
            .base
            .log
            .debug(|| "cluster: malformed frame ignored".into()),
    }
}

/// Keeps a connection to one peer and writes its frames; frames for a peer that is down (not
/// started yet, restarting) are dropped, and the connection is retried with the next frame.
async fn write_peer(group: String, slot: u16, mut rx: mpsc::Receiver<Bytes>, local: Local) {
    let mut conn: Option<tokio::net::UnixStream> = None;
    while let Some(frame) = rx.recv().await {
        local
            .base
            .log
            .debug(|| format!("cluster: {} bytes for slot {slot}", frame.len()));
        if conn.is_none() {
            conn = address(&group, slot)
                .and_then(|a| std::os::unix::net::UnixStream::connect_addr(&a))
                .and_then(|s| {
                    s.set_nonblocking(true)?;
                    tokio::net::UnixStream::from_std(s)
                })
                .ok();
            if conn.is_none() {
                local
                    .base
                    .log
                    .debug(|| format!("cluster: slot {slot} is not reachable; frame dropped"));
                continue;
            }
        }
        if let Some(c) = conn.as_mut() {
            if c.write_all(&frame).await.is_err() {
                conn = None;
            }
        }
    }
}
