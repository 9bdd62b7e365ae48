//! One Engine.IO session: a task that owns its transport (long-polling requests, a WebSocket,
//! the upgrade from one to the other), its heartbeat, and its Socket.IO sockets (one per
//! connected namespace; each a client of the world with an outbox of its own). Polling
//! requests reach it as commands (`Cmd`) from the HTTP side, here or forwarded from another
//! worker; everything else (incoming packets, host callbacks, writes) happens on the task.

use crate::engine::context::{host_call, ActiveGuard};
use crate::engine::http::request::{Field, Request};
use crate::engine::sio::codec;
use crate::engine::sio::context::SioContext;
use crate::engine::sio::eio::{Answer, Cmd, Eio, Sock};
use crate::engine::sio::namespace::SioConfig;
use crate::engine::ws::context::{Admission, Verdict};
use crate::engine::ws::deflate::Deflater;
use crate::engine::ws::hub::Client;
use crate::engine::ws::outbox::{Outbox, Outgoing, DATA, DELIVERING, KILL, REPLIES, STOP};
use crate::engine::ws::rooms::{Record, Rooms, User};
use crate::engine::ws::session::{close_code_for, leave_world, Socket};
use bytes::Bytes;
use engineioxide_core::{Packet as EioPacket, ProtocolVersion, Str};
use futures_util::{SinkExt, StreamExt};
use socketioxide_core::packet::{Packet as SioPacket, PacketData};
use socketioxide_core::parser::{Parse, ParseConfig, ParseError, ParserState};
use socketioxide_core::Value;
use socketioxide_parser_common::CommonParser;
use std::sync::Arc;
use std::task::Poll;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// What a new session starts from.
pub struct Opened {
    pub request: Request,
    pub admission: Admission,
    /// The handshake request's packed head, when the server keeps heads.
    pub head: Option<Box<[u8]>>,
    /// A WebSocket-only session's socket (its open packet is sent on it first).
    pub ws: Option<(Socket, Option<Deflater>)>,
    /// Held while the session lives: a WebSocket over HTTP/2 keeps its connection busy.
    pub tunnel: Option<crate::engine::ws::handshake::Tunnel>,
}

/// A frame to send, on either transport.
enum Out {
    Text(Bytes),
    Binary(Bytes),
}

struct Ws {
    socket: Socket,
    deflater: Option<Deflater>,
}

/// A WebSocket transport: ours, or held by another worker that relays it.
enum Link {
    Local(Box<Ws>),
    Remote { proc: u32, relay: u64 },
}

impl Link {
    fn is_relay(&self, r: u64) -> bool {
        matches!(self, Link::Remote { relay, .. } if *relay == r)
    }
}

struct Task {
    ctx: Arc<SioContext>,
    eio: Arc<Eio>,
    cfg: Arc<SioConfig>,
    request: Request,
    user: Option<User>,
    channels: Vec<String>,
    head: Option<Box<[u8]>>,
    ws: Option<Link>,
    probe: Option<Link>,
    /// What to answer on the probe (`3probe`).
    probe_out: Vec<Message>,
    /// The probe was answered and the upgrade (`5`) has not come yet.
    upgrading: bool,
    out: Vec<Out>,
    /// Polling: frames waiting for a GET, and the GET waiting for frames.
    buffer: Vec<Out>,
    waiting: Option<oneshot::Sender<Answer>>,
    sockets: Vec<Sock>,
    parser: ParserState,
    /// The parser's bounds on binary attachments (their bytes: the payload limit).
    limits: ParseConfig,
    ping_due: Instant,
    pong_due: Option<Instant>,
    connect_due: Option<Instant>,
    /// Why the session ends, once it does.
    end: Option<&'static str>,
    /// The close code and reason of a WebSocket that failed (1009 for a message too big).
    close_with: Option<(u16, &'static str)>,
}

/// The open packet.
pub fn open_packet(sid: &str, cfg: &SioConfig, upgrades: bool) -> Bytes {
    let upgrades = if upgrades { "[\"websocket\"]" } else { "[]" };
    Bytes::from(format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":{upgrades},\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
        cfg.ping_interval.as_millis(),
        cfg.ping_timeout.as_millis(),
        cfg.max_payload
    ))
}

/// Runs a session until it ends.
pub async fn run(ctx: Arc<SioContext>, eio: Arc<Eio>, cfg: Arc<SioConfig>, opened: Box<Opened>) {
    let _guard = ActiveGuard::new(&ctx.base);
    // The task's state is boxed, made by a plain function: the future keeps a pointer, not the
    // state beside the arguments it was made from (an idle session's memory).
    let (mut t, tunnel) = Task::new(&ctx, eio, cfg, opened);
    let _tunnel = tunnel;
    if t.ws.is_some() {
        t.out
            .push(Out::Text(open_packet(&t.eio.sid, &t.cfg, false)));
        t.flush().await;
    }
    if ctx.base.life.is_stopping() {
        t.end = Some("server shutting down");
    }
    t.run().await;
    t.finish().await;
}

type Tunnel = Option<crate::engine::ws::handshake::Tunnel>;

impl Task {
    fn new(
        ctx: &Arc<SioContext>,
        eio: Arc<Eio>,
        cfg: Arc<SioConfig>,
        opened: Box<Opened>,
    ) -> (Box<Task>, Tunnel) {
        let Opened {
            request,
            admission,
            head,
            ws,
            tunnel,
        } = *opened;
        let now = Instant::now();
        let t = Box::new(Task {
            ctx: ctx.clone(),
            eio,
            request,
            user: admission.user,
            channels: admission.channels,
            head,
            ws: ws.map(|(socket, deflater)| Link::Local(Box::new(Ws { socket, deflater }))),
            probe: None,
            probe_out: Vec::new(),
            upgrading: false,
            out: Vec::new(),
            buffer: Vec::new(),
            waiting: None,
            sockets: Vec::new(),
            parser: ParserState::default(),
            limits: ParseConfig {
                max_incoming_binary_buf_size: cfg.max_payload,
                max_incoming_binaries: 1000,
                packet_completion_timeout: cfg.ping_interval + cfg.ping_timeout,
            },
            ping_due: now + cfg.ping_interval,
            pong_due: None,
            connect_due: Some(now + cfg.connect_timeout),
            end: None,
            close_with: None,
            cfg,
        });
        (t, tunnel)
    }
}

/// Takes a socket out: the world, its rooms, the hub; its asks are answered with nothing; the
/// host hears why.
fn retire(ctx: &SioContext, s: Sock, reason: &str) {
    for (_, token, origin) in &s.asked {
        ctx.route_answer(*origin, *token, s.id, None);
    }
    let id = s.id;
    ctx.base
        .log
        .debug(|| format!("sio socket {id} ({}): {reason}", s.sid));
    leave_world(&ctx.ws.hub, &ctx.ws.rooms, id, &s.outbox, || {
        if let Some(h) = &s.ns.handler {
            h.on_disconnect(id, reason)
        }
    });
}

/// Keeps a socket whose transport was lost for `window`, in the world with its outbox filling,
/// for a reconnecting session that shows its `pid` (connection state recovery). Past the
/// window it is retired with `reason`.
fn park(ctx: &Arc<SioContext>, s: Sock, reason: &'static str, window: std::time::Duration) {
    let Some(pid) = s.pid.clone() else {
        return retire(ctx, s, reason);
    };
    let id = s.id;
    ctx.base
        .log
        .debug(|| format!("sio socket {id}: {reason}; kept for recovery"));
    ctx.parked.lock().insert(pid.clone(), s);
    let weak = Arc::downgrade(ctx);
    tokio::spawn(async move {
        tokio::time::sleep(window).await;
        if let Some(ctx) = weak.upgrade() {
            let expired = ctx.parked.lock().remove(&pid);
            if let Some(s) = expired {
                retire(&ctx, s, reason);
            }
        }
    });
}

/// The `pid` in a CONNECT's auth payload, if any.
fn recovery_pid(auth: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(auth).ok()?;
    v.get("pid")?.as_str().map(str::to_string)
}

/// Ready when the session has commands or one of its sockets has something (data, a kill, a
/// stop): one wake-up for all of them.
fn poll_flags(cx: &mut std::task::Context<'_>, eio: &Eio, sockets: &[Sock]) -> Poll<()> {
    let mut ready = eio.signal.poll(cx, DATA).is_ready();
    for s in sockets {
        ready |= s.outbox.signal.poll(cx, DATA | KILL | STOP).is_ready();
    }
    if ready {
        Poll::Ready(())
    } else {
        Poll::Pending
    }
}

async fn next_frame(
    ws: &mut Option<Link>,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match ws {
        Some(Link::Local(w)) => w.socket.next().await,
        _ => std::future::pending().await,
    }
}

impl Task {
    async fn run(&mut self) {
        let timer = tokio::time::sleep_until(self.ping_due);
        tokio::pin!(timer);
        while self.end.is_none() {
            let wake = self.next_deadline();
            if wake < timer.deadline() || timer.is_elapsed() {
                timer.as_mut().reset(wake);
            }
            tokio::select! {
                biased;
                _ = std::future::poll_fn(|cx| poll_flags(cx, &self.eio, &self.sockets)) => {
                    self.on_flags();
                }
                frame = next_frame(&mut self.ws) => match frame {
                    Some(Ok(m)) => {
                        self.on_ws_message(m);
                        // The frames already read go in the same turn: their answers leave
                        // in one write.
                        self.more_frames();
                    }
                    Some(Err(e)) => self.on_ws_error(&e),
                    None => self.end = Some("transport close"),
                },
                frame = next_frame(&mut self.probe) => match frame {
                    Some(Ok(m)) => self.on_probe(m),
                    _ => {
                        self.probe = None;
                        self.upgrading = false;
                    }
                },
                _ = &mut timer => self.on_timer(),
            }
            self.flush().await;
        }
    }

    /// The WebSocket failed: a connection that just ended is "transport close"; a frame it
    /// refused (too big, bad UTF-8, a protocol error) is an error, and the close says which.
    fn on_ws_error(&mut self, e: &tokio_tungstenite::tungstenite::Error) {
        self.ctx
            .base
            .log
            .debug(|| format!("sio {}: websocket: {e}", self.eio.sid));
        match close_code_for(e) {
            Some(code) => {
                self.close_with = Some(code);
                self.end = Some("transport error");
            }
            None => self.end = Some("transport close"),
        }
    }

    /// Handles the frames the WebSocket has already read (up to 64), without waiting.
    fn more_frames(&mut self) {
        use futures_util::FutureExt;
        for _ in 0..64 {
            if self.end.is_some() {
                return;
            }
            let Some(Link::Local(w)) = self.ws.as_mut() else {
                return;
            };
            match w.socket.next().now_or_never() {
                Some(Some(Ok(m))) => self.on_ws_message(m),
                Some(Some(Err(e))) => return self.on_ws_error(&e),
                Some(None) => {
                    self.end = Some("transport close");
                    return;
                }
                None => return,
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        let mut d = self.pong_due.unwrap_or(self.ping_due);
        if let Some(c) = self.connect_due {
            d = d.min(c);
        }
        d
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if self.pong_due.is_some_and(|d| now >= d) {
            self.end = Some("ping timeout");
            return;
        }
        if self.connect_due.is_some_and(|d| now >= d) {
            self.end = Some("connect timeout");
            return;
        }
        if self.pong_due.is_none() && now >= self.ping_due {
            self.out.push(Out::Text(Bytes::from_static(b"2")));
            self.pong_due = Some(now + self.cfg.ping_timeout);
            // The next ping is scheduled when the pong comes.
            self.ping_due = now + self.cfg.ping_interval + self.cfg.ping_timeout;
        }
    }

    fn on_flags(&mut self) {
        for cmd in self.eio.take() {
            self.on_cmd(cmd);
        }
        let mut i = 0;
        while i < self.sockets.len() && self.end.is_none() {
            let s = &self.sockets[i];
            let flags = s.outbox.signal.peek();
            if flags & STOP != 0 {
                self.end = Some("server shutting down");
                break;
            }
            if flags & KILL != 0 {
                self.ctx
                    .base
                    .log
                    .debug(|| format!("sio socket {}: send queue full; disconnecting", s.id));
                self.end = Some("forced close");
                break;
            }
            if flags & DATA != 0 {
                let taken = s.outbox.take(64);
                let id = s.id;
                for o in taken {
                    self.deliver(id, o);
                }
            }
            i += 1;
        }
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Get(tx) => {
                if self.ws.is_some() {
                    let _ = tx.send(Answer::error(3));
                } else if self.upgrading {
                    // The probe succeeded: a poll that comes now gets a noop at once, so that
                    // the client's polling pauses and it can send the upgrade (`5`).
                    let _ = tx.send(self.poll_answer(vec![Out::Text(Bytes::from_static(b"6"))]));
                } else if self.waiting.is_some() {
                    // Two GETs at once: the client is confused; the session ends.
                    let _ = tx.send(Answer::error(3));
                    self.end = Some("transport error");
                } else {
                    self.waiting = Some(tx);
                }
            }
            Cmd::Post(body, tx) => {
                if self.ws.is_some() {
                    let _ = tx.send(Answer::error(3));
                    return;
                }
                let ok = self.on_payload(&body);
                let _ = tx.send(if ok {
                    Answer {
                        status: 200,
                        body: Bytes::from_static(b"ok"),
                    }
                } else {
                    Answer::error(3)
                });
            }
            Cmd::Ws(ws) => {
                let (socket, deflater) = *ws;
                if self.ws.is_none() && self.probe.is_none() {
                    self.probe = Some(Link::Local(Box::new(Ws { socket, deflater })));
                }
            }
            Cmd::Kill(why) => self.end = Some(why),
            Cmd::Remote { proc, relay } => {
                if self.ws.is_none() && self.probe.is_none() {
                    self.probe = Some(Link::Remote { proc, relay });
                } else {
                    self.ctx.relay_out(proc, relay, Vec::new(), true);
                }
            }
            Cmd::RemoteIn { relay, msg } => {
                if self.probe.as_ref().is_some_and(|l| l.is_relay(relay)) {
                    self.on_probe(msg);
                } else if self.ws.as_ref().is_some_and(|l| l.is_relay(relay)) {
                    self.on_ws_message(msg);
                }
            }
            Cmd::RemoteGone { relay } => {
                if self.probe.as_ref().is_some_and(|l| l.is_relay(relay)) {
                    self.probe = None;
                    self.upgrading = false;
                } else if self.ws.as_ref().is_some_and(|l| l.is_relay(relay)) {
                    self.end = Some("transport close");
                }
            }
        }
    }

    /// A polling body: packets separated by 0x1e. False: malformed (the session ends).
    fn on_payload(&mut self, body: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(body) else {
            self.end = Some("parse error");
            return false;
        };
        let all = Bytes::copy_from_slice(text.as_bytes());
        let mut start = 0;
        for part in text.split('\x1e') {
            let range = start..start + part.len();
            start += part.len() + 1;
            // SAFETY: a slice of `text` between separators (ASCII), hence UTF-8.
            let s = unsafe { Str::from_bytes_unchecked(all.slice(range)) };
            match EioPacket::parse(ProtocolVersion::V4, s) {
                Ok(p) => self.on_packet(p),
                Err(_) => {
                    self.end = Some("parse error");
                    return false;
                }
            }
            if self.end.is_some() {
                break;
            }
        }
        self.end != Some("parse error")
    }

    fn on_ws_message(&mut self, m: Message) {
        match m {
            Message::Text(t) => {
                // SAFETY: tungstenite checked the text is UTF-8.
                let s = unsafe { Str::from_bytes_unchecked(Bytes::from(t)) };
                match EioPacket::parse(ProtocolVersion::V4, s) {
                    Ok(p) => self.on_packet(p),
                    Err(_) => self.end = Some("parse error"),
                }
            }
            Message::Binary(b) => self.on_packet(EioPacket::Binary(b)),
            Message::Close(_) => self.end = Some("transport close"),
            _ => {}
        }
    }

    /// A frame on the WebSocket being probed (RFC: `2probe` → `3probe`, then `5` upgrades).
    fn on_probe(&mut self, m: Message) {
        let Message::Text(t) = m else { return };
        match t.as_str() {
            "2probe" => {
                self.probe_out.push(Message::Text("3probe".into()));
                self.upgrading = true;
                // The pending GET returns, so that the client can pause polling.
                if let Some(tx) = self.waiting.take() {
                    let _ = tx.send(self.poll_answer(vec![Out::Text(Bytes::from_static(b"6"))]));
                }
            }
            "5" => {
                self.upgrading = false;
                self.ws = self.probe.take();
                // What waited for a GET goes on the WebSocket now.
                let waiting = std::mem::take(&mut self.buffer);
                self.out.splice(0..0, waiting);
                if let Some(tx) = self.waiting.take() {
                    let _ = tx.send(self.poll_answer(vec![Out::Text(Bytes::from_static(b"6"))]));
                }
            }
            _ => {}
        }
    }

    fn on_packet(&mut self, p: EioPacket) {
        match p {
            EioPacket::Pong => {
                if self.pong_due.take().is_some() {
                    self.ping_due = Instant::now() + self.cfg.ping_interval;
                }
            }
            EioPacket::Close => self.end = Some("transport close"),
            EioPacket::Message(s) => match CommonParser.decode_str(&self.limits, &self.parser, s) {
                Ok(p) => self.on_sio(p),
                Err(ParseError::NeedsMoreBinaryData) => {}
                Err(_) => self.end = Some("parse error"),
            },
            EioPacket::Binary(b) => match CommonParser.decode_bin(&self.limits, &self.parser, b) {
                Ok(p) => self.on_sio(p),
                Err(ParseError::NeedsMoreBinaryData) => {}
                Err(_) => self.end = Some("parse error"),
            },
            EioPacket::Noop | EioPacket::Ping => {}
            _ => self.end = Some("parse error"),
        }
    }

    fn find(&self, ns: &str) -> Option<usize> {
        self.sockets.iter().position(|s| &*s.ns.name == ns)
    }

    fn on_sio(&mut self, p: SioPacket) {
        let ns = p.ns.as_str().to_string();
        match p.inner {
            PacketData::Connect(auth) => {
                let auth = auth
                    .as_ref()
                    .and_then(|v| v.as_str())
                    .map(|s| s.as_bytes().to_vec());
                self.connect(&ns, auth.as_deref().unwrap_or(b""));
            }
            PacketData::Disconnect => {
                if let Some(i) = self.find(&ns) {
                    self.remove(i, "client namespace disconnect");
                }
            }
            PacketData::Event(v, ack) | PacketData::BinaryEvent(v, ack) => {
                if let Some(i) = self.find(&ns) {
                    self.event(i, v, ack);
                }
            }
            PacketData::EventAck(v, ack) | PacketData::BinaryAck(v, ack) => {
                if let Some(i) = self.find(&ns) {
                    self.answer(i, v, ack);
                }
            }
            PacketData::ConnectError(_) => self.end = Some("parse error"),
        }
    }

    /// A client connects namespace `name`: the host decides, then the socket joins the world.
    fn connect(&mut self, name: &str, auth: &[u8]) {
        let Some(ns) = self.ctx.namespace(name) else {
            self.out.push(Out::Text(codec::connect_error(
                name,
                "Invalid namespace",
                None,
            )));
            return;
        };
        if self.find(name).is_some() {
            return;
        }
        if self.cfg.recovery.is_some() && self.restore(name, auth) {
            return;
        }
        let ctx = self.ctx.clone();
        let ws = &ctx.ws;
        let id = ctx.base.next_conn_id();
        let sid = codec::socket_sid(id);
        let outbox = Arc::new(Outbox::new(ctx.base.limits().ws_send_queue));
        let path = String::from_utf8_lossy(self.request.field(Field::Path)).into_owned();
        // In the hub before the host decides: what it emits to the socket from its connect
        // callback is kept (as replies) and sent after the CONNECT answer.
        ws.hub.insert(
            id,
            Client {
                outbox: outbox.clone(),
                route_id: ns.route,
                peer: self.request.peer,
                path: path.into(),
                head: self.head.clone(),
            },
        );
        let mut admission = Admission {
            user: self.user.clone(),
            channels: self.channels.clone(),
            ..Admission::default()
        };
        // The socket's record as it would be, readable (`hs_ws_client_record`) while the host
        // decides.
        let mut summary = Vec::new();
        if ws.rooms.is_shared() {
            self.request.write_summary_head(&mut summary);
            summary.pop();
        }
        let mut record = Record {
            id,
            route: ns.route,
            node: ws.rooms.node(),
            user: self.user.clone().map(Arc::new),
            channels: self
                .channels
                .iter()
                .map(|c| Arc::from(c.as_str()))
                .collect(),
            summary: if summary.is_empty() {
                crate::engine::ws::rooms::empty_summary()
            } else {
                Arc::from(summary)
            },
        };
        let verdict = match &ns.handler {
            Some(h) => {
                DELIVERING.set((id, outbox.limit));
                let v = Rooms::closing(Some(record.clone()), || {
                    host_call(|| h.on_connect(id, &self.request, auth, &mut admission))
                })
                .unwrap_or(Verdict::Failed);
                DELIVERING.set((0, 0));
                v
            }
            None => Verdict::Accept,
        };
        let replies = REPLIES.with_borrow_mut(|r| r.replace(Vec::new()));
        if verdict != Verdict::Accept {
            ws.hub.remove(id);
            let (message, data) = match (verdict, admission.refusal.take()) {
                (Verdict::Failed, _) => ("Internal server error".to_string(), None),
                (_, Some(r)) => (r.message, r.data),
                (_, None) => ("Not authorized".to_string(), None),
            };
            self.ctx
                .base
                .log
                .debug(|| format!("sio {}: connect to {name} refused: {message}", self.eio.sid));
            self.out.push(Out::Text(codec::connect_error(
                name,
                &message,
                data.as_deref(),
            )));
            return;
        }
        record.user = admission.user.map(Arc::new);
        record.channels = Vec::new();
        let joined = ws.rooms.open(record, outbox.clone(), &admission.channels);
        let pid: Option<Box<str>> = self
            .cfg
            .recovery
            .map(|_| engineioxide_core::Sid::new().as_str().into());
        self.out
            .push(Out::Text(codec::connect_ok(name, &sid, pid.as_deref())));
        self.connect_due = None;
        self.sockets.push(Sock {
            id,
            sid,
            ns,
            outbox,
            next_ack: 0,
            asked: Vec::new(),
            pid,
        });
        for r in replies.into_iter().flatten() {
            self.deliver(id, r);
        }
        ws.rooms.fire_pending(joined);
    }

    /// A reconnecting client shows the `pid` of a socket kept for recovery: it gets that socket
    /// back (same id and sid, rooms, user) and what was sent to it meanwhile. The connect
    /// callback does not run again. False: nothing to recover.
    fn restore(&mut self, name: &str, auth: &[u8]) -> bool {
        let Some(pid) = recovery_pid(auth) else {
            return false;
        };
        let found = {
            let mut parked = self.ctx.parked.lock();
            match parked.get(pid.as_str()) {
                Some(s) if &*s.ns.name == name => parked.remove(pid.as_str()),
                _ => None,
            }
        };
        let Some(s) = found else {
            return false;
        };
        if s.outbox.signal.peek() & KILL != 0 {
            // Its queue overflowed while it was away: what it missed is lost; a new socket.
            retire(&self.ctx, s, "forced close");
            return false;
        }
        let id = s.id;
        self.ctx
            .base
            .log
            .debug(|| format!("sio socket {id}: recovered by session {}", self.eio.sid));
        self.out
            .push(Out::Text(codec::connect_ok(name, &s.sid, s.pid.as_deref())));
        self.connect_due = None;
        self.sockets.push(s);
        let i = self.sockets.len() - 1;
        self.drain(i);
        true
    }

    fn event(&mut self, i: usize, v: Value, ack: Option<i64>) {
        let Value::Str(data, bins) = v else {
            self.end = Some("parse error");
            return;
        };
        let (name, args) = match codec::split_event(data.as_str()) {
            Ok(x) => x,
            Err(why) => {
                let id = self.sockets[i].id;
                self.ctx
                    .base
                    .log
                    .debug(|| format!("sio socket {id}: {why}"));
                self.end = Some("parse error");
                return;
            }
        };
        let s = &self.sockets[i];
        let Some(h) = s.ns.handler.clone() else {
            return;
        };
        let (id, limit) = (s.id, s.outbox.limit);
        let bins: Vec<Bytes> = bins.map(Vec::from).unwrap_or_default();
        DELIVERING.set((id, limit));
        let _ = host_call(|| h.on_event(id, &name, &args, &bins, ack));
        DELIVERING.set((0, 0));
        match REPLIES.with_borrow_mut(|r| r.replace(Vec::new())) {
            Some(replies) => {
                // What was queued for it before goes first.
                self.drain(i);
                for r in replies {
                    self.deliver(id, r);
                }
            }
            None => self.end = Some("forced close"),
        }
    }

    /// The client's acknowledgement of one of our emits.
    fn answer(&mut self, i: usize, v: Value, ack: i64) {
        let s = &mut self.sockets[i];
        let Some(pos) = s.asked.iter().position(|a| a.0 == ack) else {
            return;
        };
        let (_, token, origin) = s.asked.swap_remove(pos);
        let id = s.id;
        let (args, bins) = match v {
            Value::Str(d, b) => (
                Bytes::copy_from_slice(d.as_bytes()),
                b.map(Vec::from).unwrap_or_default(),
            ),
            Value::Bytes(_) => (Bytes::from_static(b"[]"), Vec::new()),
        };
        self.ctx.route_answer(origin, token, id, Some((args, bins)));
    }

    fn drain(&mut self, i: usize) {
        let s = &self.sockets[i];
        let id = s.id;
        for o in s.outbox.take(usize::MAX) {
            self.deliver(id, o);
        }
    }

    /// Turns what was sent to socket `id` into frames.
    fn deliver(&mut self, id: u64, out: Outgoing) {
        let Some(i) = self.sockets.iter().position(|s| s.id == id) else {
            return;
        };
        match out {
            Outgoing::Message(m) => {
                let ns = self.sockets[i].ns.clone();
                let (data, bins) = match m {
                    Message::Text(t) => {
                        let args = serde_json::to_vec(&[t.as_str()]).expect("a string serializes");
                        (codec::event_data("message", &args), Vec::new())
                    }
                    Message::Binary(b) => (
                        codec::event_data("message", br#"[{"_placeholder":true,"num":0}]"#),
                        vec![b],
                    ),
                    _ => return,
                };
                if let Ok(data) = data {
                    let p = codec::event_packet(&ns, &data, bins, None);
                    self.push_packet(p.text, &p.attachments);
                }
            }
            Outgoing::Packet(p) => {
                let s = &mut self.sockets[i];
                if p.route != s.ns.route {
                    return;
                }
                match &p.ask {
                    Some(ask) => {
                        let ack = s.next_ack;
                        s.next_ack += 1;
                        s.asked.push((ack, ask.token, ask.origin));
                        let e =
                            codec::event_packet(&s.ns, &ask.data, p.attachments.clone(), Some(ack));
                        self.push_packet(e.text, &e.attachments);
                    }
                    None => self.push_packet(p.text.clone(), &p.attachments),
                }
            }
            Outgoing::Close(..) => {
                let name = self.sockets[i].ns.name.clone();
                self.out.push(Out::Text(codec::disconnect(&name)));
                self.remove(i, "server namespace disconnect");
            }
        }
    }

    fn push_packet(&mut self, text: Bytes, attachments: &[Bytes]) {
        self.out.push(Out::Text(text));
        for a in attachments {
            self.out.push(Out::Binary(a.clone()));
        }
    }

    /// Takes socket `i` out: the world, its rooms, the hub; its asks are answered with
    /// nothing; the host hears why.
    fn remove(&mut self, i: usize, reason: &str) {
        let s = self.sockets.remove(i);
        retire(&self.ctx, s, reason);
    }

    fn poll_answer(&self, frames: Vec<Out>) -> Answer {
        let mut body = Vec::new();
        for (n, f) in frames.into_iter().enumerate() {
            if n > 0 {
                body.push(0x1e);
            }
            match f {
                Out::Text(t) => body.extend_from_slice(&t),
                Out::Binary(b) => {
                    body.push(b'b');
                    use base64::Engine as _;
                    let s = base64::engine::general_purpose::STANDARD.encode(&b);
                    body.extend_from_slice(s.as_bytes());
                }
            }
        }
        Answer {
            status: 200,
            body: Bytes::from(body),
        }
    }

    /// Writes what was produced: on the WebSocket (ours or relayed), or for the next GET.
    async fn flush(&mut self) {
        if !self.probe_out.is_empty() {
            let msgs = std::mem::take(&mut self.probe_out);
            match self.probe.as_mut() {
                Some(Link::Local(w)) => {
                    for m in msgs {
                        if w.socket.feed(m).await.is_err() {
                            self.probe = None;
                            break;
                        }
                    }
                    if let Some(Link::Local(w)) = self.probe.as_mut() {
                        if w.socket.flush().await.is_err() {
                            self.probe = None;
                        }
                    }
                }
                Some(Link::Remote { proc, relay }) => {
                    self.ctx.relay_out(*proc, *relay, msgs, false)
                }
                None => {}
            }
        }
        if self.out.is_empty() && (self.buffer.is_empty() || self.waiting.is_none()) {
            return;
        }
        let out = std::mem::take(&mut self.out);
        if self.ws.is_none() {
            self.buffer.extend(out);
            if let Some(tx) = self.waiting.take() {
                let frames = std::mem::take(&mut self.buffer);
                let _ = tx.send(self.poll_answer(frames));
            }
            return;
        }
        let frames = out.into_iter().filter_map(|f| match f {
            Out::Text(t) => Utf8Bytes::try_from(t).ok().map(Message::Text),
            Out::Binary(b) => Some(Message::Binary(b)),
        });
        match self.ws.as_mut() {
            Some(Link::Local(w)) => {
                for m in frames {
                    let m = match w.deflater.as_mut() {
                        Some(d) => d.encode(m),
                        None => m,
                    };
                    if w.socket.feed(m).await.is_err() {
                        self.end.get_or_insert("transport error");
                        return;
                    }
                }
                if w.socket.flush().await.is_err() {
                    self.end.get_or_insert("transport error");
                }
            }
            Some(Link::Remote { proc, relay }) => {
                self.ctx.relay_out(*proc, *relay, frames.collect(), false);
            }
            None => {}
        }
    }

    /// The session ends: its sockets leave (the host hears why), the client is told.
    async fn finish(&mut self) {
        let reason = self.end.unwrap_or("transport close");
        self.eio.close();
        self.ctx.sessions.lock().remove(&self.eio.sid);
        // A lost transport may come back (connection state recovery): its sockets wait.
        let lost = matches!(
            reason,
            "transport close" | "transport error" | "ping timeout"
        );
        for s in std::mem::take(&mut self.sockets).into_iter().rev() {
            match self.cfg.recovery {
                Some(window) if lost => park(&self.ctx, s, reason, window),
                _ => retire(&self.ctx, s, reason),
            }
        }
        let tell = matches!(
            reason,
            "server shutting down" | "forced close" | "connect timeout" | "parse error"
        );
        if let Some(tx) = self.waiting.take() {
            let frames = if tell {
                vec![Out::Text(Bytes::from_static(b"1"))]
            } else {
                vec![Out::Text(Bytes::from_static(b"6"))]
            };
            let _ = tx.send(self.poll_answer(frames));
        }
        let (code, why) = match self.close_with {
            Some(c) => c,
            None if reason == "server shutting down" => (1001, ""),
            None => (1000, ""),
        };
        for link in [self.probe.take(), self.ws.take()].into_iter().flatten() {
            match link {
                Link::Local(mut w) => {
                    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                        code: code.into(),
                        reason: why.into(),
                    };
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(1),
                        w.socket.close(Some(frame)),
                    )
                    .await;
                }
                Link::Remote { proc, relay } => self.ctx.relay_out(proc, relay, Vec::new(), true),
            }
        }
        self.ctx
            .base
            .log
            .debug(|| format!("sio {}: closed ({reason})", self.eio.sid));
    }
}
