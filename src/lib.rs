//! httpsock: a real-time HTTP/1.1 and WebSocket server engine with a C ABI.
//!
//! `engine` is safe Rust and knows nothing of C; `ffi` is the exported `hs_*` surface (pointer
//! checks, conversions, the panic boundary) and nothing more. The header `include/httpsock.h` is
//! generated from `ffi` by `build.rs`.

pub mod engine;
pub mod ffi;
