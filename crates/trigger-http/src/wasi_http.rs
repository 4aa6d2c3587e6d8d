//! The `wasi:http/incoming-handler` executor.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use nimbus_app::AppComponent;
use nimbus_cap_outbound_http::OutboundHttp;
use nimbus_runtime::wasmtime::component::{Linker, ResourceTable};
use nimbus_runtime::wasmtime::{Engine, Store};
use nimbus_runtime::{Compiled, MemoryLimiter};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use nimbus_app::AppServices;
use nimbus_cap_key_value::{KeyValueInstance, KeyValueView};
use nimbus_cap_sqlite::{SqliteInstance, SqliteView};
use nimbus_cap_variables::VariablesInstance;

use crate::access_log::AccessLog;
use crate::body::LimitedBody;
use crate::{error_response, Handler, RequestInfo, ResponseBody};

/// The most bytes (in memory) of one `fields` resource (Wasmtime's default:
/// 128 KiB). With the resource cap of [`nimbus_cap_wasi::resource_table`], it
/// bounds the host memory a request can hold through handles.
const MAX_FIELDS_SIZE: usize = 32 << 10;

/// Per-request store state of a `wasi:http` component: one field per
/// capability, each a cheap per-component view of the app's state.
pub(crate) struct HttpState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    outbound: OutboundHttp,
    key_value: KeyValueInstance,
    sqlite: SqliteInstance,
    variables: VariablesInstance,
}

impl WasiView for HttpState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HttpState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// A component linked and pre-instantiated for the proxy world.
pub(crate) struct HttpPre {
    pre: ProxyPre<HttpState>,
    outbound: OutboundHttp,
    // The component's views of the app's services, resolved once here; a
    // request clones them (a few `Arc`s).
    key_value: KeyValueInstance,
    sqlite: SqliteInstance,
    variables: VariablesInstance,
}

/// The linker of every `wasi:http` component: the host functions are the
/// same for all of them, so it is built once per engine, not per component
/// (a node loads thousands of apps).
fn linker(engine: &Engine) -> anyhow::Result<Arc<Linker<HttpState>>> {
    static LINKERS: Mutex<Vec<(Engine, Arc<Linker<HttpState>>)>> = Mutex::new(Vec::new());
    let mut linkers = LINKERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, linker)) = linkers.iter().find(|(e, _)| Engine::same(e, engine)) {
        return Ok(linker.clone());
    }
    let mut linker = Linker::<HttpState>::new(engine);
    // Rust's std on wasip2 imports the CLI interfaces even in an HTTP
    // component; they get only what the manifest grants.
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)?;
    nimbus_cap_key_value::add_to_linker(&mut linker, |s: &mut HttpState| KeyValueView {
        instance: &mut s.key_value,
        table: &mut s.table,
    })
    .map_err(anyhow::Error::from)?;
    nimbus_cap_sqlite::add_to_linker(&mut linker, |s: &mut HttpState| SqliteView {
        instance: &mut s.sqlite,
        table: &mut s.table,
    })
    .map_err(anyhow::Error::from)?;
    nimbus_cap_variables::add_to_linker(&mut linker, |s: &mut HttpState| &mut s.variables)
        .map_err(anyhow::Error::from)?;
    let linker = Arc::new(linker);
    linkers.push((engine.clone(), linker.clone()));
    Ok(linker)
}

impl HttpPre {
    pub fn new(
        engine: &Engine,
        component: &AppComponent,
        services: &AppServices,
    ) -> anyhow::Result<HttpPre> {
        let Compiled::Component(compiled) = &*component.compiled else {
            anyhow::bail!(
                "component `{}` is a core module (wasm32-wasip1); a wasi:http route needs a component \
                 (wasm32-wasip2). For a plain WASI program, add `executor = {{ type = \"wagi\" }}` to its trigger",
                component.id
            );
        };
        let linker = linker(engine)?;
        let pre = linker
            .instantiate_pre(compiled)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot link component `{}`", component.id))?;
        let pre = ProxyPre::new(pre).map_err(anyhow::Error::from).with_context(|| {
            format!(
                "component `{}` does not export wasi:http/incoming-handler; is it an HTTP component?",
                component.id
            )
        })?;
        Ok(HttpPre {
            pre,
            outbound: OutboundHttp::new(
                component.id.as_str(),
                component.allowed_outbound_hosts.clone(),
            ),
            key_value: services.key_value.instance(component.id.as_str()),
            sqlite: services.sqlite.instance(component.id.as_str()),
            variables: services.variables.instance(component.id.as_str()),
        })
    }
}

// The `spin-*` headers Spin guests read; any a client sent are replaced.
// Constant names: `from_static` validates its argument, so not per request.
const SPIN_FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
const SPIN_PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
const SPIN_MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
const SPIN_BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
const SPIN_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
const SPIN_RAW_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-raw-component-route");
const SPIN_CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");

fn add_spin_headers<B>(req: &mut Request<B>, info: RequestInfo) {
    use std::fmt::Write as _;
    let mut full_url = String::with_capacity(64);
    full_url.push_str("http://");
    let _ = match req.uri().authority() {
        Some(authority) => write!(full_url, "{authority}"),
        None => match req.headers().get(http::header::HOST).map(|h| h.to_str()) {
            Some(Ok(host)) => write!(full_url, "{host}"),
            _ => write!(full_url, "{}", info.local),
        },
    };
    full_url.push_str(req.uri().path_and_query().map_or("/", |p| p.as_str()));
    // `from_maybe_shared` takes the strings' buffers without copying them.
    let value = |text: String| HeaderValue::from_maybe_shared(bytes::Bytes::from(text)).ok();
    let raw_route = value(info.raw_route);
    let headers = req.headers_mut();
    let mut set = |name: HeaderName, value: Option<HeaderValue>| {
        // `insert` replaces every value a client sent under that name.
        match value {
            Some(value) => headers.insert(name, value),
            None => headers.remove(name),
        };
    };
    set(SPIN_FULL_URL, value(full_url));
    set(SPIN_PATH_INFO, value(info.path_info));
    set(SPIN_MATCHED_ROUTE, raw_route.clone());
    set(SPIN_BASE_PATH, Some(HeaderValue::from_static("/")));
    set(SPIN_COMPONENT_ROUTE, value(info.component_route));
    set(SPIN_RAW_COMPONENT_ROUTE, raw_route);
    set(SPIN_CLIENT_ADDR, value(info.client.to_string()));
}

pub(crate) async fn handle(
    engine: &Engine,
    handler: &Arc<Handler>,
    pre: &HttpPre,
    mut req: Request<Incoming>,
    info: RequestInfo,
    permit: Option<OwnedSemaphorePermit>,
    log: Arc<AccessLog>,
) -> Response<ResponseBody> {
    let component = &handler.component;
    let limits = &component.limits;
    // HTTP/1.0 clients may send neither an absolute URI nor a Host header;
    // wasi:http needs an authority.
    if req.uri().authority().is_none() && !req.headers().contains_key(http::header::HOST) {
        if let Ok(host) = HeaderValue::try_from(info.local.to_string()) {
            req.headers_mut().insert(http::header::HOST, host);
        }
    }
    add_spin_headers(&mut req, info);
    let (req, body_exceeded) = {
        let (parts, body) = req.into_parts();
        let (body, exceeded) = LimitedBody::new(body, limits.max_body_size);
        (Request::from_parts(parts, body), exceeded)
    };

    let state = HttpState {
        wasi: component.wasi.finish(component.wasi.builder()),
        http: {
            let mut http = WasiHttpCtx::new();
            http.set_field_size_limit(MAX_FIELDS_SIZE);
            http
        },
        table: nimbus_cap_wasi::resource_table(),
        limiter: MemoryLimiter::new(limits.memory),
        outbound: pre.outbound.clone(),
        key_value: pre.key_value.clone(),
        sqlite: pre.sqlite.clone(),
        variables: pre.variables.clone(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    crate::yield_every_tick(&mut store);

    let (sender, receiver) = tokio::sync::oneshot::channel();
    let resources = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)
        .and_then(|req| Ok((req, store.data_mut().http().new_response_outparam(sender)?)));
    let (guest_req, outparam) = match resources {
        Ok(resources) => resources,
        Err(err) => {
            tracing::debug!(component = %component.id, "bad request: {err:#}");
            return error_response(StatusCode::BAD_REQUEST);
        }
    };

    let proxy_pre = pre.pre.clone();
    let timeout = limits.timeout;
    let id = component.id.clone();
    let task_log = log.clone();
    let task = tokio::spawn(async move {
        let _permit = permit;
        let run = async {
            let started = std::time::Instant::now();
            let proxy = proxy_pre.instantiate_async(&mut store).await?;
            task_log.set_instantiate(started.elapsed());
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, guest_req, outparam)
                .await
        };
        let result = match timeout {
            // Stops guest code (at its next epoch yield) and a guest
            // waiting in a host call (e.g. on an outbound request).
            Some(timeout) => crate::with_timeout(timeout, run)
                .await
                .unwrap_or_else(|| Err(nimbus_runtime::wasmtime::Trap::Interrupt.into())),
            None => run.await,
        };
        task_log.set_memory(store.data().limiter.peak());
        let failure = result.err().map(|err| {
            let denied = store.data().limiter.denied();
            let status = crate::wagi::failure_status(&err);
            tracing::warn!(
                component = %id,
                "guest failed ({status}): {}{}",
                describe(&err),
                crate::wagi::memory_note(denied)
            );
            status
        });
        failure
    });

    // One timer per request: the guest's task has the deadline, and when it
    // stops the guest the response sender is dropped, which ends this wait.
    match receiver.await {
        Ok(Ok(response)) => {
            if body_exceeded.load(Ordering::Relaxed) {
                return error_response(StatusCode::PAYLOAD_TOO_LARGE);
            }
            response.map(|body| {
                body.map_err(|code| anyhow::anyhow!("{code:?}"))
                    .boxed_unsync()
            })
        }
        Ok(Err(code)) => {
            if body_exceeded.load(Ordering::Relaxed) {
                return error_response(StatusCode::PAYLOAD_TOO_LARGE);
            }
            tracing::warn!(component = %component.id, "guest answered with an error: {code:?}");
            error_response(StatusCode::INTERNAL_SERVER_ERROR)
        }
        // The guest never set a response (or was stopped): its task says why.
        Err(_) => {
            if body_exceeded.load(Ordering::Relaxed) {
                return error_response(StatusCode::PAYLOAD_TOO_LARGE);
            }
            match task.await {
                Ok(Some(status)) => error_response(status),
                Ok(None) => {
                    tracing::warn!(component = %component.id, "guest returned without setting a response");
                    error_response(StatusCode::INTERNAL_SERVER_ERROR)
                }
                Err(err) => {
                    tracing::error!(component = %component.id, "guest task failed: {err}");
                    error_response(StatusCode::INTERNAL_SERVER_ERROR)
                }
            }
        }
    }
}

/// The error and its causes on one line, without Wasmtime's backtrace block.
pub(crate) fn describe(err: &nimbus_runtime::wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.starts_with("error while executing at wasm backtrace") {
            continue;
        }
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}
