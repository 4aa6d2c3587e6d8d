//! Serving one app with all its triggers, in this process: what `nimbus up`
//! and the containerd shim (`containerd-shim-nimbus-v1`) share.
//!
//! [`load_app`] compiles the app (through the compile cache) on an engine
//! sized for serving; [`bind`] binds its HTTP listener and builds its event
//! triggers (Redis, cron, NATS); [`BoundApp::run`] runs them until a shutdown
//! future completes, letting requests and messages in flight finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use nimbus_app::{AppHost, AppOptions};
use nimbus_capability::App;
use nimbus_manifest::Manifest;
use nimbus_runtime::{CompileCache, EngineConfig, Loader, PoolSize};
use nimbus_trigger::Trigger;
use nimbus_trigger_http::HttpTrigger;

/// Compiles `manifest`'s app with `options` on a serving engine (pooled
/// instances), reading and writing compiled code in `cache` when given.
///
/// The returned host owns the engines: start an
/// [`EpochTicker`](nimbus_runtime::EpochTicker) on
/// [`AppHost::engines`] for the app's timeouts to fire.
pub fn load_app(
    manifest: Manifest,
    cache: Option<CompileCache>,
    options: AppOptions,
) -> anyhow::Result<(AppHost, Arc<App>)> {
    let engine = EngineConfig {
        pool: Some(PoolSize::SERVER),
        consume_fuel: false,
    }
    .build()?;
    let host = AppHost::new(Arc::new(Loader::new(engine, cache)))?;
    let app = Arc::new(host.load_with(manifest, options)?);
    Ok((host, app))
}

/// An app whose triggers are built and whose HTTP listener (if it has HTTP
/// triggers) is bound: ready to [`run`](BoundApp::run).
pub struct BoundApp {
    triggers: Vec<Box<dyn Trigger>>,
    http: Option<SocketAddr>,
    summary: Vec<String>,
}

/// Binds every trigger of `app`: HTTP on `listen` with `workers` listening
/// sockets (one serving thread each), then the event triggers
/// ([`crate::triggers::event_triggers`]).
///
/// Fails when the address cannot be bound, a trigger cannot be built, or the
/// app has no trigger at all. Call it inside a Tokio runtime.
pub fn bind(app: &Arc<App>, listen: SocketAddr, workers: usize) -> anyhow::Result<BoundApp> {
    let mut triggers: Vec<Box<dyn Trigger>> = Vec::new();
    let mut summary = Vec::new();
    let mut http = None;
    let has_http = app
        .manifest()
        .trigger_sections(nimbus_trigger_http::TRIGGER_TYPE)
        .next()
        .is_some();
    if has_http {
        let trigger = Arc::new(HttpTrigger::new(app.clone())?);
        let bound = trigger.clone().bind(listen, workers)?;
        let local = bound.local_addr();
        summary.push(format!("Serving http://{local}"));
        summary.push("Available Routes:".to_owned());
        for (route, component) in trigger.routes() {
            summary.push(format!("  {component}: http://{local}{route}"));
        }
        http = Some(local);
        triggers.push(Box::new(bound));
    }
    for trigger in crate::triggers::event_triggers(app, None)? {
        let kind = trigger.trigger_type();
        for line in trigger.summary() {
            summary.push(format!("{kind} trigger: {line}"));
        }
        triggers.push(trigger);
    }
    if triggers.is_empty() {
        anyhow::bail!(
            "{} has no triggers: add a [[trigger.http]] (or redis, cron, nats) section naming a component",
            app.manifest().path().display()
        );
    }
    Ok(BoundApp {
        triggers,
        http,
        summary,
    })
}

impl BoundApp {
    /// The address the HTTP trigger listens on (the port chosen when 0 was
    /// asked for), if the app has HTTP triggers.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
    }

    /// What `nimbus up` prints once bound, one line each: `Serving
    /// http://ADDR`, `Available Routes:` and a line per route, then a line
    /// per event subscription or schedule (`redis trigger: …`).
    pub fn summary(&self) -> &[String] {
        &self.summary
    }

    /// Runs every trigger until `shutdown` completes (then lets what is in
    /// flight finish) or one of them fails.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        nimbus_trigger::run_all(self.triggers, shutdown).await
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. Needs a Tokio runtime with its
/// signal driver (`enable_all`).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!("cannot listen for SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
