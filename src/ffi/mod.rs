//! The C ABI. Each export checks its pointers, converts its arguments, calls the engine inside
//! the panic guard, and converts the result. No logic lives here.

pub mod boundary;
pub mod http;
pub mod misc;
pub mod server;
pub mod ws;

pub use boundary::{hs_server, hs_status};
