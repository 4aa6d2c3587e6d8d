//! Outbound HTTP: `wasi:http/outgoing-handler`, allowed only to hosts that
//! match the component's `allowed_outbound_hosts`.
//!
//! The policy lives in Wasmtime's `send_request` hook, not in a fork of the
//! HTTP implementation. A denied request fails in the guest with
//! `HttpRequestDenied`; the log tells the operator which manifest entry would
//! allow it.
//!
//! On a multi-tenant node, an allowed host *name* must not lead a guest to the
//! node's own loopback or private network (SSRF): with
//! [`PrivateDestinations::Denied`] the hook resolves the name itself, checks
//! every address it resolved to, and connects only to those checked addresses
//! (never resolving again, so DNS rebinding cannot slip a private address in
//! between). A guest sent to a private address gets `DestinationIpProhibited`.
//! An allow-list entry that is itself an IP literal or CIDR range
//! (`http://127.0.0.1:8080`) is an explicit grant and is honoured either way.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http_body_util::BodyExt;
use nimbus_manifest::{HostMatch, HostPattern};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

mod connect;

type SendFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, SendFuture), Error>;

/// The largest chunk a guest may hand to an outgoing body's stream in one
/// write (Wasmtime's default: 1 MiB). With one chunk buffered, an outgoing
/// body holds at most two chunks of host memory that the guest's `memory`
/// limit does not count.
pub const OUTGOING_BODY_CHUNK_SIZE: usize = 32 << 10;

/// Whether outbound requests may reach loopback, private, link-local and
/// unspecified addresses through a host *name* (or a wildcard) in
/// `allowed_outbound_hosts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateDestinations {
    /// Allowed: `nimbus up` and `nimbus run` (local development, where
    /// `http://localhost:3000` is a normal grant). The default.
    Allowed,
    /// Refused unless an allow-list entry names the address itself (an IP
    /// literal or CIDR range): `nimbus node`, unless its operator passes
    /// `--allow-private-outbound`.
    Denied,
}

static DENY_PRIVATE: AtomicBool = AtomicBool::new(false);

/// Sets the process-wide policy for private destinations that every
/// [`OutboundHttp`] created afterwards uses. The node sets it once at start.
pub fn set_private_destinations(policy: PrivateDestinations) {
    DENY_PRIVATE.store(policy == PrivateDestinations::Denied, Ordering::Relaxed);
}

/// The process-wide policy for private destinations (see
/// [`set_private_destinations`]).
pub fn private_destinations() -> PrivateDestinations {
    if DENY_PRIVATE.load(Ordering::Relaxed) {
        PrivateDestinations::Denied
    } else {
        PrivateDestinations::Allowed
    }
}

/// True for addresses a guest must not reach on a multi-tenant node unless
/// granted by address: loopback, RFC 1918 private, link-local, unspecified,
/// "this network" (0/8), carrier-grade NAT (100.64/10), broadcast; IPv6
/// loopback, unspecified, unique-local (fc00::/7), link-local (fe80::/10),
/// and IPv4-mapped / IPv4-compatible forms of the IPv4 ones.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            a == 127
                || a == 10
                || a == 0
                || (a == 172 && (16..=31).contains(&b))
                || (a == 192 && b == 168)
                || (a == 169 && b == 254)
                || (a == 100 && (64..=127).contains(&b))
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            // `::`, `::1` and the deprecated IPv4-compatible `::a.b.c.d`.
            if segments[..6].iter().all(|s| *s == 0) {
                let v4 = std::net::Ipv4Addr::from(u128::from(v6) as u32);
                return is_private(IpAddr::V4(v4));
            }
            (segments[0] & 0xfe00) == 0xfc00 || (segments[0] & 0xffc0) == 0xfe80
        }
    }
}

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
    component: Arc<str>,
    allowed: Arc<[HostPattern]>,
    private: PrivateDestinations,
}

impl OutboundHttp {
    /// The policy for `component`, allowing `allowed` (empty: no network),
    /// with the process-wide [`private_destinations`] policy.
    pub fn new(component: impl Into<Arc<str>>, allowed: Arc<[HostPattern]>) -> Self {
        OutboundHttp {
            component: component.into(),
            allowed,
            private: private_destinations(),
        }
    }

    /// The same policy with `private` for private destinations.
    pub fn with_private_destinations(mut self, private: PrivateDestinations) -> Self {
        self.private = private;
        self
    }

    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.allowed.iter().any(|p| p.allows(scheme, host, port))
    }

    /// Whether an entry names `ip` itself (an IP literal or a CIDR range
    /// holding it) for `scheme` and `port`: an explicit grant of that address.
    fn grants_address(&self, scheme: &str, ip: IpAddr, port: u16) -> bool {
        let host = ip.to_string();
        self.allowed.iter().any(|p| {
            matches!(p.host(), HostMatch::Ip(_) | HostMatch::Cidr(..))
                && p.allows(scheme, &host, port)
        })
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
        if self.allows(scheme, host, port) {
            return Ok(Target {
                scheme: scheme.to_owned(),
                host: host.to_owned(),
                port,
            });
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

    /// Resolves `target` and checks every address: all must be public, or
    /// granted by address. The request then goes to these addresses only.
    async fn resolve(&self, target: &Target) -> Result<Vec<SocketAddr>, Error> {
        let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, target.port)],
            Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|err| {
                    tracing::debug!(component = %self.component, "cannot resolve {}: {err}", target.host);
                    Error::DnsError {
                        rcode: Some(err.to_string()),
                        info_code: None,
                    }
                })?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(Error::DestinationNotFound);
        }
        if let Some(private) = addrs
            .iter()
            .find(|a| is_private(a.ip()) && !self.grants_address(&target.scheme, a.ip(), a.port()))
        {
            let ip = private.ip();
            let literal = match ip {
                IpAddr::V4(_) => ip.to_string(),
                IpAddr::V6(_) => format!("[{ip}]"),
            };
            tracing::warn!(
                component = %self.component,
                "outbound request to {}://{}:{} denied: {} resolves to {ip}, a loopback/private address, \
                 and this node does not allow private destinations; to allow this address, add \
                 \"{}://{literal}:{}\" to allowed_outbound_hosts in [component.{}] of the manifest, or \
                 start the node with --allow-private-outbound",
                target.scheme,
                target.host,
                target.port,
                target.host,
                target.scheme,
                target.port,
                self.component
            );
            return Err(Error::DestinationIpProhibited);
        }
        Ok(addrs)
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
        if self.private == PrivateDestinations::Allowed {
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

    #[test]
    fn forbidden_headers_are_wasmtimes_list() {
        for name in wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS {
            assert!(is_default_forbidden(&name), "{name}");
        }
        for name in ["content-type", "authorization", "x-upgrade", "hostname"] {
            let name = http::HeaderName::from_static(name);
            assert!(!is_default_forbidden(&name), "{name}");
        }
        let mut hooks = policy(&[]);
        assert!(hooks.is_forbidden_header(&http::header::HOST));
        assert!((hooks.forbidden_header_filter())(&http::header::UPGRADE));
    }

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

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "100.127.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip} is private");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip} is public");
        }
    }

    fn resolve(p: &OutboundHttp, url: &str) -> Result<Vec<SocketAddr>, Error> {
        let target = p.check(&url.parse().unwrap())?;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(p.resolve(&target))
    }

    #[test]
    fn names_resolving_to_private_addresses_are_refused_only_when_denied() {
        let denied = policy(&[
            "http://localhost:8080",
            "http://127.0.0.1:9000",
            "http://*:7000",
        ])
        .with_private_destinations(PrivateDestinations::Denied);
        assert!(matches!(
            resolve(&denied, "http://localhost:8080/"),
            Err(Error::DestinationIpProhibited)
        ));
        // A wildcard is no grant of the loopback address.
        assert!(matches!(
            resolve(&denied, "http://127.0.0.1:7000/"),
            Err(Error::DestinationIpProhibited)
        ));
        // An IP literal in the list is an explicit grant.
        let addrs = resolve(&denied, "http://127.0.0.1:9000/").unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:9000".parse().unwrap()]);
        // Names resolving to public addresses pass (no network needed for
        // an IP literal).
        let public =
            policy(&["http://*:80"]).with_private_destinations(PrivateDestinations::Denied);
        assert!(resolve(&public, "http://8.8.8.8/").is_ok());
    }
}
