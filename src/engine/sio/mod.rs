//! Socket.IO: Engine.IO v4 sessions (long-polling and WebSocket transports, the upgrade between
//! them, the heartbeat) and Socket.IO v5 sockets (namespaces, events, acknowledgements in both
//! directions, binary attachments, rooms) under one path (`/socket.io/` by default).
//!
//! A layer over `fanout`: each connected namespace is a client of the world (`ws::rooms`,
//! `ws::hub`), its rooms are channels, and emits reach sockets of every worker and node the way
//! WebSocket sends do. Engine.IO sessions live in the process that made them; their ids name
//! that process, so a polling request the kernel hands another worker is forwarded to it.
//! Packets are parsed and encoded by the socketioxide project's codec crates (`codec`).

pub mod codec;
pub mod context;
pub mod eio;
pub mod namespace;
pub mod serve;
pub mod session;

pub use context::SioContext;
pub use namespace::{Namespace, SioConfig, SioHandler};
pub use serve::SioMount;
