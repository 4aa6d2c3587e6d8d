//! Outbound MQTT for guests: Spin's `fermyon:spin/mqtt@2.0.0` (what
//! `spin_sdk::mqtt` imports in spin-sdk 5) and `spin:mqtt/mqtt@3.0.0` (the
//! same functions as `async func`, spin-sdk 6 and 7), over connections
//! pooled per app.
//!
//! # Guest interface
//!
//! `connection.open(address, username, password, keep-alive-interval-in-secs)`
//! then `connection.publish(topic, payload, qos)`:
//!
//! - `address` is `mqtt://HOST[:PORT][?client_id=ID]` (port
//!   [`DEFAULT_PORT`] when left out). Anything else is `invalid-address`:
//!   another scheme (no TLS: `mqtts://` is refused), no host, a path, or a
//!   user name or password in the URL (they go in the arguments). Other
//!   query parameters are ignored.
//! - An empty `username` connects without credentials (MQTT sends a
//!   password only with a user name).
//! - `keep-alive-interval-in-secs` is the MQTT keep-alive (`0`: none),
//!   capped at 65535 (the protocol's largest).
//! - `publish` with `at-most-once` returns once the message is written to
//!   the broker's socket; with `at-least-once` once the broker acknowledged
//!   it (PUBACK), with `exactly-once` once the exchange completed (PUBCOMP);
//!   past [`PUBLISH_TIMEOUT`] it fails with `other`.
//!
//! Errors are the interface's own: `invalid-address`,
//! `connection-failed(..)` (not allowed, broker down or unreachable, bad
//! credentials, the connection broke), `too-many-connections` (more than
//! [`MAX_CONNECTIONS_PER_INSTANCE`] open in one instance) and `other(..)`
//! (an invalid topic, a payload over [`MAX_PAYLOAD_SIZE`], no
//! acknowledgement in time). The user name and password are never part of
//! an error message or a log line.
//!
//! # Access control
//!
//! A component may connect only where its `allowed_outbound_hosts` grants
//! (`mqtt://host:port`; `mqtt://host` means port 1883), checked on every
//! `open` with [`AllowedHosts::authorize`]: a denial is logged with the
//! manifest entry to add, and the guest gets `connection-failed`. The
//! client connects only to the addresses `authorize` returned (so the
//! node's private-address guard applies, and DNS is not asked again).
//!
//! # Pooling
//!
//! Each app has its own pool ([`MqttAppState`], never shared between apps):
//! one connected client per (address, user name, password, keep-alive),
//! each with a client id of its own (the address's `client_id`, if any,
//! then a suffix unique to the connection), and its event loop polled by a
//! task that ends when the pool drops the connection or the connection
//! breaks; the next `open` then connects again. A broker that is down
//! fails `open` within [`CONNECT_TIMEOUT`]. The guest's `connection` is a
//! resource of its instance: it is gone when the request ends. The pool
//! holds at most [`MAX_POOLED_CONNECTIONS`] brokers per app (past it, the
//! least recently opened goes).
//!
//! # Linkers
//!
//! [`add_to_linker`] adds `fermyon:spin/mqtt@2.0.0` to every linker, and
//! `spin:mqtt/mqtt@3.0.0` (component-model async functions) only to a linker
//! for which [`nimbus_capability::links_concurrent`] is true.
//!
//! # Use
//!
//! Add [`MqttCapability::new()`] to the app's
//! [`Capabilities`](nimbus_capability::Capabilities); it has no runtime
//! config.

#![warn(missing_docs)]

mod address;
mod capability;
mod host;
mod pool;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use capability::{MqttComponent, MqttInstance};
pub use host::{add_to_linker, Connection, Connection3, MqttView};
pub use nimbus_outbound_networking::{AllowedHosts, CONNECT_TIMEOUT, MAX_CONNECTIONS_PER_INSTANCE};
pub use pool::MqttAppState;

/// The broker port of an `mqtt://` address that names none.
pub const DEFAULT_PORT: u16 = 1883;

/// How long `publish` waits for the message to be sent and, for QoS 1 and
/// 2, acknowledged by the broker, before the guest gets `other`. The
/// default of [`MqttCapability::with_publish_timeout`].
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest payload a guest may publish, in bytes (MQTT allows up to
/// 256 MiB; one message that large would hold the connection for every
/// other instance of the app).
pub const MAX_PAYLOAD_SIZE: usize = 1 << 20;

/// The most broker connections one app's pool holds at once.
pub const MAX_POOLED_CONNECTIONS: usize = 64;

/// Host bindings generated from `wit/` (`fermyon:spin/mqtt@2.0.0` and
/// `spin:mqtt/mqtt@3.0.0`).
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "nimbus:mqtt/host",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/mqtt.connection": crate::Connection,
            "spin:mqtt/mqtt.connection": crate::Connection3,
        },
    });
}

/// Why `open` or `publish` failed: the variants of the interface's `error`
/// (the same in 2.0.0 and 3.0.0). Messages never hold credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MqttError {
    /// The address is not `mqtt://HOST[:PORT][?client_id=ID]`.
    #[error("invalid MQTT address")]
    InvalidAddress,
    /// The instance already has [`MAX_CONNECTIONS_PER_INSTANCE`] open.
    #[error(
        "too many MQTT connections open in this instance (at most {MAX_CONNECTIONS_PER_INSTANCE})"
    )]
    TooManyConnections,
    /// Not allowed, not reachable, refused, or broken.
    #[error("{0}")]
    ConnectionFailed(String),
    /// Anything else (invalid topic, payload too large, no acknowledgement).
    #[error("{0}")]
    Other(String),
}

/// The outbound MQTT capability. Add it to the app's
/// [`Capabilities`](nimbus_capability::Capabilities); each app it configures
/// gets its own connection pool ([`MqttAppState`]).
#[derive(Debug, Clone)]
pub struct MqttCapability {
    publish_timeout: Duration,
}

impl MqttCapability {
    /// The capability, with `publish` bounded by [`PUBLISH_TIMEOUT`].
    pub fn new() -> MqttCapability {
        MqttCapability {
            publish_timeout: PUBLISH_TIMEOUT,
        }
    }

    /// The same capability with `publish` bounded by `timeout` instead.
    pub fn with_publish_timeout(mut self, timeout: Duration) -> MqttCapability {
        self.publish_timeout = timeout;
        self
    }

    /// How long `publish` waits for the broker.
    pub fn publish_timeout(&self) -> Duration {
        self.publish_timeout
    }
}

impl Default for MqttCapability {
    fn default() -> MqttCapability {
        MqttCapability::new()
    }
}
