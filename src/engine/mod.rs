//! The engine: safe Rust, no knowledge of C. The `ffi` module is a thin layer over this.
//!
//! One concept per module: `server` (lifecycle, accept loop, shutdown), `http` (the hyper service:
//! limits, routing, handler call, default responses), `ws` (upgrade, per-client task, hub for
//! send/broadcast/close), `router`, `request`/`response`, `limits`, `timers`, `ports`, `log`.

pub mod cluster;
pub mod config;
pub mod error;
pub mod http;
pub mod limits;
pub mod log;
pub mod ports;
pub mod raw_response;
pub mod request;
pub mod response;
pub mod router;
pub mod server;
pub mod timers;
pub mod ws;

pub use config::Limits;
pub use error::{Error, ErrorKind, Result};
pub use request::{Field, Request};
pub use response::Response;
pub use server::{ErrorType, PollState, Server};

/// Calls into the host (a handler, a WebSocket event, a timer, a hook).
///
/// - A panic (only a Rust host can unwind; C cannot) is caught and returned as `Err`.
/// - On a multi-thread loop (`hs_set_threads`), the call runs in `block_in_place`, so that a
///   host callback that blocks hands this worker's other tasks and the I/O driver to another
///   thread instead of stalling them. On the default single-thread loop it is a plain call.
pub fn host_call<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    let guarded = || std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(guarded)
    } else {
        guarded()
    }
}

/// Handles one HTTP request: read `req`, fill `res`. Runs on the loop thread (or on one of the
/// opted-in worker threads), never concurrently with another callback unless threads were opted in.
pub trait HttpHandler: Send + Sync {
    fn handle(&self, req: &Request, res: &mut Response);
}

impl<F: Fn(&Request, &mut Response) + Send + Sync> HttpHandler for F {
    fn handle(&self, req: &Request, res: &mut Response) {
        self(req, res)
    }
}

/// WebSocket events of the clients of one accept route.
pub trait WsHandler: Send + Sync {
    /// The upgrade is done; `req` is the upgrade request (valid only during the call).
    fn on_open(&self, conn_id: u64, req: &Request);
    /// A whole message (fragments joined).
    fn on_message(&self, conn_id: u64, data: &[u8], binary: bool);
    /// The client is gone; `code` is the close code received or sent, 1006 when none was.
    fn on_close(&self, conn_id: u64, code: u16, reason: &str);
}

/// Shapes an error answer: `res` holds the default (status, text, headers) and may be rewritten.
pub trait ErrorHandler: Send + Sync {
    fn on_error(&self, req: &Request, kind: ErrorType, res: &mut Response);
}

/// Sees every HTTP response before it is sent and may rewrite it (Luminova's `onResponse`).
pub trait ResponseFilter: Send + Sync {
    fn filter(&self, req: &Request, res: &mut Response);
}
