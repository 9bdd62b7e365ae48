//! Baseline for benchmarks: a plain hyper 1.x hello-world server, built from the same crate
//! versions as the engine (it is an example of this crate, so Cargo.lock is shared).
//!
//! Usage: hyper_hello [port] [threads]   (threads 1 = current_thread runtime, the default)
//! Prints `listening on http://127.0.0.1:PORT` once bound.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        stream.set_nodelay(true).ok();
        tokio::spawn(async move {
            let svc = service_fn(|_req| async {
                let mut res = hyper::Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
                res.headers_mut()
                    .insert("content-type", "text/plain".parse().unwrap());
                Ok::<_, Infallible>(res)
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
