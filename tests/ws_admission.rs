//! WebSocket admission through the C ABI with a Rust host (`hs_ws_authorize`,
//! `hs_ws_route_limit`), with tungstenite clients over 127.0.0.1: what only a Rust host can do
//! (a panic in the authorizer: C cannot unwind) and the multi-thread loop (`hs_set_threads`),
//! where upgrades are decided on several threads at once. The C host's side is tests/admission.
mod common;
use common::*;
use httpsock::ffi::api::*;
use httpsock::ffi::{hs_admission, hs_request, hs_response};
use std::ffi::{c_int, c_void};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;
use tungstenite::{Message, WebSocket};

const WAIT: Duration = Duration::from_secs(10);

/// Registers a closure as the authorizer (kept for the rest of the process).
fn authorize<F>(server: *mut httpsock::ffi::hs_server, f: F) -> c_int
where
    F: Fn(*const hs_request, *mut hs_admission, *mut hs_response) -> c_int + Send + Sync + 'static,
{
    unsafe extern "C-unwind" fn tramp<
        F: Fn(*const hs_request, *mut hs_admission, *mut hs_response) -> c_int,
    >(
        ud: *mut c_void,
        req: *const hs_request,
        a: *mut hs_admission,
        res: *mut hs_response,
    ) -> c_int {
        (*(ud as *const F))(req, a, res)
    }
    hs_ws_authorize(server, Some(tramp::<F>), keep(f))
}

/// An echo route at /ws/{room}.
fn echo_route(s: *mut httpsock::ffi::hs_server) -> c_int {
    assert_eq!(hs_websocket(s, 1), 0);
    let p = Ptr(s);
    let route = accept(
        s,
        "/ws/{room}",
        WsCallbacks {
            message: Box::new(move |id, data, binary| {
                let p = p;
                hs_ws_send(p.0, id, data.as_ptr().cast(), data.len(), binary as c_int);
            }),
            ..Default::default()
        },
    );
    assert!(route >= 0, "hs_accept: {}", last_error());
    route
}

type Client = WebSocket<TcpStream>;

/// The upgrade: the client, or the refusal's status and body.
fn upgrade(port: u16, path: &str) -> Result<Client, (u16, String)> {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    match tungstenite::client::client(format!("ws://127.0.0.1:{port}{path}"), s) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(res))) => {
            let body = res.body().clone().unwrap_or_default();
            Err((res.status().as_u16(), String::from_utf8_lossy(&body).into()))
        }
        Err(e) => panic!("handshake failed otherwise: {e}"),
    }
}

fn echo(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).unwrap();
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return assert_eq!(t.as_str(), text),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

const SERVER_ERROR: &str = "An error occurred on the server.";

#[test]
fn a_panic_in_the_authorizer_is_a_500_and_the_server_goes_on() {
    let srv = TestServer::start(|s| {
        echo_route(s);
        let rc = authorize(s, |req, a, _res| {
            let query = field(|r, l| hs_request_query(r, l), req);
            if query.contains("panic") {
                panic!("the host's authorizer failed");
            }
            assert_eq!(
                hs_admission_user(a, c("u").as_ptr(), std::ptr::null(), 0),
                0
            );
            1
        });
        assert_eq!(rc, 0);
    });
    for i in 0..3 {
        let refused = upgrade(srv.port, "/ws/a?panic=1").err();
        assert_eq!(refused, Some((500, SERVER_ERROR.into())));
        let mut ws = upgrade(srv.port, "/ws/a").expect("admitted after a panic");
        echo(&mut ws, &format!("round {i}"));
    }
}

#[test]
fn hs_response_fail_and_a_negative_return_are_500() {
    let srv = TestServer::start(|s| {
        echo_route(s);
        authorize(s, |req, _a, res| {
            let query = field(|r, l| hs_request_query(r, l), req);
            match query.as_str() {
                // An exception in a PHP-like host: the response says it failed, whatever the
                // return value says.
                "fail" => {
                    hs_response_fail(res, c("the host threw").as_ptr());
                    1
                }
                "negative" => -3,
                _ => 1,
            }
        });
    });
    assert_eq!(
        upgrade(srv.port, "/ws/a?fail").err(),
        Some((500, SERVER_ERROR.into()))
    );
    assert_eq!(
        upgrade(srv.port, "/ws/a?negative").err(),
        Some((500, SERVER_ERROR.into()))
    );
    echo(&mut upgrade(srv.port, "/ws/a").expect("admitted"), "ok");
}

#[test]
fn a_refusal_without_an_answer_is_403_and_removing_the_authorizer_admits() {
    let srv = TestServer::start(|s| {
        echo_route(s);
        authorize(s, |_, _, _| 0);
    });
    let refused = upgrade(srv.port, "/ws/a").err();
    assert_eq!(refused, Some((403, "Forbidden.".into())));
    assert_eq!(hs_ws_authorize(srv.raw(), None, std::ptr::null_mut()), 0);
    echo(
        &mut upgrade(srv.port, "/ws/a").expect("no authorizer"),
        "in",
    );
}

#[test]
fn the_route_limit_holds_on_a_multi_thread_loop() {
    // 4 loop threads decide 12 simultaneous upgrades (the authorizer blocks a little, so that
    // they overlap); the route takes 3.
    const LIMIT: usize = 3;
    const CLIENTS: usize = 12;
    let srv = TestServer::start(|s| {
        assert_eq!(hs_set_threads(s, 4), 0);
        let route = echo_route(s);
        assert_eq!(hs_ws_route_limit(s, route, LIMIT as c_int), 0);
        authorize(s, |_, _, _| {
            std::thread::sleep(Duration::from_millis(20));
            1
        });
    });
    let admitted = Arc::new(AtomicUsize::new(0));
    let all_tried = Arc::new(Barrier::new(CLIENTS));
    let port = srv.port;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (admitted, all_tried) = (admitted.clone(), all_tried.clone());
            std::thread::spawn(move || {
                let result = upgrade(port, &format!("/ws/r{i}"));
                // Those admitted stay open until every client has tried.
                if let Ok(mut ws) = result {
                    echo(&mut ws, "in");
                    admitted.fetch_add(1, Ordering::SeqCst);
                    all_tried.wait();
                    ws.close(None).ok();
                    None
                } else {
                    all_tried.wait();
                    result.err()
                }
            })
        })
        .collect();
    let refusals: Vec<(u16, String)> = threads
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(admitted.load(Ordering::SeqCst), LIMIT);
    assert_eq!(refusals.len(), CLIENTS - LIMIT);
    assert!(refusals
        .iter()
        .all(|r| *r == (503, "Too many clients on this route.".into())));
}
