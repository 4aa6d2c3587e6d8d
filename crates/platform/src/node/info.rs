//! What the admin API says about apps.

use serde::Serialize;

use super::refusal::not_found;
use super::registry::LiveApp;
use super::{Node, Refusal};
use crate::settings::SettingsInfo;
use crate::store::Release;

/// One route of a loaded app.
#[derive(Debug, Clone, Serialize)]
pub struct RouteInfo {
    /// The route, e.g. `/api/...`.
    pub route: String,
    /// The component it runs.
    pub component: String,
}

/// What the admin API says about an app.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// The app's name.
    pub name: String,
    /// Where it is served (`http://NAME.DOMAIN:PORT`).
    pub url: String,
    /// Custom hostnames it also answers on.
    pub hostnames: Vec<String>,
    /// Whether its code is loaded (otherwise it loads on the next request).
    pub loaded: bool,
    /// Why its code could not be loaded, when the last attempt failed (or,
    /// with `--require-signatures`, the release is not signed): it answers
    /// `503` until that is fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its routes, when loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RouteInfo>>,
    /// What its Redis, cron and NATS triggers listen to, while they run
    /// (e.g. `redis: order-processor: redis://127.0.0.1:6379 channel "orders"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    /// The release that serves.
    pub current: Release,
    /// The release `rollback` goes back to.
    pub previous: Option<Release>,
    /// The app's settings (variable names, never values).
    pub settings: SettingsInfo,
}

impl Node {
    fn app_url(&self, name: &str) -> String {
        match self.public_addr.get() {
            Some(addr) => format!("http://{name}.{}:{}", self.config.domain, addr.port()),
            None => format!("http://{name}.{}", self.config.domain),
        }
    }

    fn info(&self, app: &LiveApp) -> AppInfo {
        let trigger = app.trigger.load_full();
        AppInfo {
            name: app.name.clone(),
            url: self.app_url(&app.name),
            hostnames: app.record.current.hostnames.clone(),
            loaded: trigger.is_some(),
            error: app.load_error(),
            routes: trigger.map(|t| {
                t.routes()
                    .map(|(route, component)| RouteInfo {
                        route: route.to_owned(),
                        component: component.to_owned(),
                    })
                    .collect()
            }),
            triggers: app.event_summary(),
            current: app.record.current.clone(),
            previous: app.record.previous.clone(),
            settings: app.record.settings.info(),
        }
    }

    /// Every app, by name.
    pub fn list(&self) -> Vec<AppInfo> {
        let routes = self.read_routes();
        let mut apps: Vec<AppInfo> = routes.by_name.values().map(|a| self.info(a)).collect();
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        apps
    }

    /// One app.
    pub fn get(&self, name: &str) -> Result<AppInfo, Refusal> {
        let app = self.read_routes().by_name.get(name).cloned();
        match app {
            Some(app) => Ok(self.info(&app)),
            None => Err(not_found(name)),
        }
    }
}
