//! Baseline for benchmarks: a plain hyper 1.x hello-world server, built from the same crate
//! versions as the engine (it is an example of this crate, so Cargo.lock is shared).
//!
//! Every request gets `Hello, World!`, except the two routes of the other benchmark workloads
//! (the same as c-examples/hello.c and php/examples/hello.php):
//!   GET  /user/{id}?q=..  (header X-Req-Id)  -> {"id":..,"q":..,"req":..} (decoded, JSON-escaped)
//!   POST /echo                               -> the request body, with its Content-Type
//!
//! Usage: hyper_hello [port] [threads]   (threads 1 = current_thread runtime, the default)
//! Prints `listening on http://127.0.0.1:PORT` once bound.

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

/// Percent-decoding (`+` as a space in query fields), as the C and PHP hosts do.
fn decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let hex = |c: u8| (c as char).to_digit(16);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                out.push((hex(b[i + 1]).unwrap() * 16 + hex(b[i + 2]).unwrap()) as u8);
                i += 2;
            }
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// GET /user/{id}: the id, the query field q and the X-Req-Id header, as JSON.
fn user(id: &str, req: &hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let q = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|f| {
            let (k, v) = f.split_once('=').unwrap_or((f, ""));
            (decode(k, true) == "q").then(|| decode(v, true))
        })
        .unwrap_or_default();
    let rid = req
        .headers()
        .get("x-req-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut body = String::with_capacity(64);
    body.push_str("{\"id\":");
    json_str(&mut body, &decode(id, false));
    body.push_str(",\"q\":");
    json_str(&mut body, &q);
    body.push_str(",\"req\":");
    json_str(&mut body, rid);
    body.push('}');
    let mut res = hyper::Response::new(Full::new(Bytes::from(body)));
    res.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    res
}

async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        stream.set_nodelay(true).ok();
        tokio::spawn(async move {
            let svc = service_fn(|req: hyper::Request<Incoming>| async move {
                if let Some(id) = req.uri().path().strip_prefix("/user/") {
                    return Ok::<_, Infallible>(user(id, &req));
                }
                if req.method() == hyper::Method::POST && req.uri().path() == "/echo" {
                    let ctype = req.headers().get("content-type").cloned();
                    let body = req.into_body().collect().await.map(|b| b.to_bytes());
                    let mut res = hyper::Response::new(Full::new(body.unwrap_or_default()));
                    if let Some(t) = ctype {
                        res.headers_mut().insert("content-type", t);
                    }
                    return Ok(res);
                }
                let mut res = hyper::Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
                res.headers_mut()
                    .insert("content-type", "text/plain".parse().unwrap());
                Ok(res)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8081);
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let rt = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let port = listener.local_addr().unwrap().port();
        println!("listening on http://127.0.0.1:{port}");
        use std::io::Write;
        std::io::stdout().flush().ok();
        serve(listener).await
    });
}
