//! Calling a cron component: the `fermyon:spin-cron@2.0.0` world of
//! spin-trigger-cron (`export handle-cron-event: func(metadata) ->
//! result<_, error>`), with host bindings generated from `wit/cron.wit`.
//!
//! Two published shapes export that function: spin-cron-sdk with spin-sdk 3–5
//! (a plain export, WASI 0.2: the sync engine) and spin-cron-sdk with spin-sdk
//! 6+ (`async func`, component-model async: the concurrent engine). Their
//! types are the same but for the async flag, which Wasmtime's type check
//! ignores, and `call_async` calls an async-lifted export through the store's
//! event loop; so one set of bindings serves both. Which one a component
//! exports is read at load ([`CronGuest::is_async`]), for the log.

use anyhow::Context as _;
use nimbus_capability::{App, AppComponent, InstanceState};
use nimbus_runtime::Compiled;
use nimbus_trigger::GuestCall;
use wasmtime::component::types::ComponentItem;

/// Host bindings of the world `fermyon:spin-cron/spin-cron@2.0.0`.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin-cron/spin-cron",
        exports: { default: async },
    });
}

use bindings::fermyon::spin_cron::cron_types::{Error as CronError, Metadata};

/// The name of the export every cron component has.
pub const EXPORT: &str = "handle-cron-event";

/// A cron component, linked and pre-instantiated at load.
#[derive(Clone)]
pub struct CronGuest {
    pre: bindings::SpinCronPre<InstanceState>,
    is_async: bool,
}

impl CronGuest {
    /// Links `component` with the app's linker and checks that it exports
    /// `handle-cron-event` with the world's type.
    pub fn load(app: &App, component: &AppComponent) -> anyhow::Result<CronGuest> {
        let id = &component.id;
        let Compiled::Component(compiled) = &*component.compiled else {
            anyhow::bail!(
                "component `{id}` is a core module (wasm32-wasip1); a cron trigger needs a component \
                 exporting `{EXPORT}` (world fermyon:spin-cron/spin-cron@2.0.0, e.g. built with \
                 spin-cron-sdk for wasm32-wasip2)"
            );
        };
        let engine = component.compiled.engine();
        let is_async = match compiled.component_type().get_export(engine, EXPORT) {
            Some(export) => match export.ty {
                ComponentItem::ComponentFunc(func) => func.async_(),
                _ => anyhow::bail!(
                    "component `{id}` exports `{EXPORT}`, but not as a function; a cron component \
                     exports `{EXPORT}: func(metadata: metadata) -> result<_, error>` (world \
                     fermyon:spin-cron/spin-cron@2.0.0)"
                ),
            },
            None => anyhow::bail!(
                "component `{id}` does not export `{EXPORT}`, so a cron trigger cannot run it; build it \
                 for the world fermyon:spin-cron/spin-cron@2.0.0 (spin-cron-sdk's #[cron_component])"
            ),
        };
        let pre = app
            .linker(&component.compiled)
            .instantiate_pre(compiled)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot link component `{id}`"))?;
        let pre = bindings::SpinCronPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                "component `{id}` exports `{EXPORT}` with another type than the world \
                 fermyon:spin-cron/spin-cron@2.0.0 (`func(metadata: metadata) -> result<_, error>`)"
            )
            })?;
        Ok(CronGuest { pre, is_async })
    }

    /// Whether the export is an `async func` (spin-cron-sdk with spin-sdk 6+).
    pub fn is_async(&self) -> bool {
        self.is_async
    }

    /// The call for one tick: a fresh instance, `handle-cron-event` with
    /// `timestamp` (seconds since the Unix epoch).
    pub fn call(&self, timestamp: u64) -> GuestCall {
        let pre = self.pre.clone();
        Box::new(move |store| {
            Box::pin(async move {
                let cron = pre.instantiate_async(&mut *store).await?;
                let answer = cron
                    .call_handle_cron_event(&mut *store, Metadata { timestamp })
                    .await?;
                Ok(answer.map_err(|CronError::Other(message)| message))
            })
        })
    }
}
