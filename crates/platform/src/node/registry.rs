//! The apps a node serves now, found by name or custom hostname, and the
//! persisted records behind them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use arc_swap::ArcSwapOption;
use nimbus_trigger::{ReadyFuture, Shutdown, ShutdownHandle, Trigger};
use nimbus_trigger_http::HttpTrigger;

use super::Node;
use crate::store::AppRecord;

/// A release, loaded: its HTTP trigger (routes; none is fine) and its
/// other triggers, built but not running yet.
pub(super) struct Loaded {
    pub(super) http: Arc<HttpTrigger>,
    pub(super) events: Vec<Box<dyn Trigger>>,
}

/// An app's non-HTTP triggers (Redis, cron, NATS), running.
pub(super) struct RunningEvents {
    stop: ShutdownHandle,
    done: tokio::task::JoinHandle<()>,
    /// What each trigger listens to (`Trigger::summary`).
    pub(super) summary: Vec<String>,
}

/// How long a node replacing a release waits for the new release's triggers
/// to subscribe before it stops the old release's anyway (a server that is
/// down would otherwise keep the old release running).
const SWITCH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl RunningEvents {
    /// Starts `triggers` of app `name` on the current runtime, with a future
    /// that completes when they all take events; `None` when there are
    /// none.
    fn start(name: &str, triggers: Vec<Box<dyn Trigger>>) -> Option<(RunningEvents, ReadyFuture)> {
        if triggers.is_empty() {
            return None;
        }
        let waits: Vec<ReadyFuture> = triggers.iter().map(|t| t.ready()).collect();
        let ready: ReadyFuture = Box::pin(async move {
            for wait in waits {
                wait.await;
            }
        });
        let summary = triggers
            .iter()
            .flat_map(|t| {
                let kind = t.trigger_type();
                t.summary()
                    .into_iter()
                    .map(move |line| format!("{kind}: {line}"))
            })
            .collect();
        let (stop, shutdown) = Shutdown::new();
        let app = name.to_owned();
        let done = tokio::spawn(async move {
            if let Err(err) = nimbus_trigger::run_all(triggers, shutdown.wait()).await {
                tracing::error!(app = %app, "the app's triggers stopped: {}", crate::one_line(&err));
            }
        });
        Some((
            RunningEvents {
                stop,
                done,
                summary,
            },
            ready,
        ))
    }

    /// Stops taking events, and waits for those in flight.
    async fn stop(self) {
        self.stop.fire();
        let _ = self.done.await;
    }
}

/// One app as it serves now. Replacing an app replaces the whole
/// `LiveApp`; requests in flight keep the `Arc<HttpTrigger>` they started
/// with.
pub(super) struct LiveApp {
    pub(super) name: String,
    pub(super) record: AppRecord,
    pub(super) dir: PathBuf,
    pub(super) trigger: ArcSwapOption<HttpTrigger>,
    pub(super) load_lock: tokio::sync::Mutex<()>,
    pub(super) last_used_ms: AtomicU64,
    /// Its Redis, cron and NATS triggers, while they run (an app that has
    /// any stays loaded).
    events: Mutex<Option<RunningEvents>>,
    // Why the last load failed (cleared by a successful one).
    load_error: Mutex<Option<String>>,
}

impl LiveApp {
    pub(super) fn load_error(&self) -> Option<String> {
        self.load_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn set_load_error(&self, error: Option<String>) {
        *self.load_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }

    /// Starts `triggers` unless this app's event triggers already run;
    /// returns a future that completes when they take events.
    pub(super) fn start_events(&self, triggers: Vec<Box<dyn Trigger>>) -> Option<ReadyFuture> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.is_some() {
            return None;
        }
        let (running, ready) = RunningEvents::start(&self.name, triggers)?;
        *events = Some(running);
        Some(ready)
    }

    /// Whether its event triggers run (it then stays loaded).
    pub(super) fn has_events(&self) -> bool {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// What its event triggers listen to (empty when none run).
    pub(super) fn event_summary(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|e| e.summary.clone())
            .unwrap_or_default()
    }

    /// Stops its event triggers (if running) and waits for the events in
    /// flight.
    pub(super) async fn stop_events(&self) {
        let running = self.events.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(running) = running {
            running.stop().await;
            tracing::info!(app = %self.name, "stopped its triggers");
        }
    }
}

/// Every deployed app by name, and which app each custom hostname
/// belongs to.
#[derive(Default)]
pub(super) struct Routes {
    pub(super) by_name: HashMap<String, Arc<LiveApp>>,
    pub(super) by_host: HashMap<String, String>,
}

impl Node {
    pub(super) fn read_routes(&self) -> std::sync::RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write_routes(&self) -> std::sync::RwLockWriteGuard<'_, Routes> {
        self.routes.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub(super) fn live_app(
        &self,
        name: &str,
        record: AppRecord,
        trigger: Option<Arc<HttpTrigger>>,
    ) -> Arc<LiveApp> {
        let dir = self.store.release_dir(name, &record.current.id);
        Arc::new(LiveApp {
            name: name.to_owned(),
            record,
            dir,
            trigger: ArcSwapOption::new(trigger),
            load_lock: tokio::sync::Mutex::new(()),
            last_used_ms: AtomicU64::new(self.now_ms()),
            events: Mutex::new(None),
            load_error: Mutex::new(None),
        })
    }

    pub(super) fn update_gauges(&self) {
        let routes = self.read_routes();
        let loaded = routes
            .by_name
            .values()
            .filter(|app| app.trigger.load().is_some())
            .count();
        self.metrics.set_apps(routes.by_name.len(), loaded);
    }

    pub(super) fn record(&self, name: &str) -> Option<AppRecord> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.apps.get(name).cloned()
    }

    /// Saves `name`'s record durably (`None`: removes the app and its
    /// files); the in-memory state changes only when that succeeded.
    pub(super) fn persist(&self, name: &str, record: Option<&AppRecord>) -> anyhow::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match record {
            Some(record) => {
                self.store
                    .save_app(name, record)
                    .with_context(|| format!("cannot save the record of app {name}"))?;
                state.apps.insert(name.to_owned(), record.clone());
            }
            None => {
                self.store
                    .remove_app(name)
                    .with_context(|| format!("cannot remove app {name}"))?;
                state.apps.remove(name);
            }
        }
        Ok(())
    }

    /// Swaps in a new live version: new requests get it, requests in flight
    /// finish on the old one. The old version's event triggers stop only
    /// when the new one's have subscribed (up to [`SWITCH_WAIT`]), so a NATS
    /// queue group always has a member: no message is lost, and each still
    /// goes to one member (the old one hands over what its server already
    /// sent it). A Redis channel's messages published during the switch
    /// reach both versions.
    pub(super) fn go_live(&self, name: &str, record: AppRecord, loaded: Loaded) {
        let hostnames = record.current.hostnames.clone();
        self.store.collect_app_garbage(name, &record);
        let live = self.live_app(name, record, Some(loaded.http));
        let ready = live.start_events(loaded.events);
        let replaced = {
            let mut routes = self.write_routes();
            routes.by_host.retain(|_, app| app != name);
            for host in hostnames {
                routes.by_host.insert(host, name.to_owned());
            }
            routes.by_name.insert(name.to_owned(), live)
        };
        self.update_gauges();
        if let Some(replaced) = replaced {
            if replaced.has_events() {
                tokio::spawn(async move {
                    if let Some(ready) = ready {
                        if tokio::time::timeout(SWITCH_WAIT, ready).await.is_err() {
                            tracing::warn!(
                                app = %replaced.name,
                                "the new release's triggers have not all subscribed after {SWITCH_WAIT:?}; stopping the old release's anyway"
                            );
                        }
                    }
                    replaced.stop_events().await
                });
            }
        }
    }

    /// Stops the event triggers of every app, letting events in flight
    /// finish (the node is shutting down).
    pub async fn stop_events(&self) {
        let apps: Vec<Arc<LiveApp>> = self.read_routes().by_name.values().cloned().collect();
        for app in apps {
            app.stop_events().await;
        }
    }
}
