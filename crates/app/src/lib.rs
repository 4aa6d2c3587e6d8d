//! The resolved app: a validated manifest whose components are compiled and
//! whose grants are checked and opened, ready for a trigger to serve.
//!
//! Everything here happens once, at load (or deploy) time, so that a bad app
//! is refused before it serves a single request.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use nimbus_cap_key_value::KeyValueCapability;
use nimbus_cap_outbound_http::OutboundHttpCapability;
use nimbus_cap_outbound_mqtt::MqttCapability;
use nimbus_cap_outbound_mysql::MysqlCapability;
use nimbus_cap_outbound_postgres::PostgresCapability;
use nimbus_cap_outbound_redis::RedisCapability;
use nimbus_cap_sqlite::SqliteCapability;
use nimbus_cap_variables::VariablesCapability;
use nimbus_cap_wasi::WasiCapability;
pub use nimbus_capability::{App, AppComponent};
use nimbus_capability::{AppContext, Capabilities, Linkers, OutboundPolicy};
use nimbus_manifest::Manifest;
use nimbus_runtime::{Engines, Loader};
use nimbus_runtime_config::RuntimeConfig;

/// The host services this build of nimbus offers, in linking order: the one
/// list. Adding a capability is a new `cap-*` crate (implementing
/// [`nimbus_capability::Capability`]) plus one line here (and its entry in
/// this crate's `Cargo.toml`).
pub fn capabilities() -> Capabilities {
    Capabilities::new()
        .with(WasiCapability)
        .with(OutboundHttpCapability)
        .with(KeyValueCapability::new())
        .with(SqliteCapability)
        .with(VariablesCapability)
        .with(RedisCapability)
        .with(PostgresCapability)
        .with(MysqlCapability)
        .with(MqttCapability::new())
        .with(nimbus_cap_messaging::MessagingCapability)
}

/// What every app of a host shares: the loader (and its compile cache), the
/// capabilities, and the component linkers built from them, one per engine
/// (a node loads thousands of apps; they all link against the same host
/// functions).
#[derive(Clone)]
pub struct AppHost {
    loader: Arc<Loader>,
    capabilities: Capabilities,
    linkers: Arc<Linkers>,
}

impl AppHost {
    /// A host for apps loaded through `loader`, with [`capabilities`].
    pub fn new(loader: Arc<Loader>) -> anyhow::Result<AppHost> {
        let capabilities = capabilities();
        let linkers = Arc::new(capabilities.linkers(loader.engines())?);
        Ok(AppHost {
            loader,
            capabilities,
            linkers,
        })
    }

    /// The loader.
    pub fn loader(&self) -> &Loader {
        &self.loader
    }

    /// The engines (their epochs need an [`nimbus_runtime::EpochTicker`]).
    pub fn engines(&self) -> &Engines {
        self.loader.engines()
    }
}

/// How to load an app, beyond its manifest.
#[derive(Debug, Default)]
pub struct AppOptions {
    /// Isolates the app's state from other apps' (Redis key prefix, …).
    /// Default: the app's name from its manifest.
    pub app_id: Option<String>,
    /// Where the app's embedded state lives (SQLite files). Default:
    /// `.nimbus/` next to the manifest.
    pub data_dir: Option<PathBuf>,
    /// The runtime config (`--runtime-config-file`): backends per store and
    /// database, variable values. Sections nobody reads are an error.
    pub runtime_config: Option<RuntimeConfig>,
    /// SQL run against the `default` database before serving (`--sqlite`).
    pub sqlite_migrations: Vec<String>,
    /// Values for app variables (name → value), before the environment.
    pub variables: Vec<(String, String)>,
    /// The host's outbound policy (a node denies private destinations).
    pub outbound: OutboundPolicy,
    /// Ignore the host process's environment for variable values
    /// (`NIMBUS_VARIABLE_…`): a node sets it, so that its own environment
    /// never reaches the apps of its tenants (they set theirs per app).
    pub ignore_host_environment: bool,
}

impl AppHost {
    /// [`AppHost::load_with`] with default options.
    pub fn load(&self, manifest: Manifest) -> anyhow::Result<App> {
        self.load_with(manifest, AppOptions::default())
    }

    /// Checks sources, configures the host services (opening stores and
    /// databases, resolving variables), compiles every component (through
    /// the host's compile cache) and resolves its grants.
    pub fn load_with(&self, manifest: Manifest, options: AppOptions) -> anyhow::Result<App> {
        manifest.check_sources()?;
        let app_id = options
            .app_id
            .clone()
            .unwrap_or_else(|| default_app_id(&manifest));
        let data_dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| manifest.dir().join(".nimbus"));
        let ignore_env = options.ignore_host_environment;
        let env = move |name: &str| {
            if ignore_env {
                None
            } else {
                std::env::var(name).ok()
            }
        };
        let services = self.capabilities.configure_app(
            &AppContext {
                manifest: &manifest,
                app_id: &app_id,
                data_dir: &data_dir,
                outbound: &options.outbound,
                variables: &options.variables,
                env: &env,
            },
            options.runtime_config.unwrap_or_else(RuntimeConfig::empty),
        )?;
        if !options.sqlite_migrations.is_empty() {
            let sqlite = services
                .get::<SqliteCapability>()
                .context("--sqlite: this build has no SQLite capability")?;
            for sql in &options.sqlite_migrations {
                sqlite
                    .run_migrations(nimbus_cap_sqlite::DEFAULT_LABEL, sql)
                    .context("--sqlite")?;
            }
        }
        let mut components = Vec::new();
        for (id, component) in &manifest.components {
            let source = manifest.resolve(&component.source);
            let compiled = self
                .loader
                .load_file(&source)
                .with_context(|| format!("component `{id}`"))?;
            compiled.check_memory_limit(id.as_str(), component.limits.memory)?;
            let component_services = services.configure_component(&manifest, id, component)?;
            components.push(AppComponent {
                id: id.clone(),
                compiled,
                services: component_services,
                limits: component.limits,
            });
        }
        Ok(App::new(
            manifest,
            components,
            services,
            self.linkers.clone(),
        ))
    }
}

/// The default app id: the manifest's app name, reduced to the characters
/// the services accept.
fn default_app_id(manifest: &Manifest) -> String {
    let id: String = manifest
        .name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "app".to_owned()
    } else {
        id
    }
}
