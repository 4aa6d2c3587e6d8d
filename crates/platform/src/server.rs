//! The node's two listeners: the public one (apps, routed by host name) and
//! the admin API (JSON, bearer token) with `/metrics`.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use nimbus_trigger_http::{serve, ResponseBody};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;

use crate::node::{Node, Refusal};

/// The largest body of an admin request other than a deploy.
pub const MAX_ADMIN_BODY: u64 = 64 << 10;

/// Serves the apps of `node` on `listeners` (one serving thread each, see
/// [`nimbus_trigger_http::serve_per_core`]).
pub async fn serve_public(
    node: Arc<Node>,
    listeners: Vec<std::net::TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    nimbus_trigger_http::serve_per_core(listeners, shutdown, move |req, client, local| {
        let node = node.clone();
        async move { node.handle(req, client, local).await }
    })
    .await
}

/// Serves the admin API of `node` on `listener`, for holders of `token`.
pub async fn serve_admin(
    node: Arc<Node>,
    token: String,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let token: Arc<[u8; 32]> = Arc::new(Sha256::digest(token.as_bytes()).into());
    serve(listener, shutdown, move |req, _client, _local| {
        let node = node.clone();
        let token = token.clone();
        async move { admin(&node, &token, req).await }
    })
    .await
}

fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<ResponseBody> {
    let mut body = serde_json::to_vec_pretty(value).expect("admin responses serialize");
    body.push(b'\n');
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The documented error body: `{"error": MESSAGE, "reason": CATEGORY}`.
fn error(
    status: StatusCode,
    reason: &'static str,
    message: impl Into<String>,
) -> Response<ResponseBody> {
    json_response(
        status,
        &serde_json::json!({ "error": message.into(), "reason": reason }),
    )
}

fn refusal(refusal: Refusal) -> Response<ResponseBody> {
    json_response(
        refusal.status,
        &serde_json::json!({ "error": refusal.message, "reason": refusal.category }),
    )
}

/// 401 with no detail.
fn unauthorized() -> Response<ResponseBody> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Compares digests of the presented and expected tokens, in time that does
/// not depend on where they differ.
fn authorized<B>(req: &Request<B>, expected: &[u8; 32]) -> bool {
    let Some(value) = req.headers().get(http::header::AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Some(presented) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return false;
    };
    let presented: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
    presented
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

fn content_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads a body of at most `max` bytes (`what` names the limit in the
/// message); `Err` is the response to send. A `Content-Length` over `max` is
/// refused before a byte of the body is read (and, for a client that sent
/// `Expect: 100-continue`, before it sends one).
async fn read_body(
    req: Request<Incoming>,
    max: u64,
    what: &str,
) -> Result<Bytes, Response<ResponseBody>> {
    let iec = |n: u64| bytesize::ByteSize::b(n).display().iec().to_string();
    let too_large = |len: Option<u64>| {
        let size = match len {
            Some(len) => format!(" ({})", iec(len)),
            None => String::new(),
        };
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "size",
            format!("the request body{size} is larger than {}, {what}", iec(max)),
        )
    };
    if let Some(len) = content_length(&req).filter(|len| *len > max) {
        return Err(too_large(Some(len)));
    }
    match Limited::new(req.into_body(), max as usize).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(too_large(None)),
        Err(err) => Err(error(
            StatusCode::BAD_REQUEST,
            "body",
            format!("cannot read the request body: {err}"),
        )),
    }
}

fn query_values(req: &Request<Incoming>, key: &str) -> Vec<String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key && !v.is_empty()).then(|| v.to_owned())
        })
        .collect()
}

async fn admin(node: &Node, token: &[u8; 32], req: Request<Incoming>) -> Response<ResponseBody> {
    // Probes (Kubernetes' liveness and readiness) carry no token.
    if req.method() == Method::GET {
        match req.uri().path() {
            "/healthz" => {
                return json_response(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
            }
            "/readyz" => return readiness(node),
            _ => {}
        }
    }
    if !authorized(&req, token) {
        tracing::warn!(
            target: "nimbus::admin",
            method = %req.method(),
            path = %req.uri().path(),
            "admin request without a valid token: 401"
        );
        return unauthorized();
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = admin_route(node, req).await;
    tracing::info!(
        target: "nimbus::admin",
        %method,
        path,
        status = response.status().as_u16(),
        "admin request"
    );
    response
}

/// `/readyz`: 200 once every app the node must run has started, 503 while
/// starting or draining.
fn readiness(node: &Node) -> Response<ResponseBody> {
    use crate::node::Readiness;
    let (status, word) = match node.readiness() {
        Readiness::Ready => (StatusCode::OK, "ready"),
        Readiness::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        Readiness::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
    };
    json_response(
        status,
        &serde_json::json!({ "status": word, "apps": node.app_count() }),
    )
}

/// The body of `POST /v1/apps/NAME/pull`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PullRequest {
    /// The app's image reference.
    reference: String,
    /// Settings replacing the app's (none given: it keeps what it had).
    #[serde(default)]
    settings: Option<crate::settings::AppSettings>,
}

async fn admin_route(node: &Node, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (segments.as_slice(), &method) {
        (["metrics"], &Method::GET) => {
            let mut response = Response::new(full(node.metrics().encode()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        (["v1", "apps"], &Method::GET) => {
            json_response(StatusCode::OK, &serde_json::json!({ "apps": node.list() }))
        }
        (["v1", "apps", name], &Method::GET) => match node.get(name) {
            Ok(info) => json_response(StatusCode::OK, &info),
            Err(r) => refusal(r),
        },
        (["v1", "apps", name], &Method::PUT) => {
            let name = (*name).to_owned();
            let hostnames = query_values(&req, "hostname");
            let limit = "this node's max_bundle_size";
            let body = match read_body(req, node.config().max_bundle_size, limit).await {
                Ok(body) => body,
                Err(response) => {
                    node.metrics().refused(&name, "size");
                    tracing::warn!(
                        app = name,
                        reason = "size",
                        "deploy refused: bundle too large"
                    );
                    return response;
                }
            };
            match node.deploy(&name, &body, hostnames).await {
                Ok(info) => json_response(StatusCode::OK, &info),
                Err(r) => refusal(r),
            }
        }
        (["v1", "apps", name, "pull"], &Method::POST) => {
            let name = (*name).to_owned();
            let hostnames = query_values(&req, "hostname");
            // Settings may carry migrations: bounded as an upload is.
            let limit = "this node's max_bundle_size";
            let body = match read_body(req, node.config().max_bundle_size, limit).await {
                Ok(body) => body,
                Err(response) => return response,
            };
            let request: PullRequest = match serde_json::from_slice(&body) {
                Ok(request) => request,
                Err(err) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "request",
                        format!("the body is not a pull request ({{\"reference\": \"REGISTRY/REPOSITORY:TAG\"}}): {err}"),
                    )
                }
            };
            match node
                .deploy_from_registry(&name, &request.reference, hostnames, request.settings)
                .await
            {
                Ok(info) => json_response(StatusCode::OK, &info),
                Err(r) => refusal(r),
            }
        }
        (["v1", "apps", name], &Method::DELETE) => match node.remove(name).await {
            Ok(()) => json_response(StatusCode::OK, &serde_json::json!({ "removed": name })),
            Err(r) => refusal(r),
        },
        (["v1", "apps", name, "rollback"], &Method::POST) => {
            let name = (*name).to_owned();
            if let Err(response) =
                read_body(req, MAX_ADMIN_BODY, "the limit for this request").await
            {
                return response;
            }
            match node.rollback(&name).await {
                Ok(info) => json_response(StatusCode::OK, &info),
                Err(r) => refusal(r),
            }
        }
        (["metrics"], _)
        | (["v1", "apps"], _)
        | (["v1", "apps", _], _)
        | (["v1", "apps", _, "rollback"], _)
        | (["v1", "apps", _, "pull"], _) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            format!("{method} is not allowed on {path}"),
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no admin endpoint {path}"),
        ),
    }
}
