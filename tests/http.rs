//! HTTP/1.1 behaviour through the C ABI, as a C host sees it: every test registers handlers with
//! `hs_route`, runs `hs_run` on a thread (see `common::TestServer`) and talks to the server over
//! 127.0.0.1 (or ::1) with raw sockets, for byte-exact protocol checks, or with curl.
//!
//! Nothing here sleeps to synchronise: a test waits by blocking on a read that has a timeout.
mod common;
use common::*;
use httpsock::ffi::api::*;
use httpsock::ffi::{hs_server, hs_status};
use std::ffi::{c_int, c_void};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INVALID: c_int = hs_status::HS_ERR_INVALID as c_int;
const STATE: c_int = hs_status::HS_ERR_STATE as c_int;
const IO: c_int = hs_status::HS_ERR_IO as c_int;
const NOT_FOUND: c_int = hs_status::HS_ERR_NOT_FOUND as c_int;
const PATTERN: c_int = hs_status::HS_ERR_PATTERN as c_int;

const SERVER_ERROR_TEXT: &str = "An error occurred on the server.";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One client connection that may carry several requests.
struct Conn {
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(srv: &TestServer) -> Conn {
        Conn {
            r: BufReader::new(srv.connect()),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).expect("write request");
    }

    fn read(&mut self, head: bool) -> HttpResp {
        read_response(&mut self.r, head).expect("a response (got EOF, timeout or garbage)")
    }

    fn request(&mut self, raw: &[u8]) -> HttpResp {
        self.send(raw);
        self.read(raw.starts_with(b"HEAD "))
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).expect("read a line");
        l
    }

    /// Blocks until the server closes the connection; fails on data or on the read timeout.
    fn expect_eof(&mut self) {
        let mut buf = [0u8; 256];
        match self.r.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!(
                "expected EOF, got {n} bytes: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) => panic!("expected EOF, got error {e}"),
        }
    }
}

fn get_req(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

fn post_req(path: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// Registers a route and asserts it was accepted; returns its id.
fn must_route<F>(s: *mut hs_server, methods: &str, pattern: &str, f: F) -> c_int
where
    F: Fn(*const hs_request, *mut hs_response) + Send + Sync + 'static,
{
    let id = route(s, methods, pattern, f);
    assert!(id >= 0, "hs_route({methods}, {pattern}): {}", last_error());
    id
}

/// A handler answering 200 with a fixed text.
fn reply(text: &'static str) -> impl Fn(*const hs_request, *mut hs_response) + Send + Sync {
    move |_, res| {
        assert_eq!(respond(res, 200, "", text.as_bytes()), 0);
    }
}

/// A handler echoing the request body (and its length in X-Len).
fn echo(req: *const hs_request, res: *mut hs_response) {
    let b = body(req);
    let h = format!(
        "X-Len: {}\r\nContent-Type: application/octet-stream",
        b.len()
    );
    assert_eq!(respond(res, 200, &h, &b), 0);
}

fn set_limit(s: *mut hs_server, which: hs_limit, value: u64) {
    assert_eq!(
        hs_set_limit(s, which as c_int, value),
        0,
        "hs_set_limit: {}",
        last_error()
    );
}

fn on_error<F>(s: *mut hs_server, f: F)
where
    F: Fn(*const hs_request, hs_answer, *mut hs_response) + Send + Sync + 'static,
{
    unsafe extern "C-unwind" fn tramp<F: Fn(*const hs_request, hs_answer, *mut hs_response)>(
        ud: *mut c_void,
        req: *const hs_request,
        kind: hs_answer,
        res: *mut hs_response,
    ) {
        (*(ud as *const F))(req, kind, res)
    }
    let ud = keep(f);
    assert_eq!(hs_on_error(s, Some(tramp::<F>), ud), 0);
}

fn on_response<F>(s: *mut hs_server, f: F)
where
    F: Fn(*const hs_request, *mut hs_response) + Send + Sync + 'static,
{
    unsafe extern "C-unwind" fn tramp<F: Fn(*const hs_request, *mut hs_response)>(
        ud: *mut c_void,
        req: *const hs_request,
        res: *mut hs_response,
    ) {
        (*(ud as *const F))(req, res)
    }
    let ud = keep(f);
    assert_eq!(hs_on_response(s, Some(tramp::<F>), ud), 0);
}

unsafe extern "C-unwind" fn noop_handler(
    _: *mut c_void,
    _: *const hs_request,
    _: *mut hs_response,
) {
}

/// Every value of a response header (the parsed response keeps them all).
fn all<'a>(r: &'a HttpResp, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Asserts one of the engine's own error answers (Luminova's texts).
fn assert_engine_error(r: &HttpResp, status: u16, text: &str, kind: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    assert_eq!(r.text(), text);
    assert_eq!(r.header("x-server-response-type"), Some(kind));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some(&*text.len().to_string()));
}

/// Deterministic bytes that include NUL and every other byte value.
fn pattern_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 251) as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// Connection handling
// ---------------------------------------------------------------------------------------------

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/id", |req, res| {
            let id = hs_request_conn_id(req);
            assert_eq!(respond(res, 200, "", id.to_string().as_bytes()), 0);
        });
    });
    let mut conn = Conn::open(&srv);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let r = conn.request(&get_req("/id"));
        assert_eq!(r.status, 200);
        assert_ne!(r.header("connection"), Some("close"));
        ids.push(r.text().parse::<u64>().expect("conn id in body"));
    }
    assert!(ids[0] > 0, "conn id must be non-zero: {ids:?}");
    assert!(ids.iter().all(|&i| i == ids[0]), "one connection: {ids:?}");
    let other: u64 = get(srv.port, "/id").text().parse().unwrap();
    assert_ne!(other, ids[0], "a new connection has a new id");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET|POST", "/p/{n}", |req, res| {
            let m = field(|r, l| hs_request_method(r, l), req);
            let p = field(|r, l| hs_request_path(r, l), req);
            let b = String::from_utf8(body(req)).unwrap();
            let text = format!("{m} {p} [{b}] conn={}", hs_request_conn_id(req));
            assert_eq!(respond(res, 200, "", text.as_bytes()), 0);
        });
    });
    let mut all_three = get_req("/p/1");
    all_three.extend(post_req("/p/2", b"two"));
    all_three.extend(get_req("/p/3"));
    let mut conn = Conn::open(&srv);
    conn.send(&all_three); // one write: the three requests arrive together
    let bodies: Vec<String> = (0..3).map(|_| conn.read(false)).map(|r| r.text()).collect();
    let id = bodies[0].rsplit('=').next().unwrap().to_string();
    assert_eq!(
        bodies,
        vec![
            format!("GET /p/1 [] conn={id}"),
            format!("POST /p/2 [two] conn={id}"),
            format!("GET /p/3 [] conn={id}"),
        ]
    );
}

#[test]
fn chunked_request_body_arrives_whole_and_decoded() {
    let srv = TestServer::start(|s| {
        must_route(s, "POST", "/echo", |req, res| {
            let te = header(req, "transfer-encoding").unwrap_or_default();
            let b = body(req);
            let h = format!("X-Len: {}\r\nX-TE: {te}", b.len());
            assert_eq!(respond(res, 200, &h, &b), 0);
        });
    });
    let raw = b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n\
        7\r\nHello, \r\n8;ext=1\r\nchunked \r\n6\r\nworld!\r\n0\r\n\r\n";
    let r = Conn::open(&srv).request(raw);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello, chunked world!");
    assert_eq!(r.header("x-len"), Some("21"));
    assert_eq!(r.header("x-te"), Some("chunked"));
}

#[test]
fn expect_100_continue_then_body() {
    let srv = TestServer::start(|s| {
        must_route(s, "POST", "/echo", echo);
    });
    let mut conn = Conn::open(&srv);
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 11\r\n\
          Expect: 100-continue\r\n\r\n",
    );
    // The body is not sent until the interim answer came.
    assert_eq!(conn.line(), "HTTP/1.1 100 Continue\r\n");
    assert_eq!(conn.line(), "\r\n");
    conn.send(b"hello world");
    let r = conn.read(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello world");
    // The connection stays usable.
    let r = conn.request(&post_req("/echo", b"again"));
    assert_eq!((r.status, r.text()), (200, "again".to_string()));
}

/// A server whose body limit is `max_body` bytes, with POST /echo counting its calls (a request
/// refused for its size must never reach the handler).
fn limited_echo_server(max_body: u64) -> (TestServer, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let srv = TestServer::start(move |s| {
        set_limit(s, hs_limit::HS_LIMIT_MAX_BODY_BYTES, max_body);
        must_route(s, "POST", "/echo", move |req, res| {
            seen.fetch_add(1, Ordering::SeqCst);
            echo(req, res)
        });
    });
    (srv, calls)
}

#[test]
fn expect_100_continue_over_body_limit_gets_413_without_100() {
    let (srv, calls) = limited_echo_server(100);
    let mut conn = Conn::open(&srv);
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\
          Expect: 100-continue\r\n\r\n",
    );
    // The first thing on the wire is the final answer, not `100 Continue`.
    let r = conn.read(false);
    assert_engine_error(&r, 413, "Request body is too large.", "PAYLOAD_TOO_LARGE");
    assert_eq!(r.header("connection"), Some("close"));
    conn.expect_eof();
    assert_eq!(calls.load(Ordering::SeqCst), 0, "handler must not run");
    // Within the limit it works, with the interim answer.
    let r = get(srv.port, "/nothing-here");
    assert_eq!(r.status, 404);
    let mut conn = Conn::open(&srv);
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\
          Expect: 100-continue\r\n\r\n",
    );
    assert_eq!(conn.line(), "HTTP/1.1 100 Continue\r\n");
    assert_eq!(conn.line(), "\r\n");
    conn.send(&[b'x'; 100]);
    let r = conn.read(false);
    assert_eq!((r.status, r.body.len()), (200, 100));
}

#[test]
fn head_is_answered_by_the_get_route_without_body() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/doc", |req, res| {
            let m = field(|r, l| hs_request_method(r, l), req);
            let h = format!("Content-Type: text/plain\r\nX-Method: {m}");
            assert_eq!(respond(res, 200, &h, b"0123456789abcdef"), 0);
        });
    });
    let mut conn = Conn::open(&srv);
    let r = conn.request(b"HEAD /doc HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("16"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-method"), Some("HEAD"));
    assert!(r.body.is_empty());
    // Had any body byte followed the HEAD answer, this next response would not parse.
    let r = conn.request(&get_req("/doc"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "0123456789abcdef");
    assert_eq!(r.header("x-method"), Some("GET"));
}

#[test]
fn unknown_route_is_404_with_default_cors_headers() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/known", reply("known"));
    });
    let r = get(srv.port, "/unknown/path?x=1");
    assert_engine_error(&r, 404, "404 Not Found", "NOT_FOUND");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("Content-Type")
    );
    // A known path with a method it does not accept is also NOT_FOUND.
    let r = Conn::open(&srv).request(&post_req("/known", b""));
    assert_engine_error(&r, 404, "404 Not Found", "NOT_FOUND");
    // The CORS defaults are on handler answers too.
    let r = get(srv.port, "/known");
    assert_eq!((r.status, r.text()), (200, "known".to_string()));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

#[test]
fn params_by_name_and_by_index() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/user/{id}/post/{slug}", |req, res| {
            let id_name = c("id");
            let slug_name = c("slug");
            let missing = c("nope");
            let n = hs_request_param_count(req);
            let id = field(|r, l| hs_request_param_named(r, id_name.as_ptr(), l), req);
            let slug = field(|r, l| hs_request_param_named(r, slug_name.as_ptr(), l), req);
            let p0 = field(|r, l| hs_request_param(r, 0, l), req);
            let p1 = field(|r, l| hs_request_param(r, 1, l), req);
            let past_end = hs_request_param(req, 2, std::ptr::null_mut()).is_null();
            let no_such =
                hs_request_param_named(req, missing.as_ptr(), std::ptr::null_mut()).is_null();
            let text = format!("n={n} id={id} slug={slug} p0={p0} p1={p1} {past_end} {no_such}");
            assert_eq!(respond(res, 200, "", text.as_bytes()), 0);
        });
    });
    let r = get(srv.port, "/user/42/post/hello-world");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "n=2 id=42 slug=hello-world p0=42 p1=hello-world true true"
    );
}

#[test]
fn regex_route_with_optional_tail() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/ws(?:/.*)?", |req, res| {
            let p = field(|r, l| hs_request_path(r, l), req);
            let n = hs_request_param_count(req);
            assert_eq!(respond(res, 200, "", format!("{p} n={n}").as_bytes()), 0);
        });
        must_route(s, "GET", "/num/(\\d+)", |req, res| {
            let p0 = field(|r, l| hs_request_param(r, 0, l), req);
            assert_eq!(respond(res, 200, "", format!("num {p0}").as_bytes()), 0);
        });
    });
    assert_eq!(get(srv.port, "/ws").text(), "/ws n=0");
    assert_eq!(get(srv.port, "/ws/room/1").text(), "/ws/room/1 n=0");
    assert_eq!(get(srv.port, "/wsx").status, 404, "anchored at the end");
    assert_eq!(get(srv.port, "/a/ws").status, 404, "anchored at the start");
    assert_eq!(get(srv.port, "/num/123").text(), "num 123");
    assert_eq!(get(srv.port, "/num/12a").status, 404);
}

#[test]
fn all_and_star_accept_any_method() {
    let srv = TestServer::start(|s| {
        for (m, p) in [("ALL", "/all"), ("*", "/star"), ("all", "/lower")] {
            must_route(s, m, p, |req, res| {
                let m = field(|r, l| hs_request_method(r, l), req);
                assert_eq!(respond(res, 200, "", m.as_bytes()), 0);
            });
        }
    });
    for path in ["/all", "/star", "/lower"] {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let raw = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let r = raw_request(srv.port, raw.as_bytes()).expect("response");
            assert_eq!((r.status, r.text()), (200, method.to_string()), "{path}");
        }
    }
}

#[test]
fn method_routes_are_tried_before_all_routes() {
    let srv = TestServer::start(|s| {
        // Registered first, yet a route naming the method wins.
        must_route(s, "ALL", "/x", reply("all"));
        must_route(s, "GET", "/x", reply("get"));
        must_route(s, "DELETE", "/x", reply("delete"));
    });
    assert_eq!(get(srv.port, "/x").text(), "get");
    let del = b"DELETE /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_request(srv.port, del).unwrap().text(), "delete");
    let r = Conn::open(&srv).request(&post_req("/x", b"b"));
    assert_eq!(r.text(), "all");
}

#[test]
fn method_lists_with_pipe() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET|POST", "/gp", reply("gp"));
        must_route(s, "put | patch", "/pp", reply("pp"));
    });
    assert_eq!(get(srv.port, "/gp").text(), "gp");
    assert_eq!(Conn::open(&srv).request(&post_req("/gp", b"")).text(), "gp");
    let put = b"PUT /gp HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_request(srv.port, put).unwrap().status, 404);
    let put = b"PUT /pp HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_request(srv.port, put).unwrap().text(), "pp");
    let patch = b"PATCH /pp HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_request(srv.port, patch).unwrap().text(), "pp");
    assert_eq!(get(srv.port, "/pp").status, 404);
}

#[test]
fn first_registered_match_wins() {
    let ids = Arc::new(Mutex::new((0, 0)));
    let out = ids.clone();
    let srv = TestServer::start(move |s| {
        let route_id = |req: *const hs_request, res: *mut hs_response| {
            let id = hs_request_route_id(req);
            assert_eq!(respond(res, 200, "", id.to_string().as_bytes()), 0);
        };
        let a = must_route(s, "GET", "/a/{x}", route_id);
        let b = must_route(s, "GET", "/a/b", route_id);
        *out.lock().unwrap() = (a, b);
    });
    let (a, b) = *ids.lock().unwrap();
    assert_ne!(a, b);
    assert_eq!(get(srv.port, "/a/b").text(), a.to_string());
    assert_eq!(get(srv.port, "/a/c").text(), a.to_string());
}

#[test]
fn trailing_slash_is_normalised() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/user/{id}", |req, res| {
            let name = c("id");
            let id = field(|r, l| hs_request_param_named(r, name.as_ptr(), l), req);
            let p = field(|r, l| hs_request_path(r, l), req);
            assert_eq!(respond(res, 200, "", format!("{id} {p}").as_bytes()), 0);
        });
        // The pattern is normalised the same way.
        must_route(s, "GET", "/items/", reply("items"));
    });
    assert_eq!(get(srv.port, "/user/5").text(), "5 /user/5");
    // The path accessor keeps what was received; matching uses the normalised path.
    assert_eq!(get(srv.port, "/user/5/").text(), "5 /user/5/");
    assert_eq!(get(srv.port, "/items").text(), "items");
    assert_eq!(get(srv.port, "/items/").text(), "items");
}

// ---------------------------------------------------------------------------------------------
// Request accessors
// ---------------------------------------------------------------------------------------------

#[derive(Default, Debug)]
struct Seen {
    method: String,
    path: String,
    query: String,
    uri: String,
    version: String,
    custom: Option<String>,
    custom_upper: Option<String>,
    multi: Option<String>,
    absent: bool,
    headers: Vec<(String, String)>,
    header_count: c_int,
    past_end: c_int,
    peer_ip: String,
    peer_port: c_int,
    route_id: c_int,
    conn_id: u64,
}

#[test]
fn request_accessors() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let route_ids = Arc::new(Mutex::new(-1));
    let (out, rid) = (seen.clone(), route_ids.clone());
    let srv = TestServer::start(move |s| {
        must_route(s, "GET", "/other", reply("other"));
        let id = must_route(s, "GET|POST", "/acc/{x}", move |req, res| {
            let mut s = out.lock().unwrap();
            s.method = field(|r, l| hs_request_method(r, l), req);
            s.path = field(|r, l| hs_request_path(r, l), req);
            s.query = field(|r, l| hs_request_query(r, l), req);
            s.uri = field(|r, l| hs_request_uri(r, l), req);
            s.version = read_c(hs_request_version(req)).unwrap();
            s.custom = header(req, "x-custom");
            s.custom_upper = header(req, "X-CUSTOM");
            s.multi = header(req, "X-Multi");
            s.absent = header(req, "x-absent").is_none();
            s.header_count = hs_request_header_count(req);
            s.headers.clear();
            for i in 0..s.header_count.max(0) as usize {
                let (mut n, mut v) = (std::ptr::null(), std::ptr::null());
                assert_eq!(hs_request_header_at(req, i, &mut n, &mut v), 0);
                s.headers.push((read_c(n).unwrap(), read_c(v).unwrap()));
            }
            s.past_end = hs_request_header_at(
                req,
                s.header_count as usize,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            s.peer_ip = field(|r, l| hs_request_peer_ip(r, l), req);
            s.peer_port = hs_request_peer_port(req);
            s.route_id = hs_request_route_id(req);
            s.conn_id = hs_request_conn_id(req);
            assert_eq!(respond(res, 200, "", b"ok"), 0);
        });
        *rid.lock().unwrap() = id;
    });
    let mut conn = Conn::open(&srv);
    let local_port = conn.r.get_ref().local_addr().unwrap().port();
    let r = conn.request(
        b"GET /acc/7?a=1&b=two%20words HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Custom: Value 1\r\n\
          X-Multi: a\r\nx-multi: b\r\nX-Multi: c\r\n\r\n",
    );
    assert_eq!((r.status, r.text()), (200, "ok".to_string()));
    let s = seen.lock().unwrap();
    assert_eq!(s.method, "GET");
    assert_eq!(s.path, "/acc/7");
    assert_eq!(s.query, "a=1&b=two%20words");
    assert_eq!(s.uri, "/acc/7?a=1&b=two%20words");
    assert_eq!(s.version, "HTTP/1.1");
    assert_eq!(s.custom.as_deref(), Some("Value 1"));
    assert_eq!(s.custom_upper.as_deref(), Some("Value 1"));
    assert_eq!(s.multi.as_deref(), Some("a, b, c"));
    assert!(s.absent);
    assert_eq!(s.header_count, 5);
    let mut headers = s.headers.clone();
    headers.sort();
    assert_eq!(
        headers,
        [
            ("host", "127.0.0.1"),
            ("x-custom", "Value 1"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("x-multi", "c"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
    );
    assert_eq!(s.past_end, NOT_FOUND);
    assert_eq!(s.peer_ip, "127.0.0.1");
    assert_eq!(s.peer_port, local_port as c_int);
    assert_eq!(s.route_id, *route_ids.lock().unwrap());
    assert!(s.conn_id > 0);
    drop(s);

    // No query, HTTP/1.0.
    let r = raw_request(srv.port, b"GET /acc/8 HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(r.status, 200);
    let s = seen.lock().unwrap();
    assert_eq!((s.path.as_str(), s.query.as_str()), ("/acc/8", ""));
    assert_eq!(s.uri, "/acc/8");
    assert_eq!(s.version, "HTTP/1.0");
    assert_eq!(s.header_count, 1);
}

#[test]
fn route_id_is_minus_one_in_error_hook_for_not_found() {
    let got = Arc::new(AtomicI32::new(999));
    let out = got.clone();
    let srv = TestServer::start(move |s| {
        must_route(s, "GET", "/r", reply("r"));
        on_error(s, move |req, _, _| {
            out.store(hs_request_route_id(req), Ordering::SeqCst);
        });
    });
    assert_eq!(get(srv.port, "/missing").status, 404);
    assert_eq!(got.load(Ordering::SeqCst), -1);
}

// ---------------------------------------------------------------------------------------------
// Large bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn three_mib_request_body_is_echoed_intact() {
    let srv = TestServer::start(|s| {
        must_route(s, "POST", "/echo", echo);
    });
    let data = pattern_bytes(3 * 1024 * 1024);
    let mut conn = Conn::open(&srv);
    let r = conn.request(&post_req("/echo", &data));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-len"), Some("3145728"));
    assert_eq!(r.header("content-length"), Some("3145728"));
    assert_eq!(r.body.len(), data.len());
    assert!(r.body == data, "echoed body differs");
}

#[test]
fn three_mib_response_body() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/big", |_, res| {
            let data = pattern_bytes(3 * 1024 * 1024);
            assert_eq!(
                hs_response_set_body(res, data.as_ptr().cast(), data.len()),
                0
            );
        });
    });
    let r = get(srv.port, "/big");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("3145728"));
    assert!(r.body == pattern_bytes(3 * 1024 * 1024), "body differs");
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

#[test]
fn header_limit_gives_431_and_server_keeps_serving() {
    let srv = TestServer::start(|s| {
        set_limit(s, hs_limit::HS_LIMIT_MAX_HEADER_BYTES, 1000); // raised to the 8192 minimum
        let mut v = 0u64;
        assert_eq!(
            hs_get_limit(s, hs_limit::HS_LIMIT_MAX_HEADER_BYTES as c_int, &mut v),
            0
        );
        assert_eq!(v, 8192);
        must_route(s, "GET", "/h", |req, res| {
            let n = header(req, "x-big").map_or(0, |v| v.len());
            assert_eq!(respond(res, 200, "", n.to_string().as_bytes()), 0);
        });
    });
    let req = |n: usize| {
        format!(
            "GET /h HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(n)
        )
    };
    let r = raw_request(srv.port, req(4000).as_bytes()).unwrap();
    assert_eq!((r.status, r.text()), (200, "4000".to_string()));
    let r = raw_request(srv.port, req(12_000).as_bytes()).expect("an answer before close");
    assert_eq!(r.status, 431);
    let r = get(srv.port, "/h");
    assert_eq!((r.status, r.text()), (200, "0".to_string()));
}

#[test]
fn body_limit_with_content_length_gives_413() {
    let (srv, calls) = limited_echo_server(1024);
    let exact = pattern_bytes(1024);
    let r = Conn::open(&srv).request(&post_req("/echo", &exact));
    assert_eq!(r.status, 200);
    assert!(r.body == exact);
    let mut conn = Conn::open(&srv);
    let r = conn.request(&post_req("/echo", &pattern_bytes(1025)));
    assert_engine_error(&r, 413, "Request body is too large.", "PAYLOAD_TOO_LARGE");
    assert_eq!(r.header("connection"), Some("close"));
    conn.expect_eof();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "handler ran only for the good one"
    );
    let r = Conn::open(&srv).request(&post_req("/echo", b"still fine"));
    assert_eq!((r.status, r.text()), (200, "still fine".to_string()));
}

#[test]
fn body_limit_with_chunked_body_gives_413() {
    let (srv, calls) = limited_echo_server(1024);
    let mut raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        raw.extend_from_slice(b"1f4\r\n"); // 500 bytes
        raw.extend_from_slice(&[b'z'; 500]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let mut conn = Conn::open(&srv);
    let r = conn.request(&raw);
    assert_engine_error(&r, 413, "Request body is too large.", "PAYLOAD_TOO_LARGE");
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // Two chunks (1000 bytes) fit.
    let ok = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
               3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let r = Conn::open(&srv).request(ok);
    assert_eq!((r.status, r.text()), (200, "abcde".to_string()));
}

#[test]
fn untouched_response_is_hello_world_default() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/", |_, _| {});
    });
    let r = get(srv.port, "/");
    assert_engine_error(&r, 200, "Hello world!", "DEFAULT");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

// ---------------------------------------------------------------------------------------------
// Responses: raw, invalid
// ---------------------------------------------------------------------------------------------

/// A server whose `/t` route runs `f` and stores what it returned in the shared cell.
fn returning(f: fn(*mut hs_response) -> c_int) -> (TestServer, Arc<AtomicI32>) {
    let rc = Arc::new(AtomicI32::new(999));
    let out = rc.clone();
    let srv = TestServer::start(move |s| {
        must_route(s, "GET", "/t", move |_, res| {
            out.store(f(res), Ordering::SeqCst);
        });
    });
    (srv, rc)
}

fn set_raw(res: *mut hs_response, raw: &[u8]) -> c_int {
    hs_response_set_raw(res, raw.as_ptr().cast(), raw.len())
}

#[test]
fn raw_response_is_parsed() {
    let (srv, rc) = returning(|res| {
        set_raw(
            res,
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Raw: yes\r\n\
              Content-Length: 999\r\n\r\n{\"created\":true}",
        )
    });
    let r = get(srv.port, "/t");
    assert_eq!(rc.load(Ordering::SeqCst), 0);
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), "{\"created\":true}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-raw"), Some("yes"));
    // The engine frames the body: the raw Content-Length is not used.
    assert_eq!(all(&r, "content-length"), vec!["16"]);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn raw_response_luminova_doc_string() {
    // Verbatim from Luminova's documentation: the blank line lacks its final `\n`.
    let (srv, rc) = returning(|res| {
        set_raw(
            res,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\\Hello World!",
        )
    });
    let r = get(srv.port, "/t");
    assert_eq!(rc.load(Ordering::SeqCst), 0, "accepted");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    // Everything after the head's `\r` is the body, the stray backslash included.
    assert_eq!(r.text(), "\\Hello World!");
}

#[test]
fn malformed_raw_response_is_500() {
    for (i, raw) in [
        &b"garbage"[..],
        b"HTTP/1.1 abc\r\n\r\nbody",
        b"NOTHTTP 200 OK\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\nx",
        b"",
    ]
    .iter()
    .enumerate()
    {
        let rc = Arc::new(AtomicI32::new(999));
        let out = rc.clone();
        let raw = raw.to_vec();
        let srv = TestServer::start(move |s| {
            must_route(s, "GET", "/t", move |_, res| {
                out.store(set_raw(res, &raw), Ordering::SeqCst);
            });
        });
        let r = get(srv.port, "/t");
        assert_engine_error(&r, 500, SERVER_ERROR_TEXT, "SERVER_ERROR");
        assert_eq!(rc.load(Ordering::SeqCst), INVALID, "case {i}");
    }
}

#[test]
fn invalid_status_is_500() {
    for status in [42, 1000, 0, -1, 99] {
        let rc = Arc::new(AtomicI32::new(999));
        let rc2 = Arc::new(AtomicI32::new(999));
        let (out, out2) = (rc.clone(), rc2.clone());
        let srv = TestServer::start(move |s| {
            must_route(s, "GET", "/set", move |_, res| {
                out.store(hs_response_set_status(res, status), Ordering::SeqCst);
            });
            must_route(s, "GET", "/respond", move |_, res| {
                out2.store(respond(res, status, "", b"x"), Ordering::SeqCst);
            });
        });
        let r = get(srv.port, "/set");
        assert_engine_error(&r, 500, SERVER_ERROR_TEXT, "SERVER_ERROR");
        assert_eq!(rc.load(Ordering::SeqCst), INVALID, "status {status}");
        let r = get(srv.port, "/respond");
        assert_engine_error(&r, 500, SERVER_ERROR_TEXT, "SERVER_ERROR");
        assert_eq!(rc2.load(Ordering::SeqCst), INVALID, "status {status}");
    }
}

#[test]
fn edge_statuses_are_accepted() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/418", |_, res| {
            assert_eq!(hs_response_set_status(res, 418), 0);
        });
        must_route(s, "GET", "/599", |_, res| {
            assert_eq!(respond(res, 599, "", b"odd"), 0);
        });
    });
    let r = get(srv.port, "/418");
    assert_eq!((r.status, r.text()), (418, String::new()));
    assert_eq!(r.header("content-length"), Some("0"));
    let r = get(srv.port, "/599");
    assert_eq!((r.status, r.text()), (599, "odd".to_string()));
}

#[test]
fn null_body_with_length_is_500() {
    let (srv, rc) = returning(|res| hs_response_set_body(res, std::ptr::null(), 5));
    let r = get(srv.port, "/t");
    assert_engine_error(&r, 500, SERVER_ERROR_TEXT, "SERVER_ERROR");
    assert_eq!(rc.load(Ordering::SeqCst), INVALID);

    let (srv, rc) = returning(|res| hs_respond(res, 200, std::ptr::null(), 0, std::ptr::null(), 3));
    let r = get(srv.port, "/t");
    assert_engine_error(&r, 500, SERVER_ERROR_TEXT, "SERVER_ERROR");
    assert_eq!(rc.load(Ordering::SeqCst), INVALID);

    // NULL with length 0 is a valid empty body.
    let (srv, rc) = returning(|res| hs_response_set_body(res, std::ptr::null(), 0));
    let r = get(srv.port, "/t");
    assert_eq!((r.status, r.text()), (200, String::new()));
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(rc.load(Ordering::SeqCst), 0);
}

#[test]
fn invalid_header_name_is_500() {
    let (srv, rc) = returning(|res| {
        let (n, v) = (c("Bad Name"), c("x"));
        hs_response_add_header(res, n.as_ptr(), v.as_ptr())
    });
    let r = get(srv.port, "/t");
    assert_engine_error(&r, 500, SERVER_ERROR_TEXT, "SERVER_ERROR");
    assert_eq!(rc.load(Ordering::SeqCst), INVALID);
    assert_eq!(r.header("bad name"), None);

    let (srv, rc) = returning(|res| respond(res, 200, "Good: 1\r\nNo colon here\r\n", b"x"));
    let r = get(srv.port, "/t");
    assert_engine_error(&r, 500, SERVER_ERROR_TEXT, "SERVER_ERROR");
    assert_eq!(rc.load(Ordering::SeqCst), INVALID);

    let (srv, rc) = returning(|res| {
        let (n, v) = (c("X-Ok"), c("bad\u{1}value"));
        hs_response_add_header(res, n.as_ptr(), v.as_ptr())
    });
    let r = get(srv.port, "/t");
    assert_engine_error(&r, 500, SERVER_ERROR_TEXT, "SERVER_ERROR");
    assert_eq!(rc.load(Ordering::SeqCst), INVALID);
}

#[test]
fn valid_response_setters_return_ok() {
    let (srv, rc) = returning(|res| {
        let (n, v) = (c("X-A"), c("1"));
        let (n2, v2) = (c("X-A"), c("2"));
        let body = b"built";
        let rcs = [
            hs_response_set_status(res, 202),
            hs_response_add_header(res, n.as_ptr(), v.as_ptr()),
            hs_response_add_header(res, n2.as_ptr(), v2.as_ptr()),
            hs_response_set_body(res, body.as_ptr().cast(), body.len()),
            (hs_response_status(res) != 202) as c_int,
        ];
        rcs.iter().map(|r| r.abs()).sum()
    });
    let r = get(srv.port, "/t");
    assert_eq!(rc.load(Ordering::SeqCst), 0);
    assert_eq!((r.status, r.text()), (202, "built".to_string()));
    assert_eq!(all(&r, "x-a"), vec!["1", "2"]);
}

// ---------------------------------------------------------------------------------------------
// Hooks and default headers
// ---------------------------------------------------------------------------------------------

#[test]
fn error_hook_shapes_not_found_or_leaves_the_default() {
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let out = kinds.clone();
    let srv = TestServer::start(move |s| {
        must_route(s, "GET", "/ok", reply("ok"));
        on_error(s, move |req, kind, res| {
            out.lock().unwrap().push(kind as i32);
            let p = field(|r, l| hs_request_path(r, l), req);
            if p == "/custom" {
                let body = format!("gone: {p}");
                assert_eq!(
                    respond(
                        res,
                        410,
                        "Content-Type: text/x-custom\r\nX-Hook: 1",
                        body.as_bytes()
                    ),
                    0
                );
            }
        });
    });
    let r = get(srv.port, "/custom");
    assert_eq!((r.status, r.text()), (410, "gone: /custom".to_string()));
    assert_eq!(r.header("content-type"), Some("text/x-custom"));
    assert_eq!(r.header("x-hook"), Some("1"));
    assert_eq!(r.header("x-server-response-type"), None);
    // The hook set nothing: Luminova's default goes out.
    let r = get(srv.port, "/plain-missing");
    assert_engine_error(&r, 404, "404 Not Found", "NOT_FOUND");
    assert_eq!(r.header("x-hook"), None);
    // Routes are not affected.
    assert_eq!(get(srv.port, "/ok").text(), "ok");
    let not_found = hs_answer::HS_ANSWER_NOT_FOUND as i32;
    assert_eq!(*kinds.lock().unwrap(), vec![not_found, not_found]);
}

#[test]
fn error_hook_sees_server_error_and_payload_too_large() {
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let out = kinds.clone();
    let srv = TestServer::start(move |s| {
        set_limit(s, hs_limit::HS_LIMIT_MAX_BODY_BYTES, 10);
        must_route(s, "GET", "/bad", |_, res| {
            hs_response_set_status(res, 5);
        });
        must_route(s, "POST", "/up", echo);
        on_error(s, move |_, kind, res| {
            out.lock().unwrap().push(kind as i32);
            if matches!(kind, hs_answer::HS_ANSWER_SERVER_ERROR) {
                assert_eq!(respond(res, 503, "", b"custom failure"), 0);
            }
        });
    });
    let r = get(srv.port, "/bad");
    assert_eq!((r.status, r.text()), (503, "custom failure".to_string()));
    let r = Conn::open(&srv).request(&post_req("/up", &[b'a'; 11]));
    assert_engine_error(&r, 413, "Request body is too large.", "PAYLOAD_TOO_LARGE");
    assert_eq!(
        *kinds.lock().unwrap(),
        vec![
            hs_answer::HS_ANSWER_SERVER_ERROR as i32,
            hs_answer::HS_ANSWER_PAYLOAD_TOO_LARGE as i32
        ]
    );
}

#[test]
fn response_filter_rewrites_body_and_content_length_follows() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/f", reply("short"));
        on_response(s, |_, res| {
            let status = hs_response_status(res);
            let mut len = 0usize;
            let p = hs_response_body(res, &mut len);
            assert!(!p.is_null());
            let old = unsafe { std::slice::from_raw_parts(p, len) };
            let new = format!(
                "[{status}] {} (was {len} bytes)",
                String::from_utf8_lossy(old).to_uppercase()
            );
            assert_eq!(hs_response_set_body(res, new.as_ptr().cast(), new.len()), 0);
            let (n, v) = (c("X-Filtered"), c("yes"));
            assert_eq!(hs_response_add_header(res, n.as_ptr(), v.as_ptr()), 0);
        });
    });
    let r = get(srv.port, "/f");
    assert_eq!(r.status, 200);
    let want = "[200] SHORT (was 5 bytes)";
    assert_eq!(r.text(), want);
    assert_eq!(all(&r, "content-length"), vec![want.len().to_string()]);
    assert_eq!(r.header("x-filtered"), Some("yes"));
    // Error answers go through the filter too.
    let r = get(srv.port, "/missing");
    assert_eq!(r.status, 404);
    let want = "[404] 404 NOT FOUND (was 13 bytes)";
    assert_eq!(r.text(), want);
    assert_eq!(r.header("content-length"), Some(&*want.len().to_string()));
    assert_eq!(r.header("x-server-response-type"), Some("NOT_FOUND"));
}

#[test]
fn response_filter_can_change_status() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/f", reply("x"));
        on_response(s, |_, res| {
            assert_eq!(hs_response_set_status(res, 202), 0);
        });
    });
    let r = get(srv.port, "/f");
    assert_eq!((r.status, r.text()), (202, "x".to_string()));
}

#[test]
fn default_headers_set_override_and_remove() {
    let srv = TestServer::start(|s| {
        let (n, v) = (c("X-Powered-By"), c("httpsock"));
        assert_eq!(hs_set_header(s, n.as_ptr(), v.as_ptr()), 0);
        // Replacing a default keeps one value.
        let (n, v) = (c("x-powered-by"), c("httpsock/2"));
        assert_eq!(hs_set_header(s, n.as_ptr(), v.as_ptr()), 0);
        let n = c("Access-Control-Allow-Origin");
        assert_eq!(hs_set_header(s, n.as_ptr(), std::ptr::null()), 0);
        must_route(s, "GET", "/plain", reply("plain"));
        must_route(s, "GET", "/own", |_, res| {
            assert_eq!(respond(res, 200, "X-Powered-By: mine", b"own"), 0);
        });
        // Invalid default header names and values are refused.
        let (bad, v) = (c("Bad Name"), c("x"));
        assert_eq!(hs_set_header(s, bad.as_ptr(), v.as_ptr()), INVALID);
        let (n, badv) = (c("X-Ok"), c("a\r\nInjected: 1"));
        assert_eq!(hs_set_header(s, n.as_ptr(), badv.as_ptr()), INVALID);
    });
    let r = get(srv.port, "/plain");
    assert_eq!(all(&r, "x-powered-by"), vec!["httpsock/2"]);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    assert_eq!(r.header("injected"), None);
    let r = get(srv.port, "/own");
    assert_eq!(all(&r, "x-powered-by"), vec!["mine"], "the handler wins");
    // Default headers are on engine answers as well.
    let r = get(srv.port, "/missing");
    assert_eq!(all(&r, "x-powered-by"), vec!["httpsock/2"]);
}

#[test]
fn clear_headers_removes_cors_defaults() {
    let srv = TestServer::start(|s| {
        assert_eq!(hs_clear_headers(s), 0);
        must_route(s, "GET", "/x", reply("x"));
    });
    for path in ["/x", "/missing"] {
        let r = get(srv.port, path);
        let cors: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| n.to_ascii_lowercase().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{path}: {cors:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limit, idle timeout, connection-required mode, max connections
// ---------------------------------------------------------------------------------------------

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let srv = TestServer::start(move |s| {
        assert_eq!(hs_set_rate_limit(s, 3, 60), 0);
        must_route(s, "GET", "/r", move |_, res| {
            seen.fetch_add(1, Ordering::SeqCst);
            assert_eq!(respond(res, 200, "", b"ok"), 0);
        });
    });
    // Counted per request, also on one keep-alive connection.
    let mut conn = Conn::open(&srv);
    for i in 0..3 {
        let r = conn.request(&get_req("/r"));
        assert_eq!((r.status, r.text()), (200, "ok".to_string()), "request {i}");
    }
    let r = conn.request(&get_req("/r"));
    assert_engine_error(
        &r,
        429,
        "Rate limit exceeded. Try again later.",
        "REQUEST_LIMIT",
    );
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("integer seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // A new connection from the same IP is limited too, and unknown paths as well.
    assert_eq!(get(srv.port, "/r").status, 429);
    assert_eq!(get(srv.port, "/zzz").status, 429);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn rate_limit_window_zero_is_refused() {
    let s = hs_new(c("127.0.0.1").as_ptr(), 0);
    assert!(!s.is_null());
    assert_eq!(hs_set_rate_limit(s, 3, 0), INVALID);
    assert!(last_error().contains("window"), "{}", last_error());
    assert_eq!(hs_set_rate_limit(s, 0, 0), 0, "0 turns it off");
    hs_free(s);
}

#[test]
fn idle_keep_alive_connection_is_closed_by_the_server() {
    let srv = TestServer::start(|s| {
        assert_eq!(hs_set_timeout(s, 0, 300_000), 0);
        let mut v = 0;
        assert_eq!(
            hs_get_limit(s, hs_limit::HS_LIMIT_IDLE_TIMEOUT_MS as c_int, &mut v),
            0
        );
        assert_eq!(v, 300);
        must_route(s, "GET", "/x", reply("x"));
    });
    let mut conn = Conn::open(&srv);
    conn.r
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let r = conn.request(&get_req("/x"));
    assert_eq!(r.status, 200);
    let t = Instant::now();
    conn.expect_eof();
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(4),
        "closed too late: {waited:?}"
    );
}

#[test]
fn idle_connection_without_request_is_closed_by_the_server() {
    let srv = TestServer::start(|s| {
        assert_eq!(hs_set_timeout(s, 0, 300_000), 0);
    });
    let mut conn = Conn::open(&srv);
    conn.r
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let t = Instant::now();
    conn.expect_eof();
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "too early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(4), "too late: {waited:?}");
}

#[test]
fn set_timeout_refuses_nonsense() {
    let s = hs_new(c("127.0.0.1").as_ptr(), 0);
    assert_eq!(hs_set_timeout(s, 0, 0), INVALID);
    assert_eq!(hs_set_timeout(s, -1, 0), INVALID);
    assert_eq!(hs_set_timeout(s, 0, 999), INVALID, "under 1 ms");
    assert_eq!(hs_set_timeout(s, 2, 500_000), 0);
    let mut v = 0;
    assert_eq!(
        hs_get_limit(s, hs_limit::HS_LIMIT_IDLE_TIMEOUT_MS as c_int, &mut v),
        0
    );
    assert_eq!(v, 2500);
    hs_free(s);
}

#[test]
fn connection_required_mode() {
    let srv = TestServer::start(|s| {
        assert_eq!(hs_set_connection_required(s, 1), 0);
        must_route(s, "GET", "/data", reply("data"));
    });
    let not_connected = |path: &str| {
        let r = get(srv.port, path);
        assert_engine_error(&r, 400, "Client is not connected.", "NOT_CONNECTED");
    };
    not_connected("/data");
    not_connected("/missing");
    let r = get(srv.port, "/connect");
    assert_engine_error(&r, 200, "Client successfully connected.", "CONNECTED");
    assert_eq!(get(srv.port, "/data").text(), "data");
    assert_eq!(get(srv.port, "/missing").status, 404);
    let r = get(srv.port, "/disconnect");
    assert_engine_error(&r, 200, "Client successfully disconnected.", "DISCONNECTED");
    not_connected("/data");

    // Marked by hand.
    let ip = c("127.0.0.1");
    assert_eq!(hs_client_on(srv.raw(), ip.as_ptr()), 0);
    assert_eq!(get(srv.port, "/data").text(), "data");
    assert_eq!(hs_client_off(srv.raw(), ip.as_ptr()), 1, "it was connected");
    not_connected("/data");
    assert_eq!(
        hs_client_off(srv.raw(), ip.as_ptr()),
        0,
        "no longer connected"
    );
    let bad = c("not-an-ip");
    assert_eq!(hs_client_on(srv.raw(), bad.as_ptr()), INVALID);
    // Turning the mode off serves everyone.
    assert_eq!(hs_set_connection_required(srv.raw(), 0), 0);
    assert_eq!(get(srv.port, "/data").text(), "data");
}

#[test]
fn connection_required_runs_host_connect_route() {
    let srv = TestServer::start(|s| {
        assert_eq!(hs_set_connection_required(s, 1), 0);
        must_route(s, "GET", "/connect", reply("welcome"));
        must_route(s, "GET", "/data", reply("data"));
    });
    assert_eq!(get(srv.port, "/data").status, 400);
    let r = get(srv.port, "/connect");
    assert_eq!((r.status, r.text()), (200, "welcome".to_string()));
    assert_eq!(
        get(srv.port, "/data").text(),
        "data",
        "marked before the route ran"
    );
}

#[test]
fn max_connections_refuses_with_503_then_recovers() {
    let srv = TestServer::start(|s| {
        set_limit(s, hs_limit::HS_LIMIT_MAX_CONNECTIONS, 2);
        must_route(s, "GET", "/x", reply("x"));
    });
    // Two connections, each proven accepted by an answered request.
    let mut a = Conn::open(&srv);
    let mut b = Conn::open(&srv);
    assert_eq!(a.request(&get_req("/x")).text(), "x");
    assert_eq!(b.request(&get_req("/x")).text(), "x");
    // The third is answered 503 without a request and closed.
    let mut third = Conn::open(&srv);
    let r = third.read(false);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.text(), "Too many connections. Try again later.");
    third.expect_eof();
    // Close one: half-close, and wait until the server has closed its side.
    a.r.get_ref().shutdown(Shutdown::Write).unwrap();
    a.expect_eof();
    let mut d = Conn::open(&srv);
    let r = d.request(&get_req("/x"));
    assert_eq!((r.status, r.text()), (200, "x".to_string()));
    // b still works.
    assert_eq!(b.request(&get_req("/x")).text(), "x");
}

// ---------------------------------------------------------------------------------------------
// Errors at the ABI
// ---------------------------------------------------------------------------------------------

fn assert_null_error(what: &str, rc: c_int) {
    assert_eq!(rc, INVALID, "{what}");
    let msg = last_error();
    assert!(msg.contains("NULL"), "{what}: {msg}");
}

#[test]
fn null_server_is_an_error_for_every_kind_of_call() {
    let null: *mut hs_server = std::ptr::null_mut();
    let (m, p) = (c("GET"), c("/"));
    assert_null_error(
        "hs_route",
        hs_route(
            null,
            m.as_ptr(),
            p.as_ptr(),
            Some(noop_handler),
            std::ptr::null_mut(),
        ),
    );
    assert_null_error("hs_start", hs_start(null));
    assert_null_error("hs_port", hs_port(null));
    assert_null_error("hs_run", hs_run(null));
    assert_null_error("hs_poll", hs_poll(null, 0));
    assert_null_error("hs_shutdown", hs_shutdown(null));
    assert_null_error("hs_set_threads", hs_set_threads(null, 2));
    assert_null_error(
        "hs_set_limit",
        hs_set_limit(null, hs_limit::HS_LIMIT_MAX_BODY_BYTES as c_int, 1),
    );
    let mut v = 0u64;
    assert_null_error(
        "hs_get_limit",
        hs_get_limit(null, hs_limit::HS_LIMIT_MAX_BODY_BYTES as c_int, &mut v),
    );
    assert_null_error("hs_set_timeout", hs_set_timeout(null, 1, 0));
    assert_null_error("hs_set_rate_limit", hs_set_rate_limit(null, 1, 1));
    assert_null_error(
        "hs_set_connection_required",
        hs_set_connection_required(null, 1),
    );
    let ip = c("127.0.0.1");
    assert_null_error("hs_client_on", hs_client_on(null, ip.as_ptr()));
    assert_null_error("hs_client_off", hs_client_off(null, ip.as_ptr()));
    let (n, val) = (c("X-A"), c("1"));
    assert_null_error(
        "hs_set_header",
        hs_set_header(null, n.as_ptr(), val.as_ptr()),
    );
    assert_null_error("hs_clear_headers", hs_clear_headers(null));
    assert_null_error("hs_on_error", hs_on_error(null, None, std::ptr::null_mut()));
    assert_null_error(
        "hs_on_response",
        hs_on_response(null, None, std::ptr::null_mut()),
    );
    assert_null_error("hs_websocket", hs_websocket(null, 1));
    assert_null_error(
        "hs_ws_send",
        hs_ws_send(null, 1, b"x".as_ptr().cast(), 1, 0),
    );
    assert_null_error("hs_ws_count", hs_ws_count(null, -1));
    assert_null_error("hs_set_debug", hs_set_debug(null, 0));
    assert_null_error(
        "hs_add_timer",
        hs_add_timer(null, 10, 0, None, std::ptr::null_mut()) as c_int,
    );
    // hs_free(NULL) is a no-op.
    hs_free(null);

    // NULL request and response handles.
    let req: *const hs_request = std::ptr::null();
    let res: *mut hs_response = std::ptr::null_mut();
    let mut len = 7usize;
    assert!(hs_request_method(req, &mut len).is_null());
    assert!(last_error().contains("NULL"), "{}", last_error());
    assert!(hs_request_body(req, &mut len).is_null());
    assert_null_error("hs_request_header_count", hs_request_header_count(req));
    assert_null_error("hs_request_peer_port", hs_request_peer_port(req));
    assert_eq!(hs_request_conn_id(req), 0);
    assert_null_error("hs_response_set_status", hs_response_set_status(res, 200));
    assert_null_error(
        "hs_response_set_body",
        hs_response_set_body(res, b"x".as_ptr().cast(), 1),
    );
    assert_null_error("hs_respond", respond(res, 200, "", b"x"));
    assert_null_error(
        "hs_response_set_raw",
        set_raw(res, b"HTTP/1.1 200 OK\r\n\r\n"),
    );

    // NULL arguments to a live server.
    let s = hs_new(c("127.0.0.1").as_ptr(), 0);
    assert!(!s.is_null());
    assert_null_error(
        "hs_route methods",
        hs_route(
            s,
            std::ptr::null(),
            p.as_ptr(),
            Some(noop_handler),
            std::ptr::null_mut(),
        ),
    );
    assert_null_error(
        "hs_route pattern",
        hs_route(
            s,
            m.as_ptr(),
            std::ptr::null(),
            Some(noop_handler),
            std::ptr::null_mut(),
        ),
    );
    assert_null_error(
        "hs_route handler",
        hs_route(s, m.as_ptr(), p.as_ptr(), None, std::ptr::null_mut()),
    );
    assert_null_error(
        "hs_set_header name",
        hs_set_header(s, std::ptr::null(), val.as_ptr()),
    );
    assert_null_error(
        "hs_get_limit value",
        hs_get_limit(
            s,
            hs_limit::HS_LIMIT_MAX_BODY_BYTES as c_int,
            std::ptr::null_mut(),
        ),
    );
    hs_free(s);
}

#[test]
fn freed_handle_is_a_state_error() {
    let s = hs_new(c("127.0.0.1").as_ptr(), 0);
    assert!(!s.is_null(), "{}", last_error());
    assert_eq!(hs_start(s), 0);
    hs_free(s);
    let check = |what: &str, rc: c_int| {
        assert_eq!(rc, STATE, "{what}");
        assert!(last_error().contains("freed"), "{what}: {}", last_error());
    };
    check("hs_port", hs_port(s));
    check("hs_start", hs_start(s));
    check("hs_poll", hs_poll(s, 0));
    check("hs_shutdown", hs_shutdown(s));
    let (m, p) = (c("GET"), c("/"));
    check(
        "hs_route",
        hs_route(
            s,
            m.as_ptr(),
            p.as_ptr(),
            Some(noop_handler),
            std::ptr::null_mut(),
        ),
    );
    check(
        "hs_set_limit",
        hs_set_limit(s, hs_limit::HS_LIMIT_MAX_BODY_BYTES as c_int, 1),
    );
    check("hs_clear_headers", hs_clear_headers(s));
    check("hs_ws_count", hs_ws_count(s, -1));
    hs_free(s); // a second free is ignored
}

#[test]
fn invalid_pattern_and_methods_are_refused() {
    let s = hs_new(c("127.0.0.1").as_ptr(), 0);
    let (m, bad) = (c("GET"), c("/bad/("));
    let rc = hs_route(
        s,
        m.as_ptr(),
        bad.as_ptr(),
        Some(noop_handler),
        std::ptr::null_mut(),
    );
    assert_eq!(rc, PATTERN);
    let msg = last_error();
    assert!(msg.contains("'/bad/('"), "{msg}");
    let (badm, p) = (c("GE T"), c("/x"));
    let rc = hs_route(
        s,
        badm.as_ptr(),
        p.as_ptr(),
        Some(noop_handler),
        std::ptr::null_mut(),
    );
    assert_eq!(rc, INVALID);
    assert!(last_error().contains("GE T"), "{}", last_error());
    let empty = c("");
    let rc = hs_route(
        s,
        empty.as_ptr(),
        p.as_ptr(),
        Some(noop_handler),
        std::ptr::null_mut(),
    );
    assert_eq!(rc, INVALID);
    // A good route after the failures gets an id.
    let rc = hs_route(
        s,
        m.as_ptr(),
        p.as_ptr(),
        Some(noop_handler),
        std::ptr::null_mut(),
    );
    assert!(rc >= 0, "{}", last_error());
    // Unknown limit.
    assert_eq!(hs_set_limit(s, 99, 1), INVALID);
    assert!(last_error().contains("99"), "{}", last_error());
    hs_free(s);
}

#[test]
fn hs_new_refuses_bad_port_and_null_address() {
    let addr = c("127.0.0.1");
    assert!(hs_new(addr.as_ptr(), 70000).is_null());
    assert!(last_error().contains("70000"), "{}", last_error());
    assert!(hs_new(addr.as_ptr(), -1).is_null());
    assert!(last_error().contains("-1"), "{}", last_error());
    assert!(hs_new(std::ptr::null(), 0).is_null());
    assert!(last_error().contains("NULL"), "{}", last_error());
    let empty = c("");
    assert!(hs_new(empty.as_ptr(), 0).is_null());
    let bad = c("tcp://127.0.0.1:notaport");
    assert!(hs_new(bad.as_ptr(), 0).is_null());
    assert!(last_error().contains("notaport"), "{}", last_error());
}

#[test]
fn taken_port_is_an_io_error_naming_address_and_port() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let s = hs_new(c("127.0.0.1").as_ptr(), port as c_int);
    assert!(!s.is_null(), "{}", last_error());
    assert_eq!(hs_start(s), IO);
    let msg = last_error();
    assert!(msg.contains("127.0.0.1"), "{msg}");
    assert!(msg.contains(&port.to_string()), "{msg}");
    assert!(msg.contains("in use"), "{msg}");
    assert_eq!(hs_port(s), STATE, "not listening");
    hs_free(s);
    drop(taken);
}

#[test]
fn ephemeral_port_is_reported_after_start() {
    let s = hs_new(c("127.0.0.1").as_ptr(), 0);
    assert!(!s.is_null());
    assert_eq!(hs_port(s), STATE, "before hs_start");
    assert!(last_error().contains("hs_start"), "{}", last_error());
    assert_eq!(hs_start(s), 0);
    let port = hs_port(s);
    assert!(port > 0);
    assert_eq!(hs_start(s), 0, "idempotent");
    assert_eq!(hs_port(s), port);
    // It listens already (the kernel completes the handshake before the loop runs).
    TcpStream::connect(("127.0.0.1", port as u16)).expect("listening after hs_start");
    hs_free(s);
}

#[test]
fn tcp_url_port_is_used_when_port_argument_is_0() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let srv = TestServer::start_on(&format!("tcp://127.0.0.1:{port}"), 0, |s| {
        must_route(s, "GET", "/", reply("url"));
    });
    assert_eq!(srv.port, port);
    assert_eq!(hs_port(srv.raw()), port as c_int);
    let r = get(port, "/");
    assert_eq!((r.status, r.text()), (200, "url".to_string()));
}

#[test]
fn ipv6_loopback() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let srv = TestServer::start_on("::1", 0, |s| {
        must_route(s, "GET", "/ip", |req, res| {
            let ip = field(|r, l| hs_request_peer_ip(r, l), req);
            assert_eq!(respond(res, 200, "", ip.as_bytes()), 0);
        });
    });
    let s = TcpStream::connect(("::1", srv.port)).expect("connect to [::1]");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut conn = Conn {
        r: BufReader::new(s),
    };
    let r = conn.request(b"GET /ip HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "::1".to_string()));
    // It does not listen on IPv4.
    assert!(TcpStream::connect(("127.0.0.1", srv.port)).is_err());
}

// ---------------------------------------------------------------------------------------------
// curl, an independent client
// ---------------------------------------------------------------------------------------------

#[test]
fn curl_get() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/hello/{name}", |req, res| {
            let n = c("name");
            let name = field(|r, l| hs_request_param_named(r, n.as_ptr(), l), req);
            let q = field(|r, l| hs_request_query(r, l), req);
            let ua = header(req, "user-agent").unwrap_or_default();
            let text = format!("hi {name} q={q} curl={}", ua.starts_with("curl/"));
            assert_eq!(
                respond(res, 200, "Content-Type: text/plain", text.as_bytes()),
                0
            );
        });
    });
    let (status, text) = curl(&[&srv.url("/hello/curl?x=1")]);
    assert_eq!((status, text.as_str()), (200, "hi curl q=x=1 curl=true"));
    let (status, text) = curl(&[&srv.url("/nope")]);
    assert_eq!((status, text.as_str()), (404, "404 Not Found"));
}

#[test]
fn curl_post_data_binary() {
    let srv = TestServer::start(|s| {
        must_route(s, "POST", "/post", |req, res| {
            let ct = header(req, "content-type").unwrap_or_default();
            let b = body(req);
            let sum: u64 = b.iter().map(|&x| x as u64).sum();
            let text = if b.len() > 64 {
                format!("{ct} len={} sum={sum}", b.len())
            } else {
                format!("{ct} {}", String::from_utf8_lossy(&b))
            };
            assert_eq!(respond(res, 200, "", text.as_bytes()), 0);
        });
    });
    let (status, text) = curl(&["--data-binary", "alpha=1&beta=two words", &srv.url("/post")]);
    assert_eq!(status, 200);
    assert_eq!(
        text,
        "application/x-www-form-urlencoded alpha=1&beta=two words"
    );

    // 2 MiB of binary from a file: curl sends `Expect: 100-continue` for it.
    let data = pattern_bytes(2 * 1024 * 1024);
    let path = std::env::temp_dir().join(format!(
        "httpsock-curl-{}-{}.bin",
        std::process::id(),
        srv.port
    ));
    std::fs::write(&path, &data).unwrap();
    let arg = format!("@{}", path.display());
    let (status, text) = curl(&[
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &arg,
        &srv.url("/post"),
    ]);
    std::fs::remove_file(&path).ok();
    let sum: u64 = data.iter().map(|&x| x as u64).sum();
    assert_eq!(status, 200);
    assert_eq!(
        text,
        format!("application/octet-stream len={} sum={sum}", data.len())
    );
}

#[test]
fn curl_head() {
    let srv = TestServer::start(|s| {
        must_route(s, "GET", "/doc", |_, res| {
            assert_eq!(
                respond(res, 200, "Content-Type: text/plain", b"0123456789abcdef"),
                0
            );
        });
    });
    let (status, text) = curl(&["-I", &srv.url("/doc")]);
    assert_eq!(status, 200);
    let head = text.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{text}");
    assert!(head.contains("\r\ncontent-length: 16\r\n"), "{text}");
    assert!(head.contains("\r\ncontent-type: text/plain\r\n"), "{text}");
    assert!(
        head.ends_with("\r\n\r\n"),
        "no body after the head: {text:?}"
    );
}
