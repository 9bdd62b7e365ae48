//! WebSocket: the upgrade handshake (RFC 6455 §4.2), one task per client, and the hub through
//! which any thread sends, broadcasts and closes.
//!
//! Memory per idle client is kept small on purpose: tungstenite's read buffer starts at 2 KiB
//! (not 128 KiB), the outgoing queue allocates only when used, and one timer per client is moved
//! only when a deadline comes earlier (no timer is made per message).

use crate::engine::config::WS_READ_BUFFER;
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::http::{error_response, finish, HttpResponse};
use crate::engine::request::{Matched, Request};
use crate::engine::router::normalize_path;
use crate::engine::server::{ErrorType, Shared};
use crate::engine::{host_call, WsHandler};
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderName;
use hyper::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// What other threads hand to a client's task.
pub enum Outgoing {
    Message(Message),
    Close(u16, String),
}

struct Client {
    outbox: Arc<Outbox>,
    route_id: u32,
    peer: SocketAddr,
    path: Box<str>,
}

/// Flags other threads raise for a client's task (`KILL`: its send queue overflowed; `STOP`: the
/// server is shutting down), and the task's waker. Cheaper to poll on every turn of the client's
/// loop than a `Notify` future made anew each turn.
#[derive(Default)]
struct Signal {
    flags: AtomicU32,
    waker: AtomicWaker,
}

const KILL: u32 = 1;
const STOP: u32 = 2;
/// Something waits in the client's `Outbox`.
const DATA: u32 = 4;

impl Signal {
    fn raise(&self, flag: u32) {
        if self.flags.fetch_or(flag, Ordering::AcqRel) & flag == 0 {
            self.waker.wake();
        }
    }

    fn clear(&self, flag: u32) {
        self.flags.fetch_and(!flag, Ordering::AcqRel);
    }

    /// Ready with the raised flags among `mask`.
    fn poll(&self, cx: &mut std::task::Context<'_>, mask: u32) -> Poll<u32> {
        self.waker.register(cx.waker());
        match self.flags.load(Ordering::Acquire) & mask {
            0 => Poll::Pending,
            f => Poll::Ready(f),
        }
    }
}

/// A client's outgoing messages, bounded by the send-queue limit. A plain deque under a lock
/// rather than a channel: it allocates only while something waits (a tokio channel allocates a
/// block of 32 slots per client up front: more than a KiB for each idle client) and is given
/// back once drained.
struct Outbox {
    queue: Mutex<std::collections::VecDeque<Outgoing>>,
    /// Set when the client's task ends: nothing more is taken.
    closed: AtomicBool,
    limit: usize,
    signal: Signal,
}

impl Outbox {
    fn new(limit: usize) -> Outbox {
        Outbox {
            queue: Mutex::new(std::collections::VecDeque::new()),
            closed: AtomicBool::new(false),
            limit: limit.max(1),
            signal: Signal::default(),
        }
    }

    /// Queues `out`; `Err(true)`: the queue is full (the client is being dropped), `Err(false)`:
    /// the client's task has ended.
    fn push(&self, out: Outgoing) -> std::result::Result<(), bool> {
        let mut q = self.queue.lock();
        if self.closed.load(Ordering::Relaxed) {
            return Err(false);
        }
        if q.len() >= self.limit {
            drop(q);
            // A client that does not read must not hold memory or slow the others.
            self.signal.raise(KILL);
            return Err(true);
        }
        q.push_back(out);
        drop(q);
        self.signal.raise(DATA);
        Ok(())
    }

    /// Takes up to `max` messages, oldest first (DATA stays raised if more remain).
    fn take(&self, max: usize) -> Vec<Outgoing> {
        self.signal.clear(DATA);
        let mut q = self.queue.lock();
        let n = q.len().min(max);
        let taken: Vec<Outgoing> = q.drain(..n).collect();
        if !q.is_empty() {
            self.signal.raise(DATA);
        } else if q.capacity() > 16 {
            // A burst is over: give its memory back.
            *q = std::collections::VecDeque::new();
        }
        taken
    }

    fn close(&self) {
        let mut q = self.queue.lock();
        self.closed.store(true, Ordering::Relaxed);
        *q = std::collections::VecDeque::new();
    }
}

thread_local! {
    /// The client whose message this thread is delivering to the host right now, and the most
    /// replies it may queue (its send-queue limit); 0 when none.
    static DELIVERING: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
    /// What the host sent that client (or broadcast to it) during the delivery: written by the
    /// client's own task when the host returns, without the queue, the hub's lock or a wake-up
    /// (the echo, the common case). `None` once the limit was passed.
    static REPLIES: RefCell<Option<Vec<Outgoing>>> = const { RefCell::new(Some(Vec::new())) };
}

/// Queues `out` for the client being delivered to, if `id` is that client. `Some(false)`: it
/// is, but its replies passed the send-queue limit (the client is dropped after the delivery).
fn reply_to_current(id: u64, out: Outgoing) -> Option<bool> {
    let (current, limit) = DELIVERING.get();
    if current == 0 || current != id {
        return None;
    }
    Some(REPLIES.with_borrow_mut(|r| match r {
        Some(v) if v.len() < limit => {
            v.push(out);
            true
        }
        _ => {
            *r = None;
            false
        }
    }))
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
    fn offer(client: &Client, msg: Outgoing) -> std::result::Result<(), bool> {
        client.outbox.push(msg)
    }

    pub fn send(&self, id: u64, msg: Message) -> Result<()> {
        if DELIVERING.get().0 == id {
            return match reply_to_current(id, Outgoing::Message(msg)) {
                Some(false) => Err(Self::full(id)),
                _ => Ok(()),
            };
        }
        let clients = self.clients.lock();
        let client = clients
            .get(&id)
            .ok_or_else(|| Error::not_found(format!("no WebSocket client with id {id}")))?;
        match Self::offer(client, Outgoing::Message(msg)) {
            Ok(()) => Ok(()),
            Err(true) => Err(Self::full(id)),
            Err(false) => Err(Error::not_found(format!(
                "WebSocket client {id} is closing"
            ))),
        }
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
        let current = DELIVERING.get().0;
        let clients = self.clients.lock();
        let mut n = 0;
        for (id, client) in clients.iter() {
            if Some(*id) == except || route.is_some_and(|r| r != client.route_id) {
                continue;
            }
            let queued = if *id == current {
                reply_to_current(*id, Outgoing::Message(msg.clone())) == Some(true)
            } else {
                Self::offer(client, Outgoing::Message(msg.clone())).is_ok()
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

pub fn is_upgrade(headers: &hyper::HeaderMap) -> bool {
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has_token(UPGRADE, "websocket") && has_token(CONNECTION, "upgrade")
}

fn plain(status: StatusCode, body: &'static str, kind: &'static str) -> crate::engine::Response {
    let mut r = crate::engine::Response::new();
    r.status = status.as_u16();
    r.headers.push((
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    ));
    r.headers.push((
        HeaderName::from_static("x-server-response-type"),
        HeaderValue::from_static(kind),
    ));
    r.body = Bytes::from_static(body.as_bytes());
    r.touched = true;
    r
}

/// A Sec-WebSocket-Key must be the base64 form of 16 bytes (RFC 6455 §4.2.1): 22 characters of
/// the base64 alphabet and "==".
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// Checks the handshake, answers 101 and spawns the client task; or refuses with 400/404/405/426.
pub fn upgrade(
    shared: &Arc<Shared>,
    conn_id: u64,
    peer: SocketAddr,
    mut req: hyper::Request<Incoming>,
) -> HttpResponse {
    let path = normalize_path(req.uri().path()).into_owned();
    let found = {
        let routes = shared.ws_routes.read();
        routes
            .find(&Method::GET, &path)
            .map(|(r, caps)| (r.id, r.handler.clone(), caps, r.pattern.names().clone()))
    };
    let refuse =
        |req: hyper::Request<Incoming>, res: Option<crate::engine::Response>, why: &str| {
            shared
                .log
                .debug(|| format!("conn {conn_id}: upgrade on {path} refused: {why}"));
            let (parts, _) = req.into_parts();
            let r = Request::bare(parts, peer, conn_id);
            let res = res.unwrap_or_else(|| error_response(shared, &r, ErrorType::NotFound));
            finish(shared, &r, res)
        };
    let Some((route_id, handler, caps, names)) = found else {
        return refuse(req, None, "no accept route");
    };
    if req.method() != Method::GET {
        let res = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "WebSocket upgrade needs GET.",
            "BAD_REQUEST",
        );
        return refuse(req, Some(res), "not GET");
    }
    let key = match req.headers().get(SEC_WEBSOCKET_KEY) {
        Some(k) if valid_key(k.as_bytes()) => k.clone(),
        _ => {
            let res = plain(
                StatusCode::BAD_REQUEST,
                "WebSocket key is missing or invalid.",
                "INVALID_WS_KEY",
            );
            return refuse(req, Some(res), "bad Sec-WebSocket-Key");
        }
    };
    if req
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v != "13")
    {
        let mut res = plain(
            StatusCode::UPGRADE_REQUIRED,
            "Unsupported WebSocket version; use 13.",
            "BAD_REQUEST",
        );
        res.headers
            .push((SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13")));
        return refuse(req, Some(res), "Sec-WebSocket-Version is not 13");
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (parts, _) = req.into_parts();
    let matched = Matched {
        normalized: Some(path.clone().into_boxed_str()),
        captures: caps,
    };
    let request = Request::new(parts, Bytes::new(), peer, conn_id, route_id, matched, names);
    shared
        .log
        .debug(|| format!("conn {conn_id}: upgrade to WebSocket on {path}"));

    let guard = shared.enter();
    let task_shared = shared.clone();
    tokio::spawn(async move {
        let _guard = guard;
        match on_upgrade.await {
            Ok(upgraded) => run_client(task_shared, upgraded, request, handler).await,
            Err(e) => task_shared
                .log
                .debug(|| format!("conn {conn_id}: upgrade failed: {e}")),
        }
    });

    let mut res = hyper::Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&derive_accept_key(key.as_bytes())).unwrap(),
    );
    res
}

/// The close code for a read error (RFC 6455 §7.4.1), or None when the peer is simply gone.
fn close_code_for(e: &WsError) -> Option<(u16, &'static str)> {
    match e {
        WsError::Capacity(_) => Some((1009, "message too big")),
        WsError::Utf8(_) => Some((1007, "invalid UTF-8")),
        // The TCP connection just ended without a Close: 1006, nothing to send.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) => Some((1002, "protocol error")),
        _ => None,
    }
}

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;
type Deadline = tokio::time::Instant;

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }
}

/// One client's connection and why it ends. The close code and reason given to `on_close` are
/// the first ones recorded: the peer's Close, or the one we sent, or 1006 when neither happened.
struct Session {
    id: u64,
    ws: Socket,
    shared: Arc<Shared>,
    code: u16,
    reason: String,
    /// Set once we sent a Close (we wait, until this instant, for the peer's) or got the peer's
    /// (we only flush the echoing Close): from then on nothing else is written.
    closing: Option<Deadline>,
    outbox: Arc<Outbox>,
}

/// How a write of queued messages ended.
enum Written {
    Ok,
    /// A Close was queued after the data: begin the closing handshake with it.
    Close(u16, String),
    /// The socket failed.
    Failed,
    /// The hub dropped the client (its queue overflowed) while the write was blocked.
    Killed,
}

impl Session {
    fn ends_with(&mut self, code: u16, reason: &str) {
        self.code = code;
        self.reason = reason.to_string();
    }

    /// Records the reason and sends a Close frame, waiting at most `wait` for the socket.
    async fn send_close(&mut self, code: u16, reason: &str, wait: Duration) {
        self.ends_with(code, reason);
        let _ = tokio::time::timeout(wait, self.ws.close(Some(close_frame(code, reason)))).await;
    }

    /// Starts the closing handshake: Close sent, then wait up to `grace` for the peer's Close.
    async fn begin_close(&mut self, code: u16, reason: &str, grace: Duration) {
        self.shared
            .log
            .debug(|| format!("ws {}: closing with {code}", self.id));
        self.send_close(code, reason, Duration::from_secs(1)).await;
        self.closing = Some(tokio::time::Instant::now() + grace);
    }

    /// Writes what waits in the outbox (up to 64 messages), then `replies` (what the host sent
    /// during a delivery: after what was queued before it), with one flush. Raced against the
    /// hub's kill: a client that does not read blocks these writes, and a full queue must still
    /// drop it.
    async fn write(&mut self, replies: Vec<Outgoing>) -> Written {
        let outbox = self.outbox.clone();
        tokio::select! {
            biased;
            _ = std::future::poll_fn(|cx| outbox.signal.poll(cx, KILL)) => Written::Killed,
            w = self.write_inner(replies) => w,
        }
    }

    /// Acts on how a write ended: a queued Close begins the closing handshake (within `grace`).
    /// False when the client's loop must end.
    async fn settle(&mut self, written: Written, grace: Duration) -> bool {
        match written {
            Written::Ok => true,
            Written::Close(code, reason) => {
                self.begin_close(code, &reason, grace).await;
                true
            }
            Written::Failed => false,
            Written::Killed => {
                let id = self.id;
                self.shared
                    .log
                    .debug(|| format!("ws {id}: send queue full; dropping the client"));
                self.ends_with(1008, "send queue full");
                false
            }
        }
    }

    async fn write_inner(&mut self, replies: Vec<Outgoing>) -> Written {
        let queued = self.outbox.take(64);
        for out in queued.into_iter().chain(replies) {
            match out {
                Outgoing::Message(m) => {
                    if self.ws.feed(m).await.is_err() {
                        return Written::Failed;
                    }
                }
                Outgoing::Close(c, r) => {
                    return match self.ws.flush().await {
                        Ok(()) => Written::Close(c, r),
                        Err(_) => Written::Failed,
                    };
                }
            }
        }
        match self.ws.flush().await {
            Ok(()) => Written::Ok,
            Err(_) => Written::Failed,
        }
    }

    /// Hands a whole message to the host, unless we are closing. Returns what the host sent
    /// this client meanwhile (`reply_to_current`), or None when that passed the queue's limit.
    fn deliver(&self, handler: &dyn WsHandler, data: &[u8], binary: bool) -> Option<Vec<Outgoing>> {
        let kind = if binary { "binary" } else { "text" };
        self.shared
            .log
            .debug(|| format!("ws {}: {kind} message, {} bytes", self.id, data.len()));
        if self.closing.is_some() {
            return Some(Vec::new());
        }
        // The send-queue limit also bounds the replies to one delivery.
        DELIVERING.set((self.id, self.outbox.limit));
        let _ = host_call(|| handler.on_message(self.id, data, binary));
        DELIVERING.set((0, 0));
        // Taken, and the slot made ready (empty, not overflowed) for the next delivery.
        REPLIES.with_borrow_mut(|r| r.replace(Vec::new()))
    }
}

async fn run_client(
    shared: Arc<Shared>,
    upgraded: hyper::upgrade::Upgraded,
    request: Request,
    handler: Arc<dyn WsHandler>,
) {
    let id = request.conn_id;
    let limits = shared.limits.read().clone();
    let config = WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(limits.ws_max_message))
        .max_frame_size(Some(limits.ws_max_message));
    let ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let outbox = Arc::new(Outbox::new(limits.ws_send_queue));
    let path = String::from_utf8_lossy(request.field(crate::engine::Field::Path)).into_owned();
    shared.hub.clients.lock().insert(
        id,
        Client {
            outbox: outbox.clone(),
            route_id: request.route_id,
            peer: request.peer,
            path: path.into(),
        },
    );
    let _ = host_call(|| handler.on_open(id, &request));
    drop(request);

    let mut s = Session {
        id,
        ws,
        shared: shared.clone(),
        code: 1006,
        reason: String::new(),
        closing: None,
        outbox,
    };
    let shutdown_grace = limits.shutdown_grace.min(Duration::from_secs(2));
    // Registered in the hub before this check: a shutdown that begins later raises STOP.
    if *shared.stopping.borrow() {
        s.begin_close(1001, "server shutting down", shutdown_grace)
            .await;
    }
    let mut last_heard = tokio::time::Instant::now();
    // When we pinged a silent client and are waiting for any sign of life.
    let mut pinged_at: Option<Deadline> = None;
    // One timer for the client's life, moved only when a deadline comes earlier than it (or it
    // fired): a message heard pushes the ping deadline later, which the timer finds out when it
    // fires, instead of re-arming it per message.
    let timer = tokio::time::sleep_until(last_heard + limits.ws_ping_interval);
    tokio::pin!(timer);
    let mut stop_seen = false;
    loop {
        let next_ping = match pinged_at {
            Some(t) => t + limits.ws_ping_timeout,
            None => last_heard + limits.ws_ping_interval,
        };
        let wake_at = s.closing.map_or(next_ping, |d| d.min(next_ping));
        if wake_at < timer.deadline() || timer.is_elapsed() {
            timer.as_mut().reset(wake_at);
        }
        // Once closing, nothing more is written (queued messages stay unsent) and a stop is moot.
        let flags_wanted = if s.closing.is_some() {
            KILL
        } else if stop_seen {
            KILL | DATA
        } else {
            KILL | STOP | DATA
        };
        // Biased: polled in this order, no random start (the flags first, then the socket).
        tokio::select! {
            biased;
            flags = std::future::poll_fn(|cx| s.outbox.signal.poll(cx, flags_wanted)) => {
                if flags & KILL != 0 {
                    shared.log.debug(|| format!("ws {id}: send queue full; dropping the client"));
                    // Say why if its socket still takes a frame; never wait on it for long.
                    s.send_close(1008, "send queue full", Duration::from_millis(100)).await;
                    break;
                }
                if flags & STOP != 0 {
                    stop_seen = true;
                    s.begin_close(1001, "server shutting down", shutdown_grace).await;
                    continue;
                }
                let written = s.write(Vec::new()).await;
                if !s.settle(written, limits.shutdown_grace).await {
                    break;
                }
            }
            incoming = s.ws.next() => match incoming {
                Some(Ok(msg)) => {
                    last_heard = tokio::time::Instant::now();
                    pinged_at = None;
                    let replies = match msg {
                        Message::Text(t) => s.deliver(handler.as_ref(), t.as_bytes(), false),
                        Message::Binary(b) => s.deliver(handler.as_ref(), &b, true),
                        Message::Close(frame) => {
                            // tungstenite queues the echoing Close and flushes it on the next
                            // read; the stream ends after it. Until then we are closing: no more
                            // writes (they would fail and drop the connection before the echoing
                            // Close is sent, RFC 6455 5.5.1), only reads, within the grace time.
                            if s.closing.is_none() {
                                match frame {
                                    Some(f) => s.ends_with(f.code.into(), &f.reason),
                                    None => s.ends_with(1005, ""),
                                }
                                s.closing = Some(tokio::time::Instant::now() + limits.shutdown_grace);
                            }
                            shared.log.debug(|| format!("ws {id}: close frame {}", s.code));
                            Some(Vec::new())
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Some(Vec::new()),
                    };
                    match replies {
                        Some(r) if r.is_empty() => {}
                        Some(r) => {
                            let written = s.write(r).await;
                            if !s.settle(written, limits.shutdown_grace).await {
                                break;
                            }
                        }
                        None => {
                            shared.log.debug(|| format!("ws {id}: replies overflowed the send queue; dropping the client"));
                            s.send_close(1008, "send queue full", Duration::from_millis(100)).await;
                            break;
                        }
                    }
                }
                Some(Err(e)) => {
                    shared.log.debug(|| format!("ws {id}: {e}"));
                    if let Some((c, r)) = close_code_for(&e) {
                        s.send_close(c, r, Duration::from_secs(1)).await;
                    }
                    break;
                }
                None => break,
            },
            _ = &mut timer => {
                let now = tokio::time::Instant::now();
                if s.closing.is_some_and(|d| now >= d) {
                    break;
                }
                if now >= next_ping {
                    if pinged_at.is_some() {
                        shared.log.debug(|| format!("ws {id}: no answer to ping; dropping"));
                        s.ends_with(1006, "ping timeout");
                        break;
                    }
                    pinged_at = Some(now);
                    if s.ws.send(Message::Ping(Bytes::new())).await.is_err() { break; }
                }
            }
        }
    }
    s.outbox.close();
    shared.hub.clients.lock().remove(&id);
    shared.log.debug(|| format!("ws {id}: closed ({})", s.code));
    let _ = host_call(|| handler.on_close(id, s.code, &s.reason));
}
