//! The Redis trigger: Spin's `[[trigger.redis]]`. Each message published on
//! a subscribed channel runs the component of every trigger of that channel,
//! each in a fresh instance under the component's limits (through
//! [`nimbus_trigger::event`]).
//!
//! - Schema: [`config`] (`channel`, `component`, `address` or the app's
//!   `[application.trigger.redis] address`; `executor` is ignored).
//! - Guests: components exporting `fermyon:spin/inbound-redis` (spin-sdk 5
//!   `#[redis_component]`, sync engine) or `spin:redis/inbound-redis@3.0.0`
//!   (spin-sdk 6/7 `#[redis_subscriber]`, an async export on the concurrent
//!   engine), found at load.
//! - Connections: one pub/sub connection per distinct server address; a
//!   lost or unreachable server is logged once, retried with exponential
//!   backoff (100 ms doubling to 5 s) and logged once when back; an idle
//!   connection is PINGed every 30 s, so a silent one is noticed too.
//!   Pub/sub does not keep messages: those published while disconnected are
//!   lost.

pub mod config;
mod guest;
mod server;
mod subscriber;

use std::sync::Arc;

use anyhow::Context as _;
use nimbus_capability::App;
use nimbus_manifest::{Manifest, ManifestError};
use nimbus_trigger::event::render_setting;
use nimbus_trigger::{
    EventObserver, EventRunner, Readiness, ReadyFuture, Shutdown, Trigger, TriggerFuture,
};

use crate::guest::Export;
use crate::server::Server;
use crate::subscriber::{Subscription, Subscriptions};

/// The trigger type this crate runs: `[[trigger.redis]]`.
pub const TRIGGER_TYPE: &str = "redis";

/// Checks every `[[trigger.redis]]` section (and `[application.trigger.redis]`)
/// against the schema, reporting every problem with `file:line:col`.
pub fn check(manifest: &Manifest) -> Result<(), ManifestError> {
    config::redis_triggers(manifest).map(drop)
}

/// The app's redis trigger, ready to run; `None` when the manifest has no
/// `[[trigger.redis]]`. Every event is reported to `observer`, if any.
///
/// Renders each trigger's `address` and `channel` with the app's variables
/// and finds each component's inbound Redis export: an error names the
/// trigger (and the manifest line) or the component.
pub fn trigger(
    app: &Arc<App>,
    observer: Option<Arc<dyn EventObserver>>,
) -> anyhow::Result<Option<Box<dyn Trigger>>> {
    let manifest = app.manifest();
    let configs = config::redis_triggers(manifest)?;
    if configs.is_empty() {
        return Ok(None);
    }
    let runner = EventRunner::new(observer);
    // Servers in order of first use, each with its subscriptions.
    let mut servers: Vec<(String, Subscriptions)> = Vec::new();
    let mut summary = Vec::new();
    for config in configs {
        let at = config::at(manifest, config.address.location);
        let address = render_setting(
            app,
            &format!("`address` of trigger `{}` ({at})", config.id),
            &config.address,
        )?;
        let server = Server::parse(&address)
            .map_err(|err| anyhow::anyhow!("`address` of trigger `{}` ({at}): {err}", config.id))?;
        let channel = render_setting(
            app,
            &format!(
                "`channel` of trigger `{}` ({})",
                config.id,
                config::at(manifest, config.channel.location)
            ),
            &config.channel,
        )?;
        let component = app.component(config.component.as_str()).with_context(|| {
            format!(
                "trigger `{}` names component `{}`, which the app does not have",
                config.id, config.component
            )
        })?;
        let export =
            Export::new(app, component).with_context(|| format!("trigger `{}`", config.id))?;
        tracing::debug!(
            trigger_id = %config.id,
            component = %config.component,
            "redis trigger: {} on {server} channel {channel:?}",
            export.interface()
        );
        summary.push(format!(
            "{}: {server} channel {channel:?}",
            config.component
        ));
        let source = format!("{server} {channel}");
        let handler = runner.handler(TRIGGER_TYPE, &config.id, &source, component.clone());
        let subscription = Subscription::new(channel, handler, export);
        match servers.iter_mut().find(|(a, _)| *a == address) {
            Some((_, subscriptions)) => subscriptions.add(subscription),
            None => {
                let mut subscriptions = Subscriptions::new(server);
                subscriptions.add(subscription);
                servers.push((address, subscriptions));
            }
        }
    }
    let readiness = Readiness::new(servers.len());
    Ok(Some(Box::new(RedisTrigger {
        servers: servers.into_iter().map(|(_, s)| s).collect(),
        runner,
        summary,
        readiness,
    })))
}

/// The Redis triggers of one app: a subscriber per server.
struct RedisTrigger {
    servers: Vec<Subscriptions>,
    runner: Arc<EventRunner>,
    summary: Vec<String>,
    /// Every server's subscriber has subscribed once.
    readiness: Readiness,
}

impl Trigger for RedisTrigger {
    fn trigger_type(&self) -> &'static str {
        TRIGGER_TYPE
    }

    fn summary(&self) -> Vec<String> {
        self.summary.clone()
    }

    fn ready(&self) -> ReadyFuture {
        self.readiness.wait()
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> TriggerFuture {
        Box::pin(async move {
            let mut listening = tokio::task::JoinSet::new();
            for server in self.servers {
                listening.spawn(server.listen(shutdown.clone(), self.readiness.clone()));
            }
            // Each listener returns once the shutdown fired and it stopped
            // reading; then the messages already taken finish.
            while let Some(ended) = listening.join_next().await {
                if let Err(err) = ended {
                    tracing::error!("a Redis subscriber failed: {err}");
                }
            }
            self.runner.drain().await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
