//! Outbound PostgreSQL: guests query the databases their component's
//! `allowed_outbound_hosts` grants (`postgres://host:port`).
//!
//! # Guest interfaces
//!
//! - `fermyon:spin/postgres@2.0.0` (spin-sdk 5 `spin_sdk::pg`),
//!   `spin:postgres/postgres@3.0.0` (`pg3`) and `@4.0.0` (`pg4`, and Spin's
//!   conformance apps), on both engines;
//! - `spin:postgres/postgres@4.2.0` (spin-sdk 6 and 7 `spin_sdk::pg`: the
//!   connection builder, async functions, rows as a stream), on the
//!   concurrent engine only.
//!
//! One implementation serves them all, in the 4.x types ([`types`] has the
//! mapping of PostgreSQL types); older versions see values they have no
//! type for as `unsupported`. The WIT is vendored in `wit/`.
//!
//! # Access
//!
//! `open(address)` takes a URL (`postgres://user:password@host:port/db`)
//! or a key=value connection string, checks `postgres://host:port` against
//! the component's allow-list (variable templates already rendered) and
//! resolves the host under the host's private-address guard
//! ([`AllowedHosts::authorize`]); the client connects only to the address
//! that returned. A denied address fails with `connection-failed`, and the
//! log names the entry to add. The address is never logged nor put into an
//! error. TLS (`sslmode=require`) is not supported yet: such an address
//! fails with `connection-failed`.
//!
//! # Connections
//!
//! A pool ([`PostgresPools`]) per app and address, at most [`POOL_SIZE`]
//! connections each, made within [`CONNECT_TIMEOUT`]; apps never share one.
//! A guest's `connection` holds one pooled connection until it drops it or
//! its request ends: then any transaction it left open is rolled back and
//! the session is reset before another request gets it. An instance holds
//! at most [`MAX_CONNECTIONS_PER_INSTANCE`] at once. A database that is down
//! fails `open` with `connection-failed` within [`CONNECT_TIMEOUT`]; broken
//! connections are dropped from the pool, so it works again as soon as the
//! database is back.

// The interface's `error` (with its structured database error) is what every
// host function returns to the guest: boxing it would only add allocations.
#![allow(clippy::result_large_err)]

mod host;
mod pool;
pub mod types;
mod versions;

use std::sync::Arc;

use nimbus_capability::{
    AllowedHosts, AppContext, Capability, ComponentContext, ConnectionBudget, InstanceBuilder,
    InstanceState,
};
use wasmtime::component::Linker;

pub use host::{add_to_linker, Connection, ConnectionBuilder, PostgresView};
pub use nimbus_capability::{CONNECT_TIMEOUT, MAX_CONNECTIONS_PER_INSTANCE};
pub use pool::{PooledClient, PostgresPools, POOL_SIZE};

mod bindings {
    pub mod sync {
        wasmtime::component::bindgen!({
            path: "wit",
            world: "nimbus:outbound-postgres/host-sync",
            imports: { default: async | trappable },
            with: {
                "fermyon:spin/postgres.connection": crate::Connection,
                "spin:postgres/postgres@3.0.0.connection": crate::Connection,
                "spin:postgres/postgres@4.0.0.connection": crate::Connection,
            },
        });
    }

    pub mod concurrent {
        wasmtime::component::bindgen!({
            path: "wit",
            world: "nimbus:outbound-postgres/host-concurrent",
            imports: { default: async | trappable },
            with: {
                "spin:postgres/postgres@4.2.0.connection": crate::Connection,
                "spin:postgres/postgres@4.2.0.connection-builder": crate::ConnectionBuilder,
            },
        });
    }
}

/// `spin:postgres/postgres@4.2.0`.
pub(crate) use bindings::concurrent::spin::postgres4_2_0::postgres as v4_2;
/// `fermyon:spin/postgres@2.0.0` and its `rdbms-types`.
pub(crate) use bindings::sync::fermyon::spin::{postgres as v2, rdbms_types as v2_types};
/// `spin:postgres/postgres@3.0.0`.
pub(crate) use bindings::sync::spin::postgres3_0_0::postgres as v3;
/// `spin:postgres/postgres@4.0.0`: the types every version is served in.
pub use bindings::sync::spin::postgres4_0_0::postgres as v4;

/// The most bytes of values one query may return (the rows are held by the
/// host until the guest has them); past it the query fails with `other`.
pub const MAX_RESULT_BYTES: usize = 32 << 20;

/// The outbound PostgreSQL capability.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresCapability;

/// One component's access: the app's pools and the component's allow-list.
#[derive(Clone)]
pub struct PostgresComponent {
    pools: Arc<PostgresPools>,
    allowed_hosts: AllowedHosts,
}

impl PostgresComponent {
    /// Access to `pools` under `allowed_hosts`.
    pub fn new(pools: Arc<PostgresPools>, allowed_hosts: AllowedHosts) -> PostgresComponent {
        PostgresComponent {
            pools,
            allowed_hosts,
        }
    }

    /// One instance's state: no connection open yet.
    pub fn instance(&self) -> PostgresInstance {
        PostgresInstance {
            component: self.clone(),
            connections: ConnectionBudget::default(),
        }
    }

    async fn connect(&self, address: &str) -> Result<Arc<PooledClient>, v4::Error> {
        self.pools.connect(&self.allowed_hosts, address).await
    }
}

/// One instance's state: its component's access and how many connections
/// it holds.
pub struct PostgresInstance {
    component: PostgresComponent,
    connections: ConnectionBudget,
}

fn view(state: &mut InstanceState) -> PostgresView<'_> {
    let (instance, table) = state.get_with_table::<PostgresInstance>();
    PostgresView { instance, table }
}

impl Capability for PostgresCapability {
    const NAME: &'static str = "outbound-postgres";
    type RuntimeConfig = ();
    type AppState = Arc<PostgresPools>;
    type ComponentState = PostgresComponent;
    type InstanceState = PostgresInstance;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        add_to_linker(linker, view)?;
        Ok(())
    }

    fn configure_app(
        &self,
        _app: &AppContext<'_>,
        _config: Option<()>,
    ) -> anyhow::Result<Arc<PostgresPools>> {
        Ok(Arc::new(PostgresPools::new()))
    }

    fn configure_component(
        &self,
        pools: &Arc<PostgresPools>,
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<PostgresComponent> {
        Ok(PostgresComponent::new(
            pools.clone(),
            component.allowed_hosts.clone(),
        ))
    }

    fn prepare(
        &self,
        component: &PostgresComponent,
        _builder: &mut InstanceBuilder,
    ) -> anyhow::Result<PostgresInstance> {
        Ok(component.instance())
    }
}
