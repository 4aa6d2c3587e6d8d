//! The host side of `fermyon:spin/mqtt@2.0.0` (spin-sdk 5) and
//! `spin:mqtt/mqtt@3.0.0` (spin-sdk 6 and 7): one implementation, the same
//! pool and grants.

use std::sync::Arc;

use wasmtime::component::{Accessor, HasData, Linker, Resource, ResourceTable};

use crate::bindings::fermyon::spin::mqtt as v2;
use crate::bindings::spin::mqtt::mqtt as v3;
use crate::pool::Broker;
use crate::{MqttComponent, MqttError, MqttInstance};

/// A guest's open `fermyon:spin/mqtt@2.0.0` connection: a handle on a
/// connection of the app's pool.
pub struct Connection(Arc<Broker>);

/// A guest's open `spin:mqtt/mqtt@3.0.0` connection: the same as a 2.0 one.
pub struct Connection3(Arc<Broker>);

/// What the MQTT host functions need from a store's state: this
/// capability's slot and the store's resource table.
pub struct MqttView<'a> {
    /// This capability's per-instance state.
    pub instance: &'a mut MqttInstance,
    /// The store's resource table, where connections live.
    pub table: &'a mut ResourceTable,
}

struct HasMqtt;

impl HasData for HasMqtt {
    type Data<'a> = MqttView<'a>;
}

/// Adds `fermyon:spin/mqtt@2.0.0` to `linker`, and `spin:mqtt/mqtt@3.0.0`
/// when it takes concurrent host functions (see
/// [`nimbus_capability::links_concurrent`]); `get` picks this capability's
/// parts out of the store's state. Stores must be driven by a Tokio runtime
/// (connections are driven by Tokio tasks).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> MqttView<'_>,
) -> wasmtime::Result<()> {
    v2::add_to_linker::<T, HasMqtt>(linker, get)?;
    if nimbus_capability::links_concurrent(linker) {
        v3::add_to_linker::<T, HasMqtt>(linker, get)?;
    }
    Ok(())
}

/// `open` for a guest of `component`, logging a failure (without the
/// credentials: no error message holds them).
async fn open(
    component: &MqttComponent,
    address: String,
    username: String,
    password: String,
    keep_alive: u64,
) -> Result<Arc<Broker>, MqttError> {
    let result = component
        .app()
        .open(
            component.allowed_hosts(),
            address,
            username,
            password,
            keep_alive,
        )
        .await;
    if let Err(err) = &result {
        tracing::debug!(component = %component.id(), "MQTT open failed: {err}");
    }
    result
}

/// `publish` on `broker` for a guest of `component`, logging a failure.
async fn publish(
    component: &MqttComponent,
    broker: Arc<Broker>,
    topic: String,
    payload: Vec<u8>,
    qos: rumqttc::QoS,
) -> Result<(), MqttError> {
    let timeout = component.app().publish_timeout();
    let result = broker.publish(topic, payload, qos, timeout).await;
    if let Err(err) = &result {
        tracing::debug!(
            component = %component.id(),
            "MQTT publish to {} failed: {err}",
            broker.endpoint()
        );
    }
    result
}

// --- fermyon:spin/mqtt@2.0.0 ------------------------------------------------

impl From<MqttError> for v2::Error {
    fn from(err: MqttError) -> v2::Error {
        match err {
            MqttError::InvalidAddress => v2::Error::InvalidAddress,
            MqttError::TooManyConnections => v2::Error::TooManyConnections,
            MqttError::ConnectionFailed(why) => v2::Error::ConnectionFailed(why),
            MqttError::Other(why) => v2::Error::Other(why),
        }
    }
}

fn qos2(qos: v2::Qos) -> rumqttc::QoS {
    match qos {
        v2::Qos::AtMostOnce => rumqttc::QoS::AtMostOnce,
        v2::Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        v2::Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

impl v2::Host for MqttView<'_> {}

impl v2::HostConnection for MqttView<'_> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<Connection>, v2::Error>> {
        if !self.instance.reserve() {
            return Ok(Err(v2::Error::TooManyConnections));
        }
        let component = self.instance.component().clone();
        let opened = open(
            &component,
            address,
            username,
            password,
            keep_alive_interval_in_secs,
        )
        .await;
        match opened.map(|broker| self.table.push(Connection(broker))) {
            Ok(Ok(connection)) => Ok(Ok(connection)),
            Ok(Err(table_full)) => {
                self.instance.release();
                Err(table_full.into())
            }
            Err(err) => {
                self.instance.release();
                Ok(Err(err.into()))
            }
        }
    }

    async fn publish(
        &mut self,
        connection: Resource<Connection>,
        topic: String,
        payload: Vec<u8>,
        qos: v2::Qos,
    ) -> wasmtime::Result<Result<(), v2::Error>> {
        let broker = self.table.get(&connection)?.0.clone();
        let component = self.instance.component().clone();
        Ok(publish(&component, broker, topic, payload, qos2(qos))
            .await
            .map_err(Into::into))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.instance.release();
        Ok(())
    }
}

// --- spin:mqtt/mqtt@3.0.0 ---------------------------------------------------
//
// The same functions as `async func` (component-model async ABI): each
// reaches the store through an accessor and awaits the broker without
// holding it.

impl From<MqttError> for v3::Error {
    fn from(err: MqttError) -> v3::Error {
        match err {
            MqttError::InvalidAddress => v3::Error::InvalidAddress,
            MqttError::TooManyConnections => v3::Error::TooManyConnections,
            MqttError::ConnectionFailed(why) => v3::Error::ConnectionFailed(why),
            MqttError::Other(why) => v3::Error::Other(why),
        }
    }
}

fn qos3(qos: v3::Qos) -> rumqttc::QoS {
    match qos {
        v3::Qos::AtMostOnce => rumqttc::QoS::AtMostOnce,
        v3::Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        v3::Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

type V3Accessor<T> = Accessor<T, HasMqtt>;

impl v3::Host for MqttView<'_> {}

impl v3::HostConnection for MqttView<'_> {
    async fn drop(&mut self, connection: Resource<Connection3>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.instance.release();
        Ok(())
    }
}

impl<T> v3::HostConnectionWithStore<T> for HasMqtt {
    async fn open(
        accessor: &V3Accessor<T>,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<Connection3>, v3::Error>> {
        // The place is taken before the await, so that concurrent opens of
        // one instance cannot pass the limit together.
        let component = accessor.with(|mut access| {
            let view = access.get();
            view.instance
                .reserve()
                .then(|| view.instance.component().clone())
        });
        let Some(component) = component else {
            return Ok(Err(v3::Error::TooManyConnections));
        };
        let opened = open(
            &component,
            address,
            username,
            password,
            keep_alive_interval_in_secs,
        )
        .await;
        accessor.with(|mut access| {
            let view = access.get();
            match opened.map(|broker| view.table.push(Connection3(broker))) {
                Ok(Ok(connection)) => Ok(Ok(connection)),
                Ok(Err(table_full)) => {
                    view.instance.release();
                    Err(table_full.into())
                }
                Err(err) => {
                    view.instance.release();
                    Ok(Err(err.into()))
                }
            }
        })
    }

    async fn publish(
        accessor: &V3Accessor<T>,
        connection: Resource<Connection3>,
        topic: String,
        payload: Vec<u8>,
        qos: v3::Qos,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let (broker, component) = accessor.with(|mut access| {
            let view = access.get();
            let broker = view.table.get(&connection)?.0.clone();
            wasmtime::Result::<_>::Ok((broker, view.instance.component().clone()))
        })?;
        Ok(publish(&component, broker, topic, payload, qos3(qos))
            .await
            .map_err(Into::into))
    }
}
