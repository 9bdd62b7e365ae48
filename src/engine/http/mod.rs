//! HTTP: the layer over `transport`. One connection served by hyper (`serve`), the service that
//! answers each request (`service`), request checks (`validate`), the engine's own answers in one
//! place (`answers`), admission rules (`access`), the request and response a host sees, raw
//! responses, and the router.
//!
//! Depends on `context` and `transport` only. A request that asks to change protocol is handed
//! to the `Upgrade` the layer above installed (the WebSocket layer): HTTP does not know it.

pub mod access;
pub mod answers;
pub mod context;
pub mod raw_response;
pub mod request;
pub mod response;
pub mod router;
pub mod serve;
pub mod service;
pub mod validate;

pub use answers::Answer;
pub use context::{
    ErrorHandler, Hooks, HttpContext, HttpHandler, HttpResponse, Mount, ResponseFilter, Upgrade,
};
