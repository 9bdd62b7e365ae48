//! Server lifecycle: configure, bind (`start`), serve in slices (`poll`) on the calling thread,
//! shut down gracefully from anywhere, including a signal handler.
//!
//! Threads: nothing here creates a thread before the first `poll`. The tokio runtime is built
//! there, on the caller's thread: a current-thread runtime by default, so that every callback runs
//! on that thread, one at a time, and only while `poll` runs. `set_threads(n > 1)` builds a
//! multi-thread runtime instead; callbacks then run concurrently on its workers.

use crate::engine::cluster::{self, Cluster};
use crate::engine::config::{Limits, MIN_HEADER_BYTES};
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::limits::{Activity, Clock, Connected, RateLimiter};
use crate::engine::log::Log;
use crate::engine::router::{Methods, Pattern, Router};
use crate::engine::timers::{TimerFn, Timers};
use crate::engine::ws::Hub;
use crate::engine::{http, ErrorHandler, HttpHandler, ResponseFilter, WsHandler};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_tungstenite::tungstenite::Message;

/// The error answers a host may shape (`hs_on_error`). Each has a Luminova default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    NotFound,
    RequestLimit,
    NotConnected,
    BadRequest,
    ServerError,
    PayloadTooLarge,
}

impl ErrorType {
    /// (status, body, X-Server-Response-Type) as Luminova sends them.
    pub fn defaults(self) -> (u16, &'static str, &'static str) {
        match self {
            ErrorType::NotFound => (404, "404 Not Found", "NOT_FOUND"),
            ErrorType::RequestLimit => (
                429,
                "Rate limit exceeded. Try again later.",
                "REQUEST_LIMIT",
            ),
            ErrorType::NotConnected => (400, "Client is not connected.", "NOT_CONNECTED"),
            ErrorType::BadRequest => (400, "Bad Request", "BAD_REQUEST"),
            ErrorType::ServerError => (500, "An error occurred on the server.", "SERVER_ERROR"),
            ErrorType::PayloadTooLarge => (413, "Request body is too large.", "PAYLOAD_TOO_LARGE"),
        }
    }
}

/// What `poll` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollState {
    /// The slice ended; the server is still serving.
    Running,
    /// The server has shut down (all connections ended or the grace time ran out).
    Stopped,
}

/// State shared by every task of one server. Everything here is safe to touch from any thread.
pub struct Shared {
    pub log: Log,
    pub clock: Clock,
    pub limits: RwLock<Limits>,
    pub routes: RwLock<Router<Arc<dyn HttpHandler>>>,
    pub ws_routes: RwLock<Router<Arc<dyn WsHandler>>>,
    pub ws_enabled: AtomicBool,
    pub default_headers: RwLock<HeaderMap>,
    pub on_error: RwLock<Option<Arc<dyn ErrorHandler>>>,
    pub on_response: RwLock<Option<Arc<dyn ResponseFilter>>>,
    pub rate: RateLimiter,
    pub connection_required: AtomicBool,
    pub connected: Connected,
    pub hub: Hub,
    pub timers: Arc<Timers>,
    pub next_conn_id: std::sync::atomic::AtomicU64,
    next_route_id: AtomicU32,
    /// Open TCP connections plus live WebSocket tasks; shutdown waits for it to reach 0.
    pub active: AtomicUsize,
    pub drained: Notify,
    /// Open HTTP connections, for the watchdog (`http::watchdog`).
    pub conns: Mutex<HashMap<u64, Arc<Activity>>>,
    /// Turns true once shutdown begins; the watchdog, the accept loops and WebSocket tasks
    /// watch it.
    pub stopping: watch::Sender<bool>,
    /// Set by `shutdown()`; read by the accept loop. Lock-free so a signal handler may set it.
    shutdown_requested: AtomicBool,
    /// Write end of the wake-up socket pair, -1 until the loop exists. The socket itself lives
    /// in `wake_write` as long as this struct, so the number is never reused while stored here.
    wake_fd: AtomicI32,
    wake_write: std::sync::OnceLock<OwnedFd>,
    /// Set by `join_cluster` (simultaneous mode): the other workers of this server.
    pub cluster: std::sync::OnceLock<Arc<Cluster>>,
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

impl Shared {
    fn new() -> Shared {
        Shared {
            log: Log::default(),
            clock: Clock::default(),
            limits: RwLock::new(Limits::default()),
            routes: RwLock::new(Router::default()),
            ws_routes: RwLock::new(Router::default()),
            ws_enabled: AtomicBool::new(false),
            default_headers: RwLock::new(luminova_headers()),
            on_error: RwLock::new(None),
            on_response: RwLock::new(None),
            rate: RateLimiter::default(),
            connection_required: AtomicBool::new(false),
            connected: Connected::default(),
            hub: Hub::default(),
            timers: Arc::new(Timers::default()),
            next_conn_id: std::sync::atomic::AtomicU64::new(0),
            next_route_id: AtomicU32::new(0),
            active: AtomicUsize::new(0),
            drained: Notify::new(),
            conns: Mutex::new(HashMap::new()),
            stopping: watch::channel(false).0,
            shutdown_requested: AtomicBool::new(false),
            wake_fd: AtomicI32::new(-1),
            wake_write: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.shutdown_requested.load(Ordering::Acquire)
    }

    /// Counts a connection or WebSocket task as live until the guard drops.
    pub fn enter(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        ActiveGuard(self.clone())
    }
}

pub struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            // notify_one keeps a permit when nobody waits yet: no lost wake-up.
            self.0.drained.notify_one();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Created,
    Listening,
    Running,
    Stopped,
}

/// What `poll` takes out while it runs, so that calls from inside callbacks never wait on it.
struct Loop {
    runtime: tokio::runtime::Runtime,
    main: tokio::task::JoinHandle<()>,
}

struct Core {
    phase: Phase,
    host: String,
    port: u16,
    threads: usize,
    reuse_port: bool,
    handle_signals: bool,
    listener: Option<std::net::TcpListener>,
    /// Listening sockets adopted from elsewhere (a parent process's), served alongside ours.
    adopted: Vec<std::net::TcpListener>,
    local: Option<SocketAddr>,
    event_loop: Option<Loop>,
    rt_handle: Option<tokio::runtime::Handle>,
}

pub struct Server {
    shared: Arc<Shared>,
    core: Mutex<Core>,
    /// True while a thread is inside `poll`. `free` must not drop the loop then (a PHP fatal
    /// error can longjmp out of a callback and leave `poll` abandoned mid-flight).
    polling: AtomicBool,
}

/// Splits the address forms Luminova accepts: `127.0.0.1`, `localhost`, `::1`, `[::1]`,
/// `0.0.0.0`, `tcp://host:port`. A port inside a tcp:// address is used when `port` is 0.
pub fn parse_address(address: &str, port: u16) -> Result<(String, u16)> {
    let address = address.trim();
    if address.is_empty() {
        return Err(Error::invalid("empty address"));
    }
    let (host, url_port) = match address.strip_prefix("tcp://") {
        Some(rest) => {
            let rest = rest.trim_end_matches('/');
            if let Some(v6) = rest.strip_prefix('[') {
                let (h, tail) = v6
                    .split_once(']')
                    .ok_or_else(|| Error::invalid(format!("unclosed '[' in '{address}'")))?;
                let p = match tail.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if tail.is_empty() => None,
                    None => return Err(Error::invalid(format!("bad address '{address}'"))),
                };
                (h.to_string(), p)
            } else if rest.matches(':').count() == 1 {
                let (h, p) = rest.split_once(':').unwrap();
                (h.to_string(), Some(p))
            } else {
                (rest.to_string(), None)
            }
        }
        None => (address.trim_matches(['[', ']']).to_string(), None),
    };
    let url_port = match url_port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| Error::invalid(format!("bad port '{p}' in '{address}'")))?,
        ),
        None => None,
    };
    if host.is_empty() {
        return Err(Error::invalid(format!("no host in '{address}'")));
    }
    let port = if port == 0 {
        url_port.unwrap_or(0)
    } else {
        port
    };
    Ok((host, port))
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot resolve '{host}': {e}")))?
        .collect();
    // Prefer IPv4 (`localhost` is usually both; clients try 127.0.0.1 first).
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| Error::new(ErrorKind::Io, format!("'{host}' resolves to no address")))
}

impl Server {
    pub fn new(address: &str, port: u16) -> Result<Server> {
        let (host, port) = parse_address(address, port)?;
        Ok(Server {
            shared: Arc::new(Shared::new()),
            core: Mutex::new(Core {
                phase: Phase::Created,
                host,
                port,
                threads: 1,
                reuse_port: false,
                handle_signals: false,
                listener: None,
                adopted: Vec::new(),
                local: None,
                event_loop: None,
                rt_handle: None,
            }),
            polling: AtomicBool::new(false),
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn next_route_id(&self) -> u32 {
        self.shared.next_route_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn route(
        &self,
        methods: &str,
        pattern: &str,
        handler: Arc<dyn HttpHandler>,
    ) -> Result<u32> {
        let methods = Methods::parse(methods)?;
        let pattern = Pattern::compile(pattern)?;
        let id = self.next_route_id();
        self.shared
            .routes
            .write()
            .add(id, methods, pattern, handler);
        Ok(id)
    }

    pub fn accept(&self, pattern: &str, handler: Arc<dyn WsHandler>) -> Result<u32> {
        let pattern = Pattern::compile(pattern)?;
        let id = self.next_route_id();
        self.shared
            .ws_routes
            .write()
            .add(id, Methods::Any, pattern, handler);
        Ok(id)
    }

    pub fn set_websocket(&self, on: bool) {
        self.shared.ws_enabled.store(on, Ordering::Relaxed);
    }

    pub fn set_on_error(&self, h: Option<Arc<dyn ErrorHandler>>) {
        *self.shared.on_error.write() = h;
    }

    pub fn set_on_response(&self, f: Option<Arc<dyn ResponseFilter>>) {
        *self.shared.on_response.write() = f;
    }

    /// Sets (replaces) a default response header; `None` removes it.
    pub fn set_header(&self, name: &str, value: Option<&str>) -> Result<()> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::invalid(format!("invalid header name '{name}'")))?;
        let value = match value {
            Some(v) => Some(
                HeaderValue::from_str(v)
                    .map_err(|_| Error::invalid(format!("invalid value for header '{name}'")))?,
            ),
            None => None,
        };
        let mut headers = self.shared.default_headers.write();
        match value {
            Some(v) => {
                headers.insert(name, v);
            }
            None => {
                headers.remove(&name);
            }
        }
        Ok(())
    }

    pub fn clear_headers(&self) {
        self.shared.default_headers.write().clear();
    }

    pub fn update_limits(&self, f: impl FnOnce(&mut Limits)) {
        let mut limits = self.shared.limits.write();
        f(&mut limits);
        limits.max_header_bytes = limits.max_header_bytes.max(MIN_HEADER_BYTES);
    }

    pub fn limits(&self) -> Limits {
        self.shared.limits.read().clone()
    }

    pub fn set_rate_limit(&self, max: u32, window: Duration) {
        self.shared.rate.configure(max, window.as_millis() as u64);
    }

    pub fn set_connection_required(&self, on: bool) {
        self.shared.connection_required.store(on, Ordering::Relaxed);
    }

    pub fn client_on(&self, ip: IpAddr) {
        self.shared.connected.on(ip);
    }

    pub fn client_off(&self, ip: IpAddr) -> bool {
        self.shared.connected.off(ip)
    }

    /// The server's own IP (Luminova's default for `on()`/`off()` without an address).
    pub fn own_ip(&self) -> Result<IpAddr> {
        let core = self.core.lock();
        if let Some(a) = core.local {
            return Ok(a.ip());
        }
        resolve(&core.host, core.port).map(|a| a.ip())
    }

    pub fn set_threads(&self, n: usize) -> Result<()> {
        if n == 0 || n > 1024 {
            return Err(Error::invalid(format!(
                "thread count {n} is outside 1-1024"
            )));
        }
        let mut core = self.core.lock();
        if core.event_loop.is_some() || core.phase == Phase::Running {
            return Err(Error::state(
                "threads must be set before the first run/poll",
            ));
        }
        core.threads = n;
        Ok(())
    }

    /// Before `start`: bind with SO_REUSEPORT. After `start` (before the first poll): set it on
    /// the bound socket, so that other processes may bind the same port beside it.
    pub fn set_reuse_port(&self, on: bool) -> Result<()> {
        let mut core = self.core.lock();
        match (core.phase, core.listener.as_ref()) {
            (Phase::Created, _) => {
                core.reuse_port = on;
                Ok(())
            }
            (Phase::Listening, Some(l)) => socket2::SockRef::from(l)
                .set_reuse_port(on)
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot set SO_REUSEPORT: {e}"))),
            _ => Err(Error::state(
                "reuse_port must be set before the first run/poll",
            )),
        }
    }

    /// The listening socket's descriptor, between `start` and the first poll (for a process that
    /// forks workers which then `adopt_listener` it). Still owned by this server.
    pub fn listener_fd(&self) -> Result<std::os::fd::RawFd> {
        let core = self.core.lock();
        match (core.phase, core.listener.as_ref()) {
            (Phase::Listening, Some(l)) => Ok(l.as_raw_fd()),
            _ => Err(Error::state(
                "the listener exists between hs_start and the first run/poll",
            )),
        }
    }

    /// Serves a listening TCP socket made elsewhere (inherited from a parent process) alongside
    /// this server's own. The descriptor is duplicated: the caller keeps and closes its own.
    pub fn adopt_listener(&self, fd: std::os::fd::RawFd) -> Result<()> {
        use std::os::fd::BorrowedFd;
        let mut core = self.core.lock();
        if core.event_loop.is_some() || matches!(core.phase, Phase::Running | Phase::Stopped) {
            return Err(Error::state(
                "a listener must be adopted before the first run/poll",
            ));
        }
        if fd < 0 {
            return Err(Error::invalid(format!("{fd} is not a file descriptor")));
        }
        // SAFETY: the fd is only borrowed for the duration of the dup; an fd that is not open
        // makes the dup fail with EBADF.
        let owned = unsafe { BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .map_err(|e| Error::invalid(format!("descriptor {fd}: {e}")))?;
        let socket = socket2::Socket::from(owned);
        let listening = socket.is_listener().unwrap_or(false);
        let tcp = matches!(socket.r#type(), Ok(t) if t == socket2::Type::STREAM)
            && socket
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .is_some();
        if !(listening && tcp) {
            return Err(Error::invalid(format!(
                "descriptor {fd} is not a listening TCP socket"
            )));
        }
        socket.set_nonblocking(true).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot configure descriptor {fd}: {e}"),
            )
        })?;
        core.adopted.push(socket.into());
        Ok(())
    }

    pub fn set_handle_signals(&self, on: bool) -> Result<()> {
        let mut core = self.core.lock();
        // While `poll` runs it holds the loop (event_loop is None): check the phase too.
        if core.event_loop.is_some() || core.phase == Phase::Running {
            return Err(Error::state(
                "signal handling must be set before the first run/poll",
            ));
        }
        core.handle_signals = on;
        Ok(())
    }

    /// Binds and listens (idempotent). No thread and no runtime are created here, so the host may
    /// fork afterwards.
    pub fn start(&self) -> Result<()> {
        let mut core = self.core.lock();
        match core.phase {
            Phase::Created => {}
            Phase::Stopped => {
                return Err(Error::state("the server was shut down; create a new one"))
            }
            _ => return Ok(()),
        }
        let addr = resolve(&core.host, core.port)?;
        let io_err = |what: &str, e: std::io::Error| {
            let kind = if e.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "address {addr} is already in use (port {} taken)",
                    addr.port()
                )
            } else {
                format!("cannot {what} {addr}: {e}")
            };
            Error::new(ErrorKind::Io, kind)
        };
        let domain = socket2::Domain::for_address(addr);
        let socket =
            socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))
                .map_err(|e| io_err("create a socket for", e))?;
        socket
            .set_reuse_address(true)
            .map_err(|e| io_err("set SO_REUSEADDR on", e))?;
        if core.reuse_port {
            socket
                .set_reuse_port(true)
                .map_err(|e| io_err("set SO_REUSEPORT on", e))?;
        }
        if addr.is_ipv6() {
            let _ = socket.set_only_v6(true);
        }
        socket.bind(&addr.into()).map_err(|e| io_err("bind", e))?;
        socket.listen(1024).map_err(|e| io_err("listen on", e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| io_err("configure", e))?;
        let listener: std::net::TcpListener = socket.into();
        core.local = listener.local_addr().ok();
        core.listener = Some(listener);
        core.phase = Phase::Listening;
        self.shared
            .log
            .debug(|| format!("listening on {}", core.local.unwrap()));
        Ok(())
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.core.lock().local
    }

    pub fn is_listening(&self) -> bool {
        matches!(self.core.lock().phase, Phase::Listening | Phase::Running)
    }

    /// A handle to the running loop, to spawn onto it from any thread.
    pub fn runtime_handle(&self) -> Option<tokio::runtime::Handle> {
        self.core.lock().rt_handle.clone()
    }

    /// Serves for at most `slice` (None: until shut down). Starts the server if needed. Must not
    /// be called from inside a callback of this server.
    pub fn poll(&self, slice: Option<Duration>) -> Result<PollState> {
        if self.polling.swap(true, Ordering::AcqRel) {
            return Err(Error::state(
                "run/poll is already active (called from a callback?)",
            ));
        }
        struct Reset<'a>(&'a AtomicBool);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _reset = Reset(&self.polling);

        let mut lp = {
            let mut core = self.core.lock();
            if core.phase == Phase::Stopped {
                return Ok(PollState::Stopped);
            }
            if core.phase == Phase::Created {
                drop(core);
                self.start()?;
                core = self.core.lock();
            }
            match core.event_loop.take() {
                Some(lp) => lp,
                None => self.build_loop(&mut core)?,
            }
        };
        let state = lp.runtime.block_on(async {
            match slice {
                Some(d) => match tokio::time::timeout(d, &mut lp.main).await {
                    Ok(_) => PollState::Stopped,
                    Err(_) => PollState::Running,
                },
                None => {
                    let _ = (&mut lp.main).await;
                    PollState::Stopped
                }
            }
        });
        let mut core = self.core.lock();
        if state == PollState::Stopped {
            core.phase = Phase::Stopped;
            core.rt_handle = None;
            self.shared.timers.cancel_all();
            drop(core);
            // Dropping the runtime ends the tasks that outlived the grace time.
            drop(lp);
        } else {
            core.event_loop = Some(lp);
        }
        Ok(state)
    }

    fn build_loop(&self, core: &mut Core) -> Result<Loop> {
        ignore_sigpipe();
        let mut builder = if core.threads > 1 {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(core.threads);
            b
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        let runtime = builder
            .enable_all()
            .build()
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot create the event loop: {e}")))?;
        let (wake_read, wake_write) = std::os::unix::net::UnixStream::pair().map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot create the wake-up pipe: {e}"),
            )
        })?;
        wake_read.set_nonblocking(true).ok();
        wake_write.set_nonblocking(true).ok();
        let wake_write: OwnedFd = wake_write.into();
        let fd = wake_write.as_raw_fd();
        if self.shared.wake_write.set(wake_write).is_err() {
            return Err(Error::state("the event loop was already built once"));
        }
        self.shared.wake_fd.store(fd, Ordering::Release);
        let listener = core
            .listener
            .take()
            .ok_or_else(|| Error::state("server is not listening"))?;
        let shared = self.shared.clone();
        let signals = core.handle_signals;
        let main = {
            let _guard = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot register listener: {e}")))?;
            let wake = tokio::net::UnixStream::from_std(wake_read)
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot register wake-up: {e}")))?;
            shared.timers.start_all(runtime.handle());
            if let Some(c) = shared.cluster.get() {
                c.start(&shared)?;
            }
            for l in core.adopted.drain(..) {
                let l = tokio::net::TcpListener::from_std(l).map_err(|e| {
                    Error::new(
                        ErrorKind::Io,
                        format!("cannot register an adopted listener: {e}"),
                    )
                })?;
                runtime.spawn(accept_adopted(shared.clone(), l));
            }
            runtime.spawn(http::watchdog(shared.clone()));
            runtime.spawn(serve(shared, listener, wake, signals))
        };
        core.rt_handle = Some(runtime.handle().clone());
        core.phase = Phase::Running;
        Ok(Loop { runtime, main })
    }

    /// Begins a graceful shutdown. Lock-free and async-signal-safe (an atomic store and one
    /// send(2)), so it may be called from any thread, any callback, or a signal handler.
    pub fn shutdown(&self) {
        self.shared
            .shutdown_requested
            .store(true, Ordering::Release);
        let fd = self.shared.wake_fd.load(Ordering::Acquire);
        if fd >= 0 {
            // SAFETY: send(2) on a socket owned by `Shared` (so the number cannot have been
            // reused). MSG_NOSIGNAL: once the loop ended its read end is closed, and a plain
            // write would raise SIGPIPE in a host that did not ignore it. A full buffer only
            // means a wake-up is already pending.
            unsafe {
                libc::send(
                    fd,
                    b"x".as_ptr().cast(),
                    1,
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
        }
    }

    /// Whether the loop may be dropped now (no thread is inside `poll`).
    pub fn is_polling(&self) -> bool {
        self.polling.load(Ordering::Acquire)
    }

    /// Joins worker `slot` of `slots` of the cluster `group` (before the first run/poll).
    pub fn join_cluster(&self, group: &str, slot: u16, slots: u16) -> Result<()> {
        let core = self.core.lock();
        if core.event_loop.is_some() || core.phase == Phase::Running || core.phase == Phase::Stopped
        {
            return Err(Error::state(
                "a cluster must be joined before the first run/poll",
            ));
        }
        let c = Cluster::new(group, slot, slots)?;
        self.shared
            .cluster
            .set(Arc::new(c))
            .map_err(|_| Error::state("this server already joined a cluster"))?;
        self.shared
            .next_conn_id
            .store(cluster::first_id(slot), Ordering::Relaxed);
        Ok(())
    }

    /// The cluster slot owning `conn_id`, when it is another worker's.
    fn remote_slot(&self, conn_id: u64) -> Option<(Arc<Cluster>, u16)> {
        let c = self.shared.cluster.get()?;
        let slot = cluster::slot_of(conn_id)?;
        (slot != c.slot).then(|| (c.clone(), slot))
    }

    /// Queues a message for a client, of this worker or (forwarded) of another.
    pub fn ws_send(&self, conn_id: u64, msg: Message) -> Result<()> {
        match self.remote_slot(conn_id) {
            Some((c, slot)) if slot < c.slots => {
                c.forward_send(slot, conn_id, &msg);
                Ok(())
            }
            Some(_) => Err(Error::not_found(format!(
                "no WebSocket client with id {conn_id}"
            ))),
            None => self.shared.hub.send(conn_id, msg),
        }
    }

    /// Broadcasts to this worker's clients and forwards to the other workers; returns how many
    /// local clients got it.
    pub fn ws_broadcast(&self, msg: Message, except: Option<u64>, route: Option<u32>) -> usize {
        if let Some(c) = self.shared.cluster.get() {
            c.forward_broadcast(&msg, except, route);
        }
        self.shared.hub.broadcast(msg, except, route)
    }

    pub fn ws_close(&self, conn_id: u64, code: u16, reason: &str) -> Result<()> {
        Hub::check_close(code, reason)?;
        match self.remote_slot(conn_id) {
            Some((c, slot)) if slot < c.slots => {
                c.forward_close(slot, conn_id, code, reason);
                Ok(())
            }
            Some(_) => Err(Error::not_found(format!(
                "no WebSocket client with id {conn_id}"
            ))),
            None => self.shared.hub.close(conn_id, code, reason),
        }
    }

    pub fn add_timer(&self, interval: Duration, repeat: bool, cb: TimerFn) -> Result<u64> {
        if interval.is_zero() {
            return Err(Error::invalid("timer interval must be at least 1 ms"));
        }
        let handle = self.runtime_handle();
        Ok(self
            .shared
            .timers
            .add(interval, repeat, cb, handle.as_ref()))
    }

    pub fn cancel_timer(&self, id: u64) -> Result<()> {
        if self.shared.timers.cancel(id) {
            Ok(())
        } else {
            Err(Error::not_found(format!("no timer with id {id}")))
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.timers.cancel_all();
    }
}

/// A client that resets its connection while a response is written makes writev(2) raise
/// SIGPIPE, whose default action kills the host (a C program; Rust programs and PHP's CLI ignore
/// it). Ignored, the write fails with EPIPE and only that connection ends. A handler the host
/// installed itself is left in place.
fn ignore_sigpipe() {
    // SAFETY: reading the disposition and setting SIG_IGN; no handler code runs.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_DFL
        {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
    }
}

async fn on_accept(
    shared: &Arc<Shared>,
    accepted: std::io::Result<(tokio::net::TcpStream, SocketAddr)>,
) {
    match accepted {
        Ok((stream, peer)) => http::spawn_connection(shared, stream, peer),
        Err(e) => {
            // EMFILE/ENFILE/ECONNABORTED: keep serving; back off briefly so that a descriptor
            // shortage does not spin the loop.
            shared.log.debug(|| format!("accept failed: {e}"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Accepts on an adopted listener until shutdown begins.
async fn accept_adopted(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    let mut stopping = shared.stopping.subscribe();
    while !*stopping.borrow() {
        tokio::select! {
            accepted = listener.accept() => on_accept(&shared, accepted).await,
            _ = stopping.changed() => {}
        }
    }
}

/// The accept loop and the shutdown sequence: the server's main task.
async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    wake: tokio::net::UnixStream,
    handle_signals: bool,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = if handle_signals {
        signal(SignalKind::interrupt()).ok()
    } else {
        None
    };
    let mut sigterm = if handle_signals {
        signal(SignalKind::terminate()).ok()
    } else {
        None
    };
    async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let mut drain = [0u8; 64];
    while !shared.is_stopping() {
        tokio::select! {
            accepted = listener.accept() => on_accept(&shared, accepted).await,
            _ = wake.readable() => {
                let _ = wake.try_read(&mut drain);
            }
            _ = recv(&mut sigint) => { shared.log.debug(|| "SIGINT: shutting down".into()); break; }
            _ = recv(&mut sigterm) => { shared.log.debug(|| "SIGTERM: shutting down".into()); break; }
        }
    }
    shared.shutdown_requested.store(true, Ordering::Release);
    drop(listener);
    shared.timers.cancel_all();
    let grace = shared.limits.read().shutdown_grace;
    shared.log.debug(|| {
        format!(
            "shutting down: {} connection(s) open",
            shared.active.load(Ordering::Acquire)
        )
    });
    let _ = shared.stopping.send(true);
    let deadline = tokio::time::Instant::now() + grace;
    while shared.active.load(Ordering::Acquire) > 0 {
        tokio::select! {
            _ = shared.drained.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {
                shared.log.debug(|| "shutdown grace time over; dropping the rest".into());
                break;
            }
        }
    }
    shared.log.debug(|| "stopped".into());
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn address_forms() {
        assert_eq!(
            parse_address("127.0.0.1", 8080).unwrap(),
            ("127.0.0.1".into(), 8080)
        );
        assert_eq!(
            parse_address("tcp://127.0.0.1:9000", 0).unwrap(),
            ("127.0.0.1".into(), 9000)
        );
        assert_eq!(
            parse_address("tcp://127.0.0.1:9000", 81).unwrap(),
            ("127.0.0.1".into(), 81)
        );
        assert_eq!(
            parse_address("tcp://[::1]:9000", 0).unwrap(),
            ("::1".into(), 9000)
        );
        assert_eq!(parse_address("::1", 5).unwrap(), ("::1".into(), 5));
        assert_eq!(
            parse_address("localhost", 0).unwrap(),
            ("localhost".into(), 0)
        );
        assert!(parse_address("tcp://h:notaport", 0).is_err());
        assert!(parse_address("", 1).is_err());
    }
}
