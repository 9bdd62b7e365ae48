//! WebSocket: the layer over `http`. The handshake (`handshake`), one task per client
//! (`session`), its outgoing queue (`outbox`), the clients of this process (`hub`), and
//! permessage-deflate around tungstenite (`deflate`).
//!
//! Depends on `context` and `http` (the handshake answers refusals as HTTP, with the engine's
//! answers). It plugs into HTTP as the `http::Upgrade`; delivery to clients of other processes
//! is the business of `fanout`, above.

pub mod admission;
pub mod context;
pub mod deflate;
pub mod handshake;
pub mod hub;
pub mod outbox;
pub mod rooms;
pub mod session;

pub use context::{Admission, Authorizer, User, Verdict, WsContext, WsHandler};
pub use hub::{valid_close_code, ClientInfo, Hub};
pub use rooms::{Change, Record, Replica, RoomEvents, Rooms};
