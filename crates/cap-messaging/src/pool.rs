//! One app's NATS connections: one per (server, credentials), made on first
//! use; each reconnects by itself (async-nats) when its server goes away.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use async_nats::connection::State;
use nimbus_messaging_types::nats::NatsAddress;
use nimbus_messaging_types::Error;
use nimbus_outbound_networking::{AllowedHosts, OutboundError, CONNECT_TIMEOUT};
use tokio::time::Instant;

use crate::MAX_POOLED_CONNECTIONS;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One app's NATS connections, never shared with another app. Cheap to
/// clone.
#[derive(Clone)]
pub struct MessagingAppState(Arc<AppPool>);

struct AppPool {
    app_id: String,
    slots: Mutex<HashMap<PoolKey, Arc<Slot>>>,
}

/// Identifies a pooled connection. Holds the password: no `Debug`.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

/// Locked while connecting, so that clients of one key wait for one
/// connection instead of making several.
type Slot = tokio::sync::Mutex<Option<async_nats::Client>>;

impl std::fmt::Debug for MessagingAppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessagingAppState")
            .field("app_id", &self.0.app_id)
            .field("connections", &lock(&self.0.slots).len())
            .finish()
    }
}

/// A guest's `client`: a pooled connection and the server it goes to.
pub(crate) struct Connection {
    pub client: async_nats::Client,
    pub endpoint: String,
    /// Set by `disconnect`: the client may not be used any more.
    pub disconnected: AtomicBool,
}

impl MessagingAppState {
    /// The empty pool of app `app_id`.
    pub fn new(app_id: impl Into<String>) -> MessagingAppState {
        MessagingAppState(Arc::new(AppPool {
            app_id: app_id.into(),
            slots: Mutex::new(HashMap::new()),
        }))
    }

    /// How many servers the pool has a connection to (connected now).
    pub fn connected(&self) -> usize {
        lock(&self.0.slots)
            .values()
            .filter(|slot| {
                slot.try_lock().is_ok_and(|client| {
                    client
                        .as_ref()
                        .is_some_and(|c| c.connection_state() == State::Connected)
                })
            })
            .count()
    }

    /// What `connect(name)` does for a guest under `allowed`: parses the
    /// address, checks the grant and resolves it, then hands out the pooled
    /// connection, connecting it first if there is none. Fails within
    /// [`CONNECT_TIMEOUT`].
    pub(crate) async fn connect(
        &self,
        allowed: &AllowedHosts,
        name: &str,
    ) -> Result<Connection, Error> {
        let address = NatsAddress::parse(name)
            .map_err(|why| Error::Other(format!("invalid NATS address: {why}")))?;
        let endpoint = address.endpoint();
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let addrs = match tokio::time::timeout_at(
            deadline,
            allowed.authorize("nats", &address.host, address.port),
        )
        .await
        {
            Ok(Ok(addrs)) => addrs,
            Ok(Err(OutboundError::NotAllowed { .. })) => {
                return Err(Error::PermissionDenied(format!(
                    "{endpoint} is not allowed: add \"{endpoint}\" to the component's allowed_outbound_hosts"
                )))
            }
            Ok(Err(err)) => return Err(Error::Connection(err.to_string())),
            Err(_) => {
                return Err(Error::Connection(format!(
                    "cannot resolve {} within {CONNECT_TIMEOUT:?}",
                    address.host
                )))
            }
        };
        let key = PoolKey {
            host: address.host.clone(),
            port: address.port,
            credentials: address.credentials.clone(),
        };
        let slot = self.slot(&key);
        let Ok(mut pooled) = tokio::time::timeout_at(deadline, slot.lock()).await else {
            return Err(Error::Connection(format!(
                "cannot connect to {endpoint} within {CONNECT_TIMEOUT:?}"
            )));
        };
        let client = match pooled.as_ref() {
            Some(client) => {
                if client.connection_state() != State::Connected {
                    return Err(Error::Connection(format!(
                        "not connected to {endpoint} (reconnecting)"
                    )));
                }
                client.clone()
            }
            None => {
                let client = self.open(&address, &addrs, deadline).await?;
                *pooled = Some(client.clone());
                client
            }
        };
        Ok(Connection {
            client,
            endpoint,
            disconnected: AtomicBool::new(false),
        })
    }

    /// Connects to the first of `addrs` (those of `address`, authorized)
    /// that answers before `deadline`.
    async fn open(
        &self,
        address: &NatsAddress,
        addrs: &[SocketAddr],
        deadline: Instant,
    ) -> Result<async_nats::Client, Error> {
        let endpoint = address.endpoint();
        let mut last_error = format!("{} resolves to no address", address.host);
        for addr in addrs {
            let app = self.0.app_id.clone();
            let logged = endpoint.clone();
            let mut options = async_nats::ConnectOptions::new()
                .name(format!("nimbus {app}"))
                .connection_timeout(CONNECT_TIMEOUT)
                // Only the authorized address: never a server the cluster
                // advertises.
                .ignore_discovered_servers()
                .max_reconnects(None)
                .event_callback(move |event| {
                    let (app, endpoint) = (app.clone(), logged.clone());
                    async move {
                        match event {
                            async_nats::Event::Disconnected => tracing::warn!(
                                app = %app,
                                "messaging: lost the connection to {endpoint}; reconnecting"
                            ),
                            async_nats::Event::Connected => tracing::info!(
                                app = %app,
                                "messaging: connected to {endpoint}"
                            ),
                            other => tracing::debug!(app = %app, "messaging: {endpoint}: {other}"),
                        }
                    }
                });
            if let Some((user, password)) = &address.credentials {
                options = options.user_and_password(user.clone(), password.clone());
            }
            // SocketAddr shows an IPv6 address in brackets.
            let url = format!("nats://{addr}");
            match tokio::time::timeout_at(deadline, options.connect(url)).await {
                Ok(Ok(client)) => {
                    tracing::debug!(app = %self.0.app_id, "messaging: connected to {endpoint} ({addr})");
                    return Ok(client);
                }
                // The error may name the URL, never the credentials (they
                // are not in it).
                Ok(Err(err)) => {
                    last_error = format!("cannot connect to {endpoint} ({addr}): {err}")
                }
                Err(_) => {
                    return Err(Error::Connection(format!(
                    "cannot connect to {endpoint} ({addr}): no answer within {CONNECT_TIMEOUT:?}"
                )))
                }
            }
        }
        Err(Error::Connection(last_error))
    }

    /// The slot of `key`, made if new (dropping another when the pool is
    /// full).
    fn slot(&self, key: &PoolKey) -> Arc<Slot> {
        let mut slots = lock(&self.0.slots);
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        if slots.len() >= MAX_POOLED_CONNECTIONS {
            if let Some(old) = slots.keys().next().cloned() {
                slots.remove(&old);
            }
        }
        let slot = Arc::new(Slot::new(None));
        slots.insert(key.clone(), slot.clone());
        slot
    }
}
