//! `wasi:sockets`: which TCP and UDP destinations, and which name lookups,
//! an allow-list grants.
//!
//! The rule is Spin's (`spin-factor-outbound-networking`): a socket's
//! destination is checked as the URL `tcp://ADDR:PORT` (a TCP connection) or
//! `udp://ADDR:PORT` (a UDP datagram), so an entry grants sockets when its
//! scheme is `*` or the transport's own (`"*://10.0.0.0/8:5000"`,
//! `"tcp://db.internal:5432"`, `"udp://*:53"`), and never through another
//! scheme (`"https://example.com"` grants no socket). Beyond Spin:
//!
//! - An entry naming a host (`"tcp://db.internal:5432"`) grants the
//!   addresses that name resolves to when the socket is checked, through the
//!   private-address guard of [`AllowedHosts::resolve`] (a node refuses a
//!   name that leads to a loopback or private address).
//! - A name may be looked up (`wasi:sockets/ip-name-lookup`) only when an
//!   entry that grants sockets names it (exactly, as a subdomain, or `*`).
//! - As for HTTP, a wildcard host is no grant of a private address on a node;
//!   an IP literal or CIDR range is.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use nimbus_manifest::{HostMatch, HostPattern, SchemePattern};

use crate::{is_private, AllowedHosts, OutboundError, PrivateDestinations};

/// The transport of a socket a guest opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP: a connection.
    Tcp,
    /// UDP: datagrams.
    Udp,
}

impl Transport {
    /// The scheme that grants it in `allowed_outbound_hosts` besides `*`:
    /// `tcp` or `udp`.
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
        })
    }
}

/// True if `pattern` grants sockets of `transport` to some host: scheme `*`
/// or the transport's, host anything but `self`.
fn grants(pattern: &HostPattern, transport: Transport) -> bool {
    let scheme = match pattern.scheme() {
        SchemePattern::Any => true,
        SchemePattern::Exact(s) => s == transport.scheme(),
    };
    scheme && !matches!(pattern.host(), HostMatch::App)
}

/// `ip:port`, IPv6 in brackets.
fn show(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

impl AllowedHosts {
    /// Whether some entry grants sockets of `transport` (scheme `*`, `tcp`
    /// or `udp`), to any destination.
    pub fn grants_sockets(&self, transport: Transport) -> bool {
        self.allowed.iter().any(|p| grants(p, transport))
    }

    /// Whether the guest may look host name `name` up: an entry that grants
    /// sockets (of either transport, to any port) names it exactly, as a
    /// subdomain (`*.example.com`) or with the host `*`. `name` is what the
    /// resolver will be asked (callers normalise it first: lowercase ASCII,
    /// IDNA applied).
    pub fn allows_lookup(&self, name: &str) -> bool {
        self.allowed.iter().any(|p| {
            (grants(p, Transport::Tcp) || grants(p, Transport::Udp))
                && matches!(
                    p.host(),
                    HostMatch::Any | HostMatch::Name(_) | HostMatch::Subdomains(_)
                )
                && p.allows_host(name)
        })
    }

    /// The part of [`AllowedHosts::check_socket`] that needs no name
    /// resolution: `Some` when an entry matches `addr` by address (an IP
    /// literal, a CIDR range or the host `*`), with the private-address
    /// guard applied; `None` when only an entry naming a host could grant
    /// it. Cheap: fit for every datagram a UDP socket receives.
    pub fn check_socket_address(
        &self,
        transport: Transport,
        addr: SocketAddr,
    ) -> Option<Result<(), OutboundError>> {
        let scheme = transport.scheme();
        let ip = addr.ip().to_canonical();
        let port = addr.port();
        let host = ip.to_string();
        let granted = self
            .allowed
            .iter()
            .any(|p| grants(p, transport) && p.allows(scheme, &host, port));
        if !granted {
            return None;
        }
        if self.policy.private_destinations == PrivateDestinations::Denied
            && is_private(ip)
            && !self.grants_address(scheme, ip, port)
        {
            return Some(Err(OutboundError::PrivateAddress { host, ip }));
        }
        Some(Ok(()))
    }

    /// Checks a socket destination: a TCP connection to `addr`, or a UDP
    /// datagram sent to it. Allowed when an entry grants it by address (see
    /// [`AllowedHosts::check_socket_address`]), or when an entry names a
    /// host (`tcp://db.internal:5432`, or one of `names`, the names this
    /// guest looked up, matched by any entry) that resolves to `addr`'s
    /// address now, through the private-address guard of
    /// [`AllowedHosts::resolve`]. IPv4-mapped IPv6 addresses are checked as
    /// the IPv4 address they carry.
    ///
    /// Logs nothing: the caller logs a refusal (once per destination), with
    /// [`AllowedHosts::socket_denial`].
    pub async fn check_socket(
        &self,
        transport: Transport,
        addr: SocketAddr,
        names: &[String],
    ) -> Result<(), OutboundError> {
        if let Some(result) = self.check_socket_address(transport, addr) {
            return result;
        }
        let scheme = transport.scheme();
        let ip = addr.ip().to_canonical();
        let port = addr.port();
        let mut candidates: Vec<&str> = Vec::new();
        for pattern in self.allowed.iter() {
            if let HostMatch::Name(name) = pattern.host() {
                if grants(pattern, transport) && pattern.allows(scheme, name, port) {
                    candidates.push(name);
                }
            }
        }
        for name in names {
            let granted = self
                .allowed
                .iter()
                .any(|p| grants(p, transport) && p.allows(scheme, name, port));
            if granted {
                candidates.push(name);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut refusal = None;
        for name in candidates {
            let addrs = match self.lookup(name, port).await {
                Ok(addrs) => addrs,
                Err(err) => {
                    tracing::debug!(component = %self.component, "{transport} to {}: {err}", show(ip, port));
                    continue;
                }
            };
            if !addrs.iter().any(|a| a.ip().to_canonical() == ip) {
                continue;
            }
            // The name leads to this address: the guard decides, as for
            // every other client.
            match self.guard(scheme, name, &addrs) {
                Ok(()) => return Ok(()),
                Err(_) if is_private(ip) => {
                    refusal = Some(OutboundError::PrivateAddress {
                        host: name.to_owned(),
                        ip,
                    });
                }
                Err(err) => refusal = Some(err),
            }
        }
        Err(refusal.unwrap_or(OutboundError::NotAllowed {
            scheme: scheme.to_owned(),
            host: ip.to_string(),
            port,
        }))
    }

    /// Why a socket to `addr` was refused with `err` (from
    /// [`AllowedHosts::check_socket`]) and which entry would allow it, for
    /// the log: e.g. `TCP connection to 127.0.0.1:5000 denied: it is not in
    /// allowed_outbound_hosts; to allow it, add "tcp://127.0.0.1:5000" to
    /// allowed_outbound_hosts in [component.web] of the manifest`.
    pub fn socket_denial(
        &self,
        transport: Transport,
        addr: SocketAddr,
        err: &OutboundError,
    ) -> String {
        let ip = addr.ip().to_canonical();
        let port = addr.port();
        let scheme = transport.scheme();
        let what = match transport {
            Transport::Tcp => "TCP connection",
            Transport::Udp => "UDP datagram",
        };
        let destination = show(ip, port);
        match err {
            OutboundError::PrivateAddress { host, ip } => format!(
                "{what} to {destination} denied: {}",
                self.private_hint(scheme, host, *ip, port)
            ),
            _ => format!(
                "{what} to {destination} denied: it is not in allowed_outbound_hosts; to allow \
                 it, add \"{scheme}://{destination}\" (or \"{scheme}://HOST:{port}\" for the \
                 host name it belongs to) to allowed_outbound_hosts in [component.{}] of the \
                 manifest",
                self.component
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OutboundPolicy;

    fn hosts(patterns: &[&str], policy: OutboundPolicy) -> AllowedHosts {
        let allowed: Vec<HostPattern> = patterns.iter().map(|p| p.parse().unwrap()).collect();
        AllowedHosts::new("web", allowed.into(), policy)
    }

    fn check(
        h: &AllowedHosts,
        t: Transport,
        addr: &str,
        names: &[&str],
    ) -> Result<(), OutboundError> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(h.check_socket(t, addr.parse().unwrap(), &names))
    }

    use Transport::{Tcp, Udp};

    #[test]
    fn schemes_grant_sockets_as_spin_reads_them() {
        let h = hosts(
            &[
                "tcp://127.0.0.1:5000",
                "udp://127.0.0.1:5353",
                "*://10.0.0.0/8:6000",
                "https://127.0.0.1:7000",
                "redis://127.0.0.1:6379",
            ],
            OutboundPolicy::default(),
        );
        assert!(h.grants_sockets(Tcp) && h.grants_sockets(Udp));
        assert!(check(&h, Tcp, "127.0.0.1:5000", &[]).is_ok());
        assert!(check(&h, Udp, "127.0.0.1:5000", &[]).is_err());
        assert!(check(&h, Udp, "127.0.0.1:5353", &[]).is_ok());
        assert!(check(&h, Tcp, "127.0.0.1:5353", &[]).is_err());
        assert!(check(&h, Tcp, "10.200.3.4:6000", &[]).is_ok());
        assert!(check(&h, Udp, "10.200.3.4:6000", &[]).is_ok());
        assert!(check(&h, Tcp, "11.0.0.1:6000", &[]).is_err());
        assert!(check(&h, Tcp, "10.0.0.1:6001", &[]).is_err());
        // Other schemes grant no socket.
        assert!(check(&h, Tcp, "127.0.0.1:7000", &[]).is_err());
        assert!(check(&h, Tcp, "127.0.0.1:6379", &[]).is_err());
        // IPv4-mapped IPv6 is the IPv4 address.
        assert!(check(&h, Tcp, "[::ffff:127.0.0.1]:5000", &[]).is_ok());

        let http_only = hosts(
            &["https://example.com", "http://self"],
            OutboundPolicy::default(),
        );
        assert!(!http_only.grants_sockets(Tcp) && !http_only.grants_sockets(Udp));
        assert!(!http_only.allows_lookup("example.com"));
    }

    #[test]
    fn lookups_need_an_entry_that_grants_sockets_to_the_name() {
        let h = hosts(
            &[
                "tcp://db.internal:5432",
                "*://*.example.com:443",
                "https://api.other.com",
            ],
            OutboundPolicy::default(),
        );
        assert!(h.allows_lookup("db.internal"));
        assert!(h.allows_lookup("a.example.com"));
        assert!(!h.allows_lookup("example.com"));
        assert!(!h.allows_lookup("api.other.com"));
        assert!(!h.allows_lookup("evil.com"));
        let any = hosts(&["udp://*:53"], OutboundPolicy::default());
        assert!(any.allows_lookup("anything.example"));
    }

    #[test]
    fn names_grant_the_addresses_they_resolve_to() {
        let h = hosts(&["tcp://localhost:5000"], OutboundPolicy::default());
        assert!(check(&h, Tcp, "127.0.0.1:5000", &[]).is_ok());
        assert!(check(&h, Tcp, "127.0.0.1:5001", &[]).is_err());
        assert!(check(&h, Tcp, "10.1.1.1:5000", &[]).is_err());
        // A name the guest looked up, granted by a subdomain entry.
        let sub = hosts(&["tcp://*.localhost:5000"], OutboundPolicy::default());
        if std::net::ToSocketAddrs::to_socket_addrs(&("a.localhost", 0)).is_ok() {
            assert!(check(&sub, Tcp, "127.0.0.1:5000", &["a.localhost"]).is_ok());
        }
        assert!(check(&sub, Tcp, "127.0.0.1:5000", &[]).is_err());
    }

    #[test]
    fn the_private_address_guard_applies() {
        let node = hosts(
            &["tcp://localhost:5000", "*://*:6000", "tcp://127.0.0.1:7000"],
            OutboundPolicy::NODE,
        );
        // A name and a wildcard are no grant of loopback on a node…
        let err = check(&node, Tcp, "127.0.0.1:5000", &[]).unwrap_err();
        assert!(matches!(err, OutboundError::PrivateAddress { .. }), "{err}");
        let message = node.socket_denial(Tcp, "127.0.0.1:5000".parse().unwrap(), &err);
        assert!(
            message.contains("localhost resolves to 127.0.0.1, a loopback/private address")
                && message.contains("--allow-private-outbound"),
            "{message}"
        );
        let err = check(&node, Udp, "127.0.0.1:6000", &[]).unwrap_err();
        assert!(matches!(err, OutboundError::PrivateAddress { .. }), "{err}");
        // …an IP literal is.
        assert!(check(&node, Tcp, "127.0.0.1:7000", &[]).is_ok());
        // Public addresses pass the wildcard (no network needed).
        assert!(check(&node, Udp, "8.8.8.8:6000", &[]).is_ok());
    }

    #[test]
    fn denials_say_which_entry_to_add() {
        let h = hosts(&[], OutboundPolicy::default());
        let addr: SocketAddr = "[::1]:9000".parse().unwrap();
        let err = check(&h, Udp, "[::1]:9000", &[]).unwrap_err();
        let message = h.socket_denial(Udp, addr, &err);
        assert!(
            message.starts_with("UDP datagram to [::1]:9000 denied: it is not in allowed_outbound_hosts; to allow it, add \"udp://[::1]:9000\""),
            "{message}"
        );
        assert!(message.contains("[component.web]"), "{message}");
    }
}
