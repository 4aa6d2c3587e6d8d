//! Loading a release into a running trigger: the signature policy, the
//! manifest's checks, quotas and the app's settings; on the first request
//! to an app, and unloading apps left idle.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use nimbus_capability::OutboundPolicy;
use nimbus_manifest::{FileMount, Manifest};
use nimbus_trigger_http::HttpTrigger;

use super::registry::{LiveApp, Loaded};
use super::{Node, Refusal};
use crate::bundle::in_app;
use crate::settings::AppSettings;
use crate::store::Release;

impl Node {
    pub(super) async fn trigger_for(&self, app: &Arc<LiveApp>) -> anyhow::Result<Arc<HttpTrigger>> {
        app.last_used_ms.store(self.now_ms(), Ordering::Relaxed);
        if let Some(trigger) = app.trigger.load_full() {
            return Ok(trigger);
        }
        let _guard = app.load_lock.lock().await;
        if let Some(trigger) = app.trigger.load_full() {
            return Ok(trigger);
        }
        let started = Instant::now();
        let loaded = self
            .load_release(
                &app.name,
                &app.dir,
                &app.record.current,
                &app.record.settings,
            )
            .await;
        let Loaded { http, events } = match loaded {
            Ok(loaded) => loaded,
            Err(refusal) => {
                app.set_load_error(Some(refusal.message.clone()));
                anyhow::bail!(refusal.message);
            }
        };
        let trigger = http;
        app.set_load_error(None);
        tracing::info!(
            app = %app.name,
            release = %app.record.current.id,
            "loaded in {:?}",
            started.elapsed()
        );
        app.trigger.store(Some(trigger.clone()));
        // Nothing to wait for: no release of this app was running triggers.
        drop(app.start_events(events));
        self.update_gauges();
        Ok(trigger)
    }

    /// Loads every app with triggers other than HTTP and starts them (the
    /// node just started). An app that fails to load says why in its
    /// `error` and the log, as on a request.
    pub async fn start_event_apps(&self) {
        let apps: Vec<Arc<LiveApp>> = self
            .read_routes()
            .by_name
            .values()
            .filter(|app| {
                app.record
                    .current
                    .triggers
                    .iter()
                    .any(|t| t != nimbus_trigger_http::TRIGGER_TYPE)
            })
            .cloned()
            .collect();
        for app in apps {
            if app.load_error().is_some() {
                continue;
            }
            if let Err(err) = self.trigger_for(&app).await {
                tracing::warn!(app = %app.name, "cannot start its triggers: {err}");
            }
        }
    }

    /// Drops the loaded code of apps idle for longer than `idle`. Their next
    /// request loads it again (from the compile cache).
    pub fn unload_idle(&self, idle: Duration) -> usize {
        let now = self.now_ms();
        let idle_ms = idle.as_millis() as u64;
        let mut unloaded = 0;
        for app in self.read_routes().by_name.values() {
            // An app with Redis, cron or NATS triggers keeps running them.
            if app.trigger.load().is_some()
                && !app.has_events()
                && now.saturating_sub(app.last_used_ms.load(Ordering::Relaxed)) > idle_ms
            {
                app.trigger.store(None);
                unloaded += 1;
                tracing::info!(app = %app.name, "idle: unloaded its code");
            }
        }
        if unloaded > 0 {
            self.update_gauges();
        }
        unloaded
    }

    /// Whether `release` may serve under this node's signature policy: signed
    /// when `--require-signatures`, and by a trusted key when any is given.
    pub(super) fn check_signature_policy(&self, release: &Release) -> Result<(), Refusal> {
        let refuse =
            |message: String| Err(Refusal::new(StatusCode::FORBIDDEN, "signature", message));
        match &release.signed_by {
            None if self.require_signatures => refuse(format!(
                "release {} is not signed, and this node requires signatures \
                 (--require-signatures); deploy a bundle signed by a trusted key",
                release.id
            )),
            Some(key) if !self.trusted_key_ids.is_empty() && !self.trusted_key_ids.contains(key) => {
                refuse(format!(
                    "release {} is signed by key {key}, which is not among this node's trusted keys",
                    release.id
                ))
            }
            _ => Ok(()),
        }
    }

    /// Parses, checks and loads a release with the app's settings: the one
    /// place that calls [`App::load`], [`HttpTrigger::new`] and builds the
    /// app's other triggers (not started yet). Messages
    /// name files relative to the release, never the node's paths.
    pub(super) async fn load_release(
        &self,
        name: &str,
        dir: &Path,
        release: &Release,
        settings: &AppSettings,
    ) -> Result<Loaded, Refusal> {
        self.check_signature_policy(release)?;
        let release_dir = format!("{}/", dir.display());
        self.load_release_inner(name, dir, release, settings)
            .await
            .map_err(|mut refusal| {
                refusal.message = self.hide_paths(&refusal.message.replace(&release_dir, ""));
                refusal
            })
    }

    /// `message` with the data directory's path replaced by `DATA`.
    pub(super) fn hide_paths(&self, message: &str) -> String {
        message.replace(&self.store.root().display().to_string(), "DATA")
    }

    async fn load_release_inner(
        &self,
        name: &str,
        dir: &Path,
        release: &Release,
        settings: &AppSettings,
    ) -> Result<Loaded, Refusal> {
        let manifest_path = dir.join(&release.manifest);
        let quotas = self.config.quotas;
        let host = self.host.clone();
        let observer = self.metrics.observer(name);
        let event_observer = self.metrics.event_observer(name);
        // State (key-value, SQLite) is per app and outlives releases:
        // DATA/apps/NAME/data, beside DATA/apps/NAME/releases/ID.
        let runtime_config = match &settings.runtime_config {
            Some(text) => Some(
                nimbus_runtime_config::RuntimeConfig::from_str(text, "the app's runtime config")
                    .map_err(|err| {
                        Refusal::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "settings",
                            err.to_string(),
                        )
                    })?,
            ),
            None => None,
        };
        let options = nimbus_app::AppOptions {
            app_id: Some(name.to_owned()),
            data_dir: dir
                .parent()
                .and_then(Path::parent)
                .map(|app| app.join("data")),
            runtime_config,
            sqlite_migrations: settings.sqlite.clone(),
            variables: settings
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            // The node's own environment is not its tenants' business.
            ignore_host_environment: true,
            outbound: if self.config.allow_private_outbound {
                OutboundPolicy::default()
            } else {
                OutboundPolicy::NODE
            },
        };
        let settings = settings.clone();
        let app_name = name.to_owned();
        let loaded = tokio::task::spawn_blocking(move || -> Result<Loaded, Refusal> {
            let mut manifest = crate::triggers::read_manifest(&manifest_path).map_err(|err| {
                Refusal::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "manifest",
                    err.to_string(),
                )
            })?;
            check_paths(&manifest)
                .map_err(|msg| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "manifest", msg))?;
            check_required_variables(&manifest, &app_name, &settings)
                .map_err(|msg| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "settings", msg))?;
            quotas
                .apply(&mut manifest)
                .map_err(|msg| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "quota", msg))?;
            let load = || -> anyhow::Result<Loaded> {
                let app = Arc::new(host.load_with(manifest, options)?);
                let events = crate::triggers::event_triggers(&app, Some(event_observer))?;
                let http = Arc::new(HttpTrigger::new(app)?.with_observer(observer));
                Ok(Loaded { http, events })
            };
            load().map_err(|err| {
                Refusal::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "load",
                    crate::one_line(&err),
                )
            })
        })
        .await
        .map_err(|err| Refusal::internal(anyhow::anyhow!("the loader panicked: {err}")))??;
        Ok(loaded)
    }
}

/// Every `required` variable without a default must get a value from the
/// app's settings (or the node's environment, as `nimbus up` reads it): the
/// advice says how to give one to this app.
fn check_required_variables(
    manifest: &Manifest,
    app: &str,
    settings: &AppSettings,
) -> Result<(), String> {
    let missing: Vec<String> = manifest
        .variables
        .iter()
        .filter(|(name, variable)| {
            let upper = name.as_str().to_ascii_uppercase();
            variable.required
                && variable.default.is_none()
                && !settings.sets_variable(name.as_str())
                && std::env::var_os(format!("NIMBUS_VARIABLE_{upper}")).is_none()
                && std::env::var_os(format!("SPIN_VARIABLE_{upper}")).is_none()
        })
        .map(|(name, _)| name.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names = missing
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let flags = missing
        .iter()
        .map(|n| format!("--variable {n}=VALUE"))
        .collect::<Vec<_>>()
        .join(" ");
    Err(format!(
        "app variable{} {names} {} required but {} no value on this node; set {} for this app \
         with `nimbus deploy --name {app} {flags}` (or in the [variables] table of the file \
         given with --runtime-config-file)",
        if missing.len() == 1 { "" } else { "s" },
        if missing.len() == 1 { "is" } else { "are" },
        if missing.len() == 1 { "has" } else { "have" },
        if missing.len() == 1 { "it" } else { "them" },
    ))
}

/// Every path the manifest reads must stay inside the release directory.
fn check_paths(manifest: &Manifest) -> Result<(), String> {
    for (id, component) in &manifest.components {
        if in_app(&component.source).is_none() {
            return Err(format!(
                "component `{id}`: source {} is outside the bundle",
                component.source.display()
            ));
        }
        for mount in &component.files {
            let (path, shown) = match mount {
                FileMount::Placement { source, .. } => {
                    (source.clone(), source.display().to_string())
                }
                FileMount::Pattern(pattern) => (PathBuf::from(pattern), pattern.clone()),
            };
            if in_app(&path).is_none() {
                return Err(format!(
                    "component `{id}`: files {shown} reaches outside the bundle"
                ));
            }
        }
    }
    Ok(())
}
