//! Per-client-IP admission: the rate limit and connection-required mode.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Fixed-window counter per client IP: at most `max` requests per `window`, then 429 with
/// Retry-After (the seconds left in the window). Off while `max` is 0, which is the default: see
/// the README for why we do not copy Luminova's always-on 100/60 s.
#[derive(Default)]
pub struct RateLimiter {
    max: AtomicU32,
    window_ms: AtomicU64,
    table: Mutex<HashMap<IpAddr, (u64, u32)>>,
}

impl RateLimiter {
    pub fn configure(&self, max: u32, window_ms: u64) {
        self.max.store(max, Ordering::Relaxed);
        self.window_ms.store(window_ms.max(1), Ordering::Relaxed);
        self.table.lock().clear();
    }

    /// Counts one request; `Err(retry_after_seconds)` when over the limit. The clock is read
    /// only when the limit is on.
    pub fn check(&self, ip: IpAddr, now_ms: impl FnOnce() -> u64) -> Result<(), u64> {
        let max = self.max.load(Ordering::Relaxed);
        if max == 0 {
            return Ok(());
        }
        let now_ms = now_ms();
        let window = self.window_ms.load(Ordering::Relaxed);
        let mut table = self.table.lock();
        if table.len() > 65_536 {
            table.retain(|_, (start, _)| now_ms.saturating_sub(*start) < window);
        }
        let entry = table.entry(ip).or_insert((now_ms, 0));
        if now_ms.saturating_sub(entry.0) >= window {
            *entry = (now_ms, 0);
        }
        if entry.1 >= max {
            let left_ms = window.saturating_sub(now_ms - entry.0);
            return Err(left_ms.div_ceil(1000).max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Client IPs marked connected (`GET /connect`, `hs_client_on`).
#[derive(Default)]
pub struct Connected(Mutex<HashSet<IpAddr>>);

impl Connected {
    pub fn on(&self, ip: IpAddr) {
        self.0.lock().insert(ip);
    }
    pub fn off(&self, ip: IpAddr) -> bool {
        self.0.lock().remove(&ip)
    }
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.lock().contains(ip)
    }
}

/// The admission rules of a server: rate limit and connection-required mode.
#[derive(Default)]
pub struct Access {
    pub rate: RateLimiter,
    pub connection_required: AtomicBool,
    pub connected: Connected,
}

impl Access {
    pub fn connection_required(&self) -> bool {
        self.connection_required.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_window() {
        let r = RateLimiter::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(r.check(ip, || 0).is_ok(), "off by default");
        r.configure(2, 10_000);
        assert!(r.check(ip, || 0).is_ok());
        assert!(r.check(ip, || 1).is_ok());
        assert_eq!(r.check(ip, || 2_500), Err(8));
        assert!(r.check("::1".parse().unwrap(), || 2_500).is_ok(), "per IP");
        assert!(r.check(ip, || 10_000).is_ok(), "new window");
    }
}
