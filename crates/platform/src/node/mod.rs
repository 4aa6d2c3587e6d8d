//! The registry of apps on a node: one engine, one epoch ticker and one
//! compile cache for all of them; deploy, replace, rollback and remove; and
//! routing of public requests by host name.
//!
//! The code is split by concern, each part adding to `impl Node`:
//! - `registry`: the apps serving now, by name and custom hostname, and
//!   their persisted records;
//! - `load`: turning a release into a running HTTP trigger (signature
//!   policy, manifest checks, quotas, settings) on an app's first request,
//!   and unloading idle apps;
//! - `dispatch`: public requests, routed by host name;
//! - `deploy`: deploy, rollback and remove;
//! - `info`: what the admin API says about apps ([`AppInfo`]);
//! - `refusal`: why an admin operation was refused ([`Refusal`]).

mod deploy;
mod dispatch;
mod info;
mod load;
mod refusal;
mod registry;

pub use deploy::check_app_name;
pub use dispatch::text_response;
pub use info::{AppInfo, RouteInfo};
pub use refusal::Refusal;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use ed25519_dalek::VerifyingKey;
use nimbus_app::AppHost;
use nimbus_runtime::{CompileCache, EngineConfig, EpochTicker, Loader, PoolSize};

use crate::config::NodeConfig;
use crate::metrics::Metrics;
use crate::store::{State, Store};
use registry::Routes;

/// How a node is set up.
pub struct NodeOptions {
    /// The data directory (bundles, state, admin token).
    pub data_dir: PathBuf,
    /// Settings from `--config`.
    pub config: NodeConfig,
    /// The compile cache shared by every app (`None`: compile every time).
    pub cache: Option<CompileCache>,
    /// Public keys whose signatures are trusted.
    pub trusted_keys: Vec<VerifyingKey>,
    /// Refuse unsigned bundles.
    pub require_signatures: bool,
    /// How the node reaches OCI registries for `deploy --from`.
    pub registry: nimbus_oci::RegistryOptions,
}

/// The node: every app, and what they share.
pub struct Node {
    host: AppHost,
    _ticker: EpochTicker,
    store: Store,
    config: NodeConfig,
    trusted_keys: Vec<VerifyingKey>,
    trusted_key_ids: Vec<String>,
    require_signatures: bool,
    registry: nimbus_oci::RegistryOptions,
    metrics: Arc<Metrics>,
    routes: RwLock<Routes>,
    state: Mutex<State>,
    admin_lock: tokio::sync::Mutex<()>,
    started: Instant,
    public_addr: OnceLock<SocketAddr>,
    readiness: std::sync::atomic::AtomicU8,
}

/// Whether a node takes traffic, for `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Listening, but apps with event triggers are still starting.
    Starting,
    /// Serving every deployed app.
    Ready,
    /// Shutting down: finishing what is in flight, taking nothing new.
    Draining,
}

impl Node {
    /// How this node reaches registries.
    pub(crate) fn registry_options(&self) -> nimbus_oci::RegistryOptions {
        self.registry.clone()
    }

    /// Opens the data directory and registers every deployed app, without
    /// loading any: each app's code is loaded on its first request.
    pub fn open(options: NodeOptions) -> anyhow::Result<Arc<Node>> {
        let store = Store::open(&options.data_dir)?;
        let state = store.load_state()?;
        store.collect_garbage(&state);
        let engine = EngineConfig {
            pool: Some(PoolSize::SERVER),
            consume_fuel: false,
        }
        .build()?;
        let host = AppHost::new(Arc::new(Loader::new(engine, options.cache)))?;
        let ticker = EpochTicker::start(host.engines());
        let trusted_key_ids = options
            .trusted_keys
            .iter()
            .map(crate::signing::key_id)
            .collect();
        let node = Arc::new(Node {
            host,
            _ticker: ticker,
            store,
            config: options.config,
            trusted_keys: options.trusted_keys,
            trusted_key_ids,
            require_signatures: options.require_signatures,
            registry: options.registry,
            metrics: Arc::new(Metrics::new()),
            routes: RwLock::new(Routes::default()),
            state: Mutex::new(state.clone()),
            admin_lock: tokio::sync::Mutex::new(()),
            started: Instant::now(),
            public_addr: OnceLock::new(),
            readiness: std::sync::atomic::AtomicU8::new(0),
        });
        {
            let mut routes = node.routes.write().unwrap_or_else(|e| e.into_inner());
            for (name, record) in &state.apps {
                let live = node.live_app(name, record.clone(), None);
                // Deployed before the policy was tightened: say so now, and
                // serve 503 rather than unverified code.
                if let Err(refusal) = node.check_signature_policy(&record.current) {
                    tracing::warn!(
                        app = %name,
                        release = %record.current.id,
                        "app not served: {}",
                        refusal.message
                    );
                    live.set_load_error(Some(refusal.message));
                }
                for host in &record.current.hostnames {
                    routes.by_host.insert(host.clone(), name.clone());
                }
                routes.by_name.insert(name.clone(), live);
            }
        }
        node.update_gauges();
        Ok(node)
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The data directory.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How many apps are deployed.
    pub fn app_count(&self) -> usize {
        self.read_routes().by_name.len()
    }

    /// Records where the public listener is bound (for app URLs).
    /// Whether the node takes traffic (`/readyz`).
    pub fn readiness(&self) -> Readiness {
        match self.readiness.load(std::sync::atomic::Ordering::Acquire) {
            0 => Readiness::Starting,
            1 => Readiness::Ready,
            _ => Readiness::Draining,
        }
    }

    /// Records that the node has started every app it must run (it is then
    /// ready), or that it is shutting down (draining, for good).
    pub fn set_readiness(&self, readiness: Readiness) {
        let value = match readiness {
            Readiness::Starting => 0,
            Readiness::Ready => 1,
            Readiness::Draining => 2,
        };
        // Draining is final: a late "ready" does not undo it.
        let _ = self.readiness.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |current| (current != 2).then_some(value),
        );
    }

    pub fn set_public_addr(&self, addr: SocketAddr) {
        let _ = self.public_addr.set(addr);
    }
}
