//! The resolved app: a validated manifest whose components are compiled and
//! whose grants are checked and opened, ready for a trigger to serve.
//!
//! Everything here happens once, at load (or deploy) time, so that a bad app
//! is refused before it serves a single request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use indexmap::IndexMap;
use nimbus_cap_key_value::{AppKv, KeyValueAppState, KeyValueCapability, KeyValueConfig};
use nimbus_cap_sqlite::{AppSqlite, SqliteAppState, SqliteCapability};
use nimbus_cap_variables::{VariablesAppState, VariablesCapability};
use nimbus_cap_wasi::{DirGrant, Stdio, WasiAppState, WasiCapability, WasiGrants};
use nimbus_manifest::{Component, ComponentId, FileMount, HostPattern, Limits, Manifest};
use nimbus_runtime::{Capability as _, Loader, SharedCode};
use nimbus_runtime_config::RuntimeConfig;

/// How to load an app, beyond its manifest.
#[derive(Debug, Default)]
pub struct AppOptions {
    /// Isolates the app's state from other apps' (Redis key prefix, …).
    /// Default: the app's name from its manifest.
    pub app_id: Option<String>,
    /// Where the app's embedded state lives (SQLite files). Default:
    /// `.nimbus/` next to the manifest.
    pub data_dir: Option<PathBuf>,
    /// The runtime config (`--runtime-config-file`): backends per store and
    /// database, variable values. Sections nobody reads are an error.
    pub runtime_config: Option<RuntimeConfig>,
    /// SQL run against the `default` database before serving (`--sqlite`).
    pub sqlite_migrations: Vec<String>,
    /// App variable values (name → value), used before the environment.
    pub variables: Vec<(String, String)>,
}

/// The host services of one app, configured once and shared by every
/// instance (each instance takes a cheap per-component view).
#[derive(Clone)]
pub struct AppServices {
    /// Key-value stores (`wasi:keyvalue`, `fermyon:spin/key-value`).
    pub key_value: KeyValueAppState,
    /// SQLite databases (`fermyon:spin/sqlite`).
    pub sqlite: SqliteAppState,
    /// Variables (`wasi:config/store`, `fermyon:spin/variables`).
    pub variables: VariablesAppState,
}

/// One component, compiled, with everything it was granted.
pub struct AppComponent {
    /// The component's id in the manifest.
    pub id: ComponentId,
    /// Its compiled code.
    pub compiled: SharedCode,
    /// Its WASI grants: environment and files (read-only).
    pub wasi: WasiAppState,
    /// The hosts it may reach (`allowed_outbound_hosts`); empty means none.
    pub allowed_outbound_hosts: Arc<[HostPattern]>,
    /// Its limits from `[component.ID.limits]`.
    pub limits: Limits,
}

/// An app ready to serve.
pub struct App {
    manifest: Manifest,
    components: IndexMap<ComponentId, Arc<AppComponent>>,
    services: AppServices,
    // Files mapped by glob patterns or single-file placements are copied
    // here, as Spin does, and granted read-only at `/`. Removed on drop.
    _staging: Vec<tempfile::TempDir>,
}

impl App {
    /// [`App::load_with`] with default options.
    pub fn load(manifest: Manifest, loader: &Loader) -> anyhow::Result<App> {
        App::load_with(manifest, loader, AppOptions::default())
    }

    /// Checks sources, configures the host services (opening stores and
    /// databases, resolving variables), compiles every component (through
    /// `loader`'s cache) and resolves its grants.
    pub fn load_with(
        manifest: Manifest,
        loader: &Loader,
        options: AppOptions,
    ) -> anyhow::Result<App> {
        manifest.check_sources()?;
        let services = configure_services(&manifest, options)?;
        let mut components = IndexMap::new();
        let mut staging = Vec::new();
        for (id, component) in &manifest.components {
            let source = manifest.resolve(&component.source);
            let compiled = loader
                .load_file(&source)
                .with_context(|| format!("component `{id}`"))?;
            compiled.check_memory_limit(id.as_str(), component.limits.memory)?;
            let (dirs, staged) = file_grants(&manifest, id, component)?;
            staging.extend(staged);
            let wasi = WasiCapability
                .configure(WasiGrants {
                    // Executors add argv (WAGI builds it per request).
                    args: Vec::new(),
                    env: component
                        .environment
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    dirs,
                    stdio: Stdio::InheritOutput,
                })
                .with_context(|| format!("component `{id}`"))?;
            components.insert(
                id.clone(),
                Arc::new(AppComponent {
                    id: id.clone(),
                    compiled,
                    wasi,
                    allowed_outbound_hosts: component.allowed_outbound_hosts.clone().into(),
                    limits: component.limits,
                }),
            );
        }
        Ok(App {
            manifest,
            components,
            services,
            _staging: staging,
        })
    }

    /// The manifest the app was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The app's host services.
    pub fn services(&self) -> &AppServices {
        &self.services
    }

    /// A component by id.
    pub fn component(&self, id: &str) -> Option<&Arc<AppComponent>> {
        self.components.get(id)
    }

    /// Every component, in manifest order.
    pub fn components(&self) -> impl Iterator<Item = &Arc<AppComponent>> {
        self.components.values()
    }
}

/// The default app id: the manifest's app name, reduced to the characters
/// the services accept.
fn default_app_id(manifest: &Manifest) -> String {
    let id: String = manifest
        .name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "app".to_owned()
    } else {
        id
    }
}

fn configure_services(manifest: &Manifest, options: AppOptions) -> anyhow::Result<AppServices> {
    let app_id = options.app_id.unwrap_or_else(|| default_app_id(manifest));
    let data_dir = options
        .data_dir
        .unwrap_or_else(|| manifest.dir().join(".nimbus"));
    let mut runtime_config = options.runtime_config.unwrap_or_else(RuntimeConfig::empty);
    let key_value_config = KeyValueConfig::take_from(&mut runtime_config)?;
    let sqlite_config = runtime_config.take(SqliteCapability::CONFIG_KEY)?;
    let variables_config = runtime_config.take(VariablesCapability::CONFIG_KEY)?;
    runtime_config.finish()?;

    let grants: BTreeMap<String, Vec<String>> = manifest
        .components
        .iter()
        .map(|(id, c)| {
            let labels = c.key_value_stores.iter().map(|l| l.to_string()).collect();
            (id.to_string(), labels)
        })
        .collect();
    let key_value = KeyValueCapability::new().configure(
        key_value_config,
        &AppKv {
            app_id: app_id.clone(),
            data_dir: data_dir.clone(),
            grants,
        },
    )?;
    let sqlite = SqliteCapability.configure(
        sqlite_config,
        &AppSqlite::from_manifest(manifest, app_id, data_dir),
    )?;
    for sql in &options.sqlite_migrations {
        sqlite
            .run_migrations(nimbus_cap_sqlite::DEFAULT_LABEL, sql)
            .context("--sqlite")?;
    }
    // Given values win over the environment: they answer its first key
    // (`NIMBUS_VARIABLE_<NAME>`).
    let given = options.variables;
    let variables = VariablesCapability.configure(variables_config, manifest, &|key| {
        given
            .iter()
            .find(|(name, _)| {
                key.strip_prefix("NIMBUS_VARIABLE_") == Some(name.to_ascii_uppercase().as_str())
            })
            .map(|(_, value)| value.clone())
            .or_else(|| std::env::var(key).ok())
    })?;
    Ok(AppServices {
        key_value,
        sqlite,
        variables,
    })
}

/// Turns `files` into read-only directory grants. Directory placements are
/// granted in place; glob patterns and single files are copied into a staging
/// directory granted at `/`.
fn file_grants(
    manifest: &Manifest,
    id: &ComponentId,
    component: &Component,
) -> anyhow::Result<(Vec<DirGrant>, Option<tempfile::TempDir>)> {
    let excludes = component
        .exclude_files
        .iter()
        .map(|pattern| {
            glob::Pattern::new(pattern).with_context(|| {
                format!("component `{id}`: invalid exclude_files pattern {pattern:?}")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let excluded = |relative: &Path| excludes.iter().any(|p| p.matches_path(relative));

    let mut dirs = Vec::new();
    let mut staging: Option<tempfile::TempDir> = None;
    let mut stage = |relative_dest: &Path, host: &Path| -> anyhow::Result<()> {
        if staging.is_none() {
            staging = Some(
                tempfile::Builder::new()
                    .prefix(&format!("nimbus-files-{id}-"))
                    .tempdir()
                    .context("cannot create a staging directory for component files")?,
            );
        }
        let root = staging
            .as_ref()
            .map(|s| s.path().to_owned())
            .unwrap_or_default();
        copy_into(host, &root.join(relative_dest))
    };

    for mount in &component.files {
        match mount {
            FileMount::Placement {
                source,
                destination,
            } => {
                let host = manifest.resolve(source);
                if host.is_dir() {
                    dirs.push(DirGrant {
                        host,
                        guest: destination.clone(),
                        read_only: true,
                    });
                } else {
                    stage(Path::new(destination.trim_start_matches('/')), &host)?;
                }
            }
            FileMount::Pattern(pattern) => {
                let full = manifest.dir().join(pattern);
                let full = full.to_string_lossy();
                let matches = glob::glob(&full).with_context(|| {
                    format!("component `{id}`: invalid files pattern {pattern:?}")
                })?;
                for entry in matches {
                    let host =
                        entry.with_context(|| format!("component `{id}`: files {pattern:?}"))?;
                    let relative = host
                        .strip_prefix(manifest.dir())
                        .unwrap_or(&host)
                        .to_owned();
                    if excluded(&relative) {
                        continue;
                    }
                    stage(&relative, &host)?;
                }
            }
        }
    }
    if let Some(staging) = &staging {
        dirs.insert(
            0,
            DirGrant {
                host: staging.path().to_owned(),
                guest: "/".into(),
                read_only: true,
            },
        );
    }
    Ok((dirs, staging))
}

/// Copies a file, or a directory recursively, to `dest`.
fn copy_into(host: &Path, dest: &Path) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(host).with_context(|| format!("cannot read {}", host.display()))?;
    if meta.is_dir() {
        std::fs::create_dir_all(dest)?;
        for entry in std::fs::read_dir(host)? {
            let entry = entry?;
            copy_into(&entry.path(), &dest.join(entry.file_name()))?;
        }
    } else if meta.is_file() {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(host, dest)
            .with_context(|| format!("cannot copy {} to the files staging area", host.display()))?;
    } else {
        bail!("{} is neither a file nor a directory", host.display());
    }
    Ok(())
}
