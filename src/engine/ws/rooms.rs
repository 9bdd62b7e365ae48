//! The world as this process sees it: every WebSocket client of every worker and node (its id,
//! node, route, user, channels and a summary of its upgrade request), the channels and their
//! members, and the presence lists (`presence-` channels list users, not connections).
//!
//! This process's clients are entered here by their sessions; other processes' clients arrive
//! as `Change`s through the backplanes (`fanout`, above), and every change made here is handed to
//! the `Replica` the fanout installs, in the order it is made. Queries (members, presence, a
//! client's record, counts) are answered from this copy, without a round trip.
//!
//! Host events: `on_join`/`on_leave` for this process's clients, in this process; `on_presence`
//! when a user's first connection joins a presence channel or its last one leaves, anywhere,
//! fired by the process that has `fires_presence` (one per node: its first worker).

use crate::engine::context::{host_call, Base};
use crate::engine::error::{Error, Result};
use crate::engine::ws::outbox::{reply_to_current, Outbox, Outgoing, DELIVERING};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio_tungstenite::tungstenite::Message;

/// Presence channels list users: the Pusher and Reverb convention.
pub const PRESENCE_PREFIX: &str = "presence-";
/// Longest channel name, in bytes.
pub const MAX_CHANNEL: usize = 200;
/// Most channels one client may be in.
pub const MAX_CHANNELS_PER_CLIENT: usize = 100;

/// Which process a connection id belongs to: ids are `[node:8][slot+1:10][counter:35]`.
pub const PROC_SHIFT: u32 = 35;

pub fn proc_of(id: u64) -> u32 {
    (id >> PROC_SHIFT) as u32
}

/// A channel name: 1-200 bytes of UTF-8, no control characters (C0, DEL, C1).
pub fn check_channel(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("channel name is empty"));
    }
    if name.len() > MAX_CHANNEL {
        return Err(Error::invalid(format!(
            "channel name is {} bytes; at most {MAX_CHANNEL}",
            name.len()
        )));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(format!(
            "channel name contains the control character U+{:04X}",
            c as u32
        )));
    }
    Ok(())
}

pub fn is_presence(channel: &str) -> bool {
    channel.starts_with(PRESENCE_PREFIX)
}

/// The user an accepted client acts for: its id (presence channels list users by it) and the
/// host's information about it (opaque bytes; the PHP wrapper keeps JSON there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Box<str>,
    pub info: Box<[u8]>,
}

/// A client as every process knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: u64,
    pub route: u32,
    pub node: Arc<str>,
    pub user: Option<Arc<User>>,
    pub channels: Vec<Arc<str>>,
    /// The packed head of its upgrade request without headers (`Request::write_summary_head`).
    pub summary: Arc<[u8]>,
}

/// A change of the world, made here and replicated to the other processes (or received).
#[derive(Debug)]
pub enum Change<'a> {
    Open(&'a Record),
    Gone(u64),
    Joined(u64, &'a str),
    Left(u64, &'a str),
}

/// Carries this process's changes to the others (the fanout).
pub trait Replica: Send + Sync {
    fn changed(&self, change: Change<'_>);
}

/// The host's room events.
pub trait RoomEvents: Send + Sync {
    /// A client of this process joined a channel.
    fn on_join(&self, conn_id: u64, channel: &str);
    /// A client of this process left a channel (also when it closes: before its close event).
    fn on_leave(&self, conn_id: u64, channel: &str);
    /// A user's first connection joined a presence channel (`joined`), or its last one left.
    fn on_presence(&self, channel: &str, joined: bool, user: &User);
}

struct Member {
    record: Record,
    /// This process's clients only: where publishing puts messages.
    outbox: Option<Arc<Outbox>>,
}

#[derive(Default)]
struct Channel {
    members: BTreeSet<u64>,
    // In id order: publishing wakes the sessions in the order they were made (the send loop
    // it is measured against does too), which the scheduler and the caches prefer.
    // With each member's route: a Socket.IO packet goes only to sockets of its namespace.
    local: BTreeMap<u64, (u32, Arc<Outbox>)>,
    /// Presence channels: user id -> (connections in the channel, the user).
    users: HashMap<Arc<str>, (usize, Arc<User>)>,
}

impl Channel {
    fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

thread_local! {
    /// The client whose close callback this thread runs: out of the world, still readable.
    static CLOSING: std::cell::RefCell<Option<Record>> = const { std::cell::RefCell::new(None) };
}

/// Events held back to fire later (`Rooms::fire_pending`).
pub struct Pending(Vec<Event>);

/// Something the host hears of, collected under the lock and fired after it.
enum Event {
    Join(u64, Arc<str>),
    Leave(u64, Arc<str>),
    Presence(Arc<str>, bool, Arc<User>),
}

#[derive(Default)]
struct State {
    /// Boxed members: the table's slots stay small (a map grows by doubling; most of its slots
    /// are empty or idle clients).
    clients: HashMap<u64, Box<Member>>,
    channels: HashMap<Arc<str>, Channel>,
}

pub struct Rooms {
    base: Arc<Base>,
    state: Mutex<State>,
    /// Weak: the replica (the fanout) holds these rooms.
    replica: OnceLock<std::sync::Weak<dyn Replica>>,
    events: RwLock<Option<Arc<dyn RoomEvents>>>,
    /// Whether this process fires presence events for its node.
    fires_presence: AtomicBool,
    /// Whether other processes share the world (a backplane was joined): only then is a
    /// client's summary head made (a server alone answers from its hub).
    shared: AtomicBool,
    node: RwLock<Arc<str>>,
}

impl Rooms {
    pub fn new(base: Arc<Base>) -> Rooms {
        Rooms {
            base,
            state: Mutex::new(State::default()),
            replica: OnceLock::new(),
            events: RwLock::new(None),
            fires_presence: AtomicBool::new(true),
            shared: AtomicBool::new(false),
            node: RwLock::new(Arc::from(default_node_name().as_str())),
        }
    }

    pub fn set_replica(&self, replica: std::sync::Weak<dyn Replica>) {
        let _ = self.replica.set(replica);
    }

    pub fn set_events(&self, events: Option<Arc<dyn RoomEvents>>) {
        *self.events.write() = events;
    }

    pub fn set_fires_presence(&self, fires: bool) {
        self.fires_presence.store(fires, Ordering::Relaxed);
    }

    pub fn set_shared(&self) {
        self.shared.store(true, Ordering::Relaxed);
    }

    /// Whether other processes keep this world too (see `shared`).
    pub fn is_shared(&self) -> bool {
        self.shared.load(Ordering::Relaxed)
    }

    pub fn set_node(&self, node: &str) {
        *self.node.write() = Arc::from(node);
    }

    pub fn node(&self) -> Arc<str> {
        self.node.read().clone()
    }

    fn replicate(&self, change: Change<'_>) {
        if let Some(r) = self.replica.get().and_then(|w| w.upgrade()) {
            r.changed(change);
        }
    }

    fn fire(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let Some(host) = self.events.read().clone() else {
            return;
        };
        let presence = self.fires_presence.load(Ordering::Relaxed);
        for e in events {
            let _ = host_call(|| match &e {
                Event::Join(id, ch) => host.on_join(*id, ch),
                Event::Leave(id, ch) => host.on_leave(*id, ch),
                Event::Presence(ch, joined, user) if presence => {
                    host.on_presence(ch, *joined, user)
                }
                Event::Presence(..) => {}
            });
        }
    }

    /// A client of this process opened: entered, joined to `channels` (the admission's), and
    /// replicated. Its channel events are returned, to fire after the host's open callback.
    pub fn open(&self, record: Record, outbox: Arc<Outbox>, channels: &[String]) -> Pending {
        let id = record.id;
        let mut events = Vec::new();
        let mut st = self.state.lock();
        st.clients.insert(
            id,
            Box::new(Member {
                record,
                outbox: Some(outbox),
            }),
        );
        self.replicate(Change::Open(&st.clients[&id].record));
        for ch in channels {
            match Self::join_locked(&mut st, id, ch, &mut events) {
                Ok(Some(name)) => self.replicate(Change::Joined(id, &name)),
                Ok(None) => {}
                Err(e) => self
                    .base
                    .log
                    .debug(|| format!("ws {id}: channel {ch:?} of its admission: {e}")),
            }
        }
        Pending(events)
    }

    /// Fires events held back (a client's joins as it opened, after its open callback).
    pub fn fire_pending(&self, pending: Pending) {
        self.fire(pending.0)
    }

    /// Joins `id` to `channel` under the lock. Ok(None): it was a member already.
    fn join_locked(
        st: &mut State,
        id: u64,
        channel: &str,
        events: &mut Vec<Event>,
    ) -> Result<Option<Arc<str>>> {
        check_channel(channel)?;
        let m = st
            .clients
            .get(&id)
            .ok_or_else(|| Error::not_found(format!("no WebSocket client with id {id}")))?;
        if m.record.channels.iter().any(|c| &**c == channel) {
            return Ok(None);
        }
        let presence = is_presence(channel);
        if presence && m.record.user.is_none() {
            return Err(Error::state(format!(
                "client {id} has no user: a presence channel lists users (name one when \
                 authorizing the upgrade)"
            )));
        }
        if m.record.channels.len() >= MAX_CHANNELS_PER_CLIENT {
            return Err(Error::invalid(format!(
                "client {id} is in {MAX_CHANNELS_PER_CLIENT} channels already"
            )));
        }
        let name: Arc<str> = match st.channels.get_key_value(channel) {
            Some((k, _)) => k.clone(),
            None => Arc::from(channel),
        };
        let m = st.clients.get_mut(&id).expect("looked up above");
        m.record.channels.push(name.clone());
        let user = m.record.user.clone();
        let outbox = m.outbox.clone();
        let route = m.record.route;
        let c = st.channels.entry(name.clone()).or_default();
        c.members.insert(id);
        if let Some(o) = outbox {
            c.local.insert(id, (route, o));
            events.push(Event::Join(id, name.clone()));
        }
        if presence {
            let user = user.expect("checked above");
            let e = c
                .users
                .entry(Arc::from(&*user.id))
                .or_insert((0, user.clone()));
            e.0 += 1;
            if e.0 == 1 {
                events.push(Event::Presence(name.clone(), true, user));
            }
        }
        Ok(Some(name))
    }

    /// Takes `id` out of `channel` under the lock. False: it was not a member.
    fn leave_locked(st: &mut State, id: u64, channel: &str, events: &mut Vec<Event>) -> bool {
        let Some(m) = st.clients.get_mut(&id) else {
            return false;
        };
        let Some(pos) = m.record.channels.iter().position(|c| &**c == channel) else {
            return false;
        };
        let name = m.record.channels.remove(pos);
        let user = m.record.user.clone();
        let local = m.outbox.is_some();
        if let Some(c) = st.channels.get_mut(channel) {
            c.members.remove(&id);
            c.local.remove(&id);
            if let Some(u) = user.filter(|_| is_presence(channel)) {
                if let Some(e) = c.users.get_mut(&*u.id) {
                    e.0 -= 1;
                    if e.0 == 0 {
                        c.users.remove(&*u.id);
                        events.push(Event::Presence(name.clone(), false, u));
                    }
                }
            }
            if c.is_empty() {
                st.channels.remove(channel);
            }
        }
        if local {
            events.push(Event::Leave(id, name));
        }
        true
    }

    /// Joins a client of this process to a channel (a no-op if it is a member).
    pub fn join(&self, id: u64, channel: &str) -> Result<()> {
        let mut events = Vec::new();
        {
            let mut st = self.state.lock();
            if st.clients.get(&id).is_some_and(|m| m.outbox.is_none()) {
                return Err(Error::state(format!("client {id} is not of this process")));
            }
            if let Some(name) = Self::join_locked(&mut st, id, channel, &mut events)? {
                self.replicate(Change::Joined(id, &name));
            }
        }
        self.fire(events);
        Ok(())
    }

    /// Takes a client of this process out of a channel (a no-op if it is not a member).
    pub fn leave(&self, id: u64, channel: &str) -> Result<()> {
        check_channel(channel)?;
        let mut events = Vec::new();
        {
            let mut st = self.state.lock();
            match st.clients.get(&id) {
                None => {
                    return Err(Error::not_found(format!(
                        "no WebSocket client with id {id}"
                    )))
                }
                Some(m) if m.outbox.is_none() => {
                    return Err(Error::state(format!("client {id} is not of this process")))
                }
                _ => {}
            }
            if Self::leave_locked(&mut st, id, channel, &mut events) {
                self.replicate(Change::Left(id, channel));
            }
        }
        self.fire(events);
        Ok(())
    }

    /// A client of this process is closing: it leaves every channel (its leave events fire
    /// now, while the host can still read it).
    pub fn leave_all(&self, id: u64) {
        let mut events = Vec::new();
        {
            let mut st = self.state.lock();
            let channels = st
                .clients
                .get(&id)
                .map(|m| m.record.channels.clone())
                .unwrap_or_default();
            for ch in channels.iter().rev() {
                if Self::leave_locked(&mut st, id, ch, &mut events) {
                    self.replicate(Change::Left(id, ch));
                }
            }
        }
        self.fire(events);
    }

    /// A client of this process is gone: out of the world (counts and lists no longer have
    /// it). Returns its record, for `closing`.
    pub fn close(&self, id: u64) -> Option<Record> {
        let mut events = Vec::new();
        let record;
        {
            let mut st = self.state.lock();
            record = st.clients.get(&id).map(|m| m.record.clone());
            if record.is_some() {
                Self::remove_locked(&mut st, id, &mut events);
                self.replicate(Change::Gone(id));
            }
        }
        self.fire(events);
        record
    }

    /// Runs `f` (the host's close callback) with a closed client's record still readable
    /// through `record` on this thread (also a Socket.IO socket's record while its connect is
    /// decided, before it is in the world).
    pub fn closing<R>(record: Option<Record>, f: impl FnOnce() -> R) -> R {
        let previous = CLOSING.replace(record);
        let r = f();
        CLOSING.set(previous);
        r
    }

    /// Applies a change received from another process.
    pub fn apply(&self, change: Change<'_>) {
        let mut events = Vec::new();
        {
            let mut st = self.state.lock();
            Self::apply_locked(&mut st, change, &mut events);
        }
        self.fire(events);
    }

    fn apply_locked(st: &mut State, change: Change<'_>, events: &mut Vec<Event>) {
        match change {
            Change::Open(r) => {
                if st.clients.contains_key(&r.id) {
                    // Ours (never overwritten by an echo), or known already from a snapshot that
                    // is newer than this news (its joins follow, and are no-ops then).
                    return;
                }
                let mut record = r.clone();
                let channels = std::mem::take(&mut record.channels);
                st.clients.insert(
                    r.id,
                    Box::new(Member {
                        record,
                        outbox: None,
                    }),
                );
                for ch in channels {
                    let _ = Self::join_locked(st, r.id, &ch, events);
                }
            }
            Change::Gone(id) => {
                if st.clients.get(&id).is_some_and(|m| m.outbox.is_none()) {
                    Self::remove_locked(st, id, events);
                }
            }
            Change::Joined(id, ch) => {
                if st.clients.get(&id).is_some_and(|m| m.outbox.is_none()) {
                    let _ = Self::join_locked(st, id, ch, events);
                }
            }
            Change::Left(id, ch) => {
                if st.clients.get(&id).is_some_and(|m| m.outbox.is_none()) {
                    Self::leave_locked(st, id, ch, events);
                }
            }
        }
    }

    fn remove_locked(st: &mut State, id: u64, events: &mut Vec<Event>) {
        let Some(m) = st.clients.get(&id) else {
            return;
        };
        for ch in m.record.channels.clone().iter().rev() {
            Self::leave_locked(st, id, ch, events);
        }
        st.clients.remove(&id);
    }

    /// Replaces what this process knows of process `proc` (another one) with `records` — its
    /// snapshot, or nothing when it is gone. Presence events fire only for users whose presence
    /// really changed (a user in both the old and the new state neither leaves nor joins), and
    /// not at all when `quiet` (this process catching up after it started).
    pub fn replace_proc(&self, proc: u32, records: Vec<Record>, quiet: bool) {
        let mut events = Vec::new();
        {
            let mut st = self.state.lock();
            let old: Vec<u64> = st
                .clients
                .iter()
                .filter(|(id, m)| proc_of(**id) == proc && m.outbox.is_none())
                .map(|(id, _)| *id)
                .collect();
            for id in old {
                Self::remove_locked(&mut st, id, &mut events);
            }
            for r in &records {
                if proc_of(r.id) == proc {
                    Self::apply_locked(&mut st, Change::Open(r), &mut events);
                }
            }
        }
        if !quiet {
            self.fire(cancel_presence_pairs(events));
        }
    }

    /// Forgets every client of the processes `gone` says are gone (a node that died).
    pub fn forget(&self, gone: impl Fn(u32) -> bool) -> usize {
        let mut events = Vec::new();
        let n;
        {
            let mut st = self.state.lock();
            let old: Vec<u64> = st
                .clients
                .iter()
                .filter(|(id, m)| m.outbox.is_none() && gone(proc_of(**id)))
                .map(|(id, _)| *id)
                .collect();
            n = old.len();
            for id in old {
                Self::remove_locked(&mut st, id, &mut events);
            }
        }
        self.fire(events);
        n
    }

    /// This process's clients, as snapshot records.
    pub fn local_records(&self) -> Vec<Record> {
        let st = self.state.lock();
        let mut v: Vec<Record> = st
            .clients
            .values()
            .filter(|m| m.outbox.is_some())
            .map(|m| m.record.clone())
            .collect();
        v.sort_by_key(|r| r.id);
        v
    }

    /// Queues `msg` for this process's members of `channel` except `except`; returns how many
    /// got it. The message is built once and shared by every receiver.
    pub fn publish_local(&self, channel: &str, msg: &Message, except: Option<u64>) -> usize {
        self.publish_out(channel, &Outgoing::Message(msg.clone()), except)
    }

    /// As `publish_local`, for any outgoing item; a Socket.IO packet goes only to the members
    /// that are sockets of its namespace.
    pub fn publish_out(&self, channel: &str, out: &Outgoing, except: Option<u64>) -> usize {
        let current = DELIVERING.get().0;
        let only = match out {
            Outgoing::Packet(p) => Some(p.route),
            _ => None,
        };
        let st = self.state.lock();
        let Some(c) = st.channels.get(channel) else {
            return 0;
        };
        let mut n = 0;
        for (id, (route, outbox)) in &c.local {
            if Some(*id) == except || only.is_some_and(|r| r != *route) {
                continue;
            }
            let queued = if *id == current {
                reply_to_current(*id, out.clone()) == Some(true)
            } else {
                outbox.push(out.clone()).is_ok()
            };
            n += usize::from(queued);
        }
        n
    }

    /// How many members `channel` has everywhere, except `except`.
    pub fn member_count(&self, channel: &str, except: Option<u64>) -> usize {
        let st = self.state.lock();
        st.channels.get(channel).map_or(0, |c| {
            c.members.len() - usize::from(except.is_some_and(|e| c.members.contains(&e)))
        })
    }

    /// The members of `channel` everywhere, in id order.
    pub fn members(&self, channel: &str) -> Vec<u64> {
        let st = self.state.lock();
        st.channels
            .get(channel)
            .map(|c| c.members.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The users of a presence channel everywhere, by user id.
    pub fn presence(&self, channel: &str) -> BTreeMap<Arc<str>, Arc<User>> {
        let st = self.state.lock();
        st.channels
            .get(channel)
            .map(|c| {
                c.users
                    .iter()
                    .map(|(k, (_, u))| (k.clone(), u.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A client's record: a client of any process, or the one whose close callback this thread
    /// runs.
    pub fn record(&self, id: u64) -> Option<Record> {
        if let Some(r) = self.state.lock().clients.get(&id) {
            return Some(r.record.clone());
        }
        CLOSING.with_borrow(|c| c.as_ref().filter(|r| r.id == id).cloned())
    }

    pub fn is_known(&self, id: u64) -> bool {
        self.state.lock().clients.contains_key(&id)
    }

    /// How many clients (of `route` when given) there are everywhere.
    pub fn count(&self, route: Option<u32>) -> usize {
        let st = self.state.lock();
        match route {
            None => st.clients.len(),
            Some(r) => st.clients.values().filter(|m| m.record.route == r).count(),
        }
    }

    /// The clients everywhere (of `route` when given), in id order.
    pub fn list(&self, route: Option<u32>) -> Vec<u64> {
        let st = self.state.lock();
        let mut v: Vec<u64> = st
            .clients
            .iter()
            .filter(|(_, m)| route.is_none_or(|r| r == m.record.route))
            .map(|(id, _)| *id)
            .collect();
        v.sort_unstable();
        v
    }
}

/// A user who left and joined again within one replacement did not really move.
fn cancel_presence_pairs(events: Vec<Event>) -> Vec<Event> {
    let mut net: HashMap<(Arc<str>, Arc<str>), i32> = HashMap::new();
    for e in &events {
        if let Event::Presence(ch, joined, u) = e {
            *net.entry((ch.clone(), Arc::from(&*u.id))).or_default() +=
                if *joined { 1 } else { -1 };
        }
    }
    let mut seen = std::collections::HashSet::new();
    events
        .into_iter()
        .filter(|e| match e {
            Event::Presence(ch, joined, u) => {
                let key = (ch.clone(), Arc::from(&*u.id));
                let n = net.get(&key).copied().unwrap_or(0);
                n != 0 && (n > 0) == *joined && seen.insert(key)
            }
            _ => true,
        })
        .collect()
}

/// The summary of a client no other process needs (a server alone): one shared empty slice,
/// not an allocation per client.
pub fn empty_summary() -> Arc<[u8]> {
    static EMPTY: OnceLock<Arc<[u8]>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from(&b""[..])).clone()
}

/// The node name when none is given: the host name.
pub fn default_node_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into `buf`, which we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms() -> Rooms {
        Rooms::new(Arc::new(Base::default()))
    }

    fn record(id: u64, user: Option<&str>) -> Record {
        Record {
            id,
            route: 0,
            node: Arc::from("n"),
            user: user.map(|u| {
                Arc::new(User {
                    id: u.into(),
                    info: Box::new([]),
                })
            }),
            channels: Vec::new(),
            summary: Arc::from(&b""[..]),
        }
    }

    fn local(r: &Rooms, id: u64, user: Option<&str>) {
        r.open(record(id, user), Arc::new(Outbox::new(8)), &[]);
    }

    #[test]
    fn channels_and_presence_count_users_not_tabs() {
        let r = rooms();
        local(&r, 1, Some("ann"));
        local(&r, 2, Some("ann"));
        local(&r, 3, Some("bob"));
        for id in [1, 2, 3] {
            r.join(id, "presence-x").unwrap();
        }
        assert_eq!(r.members("presence-x"), vec![1, 2, 3]);
        assert_eq!(r.presence("presence-x").len(), 2);
        r.leave_all(1);
        r.close(1);
        assert_eq!(r.presence("presence-x").len(), 2, "ann has another tab");
        r.leave_all(2);
        r.close(2);
        assert_eq!(r.presence("presence-x").len(), 1);
        assert_eq!(r.members("presence-x"), vec![3]);
    }

    #[test]
    fn presence_needs_a_user_and_names_are_checked() {
        let r = rooms();
        local(&r, 1, None);
        assert!(r.join(1, "presence-x").is_err());
        assert!(r.join(1, "").is_err());
        assert!(r.join(1, "a\nb").is_err());
        assert!(r.join(1, &"x".repeat(201)).is_err());
        assert!(r.join(9, "red").is_err());
        r.join(1, "red").unwrap();
        r.join(1, "red").unwrap();
        assert_eq!(r.record(1).unwrap().channels.len(), 1);
    }

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl RoomEvents for Seen {
        fn on_join(&self, id: u64, ch: &str) {
            self.0.lock().push(format!("join {id} {ch}"));
        }
        fn on_leave(&self, id: u64, ch: &str) {
            self.0.lock().push(format!("leave {id} {ch}"));
        }
        fn on_presence(&self, ch: &str, joined: bool, user: &User) {
            let e = if joined { "in" } else { "out" };
            self.0.lock().push(format!("presence {e} {} {ch}", user.id));
        }
    }

    #[test]
    fn stale_news_after_a_snapshot_changes_nothing() {
        // A process's state arrives, then the news it was made of (queued before it): the user
        // must not be seen leaving and joining again.
        let r = rooms();
        let seen = Arc::new(Seen::default());
        r.set_events(Some(seen.clone()));
        let other = 5u64 << PROC_SHIFT;
        let mut bob = record(other + 1, Some("bob"));
        bob.channels.push(Arc::from("presence-x"));
        r.replace_proc(5, vec![bob.clone()], false);
        let mut fresh = bob.clone();
        fresh.channels.clear();
        r.apply(Change::Open(&fresh));
        r.apply(Change::Joined(other + 1, "presence-x"));
        assert_eq!(
            *seen.0.lock(),
            vec!["presence in bob presence-x".to_string()]
        );
        assert_eq!(r.record(other + 1).unwrap().channels.len(), 1);
        r.apply(Change::Gone(other + 1));
        assert_eq!(seen.0.lock().last().unwrap(), "presence out bob presence-x");
    }

    #[test]
    fn a_snapshot_replaces_a_process_without_false_presence_events() {
        let r = rooms();
        let other = 5u64 << PROC_SHIFT;
        let mut a = record(other + 1, Some("ann"));
        a.channels.push(Arc::from("presence-x"));
        r.replace_proc(5, vec![a.clone()], false);
        assert_eq!(r.presence("presence-x").len(), 1);
        let mut b = record(other + 2, Some("ann"));
        b.channels.push(Arc::from("presence-x"));
        r.replace_proc(5, vec![b], false);
        assert_eq!(r.members("presence-x"), vec![other + 2]);
        r.forget(|p| p == 5);
        assert!(r.presence("presence-x").is_empty());
        assert_eq!(r.count(None), 0);
    }
}
