//! Outbound MySQL on the capability seam.

use nimbus_capability::{AppContext, Capability, ComponentContext, InstanceBuilder, InstanceState};
use wasmtime::component::Linker;

use crate::{MysqlAppState, MysqlCapability, MysqlComponent, MysqlInstance, MysqlView};

fn view(state: &mut InstanceState) -> MysqlView<'_> {
    let (instance, table) = state.get_with_table::<MysqlInstance>();
    MysqlView { instance, table }
}

impl Capability for MysqlCapability {
    const NAME: &'static str = "outbound-mysql";
    type RuntimeConfig = ();
    type AppState = MysqlAppState;
    type ComponentState = MysqlComponent;
    type InstanceState = MysqlInstance;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        crate::add_to_linker(linker, view)?;
        Ok(())
    }

    fn configure_app(
        &self,
        app: &AppContext<'_>,
        _config: Option<()>,
    ) -> anyhow::Result<MysqlAppState> {
        Ok(self.app_state(app.app_id))
    }

    fn configure_component(
        &self,
        app: &MysqlAppState,
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<MysqlComponent> {
        Ok(app.component(component.allowed_hosts.clone()))
    }

    fn prepare(
        &self,
        component: &MysqlComponent,
        _builder: &mut InstanceBuilder,
    ) -> anyhow::Result<MysqlInstance> {
        Ok(component.instance())
    }
}
