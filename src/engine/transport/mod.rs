//! Transport: the layer under HTTP. Addresses and listening sockets, the accept loops, and the
//! per-connection activity that the watchdog turns into idle and slow-head timeouts, and TLS
//! (certificates, SNI, client verification, reload; the handshake itself runs in the HTTP layer's
//! connection task, under the same watchdog).
//!
//! Depends only on the bottom layer (`context`, `config`, `error`, `log`). What to do with an
//! accepted connection is a callback given by the server, so this layer knows nothing of HTTP.

pub mod activity;
pub mod address;
pub mod listener;
pub mod tls;
pub mod watchdog;

pub use activity::{Activity, Connections, Timed};
pub use address::{parse_address, resolve, wants_tls, DEFAULT_PORT};
pub use listener::{accept_loop, adopt, bind, OnAccept};
pub use tls::Tls;
pub use watchdog::watchdog;
