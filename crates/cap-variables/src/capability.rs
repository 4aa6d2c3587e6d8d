//! Variables on the capability seam.

use nimbus_capability::{AppContext, Capability, ComponentContext, InstanceBuilder, InstanceState};
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
        // Values the operator gave for this app come first, then the
        // host's environment (`NIMBUS_VARIABLE_…`), runtime config, defaults.
        let given = app.variables;
        let env = app.env;
        let lookup = |name: &str| -> Option<String> {
            for prefix in ["NIMBUS_VARIABLE_", "SPIN_VARIABLE_"] {
                if let Some(variable) = name.strip_prefix(prefix) {
                    if let Some((_, value)) =
                        given.iter().find(|(n, _)| n.eq_ignore_ascii_case(variable))
                    {
                        return Some(value.clone());
                    }
                }
            }
            env(name)
        };
        self.configure(config, app.manifest, &lookup)
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
