//! Limits and their defaults. Every default is chosen on purpose and written in the README and the
//! header; change them with the `hs_set_*` calls.

use std::time::Duration;

/// hyper refuses a read buffer below this (it asserts), so the header limit is clamped to it.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone)]
pub struct Limits {
    /// A connection with no byte read or written for this long is closed (`hs_set_timeout`).
    /// Also the time a client has to send a complete request head (slowloris).
    pub idle_timeout: Duration,
    /// Largest request head (request line + headers); beyond it hyper answers 431.
    pub max_header_bytes: usize,
    /// Largest request body, after chunked decoding; beyond it the answer is 413.
    pub max_body_bytes: usize,
    /// Open TCP connections (HTTP and WebSocket) at once; 0 = no limit. Beyond it a new connection
    /// gets a 503 and is closed.
    pub max_connections: usize,
    /// Largest WebSocket message after defragmentation; beyond it the client is closed with 1009.
    pub ws_max_message: usize,
    /// A WebSocket client is pinged after this long without traffic from it...
    pub ws_ping_interval: Duration,
    /// ...and dropped when nothing at all came from it for this long after that ping.
    pub ws_ping_timeout: Duration,
    /// Outgoing messages queued per WebSocket client; a client whose queue is full is dropped so
    /// that it cannot slow a broadcast or hold memory.
    pub ws_send_queue: usize,
    /// How long a graceful shutdown waits for in-flight requests and WebSocket close handshakes.
    pub shutdown_grace: Duration,
    /// Concurrent streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS); a client that
    /// opens more gets them refused (RST_STREAM REFUSED_STREAM).
    pub h2_max_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
            max_connections: 0,
            ws_max_message: 16 * 1024 * 1024,
            ws_ping_interval: Duration::from_secs(30),
            ws_ping_timeout: Duration::from_secs(30),
            ws_send_queue: 1024,
            shutdown_grace: Duration::from_secs(10),
            h2_max_streams: 100,
        }
    }
}

/// tungstenite reads into a buffer of this initial size per connection, at most this much per
/// read(2), and zero-fills it on every poll of the socket. Its default (128 KiB) costs 1.3 GB at
/// 10 000 idle clients. 2 KiB keeps an idle client under 8 KiB of RSS in all and makes the
/// zero-fill per small message cheap; a large message still arrives whole (the buffer grows to
/// the frame's length), in more reads: a 16 MiB echo through c-examples/ws_echo took the same
/// time as with 4 KiB, within the noise of a Python client (50-130 ms both).
pub const WS_READ_BUFFER: usize = 2 * 1024;
