//! Outbound messaging for guests: `wasi:messaging@0.2.0-draft` (`types`,
//! `producer`, `request-reply`) on NATS, over connections pooled per app.
//!
//! # Guest interface
//!
//! - `client.connect(name)`: `name` is a NATS server address,
//!   `nats://[USER:PASSWORD@]HOST[:PORT]` (port
//!   [`DEFAULT_PORT`](nimbus_messaging_types::nats::DEFAULT_PORT) when left
//!   out); anything else is `other`. A server the component's
//!   `allowed_outbound_hosts` does not grant is `permission-denied`, a server
//!   that does not answer within [`CONNECT_TIMEOUT`] (or is down while the
//!   pooled connection reconnects) is `connection`. At most
//!   [`MAX_CONNECTIONS_PER_INSTANCE`] clients are open in one instance
//!   (then `other`). `disconnect` makes the client unusable (the pooled
//!   connection stays for the app's other instances).
//! - `message`: a payload, a content type (the NATS header `Content-Type`)
//!   and metadata (the other NATS headers); a received message also has its
//!   subject as `topic`. Keys and values that cannot be NATS headers are
//!   refused with `metadata-error.invalid`.
//! - `producer.send(client, topic, message)`: publishes to subject `topic`
//!   (the message's own topic when `topic` is empty; wildcards refused) and
//!   returns once the server has it (a round trip), within
//!   [`PUBLISH_TIMEOUT`] (then `timeout`).
//! - `request-reply.request(client, topic, message, options)`: publishes with
//!   a fresh inbox as the reply subject and collects replies until
//!   `set-expected-replies` (default 1, at most [`MAX_REPLIES`]) arrived or
//!   `set-timeout-ms` (default [`REQUEST_TIMEOUT`]) passed: no reply is
//!   `timeout`, no subscriber on the subject is `other("no responders…")`.
//! - `request-reply.reply(message, reply)`: publishes `reply` to the reply
//!   subject of `message`, on the connection `message` arrived on (the NATS
//!   trigger's, or the client's for a reply to a request): a message without
//!   one (not sent as a request) is `other`. It needs no grant: it answers
//!   the server that delivered the message.
//!
//! # Access control
//!
//! The grant is per server: `allowed_outbound_hosts = ["nats://HOST:PORT"]`,
//! checked on every `connect` with [`AllowedHosts::authorize`] (a denial is
//! logged with the entry to add), and the client connects only to the
//! addresses it returned, ignoring the servers a NATS cluster advertises
//! (so the node's private-address guard applies, and DNS is not asked
//! again). Subjects are not restricted by Nimbus: restrict them on the
//! server, with the user the address names (NATS permissions).
//!
//! # Pooling
//!
//! Each app has its own pool ([`MessagingAppState`]): one connection per
//! (server, credentials), made on first use, shared by the app's instances,
//! reconnecting by itself when the server goes away (sends fail with
//! `connection` meanwhile). A guest's `client` is a resource of its
//! instance.

#![warn(missing_docs)]

mod host;
mod pool;

use std::sync::Arc;
use std::time::Duration;

use nimbus_capability::{
    AllowedHosts, AppContext, Capability, ComponentContext, ConnectionBudget, InstanceBuilder,
    InstanceState,
};
use wasmtime::component::Linker;

pub use host::{add_to_linker, MessagingView, RequestOptions};
pub use nimbus_outbound_networking::{CONNECT_TIMEOUT, MAX_CONNECTIONS_PER_INSTANCE};
pub use pool::MessagingAppState;

/// How long `send` (and `reply`) waits for the server to have the message.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `request` waits for replies when its options set no timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most replies one `request` collects.
pub const MAX_REPLIES: u32 = 256;

/// The most NATS servers one app's pool holds connections to.
pub const MAX_POOLED_CONNECTIONS: usize = 64;

/// Host bindings of `producer` and `request-reply` (world
/// `nimbus:messaging/host`), on the shared `types` of
/// [`nimbus_messaging_types`].
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../messaging-types/wit",
        world: "nimbus:messaging/host",
        imports: { default: async | trappable },
        with: {
            "wasi:messaging/types": nimbus_messaging_types::bindings::wasi::messaging::types,
            "wasi:messaging/request-reply.request-options": crate::RequestOptions,
        },
    });
}

/// The messaging capability. Add it to the app's
/// [`Capabilities`](nimbus_capability::Capabilities); it has no runtime
/// config.
#[derive(Debug, Clone, Default)]
pub struct MessagingCapability;

/// One component's grants and its app's pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MessagingComponent(Arc<ComponentInner>);

#[derive(Debug)]
struct ComponentInner {
    app: MessagingAppState,
    allowed_hosts: AllowedHosts,
}

impl MessagingComponent {
    /// The component of `allowed_hosts.component()` in the app of `app`.
    pub fn new(app: MessagingAppState, allowed_hosts: AllowedHosts) -> MessagingComponent {
        MessagingComponent(Arc::new(ComponentInner { app, allowed_hosts }))
    }

    /// The app's pool.
    pub fn app(&self) -> &MessagingAppState {
        &self.0.app
    }

    /// Where the component may connect.
    pub fn allowed_hosts(&self) -> &AllowedHosts {
        &self.0.allowed_hosts
    }
}

/// This capability's slot of one instance: its component and how many
/// clients the guest holds.
#[derive(Debug)]
pub struct MessagingInstance {
    component: MessagingComponent,
    clients: ConnectionBudget,
}

impl MessagingInstance {
    /// An instance of `component` with no client open.
    pub fn new(component: MessagingComponent) -> MessagingInstance {
        MessagingInstance {
            component,
            clients: ConnectionBudget::default(),
        }
    }
}

fn view(state: &mut InstanceState) -> MessagingView<'_> {
    let (instance, table) = state.get_with_table::<MessagingInstance>();
    MessagingView { instance, table }
}

impl Capability for MessagingCapability {
    const NAME: &'static str = "messaging";
    type RuntimeConfig = ();
    type AppState = MessagingAppState;
    type ComponentState = MessagingComponent;
    type InstanceState = MessagingInstance;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        add_to_linker(linker, view)?;
        Ok(())
    }

    fn configure_app(
        &self,
        app: &AppContext<'_>,
        _config: Option<()>,
    ) -> anyhow::Result<MessagingAppState> {
        Ok(MessagingAppState::new(app.app_id))
    }

    fn configure_component(
        &self,
        app: &MessagingAppState,
        component: &ComponentContext<'_>,
    ) -> anyhow::Result<MessagingComponent> {
        Ok(MessagingComponent::new(
            app.clone(),
            component.allowed_hosts.clone(),
        ))
    }

    fn prepare(
        &self,
        component: &MessagingComponent,
        _builder: &mut InstanceBuilder,
    ) -> anyhow::Result<MessagingInstance> {
        Ok(MessagingInstance::new(component.clone()))
    }
}
