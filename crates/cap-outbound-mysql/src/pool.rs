//! An app's connection pools: one `mysql_async::Pool` per address a guest
//! opened and per server address that address resolved to. Pools belong to
//! one app and are never shared with another.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use mysql_async::{Conn, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};
use nimbus_outbound_networking::{AllowedHosts, OutboundError, CONNECT_TIMEOUT};
use tokio::time::Instant;

use crate::address::Address;
use crate::MysqlError;

/// The most pools one app keeps (distinct addresses × the server addresses
/// they resolve to); past it the oldest is closed.
pub const MAX_POOLS_PER_APP: usize = 64;

/// The most connections one pool (one address of one app) holds, in use
/// and idle together; an `open` past it waits (within
/// [`CONNECT_TIMEOUT`]) for one to come back.
pub const MAX_POOL_SIZE: usize = 64;

/// How long an idle pooled connection is kept.
const IDLE_TTL: Duration = Duration::from_secs(60);

/// One pool's key: the guest's address (with its credentials: two
/// addresses differing only in the password are two pools) and the server
/// address it resolved to. Never logged.
#[derive(PartialEq, Eq, Hash)]
struct PoolKey {
    address: String,
    server: SocketAddr,
}

#[derive(Default)]
struct Pools {
    /// The pools and when each was made (a counter), oldest first.
    pools: HashMap<PoolKey, (u64, Pool)>,
    made: u64,
}

/// One app's pools.
pub(crate) struct AppPools {
    app_id: String,
    pools: Mutex<Pools>,
}

impl AppPools {
    pub fn new(app_id: &str) -> AppPools {
        AppPools {
            app_id: app_id.to_owned(),
            pools: Mutex::default(),
        }
    }

    /// The app this belongs to.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// What the app's pools hold now.
    pub fn stats(&self) -> crate::PoolStats {
        let pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stats = crate::PoolStats::default();
        for (_, pool) in pools.pools.values() {
            let metrics = pool.metrics();
            stats.pools += 1;
            stats.connections += metrics.connection_count.load(Ordering::Relaxed);
            stats.in_use += metrics.connections_in_use.load(Ordering::Relaxed);
            stats.idle += metrics.connections_in_pool.load(Ordering::Relaxed);
        }
        stats
    }

    /// The pool of `raw` (parsed: `address`) at `server`, made on first use.
    fn pool(&self, raw: &str, address: &Address, server: SocketAddr) -> Pool {
        let key = PoolKey {
            address: raw.to_owned(),
            server,
        };
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, pool)) = pools.pools.get(&key) {
            return pool.clone();
        }
        if pools.pools.len() >= MAX_POOLS_PER_APP {
            let oldest = pools
                .pools
                .iter()
                .min_by_key(|(_, (made, _))| *made)
                .map(|(key, _)| PoolKey {
                    address: key.address.clone(),
                    server: key.server,
                });
            if let Some((_, old)) = oldest.and_then(|key| pools.pools.remove(&key)) {
                tracing::debug!(app = %self.app_id, "closing the oldest MySQL pool of the app");
                // Waits for its connections in use to come back, then
                // closes them all.
                tokio::spawn(async move {
                    let _ = old.disconnect().await;
                });
            }
        }
        let pool = Pool::new(options(address, server));
        pools.made += 1;
        let made = pools.made;
        pools.pools.insert(key, (made, pool.clone()));
        pool
    }

    /// A connection for the guest's address `raw`, if `allowed` grants it:
    /// the grant check (a denial is logged, naming the manifest entry to
    /// add), name resolution with the private-address guard, then a pooled
    /// connection to one of the addresses it resolved to. Everything
    /// within [`CONNECT_TIMEOUT`].
    pub async fn connect(
        &self,
        allowed: &AllowedHosts,
        raw: &str,
    ) -> Result<(Conn, Address), MysqlError> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let address = Address::parse(raw)?;
        let target = format!("mysql://{}:{}", host_in_url(&address.host), address.port);
        let timed_out = || {
            MysqlError::ConnectionFailed(format!(
                "cannot connect to {target}: no answer within {CONNECT_TIMEOUT:?}"
            ))
        };
        let servers = tokio::time::timeout_at(
            deadline,
            allowed.authorize("mysql", &address.host, address.port),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(|err| match err {
            OutboundError::NotAllowed { .. } => MysqlError::ConnectionFailed(format!(
                "{target} is not allowed: it is not in the component's allowed_outbound_hosts"
            )),
            other => MysqlError::ConnectionFailed(format!("{target} is not allowed: {other}")),
        })?;
        let mut last = None;
        for server in servers {
            let pool = self.pool(raw, &address, server);
            match tokio::time::timeout_at(deadline, pool.get_conn()).await {
                Ok(Ok(conn)) => return Ok((conn, address)),
                Ok(Err(err)) => last = Some(err),
                Err(_) => return Err(timed_out()),
            }
        }
        let why = last.map_or_else(
            || "no address".to_owned(),
            |err| address.scrub(&err.to_string()),
        );
        Err(MysqlError::ConnectionFailed(format!(
            "cannot connect to {target}: {why}"
        )))
    }
}

impl Drop for AppPools {
    fn drop(&mut self) {
        // Close the idle connections now rather than when the server times
        // them out (only possible within a Tokio runtime).
        let pools = std::mem::take(
            &mut self
                .pools
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .pools,
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for (_, pool) in pools.into_values() {
                runtime.spawn(async move {
                    let _ = pool.disconnect().await;
                });
            }
        }
    }
}

/// `host` as written in a URL (IPv6 literals in brackets).
fn host_in_url(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The driver's options for `address` at `server`: only what the host
/// allows. The driver connects to `server` only (it never resolves the
/// name again), never through a Unix socket, and has no `LOAD DATA LOCAL
/// INFILE` handler (so the server cannot read host files).
fn options(address: &Address, server: SocketAddr) -> OptsBuilder {
    let pool = PoolOpts::default()
        .with_constraints(PoolConstraints::new(0, MAX_POOL_SIZE).unwrap_or_default())
        .with_inactive_connection_ttl(IDLE_TTL)
        // COM_RESET_CONNECTION when a connection comes back: rolls back an
        // open transaction, drops temporary tables, resets session
        // variables, so nothing leaks from one request to the next.
        .with_reset_connection(true);
    let mut setup = Vec::new();
    if let Some(db) = &address.database {
        // COM_RESET_CONNECTION keeps the current database: a guest's `USE
        // other` would outlive its request.
        setup.push(format!("USE `{}`", db.replace('`', "``")));
    }
    OptsBuilder::default()
        .ip_or_hostname(address.host.clone())
        .resolved_ips(Some(vec![server.ip()]))
        .tcp_port(server.port())
        .prefer_socket(false)
        .socket(None::<String>)
        .user(address.user.clone())
        .pass(address.password.clone())
        .db_name(address.database.clone())
        .setup(setup)
        .ssl_opts(address.tls.then(SslOpts::default))
        .pool_opts(pool)
}
