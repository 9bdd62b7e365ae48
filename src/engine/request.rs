//! The request a handler sees. Built once per request; every string field is reachable as a
//! NUL-terminated slice so the C layer can hand out pointers without copying again.

use bytes::Bytes;
use hyper::http::request::Parts;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;

/// Indexes of the fixed fields in `Request::strings`.
#[derive(Clone, Copy)]
pub enum Field {
    Method = 0,
    Path = 1,
    Query = 2,
    Uri = 3,
    PeerIp = 4,
}
const FIXED_FIELDS: usize = 5;

pub struct Request {
    pub head: Parts,
    pub body: Bytes,
    pub peer: SocketAddr,
    pub conn_id: u64,
    pub route_id: u32,
    /// method\0 path\0 query\0 uri\0 peer-ip\0 capture0\0 capture1\0 ...
    strings: Vec<u8>,
    /// (start, len) of each entry of `strings`, NUL excluded.
    spans: Vec<(u32, u32)>,
    capture_names: Arc<[Option<Box<str>>]>,
    /// Header values copied on demand with a NUL after them. Boxed slices never move, so pointers
    /// handed out stay valid for the life of the request even as the Vec grows.
    scratch: RefCell<Vec<Box<[u8]>>>,
}

impl Request {
    /// `path_for_captures` is the normalised path the route matched; `captures` are ranges in it.
    pub fn new(
        head: Parts,
        body: Bytes,
        peer: SocketAddr,
        conn_id: u64,
        route_id: u32,
        path_for_captures: &str,
        captures: &[(usize, usize)],
        capture_names: Arc<[Option<Box<str>>]>,
    ) -> Request {
        let mut strings = Vec::with_capacity(128);
        let mut spans = Vec::with_capacity(FIXED_FIELDS + captures.len());
        let mut push = |s: &[u8]| {
            spans.push((strings.len() as u32, s.len() as u32));
            strings.extend_from_slice(s);
            strings.push(0);
        };
        push(head.method.as_str().as_bytes());
        push(head.uri.path().as_bytes());
        push(head.uri.query().unwrap_or("").as_bytes());
        match head.uri.path_and_query() {
            Some(pq) => push(pq.as_str().as_bytes()),
            None => push(head.uri.path().as_bytes()),
        }
        push(peer.ip().to_string().as_bytes());
        for &(a, b) in captures {
            push(&path_for_captures.as_bytes()[a..b]);
        }
        Request {
            head,
            body,
            peer,
            conn_id,
            route_id,
            strings,
            spans,
            capture_names,
            scratch: RefCell::new(Vec::new()),
        }
    }

    fn span(&self, i: usize) -> &[u8] {
        let (s, l) = self.spans[i];
        &self.strings[s as usize..(s + l) as usize]
    }

    /// The field's bytes; the byte just past the slice is NUL.
    pub fn field(&self, f: Field) -> &[u8] {
        self.span(f as usize)
    }

    pub fn capture_count(&self) -> usize {
        self.spans.len() - FIXED_FIELDS
    }

    pub fn capture(&self, index: usize) -> Option<&[u8]> {
        (index < self.capture_count()).then(|| self.span(FIXED_FIELDS + index))
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
