//! The HTTP trigger of `nimbus up`: a hyper server, a router, and two
//! executors: `wasi:http/incoming-handler` components (the proxy world of
//! `wasmtime serve` and Spin) and WAGI for plain `wasm32-wasip1` modules.
//!
//! Everything that can be done once is done in [`HttpTrigger::new`]: linking,
//! pre-instantiation, the routing table, opening granted directories. Per
//! request there is a fresh `Store`, an instance from the pooling allocator,
//! the call, and the streamed response.

mod access_log;
mod body;
mod router;
mod wagi;
mod wasi_http;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use nimbus_app::{App, AppComponent};
use nimbus_manifest::Executor;
use nimbus_runtime::wasmtime::Engine;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use access_log::{RequestObserver, RequestRecord};
pub use router::{RouteMatch, Router};

use crate::access_log::AccessLog;

/// The body of every response nimbus sends.
pub type ResponseBody = UnsyncBoxBody<Bytes, anyhow::Error>;

/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// WAGI buffers the request body for stdin: the cap when the manifest sets no
/// `max_body_size`.
pub const DEFAULT_WAGI_MAX_BODY: u64 = 16 << 20;
/// WAGI buffers the response (stdout): its cap.
pub const WAGI_MAX_OUTPUT: usize = 64 << 20;

/// One route's handler: a component, pre-instantiated for its executor.
struct Handler {
    component: Arc<AppComponent>,
    executor: ExecutorPre,
    /// Shared by every route of the component: `max_concurrency`.
    concurrency: Option<Arc<Semaphore>>,
}

enum ExecutorPre {
    Http(wasi_http::HttpPre),
    Wagi(wagi::WagiPre),
}

/// The HTTP trigger for one app.
pub struct HttpTrigger {
    engine: Engine,
    router: Router<Arc<Handler>>,
    app: Arc<App>,
    observer: Option<Arc<dyn RequestObserver>>,
}

/// What the route and connection tell the guest.
#[derive(Debug, Clone)]
pub(crate) struct RequestInfo {
    pub client: SocketAddr,
    pub local: SocketAddr,
    pub raw_route: String,
    pub component_route: String,
    pub path_info: String,
}

impl HttpTrigger {
    /// Links and pre-instantiates every routed component of `app`.
    ///
    /// Timeouts need the engine's epoch to advance: the caller keeps one
    /// [`nimbus_runtime::EpochTicker`] running per engine while serving. A
    /// component that does not fit its executor (a module routed as
    /// `wasi:http`, a missing import) is refused here, naming it.
    pub fn new(engine: &Engine, app: Arc<App>) -> anyhow::Result<HttpTrigger> {
        let mut semaphores = std::collections::HashMap::new();
        let mut routes = Vec::new();
        for trigger in &app.manifest().triggers {
            let component = app
                .component(trigger.component.as_str())
                .with_context(|| format!("no component `{}`", trigger.component))?
                .clone();
            let executor = match &trigger.executor {
                Executor::Http => {
                    ExecutorPre::Http(wasi_http::HttpPre::new(engine, &component, app.services())?)
                }
                Executor::Wagi { argv, entrypoint } => ExecutorPre::Wagi(wagi::WagiPre::new(
                    engine,
                    &component,
                    argv.clone(),
                    entrypoint.clone(),
                )?),
            };
            let concurrency = component.limits.max_concurrency.map(|n| {
                semaphores
                    .entry(component.id.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(n as usize)))
                    .clone()
            });
            routes.push((
                trigger.route.clone(),
                Arc::new(Handler {
                    component,
                    executor,
                    concurrency,
                }),
            ));
        }
        Ok(HttpTrigger {
            engine: engine.clone(),
            router: Router::new(routes),
            app,
            observer: None,
        })
    }

    /// Reports every request to `observer` (e.g. the node's metrics).
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The app this trigger serves.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Every route and the component it runs, most specific first.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.router
            .routes()
            .map(|(route, handler)| (route, handler.component.id.as_str()))
    }

    /// Handles one request from `client` that arrived on `local`.
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Response<ResponseBody> {
        let path = req.uri().path().to_owned();
        let mut log = AccessLog::start(req.method().clone(), &path, self.observer.clone());
        let Some(matched) = self.router.route(&path) else {
            log.finish(StatusCode::NOT_FOUND);
            return error_response(StatusCode::NOT_FOUND);
        };
        let handler = matched.target.clone();
        log.component(handler.component.id.as_str());
        let info = RequestInfo {
            client,
            local,
            raw_route: matched.raw_route.to_owned(),
            component_route: matched.component_route.to_owned(),
            path_info: matched.path_info.to_owned(),
        };

        let permit = match &handler.concurrency {
            Some(semaphore) => match semaphore.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    tracing::warn!(
                        component = %handler.component.id,
                        "over max_concurrency ({}): 503",
                        handler.component.limits.max_concurrency.unwrap_or_default()
                    );
                    log.finish(StatusCode::SERVICE_UNAVAILABLE);
                    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE);
                    response.headers_mut().insert(
                        http::header::RETRY_AFTER,
                        http::HeaderValue::from_static("1"),
                    );
                    return response;
                }
            },
            None => None,
        };

        if let Some(max) = max_body_size(&handler) {
            if content_length(&req).is_some_and(|len| len > max) {
                tracing::warn!(
                    component = %handler.component.id,
                    "request body larger than max_body_size ({max} bytes): 413"
                );
                log.finish(StatusCode::PAYLOAD_TOO_LARGE);
                return error_response(StatusCode::PAYLOAD_TOO_LARGE);
            }
        }

        let log = Arc::new(log);
        let response = match &handler.executor {
            ExecutorPre::Http(pre) => {
                wasi_http::handle(&self.engine, &handler, pre, req, info, permit, log.clone()).await
            }
            ExecutorPre::Wagi(pre) => {
                wagi::handle(&self.engine, &handler, pre, req, info, permit, log.clone()).await
            }
        };
        log.set_status(response.status());
        response
    }

    /// Serves connections from `listener` until `shutdown` completes, then
    /// stops accepting, lets requests in flight finish (up to
    /// [`SHUTDOWN_GRACE`]) and returns.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        serve(listener, shutdown, move |req, client, local| {
            let trigger = self.clone();
            async move { trigger.handle(req, client, local).await }
        })
        .await
    }
}

impl HttpTrigger {
    /// As [`HttpTrigger::serve`], on one thread per listener (see
    /// [`serve_per_core`]).
    pub async fn serve_per_core(
        self: Arc<Self>,
        listeners: Vec<std::net::TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        serve_per_core(listeners, shutdown, move |req, client, local| {
            let trigger = self.clone();
            async move { trigger.handle(req, client, local).await }
        })
        .await
    }
}

/// Serves connections from `listener` with `handler` until `shutdown`
/// completes, then lets requests in flight finish (up to
/// [`SHUTDOWN_GRACE`]).
pub async fn serve<H, F>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    handler: H,
) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>, SocketAddr, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ResponseBody>> + Send + 'static,
{
    let local = listener.local_addr()?;
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    // Tells connections still waiting for their first bytes to give up.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                started = wait_for_request_start(&stream) => if !started {
                    tracing::debug!(%client, "no request within {HEADER_READ_TIMEOUT:?}: closed");
                    return;
                },
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
            let service = hyper::service::service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(req, client, local).await) }
            });
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(%client, "connection ended: {err}");
            }
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    tracing::info!("shutting down: waiting for requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all requests finished"),
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; exiting anyway");
        }
    }
    Ok(())
}

/// Binds `workers` listening sockets to `addr` with `SO_REUSEPORT`, for
/// [`serve_per_core`]; the kernel spreads new connections over them. Port 0
/// picks one free port for all of them.
///
/// `SO_REUSEPORT` would also let another process (another `nimbus up` or
/// `nimbus node` of the same user) join the group and silently share the
/// port, so the address is first claimed by a plain socket without it: a port
/// that another process listens on fails here with
/// [`std::io::ErrorKind::AddrInUse`], naming the address.
pub fn bind_per_core(
    addr: SocketAddr,
    workers: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    let socket = |reuse_port: bool| -> std::io::Result<socket2::Socket> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        #[cfg(unix)]
        socket.set_reuse_port(reuse_port)?;
        #[cfg(not(unix))]
        let _ = reuse_port;
        socket.set_nonblocking(true)?;
        Ok(socket)
    };
    let in_use = |addr: SocketAddr| {
        std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("address in use: another process is listening on {addr}"),
        )
    };
    // The claim: fails if any socket, SO_REUSEPORT or not, listens there.
    let claim = socket(false)?;
    match claim.bind(&addr.into()) {
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => return Err(in_use(addr)),
        other => other?,
    }
    let mut addr = claim
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("the bound address is not an IP address"))?;
    // It must go before the group binds: a socket without SO_REUSEPORT keeps
    // every other one off the port, ours included.
    drop(claim);
    let mut listeners: Vec<std::net::TcpListener> = Vec::new();
    for _ in 0..workers.max(1) {
        let socket = socket(true)?;
        match socket.bind(&addr.into()) {
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => return Err(in_use(addr)),
            other => other?,
        }
        socket.listen(1024)?;
        let listener: std::net::TcpListener = socket.into();
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// [`serve`] on one thread per listener (from [`bind_per_core`]), each with
/// its own single-threaded runtime: a connection, its requests, their guests
/// and responses stay on one core, with no wake-ups across threads. Stops
/// every thread when `shutdown` completes, each after its requests in flight.
pub async fn serve_per_core<H, F>(
    listeners: Vec<std::net::TcpListener>,
    shutdown: impl Future<Output = ()>,
    handler: H,
) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>, SocketAddr, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ResponseBody>> + Send + 'static,
{
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut done = Vec::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        let handler = handler.clone();
        let mut stop = stop.clone();
        let (finished, finished_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("nimbus-http-{index}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a serving thread's runtime")
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let listener = TcpListener::from_std(listener)?;
                            let stopped = async move {
                                let _ = stop.wait_for(|stopping| *stopping).await;
                            };
                            serve(listener, stopped, handler).await
                        })
                    });
                let _ = finished.send(result);
            })
            .context("cannot start a serving thread")?;
        done.push(finished_rx);
    }
    shutdown.await;
    let _ = stopping.send(true);
    for finished in done {
        if let Ok(result) = finished.await {
            result?;
        }
    }
    Ok(())
}

/// Waits until `stream` has sent enough to tell HTTP/1 from HTTP/2 (a byte
/// that is not the start of the HTTP/2 preface, or the whole preface), for at
/// most [`HEADER_READ_TIMEOUT`]; `false` when the client sent nothing in time
/// or closed.
///
/// hyper's `header_read_timeout` starts only once the HTTP/1 parser runs, and
/// the version detection before it has no timeout: without this a client
/// that connects and sends nothing (or a part of the preface) would hold its
/// connection, and a file descriptor, forever.
async fn wait_for_request_start(stream: &tokio::net::TcpStream) -> bool {
    const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let deadline = tokio::time::Instant::now() + HEADER_READ_TIMEOUT;
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                if n == H2_PREFACE.len() || buf[..n] != H2_PREFACE[..n] {
                    return true;
                }
                // Part of the preface: `peek` would return at once, so poll.
                let next = tokio::time::Instant::now() + Duration::from_millis(20);
                if next >= deadline {
                    return false;
                }
                tokio::time::sleep_until(next).await;
            }
            // Closed, failed, or timed out.
            _ => return false,
        }
    }
}

/// Makes guest code in `store` yield to its serving thread at every epoch
/// tick (to the back of the queue: `yield_now`), so a guest that computes
/// never holds the thread, and the other requests on it, for its whole
/// timeout; [`with_timeout`] stops it at a yield.
pub(crate) fn yield_every_tick<T>(store: &mut nimbus_runtime::wasmtime::Store<T>) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| {
        Ok(nimbus_runtime::wasmtime::UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
}

/// Runs `fut` for at most `timeout`; `None` when the time ran out.
///
/// Like `tokio::time::timeout`, but the timer is armed only if `fut` does not
/// finish in its first poll: most requests run to completion in one poll
/// (the guest yields or waits only when it computes for longer than an epoch
/// tick or blocks in a host call), so they never touch the timer wheel. The
/// deadline is still counted from the call.
pub(crate) async fn with_timeout<F: Future>(timeout: Duration, fut: F) -> Option<F::Output> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut fut = std::pin::pin!(fut);
    let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(move |cx| {
        if let std::task::Poll::Ready(output) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(output));
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(None),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
    .await
}

fn max_body_size(handler: &Handler) -> Option<u64> {
    match (&handler.executor, handler.component.limits.max_body_size) {
        (_, Some(max)) => Some(max),
        (ExecutorPre::Wagi(_), None) => Some(DEFAULT_WAGI_MAX_BODY),
        (ExecutorPre::Http(_), None) => None,
    }
}

fn content_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A short plain-text response for `status`; the cause is in the log, never
/// in the body.
pub(crate) fn error_response(status: StatusCode) -> Response<ResponseBody> {
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut response = Response::new(full_body(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pub(crate) fn full_body(bytes: Bytes) -> ResponseBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
