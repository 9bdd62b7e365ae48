//! Socket.IO and Engine.IO text: the ids we give out (session and socket ids that name their
//! owner), namespace names, event data, and the packets we write. Packet parsing and the
//! Socket.IO packet encoding are the socketioxide project's codec crates
//! (`engineioxide-core`, `socketioxide-parser-common`); this file only builds their inputs and
//! adds what they leave out (CONNECT answers with data, the Engine.IO message prefix).

use crate::engine::error::{Error, Result};
use crate::engine::sio::namespace::Namespace;
use crate::engine::ws::outbox::Packet;
use base64::Engine as _;
use bytes::Bytes;
use engineioxide_core::Str;
use serde_json::value::RawValue;
use socketioxide_core::packet::Packet as SioPacket;
use socketioxide_core::parser::Parse;
use socketioxide_core::Value;
use socketioxide_parser_common::CommonParser;
use std::collections::VecDeque;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A namespace name: "/" or "/name", at most 200 bytes, no control character and no comma
/// (a comma ends the namespace in a packet).
pub fn check_namespace(name: &str) -> Result<()> {
    if !name.starts_with('/') {
        return Err(Error::invalid(format!(
            "namespace {name:?} must begin with /"
        )));
    }
    if name.len() > 200 {
        return Err(Error::invalid("namespace is longer than 200 bytes"));
    }
    if name.chars().any(|c| c.is_control() || c == ',') {
        return Err(Error::invalid(format!(
            "namespace {name:?} contains a comma or a control character"
        )));
    }
    Ok(())
}

/// The id a client sees for socket `id` (`socket.id`): its id in base64url, 11 characters.
pub fn socket_sid(id: u64) -> String {
    B64.encode(id.to_be_bytes())
}

/// The socket id behind a client-visible sid.
pub fn socket_id(sid: &str) -> Option<u64> {
    if sid.len() != 11 {
        return None;
    }
    let mut out = [0u8; 8];
    match B64.decode_slice(sid.as_bytes(), &mut out) {
        Ok(8) => Some(u64::from_be_bytes(out)).filter(|id| *id != 0),
        _ => None,
    }
}

/// An Engine.IO session id: its number in hex (which names the owning process) and 96 random
/// bits (the sid is what lets a polling request read and write the session).
pub fn session_sid(number: u64) -> Box<str> {
    format!("{number:016x}{}", engineioxide_core::Sid::new().as_str()).into()
}

/// The session number in a session id (None: not one of ours).
pub fn session_number(sid: &str) -> Option<u64> {
    if sid.len() != 32 || !sid.is_char_boundary(16) {
        return None;
    }
    u64::from_str_radix(&sid[..16], 16).ok()
}

/// Checks that `args` is a JSON array (or empty: no arguments).
pub fn check_args(args: &[u8]) -> Result<()> {
    if args.is_empty() {
        return Ok(());
    }
    serde_json::from_slice::<Vec<&RawValue>>(args)
        .map(|_| ())
        .map_err(|e| Error::invalid(format!("arguments are not a JSON array: {e}")))
}

/// An event's data as Socket.IO sends it: `["name",arg,...]`, from a JSON array of arguments.
pub fn event_data(event: &str, args: &[u8]) -> Result<Bytes> {
    if event.is_empty() {
        return Err(Error::invalid("event name is empty"));
    }
    let list: Vec<&RawValue> = if args.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(args)
            .map_err(|e| Error::invalid(format!("arguments are not a JSON array: {e}")))?
    };
    let name = serde_json::to_string(event).expect("a string serializes");
    let mut out = String::with_capacity(name.len() + args.len() + 2);
    out.push('[');
    out.push_str(&name);
    for a in list {
        out.push(',');
        out.push_str(a.get());
    }
    out.push(']');
    Ok(Bytes::from(out))
}

/// Splits an event's data (`["name",args...]`) into its name and its arguments as a JSON array.
pub fn split_event(data: &str) -> std::result::Result<(String, Vec<u8>), &'static str> {
    let list: Vec<&RawValue> =
        serde_json::from_str(data).map_err(|_| "event data is not a JSON array")?;
    let Some((first, rest)) = list.split_first() else {
        return Err("event without a name");
    };
    let name: String =
        serde_json::from_str(first.get()).map_err(|_| "event name is not a string")?;
    let mut args = Vec::with_capacity(data.len().saturating_sub(first.get().len()));
    args.push(b'[');
    for (i, a) in rest.iter().enumerate() {
        if i > 0 {
            args.push(b',');
        }
        args.extend_from_slice(a.get().as_bytes());
    }
    args.push(b']');
    Ok((name, args))
}

/// `data` as the parser's value (valid UTF-8: JSON we built or checked).
fn value(data: &Bytes, attachments: Vec<Bytes>) -> Value {
    // SAFETY: `data` is JSON text that serde_json produced or accepted, hence UTF-8.
    let text = unsafe { Str::from_bytes_unchecked(data.clone()) };
    let bins = (!attachments.is_empty()).then(|| VecDeque::from(attachments));
    Value::Str(text, bins)
}

/// Our outgoing packet from the parser's encoding: the Engine.IO message prefix added.
fn finish(encoded: Value, route: u32) -> Packet {
    let Value::Str(text, bins) = encoded else {
        unreachable!("the common parser encodes to text");
    };
    let mut out = Vec::with_capacity(text.len() + 1);
    out.push(b'4');
    out.extend_from_slice(text.as_bytes());
    Packet {
        text: Bytes::from(out),
        attachments: bins.map(Vec::from).unwrap_or_default(),
        route,
        ask: None,
    }
}

/// An EVENT (or BINARY_EVENT) packet for namespace `ns`, with an ack id when one is awaited.
pub fn event_packet(
    ns: &Namespace,
    data: &Bytes,
    attachments: Vec<Bytes>,
    ack: Option<i64>,
) -> Packet {
    let mut p = SioPacket::event(Str::copy_from_slice(&ns.name), value(data, attachments));
    if let Some(id) = ack {
        p.inner.set_ack_id(id);
    }
    finish(CommonParser.encode(p), ns.route)
}

/// An ACK (or BINARY_ACK) packet.
pub fn ack_packet(ns: &Namespace, args: &[u8], attachments: Vec<Bytes>, ack: i64) -> Packet {
    let data = Bytes::copy_from_slice(args);
    let p = SioPacket::ack(
        Str::copy_from_slice(&ns.name),
        value(&data, attachments),
        ack,
    );
    finish(CommonParser.encode(p), ns.route)
}

/// `name,` for a namespace other than "/" (how packets name it).
fn nsp_prefix(out: &mut String, name: &str) {
    if name != "/" {
        out.push_str(name);
        out.push(',');
    }
}

/// The CONNECT answer: the socket's sid (and its private id, with connection state recovery).
pub fn connect_ok(name: &str, sid: &str, pid: Option<&str>) -> Bytes {
    let mut out = String::from("40");
    nsp_prefix(&mut out, name);
    out.push_str("{\"sid\":\"");
    out.push_str(sid);
    if let Some(pid) = pid {
        out.push_str("\",\"pid\":\"");
        out.push_str(pid);
    }
    out.push_str("\"}");
    Bytes::from(out)
}

/// A CONNECT_ERROR: `{"message":..}` and the host's data (JSON) when it gave some.
pub fn connect_error(name: &str, message: &str, data: Option<&[u8]>) -> Bytes {
    let mut out = String::from("44");
    nsp_prefix(&mut out, name);
    out.push_str("{\"message\":");
    out.push_str(&serde_json::to_string(message).expect("a string serializes"));
    if let Some(d) = data.filter(|d| serde_json::from_slice::<&RawValue>(d).is_ok()) {
        out.push_str(",\"data\":");
        out.push_str(std::str::from_utf8(d).unwrap_or("null"));
    }
    out.push('}');
    Bytes::from(out)
}

/// A DISCONNECT of namespace `name` (the server disconnects the socket).
pub fn disconnect(name: &str) -> Bytes {
    let mut out = String::from("41");
    nsp_prefix(&mut out, name);
    Bytes::from(out)
}

/// An Engine.IO error answer to an HTTP request: `{"code":N,"message":..}`.
pub fn http_error(code: u8) -> (u16, Bytes) {
    let (status, message) = match code {
        0 => (400, "Transport unknown"),
        1 => (400, "Session ID unknown"),
        2 => (400, "Bad handshake method"),
        4 => (403, "Forbidden"),
        5 => (400, "Unsupported protocol version"),
        _ => (400, "Bad request"),
    };
    let body = format!("{{\"code\":{code},\"message\":\"{message}\"}}");
    (status, Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str) -> Namespace {
        Namespace {
            name: name.into(),
            route: 3,
            handler: None,
        }
    }

    #[test]
    fn ids_round_trip_and_name_their_owner() {
        let id = (5u64 << 35) | 1234;
        let sid = socket_sid(id);
        assert_eq!(sid.len(), 11);
        assert_eq!(socket_id(&sid), Some(id));
        assert_eq!(socket_id("nope"), None);
        let s = session_sid(id);
        assert_eq!(session_number(&s), Some(id));
        assert_ne!(session_sid(id), s, "random part");
        assert_eq!(session_number("zz"), None);
    }

    #[test]
    fn events_split_and_build() {
        let (name, args) = split_event(r#"["chat", {"a":1}, "x"]"#).unwrap();
        assert_eq!(name, "chat");
        assert_eq!(args, br#"[{"a":1},"x"]"#);
        let (name, args) = split_event(r#"["ping"]"#).unwrap();
        assert_eq!((name.as_str(), &args[..]), ("ping", &b"[]"[..]));
        assert!(split_event("[1]").is_err());
        assert!(split_event("[]").is_err());
        assert!(split_event("{").is_err());
        assert_eq!(
            &event_data("e\"v", b"[1, 2]").unwrap()[..],
            br#"["e\"v",1,2]"#
        );
        assert_eq!(&event_data("ev", b"").unwrap()[..], br#"["ev"]"#);
        assert!(event_data("ev", b"{}").is_err());
        assert!(event_data("", b"[]").is_err());
    }

    #[test]
    fn packets_are_socket_io_v5() {
        let data = event_data("ev", b"[1]").unwrap();
        assert_eq!(
            &event_packet(&ns("/"), &data, vec![], None).text[..],
            br#"42["ev",1]"#
        );
        assert_eq!(
            &event_packet(&ns("/chat"), &data, vec![], Some(7)).text[..],
            br#"42/chat,7["ev",1]"#
        );
        let bin = event_data("b", br#"[{"_placeholder":true,"num":0}]"#).unwrap();
        let p = event_packet(&ns("/x"), &bin, vec![Bytes::from_static(b"\x01")], None);
        assert_eq!(
            &p.text[..],
            br#"451-/x,["b",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(p.attachments.len(), 1);
        assert_eq!(
            &ack_packet(&ns("/"), b"[true]", vec![], 3).text[..],
            b"433[true]"
        );
        assert_eq!(&connect_ok("/", "abc", None)[..], br#"40{"sid":"abc"}"#);
        assert_eq!(
            &connect_ok("/n", "abc", Some("p"))[..],
            br#"40/n,{"sid":"abc","pid":"p"}"#
        );
        assert_eq!(
            &connect_error("/a", "no \"way\"", Some(br#"{"x":1}"#))[..],
            br#"44/a,{"message":"no \"way\"","data":{"x":1}}"#
        );
        assert_eq!(
            &connect_error("/", "m", Some(b"{bad"))[..],
            br#"44{"message":"m"}"#
        );
        assert_eq!(&disconnect("/a")[..], b"41/a,");
        assert!(check_namespace("/a,b").is_err() && check_namespace("a").is_err());
    }
}
