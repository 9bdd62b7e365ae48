//! The ABI added for hosts like PHP: packed requests (`hs_route_packed`, `hs_request_packed`,
//! `hs_ws_client_head`)
//! and worker clusters (`hs_cluster_join`), through the C ABI with real clients.
mod common;
use common::*;
use httpsock::ffi::api::*;
use httpsock::ffi::{hs_server, hs_status};
use std::ffi::{c_int, c_void};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;
use tungstenite::Message;

type Ws = tungstenite::WebSocket<TcpStream>;

fn ws_connect(port: u16, path: &str) -> Ws {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let url = format!("ws://127.0.0.1:{port}{path}");
    tungstenite::client::client(url, s).expect("handshake").0
}

fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Splits a packed head into its 12 fixed fields and the capture pairs; checks that splitting on
/// NUL gives exactly 12 + 2 * captures fields, as the format promises.
fn split_head(w: &[u8]) -> (Vec<String>, Vec<(String, String)>) {
    let all: Vec<String> = w
        .split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    assert!(all.len() >= 12, "{} fields: {all:?}", all.len());
    let ncaps: usize = all[3].parse().unwrap();
    assert_eq!(all.len(), 12 + 2 * ncaps, "{all:?}");
    let caps = all[12..]
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    (all[..12].to_vec(), caps)
}

#[test]
fn packed_route_gets_the_head_and_the_body() {
    unsafe extern "C-unwind" fn handler(
        ud: *mut c_void,
        head: *const u8,
        head_len: usize,
        body: *const u8,
        body_len: usize,
        res: *mut hs_response,
    ) {
        assert_eq!(*head.add(head_len), 0, "NUL after the head");
        assert!(!body.is_null(), "a valid body pointer even when empty");
        let head = std::slice::from_raw_parts(head, head_len).to_vec();
        let body = std::slice::from_raw_parts(body, body_len).to_vec();
        (*(ud as *const mpsc::Sender<(Vec<u8>, Vec<u8>)>))
            .send((head, body))
            .unwrap();
        let body = b"packed ok";
        hs_respond(
            res,
            201,
            std::ptr::null(),
            0,
            body.as_ptr().cast(),
            body.len(),
        );
    }
    let (tx, rx) = mpsc::channel::<(Vec<u8>, Vec<u8>)>();
    let tx = keep(tx);
    let mut route_id = -1;
    let srv = TestServer::start(|s| {
        let (m, p) = (c("POST"), c("/item/{kind}/(\\d+)"));
        route_id = hs_route_packed(s, m.as_ptr(), p.as_ptr(), Some(handler), tx);
        assert!(route_id >= 0, "{}", last_error());
    });
    let body = b"a\0b=c";
    let req = format!(
        "POST /item/book/42?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Test: one\r\nX-Test: two\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut raw = req.into_bytes();
    raw.extend_from_slice(body);
    let r = raw_request(srv.port, &raw).expect("response");
    assert_eq!((r.status, r.text().as_str()), (201, "packed ok"));
    let (head, b) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (f, caps) = split_head(&head);
    assert_eq!(f[0], route_id.to_string());
    assert!(f[1].parse::<u64>().unwrap() > 0, "conn id");
    assert!(f[2].parse::<u16>().unwrap() > 0, "peer port");
    assert_eq!(
        &f[3..11],
        [
            "2",
            "POST",
            "/item/book/42",
            "x=1&y=2",
            "/item/book/42?x=1&y=2",
            "HTTP/1.1",
            "http",
            "127.0.0.1"
        ]
    );
    assert!(f[11].contains("host: h\r\n"), "{}", f[11]);
    assert!(
        f[11].contains("x-test: one\r\nx-test: two\r\n"),
        "{}",
        f[11]
    );
    assert_eq!(
        caps,
        vec![
            ("kind".to_string(), "book".to_string()),
            (String::new(), "42".to_string())
        ]
    );
    assert_eq!(b, body, "the body keeps its NUL byte");
    assert_eq!(srv.stop(), 0);
}

#[test]
fn packed_head_in_a_websocket_open_callback_and_from_the_hub() {
    let (tx, rx) = mpsc::channel::<(u64, Vec<u8>)>();
    let tx = std::sync::Mutex::new(tx);
    let (closed_tx, closed) = mpsc::channel::<c_int>();
    let closed_tx = std::sync::Mutex::new(closed_tx);
    let srv = TestServer::start(|s| {
        assert_eq!(hs_websocket(s, 1), 0);
        assert_eq!(hs_ws_keep_heads(s, 1), 0);
        let server = s as usize;
        let cbs = WsCallbacks {
            close: Box::new(move |id, _, _| {
                // Out of the hub already, yet still readable during its own close callback.
                let n = hs_ws_client_head(server as *const hs_server, id, std::ptr::null_mut(), 0);
                closed_tx.lock().unwrap().send(n).unwrap();
            }),
            open: Box::new(move |id, req| {
                let mut len = 0;
                let p = hs_request_packed(req, &mut len);
                let w = unsafe { std::slice::from_raw_parts(p, len) }.to_vec();
                assert_eq!(unsafe { *p.add(len) }, 0, "NUL after the buffer");
                tx.lock().unwrap().send((id, w)).unwrap();
            }),
            ..Default::default()
        };
        assert!(accept(s, "/room/{name}", cbs) >= 0);
    });
    let _ws = ws_connect(srv.port, "/room/blue?k=v");
    let (id, head) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (f, caps) = split_head(&head);
    assert_eq!(&f[4..8], ["GET", "/room/blue", "k=v", "/room/blue?k=v"]);
    assert!(f[11].contains("sec-websocket-key: "));
    assert_eq!(caps, vec![("name".to_string(), "blue".to_string())]);
    // The hub keeps the same head for the client's life: a host needs no registry of its own.
    let full = hs_ws_client_head(srv.raw(), id, std::ptr::null_mut(), 0);
    assert_eq!(full as usize, head.len());
    let mut small = [0u8; 8];
    assert_eq!(
        hs_ws_client_head(srv.raw(), id, small.as_mut_ptr(), 8),
        full
    );
    assert_eq!(&small[..], &head[..8], "truncated to the capacity");
    let mut buf = vec![0u8; full as usize];
    assert_eq!(
        hs_ws_client_head(srv.raw(), id, buf.as_mut_ptr(), buf.len()),
        full
    );
    assert_eq!(buf, head);
    assert_eq!(
        hs_ws_client_head(srv.raw(), id + 1000, buf.as_mut_ptr(), buf.len()),
        hs_status::HS_ERR_NOT_FOUND as c_int
    );
    drop(_ws);
    assert_eq!(closed.recv_timeout(Duration::from_secs(10)).unwrap(), full);
    assert_eq!(
        hs_ws_client_head(srv.raw(), id, std::ptr::null_mut(), 0),
        hs_status::HS_ERR_NOT_FOUND as c_int,
        "gone after its close callback"
    );
}

struct Worker {
    srv: TestServer,
    opened: mpsc::Receiver<u64>,
}

/// One cluster worker: a server (slot of slots in `group`) with an accept route on /ws that
/// reports each client id as it opens.
fn worker(group: &str, slot: c_int, slots: c_int) -> Worker {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = TestServer::start(|s: *mut hs_server| {
        assert_eq!(hs_websocket(s, 1), 0);
        let cbs = WsCallbacks {
            open: Box::new(move |id, _| tx.lock().unwrap().send(id).unwrap()),
            ..Default::default()
        };
        assert!(accept(s, "/ws", cbs) >= 0);
        let g = c(group);
        assert_eq!(
            hs_cluster_join(s, g.as_ptr(), slot, slots),
            0,
            "{}",
            last_error()
        );
        if std::env::var("HS_DEBUG").is_ok() {
            httpsock::ffi::log::hs_set_debug(s, 1);
        }
    });
    Worker { srv, opened: rx }
}

#[test]
fn cluster_forwards_broadcast_send_and_close_between_workers() {
    let group = format!("test-{}", std::process::id());
    let w0 = worker(&group, 0, 2);
    let w1 = worker(&group, 1, 2);
    let mut a = ws_connect(w0.srv.port, "/ws");
    let mut b = ws_connect(w1.srv.port, "/ws");
    let id_a = w0.opened.recv_timeout(Duration::from_secs(5)).unwrap();
    let id_b = w1.opened.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_ne!(id_a, id_b, "ids are unique across workers");
    assert_eq!(httpsock::engine::fanout::slot_of(id_a), Some(0));
    assert_eq!(httpsock::engine::fanout::slot_of(id_b), Some(1));
    // Heads are kept only on request (hs_ws_keep_heads): these workers did not ask.
    assert_eq!(
        hs_ws_client_head(w0.srv.raw(), id_a, std::ptr::null_mut(), 0),
        hs_status::HS_ERR_STATE as c_int
    );
    assert!(
        last_error().contains("hs_ws_keep_heads"),
        "{}",
        last_error()
    );

    // A broadcast from worker 0 reaches its own client and worker 1's.
    let msg = b"to everyone";
    let n = hs_ws_broadcast(w0.srv.raw(), msg.as_ptr().cast(), msg.len(), 0, 0);
    assert_eq!(n, 1, "counts local recipients");
    assert_eq!(next_text(&mut a), "to everyone");
    assert_eq!(next_text(&mut b), "to everyone");

    // A send from worker 0 to worker 1's client is forwarded.
    let msg = b"just for b";
    assert_eq!(
        hs_ws_send(w0.srv.raw(), id_b, msg.as_ptr().cast(), msg.len(), 0),
        0,
        "{}",
        last_error()
    );
    assert_eq!(next_text(&mut b), "just for b");

    // Except skips the named client on whichever worker it is.
    let msg = b"not for b";
    hs_ws_broadcast(w0.srv.raw(), msg.as_ptr().cast(), msg.len(), 0, id_b);
    assert_eq!(next_text(&mut a), "not for b");
    let msg = b"then for b";
    assert_eq!(
        hs_ws_send(w0.srv.raw(), id_b, msg.as_ptr().cast(), msg.len(), 0),
        0
    );
    assert_eq!(next_text(&mut b), "then for b", "b got nothing in between");

    // A close from worker 1 for worker 0's client is forwarded with its code.
    let reason = c("moved");
    assert_eq!(hs_ws_close(w1.srv.raw(), id_a, 4002, reason.as_ptr()), 0);
    loop {
        match a.read() {
            Ok(Message::Close(Some(f))) => {
                assert_eq!((u16::from(f.code), f.reason.as_str()), (4002, "moved"));
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    }
    // An id of a slot that does not exist is refused; invalid codes are refused before forwarding.
    let bogus = httpsock::engine::fanout::first_id(7) + 1;
    let m = b"x";
    assert_eq!(
        hs_ws_send(w0.srv.raw(), bogus, m.as_ptr().cast(), 1, 0),
        hs_status::HS_ERR_NOT_FOUND as c_int
    );
    assert_eq!(
        hs_ws_close(w0.srv.raw(), id_b, 1005, std::ptr::null()),
        hs_status::HS_ERR_INVALID as c_int
    );
}

#[test]
fn cluster_join_checks_its_arguments() {
    let srv = TestServer::start(|s| {
        let g = c("ok-group");
        assert_eq!(
            hs_cluster_join(s, g.as_ptr(), 2, 2),
            hs_status::HS_ERR_INVALID as c_int
        );
        let bad = c("a/b");
        assert_eq!(
            hs_cluster_join(s, bad.as_ptr(), 0, 2),
            hs_status::HS_ERR_INVALID as c_int
        );
        assert_eq!(
            hs_cluster_join(s, std::ptr::null(), 0, 2),
            hs_status::HS_ERR_INVALID as c_int
        );
    });
    // Once the loop has served a request it runs: joining now is too late.
    assert_eq!(get(srv.port, "/").status, 404);
    let g = c("late");
    assert_eq!(
        hs_cluster_join(srv.raw(), g.as_ptr(), 0, 2),
        hs_status::HS_ERR_STATE as c_int,
        "after run"
    );
}

#[test]
fn worker_serves_its_own_socket_and_the_adopted_parent_socket() {
    use httpsock::ffi::api::*;
    // The "parent": bound, never run (as before a fork). It lets workers bind beside it.
    let addr = c("127.0.0.1");
    let parent = hs_new(addr.as_ptr(), 0);
    assert_eq!(
        hs_listener_fd(parent),
        hs_status::HS_ERR_STATE as c_int,
        "before start"
    );
    assert_eq!(hs_start(parent), 0, "{}", last_error());
    let port = hs_port(parent);
    assert_eq!(hs_set_reuse_port(parent, 1), 0, "{}", last_error());
    let fd = hs_listener_fd(parent);
    assert!(fd >= 0, "{}", last_error());

    // The "worker": its own SO_REUSEPORT socket on the same port, plus the parent's.
    let worker = TestServer::start_on("127.0.0.1", port, |s| {
        assert_eq!(hs_set_reuse_port(s, 1), 0);
        assert_eq!(hs_adopt_listener(s, fd), 0, "{}", last_error());
        assert_eq!(hs_adopt_listener(s, -1), hs_status::HS_ERR_INVALID as c_int);
        let file = std::fs::File::open("Cargo.toml").unwrap();
        use std::os::fd::AsRawFd;
        assert_eq!(
            hs_adopt_listener(s, file.as_raw_fd()),
            hs_status::HS_ERR_INVALID as c_int
        );
        route(s, "GET", "/", |_, res| {
            respond(res, 200, "", b"worker");
        });
    });
    assert_eq!(worker.port as c_int, port);
    // New connections land on either socket (the kernel picks); every one must be answered.
    for i in 0..60 {
        let r = get(worker.port, "/");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "worker"),
            "connection {i}"
        );
    }
    hs_free(parent);
    // The worker's duplicate keeps the adopted socket alive after the parent freed its own.
    for _ in 0..20 {
        assert_eq!(get(worker.port, "/").status, 200);
    }
}
