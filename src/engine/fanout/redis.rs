//! The nodes' backplane: Redis pub/sub. Every process of every node (each worker) keeps one
//! RESP3 connection (the `redis` crate's connection manager: it reconnects and resubscribes by
//! itself), subscribes to `<prefix>:bus` and publishes its frames there (`wire` format). Frames
//! from the process's own node are ignored (the worker cluster carries those); a frame meant for
//! one client is acted on only by the process that owns it.
//!
//! Node numbers (8 bits of every connection id) are claimed in Redis: `<prefix>:node:<n>` holds
//! the node's name with an expiry (the TTL, 10 s by default), refreshed every third of it by
//! each of the node's processes, which also publish a heartbeat. A node whose key is gone and
//! from which nothing was heard for a TTL is dead: its clients leave every channel and presence
//! list here (events fire once per node). While the link is down nothing is decided; when it
//! comes back this process says hello again (the others answer with their state) and sends its
//! own: what changed meanwhile converges. Pub/sub is at-most-once: frames published while the
//! link is down are lost.
//!
//! No thread: the host name is resolved and Redis is checked with the crate's blocking client
//! when the server is configured (before the first run), and the link runs on the server's loop
//! with the address already resolved.

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::fanout::wire::{self, Frame};
use crate::engine::fanout::{node_of, Backplane, Fanout, MAX_NODES};
use crate::engine::log::Log;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, PushKind, Value};
use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub const DEFAULT_PREFIX: &str = "httpsock";
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);
/// Frames waiting to be published; beyond it frames are dropped (at-most-once, as pub/sub).
const OUT_QUEUE: usize = 65536;
/// Most PUBLISH commands sent in one pipeline.
const BATCH: usize = 256;

/// What the server was configured with.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    pub info: ConnectionInfo,
    /// host:port as the user wrote it, for messages.
    pub shown: String,
    pub prefix: String,
    pub node: String,
    pub ttl: Duration,
    /// The node number claimed.
    pub number: u32,
}

fn link_error(shown: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, format!("Redis at {shown}: {e}"))
}

/// Checks the URL, resolves its host, checks that Redis answers and claims a node number.
/// Blocking (at most a few seconds): called while configuring, before the loop runs.
pub fn configure(url: &str, prefix: &str, node: &str, ttl: Duration) -> Result<RedisConfig> {
    if prefix.is_empty() || prefix.len() > 100 || prefix.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            "Redis prefix must be 1-100 characters, no control characters",
        ));
    }
    if node.is_empty() || node.len() > 200 || node.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            "node name must be 1-200 characters, no control characters",
        ));
    }
    if ttl < Duration::from_millis(500) || ttl > Duration::from_secs(3600) {
        return Err(Error::invalid("Redis TTL must be between 0.5 s and 1 hour"));
    }
    if url
        .get(..9)
        .is_some_and(|s| s.eq_ignore_ascii_case("rediss://"))
    {
        return Err(Error::invalid(format!(
            "Redis over TLS ({url}) is not supported; use redis:// on a private network or a \
             local TLS tunnel"
        )));
    }
    let info = url
        .into_connection_info()
        .map_err(|e| Error::invalid(format!("Redis URL {url:?}: {e}")))?;
    let (info, shown) = match info.addr().clone() {
        ConnectionAddr::Tcp(host, port) => {
            let shown = format!("{host}:{port}");
            // Resolved here, once: tokio would resolve a name on a blocking-pool thread.
            let ip = (host.trim_matches(|c| c == '[' || c == ']'), port)
                .to_socket_addrs()
                .map_err(|e| link_error(&shown, format!("cannot resolve {host}: {e}")))?
                .next()
                .ok_or_else(|| link_error(&shown, format!("{host} has no address")))?
                .ip();
            (
                info.set_addr(ConnectionAddr::Tcp(ip.to_string(), port)),
                shown,
            )
        }
        ConnectionAddr::Unix(path) => {
            let shown = path.display().to_string();
            (info, shown)
        }
        ConnectionAddr::TcpTls { host, port, .. } => {
            return Err(Error::invalid(format!(
                "Redis over TLS (rediss://{host}:{port}) is not supported; use redis:// on a \
                 private network or a local TLS tunnel"
            )))
        }
        other => {
            return Err(Error::invalid(format!(
                "Redis address {other:?} is not supported (redis:// or redis+unix://)"
            )))
        }
    };
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let info = info.set_redis_settings(settings);
    let client = redis::Client::open(info.clone()).map_err(|e| link_error(&shown, e))?;
    let mut con = client
        .get_connection_with_timeout(Duration::from_secs(3))
        .map_err(|e| link_error(&shown, format!("not reachable: {e}")))?;
    let number = claim_number(&mut con, prefix, node, ttl).map_err(|e| link_error(&shown, e))?;
    Ok(RedisConfig {
        info,
        shown,
        prefix: prefix.to_string(),
        node: node.to_string(),
        ttl,
        number,
    })
}

fn node_key(prefix: &str, number: u32) -> String {
    format!("{prefix}:node:{number}")
}

/// The node's number: the one its name already holds (a sibling worker claimed it), or the
/// first free one.
fn claim_number(
    con: &mut redis::Connection,
    prefix: &str,
    node: &str,
    ttl: Duration,
) -> std::result::Result<u32, String> {
    let px = ttl.as_millis() as u64;
    for n in 1..=MAX_NODES as u32 {
        let key = node_key(prefix, n);
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(node)
            .arg("NX")
            .arg("PX")
            .arg(px)
            .query(con)
            .map_err(|e| e.to_string())?;
        if set.is_some() {
            return Ok(n);
        }
        let owner: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query(con)
            .map_err(|e| e.to_string())?;
        if owner.as_deref() == Some(node) {
            return Ok(n);
        }
    }
    Err(format!(
        "all {MAX_NODES} node numbers under prefix {prefix:?} are taken"
    ))
}

pub struct RedisPlane {
    cfg: RedisConfig,
    out: mpsc::Sender<Bytes>,
    rx: parking_lot::Mutex<Option<mpsc::Receiver<Bytes>>>,
    up: Arc<AtomicBool>,
}

impl RedisPlane {
    pub fn new(cfg: RedisConfig) -> RedisPlane {
        let (out, rx) = mpsc::channel(OUT_QUEUE);
        RedisPlane {
            cfg,
            out,
            rx: parking_lot::Mutex::new(Some(rx)),
            up: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn number(&self) -> u32 {
        self.cfg.number
    }

    pub fn node(&self) -> &str {
        &self.cfg.node
    }

    fn publish(&self, frame: Bytes) {
        let _ = self.out.try_send(frame);
    }
}

impl Backplane for RedisPlane {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn start(&self, fanout: &Arc<Fanout>) -> Result<()> {
        let Some(rx) = self.rx.lock().take() else {
            return Ok(());
        };
        tokio::spawn(run(self.cfg.clone(), fanout.clone(), rx, self.up.clone()));
        Ok(())
    }

    fn reaches(&self, me: u32, proc: u32) -> bool {
        let node = node_of(proc);
        node != 0 && node != node_of(me)
    }

    fn to_proc(&self, _proc: u32, frame: Bytes) {
        self.publish(frame);
    }

    fn to_all(&self, frame: Bytes) {
        self.publish(frame);
    }

    fn stop(&self, frame: Bytes) {
        self.publish(frame);
    }
}

fn bus(prefix: &str) -> String {
    format!("{prefix}:bus")
}

/// The link's life: connect, subscribe, say hello; then publish what is queued, read what
/// arrives, keep the node's key alive and watch the other nodes'.
async fn run(
    cfg: RedisConfig,
    fanout: Arc<Fanout>,
    mut out: mpsc::Receiver<Bytes>,
    up: Arc<AtomicBool>,
) {
    let base = fanout.base.clone();
    let log = &base.log;
    let (push_tx, mut push_rx) = mpsc::unbounded_channel::<redis::PushInfo>();
    let config = ConnectionManagerConfig::new()
        .set_push_sender(push_tx)
        .set_automatic_resubscription()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_max_delay(Duration::from_secs(1))
        .set_number_of_retries(2);
    let client = match redis::Client::open(cfg.info.clone()) {
        Ok(c) => c,
        Err(e) => {
            log.warn(&format!("redis: {}: {e}", cfg.shown));
            return;
        }
    };
    let mut stopping = fanout.base.life.stopping();
    // The first connection: retried until it works (Redis was reachable a moment ago).
    let mut con = loop {
        match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
            Ok(c) => break c,
            Err(e) => {
                log.warn(&format!(
                    "redis: link to {} failed: {e}; retrying",
                    cfg.shown
                ));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopping.changed() => return,
                }
            }
        }
    };
    let bus = bus(&cfg.prefix);
    let me = fanout.me();
    let my_node = cfg.number;
    let key = node_key(&cfg.prefix, my_node);
    let ttl = cfg.ttl;
    let beat_every = ttl / 3;
    // The other nodes: when we last heard from each.
    let mut heard: HashMap<u32, Instant> = HashMap::new();
    let mut link = Link {
        up,
        since: None,
        ever: false,
        said_down: false,
    };
    let mut next_beat = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch: Vec<Bytes> = Vec::with_capacity(BATCH);

    // Subscribing is a command: until it works, the link is down.
    let mut subscribed = false;
    loop {
        if !subscribed {
            match con.subscribe(&bus).await {
                Ok(()) => {
                    subscribed = true;
                    link.went_up(log, &cfg, &mut heard);
                    let _ = say_hello(&mut con, &bus, &fanout, &mut out).await;
                }
                Err(e) => link.went_down(log, &cfg, &e.to_string()),
            }
        }
        tokio::select! {
            biased;
            _ = stopping.changed() => {
                // Say goodbye with what is queued (the Bye is among it), briefly.
                batch.clear();
                while let Ok(f) = out.try_recv() {
                    batch.push(f);
                }
                let _ = tokio::time::timeout(Duration::from_millis(300), publish(&mut con, &bus, &batch)).await;
                let _ = tokio::time::timeout(
                    Duration::from_millis(300),
                    redis::cmd("DEL").arg(&key).exec_async(&mut con),
                ).await;
                link.up.store(false, Ordering::Relaxed);
                return;
            }
            push = push_rx.recv() => {
                let Some(push) = push else { return };
                match push.kind {
                    PushKind::Message => {
                        if let Some(Value::BulkString(data)) = push.data.into_iter().nth(1) {
                            receive(&fanout, me, my_node, data, &mut heard);
                        }
                    }
                    PushKind::Disconnection => {
                        link.went_down(log, &cfg, "connection lost");
                    }
                    PushKind::Subscribe if !link.is_up() => {
                        // Resubscribed by the manager after a reconnect: converge again.
                        link.went_up(log, &cfg, &mut heard);
                        let _ = refresh_key(&mut con, &key, &cfg).await;
                        let _ = say_hello(&mut con, &bus, &fanout, &mut out).await;
                    }
                    _ => {}
                }
            }
            first = out.recv() => {
                let Some(first) = first else { return };
                batch.clear();
                batch.push(first);
                while batch.len() < BATCH {
                    match out.try_recv() {
                        Ok(f) => batch.push(f),
                        Err(_) => break,
                    }
                }
                if let Err(e) = publish(&mut con, &bus, &batch).await {
                    // At-most-once: what could not be published is dropped.
                    link.went_down(log, &cfg, &e.to_string());
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                if now >= next_beat {
                    next_beat = now + beat_every;
                    let beat = wire::encode(me, &Frame::Heartbeat);
                    let ok = refresh_key(&mut con, &key, &cfg).await.is_ok()
                        && publish(&mut con, &bus, &[beat]).await.is_ok();
                    if ok && !link.is_up() {
                        link.went_up(log, &cfg, &mut heard);
                        let _ = say_hello(&mut con, &bus, &fanout, &mut out).await;
                    } else if !ok {
                        link.went_down(log, &cfg, "heartbeat failed");
                    }
                }
                // Decide on silent nodes only on a link that has been up for a while.
                if link.since.is_some_and(|t| now.duration_since(t) >= ttl / 2) {
                    let silent: Vec<u32> = heard
                        .iter()
                        .filter(|(_, t)| now.duration_since(**t) > ttl)
                        .map(|(n, _)| *n)
                        .collect();
                    for node in silent {
                        let alive: std::result::Result<bool, _> = redis::cmd("EXISTS")
                            .arg(node_key(&cfg.prefix, node))
                            .query_async(&mut con)
                            .await;
                        match alive {
                            Ok(true) => {
                                heard.insert(node, now);
                            }
                            Ok(false) => {
                                heard.remove(&node);
                                log.warn(&format!(
                                    "redis: node {node} stopped answering (its key expired); its clients leave"
                                ));
                                fanout.rooms.forget(|p| node_of(p) == node);
                            }
                            Err(_) => break,
                        }
                    }
                }
            }
        }
    }
}

/// Says hello and sends this process's state. What waits in the queue from before is
/// published after them, except what the state just made supersedes (an older state, the news
/// of this process's clients: opened, gone, joined, left): applied after it, stale news would
/// make the others see a client leave and join again, or lose it.
async fn say_hello(
    con: &mut ConnectionManager,
    bus: &str,
    fanout: &Fanout,
    out: &mut mpsc::Receiver<Bytes>,
) -> redis::RedisResult<()> {
    let mut waiting = Vec::new();
    while let Ok(f) = out.try_recv() {
        if !wire::superseded_by_state(&f) {
            waiting.push(f);
        }
    }
    let mut frames: Vec<Bytes> = fanout.hello_frames().into();
    frames.extend(waiting);
    publish(con, bus, &frames).await
}

fn receive(
    fanout: &Fanout,
    me: u32,
    my_node: u32,
    data: Vec<u8>,
    heard: &mut HashMap<u32, Instant>,
) {
    match wire::decode(Bytes::from(data)) {
        Ok((origin, frame)) => {
            let node = node_of(origin);
            // Our own node's frames came through the cluster already.
            if node == my_node || origin == me {
                return;
            }
            heard.insert(node, Instant::now());
            fanout.receive("redis", origin, frame);
        }
        Err(e) => fanout
            .base
            .log
            .debug(|| format!("redis: frame dropped: {e:?}")),
    }
}

async fn publish(
    con: &mut ConnectionManager,
    bus: &str,
    frames: &[Bytes],
) -> redis::RedisResult<()> {
    if frames.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for f in frames {
        pipe.cmd("PUBLISH").arg(bus).arg(&f[..]).ignore();
    }
    pipe.exec_async(con).await
}

/// Keeps the node's key (its number and its heartbeat); a key taken by another node after a
/// Redis restart is logged: ids of the two nodes could then collide.
async fn refresh_key(
    con: &mut ConnectionManager,
    key: &str,
    cfg: &RedisConfig,
) -> redis::RedisResult<()> {
    let px = cfg.ttl.as_millis() as u64;
    let set: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(&cfg.node)
        .arg("NX")
        .arg("PX")
        .arg(px)
        .query_async(con)
        .await?;
    if set.is_none() {
        let owner: Option<String> = redis::cmd("GET").arg(key).query_async(con).await?;
        if owner.as_deref() == Some(cfg.node.as_str()) {
            redis::cmd("PEXPIRE")
                .arg(key)
                .arg(px)
                .exec_async(con)
                .await?;
        } else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "node number taken by another node",
            )));
        }
    }
    Ok(())
}

/// Whether the link is up, since when, and whether it ever was (for "is back").
struct Link {
    up: Arc<AtomicBool>,
    since: Option<Instant>,
    ever: bool,
    said_down: bool,
}

impl Link {
    fn went_up(&mut self, log: &Log, cfg: &RedisConfig, heard: &mut HashMap<u32, Instant>) {
        if self.up.swap(true, Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        if self.ever && self.said_down {
            log.warn(&format!("redis: link to {} is back", cfg.shown));
        }
        self.ever = true;
        self.said_down = false;
        self.since = Some(now);
        // Everyone gets a whole TTL to be heard again after an outage.
        for t in heard.values_mut() {
            *t = now;
        }
    }

    fn went_down(&mut self, log: &Log, cfg: &RedisConfig, why: &str) {
        self.up.store(false, Ordering::Relaxed);
        self.since = None;
        if !self.said_down {
            self.said_down = true;
            log.warn(&format!(
                "redis: link to {} is down ({why}); messages to other nodes are dropped until it is back",
                cfg.shown
            ));
        }
    }

    fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}
