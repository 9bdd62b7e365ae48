//! Timers run on the event loop: periodic broadcasts, housekeeping. Added before the loop runs,
//! they start with it; added while it runs (even from a callback), they start at once.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

pub type TimerFn = Arc<dyn Fn() + Send + Sync>;

struct Entry {
    interval: Duration,
    repeat: bool,
    callback: TimerFn,
    task: Option<AbortHandle>,
}

#[derive(Default)]
pub struct Timers {
    next: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
}

impl Timers {
    /// Registers a timer; spawns it when `rt` is given (the loop exists).
    pub fn add(
        self: &Arc<Self>,
        interval: Duration,
        repeat: bool,
        callback: TimerFn,
        rt: Option<&Handle>,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut entries = self.entries.lock();
        entries.insert(
            id,
            Entry {
                interval,
                repeat,
                callback,
                task: None,
            },
        );
        if let Some(rt) = rt {
            self.spawn_locked(&mut entries, id, rt);
        }
        id
    }

    /// Starts every timer not started yet (the loop just came up).
    pub fn start_all(self: &Arc<Self>, rt: &Handle) {
        let mut entries = self.entries.lock();
        let ids: Vec<u64> = entries
            .iter()
            .filter(|(_, e)| e.task.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.spawn_locked(&mut entries, id, rt);
        }
    }

    fn spawn_locked(self: &Arc<Self>, entries: &mut HashMap<u64, Entry>, id: u64, rt: &Handle) {
        let Some(e) = entries.get_mut(&id) else {
            return;
        };
        let (interval, repeat, callback) = (e.interval, e.repeat, e.callback.clone());
        let timers = Arc::downgrade(self);
        let task = rt.spawn(async move {
            let start = tokio::time::Instant::now() + interval;
            let mut ticks = tokio::time::interval_at(start, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let _ = crate::engine::context::host_call(|| callback());
                if !repeat {
                    if let Some(t) = timers.upgrade() {
                        t.entries.lock().remove(&id);
                    }
                    break;
                }
            }
        });
        e.task = Some(task.abort_handle());
    }

    pub fn cancel(&self, id: u64) -> bool {
        match self.entries.lock().remove(&id) {
            Some(e) => {
                if let Some(t) = e.task {
                    t.abort();
                }
                true
            }
            None => false,
        }
    }

    pub fn cancel_all(&self) {
        for (_, e) in self.entries.lock().drain() {
            if let Some(t) = e.task {
                t.abort();
            }
        }
    }
}
