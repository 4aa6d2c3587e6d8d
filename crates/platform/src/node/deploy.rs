//! Admin operations that change what a node serves: deploy, rollback and
//! remove.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use http::StatusCode;

use super::refusal::not_found;
use super::{AppInfo, Node, Refusal};
use crate::bundle::Bundle;
use crate::store::{AppRecord, Release};

impl Node {
    fn refuse(&self, app: &str, refusal: Refusal) -> Refusal {
        if refusal.category != "not_found" {
            self.metrics.refused(app, refusal.category);
        }
        tracing::warn!(
            app,
            reason = refusal.category,
            "deploy refused: {}",
            refusal.message
        );
        refusal
    }

    /// Deploys `bundle_bytes` as app `name`, answering on `NAME.DOMAIN` and
    /// `hostnames`. The bundle is checked, its signature verified, and the
    /// app fully loaded before it replaces the running version (if any);
    /// the replacement is persisted before this returns.
    pub async fn deploy(
        &self,
        name: &str,
        bundle_bytes: &[u8],
        hostnames: Vec<String>,
    ) -> Result<AppInfo, Refusal> {
        let result = self.try_deploy(name, bundle_bytes, hostnames).await;
        result.map_err(|mut refusal| {
            // The client gets no path of the node's (staging, releases).
            refusal.message = self.hide_paths(&refusal.message);
            self.refuse(name, refusal)
        })
    }

    async fn try_deploy(
        &self,
        name: &str,
        bundle_bytes: &[u8],
        hostnames: Vec<String>,
    ) -> Result<AppInfo, Refusal> {
        check_app_name(name).map_err(|m| Refusal::new(StatusCode::BAD_REQUEST, "name", m))?;
        let hostnames = self
            .check_hostnames(hostnames)
            .map_err(|m| Refusal::new(StatusCode::BAD_REQUEST, "hostname", m))?;
        let max_unpacked = self.config.max_unpacked_size;
        let bytes = bundle_bytes.to_vec();
        let bundle = tokio::task::spawn_blocking(move || Bundle::from_bytes(&bytes, max_unpacked))
            .await
            .map_err(|err| Refusal::internal(anyhow::anyhow!("{err}")))?
            .map_err(|err| Refusal::new(StatusCode::BAD_REQUEST, "bundle", err.0))?;
        let signer = crate::signing::verify(&bundle, &self.trusted_keys, self.require_signatures)
            .map_err(|m| Refusal::new(StatusCode::FORBIDDEN, "signature", m))?;
        self.install(name, bundle, signer, hostnames, None).await
    }

    /// Deploys the app at `reference` in an OCI registry (Spin's format) as
    /// app `name`: the node pulls it (every layer checked against its
    /// digest), verifies its signature annotation under the node's policy,
    /// and then proceeds as [`Node::deploy`] does. `settings` replace the
    /// app's when given.
    pub async fn deploy_from_registry(
        &self,
        name: &str,
        reference: &str,
        hostnames: Vec<String>,
        settings: Option<crate::settings::AppSettings>,
    ) -> Result<AppInfo, Refusal> {
        let result = self
            .try_deploy_from_registry(name, reference, hostnames, settings)
            .await;
        result.map_err(|mut refusal| {
            refusal.message = self.hide_paths(&refusal.message);
            self.refuse(name, refusal)
        })
    }

    async fn try_deploy_from_registry(
        &self,
        name: &str,
        reference: &str,
        hostnames: Vec<String>,
        settings: Option<crate::settings::AppSettings>,
    ) -> Result<AppInfo, Refusal> {
        check_app_name(name).map_err(|m| Refusal::new(StatusCode::BAD_REQUEST, "name", m))?;
        let hostnames = self
            .check_hostnames(hostnames)
            .map_err(|m| Refusal::new(StatusCode::BAD_REQUEST, "hostname", m))?;
        let registry = nimbus_oci::Registry::new(self.registry_options());
        let pulled = registry.pull(reference).await.map_err(|err| {
            Refusal::new(
                StatusCode::BAD_GATEWAY,
                "registry",
                format!("cannot pull {reference}: {err:#}"),
            )
        })?;
        let signer = crate::signing::verify_artifact(
            pulled
                .annotations
                .get(nimbus_oci::SIGNATURE_ANNOTATION)
                .map(String::as_str),
            &pulled.locked_digest,
            &self.trusted_keys,
            self.require_signatures,
        )
        .map_err(|m| Refusal::new(StatusCode::FORBIDDEN, "signature", m))?;
        let mut bundle = Bundle::from_files(nimbus_oci::MANIFEST_NAME, pulled.files.files)
            .map_err(|err| Refusal::new(StatusCode::BAD_REQUEST, "bundle", err.0))?;
        if bundle.files_size() > self.config.max_unpacked_size {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "size",
                format!(
                    "{reference} unpacks to {} bytes, over this node's max_unpacked_size",
                    bundle.files_size()
                ),
            ));
        }
        bundle.settings = settings;
        let source = format!("{}@{}", pulled.reference, pulled.digest);
        self.install(name, bundle, signer, hostnames, Some(source))
            .await
    }

    /// Installs a checked bundle as app `name`'s new release: unpacked,
    /// loaded, and only then swapped in.
    async fn install(
        &self,
        name: &str,
        bundle: Bundle,
        signer: Option<crate::signing::Signer>,
        hostnames: Vec<String>,
        source: Option<String>,
    ) -> Result<AppInfo, Refusal> {
        let _admin = self.admin_lock.lock().await;
        self.check_hostname_conflicts(name, &hostnames)?;
        let digest = bundle.digest();
        let id = digest[..16].to_owned();
        let old = self.record(name);
        // Settings given with the upload replace the app's; none given: the
        // app keeps what it had.
        let settings = match bundle.settings.clone() {
            Some(settings) => settings,
            None => old.as_ref().map(|r| r.settings.clone()).unwrap_or_default(),
        };
        let release = Release {
            id: id.clone(),
            digest,
            app_version: None,
            manifest: bundle.index.manifest.clone(),
            deployed_at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            signed_by: signer.map(|s| s.key_id),
            files: bundle.files.len(),
            size: bundle.files_size(),
            hostnames,
            triggers: Vec::new(),
            source,
        };

        // Unpack (synced) and move into place.
        let store = self.store.clone();
        let app_name = name.to_owned();
        let release_id = id.clone();
        let dir = tokio::task::spawn_blocking(move || -> anyhow::Result<PathBuf> {
            let staged = store.staging_dir()?;
            bundle.unpack_into(staged.path())?;
            store.install(staged, &app_name, &release_id)
        })
        .await
        .map_err(|err| Refusal::internal(anyhow::anyhow!("{err}")))?
        .map_err(Refusal::internal)?;

        let in_use = |record: &Option<AppRecord>| {
            record.as_ref().is_some_and(|r| {
                r.current.id == id || r.previous.as_ref().is_some_and(|p| p.id == id)
            })
        };
        let discard = |dir: &Path| {
            if !in_use(&old) {
                let _ = std::fs::remove_dir_all(dir);
            }
        };

        let loaded = match self.load_release(name, &dir, &release, &settings).await {
            Ok(loaded) => loaded,
            Err(refusal) => {
                discard(&dir);
                return Err(refusal);
            }
        };
        let mut release = release;
        let manifest = loaded.http.app().manifest();
        release.app_version = manifest.version().map(str::to_owned);
        release.triggers = manifest
            .trigger_types()
            .into_iter()
            .map(str::to_owned)
            .collect();

        let record = AppRecord {
            previous: match &old {
                Some(old) if old.current.id == release.id => old.previous.clone(),
                Some(old) => Some(old.current.clone()),
                None => None,
            },
            current: release,
            settings,
        };
        if let Err(err) = self.persist(name, Some(&record)) {
            discard(&dir);
            return Err(Refusal::internal(err));
        }
        self.go_live(name, record, loaded);
        self.metrics.deployed(name);
        tracing::info!(app = name, release = %id, replaced = old.is_some(), "deployed");
        self.get(name)
    }

    /// Makes the previous release current again (and the current one
    /// previous, so a second rollback undoes the first).
    pub async fn rollback(&self, name: &str) -> Result<AppInfo, Refusal> {
        let _admin = self.admin_lock.lock().await;
        let Some(old) = self.record(name) else {
            return Err(not_found(name));
        };
        let Some(previous) = old.previous.clone() else {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("app {name} has no previous release to roll back to"),
            ));
        };
        self.check_hostname_conflicts(name, &previous.hostnames)?;
        let dir = self.store.release_dir(name, &previous.id);
        let loaded = self
            .load_release(name, &dir, &previous, &old.settings)
            .await?;
        let record = AppRecord {
            current: previous,
            previous: Some(old.current),
            settings: old.settings,
        };
        self.persist(name, Some(&record))
            .map_err(Refusal::internal)?;
        let id = record.current.id.clone();
        self.go_live(name, record, loaded);
        self.metrics.rolled_back(name);
        tracing::info!(app = name, release = %id, "rolled back");
        self.get(name)
    }

    /// Removes an app and its releases.
    pub async fn remove(&self, name: &str) -> Result<(), Refusal> {
        let _admin = self.admin_lock.lock().await;
        if self.record(name).is_none() {
            return Err(not_found(name));
        }
        self.persist(name, None).map_err(Refusal::internal)?;
        let removed = {
            let mut routes = self.write_routes();
            routes.by_host.retain(|_, app| app != name);
            routes.by_name.remove(name)
        };
        self.update_gauges();
        if let Some(removed) = removed {
            // Its messages in flight finish; no new ones are taken.
            removed.stop_events().await;
        }
        tracing::info!(app = name, "removed");
        Ok(())
    }

    fn check_hostnames(&self, hostnames: Vec<String>) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for host in hostnames {
            let host = crate::config::normalize_domain(&host).map_err(|e| e.to_string())?;
            if host == self.config.domain || host.ends_with(&format!(".{}", self.config.domain)) {
                return Err(format!(
                    "hostname {host} is under the node's domain {}; apps get NAME.{} automatically",
                    self.config.domain, self.config.domain
                ));
            }
            if !out.contains(&host) {
                out.push(host);
            }
        }
        out.sort();
        Ok(out)
    }

    fn check_hostname_conflicts(&self, name: &str, hostnames: &[String]) -> Result<(), Refusal> {
        let routes = self.read_routes();
        for host in hostnames {
            if let Some(owner) = routes.by_host.get(host) {
                if owner != name {
                    return Err(Refusal::new(
                        StatusCode::CONFLICT,
                        "hostname",
                        format!("hostname {host} is already used by app {owner}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// App names are DNS labels: `a-z`, `0-9` and `-`, 1 to 63 characters, not
/// starting or ending with `-`.
pub fn check_app_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid app name: use 1 to 63 of a-z, 0-9 and `-` (not first or last), as it becomes a host name"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_are_dns_labels() {
        assert!(check_app_name("hello-2").is_ok());
        for bad in ["", "Hello", "a_b", "-a", "a-", "a.b", &"x".repeat(64)] {
            assert!(check_app_name(bad).is_err(), "{bad}");
        }
    }
}
