//! Outbound HTTP: `wasi:http/outgoing-handler`, allowed only to hosts that
//! match the component's `allowed_outbound_hosts`.
//!
//! The policy lives in Wasmtime's `send_request` hook, not in a fork of the
//! HTTP implementation. A denied request fails in the guest with
//! `HttpRequestDenied`; the log tells the operator which manifest entry would
//! allow it.

use std::future::Future;
use std::sync::Arc;

use http_body_util::BodyExt;
use nimbus_manifest::HostPattern;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

type SendFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, SendFuture), Error>;

/// The outbound policy of one component, used as the `wasi:http` hooks of
/// each of its instances. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OutboundHttp {
    component: Arc<str>,
    allowed: Arc<[HostPattern]>,
}

impl OutboundHttp {
    /// The policy for `component`, allowing `allowed` (empty: no network).
    pub fn new(component: impl Into<Arc<str>>, allowed: Arc<[HostPattern]>) -> Self {
        OutboundHttp {
            component: component.into(),
            allowed,
        }
    }

    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.allowed.iter().any(|p| p.allows(scheme, host, port))
    }

    fn check(&self, uri: &http::Uri) -> Result<(), Error> {
        let scheme = uri.scheme_str().unwrap_or("https");
        let Some(host) = uri.host() else {
            return Err(Error::HttpRequestUriInvalid);
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(match scheme {
            "http" => 80,
            _ => 443,
        });
        if self.allows(scheme, host, port) {
            return Ok(());
        }
        let default_port = matches!((scheme, port), ("http", 80) | ("https", 443));
        let suggestion = if default_port {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:{port}")
        };
        tracing::warn!(
            component = %self.component,
            "outbound request to {scheme}://{host}:{port} denied: it is not in allowed_outbound_hosts; \
             to allow it, add \"{suggestion}\" to allowed_outbound_hosts in [component.{}] of the manifest",
            self.component
        );
        Err(Error::HttpRequestDenied)
    }
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: SendFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let _ = fut;
        if let Err(err) = self.check(request.uri()) {
            return Box::new(async move { Err(err) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as SendFuture,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(patterns: &[&str]) -> OutboundHttp {
        let allowed: Vec<HostPattern> = patterns.iter().map(|p| p.parse().unwrap()).collect();
        OutboundHttp::new("test", allowed.into())
    }

    #[test]
    fn empty_list_denies_everything() {
        let p = policy(&[]);
        assert!(p.check(&"http://127.0.0.1:8080/".parse().unwrap()).is_err());
        assert!(p.check(&"https://example.com/".parse().unwrap()).is_err());
    }

    #[test]
    fn matches_scheme_host_and_port() {
        let p = policy(&["http://127.0.0.1:8080", "https://*.example.com"]);
        assert!(p.check(&"http://127.0.0.1:8080/x".parse().unwrap()).is_ok());
        assert!(p
            .check(&"http://127.0.0.1:8081/x".parse().unwrap())
            .is_err());
        assert!(p
            .check(&"https://127.0.0.1:8080/x".parse().unwrap())
            .is_err());
        assert!(p
            .check(&"https://api.example.com/".parse().unwrap())
            .is_ok());
        assert!(p
            .check(&"http://api.example.com/".parse().unwrap())
            .is_err());
        assert!(p.check(&"https://example.org/".parse().unwrap()).is_err());
    }
}
