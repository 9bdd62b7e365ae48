//! The request a handler sees. Built once per request; every string field is reachable as a
//! NUL-terminated slice so the C layer can hand out pointers without copying again.

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
/// URI, then the route's captures. Built while the path (which may borrow the request head) is
/// still borrowed, before the head moves into the `Request`.
pub struct Packed {
    strings: Vec<u8>,
    fixed: [(u32, u32); FIXED_FIELDS],
    captures: Vec<(u32, u32)>,
}

impl Packed {
    /// `path` is the normalised path the route matched; `captures` are byte ranges in it.
    pub fn new(head: &Parts, path: &str, captures: &[(usize, usize)]) -> Packed {
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

pub struct Request {
    pub head: Parts,
    pub body: Bytes,
    pub peer: SocketAddr,
    pub conn_id: u64,
    pub route_id: u32,
    packed: Packed,
    capture_names: Arc<[Option<Box<str>>]>,
    /// The peer IP as text, made on first use (most handlers never ask).
    peer_ip: OnceCell<Box<[u8]>>,
    /// Header values copied on demand with a NUL after them. Boxed slices never move, so pointers
    /// handed out stay valid for the life of the request even as the Vec grows.
    scratch: RefCell<Vec<Box<[u8]>>>,
}

impl Request {
    pub fn new(
        head: Parts,
        body: Bytes,
        peer: SocketAddr,
        conn_id: u64,
        route_id: u32,
        packed: Packed,
        capture_names: Arc<[Option<Box<str>>]>,
    ) -> Request {
        Request {
            head,
            body,
            peer,
            conn_id,
            route_id,
            packed,
            capture_names,
            peer_ip: OnceCell::new(),
            scratch: RefCell::new(Vec::new()),
        }
    }

    /// A request with no route and no body (for error answers).
    pub fn bare(head: Parts, peer: SocketAddr, conn_id: u64) -> Request {
        let packed = Packed::new(&head, "", &[]);
        Request::new(
            head,
            Bytes::new(),
            peer,
            conn_id,
            u32::MAX,
            packed,
            Arc::from(Vec::new()),
        )
    }

    fn span(&self, (s, l): (u32, u32)) -> &[u8] {
        &self.packed.strings[s as usize..(s + l) as usize]
    }

    /// The field's bytes; the byte just past the slice is NUL.
    pub fn field(&self, f: Field) -> &[u8] {
        self.span(self.packed.fixed[f as usize])
    }

    /// The peer's IP address as text; the byte just past the slice is NUL.
    pub fn peer_ip(&self) -> &[u8] {
        let b = self.peer_ip.get_or_init(|| {
            let mut v = self.peer.ip().to_string().into_bytes();
            v.push(0);
            v.into_boxed_slice()
        });
        &b[..b.len() - 1]
    }

    pub fn capture_count(&self) -> usize {
        self.packed.captures.len()
    }

    pub fn capture(&self, index: usize) -> Option<&[u8]> {
        self.packed.captures.get(index).map(|&s| self.span(s))
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

    /// The whole request in one buffer, for hosts that pay per boundary crossing (PHP FFI).
    /// Fields are NUL-terminated, in this order:
    /// `route_id, conn_id, peer_port, capture_count, method, path, query, uri, version, peer_ip,
    /// headers` then `capture_count` pairs `name, value` (an unnamed capture has an empty name),
    /// then the body: all the remaining bytes (it may contain NULs). `headers` is
    /// `name: value\r\n` per field, names in lower case, in received order per name.
    pub fn wire(&self) -> Vec<u8> {
        use std::io::Write;
        let head_len: usize = self
            .head
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let mut w = Vec::with_capacity(self.packed.strings.len() + head_len + self.body.len() + 64);
        let route = if self.route_id == u32::MAX {
            -1
        } else {
            self.route_id as i64
        };
        let _ = write!(
            w,
            "{route}\0{}\0{}\0{}\0",
            self.conn_id,
            self.peer.port(),
            self.capture_count()
        );
        for f in [Field::Method, Field::Path, Field::Query, Field::Uri] {
            w.extend_from_slice(self.field(f));
            w.push(0);
        }
        w.extend_from_slice(if self.head.version == hyper::Version::HTTP_10 {
            b"HTTP/1.0\0"
        } else {
            b"HTTP/1.1\0"
        });
        let _ = write!(w, "{}\0", self.peer.ip());
        for (name, value) in self.head.headers.iter() {
            w.extend_from_slice(name.as_str().as_bytes());
            w.extend_from_slice(b": ");
            w.extend_from_slice(value.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        w.push(0);
        for i in 0..self.capture_count() {
            w.extend_from_slice(self.capture_name(i).unwrap_or("").as_bytes());
            w.push(0);
            w.extend_from_slice(self.capture(i).unwrap_or(b""));
            w.push(0);
        }
        w.extend_from_slice(&self.body);
        w
    }

    /// `wire()` kept for the life of the request (the pointer stays valid until it ends).
    pub fn wire_kept(&self) -> &[u8] {
        let mut v = self.wire();
        v.push(0);
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
