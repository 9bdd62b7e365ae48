//! The engine: safe Rust, no knowledge of C. The `ffi` module is a thin layer over this.
//!
//! Layers, each depending only on those listed before it (ARCHITECTURE.md draws them):
//!
//! 1. `error`, `config`, `log`, `context`: the bottom. Errors, limits, the debug log, and
//!    `context::Base` (log, limits, clock, connection ids, the shutdown `Lifecycle`) that every
//!    layer shares; `host_call`, the one way into host code.
//! 2. `transport`: addresses, listening sockets, accept loops, per-connection activity and the
//!    watchdog (idle and slow-head timeouts). Hands accepted connections to a callback.
//! 3. `http`: hyper's connection, the service, validation, the engine's answers, routing, the
//!    request and response a host sees. Hands upgrades to an `http::Upgrade`.
//! 4. `ws`: the WebSocket handshake (the `Upgrade`), sessions, outboxes, the hub.
//! 5. `fanout`: delivery to clients wherever they are: the hub plus a `Backplane` (`cluster`).
//! 6. `timers`, `ports`: beside the layers, on the bottom only.
//! 7. `server`: lifecycle only; builds the layers and wires them together.

pub mod config;
pub mod context;
pub mod error;
pub mod fanout;
pub mod http;
pub mod log;
pub mod ports;
pub mod server;
pub mod sio;
pub mod timers;
pub mod transport;
pub mod ws;

pub use config::Limits;
pub use context::host_call;
pub use error::{Error, ErrorKind, Result};
pub use http::request::{Field, Request};
pub use http::response::Response;
pub use http::{Answer, ErrorHandler, HttpHandler, ResponseFilter};
pub use log::LogSink;
pub use server::{PollState, Server};
pub use ws::{Admission, Authorizer, ClientInfo, RoomEvents, User, Verdict, WsHandler};
