//! The `wasi:http/incoming-handler` executor.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use nimbus_capability::InstanceState;
use nimbus_capability::{App, AppComponent};
use nimbus_runtime::wasmtime::component::InstancePre;
use nimbus_runtime::Compiled;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::WasiHttpView;

use crate::access_log::AccessLog;
use crate::body::LimitedBody;
use crate::guest::{instance_store, outcome, with_deadline};
use crate::{error_response, Handler, ParamNames, RequestInfo, ResponseBody};

/// A component linked and pre-instantiated for the proxy world.
pub(crate) struct HttpPre {
    pre: ProxyPre<InstanceState>,
}

impl HttpPre {
    /// `Some` when the component exports `wasi:http/incoming-handler@0.2`.
    pub fn new(pre: &InstancePre<InstanceState>) -> Option<HttpPre> {
        ProxyPre::new(pre.clone()).ok().map(|pre| HttpPre { pre })
    }
}

/// Links `component` for an HTTP route: a component (not a core module)
/// whose imports the app's linker satisfies.
pub(crate) fn link(
    app: &App,
    component: &AppComponent,
) -> anyhow::Result<InstancePre<InstanceState>> {
    let Compiled::Component(compiled) = &*component.compiled else {
        anyhow::bail!(
            "component `{}` is a core module (wasm32-wasip1); a wasi:http route needs a component \
             (wasm32-wasip2). For a plain WASI program, add `executor = {{ type = \"wagi\" }}` to its trigger",
            component.id
        );
    };
    app.linker(&component.compiled)
        .instantiate_pre(compiled)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot link component `{}`", component.id))
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

/// Sets the `spin-*` headers of Spin's request shape, and
/// `spin-path-match-NAME` for each of the route's parameters (`params`, in
/// route order, with their values in `info.params`).
pub(crate) fn add_spin_headers<B>(req: &mut Request<B>, info: RequestInfo, params: &[ParamNames]) {
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
    // Only the router says what a parameter matched: a client's own
    // `spin-path-match-*` headers are dropped (none: nothing allocated).
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(ParamNames::HEADER_PREFIX))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }
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
    for (names, matched) in params.iter().zip(info.params) {
        set(names.header.clone(), value(matched));
    }
}

/// HTTP/1.0 clients may send neither an absolute URI nor a Host header, but
/// a `wasi:http` request (0.2 and 0.3) needs an authority: the address the
/// request arrived on.
pub(crate) fn ensure_host<B>(req: &mut Request<B>, local: std::net::SocketAddr) {
    if req.uri().authority().is_none() && !req.headers().contains_key(http::header::HOST) {
        if let Ok(host) = HeaderValue::try_from(local.to_string()) {
            req.headers_mut().insert(http::header::HOST, host);
        }
    }
}

pub(crate) async fn handle<B>(
    handler: &Arc<Handler>,
    pre: &HttpPre,
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
    let (req, body_exceeded) = {
        let (parts, body) = req.into_parts();
        let (body, exceeded) = LimitedBody::new(body, limits.max_body_size);
        (Request::from_parts(parts, body), exceeded)
    };

    let mut store = match instance_store(component) {
        Ok(store) => store,
        Err(status) => return error_response(status),
    };

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
        let result = with_deadline(timeout, run).await;
        outcome(id.as_str(), &task_log, store.data().limiter_ref(), result)
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

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_manifest::Route;

    /// The request `path` as routed by `route`, with the Spin headers set.
    fn spin_headers(route: &str, uri: &str, sent: &[(&str, &str)]) -> http::HeaderMap {
        let route = Route::parse(route).unwrap();
        let params: Vec<ParamNames> = route
            .params()
            .map(|n| ParamNames::new(n).unwrap())
            .collect();
        let router = crate::Router::new([(route, ())]);
        let mut req = Request::get(uri).header("host", "example.com:8080");
        for (name, value) in sent {
            req = req.header(*name, *value);
        }
        let mut req = req.body(()).unwrap();
        let path = req.uri().path().to_owned();
        let matched = router.route(&path).unwrap();
        let info = RequestInfo::new(
            &matched,
            "127.0.0.1:53152".parse().unwrap(),
            "127.0.0.1:3000".parse().unwrap(),
        );
        add_spin_headers(&mut req, info, &params);
        req.headers().clone()
    }

    fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
        headers.get(name).map(|v| v.to_str().unwrap())
    }

    // The example of Spin's documentation ("Additional Request Information").
    #[test]
    fn spin_headers_of_a_parameterised_route() {
        let h = spin_headers(
            "/users/:userid/cart/...",
            "/users/1/cart/items/3/edit?theme=pink",
            &[],
        );
        assert_eq!(
            header(&h, "spin-full-url"),
            Some("http://example.com:8080/users/1/cart/items/3/edit?theme=pink")
        );
        assert_eq!(header(&h, "spin-path-info"), Some("/items/3/edit"));
        assert_eq!(header(&h, "spin-path-match-userid"), Some("1"));
        assert_eq!(
            header(&h, "spin-matched-route"),
            Some("/users/:userid/cart/...")
        );
        assert_eq!(
            header(&h, "spin-raw-component-route"),
            Some("/users/:userid/cart/...")
        );
        assert_eq!(
            header(&h, "spin-component-route"),
            Some("/users/:userid/cart")
        );
        assert_eq!(header(&h, "spin-base-path"), Some("/"));
        assert_eq!(header(&h, "spin-client-addr"), Some("127.0.0.1:53152"));
    }

    #[test]
    fn parameter_headers_are_lowercase_with_dashes_and_cannot_be_forged() {
        let h = spin_headers(
            "/orgs/:Org_Name/:repo",
            "/orgs/acme/widgets",
            &[
                ("spin-path-match-org-name", "forged"),
                ("spin-path-match-admin", "yes"),
            ],
        );
        assert_eq!(header(&h, "spin-path-match-org-name"), Some("acme"));
        assert_eq!(header(&h, "spin-path-match-repo"), Some("widgets"));
        assert_eq!(h.get_all("spin-path-match-org-name").iter().count(), 1);
        assert_eq!(header(&h, "spin-path-match-admin"), None);
        assert_eq!(header(&h, "spin-path-info"), Some(""));
        assert_eq!(
            header(&h, "spin-component-route"),
            Some("/orgs/:Org_Name/:repo")
        );
    }
}
