//! The C ABI: the exported `hs_*` functions, nothing more. Each export is one `guard(|| ...)`
//! (the panic boundary, enforced by build.rs) around: borrow the handles (`handles`, the only
//! pointer casts), convert the arguments (`convert`), call the engine, convert the result. No
//! logic lives here.
//!
//! The exports take raw pointers from C and are not `unsafe fn`: C cannot honour a Rust
//! `unsafe` contract, so each export checks what it can (NULL, live handle, UTF-8) and states the
//! rest (lifetimes, lengths) in the header.
//!
//! One module per section of the C header, in the header's order (build.rs turns the first line
//! of each module's doc into the section's banner and index line, the rest into its
//! introduction); `guard`, `handles` and `convert` are the plumbing they share.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

// The plumbing the sections share.
mod convert;
mod guard;
mod handles;

// The sections, in the header's order. A blank line between them keeps rustfmt from sorting
// them by name.
pub mod server;

pub mod config;

pub mod tls;

pub mod workers;

pub mod route;

pub mod request;

pub mod response;

pub mod answer;

pub mod ws;

pub mod admission;

pub mod rooms;

pub mod sio;

pub mod timer;

pub mod log;

pub mod ports;

pub use guard::hs_status;
pub use handles::{hs_admission, hs_request, hs_response, hs_server};

/// The whole C API in one namespace, as C sees it (`use httpsock::ffi::api::*`).
pub mod api {
    pub use super::{
        admission::*, answer::*, config::*, hs_admission, hs_request, hs_response, hs_server,
        hs_status, log::*, ports::*, request::*, response::*, rooms::*, route::*, server::*,
        sio::*, timer::*, tls::*, workers::*, ws::*,
    };
}
