//! The server's one watchdog task over its open HTTP connections.

use crate::engine::context::Base;
use crate::engine::transport::activity::{Connections, STOP_GRACEFUL, STOP_NOW};
use std::sync::Arc;
use std::time::Duration;

/// Every quarter of the idle timeout, looks at each open connection and closes those idle or
/// stuck in a request head for the timeout (so a connection closes between 1 and 1.25 timeouts
/// after the fact); once shutdown begins, starts the graceful shutdown of every connection. One
/// timer for the server instead of one per connection and one per request.
pub async fn watchdog(base: Arc<Base>, conns: Arc<Connections>) {
    let mut stopping = base.life.stopping();
    let mut graceful = false;
    loop {
        let period = base
            .limit(|l| l.idle_timeout / 4)
            .max(Duration::from_millis(5));
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            changed = stopping.changed(), if !graceful => {
                graceful = changed.is_err() || *stopping.borrow();
            }
        }
        let now = tokio::time::Instant::now();
        for conn in conns.snapshot() {
            if graceful {
                conn.request_stop(STOP_GRACEFUL);
            }
            if let Some(why) = conn.check(now) {
                conn.mark.lock().why = Some(why);
                conn.request_stop(STOP_NOW);
            }
        }
    }
}
