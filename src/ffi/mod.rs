//! The C ABI. Each export checks its pointers, converts its arguments, calls the engine inside
//! the panic guard, and converts the result. No logic lives here.
//!
//! The exports take raw pointers from C and are not `unsafe fn`: C cannot honour a Rust
//! `unsafe` contract, so each export checks what it can (NULL, live handle, UTF-8) and states the
//! rest (lifetimes, lengths) in the header.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod boundary;
pub mod http;
pub mod misc;
pub mod server;
pub mod ws;

pub use boundary::{hs_server, hs_status};
