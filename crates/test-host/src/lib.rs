//! Dev-only: serves guest components through the capability seam, the way
//! the HTTP trigger does, so that each capability crate tests real guests
//! (built from source by `nimbus-test-guests`) with no host of its own.
//!
//! A test gives the list of capabilities, a manifest and (optionally) a
//! runtime config; [`TestAppBuilder::build`] then does what loading an app
//! does: [`Capabilities::linker`], [`Capabilities::configure_app`], and for
//! every component compiling its `source`,
//! [`AppServices::configure_component`] and linking a [`ProxyPre`] (or, for
//! a component exporting `wasi:http/handler@0.3.0`, such as one built with
//! spin-sdk 7's `#[http_service]`, a [`ServicePre`]). Each request gets a
//! fresh instance (`instance_builder(..)?.build()`) and goes to the guest's
//! `wasi:http/incoming-handler` (or 0.3 `handler`).
//!
//! ```no_run
//! # async fn demo(capabilities: nimbus_capability::Capabilities, guest: &std::path::Path) -> anyhow::Result<()> {
//! use nimbus_test_host::{toml_path, TestApp};
//! let manifest = format!(
//!     r#"
//!     spin_manifest_version = 2
//!     [application]
//!     name = "demo"
//!     [[trigger.http]]
//!     route = "/..."
//!     component = "web"
//!     [component.web]
//!     source = {}
//!     "#,
//!     toml_path(guest)
//! );
//! let app = TestApp::builder(capabilities, manifest).build()?;
//! let (status, body) = app.get("web", "/hello").await;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use nimbus_capability::{
    AppContext, AppServices, Capabilities, ComponentServices, InstanceState, OutboundPolicy,
};
use nimbus_manifest::{Limits, Manifest};
use nimbus_runtime::wasmtime::component::{Component, Linker};
use nimbus_runtime::wasmtime::{Engine, Store, Trap};
use nimbus_runtime::{EngineConfig, Engines, EpochTicker};
use nimbus_runtime_config::RuntimeConfig;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::WasiHttpView;

/// `path` as a TOML basic string (quoted and escaped), for a manifest's
/// `source = …`.
pub fn toml_path(path: &Path) -> String {
    let mut out = String::from("\"");
    for c in path.to_string_lossy().chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How to set up a [`TestApp`]; from [`TestApp::builder`].
pub struct TestAppBuilder {
    capabilities: Capabilities,
    manifest: String,
    runtime_config: Option<String>,
    app_id: Option<String>,
    data_dir: Option<PathBuf>,
    variables: Vec<(String, String)>,
    env: HashMap<String, String>,
    outbound: OutboundPolicy,
}

impl TestAppBuilder {
    /// The runtime config (`runtime-config.toml` text). Default: none.
    pub fn runtime_config(mut self, text: impl Into<String>) -> Self {
        self.runtime_config = Some(text.into());
        self
    }

    /// The app id (Redis key prefix, SQLite ownership). Default: `app`.
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = Some(app_id.into());
        self
    }

    /// The app's data directory. Default: a temporary directory, removed
    /// when the [`TestApp`] is dropped.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// A value for app variable `name`, given by the operator (`nimbus up
    /// --variable`).
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.variables.push((name.into(), value.into()));
        self
    }

    /// Variable `name` of the host's environment as the capabilities see it
    /// (e.g. `NIMBUS_VARIABLE_NAME`). The process's real environment is never
    /// read, so tests do not depend on it.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// The host's outbound policy. Default: [`OutboundPolicy::default`].
    pub fn outbound(mut self, policy: OutboundPolicy) -> Self {
        self.outbound = policy;
        self
    }

    /// Loads the app: parses the manifest and runtime config, configures
    /// every capability, compiles and links every component. Fails as
    /// loading the app in `nimbus up` would (e.g. an ungranted store label).
    pub fn build(self) -> anyhow::Result<TestApp> {
        let manifest = Manifest::from_str(&self.manifest, "spin.toml", ".")
            .context("invalid test manifest")?;
        manifest.check_sources()?;
        let runtime_config = match &self.runtime_config {
            Some(text) => RuntimeConfig::from_str(text, "runtime-config.toml")?,
            None => RuntimeConfig::empty(),
        };
        let (data_dir, temp_dir) = match self.data_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::tempdir().context("cannot create a data dir")?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        let app_id = self.app_id.unwrap_or_else(|| "app".to_owned());
        let engines = engines()?;
        let linkers = self.capabilities.linkers(&engines)?;
        let env = self.env;
        let lookup = move |name: &str| env.get(name).cloned();
        let services = self.capabilities.configure_app(
            &AppContext {
                manifest: &manifest,
                app_id: &app_id,
                data_dir: &data_dir,
                outbound: &self.outbound,
                variables: &self.variables,
                env: &lookup,
            },
            runtime_config,
        )?;
        let mut components = HashMap::new();
        for (id, component) in &manifest.components {
            let code = compile(&engines, &manifest.resolve(&component.source))
                .with_context(|| format!("component `{id}`"))?;
            let component_services = services.configure_component(&manifest, id, component)?;
            let entry = link(linkers.for_engine(code.engine()), &code)
                .with_context(|| format!("component `{id}`"))?;
            components.insert(
                id.to_string(),
                Served {
                    engine: code.engine().clone(),
                    services: component_services,
                    entry,
                    limits: component.limits,
                },
            );
        }
        Ok(TestApp {
            manifest,
            services,
            components,
            data_dir,
            _temp_dir: temp_dir,
        })
    }
}

/// One component, ready to serve.
struct Served {
    /// The engine `pre` was compiled for (stores must be of it).
    engine: Engine,
    services: ComponentServices,
    entry: Entry,
    limits: Limits,
}

/// The HTTP export a component is served through.
enum Entry {
    /// `wasi:http/incoming-handler@0.2`.
    Http(ProxyPre<InstanceState>),
    /// `wasi:http/handler@0.3.0`.
    Http3(ServicePre<InstanceState>),
}

/// An app loaded through the capability seam, serving `wasi:http` requests
/// to its components in-process.
pub struct TestApp {
    manifest: Manifest,
    services: AppServices,
    components: HashMap<String, Served>,
    data_dir: PathBuf,
    _temp_dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// Starts setting up an app served with `capabilities` from `manifest`
    /// (its text; relative paths are relative to the current directory, so
    /// give sources as absolute paths, e.g. with [`toml_path`]). The guests
    /// need at least the WASI and outbound HTTP capabilities (the latter
    /// links the `wasi:http` types).
    pub fn builder(capabilities: Capabilities, manifest: impl Into<String>) -> TestAppBuilder {
        TestAppBuilder {
            capabilities,
            manifest: manifest.into(),
            runtime_config: None,
            app_id: None,
            data_dir: None,
            variables: Vec::new(),
            env: HashMap::new(),
            outbound: OutboundPolicy::default(),
        }
    }

    /// The app's configured host services: `services().get::<C>()` is
    /// capability `C`'s app state, for host-side checks.
    pub fn services(&self) -> &AppServices {
        &self.services
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The app's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Serves `request` with a fresh instance of `component`, as the HTTP
    /// trigger does (memory limit and timeout from its `limits`); returns
    /// the status and the body (lossy UTF-8). An error when the component
    /// is unknown, or the guest traps, answers with an error code or sets no
    /// response (where the trigger would answer 500).
    pub async fn send(
        &self,
        component: &str,
        request: http::Request<impl Into<Bytes>>,
    ) -> anyhow::Result<(u16, String)> {
        let served = self
            .components
            .get(component)
            .with_context(|| format!("the test manifest has no component `{component}`"))?;
        let state = served
            .services
            .instance_builder(served.limits.memory)?
            .build();
        let mut store = Store::new(&served.engine, state);
        store.limiter(|state| state.limiter());
        nimbus_runtime::yield_every_tick(&mut store);

        let request = request.map(|body| Full::new(body.into()));
        let pre = match &served.entry {
            Entry::Http(pre) => pre.clone(),
            Entry::Http3(pre) => {
                return send3(
                    component,
                    pre.clone(),
                    store,
                    request,
                    served.limits.timeout,
                )
                .await
            }
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let guest_request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(anyhow::Error::from)?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(anyhow::Error::from)?;
        let timeout = served.limits.timeout;
        let task = tokio::spawn(async move {
            let run = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, guest_request, outparam)
                    .await
            };
            match timeout {
                Some(timeout) => nimbus_runtime::with_timeout(timeout, run)
                    .await
                    .unwrap_or_else(|| Err(Trap::Interrupt.into())),
                None => run.await,
            }
        });
        let response = match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => anyhow::bail!("`{component}` answered with an error: {code:?}"),
            Err(_) => {
                let why = match task.await {
                    Ok(Ok(())) => "it returned".to_owned(),
                    Ok(Err(err)) => format!("{:?}", anyhow::Error::from(err)),
                    Err(err) => err.to_string(),
                };
                anyhow::bail!("`{component}` set no response: {why}");
            }
        };
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|code| anyhow::anyhow!("reading the body from `{component}`: {code:?}"))?
            .to_bytes();
        task.await
            .with_context(|| format!("the task of `{component}` failed"))?
            .map_err(anyhow::Error::from)
            .with_context(|| format!("`{component}` failed after its response"))?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// `METHOD http://localhost{path}` with `body` to a fresh instance of
    /// `component`: its status and body.
    ///
    /// # Panics
    ///
    /// Where [`TestApp::send`] fails: the test fails, with the reason.
    pub async fn request(
        &self,
        component: &str,
        method: &str,
        path: &str,
        body: impl Into<Bytes>,
    ) -> (u16, String) {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://localhost{path}"))
            .body(body.into())
            .unwrap_or_else(|err| panic!("bad test request {method} {path}: {err}"));
        self.send(component, request)
            .await
            .unwrap_or_else(|err| panic!("{method} {path} to `{component}`: {err:?}"))
    }

    /// `GET path` (see [`TestApp::request`]).
    pub async fn get(&self, component: &str, path: &str) -> (u16, String) {
        self.request(component, "GET", path, Bytes::new()).await
    }

    /// `POST path` with `body` (see [`TestApp::request`]).
    pub async fn post(&self, component: &str, path: &str, body: impl Into<Bytes>) -> (u16, String) {
        self.request(component, "POST", path, body).await
    }
}

/// The engines of every test app in this process: the settings of
/// `nimbus up` (epochs, memory limits, …), allocating instances on demand
/// (many tests run at once; pools would each reserve address space). Their
/// epochs tick as in `nimbus up`, so `limits.timeout` stops a guest that
/// computes.
fn engines() -> anyhow::Result<Engines> {
    static ENGINE: OnceLock<Result<(Engines, EpochTicker), String>> = OnceLock::new();
    match ENGINE.get_or_init(|| {
        let engine = EngineConfig {
            pool: None,
            consume_fuel: false,
        }
        .build()
        .map_err(|err| format!("{err:#}"))?;
        let ticker = EpochTicker::start(&engine);
        Ok((engine, ticker))
    }) {
        Ok((engine, _)) => Ok(engine.clone()),
        Err(err) => Err(anyhow::Error::msg(err.clone())),
    }
}

/// Compiles the component at `path`, once per file version per test process
/// (compiling a guest takes seconds, and a test binary serves the same few
/// guests to many tests). The cache holds only compiled code, never app state.
/// Like `nimbus_runtime::Loader`: on the sync engine, or on the concurrent
/// one when it uses the component-model async ABI.
fn compile(engines: &Engines, path: &Path) -> anyhow::Result<Component> {
    type Key = (PathBuf, Option<SystemTime>, u64);
    static COMPILED: OnceLock<Mutex<HashMap<Key, Component>>> = OnceLock::new();
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = (path.to_owned(), meta.modified().ok(), meta.len());
    let cache = COMPILED.get_or_init(Default::default);
    if let Some(code) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(code.clone());
    }
    // Compiled outside the lock: tests compiling different guests run in
    // parallel (a guest compiled twice at once is only wasted time).
    let code = Component::from_file(engines.sync(), path)
        .or_else(|_| Component::from_file(engines.concurrent(), path))
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile {}", path.display()))?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, code.clone());
    Ok(code)
}

/// Links `code` for the proxy world (or the 0.3 service world), as the HTTP
/// trigger does at load.
fn link(linker: &Linker<InstanceState>, code: &Component) -> anyhow::Result<Entry> {
    let pre = linker
        .instantiate_pre(code)
        .map_err(anyhow::Error::from)
        .context("cannot link")?;
    if let Ok(pre) = ServicePre::new(pre.clone()) {
        return Ok(Entry::Http3(pre));
    }
    ProxyPre::new(pre)
        .map(Entry::Http)
        .map_err(anyhow::Error::from)
        .context("exports neither wasi:http/incoming-handler@0.2 nor wasi:http/handler@0.3.0")
}

/// [`TestApp::send`] for a component exporting `wasi:http/handler@0.3.0`:
/// the store's event loop runs until the guest has written the whole body.
async fn send3(
    component: &str,
    pre: ServicePre<InstanceState>,
    mut store: Store<InstanceState>,
    request: http::Request<Full<Bytes>>,
    timeout: Option<std::time::Duration>,
) -> anyhow::Result<(u16, String)> {
    let request =
        request.map(|body| body.map_err(|never| -> wasmtime_wasi_http::Error { match never {} }));
    let (mut guest_request, _request_io) =
        wasmtime_wasi_http::p3::Request::from_http(store.data_mut().http().hooks, request);
    guest_request.scheme = Some(http::uri::Scheme::HTTP);
    guest_request.authority = Some(http::uri::Authority::from_static("localhost"));
    let run = async {
        let service = pre.instantiate_async(&mut store).await?;
        store
            .run_concurrent(async move |accessor| {
                let response = match service.handle(accessor, guest_request).await? {
                    Ok(response) => response,
                    Err(code) => return Ok(Err(format!("{code:?}"))),
                };
                let response =
                    accessor.with(|store| response.into_http(store, async { Ok(()) }))?;
                let status = response.status().as_u16();
                let body = match response.into_body().collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(err) => return Ok(Err(format!("reading the body: {err:?}"))),
                };
                nimbus_runtime::wasmtime::Result::<_>::Ok(Ok((status, body)))
            })
            .await?
    };
    let result = match timeout {
        Some(timeout) => nimbus_runtime::with_timeout(timeout, run)
            .await
            .unwrap_or_else(|| Err(Trap::Interrupt.into())),
        None => run.await,
    };
    match result.map_err(anyhow::Error::from) {
        Ok(Ok((status, body))) => Ok((status, String::from_utf8_lossy(&body).into_owned())),
        Ok(Err(why)) => anyhow::bail!("`{component}` answered with an error: {why}"),
        Err(err) => Err(err.context(format!("`{component}` failed"))),
    }
}
