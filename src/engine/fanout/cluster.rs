//! The local backplane: the worker processes of one machine acting as one server. Each worker
//! listens on an abstract Unix socket named after the group and its slot and keeps a connection
//! to each other worker; only peers with our uid are accepted (abstract sockets have no file
//! permissions, so SO_PEERCRED is the check). Frames are `wire` frames behind a u32 length.
//!
//! A worker that dies is noticed by its siblings when its connection ends: they forget its
//! clients (leave events fire) and tell the other nodes (`ProcGone`). A worker that starts says
//! hello; the others answer with their state. Route ids agree across workers when every worker
//! registers its routes in the same order (the PHP supervisor replays one configuration in each).

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::fanout::wire::{self, Frame};
use crate::engine::fanout::{node_of, slot_of_proc, Backplane, Fanout, MAX_SLOTS};
use bytes::{BufMut, Bytes, BytesMut};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr as UnixAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Frames queued per peer; a peer that stops reading loses frames rather than blocking us.
const PEER_QUEUE: usize = 4096;

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
    live: Arc<Liveness>,
}

/// Which siblings are alive as far as this worker knows (all at first; one whose connection
/// ends is dead until it speaks again). The first live slot fires the node's presence events,
/// so that a node whose slot 0 died still tells its users' leaves.
struct Liveness {
    slot: u16,
    alive: parking_lot::Mutex<Vec<bool>>,
}

impl Liveness {
    /// Marks sibling `slot` alive or dead; when that changes, whether this worker now fires the
    /// node's presence events.
    fn set(&self, slot: u16, alive: bool) -> Option<bool> {
        let mut a = self.alive.lock();
        let s = a.get_mut(slot as usize)?;
        if *s == alive {
            return None;
        }
        *s = alive;
        let first = a.iter().position(|x| *x).unwrap_or(self.slot as usize);
        Some(first == self.slot as usize)
    }
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
            live: Arc::new(Liveness {
                slot,
                alive: parking_lot::Mutex::new(vec![true; slots as usize]),
            }),
        })
    }

    fn framed(frame: &Bytes) -> Bytes {
        let mut b = BytesMut::with_capacity(4 + frame.len());
        b.put_u32_le(frame.len() as u32);
        b.put_slice(frame);
        b.freeze()
    }

    fn to_peer(&self, slot: u16, frame: Bytes) {
        if let Some(Some(tx)) = self.peers.get(slot as usize) {
            let _ = tx.try_send(frame);
        }
    }
}

impl Backplane for Cluster {
    fn name(&self) -> &'static str {
        "cluster"
    }

    fn start(&self, fanout: &Arc<Fanout>) -> Result<()> {
        let addr = address(&self.group, self.slot)
            .map_err(|e| Error::invalid(format!("cluster address: {e}")))?;
        let listener = std::os::unix::net::UnixListener::bind_addr(&addr).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "cluster group '{}' slot {} is taken: {e}",
                    self.group, self.slot
                ),
            )
        })?;
        listener.set_nonblocking(true).ok();
        let listener = tokio::net::UnixListener::from_std(listener)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cluster listener: {e}")))?;
        tokio::spawn(accept_peers(listener, fanout.clone(), self.live.clone()));
        for (slot, rx) in self.receivers.lock().drain(..) {
            tokio::spawn(write_peer(self.group.clone(), slot, rx, fanout.clone()));
        }
        for f in fanout.hello_frames() {
            self.to_all(f);
        }
        Ok(())
    }

    fn reaches(&self, me: u32, proc: u32) -> bool {
        node_of(proc) == node_of(me)
            && slot_of_proc(proc).is_some_and(|s| s < self.slots && s != self.slot)
    }

    fn to_proc(&self, proc: u32, frame: Bytes) {
        if let Some(slot) = slot_of_proc(proc) {
            self.to_peer(slot, Self::framed(&frame));
        }
    }

    fn stop(&self, frame: Bytes) {
        self.to_all(frame);
    }

    fn to_all(&self, frame: Bytes) {
        let framed = Self::framed(&frame);
        for s in 0..self.slots {
            if s != self.slot {
                self.to_peer(s, framed.clone());
            }
        }
    }
}

async fn accept_peers(
    listener: tokio::net::UnixListener,
    fanout: Arc<Fanout>,
    live: Arc<Liveness>,
) {
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut stopping = fanout.base.life.stopping();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if stream.peer_cred().map(|c| c.uid()).ok() != Some(uid) {
                    fanout.base.log.debug(|| "cluster: refused a peer of another user".into());
                    continue;
                }
                tokio::spawn(read_peer(stream, fanout.clone(), live.clone()));
            }
            _ = stopping.changed() => break,
        }
    }
}

/// Reads one sibling's frames. When its connection ends without a goodbye, the sibling died:
/// its clients are forgotten here, and the other nodes are told.
async fn read_peer(mut stream: tokio::net::UnixStream, fanout: Arc<Fanout>, live: Arc<Liveness>) {
    // A frame carries at most one message and its envelope; a state frame may be larger.
    let max = (fanout.base.limit(|l| l.ws_max_message) + 64 * 1024).max(16 << 20);
    let mut origin = None;
    let mut said_bye = false;
    while let Ok(len) = stream.read_u32_le().await {
        if len as usize > max || len == 0 {
            fanout
                .base
                .log
                .debug(|| format!("cluster: frame of {len} bytes refused"));
            break;
        }
        let mut buf = vec![0u8; len as usize];
        if stream.read_exact(&mut buf).await.is_err() {
            break;
        }
        match wire::decode(Bytes::from(buf)) {
            Ok((from, frame)) => {
                if origin.is_none() {
                    if let Some(fires) = slot_of_proc(from).and_then(|s| live.set(s, true)) {
                        fanout.rooms.set_fires_presence(fires);
                    }
                }
                origin = Some(from);
                said_bye |= frame == Frame::Bye;
                fanout.receive("cluster", from, frame);
            }
            Err(e) => fanout
                .base
                .log
                .debug(|| format!("cluster: frame dropped: {e:?}")),
        }
    }
    if let Some(proc) = origin.filter(|_| !said_bye && !fanout.base.life.is_stopping()) {
        fanout
            .base
            .log
            .debug(|| format!("cluster: worker process {proc} is gone"));
        // Who fires the node's presence events first: the leaves of its users are told.
        if let Some(fires) = slot_of_proc(proc).and_then(|s| live.set(s, false)) {
            fanout.rooms.set_fires_presence(fires);
        }
        fanout.forget_proc(proc);
        // The other nodes cannot see a worker of ours die: tell them.
        fanout.relay_proc_gone(proc);
    }
}

/// Keeps a connection to one peer and writes its frames; frames for a peer that is down (not
/// started yet, restarting) are dropped, and the connection is retried with the next frame.
async fn write_peer(group: String, slot: u16, mut rx: mpsc::Receiver<Bytes>, fanout: Arc<Fanout>) {
    let connect = || {
        address(&group, slot)
            .and_then(|a| std::os::unix::net::UnixStream::connect_addr(&a))
            .and_then(|s| {
                s.set_nonblocking(true)?;
                tokio::net::UnixStream::from_std(s)
            })
            .ok()
    };
    let mut conn: Option<tokio::net::UnixStream> = None;
    while let Some(frame) = rx.recv().await {
        // Twice at most: a connection to a sibling that died (and was replaced since) fails on
        // the first write; the frame then goes to the new one rather than being lost.
        for _ in 0..2 {
            if conn.is_none() {
                conn = connect();
            }
            let Some(c) = conn.as_mut() else {
                fanout
                    .base
                    .log
                    .debug(|| format!("cluster: slot {slot} is not reachable; frame dropped"));
                break;
            };
            if c.write_all(&frame).await.is_ok() {
                break;
            }
            conn = None;
        }
    }
}
