//! Channels, presence and nodes
//!
//! Channels group WebSocket clients: hs_ws_join() and hs_ws_leave() a client (of this process
//! or of any other worker or node: the call is forwarded to the process that holds it),
//! hs_ws_publish() to a channel's members everywhere (the message is copied once and shared by
//! every receiver). A client leaves all its channels when it closes. A channel named
//! `presence-...` lists users (the user an authorizer named, see hs_admission_user()): a user with
//! three tabs is one entry; its presence join event fires when its first connection joins and
//! the leave event when its last one leaves, once on each node.
//!
//! Every process keeps a copy of the world (every client of every worker and node, their users
//! and channels), replicated through the worker cluster (hs_cluster_join()) and, between
//! machines, through Redis (hs_redis()): hs_ws_channel_members(), hs_ws_presence(),
//! hs_ws_client_record(), hs_ws_count() and hs_ws_clients() answer from it at once, without a
//! round trip. Changes made elsewhere arrive within the backplane's latency. Safe from any
//! thread and any callback.

use super::convert::{c_string, struct_arg, text, text_or_null, OutArray, UserData};
use super::guard::{guard, ok};
use super::handles::{borrow, hs_server};
use super::ws::message;
use crate::engine::{Error, RoomEvents, User};
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

/// Joins a client to a channel (1-200 bytes of UTF-8, no control characters): a client of this
/// process at once (its `on_join` event fires before this returns), another process's through
/// the backplane. Joining a channel twice is a no-op. Returns `HS_OK`; `HS_ERR_NOT_FOUND` for a
/// client no process has; `HS_ERR_INVALID` for a bad name or a client already in 100 channels;
/// `HS_ERR_STATE` for a `presence-` channel and a client without a user.
#[no_mangle]
pub extern "C" fn hs_ws_join(
    server: *mut hs_server,
    conn_id: u64,
    channel: *const c_char,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let channel = unsafe { text(channel, "channel") }?;
        s.ws_join(conn_id, channel)?;
        ok()
    })
}

/// Takes a client out of a channel (a no-op if it is not a member); as `hs_ws_join`.
#[no_mangle]
pub extern "C" fn hs_ws_leave(
    server: *mut hs_server,
    conn_id: u64,
    channel: *const c_char,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let channel = unsafe { text(channel, "channel") }?;
        s.ws_leave(conn_id, channel)?;
        ok()
    })
}

/// Sends a message (`data`, `len` bytes — `char` like `hs_ws_send`'s, any bytes for binary —
/// copied once; text must be UTF-8) to every member of
/// `channel`, in every process, except `except_conn` (0 = none). Returns how many members it was
/// sent to (as this process knows them), or a negative status. Order is kept per sender and
/// channel; across nodes delivery is at most once (Redis pub/sub).
#[no_mangle]
pub extern "C" fn hs_ws_publish(
    server: *mut hs_server,
    channel: *const c_char,
    data: *const c_char,
    len: usize,
    is_binary: c_int,
    except_conn: u64,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let channel = unsafe { text(channel, "channel") }?;
        let msg = unsafe { message(data, len, is_binary) }?;
        let except = (except_conn != 0).then_some(except_conn);
        Ok(s.ws_publish(channel, msg, except)? as c_int)
    })
}

/// Lists the members of `channel` in every process, in id order: writes at most `cap` ids to
/// `ids` (NULL when `cap` is 0) and returns the total count.
#[no_mangle]
pub extern "C" fn hs_ws_channel_members(
    server: *const hs_server,
    channel: *const c_char,
    ids: *mut u64,
    cap: usize,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let channel = unsafe { text(channel, "channel") }?;
        let ids = unsafe { OutArray::new(ids, cap, "ids") }?;
        Ok(ids.fill(s.ws_members(channel)) as c_int)
    })
}

fn put_u32(v: &mut Vec<u8>, n: usize) {
    v.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_field(v: &mut Vec<u8>, f: &[u8]) {
    put_u32(v, f.len());
    v.extend_from_slice(f);
}

/// The users of a presence channel, everywhere, packed into `buf` (at most `cap` bytes; NULL
/// when `cap` is 0): for each user in id order, `[u32 LE length][user id][u32 LE length][info]`.
/// Returns the full length (call again with a larger buffer if it is more than `cap`); 0 for an
/// empty or unknown channel.
#[no_mangle]
pub extern "C" fn hs_ws_presence(
    server: *const hs_server,
    channel: *const c_char,
    buf: *mut u8,
    cap: usize,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let channel = unsafe { text(channel, "channel") }?;
        let buf = unsafe { OutArray::new(buf, cap, "buf") }?;
        let mut out = Vec::new();
        for (id, user) in s.ws_presence(channel) {
            put_field(&mut out, id.as_bytes());
            put_field(&mut out, &user.info);
        }
        Ok(buf.copy(&out) as c_int)
    })
}

/// What every process knows of a client, packed into `buf` (at most `cap` bytes; NULL when
/// `cap` is 0): `[u32 len][node name][u8 has_user][u32 len][user id][u32 len][user info]
/// [u32 channel count]` then `[u32 len][channel]` per channel (lengths u32 LE; the user fields
/// are empty when `has_user` is 0). Returns the full length, or `HS_ERR_NOT_FOUND`. Works for
/// the clients of every process, and for a client of this one during its close callback.
#[no_mangle]
pub extern "C" fn hs_ws_client_record(
    server: *const hs_server,
    conn_id: u64,
    buf: *mut u8,
    cap: usize,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let buf = unsafe { OutArray::new(buf, cap, "buf") }?;
        let r = s
            .ws_record(conn_id)
            .ok_or_else(|| Error::not_found(format!("no WebSocket client with id {conn_id}")))?;
        let mut out = Vec::with_capacity(64);
        put_field(&mut out, r.node.as_bytes());
        out.push(u8::from(r.user.is_some()));
        put_field(
            &mut out,
            r.user.as_ref().map_or(&b""[..], |u| u.id.as_bytes()),
        );
        put_field(&mut out, r.user.as_ref().map_or(&b""[..], |u| &u.info));
        put_u32(&mut out, r.channels.len());
        for c in &r.channels {
            put_field(&mut out, c.as_bytes());
        }
        Ok(buf.copy(&out) as c_int)
    })
}

/// A client of this process joined `channel` (NUL-terminated, valid during the call).
#[allow(non_camel_case_types)]
pub type hs_join_cb = Option<
    unsafe extern "C-unwind" fn(user_data: *mut c_void, conn_id: u64, channel: *const c_char),
>;

/// A user's first connection joined a presence channel (`event` 1) or its last one left (0),
/// anywhere. Fired once per user on each node, by its slot-0 worker (the only process of a node
/// without a cluster). `user` is NUL-terminated; `info` is `info_len` bytes (as the authorizer
/// gave them); all valid during the call.
#[allow(non_camel_case_types)]
pub type hs_presence_cb = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        channel: *const c_char,
        event: c_int,
        user: *const c_char,
        info: *const u8,
        info_len: usize,
    ),
>;

/// Channel events; any may be NULL. Copied by `hs_ws_room_events`. `on_join`/`on_leave` are for
/// this process's clients (a client's `on_leave` events run as it closes, before its close
/// callback, while `hs_ws_client_head`/`hs_ws_client_record` still answer for it). They run on
/// the event-loop thread, or inside the `hs_ws_join`/`hs_ws_leave` call that caused them.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct hs_room_events {
    pub on_join: hs_join_cb,
    pub on_leave: hs_join_cb,
    pub on_presence: hs_presence_cb,
}

struct CRoomEvents {
    join: hs_join_cb,
    leave: hs_join_cb,
    presence: hs_presence_cb,
    user_data: UserData,
}

impl RoomEvents for CRoomEvents {
    fn on_join(&self, conn_id: u64, channel: &str) {
        if let Some(f) = self.join {
            let c = c_string(channel);
            // SAFETY: host-registered function and user_data; `c` lives for the call.
            unsafe { f(self.user_data.0, conn_id, c.as_ptr()) }
        }
    }
    fn on_leave(&self, conn_id: u64, channel: &str) {
        if let Some(f) = self.leave {
            let c = c_string(channel);
            // SAFETY: as above.
            unsafe { f(self.user_data.0, conn_id, c.as_ptr()) }
        }
    }
    fn on_presence(&self, channel: &str, joined: bool, user: &User) {
        if let Some(f) = self.presence {
            let c = c_string(channel);
            let u = c_string(&user.id);
            // SAFETY: as above; the strings and `user.info` live for the call.
            unsafe {
                f(
                    self.user_data.0,
                    c.as_ptr(),
                    c_int::from(joined),
                    u.as_ptr(),
                    user.info.as_ptr(),
                    user.info.len(),
                )
            }
        }
    }
}

/// Sets the channel event callbacks (`events` is copied; NULL removes them). `user_data` must
/// stay valid until `hs_free` or the next call. Returns `HS_OK`.
#[no_mangle]
pub extern "C" fn hs_ws_room_events(
    server: *mut hs_server,
    events: *const hs_room_events,
    user_data: *mut c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        if events.is_null() {
            s.set_room_events(None);
            return ok();
        }
        let e = unsafe { struct_arg(events, "events") }?;
        s.set_room_events(Some(Arc::new(CRoomEvents {
            join: e.on_join,
            leave: e.on_leave,
            presence: e.on_presence,
            user_data: UserData(user_data),
        })));
        ok()
    })
}

/// Joins the nodes' backplane: Redis at `url` (`redis://[user:password@]host:port[/db]` or
/// `redis+unix:///path`; `rediss://` is refused: not supported). `prefix` (NULL: "httpsock")
/// keeps apps that share a Redis apart; `node` (NULL: host name and pid) names this node — give
/// every worker of one node the same name (the PHP wrapper does); `ttl_ms` (0: 10000) is how long
/// a silent node lives on in the others' view. Blocks for at most a few seconds: resolves the
/// host, checks that Redis answers and claims the node's number (connection ids carry it, so they
/// are unique across nodes; at most 255 nodes per prefix). The link starts with the first
/// `hs_run`/`hs_poll`, on its thread, and reconnects by itself; while it is down, delivery in this
/// node goes on and messages to other nodes are dropped (logged). Call before the first
/// `hs_run`/`hs_poll`. Returns `HS_OK`; `HS_ERR_INVALID` for a bad URL, prefix or TTL;
/// `HS_ERR_IO` with a message naming host and port when Redis cannot be reached.
#[no_mangle]
pub extern "C" fn hs_redis(
    server: *mut hs_server,
    url: *const c_char,
    prefix: *const c_char,
    node: *const c_char,
    ttl_ms: c_int,
) -> c_int {
    guard(|| {
        let s = unsafe { borrow(server, "server") }?;
        let url = unsafe { text(url, "url") }?;
        let prefix = unsafe { text_or_null(prefix, "prefix") }?.unwrap_or("httpsock");
        let default_node;
        let node = match unsafe { text_or_null(node, "node") }? {
            Some(n) => n,
            None => {
                default_node = format!(
                    "{}-{}",
                    crate::engine::ws::rooms::default_node_name(),
                    std::process::id()
                );
                &default_node
            }
        };
        let ttl = match ttl_ms {
            0 => Duration::from_secs(10),
            n if n > 0 => Duration::from_millis(n as u64),
            n => return Err(Error::invalid(format!("ttl_ms {n} is negative"))),
        };
        s.join_redis(url, prefix, node, ttl)?;
        ok()
    })
}
