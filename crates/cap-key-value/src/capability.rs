//! Key-value on the capability seam.

use std::collections::BTreeMap;

use nimbus_capability::{AppContext, Capability, ComponentContext, InstanceBuilder, InstanceState};
use wasmtime::component::Linker;

use crate::{
    AppKv, KeyValueAppState, KeyValueCapability, KeyValueConfig, KeyValueInstance, KeyValueView,
};

fn view(state: &mut InstanceState) -> KeyValueView<'_> {
    let (instance, table) = state.get_with_table::<KeyValueInstance>();
    KeyValueView { instance, table }
}

impl Capability for KeyValueCapability {
    const NAME: &'static str = "key-value";
    const RUNTIME_CONFIG_SECTION: Option<&'static str> = Some(KeyValueConfig::SECTION);
    type RuntimeConfig = KeyValueConfig;
    type AppState = KeyValueAppState;
    type ComponentState = KeyValueInstance;
    type InstanceState = KeyValueInstance;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        crate::add_to_linker(linker, view)?;
        Ok(())
    }

    fn configure_app(
        &self,
        app: &AppContext<'_>,
        config: Option<KeyValueConfig>,
    ) -> anyhow::Result<KeyValueAppState> {
        let grants: BTreeMap<String, Vec<String>> = app
            .manifest
            .components
            .iter()
            .map(|(id, c)| {
                let labels = c.key_value_stores.iter().map(|l| l.to_string()).collect();
                (id.to_string(), labels)
            })
            .collect();
        self.configure(
            config,
            &AppKv {
                app_id: app.app_id.to_owned(),
                data_dir: app.data_dir.to_owned(),
                grants,
            },
        )
    }

    fn configure_component(
        &self,
        app: &KeyValueAppState,
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<KeyValueInstance> {
        Ok(app.instance(component.id.as_str()))
    }

    fn prepare(
        &self,
        component: &KeyValueInstance,
        _builder: &mut InstanceBuilder,
    ) -> anyhow::Result<KeyValueInstance> {
        Ok(component.clone())
    }
}
