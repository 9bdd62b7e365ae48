//! Baseline for benchmarks: a plain tokio-tungstenite WebSocket echo server, built from the same
//! crate versions as the engine (an example of this crate: Cargo.lock is shared).
//!
//! Every text/binary message comes back unchanged to its sender, except a text message starting
//! with `broadcast`, which goes to every connected client (the sender included): the broadcast
//! benchmark's trigger. Any path is accepted. The WebSocket configuration is the engine's own
//! (2 KiB read buffer, no write buffering), so the comparison measures the engine, not a setting.
//!
//! Usage: tungstenite_echo [port] [threads]   (threads 1 = current_thread runtime, the default)
//! Prints `listening on http://127.0.0.1:PORT` once bound.

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

type Hub = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Message>>>>;

async fn client(stream: tokio::net::TcpStream, id: u64, hub: Hub) {
    let config = WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    hub.lock().insert(id, tx);
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) if t.as_str().starts_with("broadcast") => {
                    let m = Message::Text(t);
                    for tx in hub.lock().values() {
                        let _ = tx.send(m.clone());
                    }
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if ws.send(m).await.is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {} // ping/pong/close: tungstenite answers them itself
                _ => break,
            },
            Some(m) = rx.recv() => {
                if ws.send(m).await.is_err() {
                    break;
                }
            }
        }
    }
    hub.lock().remove(&id);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8082);
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
        let hub: Hub = Arc::default();
        let mut next_id = 0u64;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            stream.set_nodelay(true).ok();
            next_id += 1;
            tokio::spawn(client(stream, next_id, hub.clone()));
        }
    });
}
