//! The registry of apps on a node: one engine, one epoch ticker and one
//! compile cache for all of them; deploy, replace, rollback and remove; and
//! routing of public requests by host name.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use arc_swap::ArcSwapOption;
use ed25519_dalek::VerifyingKey;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use nimbus_app::AppHost;
use nimbus_capability::OutboundPolicy;
use nimbus_manifest::{FileMount, Manifest};
use nimbus_runtime::wasmtime::Engine;
use nimbus_runtime::{CompileCache, EngineConfig, EpochTicker, Loader, PoolSize};
use nimbus_trigger_http::{HttpTrigger, ResponseBody};
use serde::Serialize;

use crate::bundle::{in_app, Bundle};
use crate::config::NodeConfig;
use crate::metrics::Metrics;
use crate::settings::{AppSettings, SettingsInfo};
use crate::store::{AppRecord, Release, State, Store};

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
}

/// A refused admin operation: the HTTP status, a category for metrics and
/// logs, and the reason given to the client.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The HTTP status to answer with.
    pub status: StatusCode,
    /// `bundle`, `signature`, `manifest`, `quota`, `settings`, `load`,
    /// `name`, `hostname`, `size`, `not_found`, `conflict` or `internal`.
    pub category: &'static str,
    /// What went wrong, for the client.
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, category: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            category,
            message: message.into(),
        }
    }

    fn internal(err: anyhow::Error) -> Refusal {
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{err:#}"),
        )
    }
}

/// One route of a loaded app.
#[derive(Debug, Clone, Serialize)]
pub struct RouteInfo {
    /// The route, e.g. `/api/...`.
    pub route: String,
    /// The component it runs.
    pub component: String,
}

/// What the admin API says about an app.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// The app's name.
    pub name: String,
    /// Where it is served (`http://NAME.DOMAIN:PORT`).
    pub url: String,
    /// Custom hostnames it also answers on.
    pub hostnames: Vec<String>,
    /// Whether its code is loaded (otherwise it loads on the next request).
    pub loaded: bool,
    /// Why its code could not be loaded, when the last attempt failed (or,
    /// with `--require-signatures`, the release is not signed): it answers
    /// `503` until that is fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its routes, when loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RouteInfo>>,
    /// The release that serves.
    pub current: Release,
    /// The release `rollback` goes back to.
    pub previous: Option<Release>,
    /// The app's settings (variable names, never values).
    pub settings: SettingsInfo,
}

/// One app as it serves now. Replacing an app replaces the whole
/// `LiveApp`; requests in flight keep the `Arc<HttpTrigger>` they started
/// with.
struct LiveApp {
    name: String,
    record: AppRecord,
    dir: PathBuf,
    trigger: ArcSwapOption<HttpTrigger>,
    load_lock: tokio::sync::Mutex<()>,
    last_used_ms: AtomicU64,
    // Why the last load failed (cleared by a successful one).
    load_error: Mutex<Option<String>>,
}

impl LiveApp {
    fn load_error(&self) -> Option<String> {
        self.load_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_load_error(&self, error: Option<String>) {
        *self.load_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

#[derive(Default)]
struct Routes {
    by_name: HashMap<String, Arc<LiveApp>>,
    by_host: HashMap<String, String>,
}

/// The node: every app, and what they share.
pub struct Node {
    engine: Engine,
    host: AppHost,
    _ticker: EpochTicker,
    store: Store,
    config: NodeConfig,
    trusted_keys: Vec<VerifyingKey>,
    trusted_key_ids: Vec<String>,
    require_signatures: bool,
    metrics: Arc<Metrics>,
    routes: RwLock<Routes>,
    state: Mutex<State>,
    admin_lock: tokio::sync::Mutex<()>,
    started: Instant,
    public_addr: OnceLock<SocketAddr>,
}

impl Node {
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
        let host = AppHost::new(Arc::new(Loader::new(engine.clone(), options.cache)))?;
        let ticker = EpochTicker::start(&engine);
        let trusted_key_ids = options
            .trusted_keys
            .iter()
            .map(crate::signing::key_id)
            .collect();
        let node = Arc::new(Node {
            engine,
            host,
            _ticker: ticker,
            store,
            config: options.config,
            trusted_keys: options.trusted_keys,
            trusted_key_ids,
            require_signatures: options.require_signatures,
            metrics: Arc::new(Metrics::new()),
            routes: RwLock::new(Routes::default()),
            state: Mutex::new(state.clone()),
            admin_lock: tokio::sync::Mutex::new(()),
            started: Instant::now(),
            public_addr: OnceLock::new(),
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
    pub fn set_public_addr(&self, addr: SocketAddr) {
        let _ = self.public_addr.set(addr);
    }

    fn read_routes(&self) -> std::sync::RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_routes(&self) -> std::sync::RwLockWriteGuard<'_, Routes> {
        self.routes.write().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn live_app(
        &self,
        name: &str,
        record: AppRecord,
        trigger: Option<Arc<HttpTrigger>>,
    ) -> Arc<LiveApp> {
        let dir = self.store.release_dir(name, &record.current.id);
        Arc::new(LiveApp {
            name: name.to_owned(),
            record,
            dir,
            trigger: ArcSwapOption::new(trigger),
            load_lock: tokio::sync::Mutex::new(()),
            last_used_ms: AtomicU64::new(self.now_ms()),
            load_error: Mutex::new(None),
        })
    }

    fn update_gauges(&self) {
        let routes = self.read_routes();
        let loaded = routes
            .by_name
            .values()
            .filter(|app| app.trigger.load().is_some())
            .count();
        self.metrics.set_apps(routes.by_name.len(), loaded);
    }

    // ---- serving -------------------------------------------------------

    /// The app a host name belongs to: `NAME.DOMAIN`, or a custom hostname.
    fn app_for_host(&self, host: &str) -> Option<Arc<LiveApp>> {
        let routes = self.read_routes();
        if let Some(name) = routes.by_host.get(host) {
            return routes.by_name.get(name).cloned();
        }
        let name = host.strip_suffix(&self.config.domain)?.strip_suffix('.')?;
        if name.is_empty() || name.contains('.') {
            return None;
        }
        routes.by_name.get(name).cloned()
    }

    /// Handles one public request: finds the app by host name, loads its
    /// code if needed, and lets its trigger handle the request.
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Response<ResponseBody> {
        let app = request_host(&req).and_then(|host| self.app_for_host(&host));
        let Some(app) = app else {
            self.metrics.unrouted();
            let host = request_host(&req).unwrap_or_default();
            tracing::info!(
                target: "nimbus::access",
                method = %req.method(),
                path = %req.uri().path(),
                host = %host,
                status = 404,
                "no app for this host"
            );
            let domain = &self.config.domain;
            let shown = if host.is_empty() {
                "this request names no host".to_owned()
            } else {
                format!("no app answers on host {host}")
            };
            return text_response(
                StatusCode::NOT_FOUND,
                format!(
                    "404 Not Found: {shown}; apps on this node are reached as NAME.{domain} \
                     (Host: NAME.{domain}), or on the custom hostnames they were deployed with\n"
                ),
            );
        };
        match self.trigger_for(&app).await {
            Ok(trigger) => trigger.handle(req, client, local).await,
            Err(err) => {
                tracing::error!(app = %app.name, "cannot load the app: {err:#}");
                text_response(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable\n")
            }
        }
    }

    async fn trigger_for(&self, app: &Arc<LiveApp>) -> anyhow::Result<Arc<HttpTrigger>> {
        app.last_used_ms.store(self.now_ms(), Ordering::Relaxed);
        if let Some(trigger) = app.trigger.load_full() {
            return Ok(trigger);
        }
        let _guard = app.load_lock.lock().await;
        if let Some(trigger) = app.trigger.load_full() {
            return Ok(trigger);
        }
        let started = Instant::now();
        let loaded = self
            .load_release(
                &app.name,
                &app.dir,
                &app.record.current,
                &app.record.settings,
            )
            .await;
        let trigger = match loaded {
            Ok(trigger) => trigger,
            Err(refusal) => {
                app.set_load_error(Some(refusal.message.clone()));
                anyhow::bail!(refusal.message);
            }
        };
        app.set_load_error(None);
        tracing::info!(
            app = %app.name,
            release = %app.record.current.id,
            "loaded in {:?}",
            started.elapsed()
        );
        app.trigger.store(Some(trigger.clone()));
        self.update_gauges();
        Ok(trigger)
    }

    /// Whether `release` may serve under this node's signature policy: signed
    /// when `--require-signatures`, and by a trusted key when any is given.
    fn check_signature_policy(&self, release: &Release) -> Result<(), Refusal> {
        let refuse =
            |message: String| Err(Refusal::new(StatusCode::FORBIDDEN, "signature", message));
        match &release.signed_by {
            None if self.require_signatures => refuse(format!(
                "release {} is not signed, and this node requires signatures \
                 (--require-signatures); deploy a bundle signed by a trusted key",
                release.id
            )),
            Some(key) if !self.trusted_key_ids.is_empty() && !self.trusted_key_ids.contains(key) => {
                refuse(format!(
                    "release {} is signed by key {key}, which is not among this node's trusted keys",
                    release.id
                ))
            }
            _ => Ok(()),
        }
    }

    /// Parses, checks and loads a release with the app's settings: the one
    /// place that calls [`App::load`] and [`HttpTrigger::new`]. Messages
    /// name files relative to the release, never the node's paths.
    async fn load_release(
        &self,
        name: &str,
        dir: &Path,
        release: &Release,
        settings: &AppSettings,
    ) -> Result<Arc<HttpTrigger>, Refusal> {
        self.check_signature_policy(release)?;
        let release_dir = format!("{}/", dir.display());
        self.load_release_inner(name, dir, release, settings)
            .await
            .map_err(|mut refusal| {
                refusal.message = self.hide_paths(&refusal.message.replace(&release_dir, ""));
                refusal
            })
    }

    /// `message` with the data directory's path replaced by `DATA`.
    fn hide_paths(&self, message: &str) -> String {
        message.replace(&self.store.root().display().to_string(), "DATA")
    }

    async fn load_release_inner(
        &self,
        name: &str,
        dir: &Path,
        release: &Release,
        settings: &AppSettings,
    ) -> Result<Arc<HttpTrigger>, Refusal> {
        let manifest_path = dir.join(&release.manifest);
        let quotas = self.config.quotas;
        let host = self.host.clone();
        let engine = self.engine.clone();
        let observer = self.metrics.observer(name);
        // State (key-value, SQLite) is per app and outlives releases:
        // DATA/apps/NAME/data, beside DATA/apps/NAME/releases/ID.
        let runtime_config = match &settings.runtime_config {
            Some(text) => Some(
                nimbus_runtime_config::RuntimeConfig::from_str(text, "the app's runtime config")
                    .map_err(|err| {
                        Refusal::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "settings",
                            err.to_string(),
                        )
                    })?,
            ),
            None => None,
        };
        let options = nimbus_app::AppOptions {
            app_id: Some(name.to_owned()),
            data_dir: dir
                .parent()
                .and_then(Path::parent)
                .map(|app| app.join("data")),
            runtime_config,
            sqlite_migrations: settings.sqlite.clone(),
            variables: settings
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            // The node's own environment is not its tenants' business.
            ignore_host_environment: true,
            outbound: if self.config.allow_private_outbound {
                OutboundPolicy::default()
            } else {
                OutboundPolicy::NODE
            },
        };
        let settings = settings.clone();
        let app_name = name.to_owned();
        let loaded = tokio::task::spawn_blocking(move || -> Result<HttpTrigger, Refusal> {
            let mut manifest = crate::triggers::read_manifest(&manifest_path).map_err(|err| {
                Refusal::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "manifest",
                    err.to_string(),
                )
            })?;
            check_paths(&manifest)
                .map_err(|msg| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "manifest", msg))?;
            check_required_variables(&manifest, &app_name, &settings)
                .map_err(|msg| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "settings", msg))?;
            quotas
                .apply(&mut manifest)
                .map_err(|msg| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "quota", msg))?;
            let load = || -> anyhow::Result<HttpTrigger> {
                let app = Arc::new(host.load_with(manifest, options)?);
                Ok(HttpTrigger::new(&engine, app)?.with_observer(observer))
            };
            load().map_err(|err| {
                Refusal::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "load",
                    crate::one_line(&err),
                )
            })
        })
        .await
        .map_err(|err| Refusal::internal(anyhow::anyhow!("the loader panicked: {err}")))??;
        Ok(Arc::new(loaded))
    }

    /// Drops the loaded code of apps idle for longer than `idle`. Their next
    /// request loads it again (from the compile cache).
    pub fn unload_idle(&self, idle: Duration) -> usize {
        let now = self.now_ms();
        let idle_ms = idle.as_millis() as u64;
        let mut unloaded = 0;
        for app in self.read_routes().by_name.values() {
            if app.trigger.load().is_some()
                && now.saturating_sub(app.last_used_ms.load(Ordering::Relaxed)) > idle_ms
            {
                app.trigger.store(None);
                unloaded += 1;
                tracing::info!(app = %app.name, "idle: unloaded its code");
            }
        }
        if unloaded > 0 {
            self.update_gauges();
        }
        unloaded
    }

    // ---- admin ---------------------------------------------------------

    fn app_url(&self, name: &str) -> String {
        match self.public_addr.get() {
            Some(addr) => format!("http://{name}.{}:{}", self.config.domain, addr.port()),
            None => format!("http://{name}.{}", self.config.domain),
        }
    }

    fn info(&self, app: &LiveApp) -> AppInfo {
        let trigger = app.trigger.load_full();
        AppInfo {
            name: app.name.clone(),
            url: self.app_url(&app.name),
            hostnames: app.record.current.hostnames.clone(),
            loaded: trigger.is_some(),
            error: app.load_error(),
            routes: trigger.map(|t| {
                t.routes()
                    .map(|(route, component)| RouteInfo {
                        route: route.to_owned(),
                        component: component.to_owned(),
                    })
                    .collect()
            }),
            current: app.record.current.clone(),
            previous: app.record.previous.clone(),
            settings: app.record.settings.info(),
        }
    }

    /// Every app, by name.
    pub fn list(&self) -> Vec<AppInfo> {
        let routes = self.read_routes();
        let mut apps: Vec<AppInfo> = routes.by_name.values().map(|a| self.info(a)).collect();
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        apps
    }

    /// One app.
    pub fn get(&self, name: &str) -> Result<AppInfo, Refusal> {
        let app = self.read_routes().by_name.get(name).cloned();
        match app {
            Some(app) => Ok(self.info(&app)),
            None => Err(not_found(name)),
        }
    }

    fn refuse(&self, app: &str, refusal: Refusal) -> Refusal {
        if refusal.category != "not_found" {
            self.metrics.refused(app, refusal.category);
        }
        tracing::warn!(
            app,
            reason = refusal.category,
            "deploy refused: {}",
            refusal.message
        );
        refusal
    }

    /// Deploys `bundle_bytes` as app `name`, answering on `NAME.DOMAIN` and
    /// `hostnames`. The bundle is checked, its signature verified, and the
    /// app fully loaded before it replaces the running version (if any);
    /// the replacement is persisted before this returns.
    pub async fn deploy(
        &self,
        name: &str,
        bundle_bytes: &[u8],
        hostnames: Vec<String>,
    ) -> Result<AppInfo, Refusal> {
        let result = self.try_deploy(name, bundle_bytes, hostnames).await;
        result.map_err(|mut refusal| {
            // The client gets no path of the node's (staging, releases).
            refusal.message = self.hide_paths(&refusal.message);
            self.refuse(name, refusal)
        })
    }

    async fn try_deploy(
        &self,
        name: &str,
        bundle_bytes: &[u8],
        hostnames: Vec<String>,
    ) -> Result<AppInfo, Refusal> {
        check_app_name(name).map_err(|m| Refusal::new(StatusCode::BAD_REQUEST, "name", m))?;
        let hostnames = self
            .check_hostnames(hostnames)
            .map_err(|m| Refusal::new(StatusCode::BAD_REQUEST, "hostname", m))?;
        let max_unpacked = self.config.max_unpacked_size;
        let bytes = bundle_bytes.to_vec();
        let bundle = tokio::task::spawn_blocking(move || Bundle::from_bytes(&bytes, max_unpacked))
            .await
            .map_err(|err| Refusal::internal(anyhow::anyhow!("{err}")))?
            .map_err(|err| Refusal::new(StatusCode::BAD_REQUEST, "bundle", err.0))?;
        let signer = crate::signing::verify(&bundle, &self.trusted_keys, self.require_signatures)
            .map_err(|m| Refusal::new(StatusCode::FORBIDDEN, "signature", m))?;

        let _admin = self.admin_lock.lock().await;
        self.check_hostname_conflicts(name, &hostnames)?;
        let digest = bundle.digest();
        let id = digest[..16].to_owned();
        let old = self.record(name);
        // Settings given with the upload replace the app's; none given: the
        // app keeps what it had.
        let settings = match bundle.settings.clone() {
            Some(settings) => settings,
            None => old.as_ref().map(|r| r.settings.clone()).unwrap_or_default(),
        };
        let release = Release {
            id: id.clone(),
            digest,
            app_version: None,
            manifest: bundle.index.manifest.clone(),
            deployed_at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            signed_by: signer.map(|s| s.key_id),
            files: bundle.files.len(),
            size: bundle.files_size(),
            hostnames,
        };

        // Unpack (synced) and move into place.
        let store = self.store.clone();
        let app_name = name.to_owned();
        let release_id = id.clone();
        let dir = tokio::task::spawn_blocking(move || -> anyhow::Result<PathBuf> {
            let staged = store.staging_dir()?;
            bundle.unpack_into(staged.path())?;
            store.install(staged, &app_name, &release_id)
        })
        .await
        .map_err(|err| Refusal::internal(anyhow::anyhow!("{err}")))?
        .map_err(Refusal::internal)?;

        let in_use = |record: &Option<AppRecord>| {
            record.as_ref().is_some_and(|r| {
                r.current.id == id || r.previous.as_ref().is_some_and(|p| p.id == id)
            })
        };
        let discard = |dir: &Path| {
            if !in_use(&old) {
                let _ = std::fs::remove_dir_all(dir);
            }
        };

        let trigger = match self.load_release(name, &dir, &release, &settings).await {
            Ok(trigger) => trigger,
            Err(refusal) => {
                discard(&dir);
                return Err(refusal);
            }
        };
        let mut release = release;
        release.app_version = trigger.app().manifest().version().map(str::to_owned);

        let record = AppRecord {
            previous: match &old {
                Some(old) if old.current.id == release.id => old.previous.clone(),
                Some(old) => Some(old.current.clone()),
                None => None,
            },
            current: release,
            settings,
        };
        if let Err(err) = self.persist(name, Some(&record)) {
            discard(&dir);
            return Err(Refusal::internal(err));
        }
        self.go_live(name, record, trigger);
        self.metrics.deployed(name);
        tracing::info!(app = name, release = %id, replaced = old.is_some(), "deployed");
        self.get(name)
    }

    /// Swaps in a new live version: new requests get it, requests in flight
    /// finish on the old one.
    fn go_live(&self, name: &str, record: AppRecord, trigger: Arc<HttpTrigger>) {
        let hostnames = record.current.hostnames.clone();
        self.store.collect_app_garbage(name, &record);
        let live = self.live_app(name, record, Some(trigger));
        {
            let mut routes = self.write_routes();
            routes.by_host.retain(|_, app| app != name);
            for host in hostnames {
                routes.by_host.insert(host, name.to_owned());
            }
            routes.by_name.insert(name.to_owned(), live);
        }
        self.update_gauges();
    }

    fn record(&self, name: &str) -> Option<AppRecord> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.apps.get(name).cloned()
    }

    /// Saves `name`'s record durably (`None`: removes the app and its
    /// files); the in-memory state changes only when that succeeded.
    fn persist(&self, name: &str, record: Option<&AppRecord>) -> anyhow::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match record {
            Some(record) => {
                self.store
                    .save_app(name, record)
                    .with_context(|| format!("cannot save the record of app {name}"))?;
                state.apps.insert(name.to_owned(), record.clone());
            }
            None => {
                self.store
                    .remove_app(name)
                    .with_context(|| format!("cannot remove app {name}"))?;
                state.apps.remove(name);
            }
        }
        Ok(())
    }

    /// Makes the previous release current again (and the current one
    /// previous, so a second rollback undoes the first).
    pub async fn rollback(&self, name: &str) -> Result<AppInfo, Refusal> {
        let _admin = self.admin_lock.lock().await;
        let Some(old) = self.record(name) else {
            return Err(not_found(name));
        };
        let Some(previous) = old.previous.clone() else {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("app {name} has no previous release to roll back to"),
            ));
        };
        self.check_hostname_conflicts(name, &previous.hostnames)?;
        let dir = self.store.release_dir(name, &previous.id);
        let trigger = self
            .load_release(name, &dir, &previous, &old.settings)
            .await?;
        let record = AppRecord {
            current: previous,
            previous: Some(old.current),
            settings: old.settings,
        };
        self.persist(name, Some(&record))
            .map_err(Refusal::internal)?;
        let id = record.current.id.clone();
        self.go_live(name, record, trigger);
        self.metrics.rolled_back(name);
        tracing::info!(app = name, release = %id, "rolled back");
        self.get(name)
    }

    /// Removes an app and its releases.
    pub async fn remove(&self, name: &str) -> Result<(), Refusal> {
        let _admin = self.admin_lock.lock().await;
        if self.record(name).is_none() {
            return Err(not_found(name));
        }
        self.persist(name, None).map_err(Refusal::internal)?;
        {
            let mut routes = self.write_routes();
            routes.by_name.remove(name);
            routes.by_host.retain(|_, app| app != name);
        }
        self.update_gauges();
        tracing::info!(app = name, "removed");
        Ok(())
    }

    fn check_hostnames(&self, hostnames: Vec<String>) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for host in hostnames {
            let host = crate::config::normalize_domain(&host).map_err(|e| e.to_string())?;
            if host == self.config.domain || host.ends_with(&format!(".{}", self.config.domain)) {
                return Err(format!(
                    "hostname {host} is under the node's domain {}; apps get NAME.{} automatically",
                    self.config.domain, self.config.domain
                ));
            }
            if !out.contains(&host) {
                out.push(host);
            }
        }
        out.sort();
        Ok(out)
    }

    fn check_hostname_conflicts(&self, name: &str, hostnames: &[String]) -> Result<(), Refusal> {
        let routes = self.read_routes();
        for host in hostnames {
            if let Some(owner) = routes.by_host.get(host) {
                if owner != name {
                    return Err(Refusal::new(
                        StatusCode::CONFLICT,
                        "hostname",
                        format!("hostname {host} is already used by app {owner}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn not_found(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no app named {name}"),
    )
}

/// App names are DNS labels: `a-z`, `0-9` and `-`, 1 to 63 characters, not
/// starting or ending with `-`.
pub fn check_app_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid app name: use 1 to 63 of a-z, 0-9 and `-` (not first or last), as it becomes a host name"
        ))
    }
}

/// Every `required` variable without a default must get a value from the
/// app's settings (or the node's environment, as `nimbus up` reads it): the
/// advice says how to give one to this app.
fn check_required_variables(
    manifest: &Manifest,
    app: &str,
    settings: &AppSettings,
) -> Result<(), String> {
    let missing: Vec<String> = manifest
        .variables
        .iter()
        .filter(|(name, variable)| {
            let upper = name.as_str().to_ascii_uppercase();
            variable.required
                && variable.default.is_none()
                && !settings.sets_variable(name.as_str())
                && std::env::var_os(format!("NIMBUS_VARIABLE_{upper}")).is_none()
                && std::env::var_os(format!("SPIN_VARIABLE_{upper}")).is_none()
        })
        .map(|(name, _)| name.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names = missing
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let flags = missing
        .iter()
        .map(|n| format!("--variable {n}=VALUE"))
        .collect::<Vec<_>>()
        .join(" ");
    Err(format!(
        "app variable{} {names} {} required but {} no value on this node; set {} for this app \
         with `nimbus deploy --name {app} {flags}` (or in the [variables] table of the file \
         given with --runtime-config-file)",
        if missing.len() == 1 { "" } else { "s" },
        if missing.len() == 1 { "is" } else { "are" },
        if missing.len() == 1 { "has" } else { "have" },
        if missing.len() == 1 { "it" } else { "them" },
    ))
}

/// Every path the manifest reads must stay inside the release directory.
fn check_paths(manifest: &Manifest) -> Result<(), String> {
    for (id, component) in &manifest.components {
        if in_app(&component.source).is_none() {
            return Err(format!(
                "component `{id}`: source {} is outside the bundle",
                component.source.display()
            ));
        }
        for mount in &component.files {
            let (path, shown) = match mount {
                FileMount::Placement { source, .. } => {
                    (source.clone(), source.display().to_string())
                }
                FileMount::Pattern(pattern) => (PathBuf::from(pattern), pattern.clone()),
            };
            if in_app(&path).is_none() {
                return Err(format!(
                    "component `{id}`: files {shown} reaches outside the bundle"
                ));
            }
        }
    }
    Ok(())
}

/// The host a request is for, lowercase and without port: the URI's
/// authority (HTTP/2, absolute-form) or the `Host` header.
fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = match req.uri().authority() {
        Some(authority) => authority.host().to_owned(),
        None => {
            let value = req.headers().get(http::header::HOST)?.to_str().ok()?;
            let authority: http::uri::Authority = value.parse().ok()?;
            authority.host().to_owned()
        }
    };
    let host = raw.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// A short plain-text response.
pub fn text_response(status: StatusCode, text: impl Into<bytes::Bytes>) -> Response<ResponseBody> {
    use http_body_util::BodyExt as _;
    let body = http_body_util::Full::new(text.into())
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_are_dns_labels() {
        assert!(check_app_name("hello-2").is_ok());
        for bad in ["", "Hello", "a_b", "-a", "a-", "a.b", &"x".repeat(64)] {
            assert!(check_app_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_come_from_the_authority_or_header() {
        let req = Request::get("/")
            .header("host", "Shop.LocalHost:3000")
            .body(())
            .unwrap();
        assert_eq!(request_host(&req).as_deref(), Some("shop.localhost"));
        let req = Request::get("http://a.example.com/x").body(()).unwrap();
        assert_eq!(request_host(&req).as_deref(), Some("a.example.com"));
        let req = Request::get("/").body(()).unwrap();
        assert_eq!(request_host(&req), None);
    }
}
