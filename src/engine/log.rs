//! Debug lines: one per connection, request, upgrade, frame and close when debug is on. They go to
//! stderr, or to the host's log callback when one is set. Nothing is formatted when debug is off.

use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Default)]
pub struct Log {
    debug: AtomicBool,
    sink: RwLock<Option<LogSink>>,
}

impl Log {
    pub fn set_debug(&self, on: bool) {
        self.debug.store(on, Ordering::Relaxed);
    }

    pub fn set_sink(&self, sink: Option<LogSink>) {
        *self.sink.write() = sink;
    }

    #[inline]
    pub fn enabled(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    /// Writes the line built by `f` when debug is on.
    #[inline]
    pub fn debug(&self, f: impl FnOnce() -> String) {
        if self.enabled() {
            self.write(&f());
        }
    }

    /// Writes a line whether debug is on or not: what an operator must see (a backplane link
    /// down and back, a node declared dead).
    pub fn warn(&self, line: &str) {
        self.write(line);
    }

    fn write(&self, line: &str) {
        let sink = self.sink.read().clone();
        match sink {
            Some(sink) => {
                // A panicking Rust sink must not take the connection task down with it.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink(line)));
            }
            None => eprintln!("[httpsock] {line}"),
        }
    }
}
