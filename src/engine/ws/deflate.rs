//! permessage-deflate (RFC 7692) around tungstenite, which knows no extensions and refuses a
//! frame with RSV1 set. Three pieces:
//!
//! - `DeflateConfig::negotiate`: the client's `Sec-WebSocket-Extensions` offers → what we
//!   agree to (`Agreed`) and the response header (`respond`). One header lookup when the client
//!   offers nothing.
//! - `Inflating`: the upgraded socket as tungstenite reads it. It parses the client's frames as
//!   they arrive; uncompressed data frames and control frames pass through in place (no copy, no
//!   buffer), while the frames of a compressed message (RSV1 on its first frame) are taken out,
//!   joined, inflated under the message limit and handed on as ONE equivalent frame (FIN, RSV1
//!   clear, masked with a zero key), in order with the control frames around them.
//! - `Deflater::encode`: an outgoing Text/Binary message of at least `min_size` bytes becomes a
//!   `Message::Frame` with RSV1 set and the compressed payload, which tungstenite writes as given
//!   (`WebSocketContext::write` passes `Message::Frame` to `buffer_frame` untouched, and a server
//!   does not mask). Done on the whole message before tungstenite frames it, rather than by
//!   re-parsing tungstenite's output in the socket's write path.
//!
//! Memory: by default we answer `server_no_context_takeover; client_no_context_takeover`, so a
//! connection owns no zlib state at all: each thread keeps one compressor per window size and
//! one decompressor, reset per message. A connection then costs one small boxed `Reader` (the
//! buffers in it are given back as soon as they are empty): measured with
//! tests/deflate/idle_rss.py, 2000 idle clients cost 7.9 KiB each compressed, 7.6 KiB
//! uncompressed. With context takeover (`hs_set_ws_deflate(.., context_takeover = 1, ..)`) a
//! connection keeps its own zlib streams, made at its first compressed message: about 340 KiB
//! (the compressor at window 15 is most of it).
//!
//! Broadcasts: without context takeover the compressed bytes of a message are the same for
//! every client, so the last payload compressed is remembered per thread (keyed by its
//! allocation, which the cache holds). Measured: a 922-byte broadcast to 1000 compressed
//! clients costs the server 9.0 ms with it, 12.2 ms without (9.6 ms uncompressed).
//!
//! Failures reach the session as an `io::Error` carrying a `Failure` (its close code):
//! 1002 for RSV1 on a control or continuation frame, RSV2/RSV3, an unmasked compressed frame or a
//! new data frame inside a compressed message; 1007 for data that does not inflate (the payload
//! is not what the message's type promises, RFC 6455 §7.4.1); 1009 for a message that would pass
//! the message limit compressed or inflated: inflating stops as soon as the output passes the
//! limit, so a decompression bomb costs at most the limit.

use crate::engine::error::{Error, Result};
use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use hyper::header::{HeaderMap, HeaderValue, SEC_WEBSOCKET_EXTENSIONS};
use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::Message;

/// zlib level for outgoing messages. 1 (zlib-rs' fast strategy) because real-time traffic is
/// many small messages. Measured on JSON chat messages of 300-1100 bytes
/// (`cargo test --release --lib level_cost -- --ignored --nocapture`): level 1 takes 7 µs per
/// message (of which 2.7 µs is the reset between messages: zlib clears its hash table) for
/// 49 % of the bytes; level 6 takes 20 µs for 38 %.
const LEVEL: u32 = 1;

/// What RFC 7692 §7.2.2 has the sender strip and the receiver append.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compressed messages whose raw payload is at most this long are remembered per thread, so that
/// a broadcast (one `Bytes` queued for many clients) is compressed once, not once per client.
const CACHE_MAX: usize = 256 * 1024;

/// The server's permessage-deflate settings (`hs_set_ws_deflate`), read at each upgrade.
pub struct DeflateConfig {
    enabled: AtomicBool,
    min_size: AtomicUsize,
    takeover: AtomicBool,
    max_bits: AtomicU8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: AtomicBool::new(true),
            min_size: AtomicUsize::new(256),
            takeover: AtomicBool::new(false),
            max_bits: AtomicU8::new(15),
        }
    }
}

/// A window size zlib can compress with: raw deflate has no 256-byte window (zlib refuses 8),
/// so 8 means 9.
fn zlib_bits(bits: u8) -> u8 {
    bits.max(9)
}

impl DeflateConfig {
    /// `max_window_bits`: 8..=15 (8 compresses with 9, zlib's smallest raw window).
    pub fn set(
        &self,
        enabled: bool,
        min_size: usize,
        context_takeover: bool,
        max_window_bits: i64,
    ) -> Result<()> {
        if !(8..=15).contains(&max_window_bits) {
            return Err(Error::invalid(format!(
                "max_window_bits {max_window_bits} is outside 8-15"
            )));
        }
        self.enabled.store(enabled, Ordering::Relaxed);
        self.min_size.store(min_size, Ordering::Relaxed);
        self.takeover.store(context_takeover, Ordering::Relaxed);
        self.max_bits
            .store(max_window_bits as u8, Ordering::Relaxed);
        Ok(())
    }

    /// The first acceptable permessage-deflate offer of the request, as we agree to it; None
    /// when the client offers none we can accept, or compression is off.
    pub fn negotiate(&self, headers: &HeaderMap) -> Option<Agreed> {
        let mut values = headers.get_all(SEC_WEBSOCKET_EXTENSIONS).iter().peekable();
        values.peek()?;
        if !self.enabled.load(Ordering::Relaxed) {
            return None;
        }
        let takeover = self.takeover.load(Ordering::Relaxed);
        let max_bits = self.max_bits.load(Ordering::Relaxed);
        let min_size = self.min_size.load(Ordering::Relaxed);
        values
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(Offer::parse)
            .find_map(|o| o.agree(takeover, max_bits, min_size))
    }
}

/// A permessage-deflate offer's parameters (RFC 7692 §7.1).
#[derive(Debug, Default, PartialEq, Eq)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// Some(None): offered without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// A window-bits value: 8..15 in decimal without a leading zero, bare or quoted (§7.1).
fn window_bits(v: &str) -> Option<u8> {
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

impl Offer {
    /// One offer (`permessage-deflate; param[=value]; ...`); None for another extension, or an
    /// offer with an unknown, repeated or invalid parameter (declined, §7.1).
    fn parse(offer: &str) -> Option<Offer> {
        let mut parts = offer.split(';').map(str::trim);
        if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
            return None;
        }
        let mut o = Offer::default();
        for p in parts {
            let (name, value) = match p.split_once('=') {
                Some((n, v)) => (n.trim_end(), Some(v.trim_start())),
                None => (p, None),
            };
            let is = |n: &str| name.eq_ignore_ascii_case(n);
            if is("server_no_context_takeover") && value.is_none() && !o.server_no_context_takeover
            {
                o.server_no_context_takeover = true;
            } else if is("client_no_context_takeover")
                && value.is_none()
                && !o.client_no_context_takeover
            {
                o.client_no_context_takeover = true;
            } else if is("server_max_window_bits") && o.server_max_window_bits.is_none() {
                // A value is required here.
                o.server_max_window_bits = Some(window_bits(value?)?);
            } else if is("client_max_window_bits") && o.client_max_window_bits.is_none() {
                o.client_max_window_bits = Some(match value {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                });
            } else {
                return None;
            }
        }
        Some(o)
    }

    /// What we answer, given our settings; None to decline this offer.
    fn agree(&self, takeover: bool, max_bits: u8, min_size: usize) -> Option<Agreed> {
        // The window we compress with: ours, lowered to the client's server_max_window_bits.
        // A client that asks for 8 gets 8 in the answer and no compressed messages from us
        // (zlib cannot make a 256-byte raw window; sending uncompressed is always allowed).
        let asked = self.server_max_window_bits.unwrap_or(15);
        let mut send_bits = zlib_bits(max_bits).min(asked);
        let echo_server_bits = self.server_max_window_bits.map(|_| send_bits);
        if send_bits < 9 {
            send_bits = 0;
        }
        let server_takeover = takeover && !self.server_no_context_takeover;
        let client_takeover = takeover && !self.client_no_context_takeover;
        // With its own decompressor, a connection's window is bounded by ours too; without,
        // the client's window costs us nothing and is left to it.
        let (client_bits, echo_client_bits) = match self.client_max_window_bits {
            Some(v) if client_takeover => {
                let b = v.unwrap_or(15).min(zlib_bits(max_bits));
                (b, (b < 15 || v.is_some()).then_some(b))
            }
            _ => (15, None),
        };
        Some(Agreed {
            send_bits,
            server_takeover,
            client_takeover,
            client_bits,
            echo_server_bits,
            echo_client_bits,
            min_size,
        })
    }
}

/// What was agreed with one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The window we compress with (9..15); 0: we send nothing compressed.
    send_bits: u8,
    /// We keep our compressor's window from one message to the next.
    server_takeover: bool,
    /// The client keeps its window: we keep a decompressor for this connection.
    client_takeover: bool,
    /// The window of this connection's own decompressor.
    client_bits: u8,
    echo_server_bits: Option<u8>,
    echo_client_bits: Option<u8>,
    min_size: usize,
}

impl Agreed {
    /// The `Sec-WebSocket-Extensions` value of the 101.
    pub fn header(&self) -> HeaderValue {
        const DEFAULT: &str =
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        let mut s = String::from("permessage-deflate");
        if !self.server_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if !self.client_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if let Some(b) = self.echo_server_bits {
            s.push_str(&format!("; server_max_window_bits={b}"));
        }
        if let Some(b) = self.echo_client_bits {
            s.push_str(&format!("; client_max_window_bits={b}"));
        }
        if s == DEFAULT {
            return HeaderValue::from_static(DEFAULT);
        }
        HeaderValue::from_str(&s).expect("ASCII")
    }

    /// The read side of the connection.
    pub fn reader(&self, limit: usize) -> Box<Reader> {
        // A client told 8 may use 9 (zlib has no 256-byte raw window): inflate with at least 9.
        let own_bits = self.client_takeover.then_some(zlib_bits(self.client_bits));
        Box::new(Reader::new(limit, own_bits))
    }

    /// The write side of the connection.
    pub fn deflater(&self) -> Deflater {
        Deflater {
            bits: self.send_bits,
            min_size: self.min_size.max(1),
            own: None,
            takeover: self.server_takeover,
        }
    }
}

/// Adds the `Sec-WebSocket-Extensions` header to a 101 when something was agreed.
pub fn respond(agreed: Option<Agreed>, headers: &mut HeaderMap) {
    if let Some(a) = agreed {
        headers.insert(SEC_WEBSOCKET_EXTENSIONS, a.header());
    }
}

// ---- failures ------------------------------------------------------------------------------

/// Why the read side failed the connection: the close code the session sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub code: u16,
    pub reason: &'static str,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "permessage-deflate: {} ({})", self.reason, self.code)
    }
}

impl std::error::Error for Failure {}

impl From<Failure> for io::Error {
    fn from(f: Failure) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, f)
    }
}

/// The close code and reason of a read error that came from `Inflating`.
pub fn close_code(e: &io::Error) -> Option<(u16, &'static str)> {
    let f = e.get_ref()?.downcast_ref::<Failure>()?;
    Some((f.code, f.reason))
}

const fn protocol(reason: &'static str) -> Failure {
    Failure { code: 1002, reason }
}
const TOO_BIG: Failure = Failure {
    code: 1009,
    reason: "message too big",
};
const BAD_DATA: Failure = Failure {
    code: 1007,
    reason: "compressed data does not inflate",
};

// ---- zlib streams shared by a thread ---------------------------------------------------------

/// The last message this thread compressed without context: its payload (held, so that its
/// address cannot be reused by another allocation while it is the key), window and result.
struct Cached {
    raw: Bytes,
    bits: u8,
    compressed: Option<Bytes>,
}

thread_local! {
    /// One compressor per window size (9..=15), made when first needed.
    static COMPRESSORS: RefCell<[Option<Compress>; 7]> = const { RefCell::new([None, None, None, None, None, None, None]) };
    /// One decompressor (window 15 inflates any window).
    static DECOMPRESSOR: RefCell<Option<Decompress>> = const { RefCell::new(None) };
    static LAST: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

// ---- the read side ---------------------------------------------------------------------------

/// Where a client's message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InMessage {
    None,
    /// An uncompressed message continues in continuation frames.
    Plain,
    /// A compressed message (its opcode) continues in continuation frames.
    Compressed(u8),
}

/// The read side of one compressed connection: a frame parser over the bytes as they arrive.
pub struct Reader {
    /// The current frame's header as far as read, and its full length once known.
    hdr: [u8; 14],
    hdr_len: u8,
    hdr_need: u8,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    mask: [u8; 4],
    /// Offset into the current frame's payload (for the mask).
    offset: usize,
    /// The current frame belongs to a compressed message: taken out of the stream.
    take: bool,
    fin: bool,
    message: InMessage,
    /// The compressed message so far, unmasked.
    zbuf: Vec<u8>,
    /// An inflated message framed for tungstenite, from `out_pos` on.
    out: Vec<u8>,
    out_pos: usize,
    /// Bytes read but not examined yet (read after a message completed).
    pending: Vec<u8>,
    pending_pos: usize,
    failed: Option<Failure>,
    /// The message limit (inflated); the compressed form may be a little larger.
    limit: usize,
    /// Context takeover: this connection's decompressor (its window bits until made).
    own: Option<Box<Decompress>>,
    own_bits: Option<u8>,
}

/// Room for the longest frame header (2 + 8 length + 4 mask) before an inflated payload.
const HEAD_ROOM: usize = 14;

impl Reader {
    fn new(limit: usize, own_bits: Option<u8>) -> Reader {
        Reader {
            hdr: [0; 14],
            hdr_len: 0,
            hdr_need: 2,
            remaining: 0,
            mask: [0; 4],
            offset: 0,
            take: false,
            fin: false,
            message: InMessage::None,
            zbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            pending: Vec::new(),
            pending_pos: 0,
            failed: None,
            limit,
            own: None,
            own_bits,
        }
    }

    /// The most compressed bytes one message may have: deflate's stored blocks add 5 bytes per
    /// 64 KiB to incompressible data.
    fn zcap(&self) -> usize {
        self.limit.saturating_add(self.limit / 1024 + 64)
    }

    /// Looks at a frame's first byte: pass it through or take it out.
    fn frame_start(&mut self, b0: u8) -> std::result::Result<(), Failure> {
        let fin = b0 & 0x80 != 0;
        let rsv1 = b0 & 0x40 != 0;
        let opcode = b0 & 0x0f;
        if b0 & 0x30 != 0 {
            return Err(protocol("RSV2/RSV3 set"));
        }
        self.fin = fin;
        self.take = false;
        match opcode {
            8..=15 if rsv1 => return Err(protocol("RSV1 on a control frame")),
            8..=15 => {}
            0 if rsv1 => return Err(protocol("RSV1 on a continuation frame")),
            0 => match self.message {
                InMessage::Compressed(_) => self.take = true,
                InMessage::Plain if fin => self.message = InMessage::None,
                _ => {}
            },
            1 | 2 => {
                if self.message != InMessage::None {
                    return Err(protocol("a new message inside a fragmented one"));
                }
                if rsv1 {
                    self.take = true;
                    self.message = InMessage::Compressed(opcode);
                } else if !fin {
                    self.message = InMessage::Plain;
                }
            }
            // Reserved opcodes: tungstenite refuses them.
            _ => {}
        }
        Ok(())
    }

    /// The header is complete: its payload length, and for a frame we take, its mask.
    fn header_done(&mut self) -> std::result::Result<(), Failure> {
        let h = &self.hdr;
        let masked = h[1] & 0x80 != 0;
        self.remaining = match h[1] & 0x7f {
            126 => u16::from_be_bytes([h[2], h[3]]) as u64,
            127 => u64::from_be_bytes(h[2..10].try_into().unwrap()),
            n => n as u64,
        };
        if !self.take {
            return Ok(());
        }
        if !masked {
            return Err(protocol("unmasked frame from a client"));
        }
        let n = self.hdr_need as usize;
        self.mask.copy_from_slice(&h[n - 4..n]);
        self.offset = 0;
        let total = (self.zbuf.len() as u64).saturating_add(self.remaining);
        if total > self.zcap() as u64 {
            return Err(TOO_BIG);
        }
        self.zbuf.reserve(self.remaining as usize);
        Ok(())
    }

    /// The current frame is over; true when it completed a compressed message (now in `out`).
    fn frame_done(&mut self) -> std::result::Result<bool, Failure> {
        self.hdr_len = 0;
        self.hdr_need = 2;
        if !(self.take && self.fin) {
            return Ok(false);
        }
        let InMessage::Compressed(opcode) = self.message else {
            unreachable!("a taken frame belongs to a compressed message")
        };
        self.message = InMessage::None;
        self.inflate(opcode)?;
        Ok(true)
    }

    /// Examines `buf` (bytes just read) in place: the bytes tungstenite must see are moved to
    /// its front. Returns how many those are and how many of `buf` were examined: it stops after
    /// a frame that completed a compressed message (the rest must follow that message), or at a
    /// failure.
    fn process(&mut self, buf: &mut [u8]) -> (usize, usize, std::result::Result<(), Failure>) {
        let (mut r, mut w) = (0, 0);
        while r < buf.len() {
            if self.hdr_len < self.hdr_need {
                let b = buf[r];
                r += 1;
                if self.hdr_len == 0 {
                    if let Err(f) = self.frame_start(b) {
                        return (w, r, Err(f));
                    }
                }
                self.hdr[self.hdr_len as usize] = b;
                self.hdr_len += 1;
                if !self.take {
                    buf[w] = b;
                    w += 1;
                }
                if self.hdr_len == 2 {
                    let ext = match b & 0x7f {
                        126 => 2,
                        127 => 8,
                        _ => 0,
                    };
                    self.hdr_need = 2 + ext + if b & 0x80 != 0 { 4 } else { 0 };
                }
                if self.hdr_len < self.hdr_need {
                    continue;
                }
                if let Err(f) = self.header_done() {
                    return (w, r, Err(f));
                }
            } else {
                let n = (self.remaining.min((buf.len() - r) as u64)) as usize;
                if self.take {
                    let from = self.zbuf.len();
                    self.zbuf.extend_from_slice(&buf[r..r + n]);
                    for (i, b) in self.zbuf[from..].iter_mut().enumerate() {
                        *b ^= self.mask[(self.offset + i) & 3];
                    }
                    self.offset += n;
                } else {
                    buf.copy_within(r..r + n, w);
                    w += n;
                }
                r += n;
                self.remaining -= n as u64;
            }
            if self.remaining == 0 {
                match self.frame_done() {
                    Ok(false) => {}
                    Ok(true) => return (w, r, Ok(())),
                    Err(f) => return (w, r, Err(f)),
                }
            }
        }
        (w, r, Ok(()))
    }

    /// Inflates the message in `zbuf` into `out`, framed for tungstenite.
    fn inflate(&mut self, opcode: u8) -> std::result::Result<(), Failure> {
        let zbuf = std::mem::take(&mut self.zbuf);
        let max = HEAD_ROOM + self.limit;
        let first = zbuf.len().saturating_mul(4).clamp(256, 64 * 1024);
        let mut out = Vec::with_capacity((HEAD_ROOM + first).min(max + 1));
        out.resize(HEAD_ROOM, 0);
        let result = match self.own_bits {
            Some(bits) => {
                let d = self
                    .own
                    .get_or_insert_with(|| Box::new(Decompress::new_with_window_bits(false, bits)));
                inflate_message(d, &zbuf, &mut out, max, false)
            }
            None => DECOMPRESSOR.with_borrow_mut(|d| {
                let d = d.get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
                inflate_message(d, &zbuf, &mut out, max, true)
            }),
        };
        result?;
        let len = out.len() - HEAD_ROOM;
        let mut head = [0u8; HEAD_ROOM];
        head[0] = 0x80 | opcode;
        let n = if len < 126 {
            head[1] = 0x80 | len as u8;
            2
        } else if len <= u16::MAX as usize {
            head[1] = 0x80 | 126;
            head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        } else {
            head[1] = 0x80 | 127;
            head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        } + 4; // the mask key: zeros, so the payload stays as it is
        self.out_pos = HEAD_ROOM - n;
        out[self.out_pos..HEAD_ROOM].copy_from_slice(&head[..n]);
        self.out = out;
        Ok(())
    }
}

/// Inflates one message (`input` and the tail of §7.2.2) onto `out`, failing once `out` would
/// pass `max` bytes. `reset`: a shared decompressor, made clean first (it may have been left
/// mid-stream by another connection's failure).
fn inflate_message(
    d: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    max: usize,
    reset: bool,
) -> std::result::Result<(), Failure> {
    if reset {
        d.reset(false);
    }
    let ended = inflate_into(d, input, out, max)? || inflate_into(d, &TAIL, out, max)?;
    if ended && !reset {
        // The client ended its stream (BFINAL): the next message starts a new one.
        d.reset(false);
    }
    Ok(())
}

/// Feeds `input` to `d`, output onto `out` (grown by doubling, never past `max` + 1 bytes).
/// True when the deflate stream ended.
fn inflate_into(
    d: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> std::result::Result<bool, Failure> {
    let mut pos = 0;
    loop {
        if out.len() == out.capacity() {
            let room = max + 1 - out.len();
            out.reserve_exact(out.len().min(room).max(1));
        }
        let (in0, out0) = (d.total_in(), out.len());
        let status = d
            .decompress_vec(&input[pos..], out, FlushDecompress::None)
            .map_err(|_| BAD_DATA)?;
        pos += (d.total_in() - in0) as usize;
        if out.len() > max {
            return Err(TOO_BIG);
        }
        if status == Status::StreamEnd {
            return Ok(true);
        }
        let full = out.len() == out.capacity();
        if pos == input.len() && !full {
            return Ok(false);
        }
        if !full && d.total_in() == in0 && out.len() == out0 {
            // Input left, room left, and no progress.
            return Err(BAD_DATA);
        }
    }
}

/// The upgraded socket under tungstenite: inflates compressed messages on the way in (with a
/// `Reader`), passes everything else, and all writes, through.
pub struct Inflating<S> {
    inner: S,
    reader: Option<Box<Reader>>,
}

impl<S> Inflating<S> {
    /// `reader` None: no extension was agreed, a plain pass-through.
    pub fn new(inner: S, reader: Option<Box<Reader>>) -> Inflating<S> {
        Inflating { inner, reader }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Inflating<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(r) = this.reader.as_deref_mut() else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        loop {
            if r.out_pos < r.out.len() {
                let n = buf.remaining().min(r.out.len() - r.out_pos);
                buf.put_slice(&r.out[r.out_pos..r.out_pos + n]);
                r.out_pos += n;
                if r.out_pos == r.out.len() {
                    r.out = Vec::new();
                    r.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if let Some(f) = r.failed {
                return Poll::Ready(Err(f.into()));
            }
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let start = buf.filled().len();
            let from_pending = r.pending_pos < r.pending.len();
            if from_pending {
                let n = buf.remaining().min(r.pending.len() - r.pending_pos);
                buf.put_slice(&r.pending[r.pending_pos..r.pending_pos + n]);
            } else {
                ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
                if buf.filled().len() == start {
                    return Poll::Ready(Ok(())); // the end of the stream
                }
            }
            let end = buf.filled().len();
            let (kept, examined, result) = r.process(&mut buf.filled_mut()[start..end]);
            if from_pending {
                r.pending_pos += examined;
                if r.pending_pos == r.pending.len() {
                    r.pending = Vec::new();
                    r.pending_pos = 0;
                }
            } else if start + examined < end {
                r.pending = buf.filled()[start + examined..end].to_vec();
                r.pending_pos = 0;
            }
            buf.set_filled(start + kept);
            if let Err(f) = result {
                r.failed = Some(f);
                r.pending = Vec::new();
                r.zbuf = Vec::new();
            }
            if kept > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Inflating<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

// ---- the write side --------------------------------------------------------------------------

/// The write side of one compressed connection.
pub struct Deflater {
    /// 0: send nothing compressed.
    bits: u8,
    min_size: usize,
    takeover: bool,
    /// Context takeover: this connection's compressor, made at its first compressed message.
    own: Option<Box<Compress>>,
}

impl Deflater {
    /// A Text or Binary message of at least `min_size` bytes, compressed into one RSV1 frame;
    /// anything else (or data that does not shrink, without context takeover) as it was.
    pub fn encode(&mut self, msg: Message) -> Message {
        let (payload, opcode) = match &msg {
            Message::Text(t) => (AsRef::<Bytes>::as_ref(t), OpData::Text),
            Message::Binary(b) => (b, OpData::Binary),
            _ => return msg,
        };
        if self.bits == 0 || payload.len() < self.min_size {
            return msg;
        }
        let compressed = if self.takeover {
            let bits = self.bits;
            let c = self.own.get_or_insert_with(|| {
                Box::new(Compress::new_with_window_bits(
                    Compression::new(LEVEL),
                    false,
                    bits,
                ))
            });
            Some(deflate(c, payload, false))
        } else {
            shared_deflate(payload, self.bits)
        };
        match compressed {
            Some(z) => Message::Frame(Frame::from_payload(
                FrameHeader {
                    is_final: true,
                    rsv1: true,
                    rsv2: false,
                    rsv3: false,
                    opcode: OpCode::Data(opcode),
                    mask: None,
                },
                z,
            )),
            None => msg,
        }
    }
}

/// Compresses with this thread's compressor for `bits`; None when the result is no smaller.
/// The last payload compressed is remembered: the same `Bytes` again (a broadcast reaching the
/// next client) costs no compression.
fn shared_deflate(payload: &Bytes, bits: u8) -> Option<Bytes> {
    let hit = LAST.with_borrow(|last| match last {
        Some(c)
            if c.bits == bits
                && c.raw.as_ptr() == payload.as_ptr()
                && c.raw.len() == payload.len() =>
        {
            Some(c.compressed.clone())
        }
        _ => None,
    });
    if let Some(z) = hit {
        return z;
    }
    let z = COMPRESSORS.with_borrow_mut(|all| {
        let c = all[(bits - 9) as usize].get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(LEVEL), false, bits)
        });
        let z = deflate(c, payload, true);
        (z.len() < payload.len()).then_some(z)
    });
    if payload.len() <= CACHE_MAX {
        LAST.set(Some(Cached {
            raw: payload.clone(),
            bits,
            compressed: z.clone(),
        }));
    }
    z
}

/// One message through `c` with a sync flush, the trailing 00 00 ff ff taken off (§7.2.1).
/// `reset`: no context takeover, the compressor starts clean.
fn deflate(c: &mut Compress, data: &[u8], reset: bool) -> Bytes {
    if reset {
        c.reset();
    }
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut pos = 0;
    loop {
        // More than 6 bytes of room, or zlib may repeat the flush marker (zlib.h, deflate()).
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        let before = c.total_in();
        c.compress_vec(&data[pos..], &mut out, FlushCompress::Sync)
            .expect("deflate of a valid stream");
        pos += (c.total_in() - before) as usize;
        if pos == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::WebSocketStream;

    // ---- negotiation ----

    fn offer(cfg: &DeflateConfig, values: &[&str]) -> Option<Agreed> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_str(v).unwrap());
        }
        cfg.negotiate(&h)
    }

    fn answer(cfg: &DeflateConfig, values: &[&str]) -> Option<String> {
        offer(cfg, values).map(|a| a.header().to_str().unwrap().to_string())
    }

    const NCT: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    #[test]
    fn default_answer_has_no_context_takeover_both_ways() {
        let cfg = DeflateConfig::default();
        assert_eq!(answer(&cfg, &[]), None);
        assert_eq!(answer(&cfg, &["permessage-deflate"]).as_deref(), Some(NCT));
        // What browsers send.
        assert_eq!(
            answer(&cfg, &["permessage-deflate; client_max_window_bits"]).as_deref(),
            Some(NCT)
        );
        let a = offer(&cfg, &["permessage-deflate"]).unwrap();
        assert_eq!(
            (a.send_bits, a.server_takeover, a.client_takeover),
            (15, false, false)
        );
        assert_eq!(a.min_size, 256);
    }

    #[test]
    fn other_extensions_and_declined_offers_are_skipped() {
        let cfg = DeflateConfig::default();
        assert_eq!(answer(&cfg, &["x-webkit-deflate-frame"]), None);
        assert_eq!(
            answer(&cfg, &["x-webkit-deflate-frame, PerMessage-Deflate"]).as_deref(),
            Some(NCT)
        );
        for bad in [
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; server_max_window_bits=1a",
            "permessage-deflate; client_max_window_bits=",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; mystery",
        ] {
            assert_eq!(answer(&cfg, &[bad]), None, "{bad}");
            // The next acceptable offer is taken, in the same value or another header line.
            let second = "permessage-deflate; server_max_window_bits=12";
            let want = format!("{NCT}; server_max_window_bits=12");
            assert_eq!(
                answer(&cfg, &[&format!("{bad}, {second}")]),
                Some(want.clone())
            );
            assert_eq!(answer(&cfg, &[bad, second]), Some(want));
        }
    }

    #[test]
    fn window_bits_are_honoured() {
        let cfg = DeflateConfig::default();
        let a = offer(&cfg, &["permessage-deflate; server_max_window_bits=\"10\""]).unwrap();
        assert_eq!(a.send_bits, 10);
        assert_eq!(
            a.header().to_str().unwrap(),
            format!("{NCT}; server_max_window_bits=10")
        );
        // 8: answered, and nothing is sent compressed (zlib has no 256-byte raw window).
        let a = offer(&cfg, &["permessage-deflate; server_max_window_bits=8"]).unwrap();
        assert_eq!((a.send_bits, a.echo_server_bits), (0, Some(8)));
        // Our own limit: 8 compresses with 9; not announced unless the client asked.
        cfg.set(true, 100, false, 8).unwrap();
        let a = offer(&cfg, &["permessage-deflate"]).unwrap();
        assert_eq!((a.send_bits, a.min_size), (9, 100));
        assert_eq!(a.header().to_str().unwrap(), NCT);
        let a = offer(&cfg, &["permessage-deflate; server_max_window_bits=12"]).unwrap();
        assert_eq!((a.send_bits, a.echo_server_bits), (9, Some(9)));
        assert!(cfg.set(true, 0, false, 16).is_err());
        assert!(cfg.set(true, 0, false, 7).is_err());
    }

    #[test]
    fn context_takeover_when_configured_and_allowed() {
        let cfg = DeflateConfig::default();
        cfg.set(true, 256, true, 15).unwrap();
        assert_eq!(
            answer(&cfg, &["permessage-deflate"]).as_deref(),
            Some("permessage-deflate")
        );
        let a = offer(&cfg, &["permessage-deflate"]).unwrap();
        assert!(a.server_takeover && a.client_takeover);
        assert_eq!(
            answer(&cfg, &["permessage-deflate; client_max_window_bits"]).as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            answer(&cfg, &["permessage-deflate; client_max_window_bits=10"]).as_deref(),
            Some("permessage-deflate; client_max_window_bits=10")
        );
        assert_eq!(
            answer(&cfg, &["permessage-deflate; server_no_context_takeover"]).as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
        assert_eq!(
            answer(&cfg, &["permessage-deflate; client_no_context_takeover"]).as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
        // Our window bounds the client's when it keeps its context.
        cfg.set(true, 256, true, 11).unwrap();
        assert_eq!(
            answer(&cfg, &["permessage-deflate; client_max_window_bits"]).as_deref(),
            Some("permessage-deflate; client_max_window_bits=11")
        );
        cfg.set(false, 256, true, 11).unwrap();
        assert_eq!(answer(&cfg, &["permessage-deflate"]), None);
    }

    // ---- the read side ----

    /// A client's frame: masked with a fixed key unless `mask` is false.
    fn frame(b0: u8, payload: &[u8], mask: bool) -> Vec<u8> {
        let mut f = vec![b0];
        let m = if mask { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n <= 0xffff => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x37, 0xfa, 0x21, 0x3d];
        if mask {
            f.extend_from_slice(&key);
        }
        f.extend(
            payload
                .iter()
                .enumerate()
                .map(|(i, b)| if mask { b ^ key[i & 3] } else { *b }),
        );
        f
    }

    fn compress(data: &[u8]) -> Vec<u8> {
        let mut c = Compress::new_with_window_bits(Compression::new(6), false, 15);
        deflate(&mut c, data, true).to_vec()
    }

    const FIN: u8 = 0x80;
    const RSV1: u8 = 0x40;

    /// An inner stream that hands out `data` `chunk` bytes at a time.
    struct Chunks {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
    }

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self
                .chunk
                .min(self.data.len() - self.pos)
                .min(buf.remaining());
            let p = self.pos;
            buf.put_slice(&self.data[p..p + n]);
            self.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    /// What tungstenite would read from `input`, with reads of `chunk` bytes from the socket
    /// into a buffer of `cap` bytes; or the failure.
    async fn transcode(
        input: &[u8],
        chunk: usize,
        cap: usize,
        limit: usize,
    ) -> io::Result<Vec<u8>> {
        let inner = Chunks {
            data: input.to_vec(),
            pos: 0,
            chunk,
        };
        let mut s = Inflating::new(inner, Some(Box::new(Reader::new(limit, None))));
        let mut out = Vec::new();
        let mut buf = vec![0; cap];
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                let r = s.reader.as_ref().unwrap();
                // Nothing kept once idle.
                assert_eq!(
                    r.out.capacity() + r.pending.capacity() + r.zbuf.capacity(),
                    0
                );
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// A frame as tungstenite gets an inflated message: FIN, masked with a zero key.
    fn inflated(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = frame(FIN | opcode, &[], false);
        f.truncate(1);
        let mut g = frame(0, payload, false);
        g[1] |= 0x80;
        let at = g.len() - payload.len();
        g.splice(at..at, [0, 0, 0, 0]);
        f.extend_from_slice(&g[1..]);
        f
    }

    fn sizes() -> impl Iterator<Item = (usize, usize)> {
        [
            (1, 4096),
            (3, 7),
            (7, 3),
            (64, 2048),
            (4096, 5),
            (1 << 20, 1 << 20),
        ]
        .into_iter()
    }

    #[tokio::test]
    async fn plain_frames_pass_through_unchanged() {
        let mut input = frame(FIN | 1, b"hello", true);
        input.extend(frame(2, &[7; 300], true));
        input.extend(frame(FIN | 9, b"ping", true));
        input.extend(frame(FIN, &[8; 70_000], true));
        for (chunk, cap) in sizes() {
            assert_eq!(transcode(&input, chunk, cap, 1 << 20).await.unwrap(), input);
        }
    }

    #[tokio::test]
    async fn compressed_messages_become_one_plain_frame_in_order() {
        let text = "chat message ".repeat(500);
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let zbig = compress(&big);
        let mut input = frame(FIN | 9, b"p1", true);
        input.extend(frame(FIN | RSV1 | 1, &compress(text.as_bytes()), true));
        input.extend(frame(FIN | 2, b"plain", true));
        // A fragmented compressed message with control frames between its fragments.
        let (a, rest) = zbig.split_at(10);
        let (b, c) = rest.split_at(rest.len() / 2);
        input.extend(frame(RSV1 | 2, a, true));
        input.extend(frame(FIN | 9, b"p2", true));
        input.extend(frame(0, b, true));
        input.extend(frame(FIN | 10, b"p3", true));
        input.extend(frame(0, &[], true));
        input.extend(frame(FIN, c, true));
        // An empty compressed message (one empty stored block, or nothing at all).
        input.extend(frame(FIN | RSV1 | 1, &compress(b""), true));
        input.extend(frame(FIN | RSV1 | 2, &[], true));
        input.extend(frame(FIN | 1, b"end", true));

        let mut want = frame(FIN | 9, b"p1", true);
        want.extend(inflated(1, text.as_bytes()));
        want.extend(frame(FIN | 2, b"plain", true));
        want.extend(frame(FIN | 9, b"p2", true));
        want.extend(frame(FIN | 10, b"p3", true));
        want.extend(inflated(2, &big));
        want.extend(inflated(1, b""));
        want.extend(inflated(2, b""));
        want.extend(frame(FIN | 1, b"end", true));
        for (chunk, cap) in sizes() {
            let got = transcode(&input, chunk, cap, 1 << 20).await.unwrap();
            assert!(got == want, "chunk {chunk} cap {cap}");
        }
    }

    #[tokio::test]
    async fn tungstenite_reads_the_inflated_frames() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let reader = offer(&DeflateConfig::default(), &["permessage-deflate"])
            .unwrap()
            .reader(1 << 20);
        let io = Inflating::new(server, Some(reader));
        let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        let text = "héllo wörld ".repeat(100);
        let z = compress(text.as_bytes());
        let mut input = frame(RSV1 | 1, &z[..5], true);
        input.extend(frame(FIN | 9, b"", true));
        input.extend(frame(FIN, &z[5..], true));
        client.write_all(&input).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Ping(Bytes::new())
        );
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text));
    }

    async fn failure(input: &[u8], limit: usize) -> (u16, &'static str) {
        let e = transcode(input, 1 << 20, 1 << 20, limit)
            .await
            .expect_err("must fail");
        close_code(&e).expect("a deflate failure")
    }

    #[tokio::test]
    async fn protocol_errors_fail_with_1002_bad_data_with_1007() {
        let z = compress(&[b'a'; 1000]);
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (frame(FIN | RSV1 | 9, b"", true), 1002),
            (frame(FIN | 0x20 | 1, b"x", true), 1002),
            (frame(FIN | 0x10 | 1, b"x", true), 1002),
            (
                [frame(1, b"a", true), frame(FIN | RSV1, b"b", true)].concat(),
                1002,
            ),
            (
                [frame(RSV1 | 1, &z, true), frame(FIN | RSV1, b"b", true)].concat(),
                1002,
            ),
            (
                [frame(RSV1 | 1, &z, true), frame(FIN | 2, b"b", true)].concat(),
                1002,
            ),
            (frame(FIN | RSV1 | 1, &z, false), 1002),
            (
                frame(FIN | RSV1 | 1, b"\xff\xff\xff\xff garbage", true),
                1007,
            ),
        ];
        for (input, code) in cases {
            assert_eq!(failure(&input, 1 << 20).await.0, code, "{input:02x?}");
        }
    }

    #[tokio::test]
    async fn a_decompression_bomb_stops_at_the_limit() {
        // 16 MiB of zeros: about 16 KiB compressed.
        let z = compress(&vec![0; 16 << 20]);
        assert!(z.len() < 20_000, "{}", z.len());
        let limit = 64 * 1024;
        assert_eq!(
            failure(&frame(FIN | RSV1 | 2, &z, true), limit).await,
            (1009, "message too big")
        );
        // The output never grew past the limit.
        let mut d = Decompress::new_with_window_bits(false, 15);
        let mut out = Vec::new();
        assert_eq!(
            inflate_message(&mut d, &z, &mut out, limit, true),
            Err(TOO_BIG)
        );
        assert!(out.capacity() <= limit + 1, "{}", out.capacity());
        // Exactly the limit passes.
        let z = compress(&vec![0; limit]);
        let got = transcode(&frame(FIN | RSV1 | 2, &z, true), 4096, 4096, limit).await;
        assert_eq!(got.unwrap(), inflated(2, &vec![0; limit]));
        let z = compress(&vec![0; limit + 1]);
        assert_eq!(
            failure(&frame(FIN | RSV1 | 2, &z, true), limit).await.0,
            1009
        );
        // A compressed frame longer than any message may be is refused from its header.
        let mut header = frame(FIN | RSV1 | 2, &[], true);
        header[1] = 0x80 | 127;
        header.splice(2..2, (u64::MAX >> 1).to_be_bytes());
        assert_eq!(failure(&header, limit).await.0, 1009);
    }

    #[tokio::test]
    async fn a_message_ending_its_deflate_stream_is_inflated_too() {
        // Some clients end each message with a final block (BFINAL) instead of a sync flush.
        let data = "final block ".repeat(100);
        let mut c = Compress::new_with_window_bits(Compression::new(6), false, 15);
        let mut z = Vec::with_capacity(4096);
        c.compress_vec(data.as_bytes(), &mut z, FlushCompress::Finish)
            .unwrap();
        let mut input = frame(FIN | RSV1 | 1, &z, true);
        input.extend(frame(FIN | RSV1 | 1, &compress(b"next"), true));
        for own in [None, Some(15)] {
            let inner = Chunks {
                data: input.clone(),
                pos: 0,
                chunk: 1 << 20,
            };
            let mut s = Inflating::new(inner, Some(Box::new(Reader::new(1 << 20, own))));
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap();
            assert!(out == [inflated(1, data.as_bytes()), inflated(1, b"next")].concat());
        }
    }

    #[tokio::test]
    async fn context_takeover_inflates_with_the_connections_own_window() {
        let mut c = Compress::new_with_window_bits(Compression::new(6), false, 15);
        let msg = "the same words again and again ".repeat(20);
        let z1 = deflate(&mut c, msg.as_bytes(), false);
        let z2 = deflate(&mut c, msg.as_bytes(), false);
        // The second message refers back into the first one's window.
        assert!(z2.len() < z1.len() / 2, "{} {}", z2.len(), z1.len());
        let mut input = frame(FIN | RSV1 | 1, &z1, true);
        input.extend(frame(FIN | RSV1 | 1, &z2, true));
        let inner = Chunks {
            data: input,
            pos: 0,
            chunk: 1 << 20,
        };
        let mut s = Inflating::new(inner, Some(Box::new(Reader::new(1 << 20, Some(15)))));
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let want = [inflated(1, msg.as_bytes()), inflated(1, msg.as_bytes())].concat();
        assert!(out == want);
    }

    // ---- the write side ----

    fn inflate_all(z: &[u8]) -> Vec<u8> {
        let mut d = Decompress::new_with_window_bits(false, 15);
        let mut out = Vec::new();
        inflate_message(&mut d, z, &mut out, 1 << 30, true).unwrap();
        out
    }

    fn rsv1_payload(m: &Message) -> Option<(&[u8], OpCode)> {
        match m {
            Message::Frame(f) if f.header().rsv1 && f.header().is_final => {
                Some((f.payload(), f.header().opcode))
            }
            _ => None,
        }
    }

    #[test]
    fn outgoing_messages_compressed_from_min_size() {
        let cfg = DeflateConfig::default();
        let mut d = offer(&cfg, &["permessage-deflate"]).unwrap().deflater();
        let small = Message::text("x".repeat(255));
        assert_eq!(d.encode(small.clone()), small);
        let text = "{\"user\":\"ann\",\"text\":\"hello there\"} ".repeat(10);
        let m = d.encode(Message::text(text.clone()));
        let (z, op) = rsv1_payload(&m).expect("compressed");
        assert_eq!(op, OpCode::Data(OpData::Text));
        assert!(z.len() < text.len() / 3);
        assert_eq!(inflate_all(z), text.as_bytes());
        // Incompressible data goes out as it is.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let noise = Message::Binary(noise.into());
        assert_eq!(d.encode(noise.clone()), noise);
        // Control messages are never compressed.
        let ping = Message::Ping(Bytes::from(vec![1; 100]));
        assert_eq!(d.encode(ping.clone()), ping);
    }

    #[test]
    fn a_broadcast_payload_is_compressed_once_per_thread() {
        let cfg = DeflateConfig::default();
        let mut a = offer(&cfg, &["permessage-deflate"]).unwrap().deflater();
        let mut b = offer(&cfg, &["permessage-deflate"]).unwrap().deflater();
        let payload = Bytes::from("broadcast ".repeat(100));
        let ma = a.encode(Message::Binary(payload.clone()));
        let mb = b.encode(Message::Binary(payload.clone()));
        let (za, zb) = (rsv1_payload(&ma).unwrap().0, rsv1_payload(&mb).unwrap().0);
        assert_eq!(
            za.as_ptr(),
            zb.as_ptr(),
            "the second client reuses the first's bytes"
        );
        // Equal content at another address is compressed again (the key is the allocation).
        let other = Bytes::from("broadcast ".repeat(100));
        let mc = b.encode(Message::Binary(other));
        assert_ne!(rsv1_payload(&mc).unwrap().0.as_ptr(), za.as_ptr());
        assert_eq!(rsv1_payload(&mc).unwrap().0, za);
    }

    #[test]
    fn context_takeover_compresses_on_the_connections_stream() {
        let cfg = DeflateConfig::default();
        cfg.set(true, 16, true, 12).unwrap();
        let mut d = offer(&cfg, &["permessage-deflate"]).unwrap().deflater();
        let text = "same words, the same words ".repeat(4);
        let z1 = rsv1_payload(&d.encode(Message::text(text.clone())))
            .unwrap()
            .0
            .to_vec();
        let z2 = rsv1_payload(&d.encode(Message::text(text.clone())))
            .unwrap()
            .0
            .to_vec();
        assert!(z2.len() < z1.len() / 2);
        let mut inf = Decompress::new_with_window_bits(false, 12);
        let mut out = Vec::new();
        inflate_message(&mut inf, &z1, &mut out, 1 << 20, false).unwrap();
        inflate_message(&mut inf, &z2, &mut out, 1 << 20, false).unwrap();
        assert_eq!(out, [text.as_bytes(), text.as_bytes()].concat());
    }

    /// CPU and bytes per level on JSON chat messages (run by hand, --ignored --nocapture).
    #[test]
    #[ignore]
    fn level_cost() {
        const WORDS: [&str; 16] = [
            "hello", "everyone", "meeting", "at", "noon", "tomorrow", "the", "build", "is",
            "green", "again", "thanks", "for", "review", "shipping", "tonight",
        ];
        let mut x = 1u32;
        let msgs: Vec<Vec<u8>> = (0..1000)
            .map(|i| {
                let n = 40 + i % 120;
                let text: Vec<&str> = (0..n)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        WORDS[(x >> 16) as usize % 16]
                    })
                    .collect();
                format!(
                    "{{\"type\":\"message\",\"room\":\"general\",\"user\":{{\"id\":{i},\"name\":\"user{i}\"}},\"text\":\"{}\",\"ts\":{}}}",
                    text.join(" "),
                    1_700_000_000 + i * 7
                )
                .into_bytes()
            })
            .collect();
        let raw: usize = msgs.iter().map(Vec::len).sum();
        for level in [1, 2, 4, 6, 9] {
            let mut c = Compress::new_with_window_bits(Compression::new(level), false, 15);
            let t = std::time::Instant::now();
            let mut bytes = 0;
            for _ in 0..10 {
                for m in &msgs {
                    bytes += deflate(&mut c, m, true).len();
                }
            }
            let per = t.elapsed() / 10_000;
            let t = std::time::Instant::now();
            for _ in 0..10_000 {
                deflate(&mut c, b"x", true);
            }
            println!(
                "level {level}: {:?} per 1-byte message (the reset)",
                t.elapsed() / 10_000
            );
            println!(
                "level {level}: {per:?} per message, {:.1} % of {raw} bytes",
                bytes as f64 / 10.0 / raw as f64 * 100.0
            );
        }
    }
}
