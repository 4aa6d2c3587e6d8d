//! One app's Redis connections: one per address.

use std::net::SocketAddr;
use std::sync::Mutex;

use nimbus_capability::{AllowedHosts, OutboundError, CONNECT_TIMEOUT};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::Error;

/// The most addresses one app keeps connections to; past it, the oldest
/// is dropped (a wildcard grant must not let a guest pile connections up).
const MAX_ADDRESSES: usize = 64;

/// One app's Redis connections, keyed by the address the guest gave and the
/// server address it resolved to. Never shared between apps.
#[derive(Default)]
pub struct RedisPool {
    connections: Mutex<Vec<(PoolKey, RedisLink)>>,
}

/// The app's connection to one server, and how to make a connection of its
/// own for a command that would hold the shared one up (`BLPOP`, …).
#[derive(Clone)]
pub struct RedisLink {
    /// The connection the app's requests share.
    pub shared: ConnectionManager,
    /// A client for the same server (its resolved address) and credentials.
    client: redis::Client,
}

impl RedisLink {
    /// Runs `cmd` on the shared connection.
    ///
    /// A connection that broke while idle (the server restarted, a proxy
    /// closed it) fails the next command before it is written: that command
    /// was never sent, so it is sent once more, on the connection the
    /// manager makes anew. A command that may have reached the server is
    /// never repeated.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let mut shared = self.shared.clone();
        match cmd.query_async(&mut shared).await {
            Err(err) if never_sent(&err) => {
                tracing::debug!("redis: the connection had closed ({err}); sending again");
                cmd.query_async(&mut shared).await
            }
            other => other,
        }
    }

    /// A connection of its own, made within [`CONNECT_TIMEOUT`] and closed
    /// when dropped.
    pub async fn dedicated(&self) -> Result<redis::aio::MultiplexedConnection, Error> {
        let config = redis::AsyncConnectionConfig::new().set_connection_timeout(CONNECT_TIMEOUT);
        match tokio::time::timeout(
            CONNECT_TIMEOUT,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(err)) => Err(Error::Other(format!("cannot connect: {}", describe(&err)))),
            Err(_) => Err(Error::Other(format!(
                "cannot connect: no connection within {CONNECT_TIMEOUT:?}"
            ))),
        }
    }
}

/// Whether `err` says the command could not be written at all (the
/// connection's writer was gone): `BrokenPipe` before anything was sent.
fn never_sent(err: &redis::RedisError) -> bool {
    use std::error::Error as _;
    err.source()
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

#[derive(PartialEq, Eq, Hash, Clone)]
struct PoolKey {
    address: String,
    server: SocketAddr,
}

impl RedisPool {
    /// An empty pool.
    pub fn new() -> RedisPool {
        RedisPool::default()
    }

    /// How many connections the pool holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the pool holds no connection.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PoolKey, RedisLink)>> {
        // A panic while holding the lock leaves a valid Vec behind.
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection to the server at `address`, if `allowed_hosts` grants
    /// it: the pooled one, or a new one made within [`CONNECT_TIMEOUT`].
    pub async fn connect(
        &self,
        allowed_hosts: &AllowedHosts,
        address: &str,
    ) -> Result<RedisLink, Error> {
        let info: ConnectionInfo = address
            .into_connection_info()
            .map_err(|_| Error::InvalidAddress)?;
        let (host, port) = match &info.addr {
            ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            ConnectionAddr::TcpTls { .. } => {
                return Err(Error::Other(
                    "rediss:// (TLS) addresses are not supported by this host".into(),
                ))
            }
            _ => return Err(Error::InvalidAddress),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let servers = allowed_hosts
            .authorize("redis", &host, port)
            .await
            .map_err(|err| match err {
                OutboundError::NotAllowed { .. } | OutboundError::PrivateAddress { .. } => {
                    Error::InvalidAddress
                }
                other => Error::Other(other.to_string()),
            })?;
        let server = servers[0];
        let key = PoolKey {
            address: address.to_owned(),
            server,
        };
        if let Some((_, connection)) = self.lock().iter().find(|(k, _)| *k == key) {
            return Ok(connection.clone());
        }
        let connection = open(info, server).await.map_err(|why| {
            Error::Other(format!("cannot connect to redis://{host}:{port}: {why}"))
        })?;
        let mut connections = self.lock();
        if let Some((_, existing)) = connections.iter().find(|(k, _)| *k == key) {
            // Another request connected meanwhile: use one connection.
            return Ok(existing.clone());
        }
        if connections.len() >= MAX_ADDRESSES {
            connections.remove(0);
        }
        connections.push((key, connection.clone()));
        Ok(connection)
    }
}

/// Connects to `server` (never resolving a name again) with the database,
/// user and password of `info`.
async fn open(info: ConnectionInfo, server: SocketAddr) -> Result<RedisLink, String> {
    let info = ConnectionInfo {
        addr: ConnectionAddr::Tcp(server.ip().to_string(), server.port()),
        redis: info.redis,
    };
    let client = redis::Client::open(info).map_err(|err| describe(&err))?;
    let shared = client.clone();
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_number_of_retries(0);
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    {
        Ok(Ok(connection)) => Ok(RedisLink {
            shared: connection,
            client: shared,
        }),
        Ok(Err(err)) => Err(describe(&err)),
        Err(_) => Err(format!("no connection within {CONNECT_TIMEOUT:?}")),
    }
}

/// A connection error, without anything the address held.
fn describe(err: &redis::RedisError) -> String {
    if err.kind() == redis::ErrorKind::AuthenticationFailed || err.code() == Some("WRONGPASS") {
        return "authentication failed".to_owned();
    }
    err.to_string()
}
