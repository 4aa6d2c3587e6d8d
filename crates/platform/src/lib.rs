//! The Nimbus node: many apps in one process (`nimbus node`).
//!
//! - [`node::Node`]: the registry of apps. One engine, epoch ticker and
//!   compile cache for all; apps reached by host name (`NAME.DOMAIN` or a
//!   custom hostname); code loaded lazily on an app's first request; deploys
//!   validated fully before they replace the running version atomically.
//! - [`bundle`]: what `nimbus deploy` uploads (a gzipped tar with a SHA-256
//!   per file), and the checks on reading one.
//! - [`signing`]: ed25519 signatures over a bundle's digests.
//! - [`store`]: the data directory, written with synced atomic renames.
//! - [`settings`]: per-app variables, runtime config and migrations.
//! - [`config`]: the node's config file and per-app quotas.
//! - [`metrics`]: Prometheus metrics, fed by each app's request observer.
//! - [`server`]: the public and admin listeners; [`client`]: the admin API
//!   client of the CLI.
//! - [`serve`]: one app with all its triggers in this process (`nimbus up`,
//!   the containerd shim).

pub mod bundle;
pub mod client;
pub mod config;
pub mod metrics;
pub mod node;
pub mod serve;
pub mod server;
pub mod settings;
pub mod signing;
pub mod store;
pub mod triggers;

pub use config::{NodeConfig, Quotas};
// For the CLI, which talks to the admin API through this crate.
pub use http;
pub use node::{AppInfo, Node, NodeOptions, Refusal};
pub use serde_json;

/// Installs the JSON log subscriber on stderr with `filter`.
pub fn init_json_logging(filter: tracing_subscriber::EnvFilter) {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .init();
}

pub use nimbus_runtime::one_line;
