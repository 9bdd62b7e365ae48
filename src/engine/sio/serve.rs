//! The HTTP side of Engine.IO: every request under the Socket.IO path. A handshake (a GET
//! without sid, or a WebSocket without sid) makes a session in this process after the
//! WebSocket admission (origins, authorizer); a polling request or a WebSocket with a sid goes
//! to its session: here, or — a polling request the kernel gave another worker — forwarded to
//! the worker whose number the sid carries, which answers through the cluster.

use crate::engine::fanout::wire::Frame;
use crate::engine::fanout::Peer;
use crate::engine::http::request::{detach_head, Conn, Matched, Request};
use crate::engine::http::response::Response;
use crate::engine::http::service::{finish, read_limited};
use crate::engine::http::{HttpContext, HttpResponse, Mount};
use crate::engine::sio::codec;
use crate::engine::sio::context::SioContext;
use crate::engine::sio::eio::{Answer, Cmd, Eio};
use crate::engine::sio::namespace::SioConfig;
use crate::engine::sio::session::{open_packet, run, Opened};
use crate::engine::ws::admission::admit;
use crate::engine::ws::handshake::{handshake, is_h2_connect, is_upgrade, Tunnel};
use crate::engine::ws::outbox::{Outbox, Outgoing, DATA, KILL};
use crate::engine::ws::rooms::proc_of;
use crate::engine::ws::session::open_socket;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::Method;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

/// A Socket.IO WebSocket's write buffer: the answers to the frames of one read leave in one
/// write (an echo with acks costs a syscall per read, not per packet). Grows only as far as
/// one turn's frames need.
const WRITE_BUFFER: usize = 64 * 1024;

/// Socket.IO mounted on the HTTP layer.
pub struct SioMount(pub Arc<SioContext>);

impl Mount for SioMount {
    fn wants(&self, head: &Parts) -> bool {
        let Some(cfg) = self.0.config() else {
            return false;
        };
        let path = head.uri.path();
        path.starts_with(&*cfg.path) || path == cfg.path.trim_end_matches('/')
    }

    fn serve(
        &self,
        http: &Arc<HttpContext>,
        conn: &Conn,
        req: hyper::Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = HttpResponse> + Send>> {
        Box::pin(serve(self.0.clone(), http.clone(), conn.clone(), req))
    }
}

/// The query parameters Engine.IO uses.
#[derive(Default)]
struct Query<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
}

fn query(q: &str) -> Query<'_> {
    let mut out = Query::default();
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "EIO" => out.eio = Some(v),
            "transport" => out.transport = Some(v),
            "sid" => out.sid = Some(v),
            _ => {}
        }
    }
    out
}

/// An answer as HTTP: packets as text, "ok" as Engine.IO's servers send it, errors as JSON.
fn respond(http: &HttpContext, req: &Request, a: Answer) -> HttpResponse {
    let mut res = Response::new();
    res.status = a.status;
    let ctype = if a.status != 200 {
        "application/json"
    } else if &a.body[..] == b"ok" {
        "text/html"
    } else {
        "text/plain; charset=UTF-8"
    };
    res.headers
        .push((CONTENT_TYPE, HeaderValue::from_static(ctype)));
    res.headers
        .push((CACHE_CONTROL, HeaderValue::from_static("no-store")));
    res.body = a.body;
    res.touched = true;
    finish(http, req, res)
}

async fn serve(
    ctx: Arc<SioContext>,
    http: Arc<HttpContext>,
    conn: Conn,
    req: hyper::Request<Incoming>,
) -> HttpResponse {
    let Some(cfg) = ctx.config() else {
        let (parts, _) = req.into_parts();
        let r = Request::bare(parts, &conn);
        return respond(&http, &r, Answer::error(3));
    };
    let q = req.uri().query().unwrap_or("").to_string();
    let q = query(&q);
    let is_ws = is_upgrade(req.headers()) || is_h2_connect(&req);
    let bare = |req: hyper::Request<Incoming>| Request::bare(req.into_parts().0, &conn);
    if q.eio != Some("4") {
        return respond(&http, &bare(req), Answer::error(5));
    }
    match q.transport {
        Some("polling") if !is_ws => {}
        Some("websocket") if is_ws => {}
        Some("polling" | "websocket") => return respond(&http, &bare(req), Answer::error(3)),
        _ => return respond(&http, &bare(req), Answer::error(0)),
    }
    let Some(sid) = q.sid.map(str::to_string) else {
        if !is_ws && req.method() != Method::GET {
            return respond(&http, &bare(req), Answer::error(2));
        }
        return open_session(ctx, &http, &conn, cfg, req, is_ws);
    };
    let session = ctx.sessions.lock().get(sid.as_str()).cloned();
    let Some(eio) = session else {
        if let Some(owner) = codec::session_number(&sid).map(proc_of) {
            if owner != ctx.fanout.me() && ctx.fanout.reaches(owner) {
                if is_ws {
                    return relay(ctx, &http, &conn, cfg, req, sid, owner);
                }
                return forward(ctx, &http, &conn, cfg, req, sid, owner).await;
            }
        }
        return respond(&http, &bare(req), Answer::error(1));
    };
    if is_ws {
        let mut req = req;
        let hs = match handshake(&ctx.ws, &mut req) {
            Ok(h) => h,
            Err(_) => return respond(&http, &bare(req), Answer::error(3)),
        };
        let base = ctx.base.clone();
        let max = cfg.max_payload;
        let tunnel = (req.version() == hyper::Version::HTTP_2).then(|| Tunnel::new(&conn));
        tokio::spawn(async move {
            let _tunnel = tunnel;
            match hs.on_upgrade.await {
                Ok(up) => {
                    let ws = open_socket(up, hs.deflate, max, WRITE_BUFFER).await;
                    // A session that ended meanwhile drops the socket (closing it).
                    eio.push(Cmd::Ws(Box::new(ws)));
                }
                Err(e) => base.log.debug(|| format!("sio: upgrade failed: {e}")),
            }
        });
        return hs.response;
    }
    let (parts, body) = req.into_parts();
    let answer = match parts.method {
        Method::GET => ask(&eio, Cmd::Get).await,
        Method::POST => match read_limited(&parts.headers, body, cfg.max_payload).await {
            Ok(body) => ask(&eio, |tx| Cmd::Post(body, tx)).await,
            Err(_) => {
                eio.push(Cmd::Kill("transport error"));
                Answer::too_large()
            }
        },
        _ => Answer::error(3),
    };
    respond(&http, &Request::bare(parts, &conn), answer)
}

/// Leaves a command with a session and waits for its answer (a session that ends first: the
/// sid is unknown by then).
async fn ask(eio: &Eio, cmd: impl FnOnce(oneshot::Sender<Answer>) -> Cmd) -> Answer {
    let (tx, rx) = oneshot::channel();
    if !eio.push(cmd(tx)) {
        return Answer::error(1);
    }
    rx.await.unwrap_or_else(|_| Answer::error(1))
}

/// A handshake: admission, a new session in this process, its open packet (polling) or its
/// WebSocket (websocket-only).
fn open_session(
    ctx: Arc<SioContext>,
    http: &Arc<HttpContext>,
    conn: &Conn,
    cfg: Arc<SioConfig>,
    mut req: hyper::Request<Incoming>,
    is_ws: bool,
) -> HttpResponse {
    if ctx.base.life.is_stopping() {
        let (parts, _) = req.into_parts();
        return respond(http, &Request::bare(parts, conn), Answer::error(3));
    }
    let hs = if is_ws {
        match handshake(&ctx.ws, &mut req) {
            Ok(h) => Some(h),
            Err(_) => {
                let (parts, _) = req.into_parts();
                return respond(http, &Request::bare(parts, conn), Answer::error(3));
            }
        }
    } else {
        None
    };
    let (mut parts, _) = req.into_parts();
    // Kept for the session's life (namespace connects read it): without its references into
    // the connection's read buffer.
    detach_head(&mut parts);
    let number = ctx.base.next_conn_id();
    let own = Conn {
        id: number,
        ..conn.clone()
    };
    let route = ctx.route.load(Ordering::Relaxed);
    let request = Request::new(
        parts,
        Bytes::new(),
        &own,
        route,
        Matched::default(),
        Arc::from(Vec::new()),
    );
    let admission = match admit(&ctx.ws, http, &request) {
        Ok(a) => a,
        Err(res) => return finish(http, &request, res),
    };
    let sid = codec::session_sid(number);
    let head = ctx.ws.keep_heads.load(Ordering::Relaxed).then(|| {
        let mut head = Vec::new();
        request.write_packed_head(&mut head);
        head.pop();
        head.into_boxed_slice()
    });
    let eio = Arc::new(Eio::new(sid.clone()));
    ctx.sessions.lock().insert(sid.clone(), eio.clone());
    ctx.base.log.debug(|| {
        format!(
            "sio {sid}: new session ({})",
            if is_ws { "websocket" } else { "polling" }
        )
    });
    match hs {
        None => {
            let res = respond(
                http,
                &request,
                Answer {
                    status: 200,
                    body: open_packet(&sid, &cfg, true),
                },
            );
            let opened = Opened {
                request,
                admission,
                head,
                ws: None,
                tunnel: None,
            };
            tokio::spawn(run(ctx, eio, cfg, Box::new(opened)));
            res
        }
        Some(hs) => {
            let tunnel =
                (request.head.version == hyper::Version::HTTP_2).then(|| Tunnel::new(conn));
            let max = cfg.max_payload;
            let base = ctx.base.clone();
            tokio::spawn(async move {
                match hs.on_upgrade.await {
                    Ok(up) => {
                        let ws = open_socket(up, hs.deflate, max, WRITE_BUFFER).await;
                        let opened = Opened {
                            request,
                            admission,
                            head,
                            ws: Some(ws),
                            tunnel,
                        };
                        // A task of its own: this one's state (the upgrade's) is freed now.
                        tokio::spawn(run(ctx, eio, cfg, Box::new(opened)));
                    }
                    Err(e) => {
                        ctx.sessions.lock().remove(&eio.sid);
                        base.log.debug(|| format!("sio: upgrade failed: {e}"))
                    }
                }
            });
            hs.response
        }
    }
}

/// A polling request for a session of another worker: sent there, answered from there.
async fn forward(
    ctx: Arc<SioContext>,
    http: &Arc<HttpContext>,
    conn: &Conn,
    cfg: Arc<SioConfig>,
    req: hyper::Request<Incoming>,
    sid: String,
    owner: u32,
) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let post = match parts.method {
        Method::GET => false,
        Method::POST => true,
        _ => return respond(http, &Request::bare(parts, conn), Answer::error(3)),
    };
    let body = if post {
        match read_limited(&parts.headers, body, cfg.max_payload).await {
            Ok(b) => b,
            Err(_) => return respond(http, &Request::bare(parts, conn), Answer::too_large()),
        }
    } else {
        Bytes::new()
    };
    let number = ctx.forward_number();
    let (tx, rx) = oneshot::channel();
    ctx.forwarded.lock().insert(number, tx);
    let frame = Frame::SioPoll {
        req: number,
        sid,
        post,
        body,
    };
    let answer = match ctx.fanout.to_proc_frame(owner, frame) {
        // A GET waits at most a ping interval for its session's ping; past that (and the
        // timeout), the owner is gone.
        Ok(()) => {
            let wait = cfg.ping_interval + cfg.ping_timeout;
            match tokio::time::timeout(wait, rx).await {
                Ok(Ok(a)) => a,
                _ => Answer::error(1),
            }
        }
        Err(_) => Answer::error(1),
    };
    ctx.forwarded.lock().remove(&number);
    respond(http, &Request::bare(parts, conn), answer)
}

/// A WebSocket upgrade for a session of another worker: answered here, and relayed — what the
/// client sends goes to the session's worker, what that worker sends comes back to be written.
fn relay(
    ctx: Arc<SioContext>,
    http: &Arc<HttpContext>,
    conn: &Conn,
    cfg: Arc<SioConfig>,
    mut req: hyper::Request<Incoming>,
    sid: String,
    owner: u32,
) -> HttpResponse {
    let hs = match handshake(&ctx.ws, &mut req) {
        Ok(h) => h,
        Err(_) => {
            let (parts, _) = req.into_parts();
            return respond(http, &Request::bare(parts, conn), Answer::error(3));
        }
    };
    let tunnel = (req.version() == hyper::Version::HTTP_2).then(|| Tunnel::new(conn));
    let guard = crate::engine::context::ActiveGuard::new(&ctx.base);
    tokio::spawn(async move {
        let _guard = guard;
        let _tunnel = tunnel;
        let Ok(up) = hs.on_upgrade.await else {
            return;
        };
        let (mut socket, mut deflater) =
            open_socket(up, hs.deflate, cfg.max_payload, WRITE_BUFFER).await;
        let number = ctx.forward_number();
        let outbox = Arc::new(Outbox::new(ctx.base.limits().ws_send_queue));
        ctx.relays.lock().insert(number, outbox.clone());
        let open = Frame::SioRelayOpen {
            relay: number,
            sid: sid.clone(),
        };
        if ctx.fanout.to_proc_frame(owner, open).is_ok() {
            loop {
                tokio::select! {
                    biased;
                    _ = std::future::poll_fn(|cx| outbox.signal.poll(cx, DATA | KILL)) => {
                        let mut done = outbox.signal.peek() & KILL != 0;
                        for out in outbox.take(64) {
                            match out {
                                Outgoing::Message(m) => {
                                    let m = match deflater.as_mut() {
                                        Some(d) => d.encode(m),
                                        None => m,
                                    };
                                    done |= socket.feed(m).await.is_err();
                                }
                                _ => done = true,
                            }
                        }
                        done |= socket.flush().await.is_err();
                        if done {
                            break;
                        }
                    }
                    m = socket.next() => match m {
                        Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                            let f = Frame::SioRelayIn { relay: number, sid: sid.clone(), msg };
                            if ctx.fanout.to_proc_frame(owner, f).is_err() {
                                break;
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
        }
        outbox.close();
        ctx.relays.lock().remove(&number);
        let _ = socket.close(None).await;
        let _ = ctx
            .fanout
            .to_proc_frame(owner, Frame::SioRelayClose { relay: number, sid });
    });
    hs.response
}

/// Socket.IO's frames from other processes.
impl Peer for SioContext {
    fn frame(&self, origin: u32, frame: Frame) {
        match frame {
            Frame::SioAnswer { token, id, reply } => {
                self.route_answer(self.fanout.me(), token, id, reply)
            }
            Frame::SioPollAnswer { req, status, body } => {
                if let Some(tx) = self.forwarded.lock().remove(&req) {
                    let _ = tx.send(Answer { status, body });
                }
            }
            Frame::SioPoll {
                req,
                sid,
                post,
                body,
            } => {
                let eio = self.sessions.lock().get(sid.as_str()).cloned();
                let fanout = self.fanout.clone();
                let reply = move |a: Answer| {
                    let _ = fanout.to_proc_frame(
                        origin,
                        Frame::SioPollAnswer {
                            req,
                            status: a.status,
                            body: a.body,
                        },
                    );
                };
                let Some(eio) = eio else {
                    reply(Answer::error(1));
                    return;
                };
                let Ok(rt) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                rt.spawn(async move {
                    let a = if post {
                        ask(&eio, |tx| Cmd::Post(body, tx)).await
                    } else {
                        ask(&eio, Cmd::Get).await
                    };
                    reply(a);
                });
            }
            Frame::SioRelayOpen { relay, sid } => match self.sessions.lock().get(sid.as_str()) {
                Some(eio) => {
                    eio.push(Cmd::Remote {
                        proc: origin,
                        relay,
                    });
                }
                None => self.relay_out(origin, relay, Vec::new(), true),
            },
            Frame::SioRelayIn { relay, sid, msg } => {
                if let Some(eio) = self.sessions.lock().get(sid.as_str()) {
                    eio.push(Cmd::RemoteIn { relay, msg });
                }
            }
            Frame::SioRelayClose { relay, sid } => {
                if let Some(eio) = self.sessions.lock().get(sid.as_str()) {
                    eio.push(Cmd::RemoteGone { relay });
                }
            }
            Frame::SioRelayOut { relay, msgs, close } => {
                let Some(outbox) = self.relays.lock().get(&relay).cloned() else {
                    return;
                };
                for m in msgs {
                    let _ = outbox.push(Outgoing::Message(m));
                }
                if close {
                    let _ = outbox.push(Outgoing::Close(1000, String::new()));
                }
            }
            _ => {}
        }
    }
}
