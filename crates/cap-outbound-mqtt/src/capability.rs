//! Outbound MQTT on the capability seam.

use std::sync::Arc;

use nimbus_capability::{
    AllowedHosts, AppContext, Capability, ComponentContext, InstanceBuilder, InstanceState,
};
use wasmtime::component::Linker;

use crate::{MqttAppState, MqttCapability, MqttView};

/// One component's grants (its resolved `allowed_outbound_hosts`) and its
/// app's pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MqttComponent(Arc<ComponentInner>);

#[derive(Debug)]
struct ComponentInner {
    app: MqttAppState,
    allowed_hosts: AllowedHosts,
}

impl MqttComponent {
    /// Component `allowed_hosts.component()` of the app of `app`.
    pub fn new(app: MqttAppState, allowed_hosts: AllowedHosts) -> MqttComponent {
        MqttComponent(Arc::new(ComponentInner { app, allowed_hosts }))
    }

    /// The app's pool.
    pub fn app(&self) -> &MqttAppState {
        &self.0.app
    }

    /// Where the component may connect.
    pub fn allowed_hosts(&self) -> &AllowedHosts {
        &self.0.allowed_hosts
    }

    /// The component's id.
    pub fn id(&self) -> &str {
        self.0.allowed_hosts.component()
    }
}

/// This capability's slot of one instance: its component, and how many
/// connections the guest holds open.
#[derive(Debug)]
pub struct MqttInstance {
    component: MqttComponent,
    connections: nimbus_outbound_networking::ConnectionBudget,
}

impl MqttInstance {
    /// An instance of `component` with no connection open.
    pub fn new(component: MqttComponent) -> MqttInstance {
        MqttInstance {
            component,
            connections: Default::default(),
        }
    }

    /// The component.
    pub fn component(&self) -> &MqttComponent {
        &self.component
    }

    /// How many connections the guest holds open (or is opening).
    pub fn open_connections(&self) -> usize {
        self.connections.taken()
    }

    /// Takes a place for one more connection: `false` when the instance has
    /// [`crate::MAX_CONNECTIONS_PER_INSTANCE`] already.
    pub(crate) fn reserve(&mut self) -> bool {
        self.connections.try_take()
    }

    /// Gives back a place (a connection dropped, or an open that failed).
    pub(crate) fn release(&mut self) {
        self.connections.give_back();
    }
}

fn view(state: &mut InstanceState) -> MqttView<'_> {
    let (instance, table) = state.get_with_table::<MqttInstance>();
    MqttView { instance, table }
}

impl Capability for MqttCapability {
    const NAME: &'static str = "outbound-mqtt";
    type RuntimeConfig = ();
    type AppState = MqttAppState;
    type ComponentState = MqttComponent;
    type InstanceState = MqttInstance;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        crate::add_to_linker(linker, view)?;
        Ok(())
    }

    fn configure_app(
        &self,
        app: &AppContext<'_>,
        _config: Option<()>,
    ) -> anyhow::Result<MqttAppState> {
        Ok(MqttAppState::new(app.app_id, self.publish_timeout()))
    }

    fn configure_component(
        &self,
        app: &MqttAppState,
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<MqttComponent> {
        Ok(MqttComponent::new(
            app.clone(),
            component.allowed_hosts.clone(),
        ))
    }

    fn prepare(
        &self,
        component: &MqttComponent,
        _builder: &mut InstanceBuilder,
    ) -> anyhow::Result<MqttInstance> {
        Ok(MqttInstance::new(component.clone()))
    }
}
