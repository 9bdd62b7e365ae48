//! Fanout: WebSocket delivery wherever the client is connected, and one view of the world in
//! every process. A send, broadcast, publish or close goes to this process's clients (the
//! `ws::Hub`, the `ws::Rooms`) and, through the `Backplane`s, to the other processes of the same
//! server (rule 5: every worker and every node sees the same world); every change of the rooms
//! made here (a client opened or gone, joined or left a channel) is replicated to them.
//!
//! Backplanes: `cluster` (the worker processes of one machine, abstract Unix sockets) and
//! `redis` (the nodes, Redis pub/sub). A process is named by `proc` = `node << 10 | (slot + 1)`
//! (node 0 without Redis, slot + 1 = 0 without a cluster); connection ids carry it
//! (`id >> 35`), so an id says which process owns the client. What goes between processes is
//! `wire`'s versioned format.
//!
//! Depends on `context` and `ws` (the hub and the rooms); nothing below knows it exists: the
//! rooms reach it through `ws::Replica`.

pub mod cluster;
pub mod redis;
pub mod wire;

use crate::engine::context::Base;
use crate::engine::error::{Error, Result};
use crate::engine::ws::outbox::{Outgoing, Packet};
use crate::engine::ws::rooms::{proc_of, Change, Replica, Rooms, PROC_SHIFT};
use crate::engine::ws::Hub;
use bytes::Bytes;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;
use wire::Frame;

pub use cluster::Cluster;

/// Slots (workers) per node: slot + 1 takes 10 bits of a process number.
pub const MAX_SLOTS: u16 = 1023;
/// Nodes: 8 bits of a process number (0 is "no Redis").
pub const MAX_NODES: u16 = 255;
const SLOT_BITS: u32 = 10;

/// The node number of a process number.
pub fn node_of(proc: u32) -> u32 {
    proc >> SLOT_BITS
}

/// The slot of a process number (None: a process that joined no cluster).
pub fn slot_of_proc(proc: u32) -> Option<u16> {
    match proc & ((1 << SLOT_BITS) - 1) {
        0 => None,
        s => Some((s - 1) as u16),
    }
}

/// A process number from its node and slot.
pub fn proc_number(node: u32, slot: Option<u16>) -> u32 {
    node << SLOT_BITS | slot.map_or(0, |s| s as u32 + 1)
}

/// The worker slot that owns a connection id (None for a process that joined no cluster).
pub fn slot_of(conn_id: u64) -> Option<u16> {
    slot_of_proc(proc_of(conn_id))
}

/// The first connection id of worker `slot` of a node without Redis.
pub fn first_id(slot: u16) -> u64 {
    (proc_number(0, Some(slot)) as u64) << PROC_SHIFT
}

/// Carries frames to other processes and hands theirs to `Fanout::receive`.
pub trait Backplane: Send + Sync {
    /// Which backplane this is ("cluster", "redis"): a hello is answered on the one it came by.
    fn name(&self) -> &'static str;
    /// Starts the links on the running event loop (called once, from inside it).
    fn start(&self, fanout: &Arc<Fanout>) -> Result<()>;
    /// Whether this backplane reaches process `proc`.
    fn reaches(&self, me: u32, proc: u32) -> bool;
    /// Sends a frame meant for process `proc` (which `reaches`).
    fn to_proc(&self, proc: u32, frame: Bytes);
    /// Sends a frame to every process it reaches.
    fn to_all(&self, frame: Bytes);
    /// Tells the others this process stops (at shutdown).
    fn stop(&self, _frame: Bytes) {}
}

/// The first connection id of process `me` started now: its counter starts at the clock
/// (milliseconds, modulo 2^34: it wraps every 199 days and leaves 2^34 ids before it could reach
/// the process bits), not at 0, so that a process restarted under the same number does not hand
/// out its predecessor's ids again unless that one made more connections than milliseconds
/// passed since it started.
pub fn first_id_now(me: u32) -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    ((me as u64) << PROC_SHIFT) + (ms & ((1 << 34) - 1)) + 1
}

/// Local delivery plus the backplanes the server joined.
pub struct Fanout {
    pub base: Arc<Base>,
    pub hub: Arc<Hub>,
    pub rooms: Arc<Rooms>,
    backplanes: RwLock<Vec<Arc<dyn Backplane>>>,
    /// This process's number.
    me: AtomicU32,
    /// The processes whose state this one has received (a first answer from one is catching
    /// up, not news).
    synced: parking_lot::Mutex<std::collections::HashSet<u32>>,
    /// This worker replaces one of its slot that died: its node already fired the presence
    /// events of what it catches up on.
    restarted: std::sync::atomic::AtomicBool,
    /// The layer above that takes Socket.IO's own frames (forwarded polls, acknowledgements).
    peer: RwLock<Option<std::sync::Weak<dyn Peer>>>,
}

/// Takes the frames meant for a layer above the fanout (Socket.IO).
pub trait Peer: Send + Sync {
    fn frame(&self, origin: u32, frame: Frame);
}

impl Fanout {
    pub fn new(base: Arc<Base>, hub: Arc<Hub>, rooms: Arc<Rooms>) -> Arc<Fanout> {
        let f = Arc::new(Fanout {
            base,
            hub,
            rooms,
            backplanes: RwLock::new(Vec::new()),
            me: AtomicU32::new(0),
            synced: parking_lot::Mutex::new(std::collections::HashSet::new()),
            restarted: std::sync::atomic::AtomicBool::new(false),
            peer: RwLock::new(None),
        });
        let weak: std::sync::Weak<dyn Replica> = Arc::downgrade(&(f.clone() as Arc<dyn Replica>));
        f.rooms.set_replica(weak);
        f
    }

    /// Installs the layer that takes Socket.IO's frames.
    pub fn set_peer(&self, peer: std::sync::Weak<dyn Peer>) {
        *self.peer.write() = Some(peer);
    }

    /// Whether a backplane reaches process `proc`.
    pub fn reaches(&self, proc: u32) -> bool {
        let me = self.me();
        self.backplanes.read().iter().any(|b| b.reaches(me, proc))
    }

    /// Sends `frame` to process `proc`; `NotFound` when no backplane reaches it.
    pub fn to_proc_frame(&self, proc: u32, frame: Frame) -> Result<()> {
        let me = self.me();
        let planes = self.backplanes.read();
        match planes.iter().find(|b| b.reaches(me, proc)) {
            Some(b) => {
                b.to_proc(proc, wire::encode(me, &frame));
                Ok(())
            }
            None => Err(Error::not_found(format!("no process {proc} is reachable"))),
        }
    }

    /// Queues an outgoing item (a Socket.IO packet) for a client, here or elsewhere.
    pub fn send_out(&self, conn_id: u64, out: Outgoing) -> Result<()> {
        if self.is_local(conn_id) {
            return self.hub.send_out(conn_id, out);
        }
        self.known(conn_id)?;
        match out {
            Outgoing::Packet(packet) => self.to_owner(conn_id, || Frame::SendPacket {
                id: conn_id,
                packet,
            }),
            Outgoing::Message(msg) => self.to_owner(conn_id, || Frame::Send { id: conn_id, msg }),
            Outgoing::Close(code, reason) => self.close(conn_id, code, &reason),
        }
    }

    /// A Socket.IO packet for every socket of its namespace everywhere, except `except`;
    /// returns how many of this process's sockets got it.
    pub fn broadcast_packet(&self, packet: Arc<Packet>, except: Option<u64>) -> usize {
        if !self.backplanes.read().is_empty() {
            let frame = Frame::BroadcastPacket {
                packet: packet.clone(),
                except,
            };
            self.to_all(wire::encode(self.me(), &frame));
        }
        let route = packet.route;
        self.hub
            .broadcast_out(&Outgoing::Packet(packet), except, Some(route))
    }

    /// A Socket.IO packet for a channel's sockets of its namespace everywhere, except
    /// `except`; returns how many of this process's sockets got it.
    pub fn publish_packet(
        &self,
        channel: &str,
        packet: Arc<Packet>,
        except: Option<u64>,
    ) -> Result<usize> {
        crate::engine::ws::rooms::check_channel(channel)?;
        if !self.backplanes.read().is_empty() {
            let frame = Frame::PublishPacket {
                channel: channel.to_string(),
                packet: packet.clone(),
                except,
            };
            self.to_all(wire::encode(self.me(), &frame));
        }
        Ok(self
            .rooms
            .publish_out(channel, &Outgoing::Packet(packet), except))
    }

    /// Marks this worker as the replacement of one that died (see `restarted`).
    pub fn set_restarted(&self, restarted: bool) {
        self.restarted.store(restarted, Ordering::Relaxed);
    }

    pub fn me(&self) -> u32 {
        self.me.load(Ordering::Relaxed)
    }

    /// Joins a backplane (before the loop runs) as process `me` (its node and slot so far);
    /// connection ids start at the process's range.
    pub fn add_backplane(&self, backplane: Arc<dyn Backplane>, me: u32) {
        self.backplanes.write().push(backplane);
        self.rooms.set_shared();
        self.set_me(me);
    }

    pub fn set_me(&self, me: u32) {
        self.me.store(me, Ordering::Relaxed);
        self.base.start_ids_at(first_id_now(me));
        self.rooms
            .set_fires_presence(slot_of_proc(me).is_none_or(|s| s == 0));
    }

    /// Starts the backplanes' links; called by the server from inside its event loop. Each
    /// says hello: the others answer with their state.
    pub fn start(self: &Arc<Self>) -> Result<()> {
        for b in self.backplanes.read().iter() {
            b.start(self)?;
        }
        Ok(())
    }

    /// The frame that asks every other process for its state, and ours after it.
    pub fn hello_frames(&self) -> [Bytes; 2] {
        let me = self.me();
        [
            wire::encode(
                me,
                &Frame::Hello {
                    node: self.rooms.node().to_string(),
                },
            ),
            wire::encode(me, &Frame::State(self.rooms.local_records())),
        ]
    }

    /// At shutdown: the others forget this process's clients at once.
    pub fn stop(&self) {
        let bye = wire::encode(self.me(), &Frame::Bye);
        for b in self.backplanes.read().iter() {
            b.stop(bye.clone());
        }
    }

    fn to_all(&self, frame: Bytes) {
        for b in self.backplanes.read().iter() {
            b.to_all(frame.clone());
        }
    }

    /// Sends `frame` to the process owning `id`; `NotFound` when no backplane reaches it.
    fn to_owner(&self, id: u64, frame: impl FnOnce() -> Frame) -> Result<()> {
        let proc = proc_of(id);
        let me = self.me();
        let planes = self.backplanes.read();
        match planes.iter().find(|b| b.reaches(me, proc)) {
            Some(b) => {
                b.to_proc(proc, wire::encode(me, &frame()));
                Ok(())
            }
            None => Err(Error::not_found(format!(
                "no WebSocket client with id {id}"
            ))),
        }
    }

    fn is_local(&self, id: u64) -> bool {
        proc_of(id) == self.me()
    }

    /// Queues a message for a client, of this process or (forwarded) of another.
    pub fn send(&self, conn_id: u64, msg: Message) -> Result<()> {
        if self.is_local(conn_id) {
            return self.hub.send(conn_id, msg);
        }
        self.known(conn_id)?;
        self.to_owner(conn_id, || Frame::Send { id: conn_id, msg })
    }

    /// Broadcasts to every client (of `route` when given) except `except`, here and elsewhere;
    /// returns how many clients of this process got it.
    pub fn broadcast(&self, msg: Message, except: Option<u64>, route: Option<u32>) -> usize {
        if !self.backplanes.read().is_empty() {
            let frame = Frame::Broadcast {
                msg: msg.clone(),
                route,
                except,
            };
            self.to_all(wire::encode(self.me(), &frame));
        }
        self.hub.broadcast(msg, except, route)
    }

    /// Starts the closing handshake with a client, here or elsewhere.
    pub fn close(&self, conn_id: u64, code: u16, reason: &str) -> Result<()> {
        Hub::check_close(code, reason)?;
        if self.is_local(conn_id) {
            return self.hub.close(conn_id, code, reason);
        }
        self.known(conn_id)?;
        self.to_owner(conn_id, || Frame::Close {
            id: conn_id,
            code,
            reason: reason.to_string(),
        })
    }

    /// Joins a client, of this process or of another, to a channel.
    pub fn join(&self, conn_id: u64, channel: &str) -> Result<()> {
        if self.is_local(conn_id) {
            return self.rooms.join(conn_id, channel);
        }
        crate::engine::ws::rooms::check_channel(channel)?;
        self.known(conn_id)?;
        self.to_owner(conn_id, || Frame::JoinRequest(conn_id, channel.to_string()))
    }

    /// Takes a client, of this process or of another, out of a channel.
    pub fn leave(&self, conn_id: u64, channel: &str) -> Result<()> {
        if self.is_local(conn_id) {
            return self.rooms.leave(conn_id, channel);
        }
        crate::engine::ws::rooms::check_channel(channel)?;
        self.known(conn_id)?;
        self.to_owner(conn_id, || {
            Frame::LeaveRequest(conn_id, channel.to_string())
        })
    }

    fn known(&self, id: u64) -> Result<()> {
        if self.rooms.is_known(id) {
            Ok(())
        } else {
            Err(Error::not_found(format!(
                "no WebSocket client with id {id}"
            )))
        }
    }

    /// Publishes to a channel's members everywhere except `except`; returns how many members
    /// (everywhere, as this process knows them) it was sent to.
    pub fn publish(&self, channel: &str, msg: Message, except: Option<u64>) -> Result<usize> {
        crate::engine::ws::rooms::check_channel(channel)?;
        let total = self.rooms.member_count(channel, except);
        if !self.backplanes.read().is_empty() {
            let frame = Frame::Publish {
                channel: channel.to_string(),
                msg: msg.clone(),
                except,
            };
            self.to_all(wire::encode(self.me(), &frame));
        }
        self.rooms.publish_local(channel, &msg, except);
        Ok(total)
    }

    /// Handles a frame from process `origin`, delivered by the backplane named `via`.
    pub fn receive(&self, via: &'static str, origin: u32, frame: Frame) {
        let me = self.me();
        if origin == me {
            return;
        }
        self.base.log.debug(|| match &frame {
            Frame::State(r) | Frame::StateAnswer(r) => {
                format!("fanout: state of process {origin}: {} clients", r.len())
            }
            Frame::Open(r) => format!("fanout: process {origin} opened {}", r.id),
            Frame::Gone(id) => format!("fanout: process {origin}: {id} gone"),
            Frame::Joined(id, c) => format!("fanout: process {origin}: {id} joined {c:?}"),
            Frame::Left(id, c) => format!("fanout: process {origin}: {id} left {c:?}"),
            _ => format!("fanout: frame from process {origin}"),
        });
        match frame {
            Frame::Hello { node } => {
                self.base
                    .log
                    .debug(|| format!("fanout: hello from process {origin} (node {node})"));
                // Answered where it came from: a sibling's hello is no news for other nodes
                // (and a state queued for a link not up yet would be stale when it goes out).
                let state = wire::encode(me, &Frame::StateAnswer(self.rooms.local_records()));
                for b in self.backplanes.read().iter().filter(|b| b.name() == via) {
                    b.to_all(state.clone());
                }
            }
            Frame::State(records) => {
                self.synced.lock().insert(origin);
                self.rooms.replace_proc(origin, records, false)
            }
            Frame::StateAnswer(records) => {
                // A replacement worker catching up: its node already told who was there.
                // Otherwise (a new node, a link back after an outage) what is new is news.
                let first = self.synced.lock().insert(origin);
                let quiet = first && self.restarted.load(Ordering::Relaxed);
                self.rooms.replace_proc(origin, records, quiet)
            }
            Frame::Open(r) if proc_of(r.id) == origin => self.rooms.apply(Change::Open(&r)),
            Frame::Gone(id) => self.rooms.apply(Change::Gone(id)),
            Frame::Joined(id, ch) => self.rooms.apply(Change::Joined(id, &ch)),
            Frame::Left(id, ch) => self.rooms.apply(Change::Left(id, &ch)),
            Frame::Send { id, msg } if self.is_local(id) => {
                let _ = self.hub.send(id, msg);
            }
            Frame::Close { id, code, reason } if self.is_local(id) => {
                let _ = self.hub.close(id, code, &reason);
            }
            Frame::Broadcast { msg, route, except } => {
                self.hub.broadcast(msg, except, route);
            }
            Frame::Publish {
                channel,
                msg,
                except,
            } => {
                self.rooms.publish_local(&channel, &msg, except);
            }
            Frame::JoinRequest(id, ch) if self.is_local(id) => {
                if let Err(e) = self.rooms.join(id, &ch) {
                    self.base
                        .log
                        .debug(|| format!("fanout: join of {id} to {ch:?} asked remotely: {e}"));
                }
            }
            Frame::LeaveRequest(id, ch) if self.is_local(id) => {
                let _ = self.rooms.leave(id, &ch);
            }
            Frame::SendPacket { id, packet } if self.is_local(id) => {
                let _ = self.hub.send_out(id, Outgoing::Packet(packet));
            }
            Frame::BroadcastPacket { packet, except } => {
                let route = packet.route;
                self.hub
                    .broadcast_out(&Outgoing::Packet(packet), except, Some(route));
            }
            Frame::PublishPacket {
                channel,
                packet,
                except,
            } => {
                self.rooms
                    .publish_out(&channel, &Outgoing::Packet(packet), except);
            }
            f @ (Frame::SioAnswer { .. }
            | Frame::SioPoll { .. }
            | Frame::SioPollAnswer { .. }
            | Frame::SioRelayOpen { .. }
            | Frame::SioRelayIn { .. }
            | Frame::SioRelayOut { .. }
            | Frame::SioRelayClose { .. }) => {
                let peer = self.peer.read().as_ref().and_then(|p| p.upgrade());
                if let Some(p) = peer {
                    p.frame(origin, f);
                }
            }
            Frame::Bye => {
                self.base
                    .log
                    .debug(|| format!("fanout: process {origin} says goodbye"));
                self.forget_proc(origin)
            }
            Frame::ProcGone(p) if p != me => {
                self.base
                    .log
                    .debug(|| format!("fanout: process {origin} says process {p} is gone"));
                self.forget_proc(p)
            }
            _ => {}
        }
    }

    /// Process `proc` is gone: its clients leave every channel and presence list here.
    pub fn forget_proc(&self, proc: u32) {
        self.synced.lock().remove(&proc);
        let n = self.rooms.forget(|p| p == proc);
        if n > 0 {
            self.base
                .log
                .debug(|| format!("fanout: process {proc} gone; forgot its {n} clients"));
        }
    }

    /// Tells every process that process `proc` (a sibling of this node) is gone.
    pub fn relay_proc_gone(&self, proc: u32) {
        self.to_all(wire::encode(self.me(), &Frame::ProcGone(proc)));
    }
}

impl Replica for Fanout {
    fn changed(&self, change: Change<'_>) {
        if self.backplanes.read().is_empty() {
            return;
        }
        let frame = match change {
            Change::Open(r) => Frame::Open(r.clone()),
            Change::Gone(id) => Frame::Gone(id),
            Change::Joined(id, ch) => Frame::Joined(id, ch.to_string()),
            Change::Left(id, ch) => Frame::Left(id, ch.to_string()),
        };
        self.to_all(wire::encode(self.me(), &frame));
    }
}
