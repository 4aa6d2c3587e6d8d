//! The loaded app, as triggers see it: the manifest, each component's
//! compiled code and resolved host services, and the linker to instantiate
//! them with. `nimbus-app` builds it (it holds the list of capabilities);
//! triggers only read it, so they depend on no capability crate.

use std::sync::Arc;

use indexmap::IndexMap;
use nimbus_manifest::{ComponentId, Limits, Manifest};
use nimbus_runtime::wasmtime::component::Linker;
use nimbus_runtime::wasmtime::Engine;
use nimbus_runtime::SharedCode;

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

/// An app ready to serve.
pub struct App {
    manifest: Manifest,
    components: IndexMap<ComponentId, Arc<AppComponent>>,
    services: AppServices,
    linker: Arc<Linker<InstanceState>>,
}

impl App {
    /// An app from its parts (the app layer's loader calls this).
    pub fn new(
        manifest: Manifest,
        components: Vec<AppComponent>,
        services: AppServices,
        linker: Arc<Linker<InstanceState>>,
    ) -> App {
        App {
            manifest,
            components: components
                .into_iter()
                .map(|c| (c.id.clone(), Arc::new(c)))
                .collect(),
            services,
            linker,
        }
    }

    /// The engine the app's code is compiled for.
    pub fn engine(&self) -> &Engine {
        self.linker.engine()
    }

    /// The manifest the app was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The app's host services.
    pub fn services(&self) -> &AppServices {
        &self.services
    }

    /// The component linker every component of the app instantiates with.
    pub fn linker(&self) -> &Linker<InstanceState> {
        &self.linker
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
