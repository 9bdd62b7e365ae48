//! Who may open a WebSocket: decided before the handshake is answered, so that a refused client
//! gets an HTTP answer (403, 401, 503, ...) and never a half-open socket. In order: the allowed
//! origins, the route's client limit, the host's authorizer. An accepted upgrade may carry a user
//! (id and info, for presence channels) and channels to join at once.
//!
//! Limits (each checked where the host hands the value in, so that a bad one is an error of
//! that call and never reaches a client): a user id is 1-256 bytes of UTF-8
//! (`MAX_USER_ID_BYTES`), its info at most 64 KiB (`MAX_USER_INFO_BYTES`), a channel name 1-200
//! bytes of UTF-8 without control characters (`check_channel`), at most 100 channels per
//! admission (`MAX_CHANNELS_PER_ADMISSION`).

use crate::engine::context::host_call;
use crate::engine::error::{Error, Result};
use crate::engine::http::request::Request;
use crate::engine::http::response::Response;
use crate::engine::http::service::error_response;
use crate::engine::http::{Answer, HttpContext};
pub use crate::engine::ws::context::{Admission, Admitting, Authorizer, User, Verdict};
use crate::engine::ws::context::{Reservation, WsContext};
use hyper::header::{HeaderValue, ORIGIN, RETRY_AFTER};
use std::sync::Arc;

/// Longest user id, in bytes.
pub const MAX_USER_ID_BYTES: usize = 256;
/// Largest user info, in bytes.
pub const MAX_USER_INFO_BYTES: usize = 64 * 1024;
/// Longest channel name, in bytes.
pub const MAX_CHANNEL_BYTES: usize = crate::engine::ws::rooms::MAX_CHANNEL;
/// Most channels one admission may join.
pub const MAX_CHANNELS_PER_ADMISSION: usize = 100;
/// The Retry-After of a 503 for a full route: a client leaving frees a place at any time, so a
/// short wait, not a schedule.
pub const ROUTE_FULL_RETRY_AFTER_S: u32 = 5;

impl Admission {
    /// Refuses a Socket.IO connect with `message` (at most 1 KiB) and optional JSON `data`.
    pub fn refuse(&mut self, message: &str, data: Option<&[u8]>) -> Result<()> {
        if message.len() > 1024 {
            return Err(Error::invalid("refusal message is longer than 1024 bytes"));
        }
        if let Some(d) = data {
            if d.len() > MAX_USER_INFO_BYTES
                || serde_json::from_slice::<&serde_json::value::RawValue>(d).is_err()
            {
                return Err(Error::invalid(
                    "refusal data must be JSON of at most 64 KiB",
                ));
            }
        }
        self.refusal = Some(crate::engine::ws::context::Refusal {
            message: message.to_string(),
            data: data.map(<[u8]>::to_vec),
        });
        Ok(())
    }

    /// Names the user (replacing one named before). `id`: 1-256 bytes; `info`: at most 64 KiB,
    /// copied.
    pub fn set_user(&mut self, id: &str, info: &[u8]) -> Result<()> {
        if id.is_empty() {
            return Err(Error::invalid("user id is empty"));
        }
        if id.len() > MAX_USER_ID_BYTES {
            return Err(Error::invalid(format!(
                "user id is {} bytes; at most {MAX_USER_ID_BYTES}",
                id.len()
            )));
        }
        if info.len() > MAX_USER_INFO_BYTES {
            return Err(Error::invalid(format!(
                "user info is {} bytes; at most {MAX_USER_INFO_BYTES}",
                info.len()
            )));
        }
        self.user = Some(User {
            id: id.into(),
            info: info.into(),
        });
        Ok(())
    }

    /// Adds a channel to join as the client opens; a channel named twice is joined once.
    pub fn join(&mut self, channel: &str) -> Result<()> {
        check_channel(channel)?;
        if self.channels.iter().any(|c| c == channel) {
            return Ok(());
        }
        if self.channels.len() >= MAX_CHANNELS_PER_ADMISSION {
            return Err(Error::invalid(format!(
                "more than {MAX_CHANNELS_PER_ADMISSION} channels for one client"
            )));
        }
        self.channels.push(channel.to_owned());
        Ok(())
    }
}

pub use crate::engine::ws::rooms::check_channel;

// ---- origins ------------------------------------------------------------------------------

/// An origin in the form it is compared in (RFC 6454 §6.1's serialisation): `scheme://host`
/// with scheme and host in lower case, then `:port` unless it is the scheme's default (80 for
/// http and ws, 443 for https and wss); `null` (what a sandboxed or `file:` page sends) as is.
/// `None` for anything else: a path, a query, user info, an empty or non-ASCII host (browsers
/// send international names in their punycode form), a port outside 0-65535.
pub fn normalize_origin(origin: &str) -> Option<String> {
    if origin.eq_ignore_ascii_case("null") {
        return Some("null".into());
    }
    let (scheme, rest) = origin.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    // `https://app.example/` (as copied from an address bar) is that origin; no other path is.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.strip_prefix('[') {
        // An IPv6 literal: [..] then nothing or :port.
        Some(v6) => {
            let (addr, after) = v6.split_once(']')?;
            let ok = !addr.is_empty()
                && addr
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
            if !ok {
                return None;
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            (&rest[..addr.len() + 2], port)
        }
        None => match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        },
    };
    let host_ok = !host.is_empty()
        && (host.starts_with('[')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
    if !host_ok {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    };
    let host = host.to_ascii_lowercase();
    Some(match port {
        Some(p) if Some(p) != default => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The allowed-origins list as stored: each entry normalised (`normalize_origin`), `*` for any.
/// An entry that is not an origin is an error naming it; nothing is kept then.
pub fn parse_origins(origins: &[&str]) -> Result<Vec<Box<str>>> {
    let mut out: Vec<Box<str>> = Vec::with_capacity(origins.len());
    for o in origins {
        let o = o.trim();
        let entry = if o == "*" {
            "*".to_owned()
        } else {
            normalize_origin(o).ok_or_else(|| {
                Error::invalid(format!(
                    "'{o}' is not an origin: scheme://host[:port] (no path; \"*\" for any, \
                     \"null\" for opaque origins)"
                ))
            })?
        };
        if !out.iter().any(|e| **e == *entry) {
            out.push(entry.into());
        }
    }
    Ok(out)
}

/// Whether an upgrade with these `Origin` header values may come in: yes when the list is empty
/// (no check), holds `*`, or the request has no Origin (not a browser); otherwise every Origin
/// value must be in the list. `Err` says why not, for the log.
fn origin_allowed<'a>(
    allowed: &[Box<str>],
    mut values: impl Iterator<Item = &'a HeaderValue>,
) -> std::result::Result<(), String> {
    if allowed.is_empty() || allowed.iter().any(|a| &**a == "*") {
        return Ok(());
    }
    values.try_for_each(|v| {
        let shown = || String::from_utf8_lossy(v.as_bytes()).into_owned();
        let origin = v.to_str().ok().and_then(|s| normalize_origin(s.trim()));
        match origin {
            Some(o) if allowed.iter().any(|a| **a == *o) => Ok(()),
            Some(_) => Err(format!("origin '{}' is not allowed", shown())),
            None => Err(format!("Origin '{}' is not an origin", shown())),
        }
    })
}

// ---- configuration ------------------------------------------------------------------------

impl WsContext {
    /// Replaces the allowed origins (`parse_origins`; empty: no check). A bad entry changes
    /// nothing.
    pub fn set_origins(&self, origins: &[&str]) -> Result<()> {
        let parsed = parse_origins(origins)?;
        *self.origins.write() = parsed;
        Ok(())
    }

    /// The most clients accept route `route_id` takes (0: no limit). `NotFound` for an id that is
    /// not an accept route's.
    pub fn set_route_limit(&self, route_id: u32, max_clients: usize) -> Result<()> {
        if self.routes.read().get(route_id).is_none() {
            return Err(Error::not_found(format!(
                "no accept route with id {route_id} (a limit applies to a route from hs_accept)"
            )));
        }
        let mut limits = self.route_limits.write();
        if max_clients == 0 {
            limits.remove(&route_id);
        } else {
            limits.insert(route_id, max_clients);
        }
        Ok(())
    }

    /// Sets (or with `None` removes) the host's authorizer.
    pub fn set_authorizer(&self, authorizer: Option<Arc<dyn Authorizer>>) {
        *self.authorizer.write() = authorizer;
    }
}

// ---- the decision -------------------------------------------------------------------------

/// Runs the checks in order; `Err` is the refusal to send (not yet through `finish`).
pub fn admit(
    ws: &WsContext,
    http: &Arc<HttpContext>,
    req: &Request,
) -> std::result::Result<Admission, Response> {
    let log = &ws.base.log;
    let id = req.conn_id;
    let route = req.route_id;

    // Read in place (no host code runs meanwhile): no copy of the list per upgrade.
    let allowed = origin_allowed(&ws.origins.read(), req.head.headers.get_all(ORIGIN).iter());
    if let Err(why) = allowed {
        log.debug(|| format!("conn {id}: {why}"));
        return Err(Answer::OriginRefused.response());
    }

    let mut admission = Admission::default();
    let limit = ws.route_limits.read().get(&route).copied();
    if let Some(max) = limit {
        // Checked and reserved under one lock: concurrent upgrades (threads) take turns.
        let mut admitting = ws.admitting.0.lock();
        // Those registered meanwhile are in the client count now.
        admitting.retain(|&(_, pending)| !ws.rooms.is_known(pending));
        let pending = admitting.iter().filter(|&&(r, _)| r == route).count();
        let clients = ws.rooms.count(Some(route)) + pending;
        if clients >= max {
            log.debug(|| format!("conn {id}: route {route} is full ({clients} of {max})"));
            let mut res = Answer::RouteFull.response();
            res.headers
                .push((RETRY_AFTER, HeaderValue::from(ROUTE_FULL_RETRY_AFTER_S)));
            return Err(res);
        }
        admitting.push((route, id));
        // Dropped with the admission: at once if the authorizer refuses below.
        admission.reservation = Some(Reservation {
            admitting: ws.admitting.clone(),
            id,
        });
    }

    // Cloned out of the lock: the host's code may replace the authorizer while it runs.
    let authorizer = ws.authorizer.read().clone();
    let Some(authorizer) = authorizer else {
        return Ok(admission);
    };
    let mut res = Response::new();
    let verdict = match host_call(|| authorizer.authorize(req, &mut admission, &mut res)) {
        Ok(_) if res.poisoned.is_some() => {
            // hs_response_fail (a host's exception), or nonsense written into the answer.
            let why = res.poisoned.take().unwrap_or_default();
            log.debug(|| format!("conn {id}: the authorizer failed: {why}"));
            Verdict::Failed
        }
        Ok(v) => v,
        Err(_) => {
            log.debug(|| format!("conn {id}: the authorizer panicked"));
            Verdict::Failed
        }
    };
    let presence_without_user = admission.user.is_none()
        && admission
            .channels
            .iter()
            .any(|c| crate::engine::ws::rooms::is_presence(c));
    match verdict {
        // A presence channel lists users: the host named one without a user (its error).
        Verdict::Accept if presence_without_user => {
            log.warn(&format!(
                "conn {id}: the authorizer named a presence channel but no user; answering 500"
            ));
            Err(error_response(http, req, Answer::ServerError))
        }
        Verdict::Accept => {
            log.debug(|| {
                let user = match &admission.user {
                    Some(u) => format!("{:?} ({} bytes of info)", u.id, u.info.len()),
                    None => "none".into(),
                };
                format!(
                    "conn {id}: admitted on route {route}: user {user}, channels {:?}",
                    admission.channels
                )
            });
            Ok(admission)
        }
        Verdict::Failed => {
            log.debug(|| format!("conn {id}: the authorizer failed; answering 500"));
            Err(error_response(http, req, Answer::ServerError))
        }
        Verdict::Refuse if !res.touched => {
            log.debug(|| format!("conn {id}: the authorizer refused"));
            Err(Answer::UpgradeRefused.response())
        }
        // A 2xx would tell the client the upgrade (an HTTP/2 CONNECT: the tunnel) is open.
        Verdict::Refuse if res.status < 300 => {
            log.debug(|| {
                let status = res.status;
                format!("conn {id}: the authorizer refused with status {status}; answering 403")
            });
            Err(Answer::UpgradeRefused.response())
        }
        Verdict::Refuse => {
            log.debug(|| format!("conn {id}: the authorizer refused with {}", res.status));
            Err(res)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::context::Base;
    use crate::engine::http::request::{Conn, Matched};
    use crate::engine::transport::Activity;
    use std::time::Duration;

    #[test]
    fn origins_are_compared_normalised() {
        let n = |s| normalize_origin(s);
        assert_eq!(
            n("https://Example.COM").as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            n("HTTPS://example.com:443").as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            n("http://example.com:80").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(
            n("http://example.com:443").as_deref(),
            Some("http://example.com:443")
        );
        assert_eq!(n("http://a.b:08080").as_deref(), Some("http://a.b:8080"));
        assert_eq!(
            n("https://[::1]:8443").as_deref(),
            Some("https://[::1]:8443")
        );
        assert_eq!(n("http://[::1]").as_deref(), Some("http://[::1]"));
        assert_eq!(n("https://a.b/").as_deref(), Some("https://a.b"));
        assert_eq!(
            n("chrome-extension://abcdef").as_deref(),
            Some("chrome-extension://abcdef")
        );
        assert_eq!(n("NULL").as_deref(), Some("null"));
        for bad in [
            "",
            "example.com",
            "https://",
            "https://a.b/path",
            "https://a.b?q",
            "https://user@a.b",
            "https://a.b:",
            "https://a.b:65536",
            "https://a.b:1:2",
            "https://[::1",
            "https://[zz]",
            "https://exämple.com",
            "1http://a.b",
            "https://a b",
            "*",
        ] {
            assert_eq!(n(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_origin_list_is_parsed_whole_or_not_at_all() {
        let list =
            parse_origins(&["https://A.com:443", " http://b.com:8080 ", "*", "null"]).unwrap();
        let list: Vec<&str> = list.iter().map(|s| &**s).collect();
        assert_eq!(list, ["https://a.com", "http://b.com:8080", "*", "null"]);
        let dup = parse_origins(&["https://a.com", "HTTPS://a.com:443"]).unwrap();
        assert_eq!(dup.len(), 1);
        let e = parse_origins(&["https://a.com", "https://a.com/app"]).unwrap_err();
        assert!(
            e.message.contains("'https://a.com/app' is not an origin"),
            "{e}"
        );
        assert!(parse_origins(&[]).unwrap().is_empty());
    }

    fn allowed(list: &[&str], origins: &[&str]) -> bool {
        let list = parse_origins(list).unwrap();
        let values: Vec<HeaderValue> = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).unwrap())
            .collect();
        origin_allowed(&list, values.iter()).is_ok()
    }

    #[test]
    fn origin_checks() {
        let list = ["https://app.example.com", "http://localhost:8080"];
        assert!(allowed(&list, &["https://APP.example.com:443"]));
        assert!(allowed(&list, &["http://localhost:8080"]));
        assert!(!allowed(&list, &["http://localhost:8081"]));
        assert!(
            !allowed(&list, &["http://app.example.com"]),
            "scheme counts"
        );
        assert!(!allowed(&list, &["https://evil.example.com"]));
        assert!(!allowed(&list, &["garbage"]));
        assert!(!allowed(&list, &["null"]));
        assert!(!allowed(
            &list,
            &["https://app.example.com", "https://evil.com"]
        ));
        assert!(allowed(&list, &[]), "no Origin: not a browser, allowed");
        assert!(
            allowed(&[], &["https://anything.example"]),
            "empty list: no check"
        );
        assert!(allowed(&["*"], &["https://anything.example"]));
        assert!(allowed(&["*"], &["garbage"]));
        assert!(allowed(&["null"], &["null"]));
    }

    #[test]
    fn admission_arguments_are_checked() {
        let mut a = Admission::default();
        assert!(a.set_user("", b"").unwrap_err().message.contains("empty"));
        let long = "u".repeat(MAX_USER_ID_BYTES + 1);
        assert!(a
            .set_user(&long, b"")
            .unwrap_err()
            .message
            .contains("257 bytes"));
        a.set_user(&"u".repeat(MAX_USER_ID_BYTES), b"").unwrap();
        let big = vec![0u8; MAX_USER_INFO_BYTES + 1];
        assert!(a.set_user("u", &big).is_err());
        a.set_user("ü", &big[1..]).unwrap();
        assert_eq!(&*a.user.as_ref().unwrap().id, "ü");
        assert_eq!(a.user.as_ref().unwrap().info.len(), MAX_USER_INFO_BYTES);

        assert!(a.join("").is_err());
        assert!(a.join(&"c".repeat(MAX_CHANNEL_BYTES + 1)).is_err());
        assert!(a.join("a\nb").unwrap_err().message.contains("U+000A"));
        assert!(a.join("a\u{7f}").is_err());
        assert!(a.join("a\u{85}").is_err());
        a.join(&"c".repeat(MAX_CHANNEL_BYTES)).unwrap();
        a.join("presence-room 1 ✓").unwrap();
        a.join("presence-room 1 ✓").unwrap();
        assert_eq!(a.channels.len(), 2, "a channel named twice is joined once");
        for i in 2..MAX_CHANNELS_PER_ADMISSION {
            a.join(&format!("c{i}")).unwrap();
        }
        assert!(a.join("one-too-many").unwrap_err().message.contains("100"));
        a.join("c2").unwrap(); // already there: not one more
    }

    // ---- admit() with a host's authorizer --------------------------------------------------

    struct Host(fn(&Request, &mut Admission, &mut Response) -> Verdict);

    impl Authorizer for Host {
        fn authorize(&self, req: &Request, a: &mut Admission, res: &mut Response) -> Verdict {
            (self.0)(req, a, res)
        }
    }

    fn setup(route_limit: Option<usize>) -> (WsContext, Arc<HttpContext>) {
        let base = Arc::new(Base::default());
        let ws = WsContext::new(base.clone());
        let http = Arc::new(HttpContext::new(base));
        if let Some(max) = route_limit {
            ws.route_limits.write().insert(0, max);
        }
        (ws, http)
    }

    fn request(origin: Option<&str>) -> Request {
        request_on(7, origin)
    }

    fn request_on(conn_id: u64, origin: Option<&str>) -> Request {
        let mut b = hyper::Request::builder().uri("/rooms/red?token=t");
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        let conn = Conn {
            id: conn_id,
            peer: "127.0.0.1:5000".parse().unwrap(),
            secure: false,
            activity: Arc::new(Activity::new(Duration::from_secs(1))),
        };
        Request::new(
            parts,
            bytes::Bytes::new(),
            &conn,
            0,
            Matched::default(),
            Arc::from(Vec::new()),
        )
    }

    fn accepted(r: std::result::Result<Admission, Response>) -> Admission {
        r.unwrap_or_else(|res| panic!("refused with {}", res.status))
    }

    fn refusal(r: std::result::Result<Admission, Response>) -> (u16, String) {
        let res = r.expect_err("refused");
        (res.status, String::from_utf8_lossy(&res.body).into_owned())
    }

    #[test]
    fn a_presence_channel_without_a_user_is_the_hosts_error() {
        let (ws, http) = setup(None);
        ws.set_authorizer(Some(Arc::new(Host(|_, a, _| {
            a.join("presence-room").unwrap();
            Verdict::Accept
        }))));
        assert_eq!(refusal(admit(&ws, &http, &request(None))).0, 500);
        ws.set_authorizer(Some(Arc::new(Host(|_, a, _| {
            a.join("presence-room").unwrap();
            a.set_user("ann", b"{}").unwrap();
            Verdict::Accept
        }))));
        let a = accepted(admit(&ws, &http, &request(None)));
        assert_eq!(a.channels, vec!["presence-room".to_string()]);
    }

    #[test]
    fn no_rules_admit_everyone() {
        let (ws, http) = setup(None);
        let a = accepted(admit(&ws, &http, &request(Some("https://x.example"))));
        assert!(a.user.is_none() && a.channels.is_empty());
    }

    #[test]
    fn a_foreign_origin_gets_403() {
        let (ws, http) = setup(None);
        ws.set_origins(&["https://app.example"]).unwrap();
        let r = admit(&ws, &http, &request(Some("https://evil.example")));
        assert_eq!(refusal(r), (403, "Origin not allowed.".into()));
        assert!(admit(&ws, &http, &request(Some("https://app.example:443"))).is_ok());
        assert!(admit(&ws, &http, &request(None)).is_ok());
    }

    struct Nothing;

    impl crate::engine::ws::context::WsHandler for Nothing {
        fn on_open(&self, _: u64, _: &Request) {}
        fn on_message(&self, _: u64, _: &[u8], _: bool) {}
        fn on_close(&self, _: u64, _: u16, _: &str) {}
    }

    /// Registers client `id` of `route_id` the way a session does (the count is the rooms').
    fn register(ws: &WsContext, id: u64, route_id: u32) {
        let record = crate::engine::ws::rooms::Record {
            id,
            route: route_id,
            node: Arc::from("n"),
            user: None,
            channels: Vec::new(),
            summary: Arc::from(&b""[..]),
        };
        let outbox = Arc::new(crate::engine::ws::outbox::Outbox::new(16));
        ws.rooms.open(record, outbox, &[]);
    }

    /// A context with accept route 0 limited to `max` clients.
    fn limited(max: usize) -> (WsContext, Arc<HttpContext>) {
        use crate::engine::http::router::{Methods, Pattern};
        let (ws, http) = setup(None);
        let e = ws.set_route_limit(0, max).unwrap_err();
        assert_eq!(e.kind, crate::engine::error::ErrorKind::NotFound, "{e}");
        let pattern = Pattern::compile("/rooms/{room}").unwrap();
        ws.routes
            .write()
            .add(0, Methods::Any, pattern, Arc::new(Nothing));
        ws.set_route_limit(0, max).unwrap();
        (ws, http)
    }

    #[test]
    fn a_full_route_gets_503_with_retry_after() {
        let (ws, http) = limited(2);
        register(&ws, 1, 0);
        register(&ws, 2, 1); // another route's client does not count
        assert!(admit(&ws, &http, &request(None)).is_ok(), "1 of 2");
        register(&ws, 3, 0);
        let res = admit(&ws, &http, &request(None)).unwrap_err();
        assert_eq!(res.status, 503);
        assert_eq!(&res.body[..], b"Too many clients on this route.");
        assert_eq!(res.header("retry-after").unwrap(), "5");
        ws.rooms.close(1);
        let again = admit(&ws, &http, &request(None));
        assert!(again.is_ok(), "one left: room again");
        register(&ws, 1, 0);
        ws.set_route_limit(0, 0).unwrap();
        assert!(admit(&ws, &http, &request(None)).is_ok(), "0: no limit");
    }

    #[test]
    fn upgrades_in_flight_hold_their_places() {
        let (ws, http) = limited(2);
        // Admitted, not registered yet (the 101 is on its way): each holds a place.
        let a = accepted(admit(&ws, &http, &request_on(10, None)));
        let b = accepted(admit(&ws, &http, &request_on(11, None)));
        let r = admit(&ws, &http, &request_on(12, None));
        assert_eq!(refusal(r).0, 503, "two in flight fill the route");
        drop(a); // its upgrade failed: the place is free
        let c = accepted(admit(&ws, &http, &request_on(13, None)));
        // Both registered: counted once, by the client list.
        register(&ws, 11, 0);
        register(&ws, 13, 0);
        let r = admit(&ws, &http, &request_on(14, None));
        assert_eq!(refusal(r).0, 503);
        assert!(
            ws.admitting.0.lock().is_empty(),
            "registered ones leave the list"
        );
        ws.rooms.close(11);
        drop(b); // its session ended
        let d = accepted(admit(&ws, &http, &request_on(15, None)));
        assert!(d.reservation.is_some() && c.reservation.is_some());

        // A refusal by the authorizer gives the place back at once.
        let (ws, http) = limited(1);
        ws.set_authorizer(Some(Arc::new(Host(|_, _, _| Verdict::Refuse))));
        assert_eq!(refusal(admit(&ws, &http, &request_on(20, None))).0, 403);
        ws.set_authorizer(None);
        let e = accepted(admit(&ws, &http, &request_on(21, None)));
        assert!(e.reservation.is_some());
        assert!(admit(&ws, &http, &request_on(22, None)).is_err());
    }

    #[test]
    fn the_authorizer_decides() {
        let (ws, http) = setup(None);
        ws.set_authorizer(Some(Arc::new(Host(|req, a, _| {
            assert_eq!(req.head.uri.query(), Some("token=t"));
            a.set_user("alice", br#"{"name":"Alice"}"#).unwrap();
            a.join("red").unwrap();
            Verdict::Accept
        }))));
        let a = accepted(admit(&ws, &http, &request(None)));
        assert_eq!(&*a.user.unwrap().id, "alice");
        assert_eq!(a.channels, ["red"]);

        ws.set_authorizer(Some(Arc::new(Host(|_, _, _| Verdict::Refuse))));
        let r = admit(&ws, &http, &request(None));
        assert_eq!(refusal(r), (403, "Forbidden.".into()));

        ws.set_authorizer(Some(Arc::new(Host(|_, _, res| {
            res.status = 401;
            res.body = bytes::Bytes::from_static(b"bad token");
            res.touched = true;
            Verdict::Refuse
        }))));
        assert_eq!(
            refusal(admit(&ws, &http, &request(None))),
            (401, "bad token".into())
        );

        ws.set_authorizer(Some(Arc::new(Host(|_, _, res| {
            res.status = 204;
            res.touched = true;
            Verdict::Refuse
        }))));
        let (status, _) = refusal(admit(&ws, &http, &request(None)));
        assert_eq!(
            status, 403,
            "a 2xx refusal would read as an open tunnel on HTTP/2"
        );

        ws.set_authorizer(Some(Arc::new(Host(|_, _, res| {
            res.fail("the host threw");
            Verdict::Accept
        }))));
        let (status, _) = refusal(admit(&ws, &http, &request(None)));
        assert_eq!(
            status, 500,
            "a failed response is a failure whatever the verdict"
        );

        ws.set_authorizer(Some(Arc::new(Host(|_, _, _| Verdict::Failed))));
        assert_eq!(refusal(admit(&ws, &http, &request(None))).0, 500);

        ws.set_authorizer(None);
        assert!(admit(&ws, &http, &request(None)).is_ok());
    }

    #[test]
    fn a_panicking_authorizer_is_a_500() {
        let (ws, http) = setup(None);
        ws.set_authorizer(Some(Arc::new(Host(|_, _, _| panic!("host bug")))));
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = admit(&ws, &http, &request(None));
        std::panic::set_hook(prev);
        assert_eq!(refusal(r).0, 500);
    }

    #[test]
    fn origins_are_checked_before_the_authorizer_runs() {
        let (ws, http) = setup(None);
        ws.set_origins(&["https://app.example"]).unwrap();
        ws.set_authorizer(Some(Arc::new(Host(|_, _, _| {
            panic!("the authorizer must not run for a refused origin")
        }))));
        let r = admit(&ws, &http, &request(Some("https://evil.example")));
        assert_eq!(refusal(r).0, 403);
    }
}
