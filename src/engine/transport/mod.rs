//! Transport: the layer under HTTP. Addresses and listening sockets, the accept loops, and the
//! per-connection activity that the watchdog turns into idle and slow-head timeouts. TLS lands
//! here (a listener that hands the layer above a TLS stream instead of a TCP one).
//!
//! Depends only on the bottom layer (`context`, `config`, `error`, `log`). What to do with an
//! accepted connection is a callback given by the server, so this layer knows nothing of HTTP.

pub mod activity;
pub mod address;
pub mod listener;
pub mod watchdog;

pub use activity::{Activity, Connections, Timed};
pub use address::{parse_address, resolve, DEFAULT_PORT};
pub use listener::{accept_loop, adopt, bind, OnAccept};
pub use watchdog::watchdog;
