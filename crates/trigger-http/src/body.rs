//! A request body that fails once it exceeds `max_body_size` (and remembers
//! that it did, so the trigger can answer 413), or when the client sends
//! nothing for [`BODY_IDLE_TIMEOUT`] (a slow-body client cannot hold an
//! instance forever).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// How long a request body may stall between two chunks.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// [`Incoming`] with a byte limit.
pub(crate) struct LimitedBody {
    inner: Incoming,
    remaining: Option<u64>,
    limit: Option<u64>,
    exceeded: Arc<AtomicBool>,
    idle: Pin<Box<Sleep>>,
}

impl LimitedBody {
    pub fn new(inner: Incoming, limit: Option<u64>) -> (LimitedBody, Arc<AtomicBool>) {
        let exceeded = Arc::new(AtomicBool::new(false));
        (
            LimitedBody {
                inner,
                remaining: limit,
                limit,
                exceeded: exceeded.clone(),
                idle: Box::pin(tokio::time::sleep(BODY_IDLE_TIMEOUT)),
            },
            exceeded,
        )
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.idle.as_mut().reset(Instant::now() + BODY_IDLE_TIMEOUT);
                if let (Some(remaining), Some(data)) = (this.remaining.as_mut(), frame.data_ref()) {
                    let len = data.len() as u64;
                    if len > *remaining {
                        this.exceeded.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err(
                            wasmtime_wasi_http::Error::HttpRequestBodySize(this.limit),
                        )));
                    }
                    *remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    tracing::debug!("request body stalled for {BODY_IDLE_TIMEOUT:?}");
                    Poll::Ready(Some(Err(wasmtime_wasi_http::Error::ConnectionReadTimeout)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
