//! WebSocket load generator for the benchmarks (bench/bench.py). One thread (current_thread
//! runtime), so that it can be pinned to one CPU with the server it measures. 127.0.0.1 only.
//!
//!   ws_load echo PORT CONNS WARMUP_S SECS SIZE
//!       CONNS connections each send a SIZE-byte text message and wait for its echo, in a loop.
//!       Prints `start` when the measured window opens (after WARMUP_S) and `stop` when it
//!       closes (SECS later), then one JSON line: {"msgs","secs","rate","p50_us","p99_us"}.
//!   ws_load broadcast PORT[,PORT...] CONNS REPS
//!       Opens CONNS idle connections (spread round-robin over the ports when several are given:
//!       the nodes of a multi-node run; the first connection is on the first port), prints `ready CONNS`, waits for a line on stdin (the
//!       script reads the server's RSS meanwhile), then REPS times: the first connection sends
//!       a 32-byte text message starting with `broadcast`; the server sends it to every client;
//!       the time from the send until the last of the CONNS clients has it is one sample (the
//!       clients are read by one epoll loop, raw bytes: every client gets one 34-byte frame).
//!       Prints one JSON line: {"conns","ms":[...]}. REPS 0: only hold the connections.
//!
//! Every mode ends by itself (a broadcast not fully received within 10 s is an error) and
//! exits without closing handshakes.

use futures_util::{SinkExt, StreamExt};
use std::io::BufRead;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

fn die(msg: String) -> ! {
    eprintln!("ws_load: {msg}");
    std::process::exit(1)
}

async fn connect(port: u16) -> Ws {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| die(format!("connect: {e}")));
    stream.set_nodelay(true).ok();
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let url = format!("ws://127.0.0.1:{port}/ws");
    tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .unwrap_or_else(|e| die(format!("handshake: {e}")))
        .0
}

/// Opens `n` connections, round-robin over `ports`, at most 256 handshakes at a time (the
/// listen backlog is 1024).
async fn connect_all(ports: &[u16], n: usize) -> Vec<Ws> {
    let sem = Arc::new(Semaphore::new(256));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let sem = sem.clone();
            let port = ports[i % ports.len()];
            tokio::spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                connect(port).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn echo(port: u16, conns: usize, warmup: f64, secs: f64, size: usize) {
    // 0 warm-up, 1 measured window, 2 stop
    let phase = Arc::new(AtomicU8::new(0));
    let payload = "x".repeat(size);
    let mut tasks = Vec::new();
    for ws in connect_all(&[port], conns).await {
        let phase = phase.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = ws;
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
            loop {
                let p = phase.load(Ordering::Relaxed);
                if p == 2 {
                    break;
                }
                let t0 = Instant::now();
                if ws.send(Message::text(payload.clone())).await.is_err() {
                    die("send failed".into());
                }
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) if t.len() == payload.len() => break,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        other => die(format!("unexpected reply: {other:?}")),
                    }
                }
                if p == 1 && phase.load(Ordering::Relaxed) == 1 {
                    lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
    println!("start");
    let t0 = Instant::now();
    phase.store(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    phase.store(2, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    println!("stop");
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    println!(
        "{{\"msgs\":{},\"secs\":{:.4},\"rate\":{:.1},\"p50_us\":{},\"p99_us\":{}}}",
        all.len(),
        elapsed,
        all.len() as f64 / elapsed,
        percentile(&all, 0.50),
        percentile(&all, 0.99)
    );
}

/// Reads every socket until `want` bytes in total have arrived since the call began, with one
/// epoll loop on this thread (cheaper per client than a task per connection, so that the clients
/// do not limit the measurement). Returns false on timeout.
fn wait_bytes(epfd: i32, want: usize, deadline: Instant) -> bool {
    let mut got = 0usize;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = vec![0u8; 65536];
    while got < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let n = unsafe {
            libc::epoll_wait(
                epfd,
                events.as_mut_ptr(),
                events.len() as i32,
                left.as_millis().max(1) as i32,
            )
        };
        for ev in &events[..n.max(0) as usize] {
            let fd = ev.u64 as i32;
            loop {
                let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if r <= 0 {
                    break;
                }
                got += r as usize;
            }
        }
    }
    true
}

async fn broadcast(ports: &[u16], conns: usize, reps: usize) {
    use std::os::fd::AsRawFd;
    let mut all = connect_all(ports, conns).await;
    // Every client is read by the epoll loop of wait_bytes (level-triggered, non-blocking fds:
    // tokio set O_NONBLOCK); tokio never polls these streams, it only keeps them open.
    let epfd = unsafe { libc::epoll_create1(0) };
    for ws in &all {
        let fd = ws.get_ref().as_raw_fd();
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd as u64,
        };
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            die("epoll_ctl failed".into());
        }
    }
    println!("ready {conns}");
    // The script reads the server's RSS now, then writes a line (or closes stdin).
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok();
    let mut ms = Vec::new();
    for i in 0..reps {
        let msg = format!("broadcast {i:<22}"); // 32 bytes: a 34-byte frame to every client
        let t0 = Instant::now();
        if all[0].send(Message::text(msg)).await.is_err() {
            die("trigger send failed".into());
        }
        if !wait_bytes(epfd, conns * 34, t0 + Duration::from_secs(10)) {
            die(format!(
                "broadcast {i}: not every one of {conns} clients got it within 10 s"
            ));
        }
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list: Vec<String> = ms.iter().map(|m| format!("{m:.3}")).collect();
    println!("{{\"conns\":{conns},\"ms\":[{}]}}", list.join(","));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> f64 {
        args.get(i).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            die(format!(
                "argument {i} missing or not a number (see the source's header)"
            ))
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("echo") => rt.block_on(echo(
            num(1) as u16,
            num(2) as usize,
            num(3),
            num(4),
            num(5) as usize,
        )),
        Some("broadcast") => {
            let ports: Vec<u16> = args
                .get(1)
                .map(|s| s.split(',').filter_map(|p| p.parse().ok()).collect())
                .unwrap_or_default();
            if ports.is_empty() {
                die("broadcast: PORT[,PORT...] missing".into());
            }
            rt.block_on(broadcast(&ports, num(2) as usize, num(3) as usize))
        }
        _ => die(
            "usage: ws_load echo PORT CONNS WARMUP_S SECS SIZE | broadcast PORT[,PORT...] CONNS REPS".into(),
        ),
    }
    use std::io::Write;
    std::io::stdout().flush().ok();
    std::process::exit(0);
}
