//! Calling a component's inbound Redis export: which one it has (found at
//! load), and the [`GuestCall`] that instantiates it for one message.

use anyhow::Context as _;
use nimbus_capability::{App, AppComponent, InstanceState};
use nimbus_runtime::Compiled;
use nimbus_trigger::GuestCall;

mod v2 {
    wasmtime::component::bindgen!({
        path: "wit/v2",
        world: "redis-trigger",
        exports: { default: async },
    });
}

mod v3 {
    wasmtime::component::bindgen!({
        path: "wit/v3",
        world: "redis-trigger",
        exports: { default: async | store },
    });
}

/// The interface spin-sdk 2 to 5 components export.
pub(crate) const V2_EXPORT: &str = "fermyon:spin/inbound-redis";
/// The interface spin-sdk 6 and 7 components export.
pub(crate) const V3_EXPORT: &str = "spin:redis/inbound-redis@3.0.0";

/// A component pre-instantiated for one of the inbound Redis exports.
#[derive(Clone)]
pub(crate) enum Export {
    /// `fermyon:spin/inbound-redis` (sync engine).
    V2(v2::RedisTriggerPre<InstanceState>),
    /// `spin:redis/inbound-redis@3.0.0` (concurrent engine).
    V3(v3::RedisTriggerPre<InstanceState>),
}

impl Export {
    /// Links `component` and finds its inbound Redis export; refuses a
    /// component that has neither, naming both interfaces.
    pub fn new(app: &App, component: &AppComponent) -> anyhow::Result<Export> {
        let Compiled::Component(compiled) = &*component.compiled else {
            anyhow::bail!(
                "component `{}` is a core module (wasm32-wasip1); a Redis trigger needs a component exporting `{V2_EXPORT}` (spin-sdk 5 `#[redis_component]`) or `{V3_EXPORT}` (spin-sdk 7 `#[redis_subscriber]`)",
                component.id
            );
        };
        let pre = app
            .linker(&component.compiled)
            .instantiate_pre(compiled)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot link component `{}`", component.id))?;
        if let Ok(pre) = v3::RedisTriggerPre::new(pre.clone()) {
            return Ok(Export::V3(pre));
        }
        if let Ok(pre) = v2::RedisTriggerPre::new(pre) {
            return Ok(Export::V2(pre));
        }
        anyhow::bail!(
            "component `{}` exports no inbound Redis interface: a Redis trigger needs `{V2_EXPORT}` (spin-sdk 5 `#[redis_component]`) or `{V3_EXPORT}` (spin-sdk 7 `#[redis_subscriber]`)",
            component.id
        )
    }

    /// The interface, for messages.
    pub fn interface(&self) -> &'static str {
        match self {
            Export::V2(_) => V2_EXPORT,
            Export::V3(_) => V3_EXPORT,
        }
    }

    /// The call for one message: a fresh instance, `handle-message(payload)`.
    pub fn call(&self, payload: Vec<u8>) -> GuestCall {
        match self.clone() {
            Export::V2(pre) => Box::new(move |store| {
                Box::pin(async move {
                    let bindings = pre.instantiate_async(&mut *store).await?;
                    let answer = bindings
                        .fermyon_spin_inbound_redis()
                        .call_handle_message(&mut *store, &payload)
                        .await?;
                    Ok(answer.map_err(|_: v2::fermyon::spin::redis_types::Error| {
                        "the component returned its error (see its output for why)".to_owned()
                    }))
                })
            }),
            Export::V3(pre) => Box::new(move |store| {
                Box::pin(async move {
                    let bindings = pre.instantiate_async(&mut *store).await?;
                    let answer = store
                        .run_concurrent(async move |accessor| {
                            bindings
                                .spin_redis_inbound_redis()
                                .call_handle_message(accessor, payload)
                                .await
                        })
                        .await??;
                    Ok(answer.map_err(|err| v3_error(&err)))
                })
            }),
        }
    }
}

fn v3_error(err: &v3::spin::redis::redis::Error) -> String {
    use v3::spin::redis::redis::Error;
    match err {
        Error::InvalidAddress => "invalid-address".to_owned(),
        Error::TooManyConnections => "too-many-connections".to_owned(),
        Error::TypeError => "type-error".to_owned(),
        Error::Other(text) => text.clone(),
    }
}
