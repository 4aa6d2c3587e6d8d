//! The `wasi:http/handler@0.3.0` executor: WASI 0.3 components and those
//! built with today's Spin SDK (`#[http_service]`).
//!
//! A 0.3 handler is an async export: it returns the response (headers and a
//! body *stream*) and may keep writing the body afterwards. The guest's
//! writes happen only while its store's event loop runs, so the request's
//! task keeps `run_concurrent` going until the client has taken the whole
//! body (or went away), under the same timeout, memory limit and resource
//! budget as a 0.2 request. Every request gets a fresh instance, as for 0.2.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use nimbus_capability::InstanceState;
use nimbus_runtime::wasmtime::component::InstancePre;
use tokio::sync::{oneshot, OwnedSemaphorePermit};
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::WasiHttpView;

use crate::access_log::AccessLog;
use crate::body::LimitedBody;
use crate::guest::{instance_store, outcome, with_deadline};
use crate::wasi_http::{add_spin_headers, ensure_host};
use crate::{error_response, Handler, RequestInfo, ResponseBody};

/// A component pre-instantiated for the `wasi:http/service@0.3.0` world.
pub(crate) struct Http3Pre {
    pre: ServicePre<InstanceState>,
}

impl Http3Pre {
    /// `Some` when the component exports `wasi:http/handler@0.3.0`.
    pub fn new(pre: &InstancePre<InstanceState>) -> Option<Http3Pre> {
        ServicePre::new(pre.clone())
            .ok()
            .map(|pre| Http3Pre { pre })
    }
}

/// The response the guest returned, as hyper sends it, or the error code it
/// returned instead.
type GuestAnswer = Result<Response<ResponseBody>, ErrorCode>;

pub(crate) async fn handle<B>(
    handler: &Arc<Handler>,
    pre: &Http3Pre,
    mut req: Request<B>,
    info: RequestInfo,
    permit: Option<OwnedSemaphorePermit>,
    log: Arc<AccessLog>,
) -> Response<ResponseBody>
where
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<crate::body::BoxError>,
{
    let component = &handler.component;
    let limits = &component.limits;
    ensure_host(&mut req, info.local);
    add_spin_headers(&mut req, info, &handler.params);
    let (parts, body) = req.into_parts();
    let (body, body_exceeded) = LimitedBody::new(body, limits.max_body_size);

    let mut store = match instance_store(component) {
        Ok(store) => store,
        Err(status) => return error_response(status),
    };

    // The request as the guest sees it: an incoming request has scheme and
    // authority (the Host header; for HTTP/1.0 without one, the address it
    // arrived on), as for 0.2 guests.
    let authority = parts.uri.authority().cloned().or_else(|| {
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|host| host.to_str().ok())
            .and_then(|host| host.parse::<Authority>().ok())
    });
    let (mut guest_req, _request_io) = wasmtime_wasi_http::p3::Request::from_http(
        store.data_mut().http().hooks,
        Request::from_parts(parts, body),
    );
    guest_req.scheme = Some(http::uri::Scheme::HTTP);
    guest_req.authority = authority;

    let (answer_tx, answer_rx) = oneshot::channel::<GuestAnswer>();
    let service_pre = pre.pre.clone();
    let timeout = limits.timeout;
    let id = component.id.clone();
    let task_log = log.clone();
    let task = tokio::spawn(async move {
        let _permit = permit;
        let run = async {
            let started = std::time::Instant::now();
            let service = service_pre.instantiate_async(&mut store).await?;
            task_log.set_instantiate(started.elapsed());
            store
                .run_concurrent(async move |accessor| {
                    let response = match service.handle(accessor, guest_req).await? {
                        Ok(response) => response,
                        Err(code) => {
                            let _ = answer_tx.send(Err(code));
                            return Ok(());
                        }
                    };
                    let response =
                        accessor.with(|store| response.into_http(store, async { Ok(()) }))?;
                    let (body_done_tx, body_done_rx) = oneshot::channel::<()>();
                    let response = response.map(|body| {
                        StreamedBody {
                            inner: body,
                            _done: body_done_tx,
                        }
                        .boxed_unsync()
                    });
                    if answer_tx.send(Ok(response)).is_ok() {
                        // The guest writes the body while this loop runs:
                        // wait until hyper has taken it (or dropped it).
                        let _ = body_done_rx.await;
                    }
                    nimbus_runtime::wasmtime::Result::<()>::Ok(())
                })
                .await?
        };
        let result = with_deadline(timeout, run).await;
        outcome(id.as_str(), &task_log, store.data().limiter_ref(), result)
    });

    let too_large = || body_exceeded.load(Ordering::Relaxed);
    match answer_rx.await {
        Ok(_) if too_large() => error_response(StatusCode::PAYLOAD_TOO_LARGE),
        Ok(Ok(response)) => response,
        Ok(Err(code)) => {
            tracing::warn!(component = %component.id, "guest answered with an error: {code:?}");
            error_response(StatusCode::INTERNAL_SERVER_ERROR)
        }
        // The guest returned no response (it trapped, timed out or exited):
        // its task says why.
        Err(_) if too_large() => error_response(StatusCode::PAYLOAD_TOO_LARGE),
        Err(_) => match task.await {
            Ok(Some(status)) => error_response(status),
            Ok(None) => {
                tracing::warn!(component = %component.id, "guest returned without a response");
                error_response(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Err(err) => {
                tracing::error!(component = %component.id, "guest task failed: {err}");
                error_response(StatusCode::INTERNAL_SERVER_ERROR)
            }
        },
    }
}

/// A guest's response body, which tells the request's task (by dropping
/// `_done`) that hyper is finished with it.
struct StreamedBody<B> {
    inner: B,
    _done: oneshot::Sender<()>,
}

impl<B> Body for StreamedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    type Data = Bytes;
    type Error = anyhow::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map_err(|err| anyhow::anyhow!("the guest's response body failed: {err:?}"))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
