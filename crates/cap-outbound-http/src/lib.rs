//! Outbound HTTP: `wasi:http/outgoing-handler`, allowed only to hosts that
//! match the component's `allowed_outbound_hosts`.
//!
//! The policy lives in Wasmtime's `send_request` hook, not in a fork of the
//! HTTP implementation. A denied request fails in the guest with
//! `HttpRequestDenied`; the log tells the operator which manifest entry would
//! allow it.
//!
//! On a multi-tenant node, an allowed host *name* must not lead a guest to the
//! node's own loopback or private network (SSRF): when the host's
//! [`OutboundPolicy`](nimbus_capability::OutboundPolicy) denies private destinations, the hook resolves the name
//! through [`AllowedHosts::resolve`] (the private-address guard of
//! `nimbus-outbound-networking`) and connects only to the checked addresses
//! (never resolving again, so DNS rebinding cannot slip a private address in
//! between). A guest sent to a private address gets `DestinationIpProhibited`.
//! An allow-list entry that is itself an IP literal or CIDR range
//! (`http://127.0.0.1:8080`) is an explicit grant and is honoured either way.
//!
//! This capability also links the `wasi:http` types, which the HTTP trigger
//! uses for incoming requests (as Spin's outbound-http factor does).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt;
use nimbus_capability::{AppContext, Capability, ComponentContext, InstanceBuilder, InstanceState};
use nimbus_outbound_networking::{AllowedHosts, OutboundError, PrivateDestinations};
use nimbus_runtime::wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

mod connect;

type SendFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, SendFuture), Error>;

/// The largest chunk a guest may hand to an outgoing body's stream in one
/// write (Wasmtime's default: 1 MiB). With one chunk buffered, an outgoing
/// body holds at most two chunks of host memory that the guest's `memory`
/// limit does not count.
pub const OUTGOING_BODY_CHUNK_SIZE: usize = 32 << 10;

/// Where an allowed request goes.
#[derive(Debug, Clone)]
struct Target {
    scheme: String,
    host: String,
    port: u16,
}

/// The outbound policy of one component, used as the `wasi:http` hooks of
/// each of its instances. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OutboundHttp {
    hosts: AllowedHosts,
}

impl OutboundHttp {
    /// The policy of one component's allow-list.
    pub fn new(hosts: AllowedHosts) -> Self {
        OutboundHttp { hosts }
    }

    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.hosts.allows(scheme, host, port)
    }

    fn check(&self, uri: &http::Uri) -> Result<Target, Error> {
        let scheme = uri.scheme_str().unwrap_or("https");
        let Some(host) = uri.host() else {
            return Err(Error::HttpRequestUriInvalid);
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(match scheme {
            "http" => 80,
            _ => 443,
        });
        self.hosts.check(scheme, host, port).map_err(http_error)?;
        Ok(Target {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    /// Resolves `target` through the private-address guard.
    async fn resolve(&self, target: &Target) -> Result<Vec<SocketAddr>, Error> {
        self.hosts
            .resolve(&target.scheme, &target.host, target.port)
            .await
            .map_err(http_error)
    }
}

/// The `wasi:http` error code for a refusal of the outbound networking layer.
fn http_error(err: OutboundError) -> Error {
    match err {
        OutboundError::NotAllowed { .. } => Error::HttpRequestDenied,
        OutboundError::Dns { message, .. } => Error::DnsError {
            rcode: Some(message),
            info_code: None,
        },
        OutboundError::NoAddress { .. } => Error::DestinationNotFound,
        OutboundError::PrivateAddress { .. } => Error::DestinationIpProhibited,
    }
}

/// The outbound HTTP capability: `wasi:http/outgoing-handler` (and the
/// `wasi:http` types), allowed per component by `allowed_outbound_hosts`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboundHttpCapability;

impl Capability for OutboundHttpCapability {
    const NAME: &'static str = "outbound-http";
    type RuntimeConfig = ();
    type AppState = ();
    type ComponentState = OutboundHttp;
    type InstanceState = ();

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
        // `wasi:http@0.3.0` (`client`, `types`): the same hooks decide, so a
        // 0.3 guest is granted exactly what a 0.2 guest is (concurrent
        // engine only).
        if nimbus_capability::links_concurrent(linker) {
            wasmtime_wasi_http::p3::add_to_linker(linker)?;
        }
        Ok(())
    }

    fn configure_app(&self, _app: &AppContext<'_>, _config: Option<()>) -> anyhow::Result<()> {
        Ok(())
    }

    /// The component's allow-list, as resolved at load (templates rendered,
    /// the host's policy applied).
    fn configure_component(
        &self,
        _app: &(),
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<OutboundHttp> {
        Ok(OutboundHttp::new(component.allowed_hosts.clone()))
    }

    fn prepare(
        &self,
        component: &OutboundHttp,
        builder: &mut InstanceBuilder,
    ) -> anyhow::Result<()> {
        builder.set_http_hooks(Box::new(component.clone()));
        Ok(())
    }
}

/// Wasmtime's default forbidden-header check builds its list of names and an
/// `Arc` closure on every call (about 10 calls per request); this is the same
/// check on the lowercase name, without allocating.
fn is_default_forbidden(name: &http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "http2-settings"
    )
}

impl WasiHttpHooks for OutboundHttp {
    fn is_forbidden_header(&mut self, name: &http::HeaderName) -> bool {
        is_default_forbidden(name)
    }

    fn forbidden_header_filter(&mut self) -> wasmtime_wasi_http::ForbiddenHeaderFilter {
        static FILTER: std::sync::LazyLock<wasmtime_wasi_http::ForbiddenHeaderFilter> =
            std::sync::LazyLock::new(|| Arc::new(is_default_forbidden));
        FILTER.clone()
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: SendFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let _ = fut;
        let target = match self.check(request.uri()) {
            Ok(target) => target,
            Err(err) => return Box::new(async move { Err(err) }),
        };
        if self.hosts.policy().private_destinations == PrivateDestinations::Allowed {
            return Box::new(async move {
                let (response, io) =
                    wasmtime_wasi_http::default_send_request(request, options).await?;
                Ok((
                    response.map(BodyExt::boxed_unsync),
                    Box::new(io) as SendFuture,
                ))
            });
        }
        let policy = self.clone();
        Box::new(async move {
            let addrs = policy.resolve(&target).await?;
            let (response, io) = connect::send_request_to(&addrs, request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as SendFuture,
            ))
        })
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        OUTGOING_BODY_CHUNK_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_capability::OutboundPolicy;
    use nimbus_manifest::HostPattern;

    #[test]
    fn forbidden_headers_are_wasmtimes_list() {
        for name in wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS {
            assert!(is_default_forbidden(&name), "{name}");
        }
        for name in ["content-type", "authorization", "x-upgrade", "hostname"] {
            let name = http::HeaderName::from_static(name);
            assert!(!is_default_forbidden(&name), "{name}");
        }
        let mut hooks = policy(&[], OutboundPolicy::default());
        assert!(hooks.is_forbidden_header(&http::header::HOST));
        assert!((hooks.forbidden_header_filter())(&http::header::UPGRADE));
    }

    fn policy(patterns: &[&str], policy: OutboundPolicy) -> OutboundHttp {
        let allowed: Vec<HostPattern> = patterns.iter().map(|p| p.parse().unwrap()).collect();
        OutboundHttp::new(AllowedHosts::new("test", allowed.into(), policy))
    }

    #[test]
    fn urls_are_checked_by_scheme_host_and_port() {
        let p = policy(
            &["http://127.0.0.1:8080", "https://*.example.com"],
            OutboundPolicy::default(),
        );
        assert!(p.check(&"http://127.0.0.1:8080/x".parse().unwrap()).is_ok());
        assert!(matches!(
            p.check(&"http://127.0.0.1:8081/x".parse().unwrap()),
            Err(Error::HttpRequestDenied)
        ));
        assert!(p
            .check(&"https://api.example.com/".parse().unwrap())
            .is_ok());
        // No scheme means https, no port the scheme's default.
        assert!(p
            .check(&"http://api.example.com/".parse().unwrap())
            .is_err());
    }

    #[test]
    fn private_destinations_map_to_ip_prohibited() {
        let p = policy(&["http://localhost:8080"], OutboundPolicy::NODE);
        let target = p.check(&"http://localhost:8080/".parse().unwrap()).unwrap();
        let resolved = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(p.resolve(&target));
        assert!(matches!(resolved, Err(Error::DestinationIpProhibited)));
    }
}
