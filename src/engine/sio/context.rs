//! What the Socket.IO layer of one server holds (`SioContext`): its settings, the namespaces and
//! their host handlers, this process's Engine.IO sessions, the acknowledgements it waits for and
//! the polling requests it forwarded to other workers. The emitting calls (`emit`, `emit_to`,
//! `ack`) live here: they encode once and deliver through the fanout, to sockets of any process.

use crate::engine::context::{host_call, Base};
use crate::engine::error::{Error, Result};
use crate::engine::fanout::wire::Frame;
use crate::engine::fanout::Fanout;
use crate::engine::sio::codec;
use crate::engine::sio::eio::{Answer, Cmd, Eio};
use crate::engine::sio::namespace::{Namespace, SioConfig, SioHandler};
use crate::engine::ws::context::WsContext;
use crate::engine::ws::outbox::{Ask, Outgoing, Packet};
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An acknowledgement this process waits for: which socket, and the namespace whose handler
/// hears the answer.
struct Awaited {
    socket: u64,
    ns: Arc<Namespace>,
}

pub struct SioContext {
    pub base: Arc<Base>,
    pub ws: Arc<WsContext>,
    pub fanout: Arc<Fanout>,
    config: RwLock<Option<Arc<SioConfig>>>,
    namespaces: RwLock<HashMap<Box<str>, Arc<Namespace>>>,
    /// The route id of requests to the Socket.IO path (`hs_request_route_id` of a handshake).
    pub route: std::sync::atomic::AtomicU32,
    /// This process's Engine.IO sessions, by sid.
    pub(crate) sessions: Mutex<HashMap<Box<str>, Arc<Eio>>>,
    awaited: Mutex<HashMap<u64, Awaited>>,
    next_token: AtomicU64,
    /// Polling requests forwarded to the worker owning their session, by request number.
    pub(crate) forwarded: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Answer>>>,
    next_forward: AtomicU64,
    /// WebSockets this process relays for sessions of other workers, by relay number: where
    /// the session's messages for the client are left.
    pub(crate) relays: Mutex<HashMap<u64, Arc<crate::engine::ws::outbox::Outbox>>>,
    /// Sockets whose transport was lost, kept for connection state recovery, by private id.
    pub(crate) parked: Mutex<HashMap<Box<str>, crate::engine::sio::eio::Sock>>,
}

impl SioContext {
    pub fn new(base: Arc<Base>, ws: Arc<WsContext>, fanout: Arc<Fanout>) -> SioContext {
        SioContext {
            base,
            ws,
            fanout,
            config: RwLock::new(None),
            namespaces: RwLock::new(HashMap::new()),
            route: std::sync::atomic::AtomicU32::new(u32::MAX),
            sessions: Mutex::new(HashMap::new()),
            awaited: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            forwarded: Mutex::new(HashMap::new()),
            next_forward: AtomicU64::new(1),
            relays: Mutex::new(HashMap::new()),
            parked: Mutex::new(HashMap::new()),
        }
    }

    /// Turns Socket.IO on with `config`; `default_route` is the route id of the default
    /// namespace should the host not register it, `path_route` that of handshake requests.
    pub fn enable(&self, mut config: SioConfig, path_route: u32, default_route: u32) -> Result<()> {
        if !config.path.starts_with('/') {
            return Err(Error::invalid(format!(
                "Socket.IO path {:?} must begin with /",
                config.path
            )));
        }
        if !config.path.ends_with('/') {
            config.path = format!("{}/", config.path).into();
        }
        if config.ping_interval.is_zero() || config.ping_timeout.is_zero() {
            return Err(Error::invalid("ping interval and timeout must be above 0"));
        }
        if config.max_payload == 0 {
            return Err(Error::invalid("max payload must be above 0"));
        }
        self.route.store(path_route, Ordering::Relaxed);
        self.namespaces
            .write()
            .entry("/".into())
            .or_insert_with(|| {
                Arc::new(Namespace {
                    name: "/".into(),
                    route: default_route,
                    handler: None,
                })
            });
        *self.config.write() = Some(Arc::new(config));
        Ok(())
    }

    pub fn config(&self) -> Option<Arc<SioConfig>> {
        self.config.read().clone()
    }

    /// Registers (or replaces the handler of) namespace `name`; returns its route id
    /// (`new_route` for a new one).
    pub fn register(
        &self,
        name: &str,
        handler: Arc<dyn SioHandler>,
        new_route: impl FnOnce() -> u32,
    ) -> Result<u32> {
        codec::check_namespace(name)?;
        let mut spaces = self.namespaces.write();
        let route = spaces.get(name).map_or_else(new_route, |n| n.route);
        spaces.insert(
            name.into(),
            Arc::new(Namespace {
                name: name.into(),
                route,
                handler: Some(handler),
            }),
        );
        Ok(route)
    }

    pub fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        self.namespaces.read().get(name).cloned()
    }

    pub fn namespace_by_route(&self, route: u32) -> Option<Arc<Namespace>> {
        self.namespaces
            .read()
            .values()
            .find(|n| n.route == route)
            .cloned()
    }

    /// The namespace of socket `id`, of any process.
    pub fn namespace_of(&self, id: u64) -> Result<Arc<Namespace>> {
        let route = match self.ws.hub.route_of(id) {
            Some(r) => r,
            None => self
                .ws
                .rooms
                .record(id)
                .map(|r| r.route)
                .ok_or_else(|| Error::not_found(format!("no Socket.IO socket with id {id}")))?,
        };
        self.namespace_by_route(route).ok_or_else(|| {
            Error::invalid(format!(
                "client {id} is a WebSocket client, not a Socket.IO socket"
            ))
        })
    }

    /// Emits `event` with `args` (a JSON array) to the sockets of namespace `route` — every one,
    /// or a room's — on every process, except `except`. Returns how many of this process's
    /// sockets got it.
    pub fn emit(
        &self,
        route: u32,
        room: Option<&str>,
        except: Option<u64>,
        event: &str,
        args: &[u8],
        attachments: Vec<Bytes>,
    ) -> Result<usize> {
        let ns = self
            .namespace_by_route(route)
            .ok_or_else(|| Error::not_found(format!("no Socket.IO namespace with id {route}")))?;
        let data = codec::event_data(event, args)?;
        let packet = Arc::new(codec::event_packet(&ns, &data, attachments, None));
        match room {
            Some(room) => self.fanout.publish_packet(room, packet, except),
            None => Ok(self.fanout.broadcast_packet(packet, except)),
        }
    }

    /// Emits to one socket, of any process; with `ask`, waits for its acknowledgement (the
    /// namespace's `on_ack` hears it with the returned token), at most `timeout` when given.
    pub fn emit_to(
        self: &Arc<Self>,
        id: u64,
        event: &str,
        args: &[u8],
        attachments: Vec<Bytes>,
        ask: bool,
        timeout: Option<Duration>,
    ) -> Result<Option<u64>> {
        let ns = self.namespace_of(id)?;
        let data = codec::event_data(event, args)?;
        if !ask {
            let packet = Arc::new(codec::event_packet(&ns, &data, attachments, None));
            self.fanout.send_out(id, Outgoing::Packet(packet))?;
            return Ok(None);
        }
        // A token names the asking process, so that an answer from anywhere finds its way back.
        let token = (u64::from(self.fanout.me()) << 32)
            | (self.next_token.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff);
        self.awaited.lock().insert(
            token,
            Awaited {
                socket: id,
                ns: ns.clone(),
            },
        );
        let packet = Packet {
            text: Bytes::new(),
            attachments,
            route: ns.route,
            ask: Some(Ask {
                token,
                origin: self.fanout.me(),
                data,
            }),
        };
        let sent = self.fanout.send_out(id, Outgoing::Packet(Arc::new(packet)));
        if let Err(e) = sent {
            self.awaited.lock().remove(&token);
            return Err(e);
        }
        if let Some(t) = timeout {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let me = Arc::downgrade(self);
                rt.spawn(async move {
                    tokio::time::sleep(t).await;
                    if let Some(me) = me.upgrade() {
                        me.answered(token, None);
                    }
                });
            } else {
                self.awaited.lock().remove(&token);
                return Err(Error::state(
                    "an acknowledgement timeout is set from the event loop's thread (a callback)",
                ));
            }
        }
        Ok(Some(token))
    }

    /// The answer for `token` (asked here): the namespace's handler hears it, once.
    pub fn answered(&self, token: u64, reply: Option<(&[u8], &[Bytes])>) {
        let Some(a) = self.awaited.lock().remove(&token) else {
            return;
        };
        if let Some(h) = &a.ns.handler {
            let _ = host_call(|| h.on_ack(a.socket, token, reply));
        }
    }

    /// An answer to route to process `origin` (which asked), or to hear here.
    pub(crate) fn route_answer(
        &self,
        origin: u32,
        token: u64,
        id: u64,
        reply: Option<(Bytes, Vec<Bytes>)>,
    ) {
        if origin == self.fanout.me() {
            match &reply {
                Some((a, b)) => self.answered(token, Some((a, b))),
                None => self.answered(token, None),
            }
        } else {
            let _ = self
                .fanout
                .to_proc_frame(origin, Frame::SioAnswer { token, id, reply });
        }
    }

    /// Acknowledges event `ack_id` of socket `id` (of any process) with `args`.
    pub fn ack(&self, id: u64, ack_id: i64, args: &[u8], attachments: Vec<Bytes>) -> Result<()> {
        if ack_id < 0 {
            return Err(Error::invalid(format!("ack id {ack_id} is negative")));
        }
        let ns = self.namespace_of(id)?;
        codec::check_args(args)?;
        let args = if args.is_empty() { &b"[]"[..] } else { args };
        let packet = Arc::new(codec::ack_packet(&ns, args, attachments, ack_id));
        self.fanout.send_out(id, Outgoing::Packet(packet))
    }

    /// At shutdown: every session ends (its sockets hear "server shutting down").
    pub fn stop_all(&self) {
        for eio in self.sessions.lock().values() {
            eio.push(Cmd::Kill("server shutting down"));
        }
    }

    /// Messages for a WebSocket relayed by process `proc` (then closes it with `close`).
    pub(crate) fn relay_out(
        &self,
        proc: u32,
        relay: u64,
        msgs: Vec<tokio_tungstenite::tungstenite::Message>,
        close: bool,
    ) {
        let _ = self
            .fanout
            .to_proc_frame(proc, Frame::SioRelayOut { relay, msgs, close });
    }

    pub(crate) fn forward_number(&self) -> u64 {
        self.next_forward.fetch_add(1, Ordering::Relaxed)
    }
}
