//! Server lifecycle, and nothing else: configure, bind (`start`), serve in slices (`poll`) on the
//! calling thread, shut down gracefully from anywhere, including a signal handler. The layers
//! (`transport`, `http`, `ws`, `fanout`) are built here and wired together; every call that
//! configures or drives one of them goes through this type.
//!
//! Threads: nothing here creates a thread before the first `poll`. The tokio runtime is built
//! there, on the caller's thread: a current-thread runtime by default, so that every callback runs
//! on that thread, one at a time, and only while `poll` runs. `set_threads(n > 1)` builds a
//! multi-thread runtime instead; callbacks then run concurrently on its workers.

use crate::engine::config::Limits;
use crate::engine::context::Base;
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::fanout::{node_of, proc_number, redis, Cluster, Fanout};
use crate::engine::http::router::{Methods, Pattern};
use crate::engine::http::serve::spawn_connection;
use crate::engine::http::{ErrorHandler, HttpContext, HttpHandler, ResponseFilter};
use crate::engine::log::LogSink;
use crate::engine::sio::{SioConfig, SioContext, SioHandler, SioMount};
use crate::engine::timers::{TimerFn, Timers};
use crate::engine::transport::{self, OnAccept};
use crate::engine::ws::{Authorizer, ClientInfo, Record, RoomEvents, User, WsContext, WsHandler};
use hyper::header::{HeaderName, HeaderValue};
use parking_lot::Mutex;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// What `poll` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollState {
    /// The slice ended; the server is still serving.
    Running,
    /// The server has shut down (all connections ended or the grace time ran out).
    Stopped,
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
    /// The address said `tls://` or `ssl://`: starting without a certificate is an error.
    require_tls: bool,
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

/// The socket pair that wakes the loop's main task when `shutdown()` is called from outside it.
struct Wake {
    /// Write end's descriptor, -1 until the loop exists. The socket itself lives in `write` as
    /// long as the server, so the number is never reused while stored here.
    fd: AtomicI32,
    write: OnceLock<OwnedFd>,
}

impl Wake {
    fn new() -> Wake {
        Wake {
            fd: AtomicI32::new(-1),
            write: OnceLock::new(),
        }
    }

    /// Makes the pair; returns the read end for the main task.
    fn install(&self) -> Result<std::os::unix::net::UnixStream> {
        let (read, write) = std::os::unix::net::UnixStream::pair().map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot create the wake-up pipe: {e}"),
            )
        })?;
        read.set_nonblocking(true).ok();
        write.set_nonblocking(true).ok();
        let write: OwnedFd = write.into();
        let fd = write.as_raw_fd();
        if self.write.set(write).is_err() {
            return Err(Error::state("the event loop was already built once"));
        }
        self.fd.store(fd, Ordering::Release);
        Ok(read)
    }

    /// Async-signal-safe: one send(2) on a socket we own.
    fn poke(&self) {
        let fd = self.fd.load(Ordering::Acquire);
        if fd >= 0 {
            // SAFETY: send(2) on a socket owned by `write` (so the number cannot have been
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
}

pub struct Server {
    base: Arc<Base>,
    http: Arc<HttpContext>,
    ws: Arc<WsContext>,
    fanout: Arc<Fanout>,
    sio: Arc<SioContext>,
    timers: Arc<Timers>,
    wake: Wake,
    next_route_id: AtomicU32,
    core: Mutex<Core>,
    /// True while a thread is inside `poll`. `free` must not drop the loop then (a PHP fatal
    /// error can longjmp out of a callback and leave `poll` abandoned mid-flight).
    polling: AtomicBool,
    /// The worker slot, once a cluster was joined.
    cluster_slot: OnceLock<u16>,
    redis_joined: AtomicBool,
}

impl Server {
    /// A server for `address` (the forms of `transport::parse_address`) and `port` (0: the port
    /// of a `tcp://` address, else an ephemeral one). Binds nothing and creates no thread.
    pub fn new(address: &str, port: u16) -> Result<Server> {
        let (host, port) = transport::parse_address(address, Some(port))?;
        let base = Arc::new(Base::default());
        // Ids start at the clock, as a cluster's do: a server restarted does not hand out its
        // predecessor's ids again (a client reconnecting gets a new one).
        base.start_ids_at(crate::engine::fanout::first_id_now(0));
        let http = Arc::new(HttpContext::new(base.clone()));
        let ws = Arc::new(WsContext::new(base.clone()));
        // The WebSocket layer takes over upgrade requests (while `set_websocket(true)`).
        let _ = http.upgrade.set(ws.clone());
        let fanout = Fanout::new(base.clone(), ws.hub.clone(), ws.rooms.clone());
        // Socket.IO answers under its path once enabled (`sio_enable`); its frames from other
        // processes come through the fanout.
        let sio = Arc::new(SioContext::new(base.clone(), ws.clone(), fanout.clone()));
        let _ = http.mount.set(Arc::new(SioMount(sio.clone())));
        let peer: std::sync::Weak<dyn crate::engine::fanout::Peer> =
            Arc::downgrade(&(sio.clone() as Arc<dyn crate::engine::fanout::Peer>));
        fanout.set_peer(peer);
        Ok(Server {
            base,
            http,
            ws,
            fanout,
            sio,
            cluster_slot: OnceLock::new(),
            redis_joined: AtomicBool::new(false),
            timers: Arc::new(Timers::default()),
            wake: Wake::new(),
            next_route_id: AtomicU32::new(0),
            core: Mutex::new(Core {
                phase: Phase::Created,
                host,
                port,
                require_tls: transport::wants_tls(address),
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

    /// The HTTP layer, for harnesses that serve a connection themselves (the fuzz targets).
    pub fn http(&self) -> &Arc<HttpContext> {
        &self.http
    }

    fn next_route_id(&self) -> u32 {
        self.next_route_id.fetch_add(1, Ordering::Relaxed)
    }

    // ---- routes and hooks ----------------------------------------------------------------

    pub fn route(
        &self,
        methods: &str,
        pattern: &str,
        handler: Arc<dyn HttpHandler>,
    ) -> Result<u32> {
        let methods = Methods::parse(methods)?;
        let pattern = Pattern::compile(pattern)?;
        let id = self.next_route_id();
        self.http.routes.write().add(id, methods, pattern, handler);
        Ok(id)
    }

    pub fn accept(&self, pattern: &str, handler: Arc<dyn WsHandler>) -> Result<u32> {
        let pattern = Pattern::compile(pattern)?;
        let id = self.next_route_id();
        self.ws
            .routes
            .write()
            .add(id, Methods::Any, pattern, handler);
        Ok(id)
    }

    pub fn set_websocket(&self, on: bool) {
        self.ws.enabled.store(on, Ordering::Relaxed);
    }

    /// Keep each WebSocket client's request head for `ws_client_head` (clients that connect
    /// afterwards).
    pub fn set_ws_keep_heads(&self, on: bool) {
        self.ws.keep_heads.store(on, Ordering::Relaxed);
    }

    /// permessage-deflate settings for clients that connect afterwards (`DeflateConfig::set`).
    pub fn set_ws_deflate(&self, on: bool, min: usize, takeover: bool, bits: i64) -> Result<()> {
        self.ws.deflate.set(on, min, takeover, bits)
    }

    /// Origins a WebSocket upgrade may come from (`ws::admission`; empty: no check).
    pub fn set_ws_origins(&self, origins: &[&str]) -> Result<()> {
        self.ws.set_origins(origins)
    }

    /// Most clients of an accept route (0: no limit).
    pub fn set_ws_route_limit(&self, route_id: u32, max_clients: usize) -> Result<()> {
        self.ws.set_route_limit(route_id, max_clients)
    }

    /// The host's upgrade authorizer (`None` removes it).
    pub fn set_ws_authorizer(&self, authorizer: Option<Arc<dyn Authorizer>>) {
        self.ws.set_authorizer(authorizer)
    }

    pub fn set_on_error(&self, h: Option<Arc<dyn ErrorHandler>>) {
        *self.http.hooks.on_error.write() = h;
    }

    pub fn set_on_response(&self, f: Option<Arc<dyn ResponseFilter>>) {
        *self.http.hooks.on_response.write() = f;
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
        self.http.hooks.set_default(name, value);
        Ok(())
    }

    pub fn clear_headers(&self) {
        self.http.hooks.clear_defaults();
    }

    // ---- limits, admission, logging ------------------------------------------------------

    pub fn update_limits(&self, f: impl FnOnce(&mut Limits)) {
        self.base.update_limits(f);
    }

    pub fn limits(&self) -> Limits {
        self.base.limits()
    }

    pub fn set_rate_limit(&self, max: u32, window: Duration) {
        self.http
            .access
            .rate
            .configure(max, window.as_millis() as u64);
    }

    pub fn set_connection_required(&self, on: bool) {
        self.http
            .access
            .connection_required
            .store(on, Ordering::Relaxed);
    }

    pub fn client_on(&self, ip: IpAddr) {
        self.http.access.connected.on(ip);
    }

    pub fn client_off(&self, ip: IpAddr) -> bool {
        self.http.access.connected.off(ip)
    }

    /// The server's own IP (Luminova's default for `on()`/`off()` without an address).
    pub fn own_ip(&self) -> Result<IpAddr> {
        let core = self.core.lock();
        if let Some(a) = core.local {
            return Ok(a.ip());
        }
        transport::resolve(&core.host, core.port).map(|a| a.ip())
    }

    pub fn set_debug(&self, on: bool) {
        self.base.log.set_debug(on);
    }

    pub fn set_log_sink(&self, sink: Option<LogSink>) {
        self.base.log.set_sink(sink);
    }

    // ---- sockets and threads (before the first poll) -------------------------------------

    /// Fails with `message` unless the loop has never run.
    fn before_first_poll(core: &Core, message: &str) -> Result<()> {
        // While `poll` runs it holds the loop (event_loop is None): check the phase too.
        if core.event_loop.is_some() || matches!(core.phase, Phase::Running | Phase::Stopped) {
            return Err(Error::state(message));
        }
        Ok(())
    }

    pub fn set_threads(&self, n: usize) -> Result<()> {
        if n == 0 || n > 1024 {
            return Err(Error::invalid(format!(
                "thread count {n} is outside 1-1024"
            )));
        }
        let mut core = self.core.lock();
        Self::before_first_poll(&core, "threads must be set before the first run/poll")?;
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
    pub fn listener_fd(&self) -> Result<RawFd> {
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
    pub fn adopt_listener(&self, fd: RawFd) -> Result<()> {
        let mut core = self.core.lock();
        Self::before_first_poll(
            &core,
            "a listener must be adopted before the first run/poll",
        )?;
        let listener = transport::adopt(fd)?;
        core.adopted.push(listener);
        Ok(())
    }

    pub fn set_handle_signals(&self, on: bool) -> Result<()> {
        let mut core = self.core.lock();
        Self::before_first_poll(
            &core,
            "signal handling must be set before the first run/poll",
        )?;
        core.handle_signals = on;
        Ok(())
    }

    /// Joins worker `slot` of `slots` of the local cluster `group` (before the first run/poll).
    pub fn join_cluster(&self, group: &str, slot: u16, slots: u16) -> Result<()> {
        let core = self.core.lock();
        Self::before_first_poll(&core, "a cluster must be joined before the first run/poll")?;
        if self.cluster_slot.get().is_some() {
            return Err(Error::state("this server already joined a cluster"));
        }
        let c = Cluster::new(group, slot, slots)?;
        let _ = self.cluster_slot.set(slot);
        let node = node_of(self.fanout.me());
        self.fanout
            .add_backplane(Arc::new(c), proc_number(node, Some(slot)));
        Ok(())
    }

    /// Says that this worker replaces one of its slot that died (before the first run/poll).
    pub fn set_cluster_restarted(&self, restarted: bool) -> Result<()> {
        let core = self.core.lock();
        Self::before_first_poll(&core, "set a worker as restarted before the first run/poll")?;
        self.fanout.set_restarted(restarted);
        Ok(())
    }

    /// Joins the nodes' backplane: Redis at `url` (checked, its host resolved and a node number
    /// claimed now; the link starts with the loop). Before the first run/poll.
    pub fn join_redis(&self, url: &str, prefix: &str, node: &str, ttl: Duration) -> Result<()> {
        let core = self.core.lock();
        Self::before_first_poll(&core, "Redis must be joined before the first run/poll")?;
        if self.redis_joined.swap(true, Ordering::AcqRel) {
            return Err(Error::state("this server already uses Redis"));
        }
        let cfg = match redis::configure(url, prefix, node, ttl) {
            Ok(c) => c,
            Err(e) => {
                self.redis_joined.store(false, Ordering::Release);
                return Err(e);
            }
        };
        let plane = redis::RedisPlane::new(cfg);
        self.ws.rooms.set_node(plane.node());
        let me = proc_number(plane.number(), self.cluster_slot.get().copied());
        self.fanout.add_backplane(Arc::new(plane), me);
        Ok(())
    }

    // ---- TLS and HTTP/2 ------------------------------------------------------------------

    /// Adds or replaces the certificate for `server_name` (None: the default). The first one
    /// turns TLS on, which must happen before the first poll; later ones (and replacements)
    /// apply to the handshakes that begin afterwards.
    pub fn tls_cert(
        &self,
        server_name: Option<&str>,
        cert: transport::tls::Source,
        key: Option<transport::tls::Source>,
    ) -> Result<()> {
        if !self.http.tls.enabled() {
            let core = self.core.lock();
            Self::before_first_poll(&core, "TLS must be turned on before the first run/poll")?;
        }
        self.http.tls.set_cert(server_name, cert, key)
    }

    /// Verifies client certificates against these CA certificates (mutual TLS).
    pub fn tls_client_ca(&self, pem: transport::tls::Source, required: bool) -> Result<()> {
        self.http.tls.set_client_ca(pem, required)
    }

    pub fn tls_alpn(&self, protocols: &str) -> Result<()> {
        self.http.tls.set_alpn(protocols)
    }

    /// Re-reads the certificate, key and CA files; the old ones stay in use if that fails.
    pub fn tls_reload(&self) -> Result<()> {
        self.http.tls.reload()
    }

    pub fn tls_enabled(&self) -> bool {
        self.http.tls.enabled()
    }

    /// HTTP/2 over TLS (ALPN), and h2c by prior knowledge on plain connections. Before the
    /// first poll.
    pub fn set_http2(&self, enabled: bool, h2c: bool) -> Result<()> {
        let core = self.core.lock();
        Self::before_first_poll(&core, "HTTP/2 must be set before the first run/poll")?;
        self.http.tls.set_http2(enabled)?;
        self.http.http2.store(enabled, Ordering::Relaxed);
        self.http.h2c.store(h2c, Ordering::Relaxed);
        Ok(())
    }

    // ---- lifecycle -----------------------------------------------------------------------

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
        if core.require_tls && !self.http.tls.enabled() {
            return Err(Error::state(
                "the address asks for TLS (tls:// or ssl://) but no certificate is configured \
                 (hs_tls_cert_file or hs_tls_cert_pem)",
            ));
        }
        let addr = transport::resolve(&core.host, core.port)?;
        let listener = transport::bind(addr, core.reuse_port)?;
        let local = listener.local_addr().unwrap_or(addr);
        core.local = Some(local);
        core.listener = Some(listener);
        core.phase = Phase::Listening;
        self.base.log.debug(|| format!("listening on {local}"));
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
            self.timers.cancel_all();
            drop(core);
            // Dropping the runtime ends the tasks that outlived the grace time.
            drop(lp);
        } else {
            core.event_loop = Some(lp);
        }
        Ok(state)
    }

    /// Builds the runtime on this thread and spawns the server's tasks on it: an accept loop per
    /// listener, the watchdog, the backplane's links, the timers, and the main task.
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
        let wake_read = self.wake.install()?;
        let listener = core
            .listener
            .take()
            .ok_or_else(|| Error::state("server is not listening"))?;
        let main = {
            let _guard = runtime.enter();
            let register = |l: std::net::TcpListener| {
                tokio::net::TcpListener::from_std(l).map_err(|e| {
                    Error::new(ErrorKind::Io, format!("cannot register a listener: {e}"))
                })
            };
            let wake = tokio::net::UnixStream::from_std(wake_read)
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot register wake-up: {e}")))?;
            let http = self.http.clone();
            let on_accept: OnAccept =
                Arc::new(move |stream, peer| spawn_connection(&http, stream, peer));
            let mut acceptors = Vec::new();
            for l in std::iter::once(listener).chain(core.adopted.drain(..)) {
                acceptors.push(runtime.spawn(transport::accept_loop(
                    self.base.clone(),
                    register(l)?,
                    on_accept.clone(),
                )));
            }
            self.timers.start_all(runtime.handle());
            self.fanout.start()?;
            runtime.spawn(transport::watchdog(
                self.base.clone(),
                self.http.conns.clone(),
            ));
            runtime.spawn(main_task(
                self.base.clone(),
                self.ws.clone(),
                self.sio.clone(),
                self.fanout.clone(),
                self.timers.clone(),
                wake,
                core.handle_signals,
                acceptors,
            ))
        };
        core.rt_handle = Some(runtime.handle().clone());
        core.phase = Phase::Running;
        Ok(Loop { runtime, main })
    }

    /// Begins a graceful shutdown. Lock-free and async-signal-safe (an atomic store and one
    /// send(2)), so it may be called from any thread, any callback, or a signal handler.
    pub fn shutdown(&self) {
        self.base.life.request_stop();
        self.wake.poke();
    }

    /// Whether the loop may be dropped now (no thread is inside `poll`).
    pub fn is_polling(&self) -> bool {
        self.polling.load(Ordering::Acquire)
    }

    // ---- WebSocket delivery and clients --------------------------------------------------

    /// Queues a message for a client, of this process or (forwarded) of another.
    pub fn ws_send(&self, conn_id: u64, msg: Message) -> Result<()> {
        self.fanout.send(conn_id, msg)
    }

    /// Broadcasts to every client here and elsewhere; returns how many of this process got it.
    pub fn ws_broadcast(&self, msg: Message, except: Option<u64>, route: Option<u32>) -> usize {
        self.fanout.broadcast(msg, except, route)
    }

    pub fn ws_close(&self, conn_id: u64, code: u16, reason: &str) -> Result<()> {
        self.fanout.close(conn_id, code, reason)
    }

    /// How many clients there are, in every process (of `route` when given).
    pub fn ws_count(&self, route: Option<u32>) -> usize {
        self.ws.rooms.count(route)
    }

    /// The clients of every process (of `route` when given), by id.
    pub fn ws_clients(&self, route: Option<u32>) -> Vec<u64> {
        self.ws.rooms.list(route)
    }

    pub fn ws_client(&self, conn_id: u64) -> Option<ClientInfo> {
        self.ws.hub.info(conn_id)
    }

    /// Runs `f` with the packed head of a client's upgrade request (a client of this process,
    /// or the one whose close callback this thread runs); `State` when heads are not kept.
    pub fn ws_client_head<R>(&self, conn_id: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        match self.ws.hub.head(conn_id, |h| h.to_vec()) {
            Ok(h) => Ok(f(&h)),
            Err(e) if e.kind == ErrorKind::NotFound => match self.ws.rooms.record(conn_id) {
                // Another process's client: its summary (the head without headers).
                Some(r) => Ok(f(&r.summary)),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    // ---- channels and presence -----------------------------------------------------------

    pub fn ws_join(&self, conn_id: u64, channel: &str) -> Result<()> {
        self.fanout.join(conn_id, channel)
    }

    pub fn ws_leave(&self, conn_id: u64, channel: &str) -> Result<()> {
        self.fanout.leave(conn_id, channel)
    }

    // ---- Socket.IO ------------------------------------------------------------------------

    /// Serves Socket.IO with `config`.
    pub fn sio_enable(&self, config: SioConfig) -> Result<()> {
        let path_route = self.next_route_id();
        let default_route = self.next_route_id();
        self.sio.enable(config, path_route, default_route)
    }

    /// Registers a namespace; returns its route id.
    pub fn sio_namespace(&self, name: &str, handler: Arc<dyn SioHandler>) -> Result<u32> {
        if self.sio.config().is_none() {
            return Err(Error::state(
                "Socket.IO is not enabled (hs_sio_enable first)",
            ));
        }
        self.sio.register(name, handler, || self.next_route_id())
    }

    pub fn sio(&self) -> &Arc<SioContext> {
        &self.sio
    }

    /// Publishes to a channel everywhere; returns how many members it was sent to.
    pub fn ws_publish(&self, channel: &str, msg: Message, except: Option<u64>) -> Result<usize> {
        self.fanout.publish(channel, msg, except)
    }

    pub fn ws_members(&self, channel: &str) -> Vec<u64> {
        self.ws.rooms.members(channel)
    }

    pub fn ws_presence(&self, channel: &str) -> Vec<(Arc<str>, Arc<User>)> {
        self.ws.rooms.presence(channel).into_iter().collect()
    }

    pub fn ws_record(&self, conn_id: u64) -> Option<Record> {
        self.ws.rooms.record(conn_id)
    }

    pub fn set_room_events(&self, events: Option<Arc<dyn RoomEvents>>) {
        self.ws.rooms.set_events(events);
    }

    // ---- timers --------------------------------------------------------------------------

    pub fn add_timer(&self, interval: Duration, repeat: bool, cb: TimerFn) -> Result<u64> {
        if interval.is_zero() {
            return Err(Error::invalid("timer interval must be at least 1 ms"));
        }
        let handle = self.runtime_handle();
        Ok(self.timers.add(interval, repeat, cb, handle.as_ref()))
    }

    pub fn cancel_timer(&self, id: u64) -> Result<()> {
        if self.timers.cancel(id) {
            Ok(())
        } else {
            Err(Error::not_found(format!("no timer with id {id}")))
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.timers.cancel_all();
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

/// The server's main task: waits for a shutdown request (the wake-up socket, or SIGINT/SIGTERM
/// when the server handles signals), then carries out the shutdown: every task watching the
/// lifecycle stops (the accept loops drop their listeners, and the port refuses new connections
/// before anything else happens; the watchdog starts every connection's graceful shutdown),
/// WebSocket clients close with 1001, timers end; then it waits for the live connections to end,
/// at most the grace time.
#[allow(clippy::too_many_arguments)]
async fn main_task(
    base: Arc<Base>,
    ws: Arc<WsContext>,
    sio: Arc<SioContext>,
    fanout: Arc<Fanout>,
    timers: Arc<Timers>,
    wake: tokio::net::UnixStream,
    handle_signals: bool,
    acceptors: Vec<tokio::task::JoinHandle<()>>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind| handle_signals.then(|| signal(kind).ok()).flatten();
    let mut sigint = listen(SignalKind::interrupt());
    let mut sigterm = listen(SignalKind::terminate());
    async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let mut drain = [0u8; 64];
    while !base.life.stop_requested() {
        tokio::select! {
            _ = wake.readable() => {
                let _ = wake.try_read(&mut drain);
            }
            _ = recv(&mut sigint) => { base.log.debug(|| "SIGINT: shutting down".into()); break; }
            _ = recv(&mut sigterm) => { base.log.debug(|| "SIGTERM: shutting down".into()); break; }
        }
    }
    // The other processes forget this one's clients at once (queued before the links stop).
    fanout.stop();
    base.life.begin_stopping();
    for acceptor in acceptors {
        // Each ends at once on `stopping`, dropping its listener: the port refuses new
        // connections before the rest of the shutdown.
        let _ = acceptor.await;
    }
    base.log
        .debug(|| format!("shutting down: {} connection(s) open", base.life.active()));
    ws.hub.stop_all();
    sio.stop_all();
    timers.cancel_all();
    let grace = base.limit(|l| l.shutdown_grace);
    tokio::select! {
        _ = base.life.drained() => {}
        _ = tokio::time::sleep(grace) => {
            base.log.debug(|| "shutdown grace time over; dropping the rest".into());
        }
    }
    base.log.debug(|| "stopped".into());
}
