//! One access-log line per request, written when both the response headers
//! and the guest are done (whichever is last), so it can include the
//! instance's memory.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use http::{Method, StatusCode};

/// Collects what the access-log line needs; logs it when dropped.
#[derive(Debug)]
pub(crate) struct AccessLog {
    method: Method,
    path: String,
    component: OnceLock<String>,
    start: Instant,
    status: AtomicU16,
    memory: AtomicUsize,
}

impl AccessLog {
    pub fn start(method: Method, path: &str) -> AccessLog {
        AccessLog {
            method,
            path: path.to_owned(),
            component: OnceLock::new(),
            start: Instant::now(),
            status: AtomicU16::new(0),
            memory: AtomicUsize::new(0),
        }
    }

    pub fn component(&mut self, id: &str) {
        let _ = self.component.set(id.to_owned());
    }

    pub fn set_status(&self, status: StatusCode) {
        self.status.store(status.as_u16(), Ordering::Relaxed);
    }

    pub fn set_memory(&self, bytes: usize) {
        self.memory.store(bytes, Ordering::Relaxed);
    }

    /// For responses decided before any guest ran.
    pub fn finish(&mut self, status: StatusCode) {
        self.set_status(status);
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        tracing::info!(
            target: "nimbus::access",
            method = %self.method,
            path = %self.path,
            component = self.component.get().map(String::as_str).unwrap_or("-"),
            status = self.status.load(Ordering::Relaxed),
            duration_ms = format!("{:.3}", self.start.elapsed().as_secs_f64() * 1000.0),
            memory = self.memory.load(Ordering::Relaxed),
            "request"
        );
    }
}
