//! A client's outgoing side: the bounded queue other threads fill, the flags they raise for the
//! client's task, and the replies a host gives during a delivery (written by the client's own
//! task without the queue).

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::Poll;
use tokio_tungstenite::tungstenite::Message;

/// What other threads hand to a client's task.
#[derive(Clone)]
pub enum Outgoing {
    Message(Message),
    /// A Socket.IO packet already encoded for the receiver's namespace (`sio`, above), shared
    /// by every receiver of one emit.
    Packet(Arc<Packet>),
    Close(u16, String),
}

/// An encoded Socket.IO packet: the Engine.IO message text (`4` and the Socket.IO packet) and
/// its binary attachments, each sent after it (as binary frames, or `b`+base64 when polling).
#[derive(Debug, PartialEq, Eq)]
pub struct Packet {
    pub text: Bytes,
    pub attachments: Vec<Bytes>,
    /// The namespace's route id: only sockets of that namespace take it.
    pub route: u32,
    /// An emit that waits for the client's acknowledgement: encoded by the socket's session,
    /// which gives it an ack id of that socket's (`text` is then empty).
    pub ask: Option<Ask>,
}

/// What an emit waiting for an acknowledgement carries to the socket's session.
#[derive(Debug, PartialEq, Eq)]
pub struct Ask {
    /// Names the asking process and its waiting handler (`SioContext::emit_to`).
    pub token: u64,
    /// The process that asked (the answer goes back there).
    pub origin: u32,
    /// The event's data, `["name",args...]`.
    pub data: Bytes,
}

/// Flags other threads raise for a client's task (`KILL`: its send queue overflowed; `STOP`: the
/// server is shutting down), and the task's waker. Cheaper to poll on every turn of the client's
/// loop than a `Notify` future made anew each turn.
#[derive(Default)]
pub struct Signal {
    flags: AtomicU32,
    waker: AtomicWaker,
}

pub const KILL: u32 = 1;
pub const STOP: u32 = 2;
/// Something waits in the client's `Outbox`.
pub const DATA: u32 = 4;

impl Signal {
    pub fn raise(&self, flag: u32) {
        if self.flags.fetch_or(flag, Ordering::AcqRel) & flag == 0 {
            self.waker.wake();
        }
    }

    pub fn clear(&self, flag: u32) {
        self.flags.fetch_and(!flag, Ordering::AcqRel);
    }

    /// The raised flags, without waiting.
    pub fn peek(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    /// Ready with the raised flags among `mask`.
    pub fn poll(&self, cx: &mut std::task::Context<'_>, mask: u32) -> Poll<u32> {
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
pub struct Outbox {
    queue: Mutex<std::collections::VecDeque<Outgoing>>,
    /// Set when the client's task ends: nothing more is taken.
    closed: AtomicBool,
    pub limit: usize,
    pub signal: Signal,
}

impl Outbox {
    pub fn new(limit: usize) -> Outbox {
        Outbox {
            queue: Mutex::new(std::collections::VecDeque::new()),
            closed: AtomicBool::new(false),
            limit: limit.max(1),
            signal: Signal::default(),
        }
    }

    /// Queues `out`; `Err(true)`: the queue is full (the client is being dropped), `Err(false)`:
    /// the client's task has ended.
    pub fn push(&self, out: Outgoing) -> std::result::Result<(), bool> {
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
    pub fn take(&self, max: usize) -> Vec<Outgoing> {
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

    pub fn close(&self) {
        let mut q = self.queue.lock();
        self.closed.store(true, Ordering::Relaxed);
        *q = std::collections::VecDeque::new();
    }
}

thread_local! {
    /// The client whose message this thread is delivering to the host right now, and the most
    /// replies it may queue (its send-queue limit); 0 when none.
    pub static DELIVERING: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
    /// What the host sent that client (or broadcast to it) during the delivery: written by the
    /// client's own task when the host returns, without the queue, the hub's lock or a wake-up
    /// (the echo, the common case). `None` once the limit was passed.
    pub static REPLIES: RefCell<Option<Vec<Outgoing>>> = const { RefCell::new(Some(Vec::new())) };
}

/// Queues `out` for the client being delivered to, if `id` is that client. `Some(false)`: it
/// is, but its replies passed the send-queue limit (the client is dropped after the delivery).
pub fn reply_to_current(id: u64, out: Outgoing) -> Option<bool> {
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
