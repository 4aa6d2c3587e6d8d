//! The loaded app, as triggers see it: the manifest, each component's
//! compiled code and resolved host services, and the linker to instantiate
//! them with. `nimbus-app` builds it (it holds the list of capabilities);
//! triggers only read it, so they depend on no capability crate.

use std::sync::Arc;

use indexmap::IndexMap;
use nimbus_manifest::{ComponentId, Limits, Manifest};
use nimbus_runtime::wasmtime::component::Linker;
use nimbus_runtime::wasmtime::Engine;
use nimbus_runtime::{Compiled, SharedCode};

use crate::{AppServices, ComponentServices, InstanceState};

/// One component, compiled, with everything it was granted.
pub struct AppComponent {
    /// The component's id in the manifest.
    pub id: ComponentId,
    /// Its compiled code.
    pub compiled: SharedCode,
    /// Its host services, resolved: each instance is prepared from these.
    pub services: ComponentServices,
    /// Its limits from `[component.ID.limits]`.
    pub limits: Limits,
}

/// The component linkers of a host: one per engine of its
/// [`nimbus_runtime::Engines`], each holding the host functions that engine
/// supports.
pub struct Linkers {
    sync: Linker<InstanceState>,
    concurrent: Linker<InstanceState>,
}

impl Linkers {
    /// The linkers of the sync and the concurrent engine.
    pub fn new(sync: Linker<InstanceState>, concurrent: Linker<InstanceState>) -> Linkers {
        Linkers { sync, concurrent }
    }

    /// The linker for code compiled by `engine` (the sync one unless
    /// `engine` is the concurrent one's).
    pub fn for_engine(&self, engine: &Engine) -> &Linker<InstanceState> {
        if Engine::same(engine, self.concurrent.engine()) {
            &self.concurrent
        } else {
            &self.sync
        }
    }
}

/// An app ready to serve.
pub struct App {
    manifest: Manifest,
    components: IndexMap<ComponentId, Arc<AppComponent>>,
    services: AppServices,
    linkers: Arc<Linkers>,
}

impl App {
    /// An app from its parts (the app layer's loader calls this).
    pub fn new(
        manifest: Manifest,
        components: Vec<AppComponent>,
        services: AppServices,
        linkers: Arc<Linkers>,
    ) -> App {
        App {
            manifest,
            components: components
                .into_iter()
                .map(|c| (c.id.clone(), Arc::new(c)))
                .collect(),
            services,
            linkers,
        }
    }

    /// The manifest the app was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The app's host services.
    pub fn services(&self) -> &AppServices {
        &self.services
    }

    /// The component linker `compiled` instantiates with: the one of its
    /// engine ([`Compiled::engine`]).
    pub fn linker(&self, compiled: &Compiled) -> &Linker<InstanceState> {
        self.linkers.for_engine(compiled.engine())
    }

    /// A component by id.
    pub fn component(&self, id: &str) -> Option<&Arc<AppComponent>> {
        self.components.get(id)
    }

    /// Every component, in manifest order.
    pub fn components(&self) -> impl Iterator<Item = &Arc<AppComponent>> {
        self.components.values()
    }
}
