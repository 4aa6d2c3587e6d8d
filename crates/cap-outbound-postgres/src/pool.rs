//! One app's PostgreSQL connections: a pool per address.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use nimbus_capability::{AllowedHosts, CONNECT_TIMEOUT};
use tokio_postgres::config::Host;
use tokio_postgres::NoTls;

use crate::v4::{DbError, Error, QueryError};

/// The most connections an app keeps open to one address (busy or idle);
/// a request that needs one more waits up to [`CONNECT_TIMEOUT`] for one to
/// come back, then fails with `connection-failed`.
pub const POOL_SIZE: usize = 16;

/// The most addresses one app keeps pools for; past it, the oldest pool is
/// dropped (a wildcard grant must not let a guest pile connections up).
const MAX_ADDRESSES: usize = 64;

/// One app's PostgreSQL pools, keyed by the address the guest gave and the
/// server address it resolved to. Never shared between apps.
#[derive(Default)]
pub struct PostgresPools {
    pools: Mutex<Vec<(PoolKey, Pool)>>,
}

#[derive(PartialEq, Eq, Clone)]
struct PoolKey {
    address: String,
    server: SocketAddr,
}

/// A connection taken from an app's pool. When the guest is done with it
/// (it drops it, or its request ends), any transaction it left open is
/// rolled back and the connection goes back to the pool.
pub struct PooledClient {
    object: Option<deadpool_postgres::Object>,
}

impl PooledClient {
    /// The client.
    pub fn client(&self) -> Option<&tokio_postgres::Client> {
        self.object.as_deref().map(|c| &**c)
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else {
            return;
        };
        // Roll back whatever the guest left open before another request gets
        // this connection (deadpool's recycling then resets the session).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if object.batch_execute("ROLLBACK").await.is_err() {
                        // A broken connection: never back to the pool.
                        let _ = deadpool_postgres::Object::take(object);
                    }
                });
            }
            Err(_) => {
                let _ = deadpool_postgres::Object::take(object);
            }
        }
    }
}

fn connection_failed(why: impl Into<String>) -> Error {
    Error::ConnectionFailed(why.into())
}

impl PostgresPools {
    /// No pool yet.
    pub fn new() -> PostgresPools {
        PostgresPools::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PoolKey, Pool)>> {
        // A panic while holding the lock leaves a valid Vec behind.
        self.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection to the database at `address` (a URL or a key=value
    /// connection string), if `allowed_hosts` grants `postgres://host:port`.
    /// Errors never hold the address (it may hold a password).
    pub async fn connect(
        &self,
        allowed_hosts: &AllowedHosts,
        address: &str,
    ) -> Result<Arc<PooledClient>, Error> {
        let mut config: tokio_postgres::Config = address.parse().map_err(|_| {
            connection_failed("the address is not a valid PostgreSQL connection string")
        })?;
        let host = match config.get_hosts() {
            [Host::Tcp(host)] => host.clone(),
            [] => return Err(connection_failed("the address names no host")),
            [_] => {
                return Err(connection_failed(
                    "Unix socket addresses are not supported: use postgres://host:port",
                ))
            }
            _ => {
                return Err(connection_failed(
                    "addresses with several hosts are not supported",
                ))
            }
        };
        let port = match config.get_ports() {
            [] => 5432,
            [port] => *port,
            _ => {
                return Err(connection_failed(
                    "addresses with several ports are not supported",
                ))
            }
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let servers = allowed_hosts
            .authorize("postgres", &host, port)
            .await
            .map_err(|err| connection_failed(err.to_string()))?;
        let server = servers[0];
        let key = PoolKey {
            address: address.to_owned(),
            server,
        };
        let existing = self
            .lock()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, pool)| pool.clone());
        let pool = match existing {
            Some(pool) => pool,
            None => {
                // Connect to the address resolved above, never resolving
                // again; the name stays for the server's messages.
                // (The port stays the one the address gave, or the default.)
                config
                    .hostaddr(server.ip())
                    .connect_timeout(CONNECT_TIMEOUT);
                let manager = Manager::from_config(
                    config,
                    NoTls,
                    ManagerConfig {
                        recycling_method: RecyclingMethod::Clean,
                    },
                );
                let pool = Pool::builder(manager)
                    .max_size(POOL_SIZE)
                    .wait_timeout(Some(CONNECT_TIMEOUT))
                    .create_timeout(Some(CONNECT_TIMEOUT))
                    .recycle_timeout(Some(CONNECT_TIMEOUT))
                    .runtime(Runtime::Tokio1)
                    .build()
                    .map_err(|err| connection_failed(format!("cannot make a pool: {err}")))?;
                let mut pools = self.lock();
                match pools.iter().find(|(k, _)| *k == key) {
                    Some((_, pool)) => pool.clone(),
                    None => {
                        if pools.len() >= MAX_ADDRESSES {
                            pools.remove(0);
                        }
                        pools.push((key, pool.clone()));
                        pool
                    }
                }
            }
        };
        let object = pool.get().await.map_err(|err| match err {
            PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => connection_failed(format!(
                "too many connections to postgres://{host}:{port}: all {POOL_SIZE} of this app's are busy"
            )),
            PoolError::Timeout(_) => connection_failed(format!(
                "cannot connect to postgres://{host}:{port}: no connection within {CONNECT_TIMEOUT:?}"
            )),
            PoolError::Backend(err) => connection_failed(format!(
                "cannot connect to postgres://{host}:{port}: {}",
                describe(&err)
            )),
            other => connection_failed(format!("cannot connect to postgres://{host}:{port}: {other}")),
        })?;
        Ok(Arc::new(PooledClient {
            object: Some(object),
        }))
    }
}

/// An error of `tokio-postgres` as text: the server's message, or the
/// client's (which never holds the connection string).
pub(crate) fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            use std::error::Error as _;
            match err.source() {
                Some(source) => format!("{err}: {source}"),
                None => err.to_string(),
            }
        }
    }
}

/// A failed statement as the interface's error: the server's structured
/// error (`query-failed(db-error)`), a parameter the statement cannot take
/// (`bad-parameter`), or the client's message (`query-failed(text)`).
pub(crate) fn statement_error(err: tokio_postgres::Error) -> Error {
    if let Some(db) = err.as_db_error() {
        let mut extras = Vec::new();
        let mut extra = |name: &str, value: Option<&str>| {
            if let Some(value) = value {
                extras.push((name.to_owned(), value.to_owned()));
            }
        };
        extra("hint", db.hint());
        extra("where", db.where_());
        extra("schema", db.schema());
        extra("table", db.table());
        extra("column", db.column());
        extra("datatype", db.datatype());
        extra("constraint", db.constraint());
        return Error::QueryFailed(QueryError::DbError(DbError {
            as_text: db.to_string(),
            severity: db.severity().to_owned(),
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            extras,
        }));
    }
    let text = describe(&err);
    if text.starts_with("error serializing parameter") || text.starts_with("expected ") {
        return Error::BadParameter(text);
    }
    if err.is_closed() {
        return Error::ConnectionFailed(text);
    }
    Error::QueryFailed(QueryError::Text(text))
}
