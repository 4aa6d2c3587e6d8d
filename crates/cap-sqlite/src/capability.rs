//! SQLite on the capability seam.

use nimbus_capability::{AppContext, Capability, ComponentContext, InstanceBuilder, InstanceState};
use wasmtime::component::Linker;

use crate::{
    AppSqlite, SqliteAppState, SqliteCapability, SqliteConfig, SqliteInstance, SqliteView,
};

fn view(state: &mut InstanceState) -> SqliteView<'_> {
    let (instance, table) = state.get_with_table::<SqliteInstance>();
    SqliteView { instance, table }
}

impl Capability for SqliteCapability {
    const NAME: &'static str = "sqlite";
    const RUNTIME_CONFIG_SECTION: Option<&'static str> = Some(SqliteCapability::CONFIG_KEY);
    type RuntimeConfig = SqliteConfig;
    type AppState = SqliteAppState;
    type ComponentState = SqliteInstance;
    type InstanceState = SqliteInstance;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        crate::add_to_linker(linker, view)?;
        Ok(())
    }

    fn configure_app(
        &self,
        app: &AppContext<'_>,
        config: Option<SqliteConfig>,
    ) -> anyhow::Result<SqliteAppState> {
        self.configure(
            config,
            &AppSqlite::from_manifest(app.manifest, app.app_id, app.data_dir),
        )
    }

    fn configure_component(
        &self,
        app: &SqliteAppState,
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<SqliteInstance> {
        Ok(app.instance(component.id.as_str()))
    }

    fn prepare(
        &self,
        component: &SqliteInstance,
        _builder: &mut InstanceBuilder,
    ) -> anyhow::Result<SqliteInstance> {
        Ok(component.clone())
    }
}
