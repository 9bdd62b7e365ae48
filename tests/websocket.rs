//! WebSocket behaviour through the C ABI (`hs_websocket`, `hs_accept`, `hs_ws_*`), with real
//! clients over 127.0.0.1: tungstenite's sync client, and a raw frame writer/reader for frames a
//! normal client does not produce (chosen fragments, interleaved pings, bad UTF-8, bad codes).
mod common;
use common::*;
use httpsock::ffi::api::*;
use httpsock::ffi::hs_status;
use std::ffi::c_int;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// The server pointer of a `Ptr`; a closure calling this captures the whole (Send) `Ptr`.
fn whole(p: Ptr) -> *mut httpsock::ffi::hs_server {
    p.0
}

const WAIT: Duration = Duration::from_secs(10);
const INVALID: c_int = hs_status::HS_ERR_INVALID as c_int;
const NOT_FOUND: c_int = hs_status::HS_ERR_NOT_FOUND as c_int;

// ---------------------------------------------------------------------------------------------
// Events reported by the WebSocket callbacks.

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Open(Opened),
    Msg(u64, Vec<u8>, bool),
    Close(u64, i32, String),
}

#[derive(Debug, Clone, PartialEq)]
struct Opened {
    id: u64,
    conn_id: u64,
    route_id: i32,
    path: String,
    params: Vec<String>,
    room: Option<String>,
    x_test: Option<String>,
}

struct Events(Receiver<Ev>);

impl Events {
    fn next(&self) -> Ev {
        self.0
            .recv_timeout(WAIT)
            .expect("no WebSocket callback within 10 s")
    }
    fn open(&self) -> Opened {
        match self.next() {
            Ev::Open(o) => o,
            other => panic!("expected an open event, got {other:?}"),
        }
    }
    fn msg(&self) -> (u64, Vec<u8>, bool) {
        match self.next() {
            Ev::Msg(id, d, b) => (id, d, b),
            other => panic!("expected a message event, got {other:?}"),
        }
    }
    fn close(&self) -> (u64, i32, String) {
        match self.next() {
            Ev::Close(id, code, reason) => (id, code, reason),
            other => panic!("expected a close event, got {other:?}"),
        }
    }
    /// Nothing more is pending right now (callbacks run one at a time on the loop thread, so a
    /// later event cannot be "in flight" once the event that follows it has been seen).
    fn none_pending(&self) {
        if let Ok(ev) = self.0.try_recv() {
            panic!("unexpected extra event {ev:?}");
        }
    }
}

/// Callbacks that report every event; with `echo` each message is sent back with `hs_ws_send`.
fn recorder(tx: Sender<Ev>, echo: Option<Ptr>) -> WsCallbacks {
    let (t1, t2, t3) = (tx.clone(), tx.clone(), tx);
    WsCallbacks {
        open: Box::new(move |id, req| {
            let n = hs_request_param_count(req);
            let params = (0..n.max(0) as usize)
                .map(|i| field(|r, l| hs_request_param(r, i, l), req))
                .collect();
            let room_name = c("room");
            let mut len = 0usize;
            let p = hs_request_param_named(req, room_name.as_ptr(), &mut len);
            let room = (!p.is_null()).then(|| {
                String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
                    .into_owned()
            });
            let _ = t1.send(Ev::Open(Opened {
                id,
                conn_id: hs_request_conn_id(req),
                route_id: hs_request_route_id(req),
                path: field(|r, l| hs_request_path(r, l), req),
                params,
                room,
                x_test: header(req, "x-test"),
            }));
        }),
        message: Box::new(move |id, data, bin| {
            if let Some(p) = echo {
                let rc = hs_ws_send(whole(p), id, data.as_ptr().cast(), data.len(), bin as c_int);
                assert_eq!(rc, 0, "echo hs_ws_send: {}", last_error());
            }
            let _ = t2.send(Ev::Msg(id, data.to_vec(), bin));
        }),
        close: Box::new(move |id, code, reason| {
            let _ = t3.send(Ev::Close(id, code, reason));
        }),
    }
}

/// A server with WebSocket on and one recording accept route; `extra` configures more.
fn ws_server(
    pattern: &str,
    echo: bool,
    extra: impl FnOnce(*mut httpsock::ffi::hs_server),
) -> (TestServer, Events, c_int) {
    let (tx, rx) = channel();
    let mut route_id = -100;
    let srv = TestServer::start(|s| {
        assert_eq!(hs_websocket(s, 1), 0);
        route_id = accept(s, pattern, recorder(tx, echo.then_some(Ptr(s))));
        assert!(route_id >= 0, "hs_accept: {}", last_error());
        extra(s);
    });
    (srv, Events(rx), route_id)
}

// ---------------------------------------------------------------------------------------------
// tungstenite (a real, independent client).

type Client = WebSocket<TcpStream>;

fn ws_client_with(port: u16, path: &str, headers: &[(&str, &str)]) -> Client {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    let mut req = format!("ws://127.0.0.1:{port}{path}")
        .into_client_request()
        .unwrap();
    for (n, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let (ws, resp) = tungstenite::client::client(req, s).expect("WebSocket handshake");
    assert_eq!(resp.status(), 101);
    ws
}

fn ws_client(port: u16, path: &str) -> Client {
    ws_client_with(port, path, &[])
}

/// The next data message (pings and pongs skipped).
fn read_data(ws: &mut Client) -> Message {
    loop {
        match ws.read().expect("read a message") {
            Message::Ping(_) | Message::Pong(_) => continue,
            m => return m,
        }
    }
}

fn read_text(ws: &mut Client) -> String {
    match read_data(ws) {
        Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Reads until the peer's Close arrives; returns its code and reason.
fn read_close(ws: &mut Client) -> (u16, String) {
    match read_data(ws) {
        Message::Close(Some(f)) => (f.code.into(), f.reason.to_string()),
        Message::Close(None) => (1005, String::new()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// After a Close was exchanged: reads until the connection ends (tungstenite sends its reply).
fn finish_close(ws: &mut Client) {
    match ws.read() {
        Ok(m) => panic!("data after close: {m:?}"),
        Err(tungstenite::Error::ConnectionClosed) | Err(tungstenite::Error::AlreadyClosed) => {}
        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("closing handshake failed: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Raw frames (RFC 6455 §5.2), for what a normal client does not send.

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BIN: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// A client frame: masked, as clients must.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame_masking(fin, opcode, payload, true)
}

fn frame_masking(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    let m = if masked { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        f.push(m | n as u8);
    } else if n <= 0xffff {
        f.push(m | 126);
        f.extend((n as u16).to_be_bytes());
    } else {
        f.push(m | 127);
        f.extend((n as u64).to_be_bytes());
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        f.extend(key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl Frame {
    fn close_code(&self) -> (u16, String) {
        assert_eq!(self.opcode, OP_CLOSE, "not a close frame: {self:?}");
        assert!(self.payload.len() >= 2, "close frame without code");
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        (
            code,
            String::from_utf8_lossy(&self.payload[2..]).into_owned(),
        )
    }
}

/// Reads one server frame (server frames are never masked).
fn read_frame(s: &mut TcpStream) -> std::io::Result<Frame> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h)?;
    assert_eq!(h[1] & 0x80, 0, "server frame is masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b)?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b)?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0; len];
    s.read_exact(&mut payload)?;
    Ok(Frame {
        fin: h[0] & 0x80 != 0,
        opcode: h[0] & 0x0f,
        payload,
    })
}

fn upgrade_request(path: &str, key: &str, version: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    )
}

/// A hand-written handshake; returns the socket positioned at the first frame.
fn raw_ws(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(upgrade_request(path, "dGhlIHNhbXBsZSBub25jZQ==", "13").as_bytes())
        .unwrap();
    // Byte by byte up to the blank line, so that no frame byte is consumed with the head.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).expect("handshake answer");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    // RFC 6455 §1.3's example key and its accept value.
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    s
}

/// Reads until the server ends the connection; panics if more frames than a Close come.
fn expect_eof(s: &mut TcpStream) {
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected {n} bytes before the end: {:?}", &buf[..n]),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("connection did not end: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Echo, open, close.

#[test]
fn text_echo() {
    let (srv, ev, _) = ws_server("/echo", true, |_| {});
    let mut ws = ws_client(srv.port, "/echo");
    let id = ev.open().id;
    ws.send(Message::text("hello, wörld")).unwrap();
    assert_eq!(
        read_data(&mut ws),
        Message::text("hello, wörld"),
        "echoed text"
    );
    assert_eq!(ev.msg(), (id, "hello, wörld".as_bytes().to_vec(), false));
    drop(ws);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn binary_echo_keeps_is_binary() {
    let (srv, ev, _) = ws_server("/echo", true, |_| {});
    let mut ws = ws_client(srv.port, "/echo");
    let id = ev.open().id;
    let data = vec![0u8, 1, 2, 0xff, 0, 0x80];
    ws.send(Message::binary(data.clone())).unwrap();
    assert_eq!(read_data(&mut ws), Message::binary(data.clone()));
    assert_eq!(ev.msg(), (id, data, true));
    // Text that happens to be ASCII stays text.
    ws.send(Message::text("01")).unwrap();
    assert_eq!(read_data(&mut ws), Message::text("01"));
    assert_eq!(ev.msg(), (id, b"01".to_vec(), false));
    assert_eq!(srv.stop(), 0);
}

#[test]
fn open_gets_conn_id_and_upgrade_request() {
    let (srv, ev, route_id) = ws_server("/ws/{room}", false, |_| {});
    let _ws = ws_client_with(srv.port, "/ws/lobby", &[("X-Test", "abc 123")]);
    let o = ev.open();
    assert!(o.id > 0);
    assert_eq!(o.conn_id, o.id, "hs_request_conn_id is the client id");
    assert_eq!(o.route_id, route_id);
    assert_eq!(o.path, "/ws/lobby");
    assert_eq!(o.params, vec!["lobby".to_string()]);
    assert_eq!(o.room.as_deref(), Some("lobby"));
    assert_eq!(o.x_test.as_deref(), Some("abc 123"));
    // A second client gets another id.
    let _ws2 = ws_client(srv.port, "/ws/kitchen");
    let o2 = ev.open();
    assert_ne!(o2.id, o.id);
    assert_eq!(o2.room.as_deref(), Some("kitchen"));
    assert_eq!(o2.x_test, None);
    assert_eq!(srv.stop(), 0);
}

fn client_closes_with(code: u16, reason: &str) {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut ws = ws_client(srv.port, "/ws");
    let id = ev.open().id;
    ws.close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
    .unwrap();
    // The server echoes the client's close (RFC 6455 §5.5.1).
    assert_eq!(read_close(&mut ws), (code, reason.to_string()));
    finish_close(&mut ws);
    assert_eq!(ev.close(), (id, code as i32, reason.to_string()));
    ev.none_pending();
    assert_eq!(hs_ws_count(srv.raw(), -1), 0);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn client_close_1000_reaches_on_close_and_is_echoed() {
    client_closes_with(1000, "done");
}

#[test]
fn client_close_4000_reaches_on_close_and_is_echoed() {
    client_closes_with(4000, "app specific");
}

#[test]
fn client_close_without_code_is_1005() {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut s = raw_ws(srv.port, "/ws");
    let id = ev.open().id;
    s.write_all(&frame(true, OP_CLOSE, b"")).unwrap();
    let f = read_frame(&mut s).unwrap();
    assert_eq!(f.opcode, OP_CLOSE);
    assert!(f.payload.is_empty(), "echo of an empty close: {f:?}");
    expect_eof(&mut s);
    assert_eq!(ev.close(), (id, 1005, String::new()));
    assert_eq!(srv.stop(), 0);
}

#[test]
fn client_close_with_forbidden_code_is_a_protocol_error() {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut s = raw_ws(srv.port, "/ws");
    let id = ev.open().id;
    // 999 may not appear on the wire (RFC 6455 §7.4.2).
    s.write_all(&frame(true, OP_CLOSE, &close_payload(999, "x")))
        .unwrap();
    let f = read_frame(&mut s).unwrap();
    assert_eq!(f.close_code().0, 1002);
    expect_eof(&mut s);
    let (cid, code, _) = ev.close();
    assert_eq!((cid, code), (id, 1002));
    assert_eq!(srv.stop(), 0);
}

#[test]
fn unmasked_client_frame_is_a_protocol_error() {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut s = raw_ws(srv.port, "/ws");
    let id = ev.open().id;
    s.write_all(&frame_masking(true, OP_TEXT, b"hi", false))
        .unwrap();
    let f = read_frame(&mut s).unwrap();
    assert_eq!(f.close_code(), (1002, "protocol error".to_string()));
    assert_eq!(ev.close(), (id, 1002, "protocol error".to_string()));
    ev.none_pending();
    assert_eq!(srv.stop(), 0);
}

#[test]
fn server_close_sends_code_and_reason() {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut ws = ws_client(srv.port, "/ws");
    let id = ev.open().id;
    assert_eq!(hs_ws_close(srv.raw(), id, 4001, c("bye").as_ptr()), 0);
    assert_eq!(read_close(&mut ws), (4001, "bye".to_string()));
    finish_close(&mut ws);
    assert_eq!(ev.close(), (id, 4001, "bye".to_string()));
    // The client is gone from the hub.
    assert_eq!(
        hs_ws_close(srv.raw(), id, 1000, std::ptr::null()),
        NOT_FOUND
    );
    assert_eq!(srv.stop(), 0);
}

#[test]
fn server_close_refuses_invalid_codes_and_reasons() {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut ws = ws_client(srv.port, "/ws");
    let id = ev.open().id;
    let bye = c("bye");
    for code in [1005, 999, 5000, 1004, 1006, 1015, 2999, 0, -1, 70000] {
        assert_eq!(
            hs_ws_close(srv.raw(), id, code, bye.as_ptr()),
            INVALID,
            "code {code}"
        );
    }
    let long = c(&"r".repeat(124));
    assert_eq!(hs_ws_close(srv.raw(), id, 1000, long.as_ptr()), INVALID);
    assert_eq!(
        hs_ws_close(srv.raw(), 987_654, 1000, bye.as_ptr()),
        NOT_FOUND
    );
    // None of those closed it: it still echoes nothing but is open, and a valid close works
    // (123 bytes of reason is the maximum).
    assert_eq!(hs_ws_count(srv.raw(), -1), 1);
    let max = "m".repeat(123);
    assert_eq!(hs_ws_close(srv.raw(), id, 1000, c(&max).as_ptr()), 0);
    assert_eq!(read_close(&mut ws), (1000, max.clone()));
    finish_close(&mut ws);
    assert_eq!(ev.close(), (id, 1000, max));
    assert_eq!(srv.stop(), 0);
}

// ---------------------------------------------------------------------------------------------
// Fragments, pings, limits, UTF-8.

#[test]
fn fragmented_text_with_interleaved_ping_arrives_whole() {
    let (srv, ev, _) = ws_server("/ws", true, |_| {});
    let mut s = raw_ws(srv.port, "/ws");
    let id = ev.open().id;
    s.write_all(&frame(false, OP_TEXT, b"Hel")).unwrap();
    s.write_all(&frame(true, OP_PING, b"are you there"))
        .unwrap();
    s.write_all(&frame(false, OP_CONT, "lo, wö".as_bytes()))
        .unwrap();
    s.write_all(&frame(true, OP_CONT, b"rld")).unwrap();
    // The pong answers the ping with its payload, before the echo of the whole message.
    let pong = read_frame(&mut s).unwrap();
    assert_eq!(pong.opcode, OP_PONG);
    assert!(pong.fin);
    assert_eq!(pong.payload, b"are you there");
    assert_eq!(ev.msg(), (id, "Hello, wörld".as_bytes().to_vec(), false));
    let echo = read_frame(&mut s).unwrap();
    assert!(echo.fin, "echo is one frame");
    assert_eq!(echo.opcode, OP_TEXT);
    assert_eq!(echo.payload, "Hello, wörld".as_bytes());
    s.write_all(&frame(true, OP_CLOSE, &close_payload(1000, "")))
        .unwrap();
    assert_eq!(read_frame(&mut s).unwrap().close_code().0, 1000);
    // Exactly one message was delivered: the next event is the close.
    assert_eq!(ev.close(), (id, 1000, String::new()));
    assert_eq!(srv.stop(), 0);
}

#[test]
fn fragmented_binary_arrives_whole() {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut s = raw_ws(srv.port, "/ws");
    let id = ev.open().id;
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    s.write_all(&frame(false, OP_BIN, &data[..1])).unwrap();
    s.write_all(&frame(false, OP_CONT, &data[1..2000])).unwrap();
    s.write_all(&frame(true, OP_CONT, &data[2000..])).unwrap();
    assert_eq!(ev.msg(), (id, data, true));
    drop(s);
    assert_eq!(ev.close().1, 1006);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn server_pings_a_silent_client() {
    let (srv, ev, _) = ws_server("/ws", false, |s| {
        assert_eq!(
            hs_set_limit(s, hs_limit::HS_LIMIT_WS_PING_INTERVAL_MS as c_int, 200),
            0
        );
    });
    let mut s = raw_ws(srv.port, "/ws");
    ev.open();
    let t0 = Instant::now();
    let ping = read_frame(&mut s).unwrap();
    assert_eq!(ping.opcode, OP_PING);
    assert!(
        t0.elapsed() >= Duration::from_millis(150),
        "pinged too early: {:?}",
        t0.elapsed()
    );
    // Answering keeps it: the next ping comes again after an interval, not a drop.
    s.write_all(&frame(true, OP_PONG, &ping.payload)).unwrap();
    let again = read_frame(&mut s).unwrap();
    assert_eq!(again.opcode, OP_PING);
    assert_eq!(hs_ws_count(srv.raw(), -1), 1);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn server_ping_reaches_tungstenite_client() {
    let (srv, ev, _) = ws_server("/ws", false, |s| {
        assert_eq!(
            hs_set_limit(s, hs_limit::HS_LIMIT_WS_PING_INTERVAL_MS as c_int, 200),
            0
        );
    });
    let mut ws = ws_client(srv.port, "/ws");
    ev.open();
    match ws.read().expect("a ping") {
        Message::Ping(p) => assert!(p.is_empty()),
        other => panic!("expected a ping, got {other:?}"),
    }
    assert_eq!(srv.stop(), 0);
}

#[test]
fn client_that_never_answers_pings_is_dropped_with_1006() {
    let (srv, ev, _) = ws_server("/ws", false, |s| {
        assert_eq!(
            hs_set_limit(s, hs_limit::HS_LIMIT_WS_PING_INTERVAL_MS as c_int, 100),
            0
        );
        assert_eq!(
            hs_set_limit(s, hs_limit::HS_LIMIT_WS_PING_TIMEOUT_MS as c_int, 200),
            0
        );
    });
    let mut s = raw_ws(srv.port, "/ws");
    let id = ev.open().id;
    let ping = read_frame(&mut s).unwrap();
    assert_eq!(ping.opcode, OP_PING);
    // No pong, nothing sent: the server ends the connection.
    expect_eof(&mut s);
    assert_eq!(ev.close(), (id, 1006, "ping timeout".to_string()));
    assert_eq!(hs_ws_count(srv.raw(), -1), 0);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn oversized_message_gets_1009() {
    let (srv, ev, _) = ws_server("/ws", true, |s| {
        assert_eq!(
            hs_set_limit(s, hs_limit::HS_LIMIT_WS_MAX_MESSAGE as c_int, 1024),
            0
        );
    });
    let mut ws = ws_client(srv.port, "/ws");
    let id = ev.open().id;
    // Exactly the limit passes.
    let ok = "a".repeat(1024);
    ws.send(Message::text(ok.clone())).unwrap();
    assert_eq!(read_text(&mut ws), ok);
    assert_eq!(ev.msg().1.len(), 1024);
    ws.send(Message::text("b".repeat(2000))).unwrap();
    assert_eq!(read_close(&mut ws).0, 1009);
    assert_eq!(ev.close(), (id, 1009, "message too big".to_string()));
    ev.none_pending();
    assert_eq!(srv.stop(), 0);
}

#[test]
fn oversized_fragmented_message_gets_1009() {
    let (srv, ev, _) = ws_server("/ws", false, |s| {
        assert_eq!(
            hs_set_limit(s, hs_limit::HS_LIMIT_WS_MAX_MESSAGE as c_int, 1024),
            0
        );
    });
    let mut s = raw_ws(srv.port, "/ws");
    let id = ev.open().id;
    // Each fragment is within the limit; together they are not.
    s.write_all(&frame(false, OP_BIN, &[1; 600])).unwrap();
    s.write_all(&frame(true, OP_CONT, &[2; 600])).unwrap();
    assert_eq!(read_frame(&mut s).unwrap().close_code().0, 1009);
    assert_eq!(ev.close().0, id);
    ev.none_pending();
    assert_eq!(srv.stop(), 0);
}

#[test]
fn invalid_utf8_text_gets_1007() {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut s = raw_ws(srv.port, "/ws");
    let id = ev.open().id;
    s.write_all(&frame(true, OP_TEXT, &[b'h', 0xff, b'i']))
        .unwrap();
    let f = read_frame(&mut s).unwrap();
    assert_eq!(f.close_code(), (1007, "invalid UTF-8".to_string()));
    assert_eq!(ev.close(), (id, 1007, "invalid UTF-8".to_string()));
    ev.none_pending();
    assert_eq!(srv.stop(), 0);
}

#[test]
fn invalid_utf8_across_fragments_gets_1007() {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut s = raw_ws(srv.port, "/ws");
    let id = ev.open().id;
    // "€" is E2 82 AC: the first fragment ends inside it (valid so far), the second breaks it.
    s.write_all(&frame(false, OP_TEXT, b"ok \xE2\x82")).unwrap();
    s.write_all(&frame(true, OP_CONT, b"\x28 no")).unwrap();
    let f = read_frame(&mut s).unwrap();
    assert_eq!(f.close_code().0, 1007);
    assert_eq!(ev.close(), (id, 1007, "invalid UTF-8".to_string()));
    ev.none_pending();
    assert_eq!(srv.stop(), 0);
}

#[test]
fn utf8_split_across_fragments_is_accepted() {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut s = raw_ws(srv.port, "/ws");
    let id = ev.open().id;
    s.write_all(&frame(false, OP_TEXT, b"price \xE2")).unwrap();
    s.write_all(&frame(false, OP_CONT, b"\x82")).unwrap();
    s.write_all(&frame(true, OP_CONT, b"\xAC 5")).unwrap();
    assert_eq!(ev.msg(), (id, "price € 5".as_bytes().to_vec(), false));
    assert_eq!(srv.stop(), 0);
}

// ---------------------------------------------------------------------------------------------
// Broadcast.

/// Connects `n` clients one after the other, each registered (open seen) before the next.
fn connect_many(port: u16, path: &str, n: usize, ev: &Events) -> Vec<(u64, Client)> {
    (0..n)
        .map(|_| {
            let ws = ws_client(port, path);
            (ev.open().id, ws)
        })
        .collect()
}

fn bcast(p: *mut httpsock::ffi::hs_server, text: &str, except: u64) -> c_int {
    hs_ws_broadcast(p, text.as_ptr().cast(), text.len(), 0, except)
}

#[test]
fn broadcast_to_200_clients_exactly_once_and_except() {
    let (srv, ev, _) = ws_server("/room", false, |_| {});
    let mut clients = connect_many(srv.port, "/room", 200, &ev);
    assert_eq!(hs_ws_count(srv.raw(), -1), 200);

    assert_eq!(bcast(srv.raw(), "first", 0), 200);
    let sender = clients[17].0;
    assert_eq!(bcast(srv.raw(), "second", sender), 199);
    assert_eq!(bcast(srv.raw(), "third", 0), 200);
    // Each client's stream is exactly its share, in order: a duplicate "first" would show up
    // where "second" is expected, and the skipped sender sees "third" right after "first".
    for (id, ws) in clients.iter_mut() {
        assert_eq!(read_text(ws), "first", "client {id}");
        if *id != sender {
            assert_eq!(read_text(ws), "second", "client {id}");
        }
        assert_eq!(read_text(ws), "third", "client {id}");
    }
    // Binary broadcast keeps its type.
    let bin = [0u8, 159, 146, 150];
    assert_eq!(
        hs_ws_broadcast(srv.raw(), bin.as_ptr().cast(), bin.len(), 1, 0),
        200
    );
    for (_, ws) in clients.iter_mut() {
        assert_eq!(read_data(ws), Message::binary(bin.to_vec()));
    }
    // Invalid UTF-8 as text is refused and reaches nobody.
    assert_eq!(
        hs_ws_broadcast(srv.raw(), bin.as_ptr().cast(), bin.len(), 0, 0),
        INVALID
    );
    assert_eq!(bcast(srv.raw(), "last", 0), 200);
    for (_, ws) in clients.iter_mut() {
        assert_eq!(read_text(ws), "last");
    }
    drop(clients);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn broadcast_route_reaches_only_that_route() {
    let (tx, rx) = channel();
    let (mut ra, mut rb) = (-1, -1);
    let srv = TestServer::start(|s| {
        assert_eq!(hs_websocket(s, 1), 0);
        ra = accept(s, "/a", recorder(tx.clone(), None));
        rb = accept(s, "/b/{x}", recorder(tx, None));
    });
    assert!(ra >= 0 && rb >= 0 && ra != rb);
    let ev = Events(rx);
    let mut a = connect_many(srv.port, "/a", 3, &ev);
    let mut b = connect_many(srv.port, "/b/1", 2, &ev);
    assert_eq!(hs_ws_count(srv.raw(), ra), 3);
    assert_eq!(hs_ws_count(srv.raw(), rb), 2);
    assert_eq!(hs_ws_count(srv.raw(), -1), 5);
    assert_eq!(hs_ws_count(srv.raw(), 999), 0);

    let to_a = "to-a";
    assert_eq!(
        hs_ws_broadcast_route(srv.raw(), ra, to_a.as_ptr().cast(), to_a.len(), 0, 0),
        3
    );
    let to_b = "to-b";
    assert_eq!(
        hs_ws_broadcast_route(srv.raw(), rb, to_b.as_ptr().cast(), to_b.len(), 0, b[0].0),
        1
    );
    assert_eq!(bcast(srv.raw(), "all", 0), 5);
    for (_, ws) in a.iter_mut() {
        assert_eq!(read_text(ws), "to-a");
        assert_eq!(read_text(ws), "all");
    }
    assert_eq!(read_text(&mut b[0].1), "all", "excepted client");
    assert_eq!(read_text(&mut b[1].1), "to-b");
    assert_eq!(read_text(&mut b[1].1), "all");
    assert_eq!(
        hs_ws_broadcast_route(srv.raw(), -1, to_a.as_ptr().cast(), to_a.len(), 0, 0),
        INVALID
    );
    assert_eq!(srv.stop(), 0);
}

// ---------------------------------------------------------------------------------------------
// Sending from elsewhere, listing clients.

#[test]
fn send_from_another_thread_and_send_errors() {
    let (srv, ev, _) = ws_server("/ws", false, |_| {});
    let mut ws = ws_client(srv.port, "/ws");
    let id = ev.open().id;
    let p = srv.ptr;
    let rc = std::thread::spawn(move || {
        let p = p;
        let msg = "from another thread";
        hs_ws_send(p.0, id, msg.as_ptr().cast(), msg.len(), 0)
    })
    .join()
    .unwrap();
    assert_eq!(rc, 0);
    assert_eq!(read_text(&mut ws), "from another thread");

    let x = "x";
    assert_eq!(
        hs_ws_send(srv.raw(), 987_654_321, x.as_ptr().cast(), 1, 0),
        NOT_FOUND
    );
    let bad = [b'a', 0xc3, 0x28];
    assert_eq!(
        hs_ws_send(srv.raw(), id, bad.as_ptr().cast(), bad.len(), 0),
        INVALID
    );
    assert!(!last_error().is_empty());
    assert_eq!(
        hs_ws_send(srv.raw(), id, std::ptr::null(), 3, 1),
        INVALID,
        "NULL data with a length"
    );
    // The same bytes as binary are fine, and an empty message too.
    assert_eq!(
        hs_ws_send(srv.raw(), id, bad.as_ptr().cast(), bad.len(), 1),
        0
    );
    assert_eq!(read_data(&mut ws), Message::binary(bad.to_vec()));
    assert_eq!(hs_ws_send(srv.raw(), id, std::ptr::null(), 0, 0), 0);
    assert_eq!(read_text(&mut ws), "");
    assert_eq!(srv.stop(), 0);
}

#[test]
fn send_from_inside_open_callback() {
    let (tx, rx) = channel();
    let srv = TestServer::start(|s| {
        assert_eq!(hs_websocket(s, 1), 0);
        let p = Ptr(s);
        let tx = Mutex::new(tx);
        let cbs = WsCallbacks {
            open: Box::new(move |id, _| {
                let m = "welcome";
                let rc = hs_ws_send(whole(p), id, m.as_ptr().cast(), m.len(), 0);
                let _ = tx.lock().unwrap().send(rc);
            }),
            ..Default::default()
        };
        assert!(accept(s, "/ws", cbs) >= 0);
    });
    let mut ws = ws_client(srv.port, "/ws");
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 0);
    assert_eq!(read_text(&mut ws), "welcome");
    assert_eq!(srv.stop(), 0);
}

fn buf_string(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).expect("NUL-terminated");
    String::from_utf8(buf[..end].to_vec()).unwrap()
}

#[test]
fn count_clients_peer_and_path() {
    let (srv, ev, route_id) = ws_server("/c/{x}", false, |_| {});
    let p = srv.raw();
    assert_eq!(hs_ws_count(p, -1), 0);
    assert_eq!(hs_ws_clients(p, -1, std::ptr::null_mut(), 0), 0);
    let paths = ["/c/one", "/c/two", "/c/three"];
    let mut clients = Vec::new();
    for path in paths {
        let ws = ws_client(srv.port, path);
        clients.push((ev.open().id, ws));
    }
    let ids: Vec<u64> = clients.iter().map(|c| c.0).collect();
    assert_eq!(hs_ws_count(p, -1), 3);
    assert_eq!(hs_ws_count(p, route_id), 3);

    let mut out = [0u64; 8];
    assert_eq!(hs_ws_clients(p, -1, out.as_mut_ptr(), out.len()), 3);
    assert_eq!(&out[..3], &ids[..], "connection order");
    assert_eq!(&out[3..], &[0; 5]);
    let mut small = [u64::MAX; 3];
    assert_eq!(hs_ws_clients(p, route_id, small.as_mut_ptr(), 2), 3);
    assert_eq!(small, [ids[0], ids[1], u64::MAX], "cap 2 writes 2");
    assert_eq!(hs_ws_clients(p, -1, std::ptr::null_mut(), 0), 3);
    assert_eq!(hs_ws_clients(p, -1, std::ptr::null_mut(), 2), INVALID);
    assert_eq!(hs_ws_clients(p, 999, out.as_mut_ptr(), out.len()), 0);

    for (i, (id, ws)) in clients.iter().enumerate() {
        let local = ws.get_ref().local_addr().unwrap();
        let mut buf = [0xAAu8; 64];
        let mut port = 0u16;
        let n = hs_ws_client_peer(p, *id, buf.as_mut_ptr().cast(), buf.len(), &mut port);
        assert_eq!(n, 9);
        assert_eq!(buf_string(&buf), "127.0.0.1");
        assert_eq!(port, local.port());
        let n = hs_ws_client_path(p, *id, buf.as_mut_ptr().cast(), buf.len());
        assert_eq!(n as usize, paths[i].len());
        assert_eq!(buf_string(&buf), paths[i]);
    }
    // Truncation like snprintf: the full length is returned, cap-1 bytes and a NUL written.
    let mut tiny = [0xAAu8; 5];
    assert_eq!(
        hs_ws_client_peer(p, ids[0], tiny.as_mut_ptr().cast(), 4, std::ptr::null_mut()),
        9
    );
    assert_eq!(&tiny, b"127\0\xAA");
    assert_eq!(hs_ws_client_path(p, ids[2], tiny.as_mut_ptr().cast(), 5), 8);
    assert_eq!(&tiny, b"/c/t\0");
    assert_eq!(
        hs_ws_client_path(p, ids[2], std::ptr::null_mut(), 0),
        8,
        "cap 0 only measures"
    );
    let mut buf = [0u8; 16];
    assert_eq!(
        hs_ws_client_peer(
            p,
            424_242,
            buf.as_mut_ptr().cast(),
            16,
            std::ptr::null_mut()
        ),
        NOT_FOUND
    );
    assert_eq!(
        hs_ws_client_path(p, 424_242, buf.as_mut_ptr().cast(), 16),
        NOT_FOUND
    );

    // The middle client leaves: the listing follows.
    let (id1, mut ws1) = clients.remove(1);
    ws1.close(None).unwrap();
    read_close(&mut ws1);
    finish_close(&mut ws1);
    assert_eq!(ev.close().0, id1);
    assert_eq!(hs_ws_count(p, -1), 2);
    assert_eq!(hs_ws_clients(p, -1, out.as_mut_ptr(), out.len()), 2);
    assert_eq!(&out[..2], &[ids[0], ids[2]]);
    assert_eq!(
        hs_ws_client_path(p, id1, buf.as_mut_ptr().cast(), 16),
        NOT_FOUND
    );
    assert_eq!(srv.stop(), 0);
}

// ---------------------------------------------------------------------------------------------
// Refused upgrades.

fn refusal_server(ws_on: bool) -> TestServer {
    TestServer::start(|s| {
        assert_eq!(hs_websocket(s, ws_on as c_int), 0);
        let cbs = WsCallbacks {
            open: Box::new(|_, _| panic!("no client may open here")),
            ..Default::default()
        };
        assert!(accept(s, "/ws", cbs) >= 0);
        assert!(
            route(s, "GET", "/plain", |req, res| {
                let up = header(req, "upgrade").unwrap_or_default();
                respond(res, 200, "", format!("plain upgrade={up}").as_bytes());
            }) >= 0
        );
    })
}

#[test]
fn upgrade_without_accept_route_is_404_and_stays_http() {
    let srv = refusal_server(true);
    let mut s = srv.connect();
    s.write_all(upgrade_request("/nowhere", "dGhlIHNhbXBsZSBub25jZQ==", "13").as_bytes())
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_response(&mut r, false).expect("an answer");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.text(), "404 Not Found");
    assert_eq!(resp.header("x-server-response-type"), Some("NOT_FOUND"));
    assert_eq!(resp.header("upgrade"), None);
    assert_eq!(resp.header("sec-websocket-accept"), None);
    // Not upgraded: the same connection still speaks HTTP.
    s.write_all(b"GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let next = read_response(&mut r, false).expect("a second HTTP answer");
    assert_eq!(next.status, 200);
    assert_eq!(next.text(), "plain upgrade=");
    assert_eq!(hs_ws_count(srv.raw(), -1), 0);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn upgrade_with_bad_key_is_400() {
    let srv = refusal_server(true);
    for key in [
        "short",
        "dGhlIHNhbXBsZSBub25jZQ=",
        "dGhlIHNhbXBsZSBub25jZ!==",
    ] {
        let resp =
            raw_request(srv.port, upgrade_request("/ws", key, "13").as_bytes()).expect("an answer");
        assert_eq!(resp.status, 400, "key {key}");
        assert_eq!(
            resp.header("x-server-response-type"),
            Some("INVALID_WS_KEY")
        );
        assert_eq!(resp.header("upgrade"), None);
    }
    // Without the key at all.
    let req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
               Sec-WebSocket-Version: 13\r\n\r\n";
    let resp = raw_request(srv.port, req.as_bytes()).unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.header("x-server-response-type"),
        Some("INVALID_WS_KEY")
    );
    assert_eq!(hs_ws_count(srv.raw(), -1), 0);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn upgrade_with_version_8_is_426() {
    let srv = refusal_server(true);
    let resp = raw_request(
        srv.port,
        upgrade_request("/ws", "dGhlIHNhbXBsZSBub25jZQ==", "8").as_bytes(),
    )
    .expect("an answer");
    assert_eq!(resp.status, 426);
    assert_eq!(resp.header("sec-websocket-version"), Some("13"));
    assert_eq!(resp.header("upgrade"), None);
    assert_eq!(hs_ws_count(srv.raw(), -1), 0);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn websocket_disabled_routes_upgrades_as_http() {
    let srv = refusal_server(false);
    let up = upgrade_request("/ws", "dGhlIHNhbXBsZSBub25jZQ==", "13");
    let resp = raw_request(srv.port, up.as_bytes()).expect("an answer");
    assert_eq!(resp.status, 404, "no HTTP route for /ws");
    assert_eq!(resp.header("x-server-response-type"), Some("NOT_FOUND"));
    assert_eq!(resp.header("upgrade"), None);
    let plain = upgrade_request("/plain", "dGhlIHNhbXBsZSBub25jZQ==", "13");
    let resp = raw_request(srv.port, plain.as_bytes()).expect("an answer");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "plain upgrade=websocket");
    assert_eq!(hs_ws_count(srv.raw(), -1), 0);
    assert_eq!(srv.stop(), 0);
}

// ---------------------------------------------------------------------------------------------
// A client that does not read.

#[test]
fn non_reading_client_is_dropped_reader_gets_everything() {
    let (srv, ev, _) = ws_server("/ws", false, |s| {
        assert_eq!(
            hs_set_limit(s, hs_limit::HS_LIMIT_WS_SEND_QUEUE as c_int, 4),
            0
        );
    });
    // The non-reader: handshake done, then never reads a byte.
    let stalled = raw_ws(srv.port, "/ws");
    let stalled_id = ev.open().id;
    let reader = ws_client(srv.port, "/ws");
    let reader_id = ev.open().id;

    // The reader reads on its own thread and acknowledges each message, so that its queue never
    // holds more than one: only the non-reader may fill its queue.
    let (ack_tx, ack_rx) = channel::<(u8, usize)>();
    let reader_thread = std::thread::spawn(move || {
        let mut ws = reader;
        loop {
            match read_data(&mut ws) {
                Message::Binary(b) => {
                    let tag = b[0];
                    assert!(b.iter().all(|&x| x == tag), "corrupt message");
                    if ack_tx.send((tag, b.len())).is_err() {
                        return;
                    }
                    if tag == 0 {
                        return;
                    }
                }
                other => panic!("reader got {other:?}"),
            }
        }
    });

    const SIZE: usize = 512 * 1024;
    let mut dropped = None;
    let mut sent = 0usize;
    let t0 = Instant::now();
    // Up to 128 MiB: far more than the socket buffers of the non-reader can hold.
    for i in 0..256usize {
        let tag = (i % 250 + 1) as u8;
        let msg = vec![tag; SIZE];
        let n = hs_ws_broadcast(srv.raw(), msg.as_ptr().cast(), msg.len(), 1, 0);
        assert!(n == 1 || n == 2, "broadcast reached {n}");
        sent += 1;
        assert_eq!(
            ack_rx.recv_timeout(WAIT).expect("reader got the message"),
            (tag, SIZE),
            "message {i}"
        );
        if let Ok(e) = ev.0.try_recv() {
            dropped = Some(e);
            break;
        }
    }
    let dropped = dropped.unwrap_or_else(|| {
        panic!(
            "the non-reading client was not dropped after {sent} messages of {SIZE} bytes \
             ({:?}); count = {}",
            t0.elapsed(),
            hs_ws_count(srv.raw(), -1)
        )
    });
    assert_eq!(
        dropped,
        Ev::Close(stalled_id, 1008, "send queue full".to_string())
    );
    assert_eq!(hs_ws_count(srv.raw(), -1), 1);
    let mut one = [0u64; 2];
    assert_eq!(hs_ws_clients(srv.raw(), -1, one.as_mut_ptr(), 2), 1);
    assert_eq!(one[0], reader_id);
    // The reader still receives everything afterwards.
    for _ in 0..3 {
        let msg = vec![7u8; SIZE];
        assert_eq!(
            hs_ws_broadcast(srv.raw(), msg.as_ptr().cast(), msg.len(), 1, 0),
            1
        );
        assert_eq!(ack_rx.recv_timeout(WAIT).unwrap(), (7, SIZE));
    }
    let x = "x";
    assert_eq!(
        hs_ws_send(srv.raw(), stalled_id, x.as_ptr().cast(), 1, 0),
        NOT_FOUND
    );
    let end = [0u8; 1];
    assert_eq!(hs_ws_broadcast(srv.raw(), end.as_ptr().cast(), 1, 1, 0), 1);
    assert_eq!(ack_rx.recv_timeout(WAIT).unwrap(), (0, 1));
    reader_thread.join().unwrap();
    drop(stalled);
    assert_eq!(srv.stop(), 0);
}

/// Keeps the helpers for the shared state honest (a callback's Arc captured by reference).
#[test]
fn close_callback_runs_once_per_client() {
    let closes = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = channel();
    let srv = TestServer::start(|s| {
        assert_eq!(hs_websocket(s, 1), 0);
        let c2 = closes.clone();
        let tx = Mutex::new(tx);
        let cbs = WsCallbacks {
            close: Box::new(move |id, code, _| {
                c2.lock().unwrap().push((id, code));
                let _ = tx.lock().unwrap().send(());
            }),
            ..Default::default()
        };
        assert!(accept(s, "/ws", cbs) >= 0);
    });
    let mut a = ws_client(srv.port, "/ws");
    let b = ws_client(srv.port, "/ws");
    a.close(None).unwrap();
    read_close(&mut a);
    finish_close(&mut a);
    drop(b);
    for _ in 0..2 {
        rx.recv_timeout(WAIT).unwrap();
    }
    assert_eq!(srv.stop(), 0);
    match rx.recv_timeout(Duration::from_millis(1)) {
        Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
        Ok(()) => panic!("a third close callback"),
    }
    let mut got = closes.lock().unwrap().clone();
    got.sort();
    assert_eq!(got.len(), 2);
    let codes: Vec<i32> = got.iter().map(|g| g.1).collect();
    assert!(codes.contains(&1005) && codes.contains(&1006), "{codes:?}");
}

// ---------------------------------------------------------------------------------------------
// What a message handler sends its own client is written by that client's task right after the
// handler returns (no queue): the order must hold, and the send-queue limit must still apply.

#[test]
fn replies_during_a_delivery_keep_order_and_the_queue_limit() {
    let (tx, rx) = channel();
    let srv = TestServer::start(|s| {
        assert_eq!(hs_websocket(s, 1), 0);
        assert_eq!(
            hs_set_limit(s, hs_limit::HS_LIMIT_WS_SEND_QUEUE as c_int, 8),
            0
        );
        let p = Ptr(s);
        let cbs = WsCallbacks {
            message: Box::new(move |id, data, _| {
                let s = whole(p);
                let text = String::from_utf8_lossy(data).into_owned();
                let send = |m: &str| hs_ws_send(s, id, m.as_ptr().cast(), m.len(), 0);
                let rcs: Vec<c_int> = match text.as_str() {
                    // Three sends and a broadcast (which reaches this client too), in order.
                    "order" => vec![
                        send("one"),
                        send("two"),
                        hs_ws_broadcast(s, "all".as_ptr().cast(), 3, 0, 0),
                        send("three"),
                    ],
                    // More than the limit of 8 in one delivery.
                    "flood" => (0..20).map(|i| send(&format!("f{i}"))).collect(),
                    // Data, then a close, then data that must not be sent.
                    "bye" => vec![
                        send("last"),
                        hs_ws_close(s, id, 4000, c("done").as_ptr()),
                        send("never"),
                    ],
                    _ => vec![],
                };
                let _ = tx.send(rcs);
            }),
            ..Default::default()
        };
        assert!(accept(s, "/ws", cbs) >= 0);
    });
    let rcs = Events2(rx);

    let mut ws = ws_client(srv.port, "/ws");
    ws.send(Message::text("order")).unwrap();
    assert_eq!(rcs.next(), vec![0, 0, 1, 0]);
    for want in ["one", "two", "all", "three"] {
        assert_eq!(read_text(&mut ws), want);
    }

    ws.send(Message::text("bye")).unwrap();
    let bye = rcs.next();
    assert_eq!(&bye[..2], &[0, 0]);
    assert_eq!(read_text(&mut ws), "last");
    match read_data(&mut ws) {
        Message::Close(Some(f)) => {
            assert_eq!((u16::from(f.code), f.reason.as_str()), (4000, "done"))
        }
        other => panic!("expected the close, got {other:?}"),
    }

    // Our Close reply goes out with the flush; then the connection ends.
    let _ = ws.flush();
    drop(ws);
    let mut ws = ws_client(srv.port, "/ws");
    ws.send(Message::text("flood")).unwrap();
    let rcs_flood = rcs.next();
    assert!(rcs_flood[..8].iter().all(|&rc| rc == 0), "{rcs_flood:?}");
    assert!(
        rcs_flood[8..]
            .iter()
            .all(|&rc| rc == hs_status::HS_ERR_FULL as c_int),
        "beyond the limit of 8: {rcs_flood:?}"
    );
    // The client is dropped with 1008, and gets none of the flood.
    loop {
        match ws.read() {
            Ok(Message::Close(Some(f))) => {
                assert_eq!(u16::from(f.code), 1008);
                break;
            }
            Ok(Message::Text(t)) => panic!("got {t} from an overflowed delivery"),
            Ok(_) => continue,
            Err(e) => panic!("expected a 1008 close, got {e}"),
        }
    }
    assert_eq!(srv.stop(), 0);
}

struct Events2(Receiver<Vec<c_int>>);

impl Events2 {
    fn next(&self) -> Vec<c_int> {
        self.0.recv_timeout(WAIT).expect("the handler ran")
    }
}
