//! Lifecycle through the C ABI: timers, the thread rule, opt-in threads, graceful shutdown,
//! `hs_poll` slices, freeing, configuration after run, port helpers, debug log, version.
mod common;
use common::*;
use httpsock::ffi::api::*;
use httpsock::ffi::hs_server;
use httpsock::ffi::hs_status;
use std::ffi::{c_char, c_int, c_void};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// The server pointer of a `Ptr`; a closure calling this captures the whole (Send) `Ptr`.
fn whole(p: Ptr) -> *mut hs_server {
    p.0
}

const WAIT: Duration = Duration::from_secs(10);
const INVALID: c_int = hs_status::HS_ERR_INVALID as c_int;
const STATE: c_int = hs_status::HS_ERR_STATE as c_int;
const NOT_FOUND: c_int = hs_status::HS_ERR_NOT_FOUND as c_int;

/// A server whose `hs_run` runs on a thread we know (its id is recorded), and whose return is
/// awaited with a time bound.
struct Running {
    ptr: Ptr,
    port: u16,
    loop_thread: ThreadId,
    rc: Receiver<c_int>,
    done: bool,
}

impl Running {
    fn start(configure: impl FnOnce(*mut hs_server)) -> Running {
        let addr = c("127.0.0.1");
        let ptr = hs_new(addr.as_ptr(), 0);
        assert!(!ptr.is_null(), "hs_new: {}", last_error());
        configure(ptr);
        assert_eq!(hs_start(ptr), 0, "hs_start: {}", last_error());
        let port = hs_port(ptr);
        assert!(port > 0);
        let p = Ptr(ptr);
        let (tid_tx, tid_rx) = channel();
        let (rc_tx, rc_rx) = channel();
        std::thread::spawn(move || {
            let p = p;
            tid_tx.send(std::thread::current().id()).unwrap();
            let _ = rc_tx.send(hs_run(p.0));
        });
        Running {
            ptr: p,
            port: port as u16,
            loop_thread: tid_rx.recv().unwrap(),
            rc: rc_rx,
            done: false,
        }
    }

    fn raw(&self) -> *mut hs_server {
        self.ptr.0
    }

    /// Waits (bounded) for `hs_run` to return, then frees the server.
    fn join(mut self, within: Duration) -> c_int {
        let rc = self
            .rc
            .recv_timeout(within)
            .expect("hs_run did not return in time");
        hs_free(self.ptr.0);
        self.done = true;
        rc
    }

    fn stop(self) -> c_int {
        assert_eq!(hs_shutdown(self.ptr.0), 0);
        self.join(WAIT)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        hs_shutdown(self.ptr.0);
        if !std::thread::panicking() && self.rc.recv_timeout(WAIT).is_ok() {
            hs_free(self.ptr.0);
        }
    }
}

/// Registers a closure as a timer callback (kept for the rest of the process: `keep`).
fn add_timer<F: Fn() + Send + Sync + 'static>(
    server: *mut hs_server,
    ms: u64,
    repeat: bool,
    f: F,
) -> i64 {
    unsafe extern "C-unwind" fn tramp<F: Fn()>(ud: *mut c_void) {
        (*(ud as *const F))()
    }
    let ud = keep(f);
    hs_add_timer(server, ms, repeat as c_int, Some(tramp::<F>), ud)
}

/// Fires once after `ms` and reports on a channel: a "later than everything before" marker,
/// since callbacks run one at a time on the loop thread.
fn marker(server: *mut hs_server, ms: u64) -> Receiver<()> {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let id = add_timer(server, ms, false, move || {
        let _ = tx.lock().unwrap().send(());
    });
    assert!(id > 0, "hs_add_timer: {}", last_error());
    rx
}

// ---------------------------------------------------------------------------------------------
// Timers.

#[test]
fn repeating_timer_fires_several_times_and_cancels_itself() {
    let srv = Running::start(|_| {});
    let count = Arc::new(AtomicUsize::new(0));
    let self_cancel = Arc::new(Mutex::new(None::<c_int>));
    let timer_id = Arc::new(Mutex::new(0i64));
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let p = srv.ptr;
    let (c2, sc2, id2) = (count.clone(), self_cancel.clone(), timer_id.clone());
    // The id is stored before the first tick (10 ms away) can read it: the lock is held.
    let mut guard = timer_id.lock().unwrap();
    let id = add_timer(srv.raw(), 10, true, move || {
        let n = c2.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 5 {
            let id = *id2.lock().unwrap();
            *sc2.lock().unwrap() = Some(hs_cancel_timer(whole(p), id));
        }
        let _ = tx.lock().unwrap().send(n);
    });
    assert!(id > 0, "{}", last_error());
    *guard = id;
    drop(guard);
    for expected in 1..=5 {
        assert_eq!(rx.recv_timeout(WAIT).expect("a tick"), expected);
    }
    // Ten intervals later, nothing more has fired.
    marker(srv.raw(), 100).recv_timeout(WAIT).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 5);
    assert_eq!(
        *self_cancel.lock().unwrap(),
        Some(0),
        "cancel from its own callback"
    );
    assert_eq!(hs_cancel_timer(srv.raw(), id) as c_int, NOT_FOUND);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn cancel_from_another_thread_stops_a_repeating_timer() {
    let srv = Running::start(|_| {});
    // The callback counts under a lock the test takes around the cancel, so the count read
    // there is exact: at most one more tick (one that had already begun) may follow.
    let state = Arc::new(Mutex::new(0usize));
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let s2 = state.clone();
    let id = add_timer(srv.raw(), 15, true, move || {
        let mut n = s2.lock().unwrap();
        *n += 1;
        let _ = tx.lock().unwrap().send(*n);
    });
    assert!(id > 0);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 1);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 2);
    let at_cancel = {
        let n = state.lock().unwrap();
        assert_eq!(hs_cancel_timer(srv.raw(), id), 0);
        *n
    };
    assert_eq!(hs_cancel_timer(srv.raw(), id), NOT_FOUND, "second cancel");
    marker(srv.raw(), 200).recv_timeout(WAIT).unwrap();
    let after = *state.lock().unwrap();
    assert!(
        after <= at_cancel + 1,
        "timer kept firing after cancel: {at_cancel} -> {after}"
    );
    assert_eq!(srv.stop(), 0);
}

#[test]
fn once_timer_fires_exactly_once() {
    let srv = Running::start(|_| {});
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let t0 = Instant::now();
    let id = add_timer(srv.raw(), 30, false, move || {
        c2.fetch_add(1, Ordering::SeqCst);
        let _ = tx.lock().unwrap().send(());
    });
    assert!(id > 0);
    rx.recv_timeout(WAIT).unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(25),
        "{:?}",
        t0.elapsed()
    );
    marker(srv.raw(), 150).recv_timeout(WAIT).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(hs_cancel_timer(srv.raw(), id), NOT_FOUND, "it has ended");
    assert_eq!(srv.stop(), 0);
}

#[test]
fn timer_arguments_are_checked() {
    let srv = Running::start(|_| {});
    unsafe extern "C-unwind" fn nop(_: *mut c_void) {}
    assert_eq!(
        hs_add_timer(srv.raw(), 0, 0, Some(nop), std::ptr::null_mut()),
        INVALID as i64
    );
    assert_eq!(
        hs_add_timer(srv.raw(), 10, 0, None, std::ptr::null_mut()),
        INVALID as i64
    );
    assert_eq!(hs_cancel_timer(srv.raw(), 0), NOT_FOUND);
    assert_eq!(hs_cancel_timer(srv.raw(), -5), INVALID);
    assert_eq!(hs_cancel_timer(srv.raw(), 123_456), NOT_FOUND);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn timer_added_before_run_starts_with_the_loop() {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let srv = Running::start(|s| {
        let id = add_timer(s, 20, false, move || {
            let _ = tx.lock().unwrap().send(std::thread::current().id());
        });
        assert!(id > 0);
    });
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), srv.loop_thread);
    assert_eq!(srv.stop(), 0);
}

#[test]
fn timer_added_from_a_handler_fires_on_the_loop_thread() {
    let (tx, rx) = channel::<(i64, ThreadId)>();
    let tx = Arc::new(Mutex::new(tx));
    let srv = Running::start(|s| {
        let p = Ptr(s);
        let tx = tx.clone();
        route(s, "GET", "/arm", move |_, res| {
            let tx2 = tx.clone();
            let id = add_timer(whole(p), 20, false, move || {
                let _ = tx2.lock().unwrap().send((0, std::thread::current().id()));
            });
            let _ = tx.lock().unwrap().send((id, std::thread::current().id()));
            respond(res, 200, "", b"armed");
        });
    });
    let r = get(srv.port, "/arm");
    assert_eq!((r.status, r.text().as_str()), (200, "armed"));
    let (id, handler_thread) = rx.recv_timeout(WAIT).unwrap();
    assert!(id > 0, "hs_add_timer inside a handler returned {id}");
    let (zero, timer_thread) = rx.recv_timeout(WAIT).expect("the timer fired");
    assert_eq!(zero, 0);
    assert_eq!(handler_thread, srv.loop_thread);
    assert_eq!(timer_thread, srv.loop_thread);
    assert_ne!(timer_thread, std::thread::current().id());
    assert_eq!(srv.stop(), 0);
}

// ---------------------------------------------------------------------------------------------
// Threads.

#[test]
fn default_thread_rule_every_callback_on_the_run_thread() {
    let seen: Arc<Mutex<Vec<(&'static str, ThreadId)>>> = Arc::default();
    let (tx, rx) = channel::<&'static str>();
    let tx = Arc::new(Mutex::new(tx));
    let note = {
        let seen = seen.clone();
        move |what: &'static str| {
            seen.lock()
                .unwrap()
                .push((what, std::thread::current().id()));
            let _ = tx.lock().unwrap().send(what);
        }
    };
    let srv = Running::start(|s| {
        assert_eq!(hs_websocket(s, 1), 0);
        let n = note.clone();
        route(s, "GET", "/h", move |_, res| {
            n("handler");
            respond(res, 200, "", b"ok");
        });
        let (n1, n2, n3) = (note.clone(), note.clone(), note.clone());
        let cbs = WsCallbacks {
            open: Box::new(move |_, _| n1("open")),
            message: Box::new(move |_, _, _| n2("message")),
            close: Box::new(move |_, _, _| n3("close")),
        };
        assert!(accept(s, "/ws", cbs) >= 0);
        let n4 = note.clone();
        assert!(add_timer(s, 10, false, move || n4("timer")) > 0);
    });
    let mut expect = vec!["handler", "open", "message", "close", "timer"];
    assert_eq!(get(srv.port, "/h").status, 200);
    let stream = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let (mut ws, _) =
        tungstenite::client::client(format!("ws://127.0.0.1:{}/ws", srv.port), stream).unwrap();
    ws.send(tungstenite::Message::text("hi")).unwrap();
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    let mut got = Vec::new();
    while got.len() < expect.len() {
        got.push(rx.recv_timeout(WAIT).expect("a callback"));
    }
    got.sort();
    expect.sort();
    assert_eq!(got, expect);
    for (what, tid) in seen.lock().unwrap().iter() {
        assert_eq!(*tid, srv.loop_thread, "{what} ran off the hs_run thread");
    }
    assert_eq!(srv.stop(), 0);
}

/// Handlers that wait (up to `patience`) until two of them are inside at once. Returns the
/// answers of two simultaneous requests and the most handlers seen inside at once.
fn two_meeting_requests(threads: Option<c_int>, patience: Duration) -> (Vec<String>, usize) {
    #[derive(Default)]
    struct Meet {
        inside: usize,
        peak: usize,
    }
    let meet = Arc::new((Mutex::new(Meet::default()), Condvar::new()));
    let m2 = meet.clone();
    let srv = Running::start(|s| {
        if let Some(n) = threads {
            assert_eq!(hs_set_threads(s, n), 0);
        }
        route(s, "GET", "/meet", move |_, res| {
            let (lock, cv) = &*m2;
            let mut g = lock.lock().unwrap();
            g.inside += 1;
            g.peak = g.peak.max(g.inside);
            cv.notify_all();
            let (mut g, t) = cv.wait_timeout_while(g, patience, |m| m.peak < 2).unwrap();
            g.inside -= 1;
            drop(g);
            let body: &[u8] = if t.timed_out() { b"alone" } else { b"both" };
            respond(res, 200, "", body);
        });
    });
    let port = srv.port;
    let clients: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || get(port, "/meet")))
        .collect();
    let mut answers: Vec<String> = clients
        .into_iter()
        .map(|t| {
            let r = t.join().unwrap();
            assert_eq!(r.status, 200);
            r.text()
        })
        .collect();
    answers.sort();
    assert_eq!(srv.stop(), 0);
    let peak = meet.0.lock().unwrap().peak;
    (answers, peak)
}

#[test]
fn set_threads_2_runs_handlers_concurrently() {
    let (answers, peak) = two_meeting_requests(Some(2), WAIT);
    assert_eq!(answers, vec!["both", "both"]);
    assert_eq!(peak, 2);
}

#[test]
fn default_single_thread_serialises_handlers() {
    let t0 = Instant::now();
    let (answers, peak) = two_meeting_requests(None, Duration::from_millis(300));
    assert_eq!(answers, vec!["alone", "alone"]);
    assert_eq!(peak, 1, "a second handler started while the first ran");
    // Each waited its full patience, one after the other.
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn set_threads_2_serves_other_requests_while_a_handler_blocks() {
    let mut gate = None;
    let srv = Running::start(|s| {
        assert_eq!(hs_set_threads(s, 2), 0);
        gate = Some(slow_route(s));
        route(s, "GET", "/fast", |_, res| {
            respond(res, 200, "", b"fast");
        });
    });
    let (entered, release) = gate.unwrap();
    let slow = get_in_background(srv.port, "/slow");
    entered.recv_timeout(WAIT).expect("handler entered");
    // The other worker serves a new connection while the first is blocked in its handler.
    let fast = get_in_background(srv.port, "/fast");
    let r = fast
        .recv_timeout(WAIT)
        .expect("a request was not served while another handler blocked");
    assert_eq!((r.status, r.text().as_str()), (200, "fast"));
    release.send(()).unwrap();
    let r = slow.recv_timeout(WAIT).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slow done"));
    assert_eq!(srv.stop(), 0);
}

// ---------------------------------------------------------------------------------------------
// Shutdown.

/// A route whose handler reports that it is inside, then waits for the test's release.
fn slow_route(s: *mut hs_server) -> (Receiver<()>, Sender<()>) {
    let (entered_tx, entered_rx) = channel();
    let (release_tx, release_rx) = channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let release_rx = Mutex::new(release_rx);
    route(s, "GET", "/slow", move |_, res| {
        let _ = entered_tx.lock().unwrap().send(());
        let released = release_rx.lock().unwrap().recv_timeout(WAIT).is_ok();
        let body: &[u8] = if released {
            b"slow done"
        } else {
            b"never released"
        };
        respond(res, 200, "", body);
    });
    (entered_rx, release_tx)
}

fn get_in_background(port: u16, path: &'static str) -> Receiver<HttpResp> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(get(port, path));
    });
    rx
}

#[test]
fn shutdown_lets_the_in_flight_request_finish() {
    let mut gate = None;
    let srv = Running::start(|s| gate = Some(slow_route(s)));
    let (entered, release) = gate.unwrap();
    let resp = get_in_background(srv.port, "/slow");
    entered.recv_timeout(WAIT).expect("handler entered");
    // From another thread than the loop's, while the handler runs.
    assert_eq!(hs_shutdown(srv.raw()), 0);
    assert_eq!(hs_shutdown(srv.raw()), 0, "a second call is harmless");
    release.send(()).unwrap();
    let r = resp.recv_timeout(WAIT).expect("the in-flight response");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "slow done");
    let port = srv.port;
    assert_eq!(srv.join(WAIT), 0);
    let refused = TcpStream::connect(("127.0.0.1", port));
    assert!(refused.is_err(), "connection after shutdown was accepted");
}

#[test]
fn after_shutdown_new_connections_are_refused_while_a_request_finishes() {
    // With worker threads the loop keeps going while the handler blocks, so the listener is
    // closed while the request is still in flight. The debug log says when.
    let (log_tx, log_rx) = channel::<String>();
    let mut gate = None;
    let srv = Running::start(|s| {
        assert_eq!(hs_set_threads(s, 2), 0);
        set_log_channel(s, log_tx);
        gate = Some(slow_route(s));
    });
    let (entered, release) = gate.unwrap();
    let resp = get_in_background(srv.port, "/slow");
    entered.recv_timeout(WAIT).expect("handler entered");
    assert_eq!(hs_shutdown(srv.raw()), 0);
    wait_line(&log_rx, |l| l.starts_with("shutting down"));
    let refused = TcpStream::connect(("127.0.0.1", srv.port));
    assert!(
        refused.is_err(),
        "a new connection was accepted during shutdown"
    );
    release.send(()).unwrap();
    let r = resp.recv_timeout(WAIT).expect("the in-flight response");
    assert_eq!((r.status, r.text().as_str()), (200, "slow done"));
    assert_eq!(srv.join(WAIT), 0);
}

#[test]
fn shutdown_closes_websocket_clients_with_1001() {
    let (tx, rx) = channel();
    let tx = Arc::new(Mutex::new(tx));
    let srv = Running::start(|s| {
        assert_eq!(hs_websocket(s, 1), 0);
        let (t1, t2) = (tx.clone(), tx.clone());
        let cbs = WsCallbacks {
            open: Box::new(move |id, _| {
                let _ = t1.lock().unwrap().send((id, 0, String::new()));
            }),
            close: Box::new(move |id, code, reason| {
                let _ = t2.lock().unwrap().send((id, code, reason));
            }),
            ..Default::default()
        };
        assert!(accept(s, "/ws", cbs) >= 0);
    });
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let stream = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let (ws, _) =
            tungstenite::client::client(format!("ws://127.0.0.1:{}/ws", srv.port), stream).unwrap();
        clients.push(ws);
        let (id, code, _) = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(code, 0, "open event");
        ids.push(id);
    }
    assert_eq!(hs_shutdown(srv.raw()), 0);
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            std::thread::spawn(move || {
                let code = loop {
                    match ws.read().expect("a close frame") {
                        tungstenite::Message::Close(Some(f)) => break u16::from(f.code),
                        tungstenite::Message::Close(None) => break 1005,
                        _ => continue,
                    }
                };
                // Complete the handshake (tungstenite sends its reply).
                while ws.read().is_ok() {}
                code
            })
        })
        .collect();
    for r in readers {
        assert_eq!(r.join().unwrap(), 1001);
    }
    let mut closed: Vec<(u64, c_int)> = (0..3)
        .map(|_| {
            let (id, code, _) = rx.recv_timeout(WAIT).expect("on_close");
            (id, code)
        })
        .collect();
    closed.sort();
    ids.sort();
    assert_eq!(closed, ids.iter().map(|&i| (i, 1001)).collect::<Vec<_>>());
    assert_eq!(srv.join(WAIT), 0);
}

#[test]
fn shutdown_from_inside_a_handler() {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let srv = Running::start(|s| {
        let p = Ptr(s);
        route(s, "GET", "/stop", move |_, res| {
            let _ = tx.lock().unwrap().send(hs_shutdown(whole(p)));
            respond(res, 200, "", b"stopping");
        });
    });
    let r = get(srv.port, "/stop");
    assert_eq!((r.status, r.text().as_str()), (200, "stopping"));
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 0);
    assert_eq!(srv.join(WAIT), 0);
}

#[test]
fn shutdown_before_run_makes_run_return_promptly() {
    let addr = c("127.0.0.1");
    let ptr = hs_new(addr.as_ptr(), 0);
    assert!(!ptr.is_null());
    assert_eq!(hs_start(ptr), 0);
    assert_eq!(hs_shutdown(ptr), 0);
    let p = Ptr(ptr);
    let (tx, rx) = channel();
    let t0 = Instant::now();
    std::thread::spawn(move || {
        let p = p;
        let _ = tx.send(hs_run(p.0));
    });
    assert_eq!(rx.recv_timeout(WAIT).expect("hs_run returned"), 0);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // A stopped server stays stopped.
    assert_eq!(hs_poll(ptr, 1000), 0);
    hs_free(ptr);
}

#[test]
fn shutdown_before_start_and_run() {
    let addr = c("127.0.0.1");
    let ptr = hs_new(addr.as_ptr(), 0);
    assert_eq!(hs_shutdown(ptr), 0);
    let t0 = Instant::now();
    // hs_poll starts the server itself, sees the request, and stops.
    assert_eq!(hs_poll(ptr, 5000), 0);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    hs_free(ptr);
}

// ---------------------------------------------------------------------------------------------
// hs_poll.

#[test]
fn poll_slices_serve_and_stop() {
    let addr = c("127.0.0.1");
    let ptr = hs_new(addr.as_ptr(), 0);
    assert!(!ptr.is_null());
    let p = Ptr(ptr);
    let (inner_tx, inner_rx) = channel();
    let inner_tx = Mutex::new(inner_tx);
    route(ptr, "GET", "/x", |_, res| {
        respond(res, 200, "", b"served in a slice");
    });
    route(ptr, "GET", "/reenter", move |_, res| {
        let polled = hs_poll(whole(p), 10);
        let ran = hs_run(whole(p));
        let _ = inner_tx.lock().unwrap().send((polled, ran));
        respond(res, 200, "", b"ok");
    });
    assert_eq!(hs_start(ptr), 0);
    let port = hs_port(ptr) as u16;

    // Idle: the slice lasts its time.
    let t0 = Instant::now();
    assert_eq!(hs_poll(ptr, 100), 1);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(100) && took <= Duration::from_millis(600),
        "{took:?}"
    );

    // A request made between and during slices is served by them.
    let resp = get_in_background(port, "/x");
    let deadline = Instant::now() + WAIT;
    let r = loop {
        assert_eq!(hs_poll(ptr, 20), 1);
        if let Ok(r) = resp.try_recv() {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "request not served by the slices"
        );
    };
    assert_eq!((r.status, r.text().as_str()), (200, "served in a slice"));

    // hs_poll and hs_run from inside a callback are refused.
    let resp = get_in_background(port, "/reenter");
    let deadline = Instant::now() + WAIT;
    let r = loop {
        assert_eq!(hs_poll(ptr, 20), 1);
        if let Ok(r) = resp.try_recv() {
            break r;
        }
        assert!(Instant::now() < deadline, "request not served");
    };
    assert_eq!(r.status, 200);
    assert_eq!(inner_rx.try_recv().unwrap(), (STATE, STATE));

    // After shutdown: 0, and at once from then on.
    assert_eq!(hs_shutdown(ptr), 0);
    let t0 = Instant::now();
    assert_eq!(hs_poll(ptr, 5000), 0);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let t0 = Instant::now();
    assert_eq!(hs_poll(ptr, 1000), 0);
    assert_eq!(hs_poll(ptr, -1), 0);
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(hs_run(ptr), 0);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    hs_free(ptr);
}

#[test]
fn poll_zero_timeout_returns_at_once() {
    let addr = c("127.0.0.1");
    let ptr = hs_new(addr.as_ptr(), 0);
    assert_eq!(hs_start(ptr), 0);
    let t0 = Instant::now();
    assert_eq!(hs_poll(ptr, 0), 1);
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(hs_shutdown(ptr), 0);
    assert_eq!(hs_poll(ptr, 5000), 0);
    hs_free(ptr);
}

// ---------------------------------------------------------------------------------------------
// Freeing and configuration state.

#[test]
fn free_null_and_double_free_and_dead_handle() {
    hs_free(std::ptr::null_mut());
    let addr = c("127.0.0.1");
    let ptr = hs_new(addr.as_ptr(), 0);
    assert!(!ptr.is_null());
    assert_eq!(hs_start(ptr), 0);
    hs_free(ptr);
    hs_free(ptr);
    // Read-only or harmless calls only: the freed address is not touched by the library.
    assert_eq!(hs_port(ptr), STATE);
    assert_eq!(hs_ws_count(ptr, -1), STATE);
    assert_eq!(hs_ws_clients(ptr, -1, std::ptr::null_mut(), 0), STATE);
    let mut v = 0u64;
    assert_eq!(
        hs_get_limit(ptr, hs_limit::HS_LIMIT_IDLE_TIMEOUT_MS as c_int, &mut v),
        STATE
    );
    let x = "x";
    assert_eq!(hs_ws_send(ptr, 1, x.as_ptr().cast(), 1, 0), STATE);
    assert!(!last_error().is_empty());
    // NULL handles are invalid, not a crash.
    assert_eq!(hs_port(std::ptr::null()), INVALID);
    assert_eq!(hs_shutdown(std::ptr::null_mut()), INVALID);
    assert_eq!(hs_run(std::ptr::null_mut()), INVALID);
    assert_eq!(hs_poll(std::ptr::null_mut(), 0), INVALID);
}

#[test]
fn free_after_run_then_handle_is_dead() {
    let srv = Running::start(|_| {});
    let p = srv.ptr;
    assert_eq!(srv.stop(), 0);
    assert_eq!(hs_port(p.0), STATE);
    hs_free(p.0);
}

#[test]
fn configuration_after_run_is_refused() {
    let srv = Running::start(|s| {
        route(s, "GET", "/", |_, res| {
            respond(res, 200, "", b"up");
        });
    });
    // The loop is up once a request was served.
    assert_eq!(get(srv.port, "/").text(), "up");
    assert_eq!(hs_set_threads(srv.raw(), 2), STATE);
    assert_eq!(hs_handle_signals(srv.raw(), 1), STATE);
    assert_eq!(hs_set_reuse_port(srv.raw(), 1), STATE);
    assert_eq!(hs_start(srv.raw()), 0, "start is idempotent");
    assert_eq!(srv.stop(), 0);
}

#[test]
fn set_threads_checks_its_argument() {
    let addr = c("127.0.0.1");
    let ptr = hs_new(addr.as_ptr(), 0);
    assert_eq!(hs_set_threads(ptr, 0), INVALID);
    assert_eq!(hs_set_threads(ptr, -3), INVALID);
    assert_eq!(hs_set_threads(ptr, 1), 0);
    assert_eq!(hs_set_threads(ptr, 4), 0);
    assert_eq!(hs_handle_signals(ptr, 0), 0);
    hs_free(ptr);
}

// ---------------------------------------------------------------------------------------------
// Port helpers.

#[test]
fn port_in_use_follows_the_server() {
    let srv = Running::start(|_| {});
    let port = srv.port as c_int;
    let lo = c("127.0.0.1");
    assert_eq!(hs_port_in_use(lo.as_ptr(), port), 1);
    assert_eq!(hs_port_in_use(c("0.0.0.0").as_ptr(), port), 1);
    assert_eq!(srv.stop(), 0);
    assert_eq!(hs_port_in_use(lo.as_ptr(), port), 0);
    assert_eq!(hs_port_in_use(lo.as_ptr(), 70000), INVALID);
    assert_eq!(hs_port_in_use(std::ptr::null(), port), INVALID);
}

/// A child we started; killed (by its own pid) if the test leaves early.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn kill_port_holders_ends_our_listening_child() {
    use std::io::BufRead;
    let script = "import socket,sys,time\n\
                  s=socket.socket()\n\
                  s.bind(('127.0.0.1',0))\n\
                  s.listen(8)\n\
                  print(s.getsockname()[1],flush=True)\n\
                  time.sleep(60)\n";
    let mut child = Child(
        std::process::Command::new("python3")
            .args(["-c", script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs"),
    );
    // The port line is the readiness signal: it is printed after listen().
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: c_int = line.trim().parse().expect("a port");
    let lo = c("127.0.0.1");
    assert_eq!(hs_port_in_use(lo.as_ptr(), port), 1);
    assert_eq!(hs_kill_port_holders(port), 1);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "the child is still alive");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!status.success());
    assert_eq!(hs_port_in_use(lo.as_ptr(), port), 0);
    assert_eq!(hs_kill_port_holders(port), 0);
    assert_eq!(hs_kill_port_holders(0), INVALID);
}

// ---------------------------------------------------------------------------------------------
// Debug log, version.

fn set_log_channel(s: *mut hs_server, tx: Sender<String>) {
    unsafe extern "C-unwind" fn sink(ud: *mut c_void, line: *const c_char) {
        let tx = &*(ud as *const Mutex<Sender<String>>);
        let _ = tx
            .lock()
            .unwrap()
            .send(read_c(line).expect("a line, not NULL"));
    }
    let ud = keep(Mutex::new(tx));
    assert_eq!(hs_set_log(s, Some(sink), ud), 0);
    assert_eq!(hs_set_debug(s, 1), 0);
}

/// Waits for a line matching `f`; returns the lines seen up to and including it.
fn wait_line(rx: &Receiver<String>, f: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let l = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("log line not seen; got {seen:#?}"));
        let hit = f(&l);
        seen.push(l);
        if hit {
            return seen;
        }
    }
}

#[test]
fn debug_log_reaches_the_sink() {
    let (tx, rx) = channel();
    let srv = Running::start(|s| {
        set_log_channel(s, tx);
        route(s, "GET", "/logme", |_, res| {
            respond(res, 200, "", b"logged");
        });
    });
    let listening = wait_line(&rx, |l| l.starts_with("listening on "));
    assert_eq!(
        listening.last().unwrap(),
        &format!("listening on 127.0.0.1:{}", srv.port)
    );
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(b"GET /logme HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.status, 200);
    let lines = wait_line(&rx, |l| l.ends_with(": closed"));
    let open = lines
        .iter()
        .find(|l| l.ends_with(&format!(": open from {local}")))
        .unwrap_or_else(|| panic!("no open line in {lines:#?}"));
    let conn = open.split(':').next().unwrap().to_string(); // "conn N"
    assert!(conn.starts_with("conn "), "{open}");
    for want in [
        format!("{conn}: open from {local}"),
        format!("{conn}: GET /logme HTTP/1.1"),
        format!("{conn}: -> 200 OK"),
        format!("{conn}: closed"),
    ] {
        assert!(lines.contains(&want), "missing {want:?} in {lines:#?}");
    }
    // Off again: a new request leaves no line, up to the end of the loop.
    assert_eq!(hs_set_debug(srv.raw(), 0), 0);
    assert_eq!(get(srv.port, "/logme").status, 200);
    assert_eq!(srv.stop(), 0);
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.is_empty(), "lines while debug was off: {rest:#?}");
}

#[test]
fn version_is_the_crate_version() {
    assert_eq!(read_c(hs_version()).as_deref(), Some("0.1.0"));
    assert_eq!(read_c(hs_version()).unwrap(), env!("CARGO_PKG_VERSION"));
    assert_eq!(read_c(hs_status_str(-2)).as_deref(), Some("wrong state"));
}
