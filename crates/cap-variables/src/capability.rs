//! Variables on the capability seam.

use nimbus_capability::{
    AppContext, Capability, ComponentContext, InstanceBuilder, InstanceState, VariableValue,
};
use nimbus_manifest::VariableName;
use wasmtime::component::Linker;

use crate::{VariablesAppState, VariablesCapability, VariablesConfig, VariablesInstance};

fn view(state: &mut InstanceState) -> &mut VariablesInstance {
    state.get::<VariablesInstance>()
}

impl Capability for VariablesCapability {
    const NAME: &'static str = "variables";
    const RUNTIME_CONFIG_SECTION: Option<&'static str> = Some(VariablesCapability::CONFIG_KEY);
    type RuntimeConfig = VariablesConfig;
    type AppState = VariablesAppState;
    type ComponentState = VariablesInstance;
    type InstanceState = VariablesInstance;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        crate::add_to_linker(linker, view)?;
        Ok(())
    }

    fn configure_app(
        &self,
        app: &AppContext<'_>,
        config: Option<VariablesConfig>,
    ) -> anyhow::Result<VariablesAppState> {
        self.configure_with(config, app.manifest, app.variables, app.env)
    }

    /// The app's variables, resolved: templates in other grants
    /// (`allowed_outbound_hosts`) are rendered with them.
    fn app_variable(&self, app: &VariablesAppState, name: &VariableName) -> Option<VariableValue> {
        app.app_value(name.as_str())
    }

    fn configure_component(
        &self,
        app: &VariablesAppState,
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<VariablesInstance> {
        Ok(app.instance(component.id.as_str()))
    }

    fn prepare(
        &self,
        component: &VariablesInstance,
        _builder: &mut InstanceBuilder,
    ) -> anyhow::Result<VariablesInstance> {
        Ok(component.clone())
    }
}
