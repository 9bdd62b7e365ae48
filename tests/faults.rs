//! A Rust host's callback that panics (C cannot unwind; a Rust host can, through the
//! `C-unwind` callback types) is caught at the engine's boundary: the request gets a 500, the
//! WebSocket client and the timer keep working, and the server goes on.
mod common;
use common::*;
use httpsock::ffi::api::*;
use std::ffi::c_void;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn panicking_handler_gives_500_and_the_server_goes_on() {
    let srv = TestServer::start(|s| {
        route(s, "GET", "/boom", |_, _| panic!("handler bug"));
        route(s, "GET", "/ok", |_, res| {
            respond(res, 200, "", b"fine");
        });
    });
    let r = get(srv.port, "/boom");
    assert_eq!(
        (r.status, r.text().as_str()),
        (500, "An error occurred on the server.")
    );
    assert_eq!(r.header("x-server-response-type"), Some("SERVER_ERROR"));
    for _ in 0..3 {
        let r = get(srv.port, "/ok");
        assert_eq!((r.status, r.text().as_str()), (200, "fine"));
    }
    assert_eq!(srv.stop(), 0);
}

#[test]
fn panicking_websocket_callback_leaves_the_client_connected() {
    let srv = TestServer::start(|s| {
        assert_eq!(hs_websocket(s, 1), 0);
        let server = Ptr(s);
        let cbs = WsCallbacks {
            message: Box::new(move |id, data, _| {
                if data == b"panic" {
                    panic!("message handler bug");
                }
                let server = server;
                hs_ws_send(server.0, id, data.as_ptr().cast(), data.len(), 0);
            }),
            ..Default::default()
        };
        assert!(accept(s, "/ws", cbs) >= 0);
    });
    let stream = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let url = format!("ws://127.0.0.1:{}/ws", srv.port);
    let (mut ws, _) = tungstenite::client::client(url, stream).unwrap();
    ws.send(tungstenite::Message::text("panic")).unwrap();
    ws.send(tungstenite::Message::text("still here")).unwrap();
    match ws.read().unwrap() {
        tungstenite::Message::Text(t) => assert_eq!(t.as_str(), "still here"),
        other => panic!("expected the echo, got {other:?}"),
    }
}

#[test]
fn panicking_timer_keeps_firing() {
    unsafe extern "C-unwind" fn tick(ud: *mut c_void) {
        let (count, tx) = &*(ud as *const (AtomicUsize, mpsc::SyncSender<()>));
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 3 {
            let _ = tx.try_send(());
        }
        panic!("timer bug {n}");
    }
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    let state = keep((AtomicUsize::new(0), tx));
    let _srv = TestServer::start(|s| {
        assert!(hs_add_timer(s, 10, 1, Some(tick), state) > 0);
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the timer fired 3 times despite panicking");
}
