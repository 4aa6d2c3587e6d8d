//! The NATS trigger: each message on a `[[trigger.nats]]` subject runs the
//! trigger's component in a fresh instance, through its export
//! `wasi:messaging/incoming-handler@0.2.0-draft`.
//!
//! ```toml
//! [application.trigger.nats]            # optional: the default address
//! address = "nats://127.0.0.1:4222"
//!
//! [[trigger.nats]]
//! address = "nats://127.0.0.1:4222"     # required unless the default is set
//! subject = "jobs.>"                    # NATS wildcards allowed
//! queue_group = "workers"               # optional: each message to one member
//! component = "worker"
//! ```
//!
//! `address` and `subject` may hold `{{ variable }}` templates. The app has
//! one connection per distinct address and a subscription per trigger (a
//! queue subscription with `queue_group`: every `nimbus up` of the group
//! shares the messages, each handled by one). A server that is down, at
//! start or later, never ends the trigger: the client reconnects with a
//! backoff (logging once when the connection is lost and when it is back)
//! and subscribes again; core NATS does not keep messages for a subscriber
//! that is away, so those published meanwhile are not delivered.
//!
//! Each message is dispatched on the trigger's
//! [`EventHandler`](nimbus_trigger::EventHandler) (the component's
//! `max_concurrency`, `timeout` and `memory`; event id `SUBJECT#SEQUENCE`,
//! the sequence counting the subscription's messages from 1). The guest gets
//! a `message` (see [`nimbus_messaging_types`]): subject, payload, content
//! type and metadata from the NATS headers, and the reply subject, which
//! `request-reply.reply` answers on this trigger's connection. The guest's
//! `error` is logged, and the message is not redelivered (core NATS has no
//! acknowledgement).

#![warn(missing_docs)]

mod config;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use nimbus_capability::{App, InstanceState};
use nimbus_manifest::{Manifest, ManifestError};
use nimbus_messaging_types::nats::{check_subject, from_nats, NatsAddress, NatsReplier};
use nimbus_messaging_types::Replier;
use nimbus_runtime::Compiled;
use nimbus_trigger::{
    EventHandler, EventObserver, EventRunner, GuestCall, Readiness, ReadyFuture, Shutdown, Trigger,
    TriggerFuture,
};
use wasmtime_wasi::WasiView as _;

use config::NatsTriggerConfig;

/// The trigger type this crate runs: `[[trigger.nats]]`.
pub const TRIGGER_TYPE: &str = "nats";

/// The longest wait between two attempts to reach a server.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// How long the trigger waits for a server at start before it logs that it
/// cannot reach it (it keeps trying).
const UNREACHABLE_AFTER: Duration = Duration::from_secs(3);

/// Bindings of the world the trigger calls (`nimbus:messaging/handler`), on
/// the shared `types`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../messaging-types/wit",
        world: "nimbus:messaging/handler",
        exports: { default: async },
        with: {
            "wasi:messaging/types": nimbus_messaging_types::bindings::wasi::messaging::types,
        },
    });
}

use bindings::HandlerPre;

/// Checks every `[[trigger.nats]]` section (and `[application.trigger.nats]`)
/// against the schema, reporting every problem with `file:line:col`.
pub fn check(manifest: &Manifest) -> Result<(), ManifestError> {
    config::read(manifest).map(drop)
}

/// The app's nats trigger, ready to run; `None` when the manifest has no
/// `[[trigger.nats]]`. Every event is reported to `observer`, if any.
pub fn trigger(
    app: &Arc<App>,
    observer: Option<Arc<dyn EventObserver>>,
) -> anyhow::Result<Option<Box<dyn Trigger>>> {
    let configs = config::read(app.manifest())?;
    if configs.is_empty() {
        return Ok(None);
    }
    let runner = EventRunner::new(observer);
    let mut servers: Vec<Server> = Vec::new();
    let mut subscriptions = Vec::new();
    for config in configs {
        let subscription = subscription(app, &runner, &config, &mut servers)?;
        subscriptions.push(subscription);
    }
    let readiness = Readiness::new(subscriptions.len());
    Ok(Some(Box::new(NatsTrigger {
        runner,
        servers,
        subscriptions,
        readiness,
    })))
}

/// One server the app's triggers subscribe on (one connection each).
struct Server {
    address: NatsAddress,
    endpoint: String,
}

/// One trigger's subscription.
struct Subscription {
    server: usize,
    subject: String,
    queue_group: Option<String>,
    component: String,
    handler: EventHandler,
    pre: HandlerPre<InstanceState>,
}

fn subscription(
    app: &Arc<App>,
    runner: &Arc<EventRunner>,
    config: &NatsTriggerConfig,
    servers: &mut Vec<Server>,
) -> anyhow::Result<Subscription> {
    let id = &config.id;
    let address = nimbus_trigger::event::render_setting(
        app,
        &format!("`address` of trigger `{id}`"),
        &config.address,
    )?;
    let address = NatsAddress::parse(&address).map_err(|why| {
        anyhow::anyhow!("`address` of trigger `{id}`: invalid NATS address: {why}")
    })?;
    let subject = nimbus_trigger::event::render_setting(
        app,
        &format!("`subject` of trigger `{id}`"),
        &config.subject,
    )?;
    check_subject(&subject, true)
        .map_err(|why| anyhow::anyhow!("`subject` of trigger `{id}`: {why}"))?;
    let component = app.component(config.component.as_str()).with_context(|| {
        format!(
            "trigger `{id}` names component `{}`, which the app does not have",
            config.component
        )
    })?;
    let Compiled::Component(compiled) = &*component.compiled else {
        anyhow::bail!(
            "component `{}` of trigger `{id}` is a core module; a NATS trigger needs a component (wasm32-wasip2) exporting wasi:messaging/incoming-handler@0.2.0-draft",
            component.id
        );
    };
    let pre = app
        .linker(&component.compiled)
        .instantiate_pre(compiled)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot link component `{}`", component.id))?;
    let pre = HandlerPre::new(pre).map_err(anyhow::Error::from).with_context(|| {
        format!(
            "component `{}` of trigger `{id}` does not export wasi:messaging/incoming-handler@0.2.0-draft (world wasi:messaging/messaging-core or messaging-request-reply)",
            component.id
        )
    })?;
    let server = match servers.iter().position(|s| s.address == address) {
        Some(index) => index,
        None => {
            servers.push(Server {
                endpoint: address.endpoint(),
                address,
            });
            servers.len() - 1
        }
    };
    let source = match &config.queue_group {
        Some(group) => format!("{} {subject} ({group})", servers[server].endpoint),
        None => format!("{} {subject}", servers[server].endpoint),
    };
    let handler = runner.handler(TRIGGER_TYPE, id, &source, component.clone());
    Ok(Subscription {
        server,
        subject,
        queue_group: config.queue_group.clone(),
        component: component.id.to_string(),
        handler,
        pre,
    })
}

/// The NATS trigger of one app.
struct NatsTrigger {
    runner: Arc<EventRunner>,
    servers: Vec<Server>,
    subscriptions: Vec<Subscription>,
    readiness: Readiness,
}

impl Trigger for NatsTrigger {
    fn trigger_type(&self) -> &'static str {
        TRIGGER_TYPE
    }

    fn summary(&self) -> Vec<String> {
        self.subscriptions
            .iter()
            .map(|s| {
                let mut line = format!(
                    "{}: {} subject {:?}",
                    s.component, self.servers[s.server].endpoint, s.subject
                );
                if let Some(group) = &s.queue_group {
                    line.push_str(&format!(" queue group {group:?}"));
                }
                line
            })
            .collect()
    }

    fn ready(&self) -> ReadyFuture {
        self.readiness.wait()
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> TriggerFuture {
        Box::pin(async move {
            let NatsTrigger {
                runner,
                servers,
                subscriptions,
                readiness,
            } = *self;
            let mut clients = Vec::with_capacity(servers.len());
            for server in &servers {
                clients.push(connect(server).await?);
            }
            let repliers: Vec<Arc<dyn Replier>> = clients
                .iter()
                .map(|client| NatsReplier::new(client.clone()) as Arc<dyn Replier>)
                .collect();
            let mut listening = tokio::task::JoinSet::new();
            for subscription in subscriptions {
                let client = clients[subscription.server].clone();
                let replier = repliers[subscription.server].clone();
                let endpoint = servers[subscription.server].endpoint.clone();
                listening.spawn(listen(
                    subscription,
                    client,
                    replier,
                    endpoint,
                    shutdown.clone(),
                    readiness.clone(),
                ));
            }
            let mut first_error = None;
            while let Some(ended) = listening.join_next().await {
                let error = match ended {
                    Ok(Ok(())) => continue,
                    Ok(Err(err)) => err,
                    Err(err) => anyhow::anyhow!("a NATS subscription task failed: {err}"),
                };
                first_error.get_or_insert(error);
            }
            // Messages in flight may still reply on their connection.
            runner.drain().await;
            for client in clients {
                let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
            }
            match first_error {
                Some(err) => Err(err),
                None => Ok(()),
            }
        })
    }
}

/// The connection to `server`: made in the background (retried with a
/// backoff while the server is down, at start too), logging when it is lost
/// and when it is back.
async fn connect(server: &Server) -> anyhow::Result<async_nats::Client> {
    let endpoint = server.endpoint.clone();
    let mut options = async_nats::ConnectOptions::new()
        .name("nimbus nats trigger")
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            let exponent = u32::try_from(attempts.min(10)).unwrap_or(10);
            (Duration::from_millis(100) * 2u32.pow(exponent)).min(MAX_RECONNECT_DELAY)
        })
        .event_callback(move |event| {
            let endpoint = endpoint.clone();
            async move {
                match event {
                    async_nats::Event::Disconnected => tracing::warn!(
                        trigger = TRIGGER_TYPE,
                        "lost the connection to {endpoint}; reconnecting (messages published meanwhile are not delivered)"
                    ),
                    async_nats::Event::Connected => {
                        tracing::info!(trigger = TRIGGER_TYPE, "connected to {endpoint}")
                    }
                    async_nats::Event::SlowConsumer(_) => tracing::warn!(
                        trigger = TRIGGER_TYPE,
                        "messages from {endpoint} arrive faster than the components handle them: the server drops some"
                    ),
                    other => tracing::debug!(trigger = TRIGGER_TYPE, "{endpoint}: {other}"),
                }
            }
        });
    if let Some((user, password)) = &server.address.credentials {
        options = options.user_and_password(user.clone(), password.clone());
    }
    // The endpoint holds no credentials: they went into the options.
    let client = options
        .connect(server.address.endpoint())
        .await
        .with_context(|| format!("cannot connect to {}", server.endpoint))?;
    let watched = client.clone();
    let endpoint = server.endpoint.clone();
    tokio::spawn(async move {
        tokio::time::sleep(UNREACHABLE_AFTER).await;
        if watched.connection_state() != async_nats::connection::State::Connected {
            tracing::warn!(
                trigger = TRIGGER_TYPE,
                "cannot reach {endpoint} yet; retrying (every {MAX_RECONNECT_DELAY:?} at most)"
            );
        }
    });
    Ok(client)
}

/// Subscribes and dispatches every message until `shutdown`.
async fn listen(
    subscription: Subscription,
    client: async_nats::Client,
    replier: Arc<dyn Replier>,
    endpoint: String,
    shutdown: Shutdown,
    readiness: Readiness,
) -> anyhow::Result<()> {
    let subject = subscription.subject.clone();
    let subscribed = match &subscription.queue_group {
        Some(group) => client.queue_subscribe(subject.clone(), group.clone()).await,
        None => client.subscribe(subject.clone()).await,
    };
    let mut messages =
        subscribed.with_context(|| format!("cannot subscribe to {subject:?} on {endpoint}"))?;
    // Say when the server has the subscription (a flush round trip), which
    // is when messages start to arrive; retried while it is unreachable.
    let announced = {
        let client = client.clone();
        let (subject, endpoint) = (subject.clone(), endpoint.clone());
        let group = subscription.queue_group.clone();
        tokio::spawn(async move {
            while client.flush().await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            readiness.one_ready();
            match group {
                Some(group) => tracing::info!(
                    trigger = TRIGGER_TYPE,
                    "listening on {subject:?} at {endpoint} in queue group {group:?}"
                ),
                None => tracing::info!(
                    trigger = TRIGGER_TYPE,
                    "listening on {subject:?} at {endpoint}"
                ),
            }
        })
    };
    let mut sequence: u64 = 0;
    let mut deliver = |message: async_nats::Message| {
        sequence += 1;
        let event_id = format!("{}#{sequence}", message.subject);
        let message = from_nats(message, Some(replier.clone()));
        subscription
            .handler
            .dispatch(event_id, guest_call(subscription.pre.clone(), message));
    };
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            message = messages.next() => {
                let Some(message) = message else {
                    tracing::warn!(trigger = TRIGGER_TYPE, "the subscription to {subject:?} on {endpoint} was closed");
                    announced.abort();
                    return Ok(());
                };
                deliver(message);
            }
        }
    }
    announced.abort();
    // Stop taking messages, but handle those the server already sent
    // (drain: unsubscribe, then read to the end): after this the server
    // sends the group's messages to its other members (or nowhere).
    if messages.drain().await.is_ok() {
        while let Ok(Some(message)) = tokio::time::timeout(DRAIN_WAIT, messages.next()).await {
            deliver(message);
        }
    }
    Ok(())
}

/// How long a stopping subscription waits for the next of the messages the
/// server sent before it unsubscribed.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// Instantiates the component and calls `handle` with `message`.
fn guest_call(
    pre: HandlerPre<InstanceState>,
    message: nimbus_messaging_types::Message,
) -> GuestCall {
    Box::new(move |store| {
        Box::pin(async move {
            let message = store.data_mut().ctx().table.push(message)?;
            let handler = pre.instantiate_async(&mut *store).await?;
            let answer = handler
                .wasi_messaging_incoming_handler()
                .call_handle(&mut *store, message)
                .await?;
            Ok(answer.map_err(|err| nimbus_messaging_types::describe(&err)))
        })
    })
}
