//! The request a handler sees. Built once per request; every string field is reachable as a
//! NUL-terminated slice so the C layer can hand out pointers without copying again.

use crate::engine::transport::Activity;
use bytes::Bytes;
use hyper::http::request::Parts;
use std::cell::{OnceCell, RefCell};
use std::net::SocketAddr;
use std::sync::Arc;

/// Indexes of the fixed fields in `Request::strings`.
#[derive(Clone, Copy)]
pub enum Field {
    Method = 0,
    Path = 1,
    Query = 2,
    Uri = 3,
}
const FIXED_FIELDS: usize = 4;

/// The request's strings packed into one buffer, each followed by a NUL: method, path, query,
/// URI, then the route's captures. Built on the first accessor call that needs a NUL-terminated
/// field (the C ABI's `hs_request_*`): hosts that never ask (the packed PHP path, a handler that
/// answers without reading) do not pay for the copy.
struct Packed {
    strings: Vec<u8>,
    fixed: [(u32, u32); FIXED_FIELDS],
    captures: Vec<(u32, u32)>,
}

impl Packed {
    fn new(head: &Parts, path: &str, captures: &[(usize, usize)]) -> Packed {
        let uri = head
            .uri
            .path_and_query()
            .map_or(head.uri.path(), |pq| pq.as_str());
        let query = head.uri.query().unwrap_or("");
        let fixed_parts: [&[u8]; FIXED_FIELDS] = [
            head.method.as_str().as_bytes(),
            head.uri.path().as_bytes(),
            query.as_bytes(),
            uri.as_bytes(),
        ];
        let cap_len: usize = captures.iter().map(|(a, b)| b - a + 1).sum();
        let mut strings =
            Vec::with_capacity(fixed_parts.iter().map(|p| p.len() + 1).sum::<usize>() + cap_len);
        let mut push = |s: &[u8]| {
            let span = (strings.len() as u32, s.len() as u32);
            strings.extend_from_slice(s);
            strings.push(0);
            span
        };
        let fixed = fixed_parts.map(&mut push);
        let captures = captures
            .iter()
            .map(|&(a, b)| push(&path.as_bytes()[a..b]))
            .collect();
        Packed {
            strings,
            fixed,
            captures,
        }
    }
}

/// Where two fields of a packed head are in the buffer it was written to: (start, length) of
/// the query and of the headers block, so that a host can take them without splitting the head.
pub struct HeadSpans {
    pub query: (usize, usize),
    pub headers: (usize, usize),
}

/// Where a route matched: the normalised path when normalising changed it (otherwise the
/// request's own path is it), and the captures as byte ranges in that path.
#[derive(Default)]
pub struct Matched {
    pub normalized: Option<Box<str>>,
    pub captures: Vec<(usize, usize)>,
}

impl Matched {
    /// `path` is what `normalize_path` returned for the request's path.
    pub fn new(path: std::borrow::Cow<'_, str>, captures: Vec<(usize, usize)>) -> Matched {
        let normalized = match path {
            std::borrow::Cow::Owned(s) => Some(s.into_boxed_str()),
            std::borrow::Cow::Borrowed(_) => None,
        };
        Matched {
            normalized,
            captures,
        }
    }
}

/// The connection a request arrived on.
#[derive(Clone)]
pub struct Conn {
    pub id: u64,
    pub peer: SocketAddr,
    /// Over TLS.
    pub secure: bool,
    /// Its counters for the watchdog (a WebSocket over HTTP/2 keeps its connection busy).
    pub activity: Arc<Activity>,
}

pub struct Request {
    pub head: Parts,
    pub body: Bytes,
    pub peer: SocketAddr,
    pub conn_id: u64,
    /// Arrived over TLS.
    pub secure: bool,
    pub route_id: u32,
    matched: Matched,
    packed: OnceCell<Packed>,
    capture_names: Arc<[Option<Box<str>>]>,
    /// The peer IP as text, made on first use (most handlers never ask).
    peer_ip: OnceCell<Box<[u8]>>,
    /// Header values copied on demand with a NUL after them. Boxed slices never move, so pointers
    /// handed out stay valid for the life of the request even as the Vec grows.
    scratch: RefCell<Vec<Box<[u8]>>>,
}

/// Copies what of `head` may point into the connection's read buffer (hyper parses the URI,
/// header names and values as slices of it): a head kept after its request, for a connection's
/// life, would keep that whole buffer (16 KiB) alive; the copies keep their own bytes only.
pub fn detach_head(head: &mut Parts) {
    if let Ok(uri) = hyper::Uri::try_from(head.uri.to_string()) {
        head.uri = uri;
    }
    let old = std::mem::take(&mut head.headers);
    let mut headers = hyper::HeaderMap::with_capacity(old.len());
    for (name, value) in old.iter() {
        let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            hyper::header::HeaderValue::from_bytes(value.as_bytes()),
        ) else {
            continue;
        };
        headers.append(n, v);
    }
    head.headers = headers;
}

impl Request {
    pub fn new(
        head: Parts,
        body: Bytes,
        conn: &Conn,
        route_id: u32,
        matched: Matched,
        capture_names: Arc<[Option<Box<str>>]>,
    ) -> Request {
        Request {
            head,
            body,
            peer: conn.peer,
            conn_id: conn.id,
            secure: conn.secure,
            route_id,
            matched,
            packed: OnceCell::new(),
            capture_names,
            peer_ip: OnceCell::new(),
            scratch: RefCell::new(Vec::new()),
        }
    }

    /// A request with no route and no body (for error answers).
    pub fn bare(head: Parts, conn: &Conn) -> Request {
        Request::new(
            head,
            Bytes::new(),
            conn,
            u32::MAX,
            Matched::default(),
            Arc::from(Vec::new()),
        )
    }

    /// The path the route matched (captures are ranges in it).
    fn matched_path(&self) -> &str {
        self.matched
            .normalized
            .as_deref()
            .unwrap_or(self.head.uri.path())
    }

    fn packed(&self) -> &Packed {
        self.packed
            .get_or_init(|| Packed::new(&self.head, self.matched_path(), &self.matched.captures))
    }

    fn span(&self, (s, l): (u32, u32)) -> &[u8] {
        &self.packed().strings[s as usize..(s + l) as usize]
    }

    /// The field's bytes; the byte just past the slice is NUL.
    pub fn field(&self, f: Field) -> &[u8] {
        self.span(self.packed().fixed[f as usize])
    }

    /// The peer's IP address as text; the byte just past the slice is NUL.
    pub fn peer_ip(&self) -> &[u8] {
        let b = self.peer_ip.get_or_init(|| {
            let mut v = Vec::with_capacity(16);
            push_ip(&mut v, self.peer.ip());
            v.push(0);
            v.into_boxed_slice()
        });
        &b[..b.len() - 1]
    }

    pub fn capture_count(&self) -> usize {
        self.matched.captures.len()
    }

    /// The index-th capture; the byte just past the slice is NUL.
    pub fn capture(&self, index: usize) -> Option<&[u8]> {
        self.packed().captures.get(index).map(|&s| self.span(s))
    }

    /// The index-th capture, without the NUL guarantee (no copy).
    fn capture_raw(&self, index: usize) -> &[u8] {
        let (a, b) = self.matched.captures[index];
        &self.matched_path().as_bytes()[a..b]
    }

    pub fn capture_by_name(&self, name: &str) -> Option<&[u8]> {
        let i = self
            .capture_names
            .iter()
            .position(|n| n.as_deref() == Some(name))?;
        self.capture(i)
    }

    pub fn capture_name(&self, index: usize) -> Option<&str> {
        self.capture_names.get(index)?.as_deref()
    }

    fn keep(&self, bytes: Vec<u8>) -> &[u8] {
        let boxed = bytes.into_boxed_slice();
        let ptr = boxed.as_ptr();
        let len = boxed.len() - 1; // without the NUL
        self.scratch.borrow_mut().push(boxed);
        // SAFETY: the boxed slice is owned by `scratch`, which only grows while `self` lives, and
        // moving a Box does not move its heap buffer.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }

    fn with_nul(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 1);
        for p in parts {
            v.extend_from_slice(p);
        }
        v.push(0);
        v
    }

    /// A header by case-insensitive name; several fields of that name are joined with ", ".
    /// The returned slice is followed by a NUL.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let mut values = self.head.headers.get_all(name).iter();
        let first = values.next()?;
        let mut v = Self::with_nul(&[first.as_bytes()]);
        for more in values {
            v.pop();
            v.extend_from_slice(b", ");
            v.extend_from_slice(more.as_bytes());
            v.push(0);
        }
        Some(self.keep(v))
    }

    /// Appends the packed head: the request without its body in one buffer, for hosts that pay
    /// per boundary crossing (PHP FFI). Fields are separated by NUL, in this order:
    /// `route_id, conn_id, peer_port, capture_count, method, path, query, uri, version, scheme,
    /// peer_ip, headers`, then `capture_count` pairs `name, value` (an unnamed capture has an
    /// empty name; values as in the path). `version` is `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`;
    /// `scheme` is `https` over TLS, else `http`. `headers` is `name: value\r\n` per field,
    /// names in lower case, in received order per name. A NUL also follows the last field; it is
    /// not part of the head (`packed_head_len` = bytes appended - 1), so every field is a C string
    /// and splitting the head on NUL gives exactly `12 + 2 * capture_count` fields. The body is
    /// not included.
    pub fn write_packed_head(&self, w: &mut Vec<u8>) -> HeadSpans {
        self.write_head(w, true)
    }

    /// The packed head with an empty `headers` field: what other processes keep about a
    /// WebSocket client (its address, path, query, captures), a few dozen bytes.
    pub fn write_summary_head(&self, w: &mut Vec<u8>) {
        self.write_head(w, false);
    }

    fn write_head(&self, w: &mut Vec<u8>, with_headers: bool) -> HeadSpans {
        let head = &self.head;
        let path = head.uri.path();
        let uri = head.uri.path_and_query().map_or(path, |pq| pq.as_str());
        let query = head.uri.query().unwrap_or("");
        let head_len: usize = if with_headers {
            head.headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum()
        } else {
            0
        };
        let caps_len: usize = self.matched.captures.iter().map(|(a, b)| b - a + 2).sum();
        w.reserve(96 + path.len() + query.len() + uri.len() + head_len + caps_len);
        // itoa, not `write!`: the formatting machinery costs several times more per number.
        let mut num = itoa::Buffer::new();
        if self.route_id == u32::MAX {
            w.extend_from_slice(b"-1");
        } else {
            w.extend_from_slice(num.format(self.route_id).as_bytes());
        }
        w.push(0);
        w.extend_from_slice(num.format(self.conn_id).as_bytes());
        w.push(0);
        w.extend_from_slice(num.format(self.peer.port()).as_bytes());
        w.push(0);
        w.extend_from_slice(num.format(self.capture_count()).as_bytes());
        w.push(0);
        w.extend_from_slice(head.method.as_str().as_bytes());
        w.push(0);
        w.extend_from_slice(path.as_bytes());
        w.push(0);
        let query_at = w.len();
        w.extend_from_slice(query.as_bytes());
        w.push(0);
        w.extend_from_slice(uri.as_bytes());
        w.push(0);
        w.extend_from_slice(version_text(head.version).as_bytes());
        w.push(0);
        w.extend_from_slice(if self.secure { b"https\0" } else { b"http\0" });
        push_ip(w, self.peer.ip());
        w.push(0);
        let headers_at = w.len();
        if with_headers {
            for (name, value) in head.headers.iter() {
                w.extend_from_slice(name.as_str().as_bytes());
                w.extend_from_slice(b": ");
                w.extend_from_slice(value.as_bytes());
                w.extend_from_slice(b"\r\n");
            }
        }
        let spans = HeadSpans {
            query: (query_at, query.len()),
            headers: (headers_at, w.len() - headers_at),
        };
        w.push(0);
        for i in 0..self.capture_count() {
            w.extend_from_slice(self.capture_name(i).unwrap_or("").as_bytes());
            w.push(0);
            w.extend_from_slice(self.capture_raw(i));
            w.push(0);
        }
        spans
    }

    /// The captures, percent-decoded (`%XX` with two hex digits; anything else kept as is, as
    /// PHP's `rawurldecode`), each followed by a NUL; returns how many bytes were written.
    pub fn write_decoded_captures(&self, w: &mut Vec<u8>) -> usize {
        let start = w.len();
        for i in 0..self.capture_count() {
            w.extend(percent_encoding::percent_decode(self.capture_raw(i)));
            w.push(0);
        }
        w.len() - start
    }

    /// The packed head (`write_packed_head`), made once and kept for the life of the request;
    /// the byte just past the slice is NUL.
    pub fn packed_head(&self) -> &[u8] {
        let mut v = Vec::new();
        self.write_packed_head(&mut v);
        self.keep(v)
    }

    pub fn header_count(&self) -> usize {
        self.head.headers.len()
    }

    /// The index-th header field (name in lower case, as received order per name); both slices are
    /// followed by a NUL.
    pub fn header_at(&self, index: usize) -> Option<(&[u8], &[u8])> {
        let (name, value) = self.head.headers.iter().nth(index)?;
        let n = self.keep(Self::with_nul(&[name.as_str().as_bytes()]));
        let v = self.keep(Self::with_nul(&[value.as_bytes()]));
        Some((n, v))
    }
}

/// The protocol version as a request line or PHP's `SERVER_PROTOCOL` says it.
pub fn version_text(v: hyper::Version) -> &'static str {
    match v {
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

/// Writes an IP address as text: IPv4 by hand (the common case, and `Display` goes through the
/// formatting machinery), IPv6 through `Display`.
fn push_ip(w: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut num = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    w.push(b'.');
                }
                w.extend_from_slice(num.format(octet).as_bytes());
            }
        }
        std::net::IpAddr::V6(_) => {
            use std::io::Write;
            let _ = write!(w, "{ip}");
        }
    }
}
