//! Where a guest may connect.
//!
//! - [`AllowedHosts`]: one component's `allowed_outbound_hosts` (entries as
//!   Spin writes them: `scheme://host:port`, wildcards, IP literals and CIDR
//!   ranges), checked for every connection a guest asks for; a denial logs
//!   the manifest entry that would allow it.
//! - [`OutboundPolicy`]: what the host adds to every allow-list: whether a
//!   host *name* may lead to loopback and private addresses. It is passed in
//!   (a node denies them, `nimbus up` allows them), never process-wide, so two
//!   apps with different policies can live in one process.
//! - [`AllowedHosts::resolve`]: name resolution with the private-address
//!   guard. A client connects only to the addresses it returns (never
//!   resolving again, so DNS rebinding cannot slip a private address in
//!   between).
//!
//! - [`resolve_allowed_hosts`]: entries written as variable templates
//!   (`"redis://{{ host }}:6379"`), rendered from the app's variables and
//!   parsed when the app is loaded; a missing variable or an invalid result
//!   refuses the app.
//!
//! - [`AllowedHosts::check_socket`] and [`AllowedHosts::allows_lookup`]:
//!   which `wasi:sockets` destinations and name lookups an allow-list grants
//!   (entries with scheme `tcp://`, `udp://` or `*://`, as Spin reads them),
//!   with the same private-address guard.
//!
//! - [`AllowedHosts::authorize`]: both steps for a service client (Redis,
//!   PostgreSQL, MySQL, MQTT): the grant, then the guarded addresses to
//!   connect to, within [`CONNECT_TIMEOUT`].
//!
//! Every outbound client goes through this crate: outbound HTTP,
//! `wasi:sockets`, and the outbound service capabilities.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use nimbus_manifest::{HostMatch, HostPattern};

mod sockets;
mod templates;

pub use sockets::Transport;
pub use templates::{resolve_allowed_hosts, TemplateError, VariableValue};

/// How long an outbound service client (Redis, PostgreSQL, MySQL, MQTT) may
/// take to connect before the guest gets the interface's connection error:
/// a server that is down or unreachable answers the guest quickly, never
/// with a hang.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most connections one instance may hold open at once to the outbound
/// services of one kind (Redis, PostgreSQL, …); past it, opening another
/// fails with the interface's error. Connections are resources of the
/// instance: they go back to the app's pool when the guest drops them or the
/// request ends.
pub const MAX_CONNECTIONS_PER_INSTANCE: usize = 16;

/// How many connections one instance holds open to the outbound services of
/// one kind, bounded by [`MAX_CONNECTIONS_PER_INSTANCE`]: each service's
/// instance state has one, takes a place per `open` and gives it back when
/// the guest drops the connection (or the open failed).
#[derive(Debug, Default)]
pub struct ConnectionBudget {
    open: usize,
}

impl ConnectionBudget {
    /// Takes a place for one more connection: `false` when the instance
    /// holds [`MAX_CONNECTIONS_PER_INSTANCE`] already.
    pub fn try_take(&mut self) -> bool {
        if self.open >= MAX_CONNECTIONS_PER_INSTANCE {
            return false;
        }
        self.open += 1;
        true
    }

    /// Gives a place back.
    pub fn give_back(&mut self) {
        self.open = self.open.saturating_sub(1);
    }

    /// How many places are taken.
    pub fn taken(&self) -> usize {
        self.open
    }
}

/// Whether outbound connections may reach loopback, private, link-local and
/// unspecified addresses through a host *name* (or a wildcard) in
/// `allowed_outbound_hosts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrivateDestinations {
    /// Allowed: `nimbus up` and `nimbus run` (local development, where
    /// `http://localhost:3000` is a normal grant). The default.
    #[default]
    Allowed,
    /// Refused unless an allow-list entry names the address itself (an IP
    /// literal or CIDR range): `nimbus node`, unless its operator passes
    /// `--allow-private-outbound`.
    Denied,
}

/// The host's outbound policy, applied on top of every component's
/// allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboundPolicy {
    /// Whether names may resolve to private addresses.
    pub private_destinations: PrivateDestinations,
}

impl OutboundPolicy {
    /// The policy of a multi-tenant node: private destinations denied.
    pub const NODE: OutboundPolicy = OutboundPolicy {
        private_destinations: PrivateDestinations::Denied,
    };
}

/// How logs and messages name a server: `scheme://host:port`, an IPv6
/// literal in brackets; never credentials (it is given none).
pub fn endpoint(scheme: &str, host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("{scheme}://[{host}]:{port}")
    } else {
        format!("{scheme}://{host}:{port}")
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

/// Why an outbound connection was refused or could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// No `allowed_outbound_hosts` entry matches.
    #[error("{scheme}://{host}:{port} is not in allowed_outbound_hosts")]
    NotAllowed {
        /// The scheme asked for.
        scheme: String,
        /// The host asked for.
        host: String,
        /// The port asked for.
        port: u16,
    },
    /// The name could not be resolved.
    #[error("cannot resolve {host}: {message}")]
    Dns {
        /// The name.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// The name resolved to no address.
    #[error("{host} resolves to no address")]
    NoAddress {
        /// The name.
        host: String,
    },
    /// The name resolved to a private address, which the policy denies.
    #[error("{host} resolves to {ip}, a loopback/private address")]
    PrivateAddress {
        /// The name.
        host: String,
        /// The private address.
        ip: IpAddr,
    },
}

/// One component's allow-list under the host's policy. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    component: Arc<str>,
    allowed: Arc<[HostPattern]>,
    policy: OutboundPolicy,
}

impl AllowedHosts {
    /// The allow-list `allowed` (empty: no network) of `component`, under
    /// `policy`.
    pub fn new(
        component: impl Into<Arc<str>>,
        allowed: Arc<[HostPattern]>,
        policy: OutboundPolicy,
    ) -> AllowedHosts {
        AllowedHosts {
            component: component.into(),
            allowed,
            policy,
        }
    }

    /// The component this allow-list belongs to.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The host's policy.
    pub fn policy(&self) -> OutboundPolicy {
        self.policy
    }

    /// Whether a connection to `scheme://host:port` is allowed by an entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.allowed.iter().any(|p| p.allows(scheme, host, port))
    }

    /// [`AllowedHosts::allows`], logging a denial with the entry to add to the
    /// manifest.
    pub fn check(&self, scheme: &str, host: &str, port: u16) -> Result<(), OutboundError> {
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
        Err(OutboundError::NotAllowed {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    /// What a service client does before connecting to
    /// `scheme://host:port`: [`AllowedHosts::check`] (a denial is logged
    /// with the entry to add), then [`AllowedHosts::resolve`] with the
    /// private-address guard. Connect only to the addresses returned.
    pub async fn authorize(
        &self,
        scheme: &str,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, OutboundError> {
        self.check(scheme, host, port)?;
        self.resolve(scheme, host, port).await
    }

    /// Whether an entry names `ip` itself (an IP literal or a CIDR range
    /// holding it) for `scheme` and `port`: an explicit grant of that address.
    pub fn grants_address(&self, scheme: &str, ip: IpAddr, port: u16) -> bool {
        let host = ip.to_string();
        self.allowed.iter().any(|p| {
            matches!(p.host(), HostMatch::Ip(_) | HostMatch::Cidr(..))
                && p.allows(scheme, &host, port)
        })
    }

    /// Resolves `host` (already [checked](AllowedHosts::check)) and, when the
    /// policy denies private destinations, checks every address: all must be
    /// public, or granted by address. Connect only to the addresses returned.
    /// A private address refused is logged with the entry that would allow it.
    pub async fn resolve(
        &self,
        scheme: &str,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, OutboundError> {
        let result = self.resolve_quietly(scheme, host, port).await;
        if let Err(OutboundError::PrivateAddress { ip, .. }) = &result {
            tracing::warn!(
                component = %self.component,
                "outbound request to {scheme}://{host}:{port} denied: {}",
                self.private_hint(scheme, host, *ip, port)
            );
        }
        result
    }

    /// [`AllowedHosts::resolve`] without the log line: the caller says what
    /// was refused (sockets log once per destination).
    pub(crate) async fn resolve_quietly(
        &self,
        scheme: &str,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, OutboundError> {
        let addrs = self.lookup(host, port).await?;
        self.guard(scheme, host, &addrs)?;
        Ok(addrs)
    }

    /// The addresses of `host` (a name, or an IP literal) with `port`; at
    /// least one.
    pub(crate) async fn lookup(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, OutboundError> {
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|err| {
                    tracing::debug!(component = %self.component, "cannot resolve {host}: {err}");
                    OutboundError::Dns {
                        host: host.to_owned(),
                        message: err.to_string(),
                    }
                })?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(OutboundError::NoAddress {
                host: host.to_owned(),
            });
        }
        Ok(addrs)
    }

    /// The private-address guard: when the policy denies private
    /// destinations, every address `host` resolved to must be public, or
    /// granted by address.
    pub(crate) fn guard(
        &self,
        scheme: &str,
        host: &str,
        addrs: &[SocketAddr],
    ) -> Result<(), OutboundError> {
        if self.policy.private_destinations == PrivateDestinations::Allowed {
            return Ok(());
        }
        match addrs
            .iter()
            .find(|a| is_private(a.ip()) && !self.grants_address(scheme, a.ip(), a.port()))
        {
            Some(private) => Err(OutboundError::PrivateAddress {
                host: host.to_owned(),
                ip: private.ip(),
            }),
            None => Ok(()),
        }
    }

    /// Why `host` (resolving to the private address `ip`) was refused, and
    /// how to allow it.
    pub(crate) fn private_hint(&self, scheme: &str, host: &str, ip: IpAddr, port: u16) -> String {
        let literal = match ip {
            IpAddr::V4(_) => ip.to_string(),
            IpAddr::V6(_) => format!("[{ip}]"),
        };
        let what = if host.parse::<IpAddr>().is_ok() {
            format!("{host} is a loopback/private address")
        } else {
            format!("{host} resolves to {ip}, a loopback/private address")
        };
        format!(
            "{what}, and this node does not allow private destinations; to allow this \
             address, add \"{scheme}://{literal}:{port}\" to allowed_outbound_hosts in \
             [component.{}] of the manifest, or start the node with --allow-private-outbound",
            self.component
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_bracket_ipv6_literals() {
        assert_eq!(
            endpoint("redis", "127.0.0.1", 6379),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(endpoint("nats", "::1", 4222), "nats://[::1]:4222");
        assert_eq!(endpoint("mqtt", "[::1]", 1883), "mqtt://[::1]:1883");
        assert_eq!(
            endpoint("nats", "db.internal", 4222),
            "nats://db.internal:4222"
        );
    }

    fn hosts(patterns: &[&str], policy: OutboundPolicy) -> AllowedHosts {
        let allowed: Vec<HostPattern> = patterns.iter().map(|p| p.parse().unwrap()).collect();
        AllowedHosts::new("test", allowed.into(), policy)
    }

    #[test]
    fn empty_list_denies_everything() {
        let p = hosts(&[], OutboundPolicy::default());
        assert!(p.check("http", "127.0.0.1", 8080).is_err());
        assert!(p.check("https", "example.com", 443).is_err());
    }

    #[test]
    fn matches_scheme_host_and_port() {
        let p = hosts(
            &["http://127.0.0.1:8080", "https://*.example.com"],
            OutboundPolicy::default(),
        );
        assert!(p.check("http", "127.0.0.1", 8080).is_ok());
        assert!(p.check("http", "127.0.0.1", 8081).is_err());
        assert!(p.check("https", "127.0.0.1", 8080).is_err());
        assert!(p.check("https", "api.example.com", 443).is_ok());
        assert!(p.check("http", "api.example.com", 80).is_err());
        assert!(p.check("https", "example.org", 443).is_err());
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

    fn resolve(p: &AllowedHosts, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(p.resolve("http", host, port))
    }

    #[test]
    fn names_resolving_to_private_addresses_are_refused_only_when_denied() {
        let patterns = [
            "http://localhost:8080",
            "http://127.0.0.1:9000",
            "http://*:7000",
        ];
        let denied = hosts(&patterns, OutboundPolicy::NODE);
        assert!(matches!(
            resolve(&denied, "localhost", 8080),
            Err(OutboundError::PrivateAddress { .. })
        ));
        // A wildcard is no grant of the loopback address.
        assert!(matches!(
            resolve(&denied, "127.0.0.1", 7000),
            Err(OutboundError::PrivateAddress { .. })
        ));
        // An IP literal in the list is an explicit grant.
        let addrs = resolve(&denied, "127.0.0.1", 9000).unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:9000".parse().unwrap()]);
        // Public addresses pass (no network needed for an IP literal).
        let public = hosts(&["http://*:80"], OutboundPolicy::NODE);
        assert!(resolve(&public, "8.8.8.8", 80).is_ok());
        // Two policies in one process: the same list allows loopback when
        // private destinations are allowed.
        let allowed = hosts(&patterns, OutboundPolicy::default());
        assert!(resolve(&allowed, "127.0.0.1", 7000).is_ok());
    }
}
