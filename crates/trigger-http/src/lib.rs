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
mod config;
mod guest;
mod router;
mod server;
mod wagi;
mod wasi_http;
mod wasi_http3;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use nimbus_capability::{App, AppComponent};
use nimbus_manifest::Executor;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use access_log::{RequestObserver, RequestRecord};
pub use config::{http_settings, http_triggers, HttpSettings, HttpTriggerConfig, TRIGGER_TYPE};
pub use router::{RouteMatch, Router};
pub use server::{bind_per_core, serve, serve_per_core, HEADER_READ_TIMEOUT, SHUTDOWN_GRACE};

use crate::access_log::AccessLog;

/// The body of every response nimbus sends.
pub type ResponseBody = UnsyncBoxBody<Bytes, anyhow::Error>;

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
    /// The route's parameters, in route order, under the names guests see.
    params: Box<[ParamNames]>,
}

/// What a route parameter `:NAME` is passed as, computed once at load:
/// Spin's header `spin-path-match-NAME` (lowercase, `_` as `-`) and WAGI's
/// variable `X_PATH_MATCH_NAME` (uppercase), as Spin names them.
struct ParamNames {
    header: http::HeaderName,
    wagi: String,
}

impl ParamNames {
    /// The prefix of every parameter header; a client's headers under it
    /// are dropped before the router's are set.
    const HEADER_PREFIX: &'static str = "spin-path-match-";

    fn new(name: &str) -> anyhow::Result<ParamNames> {
        let header = format!(
            "{}{}",
            Self::HEADER_PREFIX,
            name.to_ascii_lowercase().replace('_', "-")
        );
        let header = http::HeaderName::from_bytes(header.as_bytes())
            .with_context(|| format!("route parameter {name:?} cannot be a header name"))?;
        Ok(ParamNames {
            header,
            wagi: format!("X_PATH_MATCH_{}", name.to_ascii_uppercase()),
        })
    }
}

enum ExecutorPre {
    Http(wasi_http::HttpPre),
    Http3(wasi_http3::Http3Pre),
    Wagi(wagi::WagiPre),
}

/// The HTTP trigger for one app.
pub struct HttpTrigger {
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
    /// The path segments the route's parameters matched, in the order of
    /// [`Handler::params`].
    pub params: Vec<String>,
}

impl RequestInfo {
    fn new<T>(matched: &RouteMatch<'_, T>, client: SocketAddr, local: SocketAddr) -> RequestInfo {
        RequestInfo {
            client,
            local,
            raw_route: matched.raw_route.to_owned(),
            component_route: matched.component_route.to_owned(),
            path_info: matched.path_info.to_owned(),
            params: matched
                .params()
                .map(|(_, value)| value.to_owned())
                .collect(),
        }
    }
}

impl HttpTrigger {
    /// Links and pre-instantiates every routed component of `app`.
    ///
    /// Timeouts need the engines' epochs to advance: the caller keeps an
    /// [`nimbus_runtime::EpochTicker`] running for the app host's engines
    /// (each component runs on the engine it was compiled for) while
    /// serving. A
    /// component that does not fit its executor (a module routed as
    /// `wasi:http`, a missing import) is refused here, naming it.
    pub fn new(app: Arc<App>) -> anyhow::Result<HttpTrigger> {
        let mut semaphores = std::collections::HashMap::new();
        let mut routes = Vec::new();
        for trigger in http_triggers(app.manifest())? {
            let component = app
                .component(trigger.component.as_str())
                .with_context(|| format!("no component `{}`", trigger.component))?
                .clone();
            let executor = match &trigger.executor {
                Executor::Http => http_executor(&app, &component)?,
                Executor::Wagi { argv, entrypoint } => ExecutorPre::Wagi(wagi::WagiPre::new(
                    component.compiled.engine(),
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
            let params = trigger
                .route
                .params()
                .map(ParamNames::new)
                .collect::<anyhow::Result<_>>()?;
            routes.push((
                trigger.route.clone(),
                Arc::new(Handler {
                    component,
                    executor,
                    concurrency,
                    params,
                }),
            ));
        }
        Ok(HttpTrigger {
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

    /// Handles one request from `client` that arrived on `local`. `req`'s
    /// body is hyper's `Incoming` when served, or any body in tests (e.g.
    /// `Full<Bytes>`): routing, Spin headers, limits and status mapping are
    /// tested in-process, without sockets.
    pub async fn handle<B>(
        &self,
        req: Request<B>,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Response<ResponseBody>
    where
        B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_owned();
        let mut log = AccessLog::start(req.method().clone(), &path, self.observer.clone());
        let Some(matched) = self.router.route(&path) else {
            log.finish(StatusCode::NOT_FOUND);
            return error_response(StatusCode::NOT_FOUND);
        };
        let handler = matched.target.clone();
        log.component(handler.component.id.as_str());
        let info = RequestInfo::new(&matched, client, local);

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
        // Stores are of the engine the component was compiled for.
        let engine = handler.component.compiled.engine();
        let response = match &handler.executor {
            ExecutorPre::Http(pre) => {
                wasi_http::handle(&handler, pre, req, info, permit, log.clone()).await
            }
            ExecutorPre::Http3(pre) => {
                wasi_http3::handle(&handler, pre, req, info, permit, log.clone()).await
            }
            ExecutorPre::Wagi(pre) => {
                wagi::handle(engine, &handler, pre, req, info, permit, log.clone()).await
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

    /// Binds `workers` listeners to `addr` (see [`bind_per_core`]), ready
    /// to run as one of the app's triggers.
    pub fn bind(
        self: Arc<Self>,
        addr: SocketAddr,
        workers: usize,
    ) -> anyhow::Result<BoundHttpTrigger> {
        let listeners =
            bind_per_core(addr, workers).with_context(|| format!("cannot listen on {addr}"))?;
        let local = listeners
            .first()
            .context("no listener")?
            .local_addr()
            .context("cannot read the bound address")?;
        Ok(BoundHttpTrigger {
            trigger: self,
            listeners,
            local,
        })
    }
}

/// An HTTP trigger with its listeners bound: `nimbus up` prints where it
/// serves, then runs it with the app's other triggers.
pub struct BoundHttpTrigger {
    trigger: Arc<HttpTrigger>,
    listeners: Vec<std::net::TcpListener>,
    local: SocketAddr,
}

impl BoundHttpTrigger {
    /// The address it listens on (the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl nimbus_trigger::Trigger for BoundHttpTrigger {
    fn trigger_type(&self) -> &'static str {
        TRIGGER_TYPE
    }

    fn run(self: Box<Self>, shutdown: nimbus_trigger::Shutdown) -> nimbus_trigger::TriggerFuture {
        Box::pin(self.trigger.serve_per_core(self.listeners, shutdown.wait()))
    }
}

/// The executor for a `wasi:http` route: the 0.3 handler when the component
/// exports it (WASI 0.3, Spin SDK 6 and later), else the 0.2
/// incoming-handler.
fn http_executor(app: &App, component: &AppComponent) -> anyhow::Result<ExecutorPre> {
    let pre = wasi_http::link(app, component)?;
    if let Some(pre) = wasi_http3::Http3Pre::new(&pre) {
        return Ok(ExecutorPre::Http3(pre));
    }
    match wasi_http::HttpPre::new(&pre) {
        Some(pre) => Ok(ExecutorPre::Http(pre)),
        None => anyhow::bail!(
            "component `{}` exports neither wasi:http/incoming-handler@0.2 nor wasi:http/handler@0.3.0; is it an HTTP component?",
            component.id
        ),
    }
}

fn max_body_size(handler: &Handler) -> Option<u64> {
    match (&handler.executor, handler.component.limits.max_body_size) {
        (_, Some(max)) => Some(max),
        (ExecutorPre::Wagi(_), None) => Some(DEFAULT_WAGI_MAX_BODY),
        (ExecutorPre::Http(_) | ExecutorPre::Http3(_), None) => None,
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
