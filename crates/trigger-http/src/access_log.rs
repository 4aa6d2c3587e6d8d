//! One access-log line per request, written when both the response headers
//! and the guest are done (whichever is last), so it can include the
//! instance's memory. The same record goes to the [`RequestObserver`], if
//! any (the node's metrics).

use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};

/// What is known about one finished request.
#[derive(Debug, Clone)]
pub struct RequestRecord<'a> {
    /// The component that handled it; `None` when no route matched.
    pub component: Option<&'a str>,
    /// The request method.
    pub method: &'a Method,
    /// The request path.
    pub path: &'a str,
    /// The response status (the head's; a body cut short is not reflected).
    pub status: u16,
    /// From arrival until both the response head and the guest were done.
    pub duration: Duration,
    /// Peak linear memory of the instance, in bytes (0 when none ran).
    pub memory: usize,
    /// How long instantiation took, when an instance was created.
    pub instantiate: Option<Duration>,
}

/// Receives a record of every request (e.g. to keep metrics).
pub trait RequestObserver: Send + Sync + 'static {
    /// A request was routed to `component` and is about to run.
    fn request_started(&self, component: &str) {
        let _ = component;
    }
    /// A request finished (`request_started` was called before it if
    /// `record.component` is `Some`).
    fn request_finished(&self, record: &RequestRecord<'_>);
}

/// Collects what the access-log line needs; logs it when dropped.
pub(crate) struct AccessLog {
    method: Method,
    path: String,
    component: OnceLock<String>,
    start: Instant,
    status: AtomicU16,
    memory: AtomicUsize,
    instantiate_nanos: AtomicU64,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl AccessLog {
    pub fn start(
        method: Method,
        path: &str,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> AccessLog {
        AccessLog {
            method,
            path: path.to_owned(),
            component: OnceLock::new(),
            start: Instant::now(),
            status: AtomicU16::new(0),
            memory: AtomicUsize::new(0),
            instantiate_nanos: AtomicU64::new(0),
            observer,
        }
    }

    pub fn component(&mut self, id: &str) {
        if self.component.set(id.to_owned()).is_ok() {
            if let Some(observer) = &self.observer {
                observer.request_started(id);
            }
        }
    }

    pub fn set_status(&self, status: StatusCode) {
        self.status.store(status.as_u16(), Ordering::Relaxed);
    }

    pub fn set_memory(&self, bytes: usize) {
        self.memory.store(bytes, Ordering::Relaxed);
    }

    pub fn set_instantiate(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.instantiate_nanos.store(nanos, Ordering::Relaxed);
    }

    /// For responses decided before any guest ran.
    pub fn finish(&mut self, status: StatusCode) {
        self.set_status(status);
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        let duration = self.start.elapsed();
        let status = self.status.load(Ordering::Relaxed);
        let memory = self.memory.load(Ordering::Relaxed);
        let component = self.component.get().map(String::as_str);
        let nanos = self.instantiate_nanos.load(Ordering::Relaxed);
        tracing::info!(
            target: "nimbus::access",
            method = %self.method,
            path = %self.path,
            component = component.unwrap_or("-"),
            status,
            // A number (microsecond precision), not a string, in JSON logs.
            duration_ms = (duration.as_secs_f64() * 1e6).round() / 1e3,
            memory,
            instantiate_us = nanos / 1000,
            "request"
        );
        if let Some(observer) = &self.observer {
            observer.request_finished(&RequestRecord {
                component,
                method: &self.method,
                path: &self.path,
                status,
                duration,
                memory,
                instantiate: (nanos > 0).then(|| Duration::from_nanos(nanos)),
            });
        }
    }
}
