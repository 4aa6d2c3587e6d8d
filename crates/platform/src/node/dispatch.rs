//! Public requests: each goes to the app its host name belongs to.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use nimbus_trigger_http::ResponseBody;

use super::registry::LiveApp;
use super::Node;

impl Node {
    /// The app a host name belongs to: `NAME.DOMAIN`, or a custom hostname.
    fn app_for_host(&self, host: &str) -> Option<Arc<LiveApp>> {
        let routes = self.read_routes();
        if let Some(name) = routes.by_host.get(host) {
            return routes.by_name.get(name).cloned();
        }
        let name = host.strip_suffix(&self.config.domain)?.strip_suffix('.')?;
        if name.is_empty() || name.contains('.') {
            return None;
        }
        routes.by_name.get(name).cloned()
    }

    /// Handles one public request: finds the app by host name, loads its
    /// code if needed, and lets its trigger handle the request.
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Response<ResponseBody> {
        let app = request_host(&req).and_then(|host| self.app_for_host(&host));
        let Some(app) = app else {
            self.metrics.unrouted();
            let host = request_host(&req).unwrap_or_default();
            tracing::info!(
                target: "nimbus::access",
                method = %req.method(),
                path = %req.uri().path(),
                host = %host,
                status = 404,
                "no app for this host"
            );
            let domain = &self.config.domain;
            let shown = if host.is_empty() {
                "this request names no host".to_owned()
            } else {
                format!("no app answers on host {host}")
            };
            return text_response(
                StatusCode::NOT_FOUND,
                format!(
                    "404 Not Found: {shown}; apps on this node are reached as NAME.{domain} \
                     (Host: NAME.{domain}), or on the custom hostnames they were deployed with\n"
                ),
            );
        };
        match self.trigger_for(&app).await {
            Ok(trigger) => trigger.handle(req, client, local).await,
            Err(err) => {
                tracing::error!(app = %app.name, "cannot load the app: {err:#}");
                text_response(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable\n")
            }
        }
    }
}

/// The host a request is for, lowercase and without port: the URI's
/// authority (HTTP/2, absolute-form) or the `Host` header.
fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = match req.uri().authority() {
        Some(authority) => authority.host().to_owned(),
        None => {
            let value = req.headers().get(http::header::HOST)?.to_str().ok()?;
            let authority: http::uri::Authority = value.parse().ok()?;
            authority.host().to_owned()
        }
    };
    let host = raw.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// A short plain-text response.
pub fn text_response(status: StatusCode, text: impl Into<bytes::Bytes>) -> Response<ResponseBody> {
    use http_body_util::BodyExt as _;
    let body = http_body_util::Full::new(text.into())
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_from_the_authority_or_header() {
        let req = Request::get("/")
            .header("host", "Shop.LocalHost:3000")
            .body(())
            .unwrap();
        assert_eq!(request_host(&req).as_deref(), Some("shop.localhost"));
        let req = Request::get("http://a.example.com/x").body(()).unwrap();
        assert_eq!(request_host(&req).as_deref(), Some("a.example.com"));
        let req = Request::get("/").body(()).unwrap();
        assert_eq!(request_host(&req), None);
    }
}
