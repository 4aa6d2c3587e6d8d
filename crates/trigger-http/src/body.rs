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
use tokio::time::{Instant, Sleep};

/// How long a request body may stall between two chunks.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a request body's error must convert to (hyper's `Incoming`, or
/// any test body).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body (hyper's `Incoming` when served) with a byte limit.
pub(crate) struct LimitedBody<B> {
    inner: B,
    remaining: Option<u64>,
    limit: Option<u64>,
    exceeded: Arc<AtomicBool>,
    idle: Pin<Box<Sleep>>,
}

impl<B> LimitedBody<B> {
    pub fn new(inner: B, limit: Option<u64>) -> (LimitedBody<B>, Arc<AtomicBool>) {
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

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
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
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(body_error(err.into())))),
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

/// The `wasi:http` error for a failed request body: hyper's own mapping for
/// hyper's errors, a protocol error otherwise.
fn body_error(err: BoxError) -> wasmtime_wasi_http::Error {
    match err.downcast::<hyper::Error>() {
        Ok(err) => (*err).into(),
        Err(_) => wasmtime_wasi_http::Error::HttpProtocolError,
    }
}
