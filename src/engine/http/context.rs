//! What the HTTP layer of one server holds (`HttpContext`), and the host's side of it: the
//! handler, error hook and response filter traits, and the `Upgrade` the layer above installs.

use crate::engine::context::Base;
use crate::engine::http::access::Access;
use crate::engine::http::answers::Answer;
use crate::engine::http::request::{Conn, Request};
use crate::engine::http::response::Response;
use crate::engine::http::router::Router;
use crate::engine::transport::{Connections, Tls};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A response as hyper sends it.
pub type HttpResponse = hyper::Response<http_body_util::Full<bytes::Bytes>>;

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

/// Shapes an error answer: called with a hooked `Answer` kind and an empty `res`; a `res` left
/// untouched keeps the engine's answer.
pub trait ErrorHandler: Send + Sync {
    fn on_error(&self, req: &Request, kind: Answer, res: &mut Response);
}

/// Sees every HTTP response before it is sent and may rewrite it (Luminova's `onResponse`).
pub trait ResponseFilter: Send + Sync {
    fn filter(&self, req: &Request, res: &mut Response);
}

/// Takes over a request that asks to change protocol (installed by the WebSocket layer).
pub trait Upgrade: Send + Sync {
    /// Whether this request is one for it (cheap: called for every request).
    fn wants(&self, head: &Parts) -> bool;
    /// Answers it: the 101 (200 on HTTP/2) and takes the stream over, or a refusal.
    fn upgrade(
        &self,
        http: &Arc<HttpContext>,
        conn: &Conn,
        req: hyper::Request<Incoming>,
    ) -> HttpResponse;
}

/// A protocol served under a path of its own (Socket.IO, installed by its layer): it answers
/// every request for that path itself, plain requests and upgrades alike.
pub trait Mount: Send + Sync {
    /// Whether this request is one for it (cheap: called for every request).
    fn wants(&self, head: &Parts) -> bool;
    /// Answers it.
    fn serve(
        &self,
        http: &Arc<HttpContext>,
        conn: &Conn,
        req: hyper::Request<Incoming>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = HttpResponse> + Send>>;
}

/// What the host sets around its handlers: default headers, the error hook, the response filter.
pub struct Hooks {
    default_headers: RwLock<HeaderMap>,
    /// Changes whenever the default headers do (header maps built from them are then stale).
    defaults_version: AtomicU64,
    pub on_error: RwLock<Option<Arc<dyn ErrorHandler>>>,
    pub on_response: RwLock<Option<Arc<dyn ResponseFilter>>>,
}

impl Default for Hooks {
    fn default() -> Hooks {
        Hooks {
            default_headers: RwLock::new(luminova_headers()),
            defaults_version: AtomicU64::new(0),
            on_error: RwLock::new(None),
            on_response: RwLock::new(None),
        }
    }
}

impl Hooks {
    /// The default headers, read-locked.
    pub fn defaults(&self) -> parking_lot::RwLockReadGuard<'_, HeaderMap> {
        self.default_headers.read()
    }

    /// Sets (replaces) a default header; `None` removes it.
    pub fn set_default(&self, name: HeaderName, value: Option<HeaderValue>) {
        let mut headers = self.default_headers.write();
        match value {
            Some(v) => {
                headers.insert(name, v);
            }
            None => {
                headers.remove(&name);
            }
        }
        self.defaults_version.fetch_add(1, Ordering::Release);
    }

    /// Removes every default header.
    pub fn clear_defaults(&self) {
        self.default_headers.write().clear();
        self.defaults_version.fetch_add(1, Ordering::Release);
    }

    pub fn defaults_version(&self) -> u64 {
        self.defaults_version.load(Ordering::Acquire)
    }
}

/// Luminova's default server headers (CORS), on unless replaced.
fn luminova_headers() -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, POST, OPTIONS"),
        ("access-control-allow-headers", "Content-Type"),
    ] {
        map.insert(HeaderName::from_static(n), HeaderValue::from_static(v));
    }
    map
}

/// What the HTTP layer of one server needs, and nothing else.
pub struct HttpContext {
    pub base: Arc<Base>,
    pub routes: RwLock<Router<Arc<dyn HttpHandler>>>,
    pub hooks: Hooks,
    pub access: Access,
    /// Open connections, for the watchdog.
    pub conns: Arc<Connections>,
    /// The protocol upgrade's owner, installed once by the server.
    pub upgrade: OnceLock<Arc<dyn Upgrade>>,
    /// The protocol mounted under a path of its own, if any (installed once by the server).
    pub mount: OnceLock<Arc<dyn Mount>>,
    /// TLS for every listener, once a certificate is configured.
    pub tls: Tls,
    /// HTTP/2 over TLS (ALPN h2), and cleartext HTTP/2 by prior knowledge (h2c).
    pub http2: AtomicBool,
    pub h2c: AtomicBool,
}

impl HttpContext {
    pub fn new(base: Arc<Base>) -> HttpContext {
        HttpContext {
            base,
            routes: RwLock::new(Router::default()),
            hooks: Hooks::default(),
            access: Access::default(),
            conns: Arc::new(Connections::default()),
            upgrade: OnceLock::new(),
            mount: OnceLock::new(),
            tls: Tls::default(),
            http2: AtomicBool::new(true),
            h2c: AtomicBool::new(true),
        }
    }
}
