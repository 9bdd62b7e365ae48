//! The response a handler fills in. Nonsense from the host (a status outside 200-999, a header
//! that is not valid HTTP, a raw response that does not parse) poisons it: the client gets a 500
//! and a debug line says why, and the handler's call returns an error.

use crate::engine::error::{Error, Result};
use crate::engine::http::raw_response;
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use std::cell::RefCell;

/// Header blocks longer than this are parsed every time, never kept.
const BLOCK_CACHE_MAX_LEN: usize = 512;
/// How many distinct blocks each thread keeps (replaced round-robin).
const BLOCK_CACHE_SLOTS: usize = 8;

type Fields = Vec<(HeaderName, HeaderValue)>;

/// The parsed fields of the last few header blocks a thread saw (see `add_header_block`), each
/// with an id unique in the thread (`Response::block`) and, once a response was sent with it,
/// the header map `finish` built from it and the default headers (`block_map`). At most
/// `BLOCK_CACHE_SLOTS` × `BLOCK_CACHE_MAX_LEN` bytes of keys per thread.
#[derive(Default)]
struct BlockCache {
    slots: Vec<Block>,
    next: usize,
    last_id: u64,
}

struct Block {
    key: Box<[u8]>,
    id: u64,
    fields: Fields,
    /// The response map built from `fields` and the default headers of that version.
    map: Option<(u64, HeaderMap)>,
}

impl BlockCache {
    fn get(&self, block: &[u8]) -> Option<&Block> {
        self.slots.iter().find(|b| *b.key == *block)
    }

    fn put(&mut self, block: &[u8], fields: Fields) {
        self.last_id += 1;
        let entry = Block {
            key: Box::from(block),
            id: self.last_id,
            fields,
            map: None,
        };
        if self.slots.len() < BLOCK_CACHE_SLOTS {
            self.slots.push(entry);
        } else {
            self.slots[self.next] = entry;
            self.next = (self.next + 1) % BLOCK_CACHE_SLOTS;
        }
    }
}

thread_local! {
    static BLOCK_CACHE: RefCell<BlockCache> = RefCell::new(BlockCache::default());
}

/// The response header map for `fields` set from the cached block `id` (`Response::block`), with
/// the default headers of `version`: the map `build` made for the same block and defaults
/// before (a clone), or `build(fields)`, kept in the block's slot for the next response. Built
/// and not kept when the fields are no longer exactly the block's (changed after it was set) or
/// the block left the cache.
pub fn block_map(
    id: u64,
    version: u64,
    fields: Fields,
    build: impl FnOnce(Fields) -> HeaderMap,
) -> HeaderMap {
    // Some(Some(map)): a hit; Some(None): the block's, to build and keep; None: build only.
    let found = BLOCK_CACHE.with_borrow(|cache| {
        let block = cache.slots.iter().find(|b| b.id == id)?;
        (block.fields == fields).then(|| match &block.map {
            Some((v, map)) if *v == version => Some(map.clone()),
            _ => None,
        })
    });
    match found {
        Some(Some(map)) => map,
        Some(None) => {
            let map = build(fields);
            BLOCK_CACHE.with_borrow_mut(|cache| {
                if let Some(block) = cache.slots.iter_mut().find(|b| b.id == id) {
                    block.map = Some((version, map.clone()));
                }
            });
            map
        }
        None => build(fields),
    }
}

#[derive(Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Set once the host wrote anything; an untouched response becomes Luminova's DEFAULT.
    pub touched: bool,
    /// Why the response must become a 500.
    pub poisoned: Option<String>,
    /// The id of the cached header block the fields were set from, when they were set by one
    /// repeated block (`add_header_block` on a response with no fields yet): `finish` then
    /// reuses the header map it built for that block (`block_map`), after checking the fields
    /// are still exactly the block's.
    pub block: Option<u64>,
}

impl Response {
    pub fn new() -> Response {
        Response {
            status: 200,
            ..Default::default()
        }
    }

    /// Marks the response as invalid (it becomes a 500) and returns the error for the caller.
    pub fn poison<T>(&mut self, msg: String) -> Result<T> {
        self.fail(msg.clone());
        Err(Error::invalid(msg))
    }

    /// The handler failed (an exception in the host): the client gets the server-error answer,
    /// shaped by the error hook if there is one; `reason` goes to the debug log.
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.touched = true;
        self.poisoned.get_or_insert_with(|| reason.into());
    }

    pub fn set_status(&mut self, status: i64) -> Result<()> {
        // 1xx are interim answers (RFC 9110 §15.2), never a final response: a handler's 101
        // would tell the client the connection changed protocol when it did not.
        if !(200..=999).contains(&status) {
            return self.poison(format!(
                "status {status} is outside 200-999 (1xx is interim only)"
            ));
        }
        self.touched = true;
        self.status = status as u16;
        Ok(())
    }

    /// Adds a header field (several of one name are all sent). Content-Length and
    /// Transfer-Encoding are ignored: the engine frames the body itself.
    pub fn add_header(&mut self, name: &[u8], value: &[u8]) -> Result<()> {
        let name = match HeaderName::from_bytes(name) {
            Ok(n) => n,
            Err(_) => {
                return self.poison(format!(
                    "invalid header name '{}'",
                    String::from_utf8_lossy(name)
                ))
            }
        };
        let value = match HeaderValue::from_bytes(value) {
            Ok(v) => v,
            Err(_) => return self.poison(format!("invalid value for header '{name}'")),
        };
        self.touched = true;
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING {
            self.headers.push((name, value));
        }
        Ok(())
    }

    /// Parses a block of `Name: value` lines separated by `\r\n` or `\n`.
    ///
    /// Hosts tend to send the same few blocks again and again (`Content-Type: application/json`),
    /// so the fields of recent small blocks are kept per thread and reused when the same bytes
    /// come again: a comparison and a reference count instead of validating and copying.
    pub fn add_header_block(&mut self, block: &[u8]) -> Result<()> {
        if block.len() > BLOCK_CACHE_MAX_LEN {
            return self.parse_header_block(block);
        }
        let empty = self.headers.is_empty();
        let hit = BLOCK_CACHE.with_borrow(|cache| {
            let cached = cache.get(block)?;
            self.headers.extend(cached.fields.iter().cloned());
            self.block = empty.then_some(cached.id);
            Some(!cached.fields.is_empty())
        });
        match hit {
            Some(touched) => {
                self.touched |= touched;
                Ok(())
            }
            None => {
                let before = self.headers.len();
                self.parse_header_block(block)?;
                let fields = self.headers[before..].to_vec();
                BLOCK_CACHE.with_borrow_mut(|cache| cache.put(block, fields));
                Ok(())
            }
        }
    }

    fn parse_header_block(&mut self, block: &[u8]) -> Result<()> {
        for line in block.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return self.poison(format!(
                    "header line without ':' ('{}')",
                    String::from_utf8_lossy(line)
                ));
            };
            let value = line[colon + 1..].trim_ascii();
            self.add_header(&line[..colon], value)?;
        }
        Ok(())
    }

    pub fn set_body(&mut self, body: Bytes) {
        self.touched = true;
        self.body = body;
    }

    /// Replaces the whole response by a parsed raw HTTP response.
    pub fn set_raw(&mut self, raw: &[u8]) -> Result<()> {
        let parsed = match raw_response::parse(raw) {
            Ok(p) => p,
            Err(e) => return self.poison(e.message),
        };
        self.headers.clear();
        self.set_status(parsed.status as i64)?;
        for (n, v) in parsed.headers {
            self.add_header(n.as_bytes(), v)?;
        }
        self.body = Bytes::copy_from_slice(parsed.body);
        Ok(())
    }

    /// The first value of a header the host set.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_poisons() {
        let mut r = Response::new();
        assert!(r.set_status(42).is_err());
        assert!(r.poisoned.is_some());
        // FIXED (found by make fuzz, http_request): a handler's 101 went out as a final answer.
        for interim in [100, 101, 103, 199] {
            let mut r = Response::new();
            assert!(r.set_status(interim).is_err(), "{interim}");
            let mut r = Response::new();
            assert!(r
                .set_raw(format!("HTTP/1.1 {interim} X\r\n\r\n").as_bytes())
                .is_err());
        }
        let mut r = Response::new();
        assert!(r.add_header(b"Bad Name", b"x").is_err());
        let mut r = Response::new();
        assert!(r.set_raw(b"garbage").is_err());
        assert!(r.poisoned.is_some());
    }

    #[test]
    fn header_block_and_framing_headers() {
        let mut r = Response::new();
        r.add_header_block(b"Content-Type: text/plain\r\nContent-Length: 99\nX-A:  b \r\n")
            .unwrap();
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.header("x-a").unwrap(), "b");
    }

    /// A block's response map is built once per defaults version and reused while the fields
    /// are the block's.
    #[test]
    fn block_map_built_once_per_block_and_defaults() {
        let block = b"X-Map: 1\r\n";
        let mut r = Response::new();
        r.add_header_block(block).unwrap();
        assert_eq!(r.block, None, "a block seen once is not named yet");
        let mut r = Response::new();
        r.add_header_block(block).unwrap();
        let id = r.block.expect("named the second time");
        let builds = std::cell::Cell::new(0);
        let build = |fields: Fields| {
            builds.set(builds.get() + 1);
            let mut m = HeaderMap::new();
            for (n, v) in fields {
                m.append(n, v);
            }
            m
        };
        let map = |version, fields: Fields| block_map(id, version, fields, build);
        assert_eq!(map(1, r.headers.clone()).len(), 1);
        assert_eq!(map(1, r.headers.clone()).len(), 1);
        assert_eq!(builds.get(), 1, "the second response reuses the map");
        map(2, r.headers.clone());
        map(2, r.headers.clone());
        assert_eq!(
            builds.get(),
            2,
            "new defaults: built once more, then reused"
        );
        let mut changed = r.headers.clone();
        changed.push((CONTENT_LENGTH, HeaderValue::from_static("0")));
        map(2, changed.clone());
        map(2, changed);
        assert_eq!(
            builds.get(),
            4,
            "fields that are not the block's are never reused"
        );
        map(2, r.headers.clone());
        assert_eq!(builds.get(), 4, "and did not replace the block's map");
    }

    #[test]
    fn cached_header_block_gives_the_same_fields() {
        let block = b"Content-Type: application/json\r\nX-Two: 2\r\nX-Two: 3\r\n";
        let mut first = Response::new();
        first.add_header_block(block).unwrap();
        let mut second = Response::new();
        second.add_header_block(block).unwrap(); // from the cache
        assert!(second.touched);
        assert_eq!(first.headers, second.headers);
        assert_eq!(second.headers.len(), 3);
        // An invalid block is never cached: it poisons every time.
        for _ in 0..2 {
            let mut bad = Response::new();
            assert!(bad.add_header_block(b"Bad Name: x\r\n").is_err());
            assert!(bad.poisoned.is_some());
        }
        // More distinct blocks than slots: all still parse right.
        for i in 0..(3 * BLOCK_CACHE_SLOTS) {
            let b = format!("X-N: {i}\r\n");
            let mut r = Response::new();
            r.add_header_block(b.as_bytes()).unwrap();
            assert_eq!(r.header("x-n").unwrap(), &i.to_string());
        }
    }
}
