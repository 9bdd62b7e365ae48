//! An Engine.IO session as the HTTP side and the other workers see it: where commands are left
//! (`Eio`), what they are (`Cmd`), and what a polling request is answered (`Answer`). The
//! session's task (`session`) takes them.

use crate::engine::sio::codec;
use crate::engine::sio::namespace::Namespace;
use crate::engine::ws::deflate::Deflater;
use crate::engine::ws::outbox::Outbox;
use crate::engine::ws::outbox::{Signal, DATA};
use crate::engine::ws::session::Socket;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

/// The answer to a polling request (built by the session, written by the HTTP side, possibly
/// on another worker).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Answer {
    pub fn error(code: u8) -> Answer {
        let (status, body) = codec::http_error(code);
        Answer { status, body }
    }

    /// A polling body over the payload limit (the session ends).
    pub fn too_large() -> Answer {
        Answer {
            status: 413,
            body: Bytes::from_static(b"{\"code\":3,\"message\":\"Payload too large\"}"),
        }
    }
}

/// What the HTTP side hands a session.
pub enum Cmd {
    /// A polling GET: answered with what waits, or when something comes.
    Get(oneshot::Sender<Answer>),
    /// A polling POST's body (packets).
    Post(Bytes, oneshot::Sender<Answer>),
    /// A WebSocket for this session (the upgrade's probe).
    Ws(Box<(Socket, Option<Deflater>)>),
    /// The POST was over the payload limit: close.
    Kill(&'static str),
    /// A WebSocket for this session held by process `proc` (the upgrade reached another
    /// worker), relayed as `relay`: the upgrade's probe.
    Remote { proc: u32, relay: u64 },
    /// A message from the relayed WebSocket's client.
    RemoteIn { relay: u64, msg: Message },
    /// The relayed WebSocket ended.
    RemoteGone { relay: u64 },
}

/// A session as the HTTP side sees it: where to leave commands.
pub struct Eio {
    pub sid: Box<str>,
    inbox: Mutex<VecDeque<Cmd>>,
    closed: AtomicBool,
    pub(crate) signal: Signal,
}

impl Eio {
    pub fn new(sid: Box<str>) -> Eio {
        Eio {
            sid,
            inbox: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(false),
            signal: Signal::default(),
        }
    }

    /// Leaves a command; false when the session has ended.
    pub fn push(&self, cmd: Cmd) -> bool {
        let mut q = self.inbox.lock();
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        q.push_back(cmd);
        drop(q);
        self.signal.raise(DATA);
        true
    }

    pub(crate) fn take(&self) -> VecDeque<Cmd> {
        self.signal.clear(DATA);
        std::mem::take(&mut *self.inbox.lock())
    }

    pub(crate) fn close(&self) {
        let mut q = self.inbox.lock();
        self.closed.store(true, Ordering::Relaxed);
        q.clear();
    }
}

/// A connected namespace of a session (or one kept for connection state recovery).
pub struct Sock {
    pub id: u64,
    pub sid: String,
    pub ns: Arc<Namespace>,
    pub outbox: Arc<Outbox>,
    pub next_ack: i64,
    /// Emits waiting for this client's acknowledgement: (ack id, token, asking process).
    pub asked: Vec<(i64, u64, u32)>,
    /// Its private id for connection state recovery (when that is on).
    pub pid: Option<Box<str>>,
}
