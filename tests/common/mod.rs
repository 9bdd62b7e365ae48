//! Shared harness for the integration tests: they drive the exported `hs_*` C functions (as a C
//! host would), with `extern "C-unwind"` callbacks and real clients over 127.0.0.1.
#![allow(dead_code)]

use httpsock::ffi::api::*;
use httpsock::ffi::hs_server;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

/// What tests hand to the library as `user_data` (closures, channels): it must outlive the
/// server and tests are short, so it is kept for the rest of the process. Kept in this static
/// rather than leaked, so that a leak checker (`make sanitize` runs these tests under Valgrind)
/// sees it as still reachable and anything lost is the library's own.
static KEPT: Mutex<Vec<Box<dyn std::any::Any + Send>>> = Mutex::new(Vec::new());

/// Keeps `v` for the rest of the process; returns its address for a `user_data` argument.
pub fn keep<T: Send + 'static>(v: T) -> *mut c_void {
    let b = Box::new(v);
    let p = &*b as *const T as *mut c_void;
    KEPT.lock().unwrap_or_else(|e| e.into_inner()).push(b);
    p
}

/// `CString` for an argument.
pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Reads a NUL-terminated string the library returned (None for NULL).
pub fn read_c(p: *const c_char) -> Option<String> {
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

pub fn last_error() -> String {
    read_c(hs_last_error()).unwrap_or_default()
}

/// A raw server pointer that may cross to the loop thread (the C ABI allows it).
#[derive(Clone, Copy)]
pub struct Ptr(pub *mut hs_server);
unsafe impl Send for Ptr {}
unsafe impl Sync for Ptr {}

/// A server on 127.0.0.1 with an ephemeral port, its loop running `hs_run` on its own thread.
pub struct TestServer {
    pub ptr: Ptr,
    pub port: u16,
    thread: Option<std::thread::JoinHandle<c_int>>,
}

impl TestServer {
    /// Creates the server, lets `configure` register routes and settings, starts it (the socket
    /// listens when this returns: clients may connect at once) and runs the loop on a thread.
    pub fn start(configure: impl FnOnce(*mut hs_server)) -> TestServer {
        Self::start_on("127.0.0.1", 0, configure)
    }

    pub fn raw(&self) -> *mut hs_server {
        self.ptr.0
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Asks for shutdown and waits for `hs_run` to return; returns its status.
    pub fn stop(mut self) -> c_int {
        self.finish()
    }

    fn finish(&mut self) -> c_int {
        let Some(t) = self.thread.take() else {
            return 0;
        };
        assert_eq!(hs_shutdown(self.ptr.0), 0);
        let rc = t.join().expect("loop thread panicked");
        hs_free(self.ptr.0);
        rc
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.finish();
        } else if let Some(_t) = self.thread.take() {
            hs_shutdown(self.ptr.0);
        }
    }
}

/// Registers a closure as an HTTP handler through `hs_route`. The closure is kept for the rest of
/// the process (`keep`).
pub fn route<F>(server: *mut hs_server, methods: &str, pattern: &str, f: F) -> c_int
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
    let (m, p) = (c(methods), c(pattern));
    hs_route(server, m.as_ptr(), p.as_ptr(), Some(tramp::<F>), ud)
}

/// Answers with `hs_respond` in one call.
pub fn respond(res: *mut hs_response, status: i32, headers: &str, body: &[u8]) -> c_int {
    hs_respond(
        res,
        status,
        headers.as_ptr().cast(),
        headers.len(),
        body.as_ptr().cast(),
        body.len(),
    )
}

/// Reads a (ptr, len) string accessor of the request.
pub fn field(
    f: impl Fn(*const hs_request, *mut usize) -> *const c_char,
    req: *const hs_request,
) -> String {
    let mut len = 0usize;
    let p = f(req, &mut len);
    assert!(!p.is_null(), "accessor returned NULL: {}", last_error());
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, len) };
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn header(req: *const hs_request, name: &str) -> Option<String> {
    let n = c(name);
    let mut len = 0usize;
    let p = hs_request_header(req, n.as_ptr(), &mut len);
    (!p.is_null()).then(|| {
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
            .into_owned()
    })
}

pub fn body(req: *const hs_request) -> Vec<u8> {
    let mut len = 0usize;
    let p = hs_request_body(req, &mut len);
    unsafe { std::slice::from_raw_parts(p, len) }.to_vec()
}

pub type OpenFn = Box<dyn Fn(u64, *const hs_request) + Send + Sync>;
pub type MessageFn = Box<dyn Fn(u64, &[u8], bool) + Send + Sync>;
pub type CloseFn = Box<dyn Fn(u64, i32, String) + Send + Sync>;

/// WebSocket callbacks as closures, registered with `hs_accept`.
pub struct WsCallbacks {
    pub open: OpenFn,
    pub message: MessageFn,
    pub close: CloseFn,
}

impl Default for WsCallbacks {
    fn default() -> Self {
        WsCallbacks {
            open: Box::new(|_, _| {}),
            message: Box::new(|_, _, _| {}),
            close: Box::new(|_, _, _| {}),
        }
    }
}

pub fn accept(server: *mut hs_server, pattern: &str, cbs: WsCallbacks) -> c_int {
    unsafe extern "C-unwind" fn on_open(ud: *mut c_void, id: u64, req: *const hs_request) {
        ((*(ud as *const WsCallbacks)).open)(id, req)
    }
    unsafe extern "C-unwind" fn on_message(
        ud: *mut c_void,
        id: u64,
        data: *const u8,
        len: usize,
        bin: c_int,
    ) {
        let d = std::slice::from_raw_parts(data, len);
        ((*(ud as *const WsCallbacks)).message)(id, d, bin != 0)
    }
    unsafe extern "C-unwind" fn on_close(
        ud: *mut c_void,
        id: u64,
        code: c_int,
        reason: *const c_char,
    ) {
        let r = CStr::from_ptr(reason).to_string_lossy().into_owned();
        ((*(ud as *const WsCallbacks)).close)(id, code, r)
    }
    let handlers = hs_ws_handlers {
        on_open: Some(on_open),
        on_message: Some(on_message),
        on_close: Some(on_close),
    };
    let ud = keep(cbs);
    let p = c(pattern);
    hs_accept(server, p.as_ptr(), &handlers, ud)
}

/// A parsed HTTP response read off a raw socket.
#[derive(Debug)]
pub struct HttpResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response (Content-Length or chunked framing; `head` true for a HEAD request: no
/// body). Returns None on EOF before a status line.
pub fn read_response<R: BufRead>(r: &mut R, head: bool) -> Option<HttpResp> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).ok()?;
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = HttpResp {
        status,
        headers,
        body: Vec::new(),
    };
    if head || status == 101 || status == 204 || status == 304 || (100..200).contains(&status) {
        return Some(resp);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut l = String::new();
            r.read_line(&mut l).ok()?;
            let n = usize::from_str_radix(l.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        resp.body = vec![0; n];
        r.read_exact(&mut resp.body).ok()?;
    } else {
        r.read_to_end(&mut resp.body).ok()?;
    }
    Some(resp)
}

/// Sends raw bytes on a new connection and reads one response.
pub fn raw_request(port: u16, raw: &[u8]) -> Option<HttpResp> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).ok()?;
    let head = raw.starts_with(b"HEAD ");
    read_response(&mut BufReader::new(s), head)
}

/// A GET on a new connection.
pub fn get(port: u16, path: &str) -> HttpResp {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    raw_request(port, req.as_bytes()).expect("no response")
}

/// Runs curl (a real, independent HTTP client) and returns (status, body).
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

impl TestServer {
    /// As `start`, on another address form (`"::1"`, `"tcp://127.0.0.1:PORT"`) and port.
    /// `connect`/`url` still assume 127.0.0.1: connect to other addresses yourself.
    pub fn start_on(address: &str, port: c_int, configure: impl FnOnce(*mut hs_server)) -> Self {
        let addr = c(address);
        let ptr = hs_new(addr.as_ptr(), port);
        assert!(!ptr.is_null(), "hs_new({address}): {}", last_error());
        configure(ptr);
        assert_eq!(hs_start(ptr), 0, "hs_start({address}): {}", last_error());
        let bound = hs_port(ptr);
        assert!(bound > 0, "hs_port: {}", last_error());
        let p = Ptr(ptr);
        let thread = std::thread::spawn(move || {
            let p = p;
            hs_run(p.0)
        });
        TestServer {
            ptr: p,
            port: bound as u16,
            thread: Some(thread),
        }
    }
}
