//! The WAGI executor: a plain `wasm32-wasip1` module run as a CGI program.
//! The request arrives in CGI environment variables and on stdin; the
//! response is parsed from stdout (headers, a blank line, the body).

use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use nimbus_capability::AppComponent;
use nimbus_capability::ModuleState;
use nimbus_manifest::Executor;
use nimbus_runtime::wasmtime::{Engine, InstancePre, Linker, Store};
use nimbus_runtime::{one_line, Compiled};
use percent_encoding::percent_decode_str;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::I32Exit;

use crate::access_log::AccessLog;
use crate::body::BoxError;
use crate::guest::{failure_status, memory_note, with_deadline};
use crate::{
    error_response, full_body, Handler, ParamNames, RequestInfo, ResponseBody, WAGI_MAX_OUTPUT,
};

/// A module linked and pre-instantiated for WAGI.
pub(crate) struct WagiPre {
    pre: InstancePre<ModuleState>,
    argv: String,
    entrypoint: String,
}

impl WagiPre {
    pub fn new(
        engine: &Engine,
        component: &AppComponent,
        argv: Option<String>,
        entrypoint: Option<String>,
    ) -> anyhow::Result<WagiPre> {
        let Compiled::Module(module) = &*component.compiled else {
            anyhow::bail!(
                "component `{}` is a component (wasm32-wasip2); the WAGI executor runs core modules \
                 (wasm32-wasip1). Remove `executor = {{ type = \"wagi\" }}` to serve it as wasi:http",
                component.id
            );
        };
        let entrypoint = entrypoint.unwrap_or_else(|| Executor::WAGI_DEFAULT_ENTRYPOINT.to_owned());
        if module.get_export(&entrypoint).is_none() {
            anyhow::bail!(
                "component `{}` has no export `{entrypoint}` to use as the WAGI entrypoint",
                component.id
            );
        }
        let mut linker = Linker::<ModuleState>::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state| &mut state.wasi)
            .map_err(anyhow::Error::from)?;
        let pre = linker
            .instantiate_pre(module)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot link component `{}`", component.id))?;
        Ok(WagiPre {
            pre,
            argv: argv.unwrap_or_else(|| Executor::WAGI_DEFAULT_ARGV.to_owned()),
            entrypoint,
        })
    }
}

/// The CGI variables of a request, with Spin's WAGI additions: `X_*` for the
/// route (as the `spin-*` headers of the HTTP executor) and
/// `X_PATH_MATCH_NAME` for each of the route's parameters (`params`, in
/// route order, with their values in `info.params`).
fn cgi_environment(
    req: &http::request::Parts,
    info: &RequestInfo,
    params: &[ParamNames],
    body_len: usize,
) -> Vec<(String, String)> {
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| info.local.to_string());
    let path_and_query = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let query = req.uri.query().unwrap_or("");
    let header = |name: http::HeaderName| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut env: Vec<(String, String)> = vec![
        ("AUTH_TYPE".into(), String::new()),
        ("CONTENT_LENGTH".into(), body_len.to_string()),
        ("CONTENT_TYPE".into(), header(http::header::CONTENT_TYPE)),
        ("GATEWAY_INTERFACE".into(), "CGI/1.1".into()),
        (
            "PATH_INFO".into(),
            percent_decode_str(&info.path_info)
                .decode_utf8_lossy()
                .into_owned(),
        ),
        ("PATH_TRANSLATED".into(), info.path_info.clone()),
        ("QUERY_STRING".into(), query.to_owned()),
        ("REMOTE_ADDR".into(), info.client.ip().to_string()),
        ("REMOTE_HOST".into(), info.client.ip().to_string()),
        ("REMOTE_USER".into(), String::new()),
        ("REQUEST_METHOD".into(), req.method.to_string()),
        ("SCRIPT_NAME".into(), info.component_route.clone()),
        (
            "SERVER_NAME".into(),
            host.split(':').next().unwrap_or("").to_owned(),
        ),
        ("SERVER_PORT".into(), info.local.port().to_string()),
        ("SERVER_PROTOCOL".into(), format!("{:?}", req.version)),
        (
            "SERVER_SOFTWARE".into(),
            concat!("Nimbus/", env!("CARGO_PKG_VERSION")).into(),
        ),
        (
            "X_FULL_URL".into(),
            format!("http://{host}{path_and_query}"),
        ),
        ("X_MATCHED_ROUTE".into(), info.raw_route.clone()),
        ("X_RAW_PATH_INFO".into(), info.path_info.clone()),
        ("X_COMPONENT_ROUTE".into(), info.component_route.clone()),
        ("X_RAW_COMPONENT_ROUTE".into(), info.raw_route.clone()),
        ("X_BASE_PATH".into(), "/".into()),
        ("X_CLIENT_ADDR".into(), info.client.to_string()),
    ];
    for (names, matched) in params.iter().zip(&info.params) {
        env.push((names.wagi.clone(), matched.clone()));
    }
    for (name, value) in &req.headers {
        // As CGI does: not the body's headers (they have their own variables).
        if name == http::header::CONTENT_TYPE || name == http::header::CONTENT_LENGTH {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        let key = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        env.push((key, value.to_owned()));
    }
    env
}

/// argv from the executor's template: `${SCRIPT_NAME}` and `${ARGS}` (the
/// query string's `&`-separated terms, percent-decoded).
fn argv(template: &str, script_name: &str, query: &str) -> Vec<String> {
    let args: Vec<String> = query
        .split('&')
        .filter(|term| !term.is_empty())
        .map(|term| {
            percent_decode_str(&term.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let mut argv = Vec::new();
    for word in template.split_whitespace() {
        match word {
            "${SCRIPT_NAME}" => argv.push(script_name.to_owned()),
            "${ARGS}" => argv.extend(args.iter().cloned()),
            other => argv.push(other.to_owned()),
        }
    }
    argv
}

pub(crate) async fn handle<B>(
    engine: &Engine,
    handler: &Arc<Handler>,
    pre: &WagiPre,
    req: Request<B>,
    info: RequestInfo,
    permit: Option<OwnedSemaphorePermit>,
    log: Arc<AccessLog>,
) -> Response<ResponseBody>
where
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    let _permit = permit;
    let component = &handler.component;
    let limits = &component.limits;
    let (parts, body) = req.into_parts();
    let max_body = crate::max_body_size(handler).unwrap_or(crate::DEFAULT_WAGI_MAX_BODY);
    let (body, exceeded) = crate::body::LimitedBody::new(body, Some(max_body));
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) if exceeded.load(std::sync::atomic::Ordering::Relaxed) => {
            tracing::warn!(component = %component.id, "request body larger than {max_body} bytes: 413");
            return error_response(StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(err) => {
            tracing::debug!(component = %component.id, "cannot read the request body: {err}");
            return error_response(StatusCode::BAD_REQUEST);
        }
    };

    let mut builder = match component.services.instance_builder(limits.memory) {
        Ok(builder) => builder,
        Err(err) => {
            tracing::error!(component = %component.id, "cannot prepare an instance: {}", one_line(&err));
            return error_response(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    builder
        .wasi
        .args(&argv(
            &pre.argv,
            &info.component_route,
            parts.uri.query().unwrap_or(""),
        ))
        .envs(&cgi_environment(&parts, &info, &handler.params, body.len()))
        .stdin(MemoryInputPipe::new(body));
    let stdout = MemoryOutputPipe::new(WAGI_MAX_OUTPUT);
    builder.wasi.stdout(stdout.clone());
    let mut store = Store::new(engine, builder.build_module());
    store.limiter(|state| state.limiter());
    nimbus_runtime::yield_every_tick(&mut store);

    let run = async {
        let started = std::time::Instant::now();
        let instance = pre.pre.instantiate_async(&mut store).await?;
        log.set_instantiate(started.elapsed());
        let entry = instance.get_typed_func::<(), ()>(&mut store, &pre.entrypoint)?;
        entry.call_async(&mut store, ()).await
    };
    let result = with_deadline(limits.timeout, run).await;
    log.set_memory(store.data().limiter_ref().peak());
    match result {
        Ok(()) => {}
        Err(err) if err.downcast_ref::<I32Exit>().is_some_and(|e| e.0 == 0) => {}
        Err(err) if err.downcast_ref::<I32Exit>().is_some() => {
            tracing::warn!(component = %component.id, "WAGI program {}", one_line(&err));
        }
        Err(err) => {
            let denied = store.data().limiter_ref().denied();
            let status = failure_status(&err);
            tracing::warn!(
                component = %component.id,
                "guest failed ({status}): {}{}",
                one_line(&err),
                memory_note(denied)
            );
            return error_response(status);
        }
    }
    drop(store);
    let output: Bytes = stdout.contents();
    match nimbus_cgi::parse(output) {
        Ok(cgi) => {
            let mut response = Response::new(full_body(cgi.body));
            *response.status_mut() = cgi.status;
            *response.headers_mut() = cgi.headers;
            response
        }
        Err(err) => {
            tracing::warn!(component = %component.id, "invalid WAGI response: {err}");
            error_response(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_from_template() {
        assert_eq!(
            argv("${SCRIPT_NAME} ${ARGS}", "/hello", "a=1&b+c&%41"),
            vec!["/hello", "a=1", "b c", "A"]
        );
        assert_eq!(argv("${SCRIPT_NAME} ${ARGS}", "/x", ""), vec!["/x"]);
        assert_eq!(argv("prog --flag", "/x", "q"), vec!["prog", "--flag"]);
    }

    #[test]
    fn cgi_variables_of_a_parameterised_route() {
        let route = nimbus_manifest::Route::parse("/users/:userid/cart/...").unwrap();
        let params: Vec<ParamNames> = route
            .params()
            .map(|n| ParamNames::new(n).unwrap())
            .collect();
        let router = crate::Router::new([(route, ())]);
        let (parts, ()) = Request::get("/users/1/cart/items/3%20x?theme=pink")
            .header("host", "example.com:8080")
            .header("spin-path-match-userid", "forged")
            .body(())
            .unwrap()
            .into_parts();
        let matched = router.route(parts.uri.path()).unwrap();
        let info = RequestInfo::new(
            &matched,
            "127.0.0.1:53152".parse().unwrap(),
            "127.0.0.1:3000".parse().unwrap(),
        );
        let env = cgi_environment(&parts, &info, &params, 0);
        let var = |name: &str| {
            let mut values = env
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str());
            let value = values.next();
            assert_eq!(values.next(), None, "{name} is set twice");
            value
        };
        assert_eq!(var("X_PATH_MATCH_USERID"), Some("1"));
        assert_eq!(var("PATH_INFO"), Some("/items/3 x"));
        assert_eq!(var("X_RAW_PATH_INFO"), Some("/items/3%20x"));
        assert_eq!(var("SCRIPT_NAME"), Some("/users/:userid/cart"));
        assert_eq!(var("X_MATCHED_ROUTE"), Some("/users/:userid/cart/..."));
        assert_eq!(
            var("X_RAW_COMPONENT_ROUTE"),
            Some("/users/:userid/cart/...")
        );
        assert_eq!(var("X_COMPONENT_ROUTE"), Some("/users/:userid/cart"));
        assert_eq!(
            var("X_FULL_URL"),
            Some("http://example.com:8080/users/1/cart/items/3%20x?theme=pink")
        );
        assert_eq!(var("X_CLIENT_ADDR"), Some("127.0.0.1:53152"));
        // A client's header stays a header: it cannot pose as a match.
        assert_eq!(var("HTTP_SPIN_PATH_MATCH_USERID"), Some("forged"));
    }
}
