//! The seam every host service plugs into.
//!
//! A host service (WASI, outbound HTTP, key-value, SQLite, variables, …) is a
//! [`Capability`]: one crate, one type implementing one trait that covers its
//! whole life:
//!
//! | moment | method | how often |
//! |---|---|---|
//! | link | [`Capability::add_to_linker`] | once per engine (a node shares one linker between all its apps) |
//! | configure the app | [`Capability::configure_app`] | once per app load or deploy: takes its runtime-config section, checks grants, opens backends; a bad app is refused here, before it serves |
//! | configure a component | [`Capability::configure_component`] | once per component at load: resolves that component's grants (its `allowed_outbound_hosts` come resolved, in [`ComponentContext::allowed_hosts`]) |
//! | prepare an instance | [`Capability::prepare`] | once per request or run: cheap (clones of `Arc`s) |
//!
//! The app layer holds the one list of capabilities ([`Capabilities`]); the
//! triggers see only what this crate exports: [`AppServices`],
//! [`ComponentServices`], [`InstanceBuilder`] and the store data
//! [`InstanceState`]. So a trigger knows no capability, and adding a
//! capability touches no trigger.
//!
//! Each capability's per-instance state lives in a slot of
//! [`InstanceState`], found by type: a capability's linker getter is a plain
//! `fn` (Wasmtime's bindings take function pointers), so it finds its slot
//! with [`InstanceState::get_with_table`].
//!
//! Two parts of the store data are not slots, because Wasmtime's own host
//! implementations reach them through view traits implemented on the store
//! data: the WASI context ([`wasmtime_wasi::WasiView`]) and the `wasi:http`
//! context and hooks ([`wasmtime_wasi_http::WasiHttpView`]). The WASI
//! capability fills [`InstanceBuilder::wasi`] and the outbound HTTP capability
//! sets [`InstanceBuilder::set_http_hooks`]; the triggers add only what a
//! request brings (WAGI's CGI environment and pipes, `nimbus run`'s argv).

mod app;

pub use app::{App, AppComponent, Linkers};

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use nimbus_manifest::{Component, ComponentId, Manifest, VariableName};
use nimbus_runtime::wasmtime::component::{Linker, ResourceTable};
use nimbus_runtime::wasmtime::Engine;
use nimbus_runtime::MemoryLimiter;
use nimbus_runtime_config::RuntimeConfig;
use serde::de::DeserializeOwned;
use wasmtime_wasi::filesystem::WasiFilesystemCtx;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

pub use nimbus_outbound_networking::{
    endpoint, AllowedHosts, ConnectionBudget, OutboundError, OutboundPolicy, VariableValue,
    CONNECT_TIMEOUT, MAX_CONNECTIONS_PER_INSTANCE,
};

/// The most host resources (fields, bodies, streams, pollables, open files)
/// one component instance may hold at once; past it the host call traps.
/// Host memory and descriptors behind handles are not counted by the
/// `memory` limit (Wasmtime's default cap is 1,000,000).
pub const MAX_RESOURCES: usize = 4096;

/// The most handles (open files, directories, streams) a `wasm32-wasip1`
/// instance may hold at once; past it, opening another traps.
pub const MAX_P1_HANDLES: usize = 1024;

/// The most bytes (in memory) of one `wasi:http` `fields` resource
/// (Wasmtime's default: 128 KiB). With [`MAX_RESOURCES`], it bounds the host
/// memory a request can hold through handles.
pub const MAX_FIELDS_SIZE: usize = 32 << 10;

/// The resource table of a component instance, capped at [`MAX_RESOURCES`].
pub fn resource_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    table
}

/// One host service that a guest may be granted. See the crate docs for the
/// moments of its life.
pub trait Capability: Send + Sync + 'static {
    /// Short name, used in error messages ("key-value: …").
    const NAME: &'static str;
    /// The top-level runtime-config section this capability owns
    /// (`key_value_store`, …), if any. [`Capabilities::configure_app`] takes
    /// it and refuses sections no capability owns.
    const RUNTIME_CONFIG_SECTION: Option<&'static str> = None;
    /// The parsed section (`()` for none). Use `deny_unknown_fields`.
    type RuntimeConfig: DeserializeOwned;
    /// Validated grants and open backends, shared by the whole app.
    type AppState: Send + Sync + 'static;
    /// One component's grants, resolved at load.
    type ComponentState: Send + Sync + 'static;
    /// This capability's slot of one instance's store data. Must be a type
    /// no other capability uses (slots are found by type).
    type InstanceState: Send + 'static;

    /// Adds this capability's host interfaces to `linker` (once per engine:
    /// a host has two, see [`nimbus_runtime::Engines`]). Interfaces whose
    /// host functions are concurrent (WASI 0.3, `spin:*@3`, anything added
    /// with `func_wrap_concurrent`) go only into a linker for which
    /// [`links_concurrent`] is true: the sync engine's linker refuses them,
    /// and no component that imports them is compiled for that engine.
    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()>;

    /// Configures the app: `config` is its runtime-config section (`None`
    /// when absent). Blocking work (opening files) is fine: it runs at load.
    fn configure_app(
        &self,
        app: &AppContext<'_>,
        config: Option<Self::RuntimeConfig>,
    ) -> anyhow::Result<Self::AppState>;

    /// The value of app variable `name`, if this capability is the one that
    /// resolves app variables (the variables capability: operator-given
    /// values, the environment, the runtime config, the manifest's
    /// defaults). Grants written as templates in the manifest
    /// (`allowed_outbound_hosts = ["https://{{ api_host }}"]`) are rendered
    /// with it when the app is loaded. Default: `None`, this capability
    /// resolves no variables.
    fn app_variable(&self, app: &Self::AppState, name: &VariableName) -> Option<VariableValue> {
        let _ = (app, name);
        None
    }

    /// Resolves one component's grants.
    fn configure_component(
        &self,
        app: &Self::AppState,
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<Self::ComponentState>;

    /// Builds this capability's slot for one instance, and adds to the
    /// builder what it owns there (WASI context, `wasi:http` hooks). Runs
    /// per request: keep it cheap.
    fn prepare(
        &self,
        component: &Self::ComponentState,
        builder: &mut InstanceBuilder,
    ) -> anyhow::Result<Self::InstanceState>;
}

/// Whether `linker` is for an engine with concurrency support (the
/// concurrent one of [`nimbus_runtime::Engines`]), so that it takes host
/// functions of the component-model async ABI (WASI 0.3, `spin:*@3`).
pub fn links_concurrent<T>(linker: &Linker<T>) -> bool {
    linker.engine().get_concurrency_support()
}

/// What a capability learns about the app it configures.
pub struct AppContext<'a> {
    /// The manifest.
    pub manifest: &'a Manifest,
    /// Identifies the app on this host (Redis key prefix, SQLite ownership);
    /// ASCII letters, digits, `-`, `_` and `.`.
    pub app_id: &'a str,
    /// The app's own data directory (embedded key-value and SQLite files).
    pub data_dir: &'a Path,
    /// Where outbound connections may go beyond the allow-lists (the node's
    /// policy for private addresses).
    pub outbound: &'a OutboundPolicy,
    /// Values for app variables given by the operator for this app (`nimbus
    /// up --variable`, a node's per-app variables): name → value.
    pub variables: &'a [(String, String)],
    /// Looks a variable of the host's environment up (`std::env::var`, or a
    /// map in tests).
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// What a capability learns about one component it configures.
pub struct ComponentContext<'a> {
    /// The manifest (for paths relative to it).
    pub manifest: &'a Manifest,
    /// The component's id.
    pub id: &'a ComponentId,
    /// The component's manifest entry.
    pub component: &'a Component,
    /// The component's `allowed_outbound_hosts`, templates resolved from the
    /// app's variables, under the host's [`OutboundPolicy`]: every outbound
    /// client (HTTP, sockets, …) checks against this, never against the
    /// manifest's entries.
    pub allowed_hosts: &'a AllowedHosts,
}

/// One capability, type-erased, so that a list of them can be held.
trait ErasedCapability: Send + Sync {
    fn name(&self) -> &'static str;
    fn capability_type(&self) -> std::any::TypeId;
    fn runtime_config_section(&self) -> Option<&'static str>;
    fn app_variable(
        &self,
        app: &(dyn Any + Send + Sync),
        name: &VariableName,
    ) -> Option<VariableValue>;
    fn add_to_linker(&self, linker: &mut Linker<InstanceState>) -> anyhow::Result<()>;
    fn configure_app(
        &self,
        app: &AppContext<'_>,
        config: &mut RuntimeConfig,
    ) -> anyhow::Result<Arc<dyn Any + Send + Sync>>;
    fn configure_component(
        &self,
        app: &(dyn Any + Send + Sync),
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<Arc<dyn Any + Send + Sync>>;
    fn prepare(
        &self,
        component: &(dyn Any + Send + Sync),
        builder: &mut InstanceBuilder,
    ) -> anyhow::Result<Box<dyn Any + Send>>;
}

impl<C: Capability> ErasedCapability for C {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn capability_type(&self) -> std::any::TypeId {
        std::any::TypeId::of::<C>()
    }

    fn runtime_config_section(&self) -> Option<&'static str> {
        C::RUNTIME_CONFIG_SECTION
    }

    fn app_variable(
        &self,
        app: &(dyn Any + Send + Sync),
        name: &VariableName,
    ) -> Option<VariableValue> {
        Capability::app_variable(self, app.downcast_ref::<C::AppState>()?, name)
    }

    fn add_to_linker(&self, linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        C::add_to_linker(linker)
    }

    fn configure_app(
        &self,
        app: &AppContext<'_>,
        config: &mut RuntimeConfig,
    ) -> anyhow::Result<Arc<dyn Any + Send + Sync>> {
        let section = match C::RUNTIME_CONFIG_SECTION {
            Some(key) => config.take::<C::RuntimeConfig>(key)?,
            None => None,
        };
        Ok(Arc::new(Capability::configure_app(self, app, section)?))
    }

    fn configure_component(
        &self,
        app: &(dyn Any + Send + Sync),
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<Arc<dyn Any + Send + Sync>> {
        let app = app
            .downcast_ref::<C::AppState>()
            .context("internal error: app state of another capability")?;
        Ok(Arc::new(Capability::configure_component(
            self, app, component,
        )?))
    }

    fn prepare(
        &self,
        component: &(dyn Any + Send + Sync),
        builder: &mut InstanceBuilder,
    ) -> anyhow::Result<Box<dyn Any + Send>> {
        let component = component
            .downcast_ref::<C::ComponentState>()
            .context("internal error: component state of another capability")?;
        Ok(Box::new(Capability::prepare(self, component, builder)?))
    }
}

/// The list of capabilities a build has. Built once per process by the app
/// layer; cheap to clone.
#[derive(Clone, Default)]
pub struct Capabilities {
    list: Vec<Arc<dyn ErasedCapability>>,
}

impl Capabilities {
    /// An empty list.
    pub fn new() -> Capabilities {
        Capabilities::default()
    }

    /// Adds `capability` to the list.
    pub fn with<C: Capability>(mut self, capability: C) -> Capabilities {
        self.list.push(Arc::new(capability));
        self
    }

    /// Where capability `C` is in the list (found by the capability's type,
    /// not its state's: two capabilities may keep state of the same type).
    fn position<C: Capability>(&self) -> Option<usize> {
        let wanted = std::any::TypeId::of::<C>();
        self.list.iter().position(|c| c.capability_type() == wanted)
    }

    /// The names of the capabilities, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.list.iter().map(|c| c.name())
    }

    /// A component linker with every capability's host interfaces. Build it
    /// once per engine and share it: it is the same for every component.
    pub fn linker(&self, engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
        let mut linker = Linker::new(engine);
        for capability in &self.list {
            capability
                .add_to_linker(&mut linker)
                .with_context(|| format!("cannot link the {} capability", capability.name()))?;
        }
        Ok(linker)
    }

    /// [`Capabilities::linker`] for each of `engines`.
    pub fn linkers(&self, engines: &nimbus_runtime::Engines) -> anyhow::Result<Linkers> {
        Ok(Linkers::new(
            self.linker(engines.sync())?,
            self.linker(engines.concurrent())?,
        ))
    }

    /// Configures every capability for an app, each taking its own section of
    /// `runtime_config`; a section that no capability took is refused. Then
    /// resolves every component's `allowed_outbound_hosts` (templates
    /// rendered with the app's variables, see [`Capability::app_variable`]):
    /// a variable without a value, or a rendered entry that is not a valid
    /// pattern, refuses the app, naming the component and the entry.
    pub fn configure_app(
        &self,
        app: &AppContext<'_>,
        mut runtime_config: RuntimeConfig,
    ) -> anyhow::Result<AppServices> {
        runtime_config.know_sections(self.list.iter().filter_map(|c| c.runtime_config_section()));
        let mut states = Vec::with_capacity(self.list.len());
        for capability in &self.list {
            states.push(capability.configure_app(app, &mut runtime_config)?);
        }
        runtime_config.finish()?;
        let lookup = |name: &VariableName| {
            self.list
                .iter()
                .zip(&states)
                .find_map(|(capability, state)| capability.app_variable(state.as_ref(), name))
        };
        let mut allowed_hosts = HashMap::new();
        let mut problems = Vec::new();
        for (id, component) in &app.manifest.components {
            match nimbus_outbound_networking::resolve_allowed_hosts(
                id.as_str(),
                &component.allowed_outbound_hosts,
                &lookup,
            ) {
                Ok(patterns) => {
                    let hosts = AllowedHosts::new(id.as_str(), patterns.into(), *app.outbound);
                    allowed_hosts.insert(id.clone(), hosts);
                }
                Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
            }
        }
        if !problems.is_empty() {
            anyhow::bail!("{}", problems.join("\n"));
        }
        Ok(AppServices {
            capabilities: self.clone(),
            states,
            allowed_hosts: Arc::new(allowed_hosts),
        })
    }
}

/// The host services of one app, configured. Cheap to clone.
#[derive(Clone)]
pub struct AppServices {
    capabilities: Capabilities,
    states: Vec<Arc<dyn Any + Send + Sync>>,
    /// Each component's resolved `allowed_outbound_hosts`.
    allowed_hosts: Arc<HashMap<ComponentId, AllowedHosts>>,
}

impl AppServices {
    /// The app state of capability `C`, for host-side tools and the app layer
    /// (e.g. running SQLite migrations): `None` if this build has no `C`.
    pub fn get<C: Capability>(&self) -> Option<&C::AppState> {
        let index = self.capabilities.position::<C>()?;
        self.states[index].downcast_ref()
    }

    /// The value of app variable `name` (operator-given values, the runtime
    /// config, the environment, the default: whichever capability resolves
    /// variables), e.g. for a trigger's `{{ variable }}` templates. `None`
    /// when it has no value.
    pub fn variable(&self, name: &VariableName) -> Option<VariableValue> {
        self.capabilities
            .list
            .iter()
            .zip(&self.states)
            .find_map(|(capability, state)| capability.app_variable(state.as_ref(), name))
    }

    /// Component `id`'s `allowed_outbound_hosts`, resolved: `None` for a
    /// component the app's manifest does not have.
    pub fn allowed_hosts(&self, id: &str) -> Option<&AllowedHosts> {
        self.allowed_hosts.get(id)
    }

    /// Resolves the grants of component `id` (`component`, its entry in
    /// `manifest`, the manifest the app was configured with) with every
    /// capability.
    pub fn configure_component(
        &self,
        manifest: &Manifest,
        id: &ComponentId,
        component: &Component,
    ) -> anyhow::Result<ComponentServices> {
        let allowed_hosts = self.allowed_hosts(id.as_str()).with_context(|| {
            format!("internal error: component `{id}` is not in the manifest the app was configured with")
        })?;
        let context = ComponentContext {
            manifest,
            id,
            component,
            allowed_hosts,
        };
        let mut states = Vec::with_capacity(self.states.len());
        for (capability, app) in self.capabilities.list.iter().zip(&self.states) {
            states.push(capability.configure_component(app.as_ref(), &context)?);
        }
        Ok(ComponentServices {
            capabilities: self.capabilities.clone(),
            states: states.into(),
        })
    }
}

/// The host services of one component, resolved at load. Cheap to clone.
#[derive(Clone)]
pub struct ComponentServices {
    capabilities: Capabilities,
    states: Arc<[Arc<dyn Any + Send + Sync>]>,
}

impl ComponentServices {
    /// The component state of capability `C`: `None` if this build has no `C`.
    pub fn get<C: Capability>(&self) -> Option<&C::ComponentState> {
        let index = self.capabilities.position::<C>()?;
        self.states[index].downcast_ref()
    }

    /// Prepares one instance: every capability adds its slot and what it owns
    /// in the builder. The caller may then add what the request brings (to
    /// [`InstanceBuilder::wasi`]) before building the store data.
    pub fn instance_builder(&self, memory_limit: Option<u64>) -> anyhow::Result<InstanceBuilder> {
        let mut builder = InstanceBuilder::new(memory_limit);
        builder.slots.reserve(self.states.len());
        for (capability, component) in self.capabilities.list.iter().zip(self.states.iter()) {
            let slot = capability.prepare(component.as_ref(), &mut builder)?;
            builder.slots.push(slot);
        }
        Ok(builder)
    }
}

/// One instance's store data, being prepared.
pub struct InstanceBuilder {
    /// The WASI context being built: the WASI capability has added the
    /// component's grants (environment, stdio); a trigger adds what the
    /// request brings (WAGI's CGI variables and pipes, argv).
    pub wasi: WasiCtxBuilder,
    filesystem: Option<WasiFilesystemCtx>,
    http_hooks: Option<Box<dyn WasiHttpHooks>>,
    limiter: MemoryLimiter,
    slots: Vec<Box<dyn Any + Send>>,
}

impl InstanceBuilder {
    /// An instance with nothing granted and at most `memory_limit` bytes of
    /// linear memory. Apps get theirs from
    /// [`ComponentServices::instance_builder`]; a lone command (`nimbus run`)
    /// starts here and lets the WASI grants add to it.
    pub fn new(memory_limit: Option<u64>) -> InstanceBuilder {
        InstanceBuilder {
            wasi: WasiCtxBuilder::new(),
            filesystem: None,
            http_hooks: None,
            limiter: MemoryLimiter::new(memory_limit),
            slots: Vec::new(),
        }
    }

    /// Sets the instance's preopened directories to `filesystem` (opened once
    /// at configure time and shared by every instance, so preparing an
    /// instance opens no file).
    pub fn set_filesystem(&mut self, filesystem: WasiFilesystemCtx) {
        self.filesystem = Some(filesystem);
    }

    /// Sets the policy of the instance's outbound `wasi:http` requests.
    /// Without it every outbound request is denied.
    pub fn set_http_hooks(&mut self, hooks: Box<dyn WasiHttpHooks>) {
        self.http_hooks = Some(hooks);
    }

    /// The store data of a component instance.
    pub fn build(mut self) -> InstanceState {
        let mut wasi = self.wasi.build();
        if let Some(filesystem) = self.filesystem {
            *wasi.filesystem() = filesystem;
        }
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELDS_SIZE);
        InstanceState {
            table: resource_table(),
            wasi,
            http,
            http_hooks: self.http_hooks.unwrap_or_else(|| Box::new(DenyOutbound)),
            limiter: self.limiter,
            slots: self.slots,
        }
    }

    /// The store data of a core module (`wasm32-wasip1`) instance: WASI only,
    /// the one interface core modules import.
    pub fn build_module(mut self) -> ModuleState {
        let mut wasi = self.wasi.build_p1();
        if let Some(filesystem) = self.filesystem {
            *wasi.ctx().ctx.filesystem() = filesystem;
        }
        // Each open file is a host file descriptor: without a cap, a guest
        // opening files in a loop exhausts the process's descriptors.
        wasi.ctx().table.set_max_capacity(MAX_P1_HANDLES);
        ModuleState {
            wasi,
            limiter: self.limiter,
        }
    }
}

/// `wasi:http` hooks that deny every outbound request: the default when no
/// capability set a policy.
struct DenyOutbound;

impl WasiHttpHooks for DenyOutbound {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

type SendResult = Result<
    (
        http::Response<wasmtime_wasi_http::WasiBody>,
        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ),
    wasmtime_wasi_http::Error,
>;

/// The store data of one component instance: the resource table, the memory
/// limiter, the WASI and `wasi:http` contexts, and one slot per capability.
pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_hooks: Box<dyn WasiHttpHooks>,
    limiter: MemoryLimiter,
    slots: Vec<Box<dyn Any + Send>>,
}

impl InstanceState {
    /// The memory limiter (for `Store::limiter`, and to report peak use).
    pub fn limiter(&mut self) -> &mut MemoryLimiter {
        &mut self.limiter
    }

    /// The memory limiter, read-only.
    pub fn limiter_ref(&self) -> &MemoryLimiter {
        &self.limiter
    }

    /// The slot of type `T` and the resource table, for a capability's
    /// linker getter.
    ///
    /// # Panics
    ///
    /// If no capability prepared a slot of type `T`: a capability whose host
    /// functions are linked always prepares its slot (both come from the same
    /// list), so this is a bug in nimbus, never something a guest can cause.
    pub fn get_with_table<T: Any + Send>(&mut self) -> (&mut T, &mut ResourceTable) {
        let slot = self
            .slots
            .iter_mut()
            .find_map(|slot| slot.downcast_mut::<T>())
            .unwrap_or_else(|| {
                panic!(
                    "no capability prepared a slot of type {}",
                    std::any::type_name::<T>()
                )
            });
        (slot, &mut self.table)
    }

    /// The slot of type `T` (see [`InstanceState::get_with_table`]).
    pub fn get<T: Any + Send>(&mut self) -> &mut T {
        self.get_with_table::<T>().0
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut *self.http_hooks,
        }
    }
}

/// The store data of one core module instance (WAGI, `nimbus run`).
pub struct ModuleState {
    /// The WASI preview 1 context.
    pub wasi: WasiP1Ctx,
    limiter: MemoryLimiter,
}

impl ModuleState {
    /// The memory limiter.
    pub fn limiter(&mut self) -> &mut MemoryLimiter {
        &mut self.limiter
    }

    /// The memory limiter, read-only.
    pub fn limiter_ref(&self) -> &MemoryLimiter {
        &self.limiter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A capability whose states are strings (its name), as two unrelated
    /// capabilities may well both keep.
    macro_rules! named {
        ($ty:ident) => {
            struct $ty;
            impl Capability for $ty {
                const NAME: &'static str = stringify!($ty);
                type RuntimeConfig = ();
                type AppState = String;
                type ComponentState = String;
                type InstanceState = ();
                fn add_to_linker(_: &mut Linker<InstanceState>) -> anyhow::Result<()> {
                    Ok(())
                }
                fn configure_app(
                    &self,
                    _: &AppContext<'_>,
                    _: Option<()>,
                ) -> anyhow::Result<String> {
                    Ok(stringify!($ty).to_owned())
                }
                fn configure_component(
                    &self,
                    app: &String,
                    _: &ComponentContext<'_>,
                ) -> anyhow::Result<String> {
                    Ok(format!("{app}/component"))
                }
                fn prepare(&self, _: &String, _: &mut InstanceBuilder) -> anyhow::Result<()> {
                    Ok(())
                }
            }
        };
    }
    named!(First);
    named!(Second);
    named!(Missing);

    /// A capability that resolves app variables from a fixed list.
    struct Vars(Vec<(&'static str, &'static str)>);

    impl Capability for Vars {
        const NAME: &'static str = "vars";
        type RuntimeConfig = ();
        type AppState = Vec<(&'static str, &'static str)>;
        type ComponentState = ();
        type InstanceState = ();
        fn add_to_linker(_: &mut Linker<InstanceState>) -> anyhow::Result<()> {
            Ok(())
        }
        fn configure_app(
            &self,
            _: &AppContext<'_>,
            _: Option<()>,
        ) -> anyhow::Result<Vec<(&'static str, &'static str)>> {
            Ok(self.0.clone())
        }
        fn app_variable(
            &self,
            app: &Vec<(&'static str, &'static str)>,
            name: &VariableName,
        ) -> Option<VariableValue> {
            app.iter()
                .find(|(k, _)| *k == name.as_str())
                .map(|(_, v)| VariableValue {
                    value: v.to_string(),
                    secret: false,
                })
        }
        fn configure_component(
            &self,
            _: &Self::AppState,
            _: &ComponentContext<'_>,
        ) -> anyhow::Result<()> {
            Ok(())
        }
        fn prepare(&self, _: &(), _: &mut InstanceBuilder) -> anyhow::Result<()> {
            Ok(())
        }
    }

    fn configure(
        capabilities: &Capabilities,
        manifest: &Manifest,
        outbound: OutboundPolicy,
    ) -> anyhow::Result<AppServices> {
        let env = |_: &str| None;
        capabilities.configure_app(
            &AppContext {
                manifest,
                app_id: "t",
                data_dir: Path::new("."),
                outbound: &outbound,
                variables: &[],
                env: &env,
            },
            RuntimeConfig::empty(),
        )
    }

    #[test]
    fn allowed_host_templates_are_resolved_with_the_app_variables() {
        let manifest = Manifest::from_str(
            "spin_manifest_version = 2\n[application]\nname = \"t\"\n[variables]\nhost = { required = true }\n\
             port = { default = \"6379\" }\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n\
             allowed_outbound_hosts = [\"redis://{{ host }}:{{ port }}\", \"https://example.com\"]\n",
            "spin.toml",
            ".",
        )
        .unwrap();
        let capabilities = Capabilities::new()
            .with(First)
            .with(Vars(vec![("host", "cache.internal"), ("port", "6380")]));
        let services = configure(&capabilities, &manifest, OutboundPolicy::NODE).unwrap();
        let hosts = services.allowed_hosts("c").unwrap();
        assert!(hosts.allows("redis", "cache.internal", 6380));
        assert!(!hosts.allows("redis", "cache.internal", 6379));
        assert!(hosts.allows("https", "example.com", 443));
        assert_eq!(hosts.policy(), OutboundPolicy::NODE);
        // Capabilities see the resolved list.
        let (id, component) = manifest.components.iter().next().unwrap();
        services
            .configure_component(&manifest, id, component)
            .unwrap();

        // Without a value (here: no capability resolves variables), the app
        // is refused, naming the component and the variable.
        let err = configure(
            &Capabilities::new().with(First),
            &manifest,
            OutboundPolicy::default(),
        )
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("component `c`: allowed_outbound_hosts entry \"redis://{{ host }}:{{ port }}\" uses app variable `host`, which has no value"),
            "{err}"
        );
    }

    #[test]
    fn states_are_found_by_capability_not_by_state_type() {
        let manifest = Manifest::from_str(
            "spin_manifest_version = 2\n[application]\nname = \"t\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n",
            "spin.toml",
            ".",
        )
        .unwrap();
        let capabilities = Capabilities::new().with(First).with(Second);
        let env = |_: &str| None;
        let app = AppContext {
            manifest: &manifest,
            app_id: "t",
            data_dir: Path::new("."),
            outbound: &OutboundPolicy::default(),
            variables: &[],
            env: &env,
        };
        let services = capabilities
            .configure_app(&app, RuntimeConfig::empty())
            .unwrap();
        assert_eq!(services.get::<First>().unwrap(), "First");
        assert_eq!(services.get::<Second>().unwrap(), "Second");
        assert!(services.get::<Missing>().is_none());
        let (id, component) = manifest.components.iter().next().unwrap();
        let component = services
            .configure_component(&manifest, id, component)
            .unwrap();
        assert_eq!(component.get::<Second>().unwrap(), "Second/component");
    }
}
