//! The fuzz harness: one function per cargo-fuzz target, each panicking when an input breaks a
//! property. The targets (`fuzz/fuzz_targets/*.rs`) call these; `tests/fuzz_corpus.rs` compiles
//! this same file to replay the committed corpus and the regressions under plain `cargo test`.
//!
//! - `route_pattern`: a route pattern and paths; compiling and matching never panic, capture
//!   ranges are sane, and where the regex-free fast matcher is used it agrees with the regex.
//! - `raw_response`: a raw HTTP response as a host hands it back; parsing never panics, a parsed
//!   response re-serialises to the same thing, `Response::set_raw` agrees with the parse.
//! - `http_request`: bytes sent by a client on one connection, served by the real hyper service
//!   and engine pipeline over an in-memory pipe on virtual time; the answer is a well-formed
//!   stream of HTTP/1.1 responses, and the connection always ends.

use httpsock::engine::http::raw_response;
use httpsock::engine::http::router::{normalize_path, Pattern};
use httpsock::engine::{
    Answer, ErrorHandler, Field, Request, Response, ResponseFilter, Server, WsHandler,
};
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// route_pattern

/// Input: `pattern NUL path NUL path ...` (lossy UTF-8, as the C ABI's strings are checked
/// before they reach the router, and a path reaches it as a `&str`).
pub fn route_pattern(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0);
    let pattern = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let Ok(p) = Pattern::compile(&pattern) else {
        return;
    };
    assert_eq!(p.source(), pattern, "the pattern keeps its source");
    let captures = p.names().len();
    for raw in parts.take(16) {
        let path = String::from_utf8_lossy(raw);
        // The router sees normalised paths; matching the raw one must not fail either.
        for path in [normalize_path(&path).into_owned(), path.into_owned()] {
            check_match(&p, &pattern, &path, captures);
        }
    }
}

fn check_match(p: &Pattern, pattern: &str, path: &str, captures: usize) {
    let got = p.matches(path);
    if let Some(ranges) = &got {
        assert_eq!(ranges.len(), captures, "one range per capture group");
        for &(a, b) in ranges {
            assert!(a <= b && b <= path.len(), "range {a}..{b} in {path:?}");
            assert!(path.is_char_boundary(a) && path.is_char_boundary(b));
        }
    }
    if p.has_fast_path() {
        assert_eq!(
            got,
            p.matches_regex(path),
            "fast matcher and regex differ: pattern {pattern:?} path {path:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// raw_response

pub fn raw_response(data: &[u8]) {
    let parsed = raw_response::parse(data);
    let mut res = Response::new();
    let set = res.set_raw(data);
    let Ok(r) = parsed else {
        assert!(
            set.is_err() && res.poisoned.is_some(),
            "an unparsable raw response poisons"
        );
        return;
    };
    // Status: three digits. Names and values are slices of the input, before the body.
    assert!(r.status <= 999, "status {}", r.status);
    let body_at = data.len() - r.body.len();
    assert!(
        std::ptr::eq(r.body.as_ptr(), data[body_at..].as_ptr()),
        "the body is the input's tail"
    );
    let within = |s: &[u8]| {
        let at = s.as_ptr() as usize - data.as_ptr() as usize;
        at <= body_at && at + s.len() <= body_at
    };
    for (name, value) in &r.headers {
        assert!(!name.is_empty(), "empty header name");
        assert!(
            within(name.as_bytes()) && within(value),
            "header outside the head"
        );
        assert!(!value.contains(&b'\n'), "a header value holds a line break");
    }
    // Re-serialised, it parses to the same response.
    let mut again = format!("HTTP/1.1 {:03} X\r\n", r.status).into_bytes();
    for (name, value) in &r.headers {
        again.extend_from_slice(name.as_bytes());
        again.extend_from_slice(b": ");
        again.extend_from_slice(value);
        again.extend_from_slice(b"\r\n");
    }
    again.extend_from_slice(b"\r\n");
    again.extend_from_slice(r.body);
    let r2 = raw_response::parse(&again).expect("a re-serialised response parses");
    assert_eq!(r2.status, r.status);
    assert_eq!(r2.headers, r.headers);
    assert_eq!(r2.body, r.body);
    // What the engine sends for it: the status if in range (200-999: a 1xx is never a final
    // answer), the headers but the framing ones.
    let valid = (200..=999).contains(&r.status)
        && r.headers.iter().all(|(n, v)| {
            hyper_name_ok(n.as_bytes()) && v.iter().all(|&b| b == b'\t' || b >= 0x20 && b != 0x7f)
        });
    if valid {
        assert!(
            set.is_ok(),
            "set_raw refused a valid response: {set:?}",
            set = set.err()
        );
        assert_eq!(res.status, r.status);
        assert_eq!(&res.body[..], r.body);
        let kept = r
            .headers
            .iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("content-length")
                    && !n.eq_ignore_ascii_case("transfer-encoding")
            })
            .count();
        assert_eq!(res.headers.len(), kept);
    }
}

/// A header name as RFC 9110 §5.6.2 has it: a token.
fn hyper_name_ok(n: &[u8]) -> bool {
    !n.is_empty()
        && n.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

// ---------------------------------------------------------------------------------------------
// http_request

/// How the first input byte sets up the server and the client for one run.
#[derive(Clone, Copy, Debug)]
pub struct Setup(pub u8);

impl Setup {
    /// The client shuts its sending side after the last byte (otherwise it keeps it open and
    /// waits, as most clients do, and the idle timeout ends the connection).
    pub fn half_close(self) -> bool {
        self.0 & 1 != 0
    }
    pub fn connection_required(self) -> bool {
        self.0 & 2 != 0
    }
    pub fn websocket(self) -> bool {
        self.0 & 4 != 0
    }
    /// An error hook and a response filter that rewrite answers.
    pub fn hooks(self) -> bool {
        self.0 & 8 != 0
    }
    /// Small limits: a 32-byte body, the smallest head buffer hyper takes.
    pub fn small_limits(self) -> bool {
        self.0 & 16 != 0
    }
    /// The client's bytes go out whole, or in pieces of 1, 7 or 200 bytes with the server
    /// running between them.
    pub fn piece(self) -> usize {
        [usize::MAX, 1, 7, 200][(self.0 >> 5 & 3) as usize]
    }
    /// A rate limit of 2 requests per window.
    pub fn rate_limit(self) -> bool {
        self.0 & 128 != 0
    }
}

/// The idle timeout of the fuzzed server (virtual time: it costs no real waiting).
pub const IDLE: Duration = Duration::from_secs(5);
/// A connection still open this long (virtual time) after the client's last byte is a hang.
pub const HANG: Duration = Duration::from_secs(3600);

struct NoWs;

/// Error hook (rewrites every error but 404 to a 599) and response filter (adds a header).
struct Hook;

impl ErrorHandler for Hook {
    fn on_error(&self, _: &Request, kind: Answer, res: &mut Response) {
        if kind != Answer::NotFound {
            let _ = res.set_status(599);
            res.set_body("hooked".into());
        }
    }
}

impl ResponseFilter for Hook {
    fn filter(&self, req: &Request, res: &mut Response) {
        let path = req.field(Field::Path);
        let _ = res.add_header(b"x-path", path.strip_suffix(b"\0").unwrap_or(path));
    }
}

impl WsHandler for NoWs {
    fn on_open(&self, _: u64, _: &Request) {}
    fn on_message(&self, _: u64, _: &[u8], _: bool) {}
    fn on_close(&self, _: u64, _: u16, _: &str) {}
}

/// The server of one run: a few routes of each kind (literal, captures, regex, ALL, WebSocket)
/// whose handlers exercise the request accessors and the response setters.
pub fn fuzz_server(setup: Setup) -> Server {
    let server = Server::new("127.0.0.1", 0).expect("server");
    // The checks below read HTTP/1.x answers: an input that opens with the HTTP/2 preface must
    // get HTTP/1's answer to it (h2c would answer in HTTP/2 frames).
    server.set_http2(true, false).expect("h2c off");
    let route = |methods: &str, pattern: &str, h: fn(&Request, &mut Response)| {
        server.route(methods, pattern, Arc::new(h)).expect("route");
    };
    route("GET", "/", |_, res| res.set_body("Hello".into()));
    route("POST|PUT", "/echo", |req, res| {
        res.set_body(req.body.clone());
        if let Some(ct) = req.header("content-type") {
            let _ = res.add_header(b"content-type", ct.strip_suffix(b"\0").unwrap_or(ct));
        }
    });
    route("ALL", "/user/{id}", |req, res| {
        let id = req.capture_by_name("id").unwrap_or_default().to_vec();
        res.set_body(id.into());
    });
    route("GET", "/a/{x}/b/{y}/end", |req, res| {
        let mut out = Vec::new();
        for i in 0..req.capture_count() {
            out.extend_from_slice(req.capture(i).unwrap_or_default());
        }
        res.set_body(out.into());
    });
    route("GET|HEAD", "/n/\\d{2,3}", |req, res| {
        res.set_body(req.field(Field::Uri).to_vec().into())
    });
    route("POST", "/raw", |req, res| {
        let _ = res.set_raw(&req.body);
    });
    route("POST", "/headers", |req, res| {
        let _ = res.add_header_block(&req.body);
    });
    route("ALL", "/wire", |req, res| {
        let mut packed = Vec::new();
        req.write_packed_head(&mut packed);
        packed.extend_from_slice(&req.body);
        res.set_body(packed.into())
    });
    route("DELETE", "/status/{code}", |req, res| {
        let code = std::str::from_utf8(req.capture(0).unwrap_or_default())
            .ok()
            .and_then(|s| s.trim_end_matches('\0').parse::<i64>().ok())
            .unwrap_or(0);
        let _ = res.set_status(code);
    });
    if setup.websocket() {
        server.set_websocket(true);
        server.accept("/ws/{room}", Arc::new(NoWs)).expect("accept");
    }
    server.set_connection_required(setup.connection_required());
    if setup.hooks() {
        server.set_on_error(Some(Arc::new(Hook)));
        server.set_on_response(Some(Arc::new(Hook)));
    }
    server.update_limits(|l| {
        l.idle_timeout = IDLE;
        l.ws_ping_interval = Duration::from_secs(1);
        l.ws_ping_timeout = Duration::from_secs(1);
        if setup.small_limits() {
            l.max_body_bytes = 32;
            l.max_header_bytes = httpsock::engine::config::MIN_HEADER_BYTES;
            l.ws_max_message = 32;
        }
    });
    if setup.rate_limit() {
        server.set_rate_limit(2, Duration::from_secs(60));
    }
    server
}

/// Serves one connection whose client sends `input[1..]` (set up by `input[0]`), on a
/// current-thread runtime with virtual time; returns every byte the server sent until it closed.
/// Panics if the connection is still open `HANG` after the client's last byte.
pub fn serve_bytes(input: &[u8]) -> Vec<u8> {
    let Some((&first, sent)) = input.split_first() else {
        return Vec::new();
    };
    let setup = Setup(first);
    let server = fuzz_server(setup);
    let http = server.http().clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let sent = sent.to_vec();
    let out = rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Room for any input and answer, so that neither side waits on the pipe's capacity.
        let (client, conn) = tokio::io::duplex(1 << 20);
        let peer = "127.0.0.1:40000".parse().unwrap();
        // The idle and request-head timeouts are the server's watchdog task's.
        tokio::spawn(httpsock::engine::transport::watchdog(
            http.base.clone(),
            http.conns.clone(),
        ));
        tokio::spawn(httpsock::engine::http::serve::serve_connection(
            http, conn, 1, peer,
        ));
        let (mut rx, mut tx) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            for piece in sent.chunks(setup.piece().min(sent.len().max(1))) {
                if tx.write_all(piece).await.is_err() {
                    return None;
                }
                tokio::task::yield_now().await;
            }
            if setup.half_close() {
                let _ = tx.shutdown().await;
                None
            } else {
                Some(tx) // kept open until the server closes
            }
        });
        let mut out = Vec::new();
        let read = tokio::time::timeout(HANG, rx.read_to_end(&mut out)).await;
        assert!(
            read.is_ok(),
            "the connection was still open {HANG:?} after the client's last byte (idle \
             timeout {IDLE:?}); {} bytes answered",
            out.len()
        );
        drop(writer.await);
        out
    });
    drop(rt);
    drop(server);
    out
}

pub fn http_request(input: &[u8]) {
    let out = serve_bytes(input);
    let sent = input.get(1..).unwrap_or_default();
    check_responses(&out, sent, Setup(input.first().copied().unwrap_or(0)));
}

/// The server's bytes must be complete HTTP/1.x responses one after the other, framed by
/// Content-Length (no body after a HEAD, 1xx, 204 or 304), nothing after one that said
/// `Connection: close`, and nothing but WebSocket frames after a 101 (only when enabled).
pub fn check_responses(out: &[u8], sent: &[u8], setup: Setup) {
    let head_sent = sent.windows(4).any(|w| w == b"HEAD");
    let mut rest = out;
    let mut count = 0;
    while !rest.is_empty() {
        count += 1;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        let n = match r.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "response {count} is not a complete HTTP/1.x head ({other:?}): {:?}",
                String::from_utf8_lossy(&rest[..rest.len().min(200)])
            ),
        };
        let code = r.code.unwrap();
        assert!((100..=999).contains(&code), "status {code}");
        let get = |name: &str| {
            r.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
                .collect::<Vec<_>>()
        };
        assert!(
            get("transfer-encoding").is_empty(),
            "the engine frames with Content-Length"
        );
        let lengths = get("content-length");
        assert!(lengths.len() <= 1, "several Content-Length");
        let close = get("connection")
            .iter()
            .any(|v| v.eq_ignore_ascii_case(b"close"));
        if code == 101 {
            assert!(setup.websocket(), "101 without WebSocket enabled");
            return; // the rest is WebSocket frames
        }
        let after_head = &rest[n..];
        let len = match lengths.first() {
            Some(v) => std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("bad Content-Length {v:?}")),
            None => {
                assert!(
                    (100..200).contains(&code) || code == 204 || code == 304,
                    "status {code} without Content-Length"
                );
                0
            }
        };
        // A HEAD answer has the GET's Content-Length and no body: take the reading that leaves
        // a stream that goes on with a response (or ends).
        let next_ok = |at: usize| {
            after_head.len() >= at && {
                let t = &after_head[at..];
                t.is_empty() || t.starts_with(b"HTTP/1.")
            }
        };
        let body = if (100..200).contains(&code) || code == 204 || code == 304 {
            0
        } else if next_ok(len) {
            len
        } else if head_sent && next_ok(0) {
            0
        } else {
            panic!(
                "response {count} ({code}) has Content-Length {len} but {} bytes follow its head",
                after_head.len()
            )
        };
        rest = &after_head[body..];
        if close {
            assert!(
                rest.is_empty(),
                "{} bytes after a Connection: close response",
                rest.len()
            );
        }
    }
}
