//! One WebSocket client's task: reads messages and hands them to the host, writes what was
//! queued for it, pings a silent client, and carries out the closing handshake.
//!
//! Memory per idle client is kept small on purpose: tungstenite's read buffer starts at 2 KiB
//! (not 128 KiB), the outgoing queue allocates only when used, and one timer per client is moved
//! only when a deadline comes earlier (no timer is made per message).

use crate::engine::config::WS_READ_BUFFER;
use crate::engine::context::{host_call, Base};
use crate::engine::http::request::{Field, Request};
use crate::engine::ws::context::Admission;
use crate::engine::ws::context::WsHandler;
use crate::engine::ws::deflate::{self, Agreed, Deflater, Inflating};
use crate::engine::ws::hub::{Client, Hub};
use crate::engine::ws::outbox::{Outbox, Outgoing, DATA, DELIVERING, KILL, REPLIES, STOP};
use crate::engine::ws::rooms::{Record, Rooms};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// The close code for a read error (RFC 6455 §7.4.1), or None when the peer is simply gone.
pub fn close_code_for(e: &WsError) -> Option<(u16, &'static str)> {
    match e {
        WsError::Capacity(_) => Some((1009, "message too big")),
        WsError::Utf8(_) => Some((1007, "invalid UTF-8")),
        // The TCP connection just ended without a Close: 1006, nothing to send.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) => Some((1002, "protocol error")),
        // permessage-deflate's read side failed the connection (deflate::Failure).
        WsError::Io(e) => deflate::close_code(e),
        _ => None,
    }
}

pub type Socket = WebSocketStream<Inflating<TokioIo<hyper::upgrade::Upgraded>>>;

/// A server-side WebSocket over an upgraded connection, with messages up to `max_message`
/// bytes, compressed ones inflated under that limit; and the write side of the agreed
/// permessage-deflate. `write_buffer` 0: each frame is written as it is fed; more: frames
/// wait (up to that many bytes) for the flush, to leave in one write.
pub async fn open_socket(
    upgraded: hyper::upgrade::Upgraded,
    deflate: Option<Agreed>,
    max_message: usize,
    write_buffer: usize,
) -> (Socket, Option<Deflater>) {
    let config = WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(write_buffer)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let io = Inflating::new(
        TokioIo::new(upgraded),
        deflate.as_ref().map(|a| a.reader(max_message)),
    );
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    (ws, deflate.map(|a| a.deflater()))
}
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
    base: Arc<Base>,
    code: u16,
    reason: String,
    /// Set once we sent a Close (we wait, until this instant, for the peer's) or got the peer's
    /// (we only flush the echoing Close): from then on nothing else is written.
    closing: Option<Deadline>,
    outbox: Arc<Outbox>,
    /// permessage-deflate's write side, when the client agreed to it.
    deflater: Option<Deflater>,
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
        self.base
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
                self.base
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
                    let m = match self.deflater.as_mut() {
                        Some(d) => d.encode(m),
                        None => m,
                    };
                    if self.ws.feed(m).await.is_err() {
                        return Written::Failed;
                    }
                }
                // Socket.IO packets go to sockets of their namespace only (every emit checks).
                Outgoing::Packet(_) => {}
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
        self.base
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

/// What a client's session starts from: the upgrade request, its route's handler, the agreed
/// permessage-deflate and what the admission checks granted.
pub struct Opening {
    pub request: Request,
    pub handler: Arc<dyn WsHandler>,
    pub deflate: Option<Agreed>,
    /// Boxed: a task keeps its arguments for its whole life; this is needed only at the start.
    pub admission: Box<Admission>,
}

pub async fn run_client(
    base: Arc<Base>,
    hub: Arc<Hub>,
    rooms: Arc<Rooms>,
    keep_head: bool,
    upgraded: hyper::upgrade::Upgraded,
    opening: Opening,
) {
    let Opening {
        request,
        handler,
        deflate,
        admission,
    } = opening;
    let Admission {
        user,
        channels,
        reservation,
        ..
    } = *admission;
    let id = request.conn_id;
    let limits = base.limits();
    // The compressed messages are inflated under the message limit before tungstenite sees them.
    // Boxed: awaited once, it would otherwise take room in this task's state for the client's
    // whole life (measured: 160 bytes per idle client).
    let (ws, deflater) = Box::pin(open_socket(upgraded, deflate, limits.ws_max_message, 0)).await;
    let outbox = Arc::new(Outbox::new(limits.ws_send_queue));
    let path = String::from_utf8_lossy(request.field(Field::Path)).into_owned();
    // Kept only for a host that reads it (`hs_ws_client_head`): a few hundred bytes per client.
    let head = keep_head.then(|| {
        let mut head = Vec::new();
        request.write_packed_head(&mut head);
        head.pop(); // the NUL after the head
        head.into_boxed_slice()
    });
    // What the other processes keep about the client: its request without headers (not made
    // when no other process shares the world).
    let mut summary = Vec::new();
    if rooms.is_shared() {
        request.write_summary_head(&mut summary);
        summary.pop(); // the NUL after the head
    }
    let record = Record {
        id,
        route: request.route_id,
        node: rooms.node(),
        user: user.map(Arc::new),
        channels: Vec::new(),
        summary: if summary.is_empty() {
            crate::engine::ws::rooms::empty_summary()
        } else {
            Arc::from(summary)
        },
    };
    hub.insert(
        id,
        Client {
            outbox: outbox.clone(),
            route_id: request.route_id,
            peer: request.peer,
            path: path.into(),
            head,
        },
    );
    // Joined before the open callback (which sees its channels); the join events after it.
    let joined = rooms.open(record, outbox.clone(), &channels);
    // Registered: the route's place is no longer held, and nothing of the admission is kept
    // for the client's life (dropped here, not stored in the task across its awaits).
    drop(channels);
    drop(reservation);
    let _ = host_call(|| handler.on_open(id, &request));
    drop(request);
    rooms.fire_pending(joined);

    let mut s = Session {
        id,
        ws,
        base: base.clone(),
        code: 1006,
        reason: String::new(),
        closing: None,
        outbox,
        deflater,
    };
    let shutdown_grace = limits.shutdown_grace.min(Duration::from_secs(2));
    // Registered in the hub before this check: a shutdown that begins later raises STOP.
    if base.life.is_stopping() {
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
                    base.log.debug(|| format!("ws {id}: send queue full; dropping the client"));
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
                            base.log.debug(|| format!("ws {id}: close frame {}", s.code));
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
                            base.log.debug(|| format!("ws {id}: replies overflowed the send queue; dropping the client"));
                            s.send_close(1008, "send queue full", Duration::from_millis(100)).await;
                            break;
                        }
                    }
                }
                Some(Err(e)) => {
                    base.log.debug(|| format!("ws {id}: {e}"));
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
                        base.log.debug(|| format!("ws {id}: no answer to ping; dropping"));
                        s.ends_with(1006, "ping timeout");
                        break;
                    }
                    pinged_at = Some(now);
                    if s.ws.send(Message::Ping(Bytes::new())).await.is_err() { break; }
                }
            }
        }
    }
    base.log.debug(|| format!("ws {id}: closed ({})", s.code));
    leave_world(&hub, &rooms, id, &s.outbox, || {
        handler.on_close(id, s.code, &s.reason)
    });
}

/// A client of this process (WebSocket client or Socket.IO socket) is gone: its outbox takes
/// nothing more, it leaves the hub, its channels (leave events) and the world, then `on_close`
/// (the host's callback) runs with its request head and record still readable on this thread.
pub fn leave_world(hub: &Hub, rooms: &Rooms, id: u64, outbox: &Outbox, on_close: impl FnOnce()) {
    outbox.close();
    let head = hub.remove(id).and_then(|c| c.head);
    Hub::closing(id, head, || {
        rooms.leave_all(id);
        let record = rooms.close(id);
        Rooms::closing(record, || {
            let _ = host_call(on_close);
        });
    });
}
