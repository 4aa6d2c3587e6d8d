//! The apps a node serves now, found by name or custom hostname, and the
//! persisted records behind them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use arc_swap::ArcSwapOption;
use nimbus_trigger_http::HttpTrigger;

use super::Node;
use crate::store::AppRecord;

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
    /// finish on the old one.
    pub(super) fn go_live(&self, name: &str, record: AppRecord, trigger: Arc<HttpTrigger>) {
        let hostnames = record.current.hostnames.clone();
        self.store.collect_app_garbage(name, &record);
        let live = self.live_app(name, record, Some(trigger));
        {
            let mut routes = self.write_routes();
            routes.by_host.retain(|_, app| app != name);
            for host in hostnames {
                routes.by_host.insert(host, name.to_owned());
            }
            routes.by_name.insert(name.to_owned(), live);
        }
        self.update_gauges();
    }
}
