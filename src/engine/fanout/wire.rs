//! The binary format of what processes tell each other (the worker cluster and Redis alike);
//! documented in docs/BACKPLANE.md. Versioned: a frame begins with `HS`, the version and the
//! kind; a reader drops a frame of another version (and says so in the debug log) rather than
//! guessing. Integers are little-endian; `str` is a u16 length and UTF-8 bytes, `bytes` a u32
//! length and bytes.

use crate::engine::ws::outbox::{Ask, Packet};
use crate::engine::ws::rooms::Record;
use crate::engine::ws::rooms::User;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;

pub const MAGIC: &[u8; 2] = b"HS";
pub const VERSION: u8 = 1;

/// A frame's header: magic, version, kind, and the process it comes from (`proc_of` of its ids).
const HEADER: usize = 2 + 1 + 1 + 4;

/// What a frame says.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// I (re)started or (re)connected: send me your state. My node's name.
    Hello {
        node: String,
    },
    /// Everything about my clients (replaces what the receiver knew of my process).
    State(Vec<Record>),
    /// The same, in answer to a hello: for the process that said hello, a first answer from a
    /// process is what it catches up on, not news (no presence events for it).
    StateAnswer(Vec<Record>),
    Open(Record),
    Gone(u64),
    Joined(u64, String),
    Left(u64, String),
    Send {
        id: u64,
        msg: Message,
    },
    Close {
        id: u64,
        code: u16,
        reason: String,
    },
    Broadcast {
        msg: Message,
        route: Option<u32>,
        except: Option<u64>,
    },
    Publish {
        channel: String,
        msg: Message,
        except: Option<u64>,
    },
    /// Join / leave requests for a client of the receiving process.
    JoinRequest(u64, String),
    LeaveRequest(u64, String),
    /// I am stopping: forget my clients.
    Bye,
    /// A process of my node is gone (seen by its sibling): forget its clients.
    ProcGone(u32),
    /// I am alive (Redis only).
    Heartbeat,
    /// A Socket.IO packet for a socket of the receiving process.
    SendPacket {
        id: u64,
        packet: Arc<Packet>,
    },
    /// A Socket.IO packet for every socket of its namespace, except one.
    BroadcastPacket {
        packet: Arc<Packet>,
        except: Option<u64>,
    },
    /// A Socket.IO packet for a channel's sockets of its namespace, except one.
    PublishPacket {
        channel: String,
        packet: Arc<Packet>,
        except: Option<u64>,
    },
    /// The acknowledgement for `token` (asked by the receiver) from socket `id`; None: the
    /// socket went away first.
    SioAnswer {
        token: u64,
        id: u64,
        reply: Option<(Bytes, Vec<Bytes>)>,
    },
    /// A polling request for an Engine.IO session of the receiving process, reached by another
    /// worker; answered with `SioPollAnswer` and the same `req`.
    SioPoll {
        req: u64,
        sid: String,
        post: bool,
        body: Bytes,
    },
    SioPollAnswer {
        req: u64,
        status: u16,
        body: Bytes,
    },
    /// A WebSocket for a session of the receiving process, held by the sender (the upgrade
    /// reached another worker): relayed as `relay` from now on.
    SioRelayOpen {
        relay: u64,
        sid: String,
    },
    /// A message the relayed WebSocket's client sent (sender: the relaying process).
    SioRelayIn {
        relay: u64,
        sid: String,
        msg: Message,
    },
    /// Messages for the relayed WebSocket's client (sender: the session's process); `close`:
    /// then close it.
    SioRelayOut {
        relay: u64,
        msgs: Vec<Message>,
        close: bool,
    },
    /// The relayed WebSocket ended (sender: the relaying process).
    SioRelayClose {
        relay: u64,
        sid: String,
    },
}

mod kind {
    pub const HELLO: u8 = 1;
    pub const STATE: u8 = 2;
    pub const OPEN: u8 = 3;
    pub const GONE: u8 = 4;
    pub const JOINED: u8 = 5;
    pub const LEFT: u8 = 6;
    pub const SEND: u8 = 7;
    pub const CLOSE: u8 = 8;
    pub const BROADCAST: u8 = 9;
    pub const PUBLISH: u8 = 10;
    pub const JOIN_REQUEST: u8 = 11;
    pub const LEAVE_REQUEST: u8 = 12;
    pub const BYE: u8 = 13;
    pub const PROC_GONE: u8 = 14;
    pub const HEARTBEAT: u8 = 15;
    pub const STATE_ANSWER: u8 = 16;
    pub const SEND_PACKET: u8 = 17;
    pub const BROADCAST_PACKET: u8 = 18;
    pub const PUBLISH_PACKET: u8 = 19;
    pub const SIO_ANSWER: u8 = 20;
    pub const SIO_POLL: u8 = 21;
    pub const SIO_POLL_ANSWER: u8 = 22;
    pub const SIO_RELAY_OPEN: u8 = 23;
    pub const SIO_RELAY_IN: u8 = 24;
    pub const SIO_RELAY_OUT: u8 = 25;
    pub const SIO_RELAY_CLOSE: u8 = 26;
}

fn put_str(b: &mut BytesMut, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    b.put_u16_le(s.len() as u16);
    b.put_slice(s);
}

fn put_bytes(b: &mut BytesMut, s: &[u8]) {
    b.put_u32_le(s.len() as u32);
    b.put_slice(s);
}

/// A message's payload and whether it is binary.
fn put_msg(b: &mut BytesMut, msg: &Message) {
    match msg {
        Message::Binary(d) => {
            b.put_u8(1);
            put_bytes(b, d);
        }
        Message::Text(t) => {
            b.put_u8(0);
            put_bytes(b, t.as_bytes());
        }
        _ => {
            b.put_u8(0);
            put_bytes(b, b"");
        }
    }
}

fn put_list(b: &mut BytesMut, list: &[Bytes]) {
    b.put_u16_le(list.len() as u16);
    for a in list {
        put_bytes(b, a);
    }
}

fn put_packet(b: &mut BytesMut, p: &Packet) {
    b.put_u32_le(p.route);
    put_bytes(b, &p.text);
    put_list(b, &p.attachments);
    match &p.ask {
        Some(a) => {
            b.put_u8(1);
            b.put_u64_le(a.token);
            b.put_u32_le(a.origin);
            put_bytes(b, &a.data);
        }
        None => b.put_u8(0),
    }
}

fn put_record(b: &mut BytesMut, r: &Record) {
    b.put_u64_le(r.id);
    b.put_u32_le(r.route);
    put_str(b, &r.node);
    match &r.user {
        Some(u) => {
            b.put_u8(1);
            put_str(b, &u.id);
            put_bytes(b, &u.info);
        }
        None => b.put_u8(0),
    }
    b.put_u16_le(r.channels.len() as u16);
    for c in &r.channels {
        put_str(b, c);
    }
    put_bytes(b, &r.summary);
}

/// Encodes `frame` from process `origin`.
pub fn encode(origin: u32, frame: &Frame) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_slice(MAGIC);
    b.put_u8(VERSION);
    let k = match frame {
        Frame::Hello { .. } => kind::HELLO,
        Frame::State(_) => kind::STATE,
        Frame::StateAnswer(_) => kind::STATE_ANSWER,
        Frame::Open(_) => kind::OPEN,
        Frame::Gone(_) => kind::GONE,
        Frame::Joined(..) => kind::JOINED,
        Frame::Left(..) => kind::LEFT,
        Frame::Send { .. } => kind::SEND,
        Frame::Close { .. } => kind::CLOSE,
        Frame::Broadcast { .. } => kind::BROADCAST,
        Frame::Publish { .. } => kind::PUBLISH,
        Frame::JoinRequest(..) => kind::JOIN_REQUEST,
        Frame::LeaveRequest(..) => kind::LEAVE_REQUEST,
        Frame::Bye => kind::BYE,
        Frame::ProcGone(_) => kind::PROC_GONE,
        Frame::Heartbeat => kind::HEARTBEAT,
        Frame::SendPacket { .. } => kind::SEND_PACKET,
        Frame::BroadcastPacket { .. } => kind::BROADCAST_PACKET,
        Frame::PublishPacket { .. } => kind::PUBLISH_PACKET,
        Frame::SioAnswer { .. } => kind::SIO_ANSWER,
        Frame::SioPoll { .. } => kind::SIO_POLL,
        Frame::SioPollAnswer { .. } => kind::SIO_POLL_ANSWER,
        Frame::SioRelayOpen { .. } => kind::SIO_RELAY_OPEN,
        Frame::SioRelayIn { .. } => kind::SIO_RELAY_IN,
        Frame::SioRelayOut { .. } => kind::SIO_RELAY_OUT,
        Frame::SioRelayClose { .. } => kind::SIO_RELAY_CLOSE,
    };
    b.put_u8(k);
    b.put_u32_le(origin);
    match frame {
        Frame::Hello { node } => put_str(&mut b, node),
        Frame::State(records) | Frame::StateAnswer(records) => {
            b.put_u32_le(records.len() as u32);
            for r in records {
                put_record(&mut b, r);
            }
        }
        Frame::Open(r) => put_record(&mut b, r),
        Frame::Gone(id) => b.put_u64_le(*id),
        Frame::Joined(id, ch)
        | Frame::Left(id, ch)
        | Frame::JoinRequest(id, ch)
        | Frame::LeaveRequest(id, ch) => {
            b.put_u64_le(*id);
            put_str(&mut b, ch);
        }
        Frame::Send { id, msg } => {
            b.put_u64_le(*id);
            put_msg(&mut b, msg);
        }
        Frame::Close { id, code, reason } => {
            b.put_u64_le(*id);
            b.put_u16_le(*code);
            put_str(&mut b, reason);
        }
        Frame::Broadcast { msg, route, except } => {
            b.put_u32_le(route.unwrap_or(u32::MAX));
            b.put_u64_le(except.unwrap_or(0));
            put_msg(&mut b, msg);
        }
        Frame::Publish {
            channel,
            msg,
            except,
        } => {
            put_str(&mut b, channel);
            b.put_u64_le(except.unwrap_or(0));
            put_msg(&mut b, msg);
        }
        Frame::Bye | Frame::Heartbeat => {}
        Frame::ProcGone(p) => b.put_u32_le(*p),
        Frame::SendPacket { id, packet } => {
            b.put_u64_le(*id);
            put_packet(&mut b, packet);
        }
        Frame::BroadcastPacket { packet, except } => {
            b.put_u64_le(except.unwrap_or(0));
            put_packet(&mut b, packet);
        }
        Frame::PublishPacket {
            channel,
            packet,
            except,
        } => {
            put_str(&mut b, channel);
            b.put_u64_le(except.unwrap_or(0));
            put_packet(&mut b, packet);
        }
        Frame::SioAnswer { token, id, reply } => {
            b.put_u64_le(*token);
            b.put_u64_le(*id);
            match reply {
                Some((args, atts)) => {
                    b.put_u8(1);
                    put_bytes(&mut b, args);
                    put_list(&mut b, atts);
                }
                None => b.put_u8(0),
            }
        }
        Frame::SioPoll {
            req,
            sid,
            post,
            body,
        } => {
            b.put_u64_le(*req);
            put_str(&mut b, sid);
            b.put_u8(u8::from(*post));
            put_bytes(&mut b, body);
        }
        Frame::SioPollAnswer { req, status, body } => {
            b.put_u64_le(*req);
            b.put_u16_le(*status);
            put_bytes(&mut b, body);
        }
        Frame::SioRelayOpen { relay, sid } | Frame::SioRelayClose { relay, sid } => {
            b.put_u64_le(*relay);
            put_str(&mut b, sid);
        }
        Frame::SioRelayIn { relay, sid, msg } => {
            b.put_u64_le(*relay);
            put_str(&mut b, sid);
            put_msg(&mut b, msg);
        }
        Frame::SioRelayOut { relay, msgs, close } => {
            b.put_u64_le(*relay);
            b.put_u8(u8::from(*close));
            b.put_u16_le(msgs.len() as u16);
            for m in msgs {
                put_msg(&mut b, m);
            }
        }
    }
    b.freeze()
}

/// Whether an encoded frame is what a newer STATE frame of the same sender supersedes: an
/// older state, or news of its clients (opened, gone, joined, left).
pub fn superseded_by_state(frame: &[u8]) -> bool {
    frame.len() >= HEADER
        && matches!(
            frame[3],
            kind::STATE | kind::STATE_ANSWER | kind::OPEN | kind::GONE | kind::JOINED | kind::LEFT
        )
}

/// Why a frame was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum Bad {
    NotOurs,
    Version(u8),
    Malformed,
}

struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize) -> Result<(), Bad> {
        if self.0.remaining() < n {
            Err(Bad::Malformed)
        } else {
            Ok(())
        }
    }
    fn u8(&mut self) -> Result<u8, Bad> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }
    fn u16(&mut self) -> Result<u16, Bad> {
        self.need(2)?;
        Ok(self.0.get_u16_le())
    }
    fn u32(&mut self) -> Result<u32, Bad> {
        self.need(4)?;
        Ok(self.0.get_u32_le())
    }
    fn u64(&mut self) -> Result<u64, Bad> {
        self.need(8)?;
        Ok(self.0.get_u64_le())
    }
    fn bytes(&mut self) -> Result<Bytes, Bad> {
        let n = self.u32()? as usize;
        self.need(n)?;
        Ok(self.0.split_to(n))
    }
    fn str(&mut self) -> Result<String, Bad> {
        let n = self.u16()? as usize;
        self.need(n)?;
        String::from_utf8(self.0.split_to(n).to_vec()).map_err(|_| Bad::Malformed)
    }
    fn msg(&mut self) -> Result<Message, Bad> {
        let binary = self.u8()?;
        let data = self.bytes()?;
        if binary == 1 {
            Ok(Message::Binary(data))
        } else {
            let text = data.try_into().map_err(|_| Bad::Malformed)?;
            Ok(Message::Text(text))
        }
    }
    fn record(&mut self) -> Result<Record, Bad> {
        let id = self.u64()?;
        let route = self.u32()?;
        let node = Arc::from(self.str()?.as_str());
        let user = match self.u8()? {
            0 => None,
            _ => {
                let uid = self.str()?;
                let info = self.bytes()?;
                Some(Arc::new(User {
                    id: uid.into(),
                    info: info.to_vec().into_boxed_slice(),
                }))
            }
        };
        let n = self.u16()?;
        let mut channels = Vec::with_capacity(n as usize);
        for _ in 0..n {
            channels.push(Arc::from(self.str()?.as_str()));
        }
        let summary = Arc::from(&self.bytes()?[..]);
        Ok(Record {
            id,
            route,
            node,
            user,
            channels,
            summary,
        })
    }
    fn list(&mut self) -> Result<Vec<Bytes>, Bad> {
        let n = self.u16()?;
        (0..n).map(|_| self.bytes()).collect()
    }
    fn packet(&mut self) -> Result<Arc<Packet>, Bad> {
        let route = self.u32()?;
        let text = self.bytes()?;
        let attachments = self.list()?;
        let ask = match self.u8()? {
            0 => None,
            _ => Some(Ask {
                token: self.u64()?,
                origin: self.u32()?,
                data: self.bytes()?,
            }),
        };
        Ok(Arc::new(Packet {
            route,
            text,
            attachments,
            ask,
        }))
    }
    fn except(&mut self) -> Result<Option<u64>, Bad> {
        Ok(Some(self.u64()?).filter(|e| *e != 0))
    }
}

/// Decodes a frame: its origin process and what it says.
pub fn decode(data: Bytes) -> Result<(u32, Frame), Bad> {
    if data.len() < HEADER || &data[..2] != MAGIC {
        return Err(Bad::NotOurs);
    }
    if data[2] != VERSION {
        return Err(Bad::Version(data[2]));
    }
    let mut r = Reader(data);
    r.0.advance(3);
    let k = r.u8()?;
    let origin = r.u32()?;
    let frame = match k {
        kind::HELLO => Frame::Hello { node: r.str()? },
        kind::STATE | kind::STATE_ANSWER => {
            let n = r.u32()?;
            let mut v = Vec::with_capacity((n as usize).min(4096));
            for _ in 0..n {
                v.push(r.record()?);
            }
            if k == kind::STATE {
                Frame::State(v)
            } else {
                Frame::StateAnswer(v)
            }
        }
        kind::OPEN => Frame::Open(r.record()?),
        kind::GONE => Frame::Gone(r.u64()?),
        kind::JOINED => Frame::Joined(r.u64()?, r.str()?),
        kind::LEFT => Frame::Left(r.u64()?, r.str()?),
        kind::JOIN_REQUEST => Frame::JoinRequest(r.u64()?, r.str()?),
        kind::LEAVE_REQUEST => Frame::LeaveRequest(r.u64()?, r.str()?),
        kind::SEND => Frame::Send {
            id: r.u64()?,
            msg: r.msg()?,
        },
        kind::CLOSE => Frame::Close {
            id: r.u64()?,
            code: r.u16()?,
            reason: r.str()?,
        },
        kind::BROADCAST => {
            let route = Some(r.u32()?).filter(|r| *r != u32::MAX);
            let except = r.except()?;
            Frame::Broadcast {
                msg: r.msg()?,
                route,
                except,
            }
        }
        kind::PUBLISH => {
            let channel = r.str()?;
            let except = r.except()?;
            Frame::Publish {
                channel,
                msg: r.msg()?,
                except,
            }
        }
        kind::BYE => Frame::Bye,
        kind::PROC_GONE => Frame::ProcGone(r.u32()?),
        kind::HEARTBEAT => Frame::Heartbeat,
        kind::SEND_PACKET => Frame::SendPacket {
            id: r.u64()?,
            packet: r.packet()?,
        },
        kind::BROADCAST_PACKET => {
            let except = r.except()?;
            Frame::BroadcastPacket {
                except,
                packet: r.packet()?,
            }
        }
        kind::PUBLISH_PACKET => {
            let channel = r.str()?;
            let except = r.except()?;
            Frame::PublishPacket {
                channel,
                except,
                packet: r.packet()?,
            }
        }
        kind::SIO_ANSWER => {
            let token = r.u64()?;
            let id = r.u64()?;
            let reply = match r.u8()? {
                0 => None,
                _ => Some((r.bytes()?, r.list()?)),
            };
            Frame::SioAnswer { token, id, reply }
        }
        kind::SIO_POLL => Frame::SioPoll {
            req: r.u64()?,
            sid: r.str()?,
            post: r.u8()? != 0,
            body: r.bytes()?,
        },
        kind::SIO_POLL_ANSWER => Frame::SioPollAnswer {
            req: r.u64()?,
            status: r.u16()?,
            body: r.bytes()?,
        },
        kind::SIO_RELAY_OPEN => Frame::SioRelayOpen {
            relay: r.u64()?,
            sid: r.str()?,
        },
        kind::SIO_RELAY_CLOSE => Frame::SioRelayClose {
            relay: r.u64()?,
            sid: r.str()?,
        },
        kind::SIO_RELAY_IN => Frame::SioRelayIn {
            relay: r.u64()?,
            sid: r.str()?,
            msg: r.msg()?,
        },
        kind::SIO_RELAY_OUT => {
            let relay = r.u64()?;
            let close = r.u8()? != 0;
            let n = r.u16()?;
            let msgs = (0..n).map(|_| r.msg()).collect::<Result<Vec<_>, Bad>>()?;
            Frame::SioRelayOut { relay, msgs, close }
        }
        _ => return Err(Bad::Malformed),
    };
    Ok((origin, frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_round_trips() {
        let rec = Record {
            id: 7 << 35 | 3,
            route: 2,
            node: Arc::from("node-a"),
            user: Some(Arc::new(User {
                id: "ann".into(),
                info: b"{\"n\":1}".to_vec().into_boxed_slice(),
            })),
            channels: vec![Arc::from("red"), Arc::from("presence-x")],
            summary: Arc::from(&b"0\x001\x00"[..]),
        };
        let frames = vec![
            Frame::Hello { node: "a".into() },
            Frame::State(vec![rec.clone(), rec.clone()]),
            Frame::StateAnswer(vec![rec.clone()]),
            Frame::Open(rec),
            Frame::Gone(9),
            Frame::Joined(9, "red".into()),
            Frame::Left(9, "red".into()),
            Frame::JoinRequest(9, "b".into()),
            Frame::LeaveRequest(9, "b".into()),
            Frame::Send {
                id: 9,
                msg: Message::Binary(Bytes::from_static(b"\0\xff")),
            },
            Frame::Close {
                id: 9,
                code: 4000,
                reason: "bye".into(),
            },
            Frame::Broadcast {
                msg: Message::Text("hi ✓".into()),
                route: Some(3),
                except: None,
            },
            Frame::Publish {
                channel: "red".into(),
                msg: Message::Text("x".into()),
                except: Some(5),
            },
            Frame::Bye,
            Frame::ProcGone(12),
            Frame::Heartbeat,
            Frame::SendPacket {
                id: 9,
                packet: Arc::new(Packet {
                    text: Bytes::from_static(b"451-[\"x\",{\"_placeholder\":true,\"num\":0}]"),
                    attachments: vec![Bytes::from_static(&[0, 1, 2])],
                    route: 4,
                    ask: None,
                }),
            },
            Frame::BroadcastPacket {
                packet: Arc::new(Packet {
                    text: Bytes::from_static(b"42[\"a\"]"),
                    attachments: vec![],
                    route: 1,
                    ask: None,
                }),
                except: Some(3),
            },
            Frame::PublishPacket {
                channel: "room".into(),
                packet: Arc::new(Packet {
                    text: Bytes::from_static(b"42[\"a\"]"),
                    attachments: vec![],
                    route: 1,
                    ask: None,
                }),
                except: None,
            },
            Frame::SendPacket {
                id: 8,
                packet: Arc::new(Packet {
                    text: Bytes::new(),
                    attachments: vec![Bytes::from_static(b"bin")],
                    route: 2,
                    ask: Some(Ask {
                        token: 77,
                        origin: 3,
                        data: Bytes::from_static(b"[\"q\",1]"),
                    }),
                }),
            },
            Frame::SioAnswer {
                token: 77,
                id: 8,
                reply: Some((Bytes::from_static(b"[2]"), vec![])),
            },
            Frame::SioAnswer {
                token: 78,
                id: 8,
                reply: None,
            },
            Frame::SioPoll {
                req: 5,
                sid: "abc".into(),
                post: true,
                body: Bytes::from_static(b"42[\"x\"]"),
            },
            Frame::SioPollAnswer {
                req: 5,
                status: 200,
                body: Bytes::from_static(b"ok"),
            },
            Frame::SioRelayOpen {
                relay: 4,
                sid: "s".into(),
            },
            Frame::SioRelayIn {
                relay: 4,
                sid: "s".into(),
                msg: Message::Binary(Bytes::from_static(b"\x00")),
            },
            Frame::SioRelayOut {
                relay: 4,
                msgs: vec![
                    Message::Text("3probe".into()),
                    Message::Binary(Bytes::from_static(b"b")),
                ],
                close: true,
            },
            Frame::SioRelayClose {
                relay: 4,
                sid: "s".into(),
            },
        ];
        for f in frames {
            let (origin, back) = decode(encode(42, &f)).unwrap();
            assert_eq!((origin, back), (42, f));
        }
    }

    #[test]
    fn foreign_versions_and_truncations_are_refused() {
        let mut v = encode(1, &Frame::Gone(5)).to_vec();
        assert_eq!(
            decode(Bytes::from(v[..v.len() - 1].to_vec())),
            Err(Bad::Malformed)
        );
        v[2] = 9;
        assert_eq!(decode(Bytes::from(v)), Err(Bad::Version(9)));
        assert_eq!(
            decode(Bytes::from_static(b"{\"json\":1}")),
            Err(Bad::NotOurs)
        );
        let bad_text = encode(
            1,
            &Frame::Send {
                id: 1,
                msg: Message::Binary(Bytes::from_static(b"\xff")),
            },
        );
        let mut t = bad_text.to_vec();
        t[HEADER + 8] = 0; // says text, but the bytes are not UTF-8
        assert_eq!(decode(Bytes::from(t)), Err(Bad::Malformed));
    }
}
