//! `wasi:sockets` by grant: TCP connections and UDP datagrams to what the
//! component's `allowed_outbound_hosts` grants, name lookups of the names it
//! grants, and nothing else.
//!
//! # What is granted
//!
//! The rule (which entries grant which destinations, the private-address
//! guard) is `nimbus-outbound-networking`'s ([`AllowedHosts::check_socket`]):
//! an entry with scheme `tcp://` (TCP), `udp://` (UDP) or `*://` (both), as
//! Spin reads it, for its host (an IP literal, a CIDR range, `*`, or a name,
//! resolved when the socket is checked) and port.
//!
//! | Wasmtime's [`SocketAddrUse`] | allowed when |
//! |---|---|
//! | `TcpConnect`, `UdpSend` | the destination is granted (checked once per destination per instance, then remembered) |
//! | `UdpReceive` | the datagram comes from a destination this instance was allowed to send to, or one an entry grants by address; others are dropped silently (Wasmtime's behaviour) |
//! | `TcpBind`, `UdpBind` | the address is the unspecified one (`0.0.0.0` / `::`) with port 0 and the component has a grant for that transport: the ephemeral local port every outbound socket needs (Wasmtime checks it before `connect`, and a UDP socket must be bound before it sends) |
//! | `TcpListen`, `TcpAccept` | never: a component serves through its trigger, not by listening (no setting changes this) |
//!
//! A transport no entry grants is switched off altogether
//! (`WasiCtxBuilder::allow_tcp` / `allow_udp`): creating such a socket
//! fails, so an ungranted guest holds no host socket. Sockets are resources
//! of the instance's table, so they count against its cap of
//! [`nimbus_capability::MAX_RESOURCES`] handles like every other resource
//! (each one a host descriptor, as an open file is).
//!
//! # Name lookups
//!
//! Wasmtime's `allow_ip_name_lookup` is all or nothing. So that a guest may
//! resolve only the names its entries grant, this capability shadows
//! `wasi:sockets/ip-name-lookup` in the linker ([`add_to_linker`]): its
//! `resolve-addresses` normalises the name as Wasmtime's does
//! (`url::Host::parse`: lowercase, IDNA), checks it with
//! [`AllowedHosts::allows_lookup`], and only then calls Wasmtime's own
//! implementation (the resolve-address stream is Wasmtime's, unchanged). IP
//! literals pass when the component has any socket grant (they need no DNS).
//! A name the guest resolved is remembered for the instance, so that an entry
//! such as `tcp://*.example.com:443` grants the addresses of the names the
//! guest looked up under it.
//!
//! # Denials
//!
//! A refusal returns the interface's own error (`access-denied`) and logs one
//! `warn` line naming the component, the destination and the entry to add,
//! once per distinct destination per instance and at most
//! [`MAX_LOGGED`] lines per instance, so that a guest in a loop cannot flood
//! the log. `create-tcp-socket` and `create-udp-socket` are shadowed too, only
//! to log when the component has no grant for the transport (Wasmtime then
//! refuses the socket itself).
//!
//! # WASI 0.3
//!
//! The address check is Wasmtime's `socket_addr_check` hook of the
//! `WasiCtx`, which its WASI 0.2 and 0.3 socket implementations both call,
//! so `wasi:sockets@0.3` connections and datagrams are checked the same way.
//! WASI 0.3's `resolve-addresses` is shadowed as well ([`add_to_linker`]):
//! the name is checked as for 0.2, then resolved as Wasmtime does (an IP
//! literal is itself; a name through the system resolver). Creating a 0.3
//! socket for an ungranted transport fails in Wasmtime without a log line.

use std::collections::HashSet;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use nimbus_capability::InstanceState;
use nimbus_outbound_networking::{AllowedHosts, Transport};
use nimbus_runtime::wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{self, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{
    self, ErrorCode, IpAddress, IpAddressFamily, Network,
};
use wasmtime_wasi::p2::bindings::sockets::{tcp_create_socket, udp_create_socket};
use wasmtime_wasi::p2::{DynPollable, SocketError, SocketResult, TcpSocket, UdpSocket};
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSocketsView};
use wasmtime_wasi::WasiCtxBuilder;

/// The most denial lines one instance logs; past it, one line says that
/// further denials are not logged.
pub const MAX_LOGGED: usize = 16;

/// The most destinations (allowed or denied) and looked-up names one
/// instance remembers; past it, checks are simply made again.
const MAX_REMEMBERED: usize = 1024;

/// One component's socket grants, resolved at load.
#[derive(Debug, Clone)]
pub struct SocketGrants {
    hosts: AllowedHosts,
    tcp: bool,
    udp: bool,
}

impl SocketGrants {
    /// The grants of a component's resolved allow-list.
    pub fn new(hosts: AllowedHosts) -> SocketGrants {
        SocketGrants {
            tcp: hosts.grants_sockets(Transport::Tcp),
            udp: hosts.grants_sockets(Transport::Udp),
            hosts,
        }
    }

    /// Whether some entry grants `transport`.
    pub fn grants(&self, transport: Transport) -> bool {
        match transport {
            Transport::Tcp => self.tcp,
            Transport::Udp => self.udp,
        }
    }
}

/// What one instance did with its sockets: what it was allowed and refused
/// (so each destination is checked, and a refusal logged, once), and the
/// names it looked up.
#[derive(Default)]
struct Memory {
    allowed: HashSet<(Transport, SocketAddr)>,
    denied: HashSet<(Transport, SocketAddr)>,
    names: Vec<String>,
    logged: HashSet<String>,
}

/// One instance's sockets: the component's grants and the instance's memory.
/// Shared by the address check Wasmtime calls and the shadowed functions.
pub struct InstanceSockets {
    grants: SocketGrants,
    memory: Mutex<Memory>,
}

impl std::fmt::Debug for InstanceSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceSockets")
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

impl InstanceSockets {
    /// Sets up `wasi` for one instance of a component with `grants`: the
    /// transports it grants, name lookups if any, and the address check.
    pub fn prepare(grants: &SocketGrants, wasi: &mut WasiCtxBuilder) -> Arc<InstanceSockets> {
        let sockets = Arc::new(InstanceSockets {
            grants: grants.clone(),
            memory: Mutex::new(Memory::default()),
        });
        let any = grants.tcp || grants.udp;
        wasi.allow_tcp(grants.tcp)
            .allow_udp(grants.udp)
            .allow_ip_name_lookup(any);
        if any {
            let check = sockets.clone();
            wasi.socket_addr_check(move |addr, usage| {
                let check = check.clone();
                Box::pin(async move { check.check(addr, usage).await })
            });
        }
        sockets
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn component(&self) -> &str {
        self.grants.hosts.component()
    }

    /// Logs `message` unless a line with `key` was logged by this instance,
    /// or it has logged [`MAX_LOGGED`] lines already.
    fn warn_once(&self, key: String, message: impl FnOnce() -> String) {
        let mut memory = self.memory();
        if memory.logged.contains(&key) || memory.logged.len() > MAX_LOGGED {
            return;
        }
        memory.logged.insert(key);
        if memory.logged.len() > MAX_LOGGED {
            tracing::warn!(
                component = %self.component(),
                "further wasi:sockets denials of this instance are not logged"
            );
            return;
        }
        drop(memory);
        tracing::warn!(component = %self.component(), "{}", message());
    }

    /// Wasmtime's `socket_addr_check`: whether `addr` may be used for
    /// `usage` (see the module's table).
    async fn check(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        match usage {
            SocketAddrUse::TcpConnect => self.check_destination(Transport::Tcp, addr).await,
            SocketAddrUse::UdpSend => self.check_destination(Transport::Udp, addr).await,
            SocketAddrUse::UdpReceive => self.check_peer(addr),
            SocketAddrUse::TcpBind => self.check_bind(Transport::Tcp, addr),
            SocketAddrUse::UdpBind => self.check_bind(Transport::Udp, addr),
            SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => {
                self.warn_once("listen".to_owned(), || {
                    format!(
                        "TCP listen on {addr} denied: components do not listen on sockets; \
                         they are reached through their trigger (component `{}`)",
                        self.component()
                    )
                });
                false
            }
        }
    }

    fn check_bind(&self, transport: Transport, addr: SocketAddr) -> bool {
        let ephemeral = addr.ip().is_unspecified() && addr.port() == 0;
        if ephemeral && self.grants.grants(transport) {
            return true;
        }
        self.warn_once(format!("bind {transport} {addr}"), || {
            format!(
                "{transport} bind to {addr} denied: a component may bind only to an ephemeral \
                 port of the unspecified address (0.0.0.0:0 or [::]:0), for its outbound \
                 sockets, and only with a {} grant in allowed_outbound_hosts (component `{}`)",
                transport.scheme(),
                self.component()
            )
        });
        false
    }

    async fn check_destination(&self, transport: Transport, addr: SocketAddr) -> bool {
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        let names = {
            let memory = self.memory();
            if memory.allowed.contains(&(transport, addr)) {
                return true;
            }
            if memory.denied.contains(&(transport, addr)) {
                return false;
            }
            memory.names.clone()
        };
        let result = self
            .grants
            .hosts
            .check_socket(transport, addr, &names)
            .await;
        let allowed = result.is_ok();
        {
            let mut memory = self.memory();
            let remembered = if allowed {
                &mut memory.allowed
            } else {
                &mut memory.denied
            };
            if remembered.len() < MAX_REMEMBERED {
                remembered.insert((transport, addr));
            }
        }
        if let Err(err) = result {
            self.warn_once(format!("{transport} {addr}"), || {
                self.grants.hosts.socket_denial(transport, addr, &err)
            });
        }
        allowed
    }

    /// A datagram from `addr`: from a peer this instance may send to.
    fn check_peer(&self, addr: SocketAddr) -> bool {
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        if self.memory().allowed.contains(&(Transport::Udp, addr)) {
            return true;
        }
        matches!(
            self.grants.hosts.check_socket_address(Transport::Udp, addr),
            Some(Ok(()))
        )
    }

    /// Whether `name` may be looked up; remembers a granted name.
    fn check_lookup(&self, name: &str) -> Result<(), ErrorCode> {
        let domain = match url::Host::parse(name) {
            Ok(url::Host::Domain(domain)) => domain,
            Ok(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => return self.check_literal(),
            Err(_) if name.parse::<Ipv6Addr>().is_ok() => return self.check_literal(),
            Err(_) => return Err(ErrorCode::InvalidArgument),
        };
        if self.grants.hosts.allows_lookup(&domain) {
            let name = domain.trim_end_matches('.');
            let mut memory = self.memory();
            let new = !name.is_empty() && !memory.names.iter().any(|n| n == name);
            if new && memory.names.len() < MAX_REMEMBERED {
                memory.names.push(name.to_owned());
            }
            return Ok(());
        }
        self.warn_once(format!("lookup {domain}"), || {
            format!(
                "name lookup of {domain} denied: no allowed_outbound_hosts entry grants \
                 sockets to it; to allow it, add \"tcp://{domain}:PORT\" (or \"udp://\", or \
                 \"*://\" for both) to allowed_outbound_hosts in [component.{}] of the manifest",
                self.component()
            )
        });
        Err(ErrorCode::AccessDenied)
    }

    fn check_literal(&self) -> Result<(), ErrorCode> {
        if self.grants.tcp || self.grants.udp {
            Ok(())
        } else {
            Err(ErrorCode::AccessDenied)
        }
    }

    /// Logs the refusal of a socket of a transport the component has no
    /// grant for (Wasmtime refuses the socket itself).
    fn check_create(&self, transport: Transport) {
        if self.grants.grants(transport) {
            return;
        }
        self.warn_once(format!("create {transport}"), || {
            format!(
                "{transport} socket denied: no allowed_outbound_hosts entry grants {transport}; \
                 to allow a destination, add \"{}://HOST:PORT\" (or \"*://HOST:PORT\" for TCP \
                 and UDP) to allowed_outbound_hosts in [component.{}] of the manifest",
                transport.scheme(),
                self.component()
            )
        });
    }
}

/// The WASI capability's slot of an instance's store data: its sockets, for
/// the shadowed functions.
#[derive(Debug)]
pub struct WasiInstance {
    sockets: Arc<InstanceSockets>,
}

impl WasiInstance {
    /// The slot of an instance whose sockets are `sockets`.
    pub fn new(sockets: Arc<InstanceSockets>) -> WasiInstance {
        WasiInstance { sockets }
    }
}

/// The store data as the shadowed socket functions see it.
struct Guarded<'a>(&'a mut InstanceState);

impl Guarded<'_> {
    fn sockets(&mut self) -> Arc<InstanceSockets> {
        self.0.get::<WasiInstance>().sockets.clone()
    }
}

struct GuardedSockets;

impl HasData for GuardedSockets {
    type Data<'a> = Guarded<'a>;
}

fn guarded(state: &mut InstanceState) -> Guarded<'_> {
    Guarded(state)
}

/// Shadows, in a linker that already has Wasmtime's WASI 0.2 and 0.3, the
/// functions this module guards: `wasi:sockets/ip-name-lookup` 0.2 and 0.3
/// (names checked against the grants) and 0.2's `create-tcp-socket` /
/// `create-udp-socket` (denials logged); each then does what Wasmtime's own
/// implementation does.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    let result = (|| {
        ip_name_lookup::add_to_linker::<InstanceState, GuardedSockets>(linker, guarded)?;
        if nimbus_capability::links_concurrent(linker) {
            lookup3::add_to_linker::<InstanceState, GuardedSockets>(linker, guarded)?;
        }
        tcp_create_socket::add_to_linker::<InstanceState, GuardedSockets>(linker, guarded)?;
        udp_create_socket::add_to_linker::<InstanceState, GuardedSockets>(linker, guarded)?;
        anyhow::Ok(())
    })();
    linker.allow_shadowing(false);
    result
}

use wasmtime_wasi::p3::bindings::sockets::ip_name_lookup as lookup3;
use wasmtime_wasi::p3::bindings::sockets::types::IpAddress as IpAddress3;

impl lookup3::Host for Guarded<'_> {}

// WASI 0.3's `resolve-addresses` (an async function): checked like 0.2's,
// then resolved as Wasmtime's own implementation does.
impl<U> lookup3::HostWithStore<U> for GuardedSockets {
    async fn resolve_addresses(
        store: &wasmtime::component::Accessor<U, Self>,
        name: String,
    ) -> wasmtime::Result<Result<Vec<IpAddress3>, lookup3::ErrorCode>> {
        let sockets = store.with(|mut view| view.get().sockets());
        if let Err(code) = sockets.check_lookup(&name) {
            return Ok(Err(match code {
                ErrorCode::InvalidArgument => lookup3::ErrorCode::InvalidArgument,
                _ => lookup3::ErrorCode::AccessDenied,
            }));
        }
        let domain = match url::Host::parse(&name) {
            Ok(url::Host::Domain(domain)) => domain,
            Ok(url::Host::Ipv4(addr)) => return Ok(Ok(vec![std::net::IpAddr::V4(addr).into()])),
            Ok(url::Host::Ipv6(addr)) => return Ok(Ok(vec![std::net::IpAddr::V6(addr).into()])),
            Err(_) => match name.parse::<Ipv6Addr>() {
                Ok(addr) => return Ok(Ok(vec![std::net::IpAddr::V6(addr).into()])),
                Err(_) => return Ok(Err(lookup3::ErrorCode::InvalidArgument)),
            },
        };
        let resolved = tokio::net::lookup_host((domain.as_str(), 0)).await;
        let addresses = match resolved {
            Ok(addrs) => Ok(addrs.map(|addr| addr.ip().to_canonical().into()).collect()),
            Err(err) => {
                tracing::debug!("DNS resolution of `{domain}` failed: {err}");
                Err(lookup3::ErrorCode::NameUnresolvable)
            }
        };
        Ok(addresses)
    }
}

// The interfaces above use `wasi:sockets/network`: its host traits, as
// Wasmtime implements them.
impl network::Host for Guarded<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.0.sockets(), error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.0.sockets(), err)
    }
}

impl network::HostNetwork for Guarded<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.0.sockets(), this)
    }
}

impl ip_name_lookup::Host for Guarded<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> SocketResult<Resource<ResolveAddressStream>> {
        self.sockets().check_lookup(&name)?;
        ip_name_lookup::Host::resolve_addresses(&mut self.0.sockets(), network, name)
    }
}

impl ip_name_lookup::HostResolveAddressStream for Guarded<'_> {
    fn resolve_next_address(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> SocketResult<Option<IpAddress>> {
        ip_name_lookup::HostResolveAddressStream::resolve_next_address(
            &mut self.0.sockets(),
            stream,
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        ip_name_lookup::HostResolveAddressStream::subscribe(&mut self.0.sockets(), stream)
    }

    fn drop(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        ip_name_lookup::HostResolveAddressStream::drop(&mut self.0.sockets(), stream)
    }
}

impl tcp_create_socket::Host for Guarded<'_> {
    fn create_tcp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        self.sockets().check_create(Transport::Tcp);
        tcp_create_socket::Host::create_tcp_socket(&mut self.0.sockets(), family)
    }
}

impl udp_create_socket::Host for Guarded<'_> {
    async fn create_udp_socket(
        &mut self,
        family: IpAddressFamily,
    ) -> SocketResult<Resource<UdpSocket>> {
        self.sockets().check_create(Transport::Udp);
        udp_create_socket::Host::create_udp_socket(&mut self.0.sockets(), family).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_manifest::HostPattern;
    use nimbus_outbound_networking::OutboundPolicy;

    fn sockets(patterns: &[&str]) -> Arc<InstanceSockets> {
        let allowed: Vec<HostPattern> = patterns.iter().map(|p| p.parse().unwrap()).collect();
        let grants = SocketGrants::new(AllowedHosts::new(
            "web",
            allowed.into(),
            OutboundPolicy::default(),
        ));
        InstanceSockets::prepare(&grants, &mut WasiCtxBuilder::new())
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn binds_are_only_ephemeral_and_only_with_a_grant() {
        let tcp_only = sockets(&["tcp://127.0.0.1:5000"]);
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let any6: SocketAddr = "[::]:0".parse().unwrap();
        assert!(run(tcp_only.check(any, SocketAddrUse::TcpBind)));
        assert!(run(tcp_only.check(any6, SocketAddrUse::TcpBind)));
        assert!(!run(tcp_only.check(any, SocketAddrUse::UdpBind)));
        for addr in ["0.0.0.0:8080", "127.0.0.1:0"] {
            assert!(!run(
                tcp_only.check(addr.parse().unwrap(), SocketAddrUse::TcpBind)
            ));
        }
        assert!(!run(tcp_only.check(any, SocketAddrUse::TcpListen)));
        assert!(!run(tcp_only.check(
            "127.0.0.1:5000".parse().unwrap(),
            SocketAddrUse::TcpAccept
        )));
    }

    #[test]
    fn destinations_are_checked_and_remembered() {
        let s = sockets(&["udp://127.0.0.1:5353"]);
        let peer: SocketAddr = "127.0.0.1:5353".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:5354".parse().unwrap();
        // Before sending, a datagram from a peer granted by address passes.
        assert!(s.check_peer(peer));
        assert!(run(s.check(peer, SocketAddrUse::UdpSend)));
        assert!(!run(s.check(peer, SocketAddrUse::TcpConnect)));
        assert!(!run(s.check(other, SocketAddrUse::UdpSend)));
        assert!(!s.check_peer(other));
        let memory = s.memory();
        assert!(memory.allowed.contains(&(Transport::Udp, peer)));
        assert!(memory.denied.contains(&(Transport::Udp, other)));
        assert!(memory.logged.contains(&format!("UDP {other}")));
    }

    #[test]
    fn lookups_are_checked_on_the_normalised_name() {
        let s = sockets(&["tcp://*.example.com:443", "https://api.other.com"]);
        assert!(s.check_lookup("a.example.com").is_ok());
        assert!(s.check_lookup("A.Example.COM.").is_ok());
        assert!(matches!(
            s.check_lookup("example.com"),
            Err(ErrorCode::AccessDenied)
        ));
        assert!(matches!(
            s.check_lookup("api.other.com"),
            Err(ErrorCode::AccessDenied)
        ));
        assert!(s.check_lookup("10.0.0.1").is_ok());
        assert!(s.check_lookup("::1").is_ok());
        assert!(matches!(
            s.check_lookup("a b"),
            Err(ErrorCode::InvalidArgument)
        ));
        assert_eq!(s.memory().names, ["a.example.com"]);
        let none = sockets(&["https://example.com"]);
        assert!(matches!(
            none.check_lookup("10.0.0.1"),
            Err(ErrorCode::AccessDenied)
        ));
    }

    #[test]
    fn a_looping_guest_logs_a_bounded_number_of_lines() {
        let s = sockets(&[]);
        for port in 1..1000u16 {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            assert!(!run(s.check(addr, SocketAddrUse::TcpConnect)));
        }
        assert_eq!(s.memory().logged.len(), MAX_LOGGED + 1);
    }
}
