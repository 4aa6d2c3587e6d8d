//! Outbound Redis: guests talk to the Redis servers their component's
//! `allowed_outbound_hosts` grants (`redis://host:port`).
//!
//! # Guest interfaces
//!
//! - `fermyon:spin/redis@2.0.0` (spin-sdk 5, `spin_sdk::redis`), on both
//!   engines;
//! - `spin:redis/redis@3.0.0` (spin-sdk 6 and 7, async functions), on the
//!   concurrent engine only.
//!
//! The WIT is vendored in `wit/` (see `wit/README.md`).
//!
//! # Access
//!
//! Every `open(address)` parses the address (`redis://[user:password@]host[:port][/db]`),
//! checks `redis://host:port` against the component's allow-list (variable
//! templates already rendered) and resolves the host under the host's
//! private-address guard ([`AllowedHosts::authorize`]); the client connects
//! only to the address that returned. A denied address fails with
//! `invalid-address`, as in Spin, and the log names the entry to add.
//! Addresses (they hold passwords) are never logged nor put into errors:
//! messages name `redis://host:port` only.
//!
//! # Connections
//!
//! One multiplexed connection ([`redis::aio::ConnectionManager`], which
//! reconnects by itself) per app and per address, created on the first
//! `open` within [`CONNECT_TIMEOUT`]: apps never share one. A guest's
//! `connection` resource is a handle on it, dropped with the instance at the
//! end of the request; an instance holds at most
//! [`MAX_CONNECTIONS_PER_INSTANCE`] at once (`too-many-connections` past it).
//! While the server is down, calls fail quickly with `other(…)`; once it is
//! back, the same connection works again. A connection that broke while
//! idle (the server restarted) costs no failed call: a command that could
//! not be written is sent again on the new connection, once; one that may
//! have reached the server is never repeated (`RedisLink::query`).
//!
//! Commands sent through `execute` share the app's connection with its other
//! requests: commands that change the connection's state (`MULTI`, `SELECT`,
//! `SUBSCRIBE`, `CLIENT REPLY`) are refused with `other(…)`, and commands
//! that wait on the server (`BLPOP`, `XREAD … BLOCK`, `WAIT`, …) run on a
//! connection of their own, so that they hold up no other request.

mod host;
mod pool;

use std::sync::Arc;

use nimbus_capability::{
    AllowedHosts, AppContext, Capability, ComponentContext, ConnectionBudget, InstanceBuilder,
    InstanceState,
};
use wasmtime::component::Linker;

pub use host::{add_to_linker, Connection, RedisView};
pub use nimbus_capability::{CONNECT_TIMEOUT, MAX_CONNECTIONS_PER_INSTANCE};
pub use pool::{RedisLink, RedisPool};

mod bindings {
    pub mod sync {
        wasmtime::component::bindgen!({
            path: "wit",
            world: "nimbus:outbound-redis/host-sync",
            imports: { default: async | trappable },
            with: {
                "fermyon:spin/redis.connection": crate::Connection,
            },
        });
    }

    pub mod concurrent {
        wasmtime::component::bindgen!({
            path: "wit",
            world: "nimbus:outbound-redis/host-concurrent",
            imports: { default: async | trappable },
            with: {
                "spin:redis/redis.connection": crate::Connection,
            },
        });
    }
}

pub use bindings::sync::fermyon::spin::redis::{Error, RedisParameter, RedisResult};

/// The outbound Redis capability.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisCapability;

/// One component's access: the app's pool and the component's allow-list.
#[derive(Clone)]
pub struct RedisComponent {
    pool: Arc<RedisPool>,
    allowed_hosts: AllowedHosts,
}

impl RedisComponent {
    /// Access to `pool` under `allowed_hosts`.
    pub fn new(pool: Arc<RedisPool>, allowed_hosts: AllowedHosts) -> RedisComponent {
        RedisComponent {
            pool,
            allowed_hosts,
        }
    }

    /// One instance's state: no connection open yet.
    pub fn instance(&self) -> RedisInstance {
        RedisInstance {
            component: self.clone(),
            connections: ConnectionBudget::default(),
        }
    }
}

/// One instance's state: its component's access and how many connections
/// it holds.
pub struct RedisInstance {
    component: RedisComponent,
    connections: ConnectionBudget,
}

fn view(state: &mut InstanceState) -> RedisView<'_> {
    let (instance, table) = state.get_with_table::<RedisInstance>();
    RedisView { instance, table }
}

impl Capability for RedisCapability {
    const NAME: &'static str = "outbound-redis";
    type RuntimeConfig = ();
    type AppState = Arc<RedisPool>;
    type ComponentState = RedisComponent;
    type InstanceState = RedisInstance;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        add_to_linker(linker, view)?;
        Ok(())
    }

    fn configure_app(
        &self,
        _app: &AppContext<'_>,
        _config: Option<()>,
    ) -> anyhow::Result<Arc<RedisPool>> {
        Ok(Arc::new(RedisPool::new()))
    }

    fn configure_component(
        &self,
        pool: &Arc<RedisPool>,
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<RedisComponent> {
        Ok(RedisComponent::new(
            pool.clone(),
            component.allowed_hosts.clone(),
        ))
    }

    fn prepare(
        &self,
        component: &RedisComponent,
        _builder: &mut InstanceBuilder,
    ) -> anyhow::Result<RedisInstance> {
        Ok(component.instance())
    }
}
