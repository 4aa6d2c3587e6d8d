//! Outbound MySQL for guests: Spin's `fermyon:spin/mysql@2.0.0` (what
//! `spin_sdk::mysql` of spin-sdk 5 imports) and `spin:mysql/mysql@3.0.0`
//! (spin-sdk 7's `spin_sdk::mysql`: async functions, rows streamed), on
//! [`mysql_async`].
//!
//! # Grants
//!
//! A guest opens `mysql://user:password@host:port/database` (port 3306 when
//! absent; `?ssl-mode=…` other than `disabled` asks for TLS, as in Spin; no
//! other parameter is accepted). The open succeeds only when the
//! component's `allowed_outbound_hosts` grant `mysql://host:port`: each
//! `open` is checked with [`AllowedHosts::authorize`] (a denial is logged
//! with the manifest entry to add), and the connection goes only to the
//! addresses that returned (the driver never resolves the name again, and
//! never uses a Unix socket). A denied or failed open is the interface's
//! `connection-failed`, within [`CONNECT_TIMEOUT`].
//!
//! The address holds the guest's credentials: it is never logged, and no
//! error message (to the guest or in the log) repeats it or its password.
//!
//! # Connections
//!
//! Connections are pooled per app and per address (one
//! `mysql_async::Pool` each, in the app's [`MysqlAppState`], never shared
//! with another app). A guest's `connection` is a resource of its instance:
//! it goes back to the pool when the guest drops it or the instance (the
//! request) ends, and is reset there (`COM_RESET_CONNECTION`: an open
//! transaction is rolled back, session variables, temporary tables and
//! locks are gone; the address's database is selected again). An instance holds at
//! most [`MAX_CONNECTIONS_PER_INSTANCE`] at once; past it, `open` fails with
//! `connection-failed("too many connections …")`.
//!
//! # Values
//!
//! Parameters are sent as their MySQL counterparts (`boolean` as 0 or 1).
//! Result columns map as Spin maps them, except that DECIMAL and the date
//! and time types are text here (Spin fails the query on them), and that a
//! value of a type with no counterpart is `unsupported` rather than an
//! error:
//!
//! | MySQL column | `db-data-type` | `db-value` |
//! |---|---|---|
//! | TINYINT (so BOOLEAN), SMALLINT, MEDIUMINT and INT, BIGINT | `int8`, `int16`, `int32`, `int64` | the same |
//! | the same, UNSIGNED | `uint8`, `uint16`, `uint32`, `uint64` | the same |
//! | FLOAT, DOUBLE | `floating32`, `floating64` | the same |
//! | CHAR, VARCHAR, TEXT, ENUM, SET, JSON | `str` | `str` |
//! | BINARY, VARBINARY, BLOB (the `binary` character set) | `binary` | `binary` |
//! | DECIMAL, DATE, TIME, DATETIME, TIMESTAMP | `str` | `str`, as MySQL writes them (`12.50`, `2024-02-29`, `-838:59:59.500`, `2024-02-29 13:14:15.123456`) |
//! | anything else (YEAR, BIT, GEOMETRY, …) | `other` | `unsupported` |
//!
//! NULL is `db-null` in a column of any type; no column is `boolean`
//! (MySQL has none). A value that does not fit its column's type (text that
//! is not UTF-8) fails the query with `value-conversion-failed`.
//!
//! `query` of 2.0 holds the whole result in host memory, up to
//! [`MAX_RESULT_BYTES`]; 3.0 streams the rows as the guest reads them (a few
//! are read ahead). A 3.0 connection runs one statement at a time: a
//! statement waits until the rows of the query before it have all been
//! read, or its stream dropped.
//!
//! # Interfaces per engine
//!
//! `fermyon:spin/mysql@2.0.0` is linked into every linker;
//! `spin:mysql/mysql@3.0.0` (component-model async functions) only where
//! [`nimbus_capability::links_concurrent`] is true.

#![warn(missing_docs)]

mod address;
mod capability;
mod convert;
mod host;
mod pool;

use std::fmt;
use std::sync::{Arc, OnceLock};

use nimbus_capability::AllowedHosts;
pub use nimbus_outbound_networking::{CONNECT_TIMEOUT, MAX_CONNECTIONS_PER_INSTANCE};
use tokio::sync::Semaphore;

pub use address::DEFAULT_PORT;
pub use host::{add_to_linker, Connection, Connection3, MysqlView};
pub use pool::{MAX_POOLS_PER_APP, MAX_POOL_SIZE};

/// Host bindings generated from `wit/`.
#[allow(missing_docs)]
pub mod bindings {
    /// `fermyon:spin/mysql@2.0.0` (synchronous in WIT, async on the host).
    pub mod v2 {
        wasmtime::component::bindgen!({
            path: "wit",
            world: "nimbus:mysql/v2",
            imports: { default: async | trappable },
            additional_derives: [PartialEq],
            with: {
                "fermyon:spin/mysql.connection": crate::Connection,
            },
        });
    }

    /// `spin:mysql/mysql@3.0.0` (component-model async functions).
    pub mod v3 {
        wasmtime::component::bindgen!({
            path: "wit",
            world: "nimbus:mysql/v3",
            imports: { default: trappable },
            with: {
                "spin:mysql/mysql.connection": crate::Connection3,
            },
        });
    }
}

/// The most bytes (roughly: values plus their text and binary payloads) a
/// `fermyon:spin/mysql@2.0.0` `query` result may take in host memory; past
/// it the query fails with `other`. `spin:mysql@3.0.0` streams its rows
/// instead, a few at a time.
pub const MAX_RESULT_BYTES: usize = 32 << 20;

/// An error of the interface, shared by both versions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MysqlError {
    /// The address is invalid or not allowed, the server is unreachable, or
    /// it refused the connection.
    #[error("connection failed: {0}")]
    ConnectionFailed(String),
    /// A parameter does not fit the statement.
    #[error("bad parameter: {0}")]
    BadParameter(String),
    /// The server refused or failed the statement.
    #[error("query failed: {0}")]
    QueryFailed(String),
    /// A result value does not fit its column's interface type.
    #[error("value conversion failed: {0}")]
    ValueConversionFailed(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// The MySQL capability: stateless; each app gets a [`MysqlAppState`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MysqlCapability;

impl MysqlCapability {
    /// The state of app `app_id`: its (yet empty) pools.
    pub fn app_state(&self, app_id: &str) -> MysqlAppState {
        MysqlAppState(Arc::new(pool::AppPools::new(app_id)))
    }
}

/// One app's MySQL pools. Cheap to clone; dropping the last clone (and
/// every instance) closes the pools.
#[derive(Clone)]
pub struct MysqlAppState(Arc<pool::AppPools>);

impl fmt::Debug for MysqlAppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlAppState")
            .field("app", &self.0.app_id())
            .field("pools", &self.0.stats())
            .finish()
    }
}

impl MysqlAppState {
    /// What the app's pools hold now (one pool per address a guest opened
    /// and server address it resolved to).
    pub fn stats(&self) -> PoolStats {
        self.0.stats()
    }

    /// What one component may reach: `allowed`, its resolved
    /// `allowed_outbound_hosts`.
    pub fn component(&self, allowed: AllowedHosts) -> MysqlComponent {
        MysqlComponent {
            app: self.clone(),
            allowed,
        }
    }
}

/// What an app's pools hold, summed over its pools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// The pools.
    pub pools: usize,
    /// The connections open to servers, in use or idle.
    pub connections: usize,
    /// The connections a guest holds.
    pub in_use: usize,
    /// The connections waiting in the pools.
    pub idle: usize,
}

/// One component's grants (its `allowed_outbound_hosts`) and its app's
/// pools. Cheap to clone.
#[derive(Clone)]
pub struct MysqlComponent {
    app: MysqlAppState,
    allowed: AllowedHosts,
}

impl fmt::Debug for MysqlComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlComponent")
            .field("app", &self.app.0.app_id())
            .field("component", &self.allowed.component())
            .finish()
    }
}

impl MysqlComponent {
    /// The state of one instance: its own count of open connections, made
    /// on its first `open` (most requests open none). Cheap: `Arc` clones.
    pub fn instance(&self) -> MysqlInstance {
        MysqlInstance {
            component: self.clone(),
            permits: OnceLock::new(),
        }
    }
}

/// This capability's slot of one instance: the component's grants and how
/// many connections it holds.
pub struct MysqlInstance {
    component: MysqlComponent,
    /// One permit per open connection (made on the first `open`).
    permits: OnceLock<Arc<Semaphore>>,
}

impl fmt::Debug for MysqlInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlInstance")
            .field("component", &self.component)
            .field(
                "open_connections",
                &self
                    .permits
                    .get()
                    .map_or(0, |p| MAX_CONNECTIONS_PER_INSTANCE - p.available_permits()),
            )
            .finish()
    }
}

impl MysqlInstance {
    /// The component this instance runs.
    pub fn component_id(&self) -> &str {
        self.component.allowed.component()
    }
}
