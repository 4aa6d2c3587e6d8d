//! The resolved app: a validated manifest whose components are compiled and
//! whose grants are checked and opened, ready for a trigger to serve.
//!
//! Everything here happens once, at load (or deploy) time, so that a bad app
//! is refused before it serves a single request.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use indexmap::IndexMap;
use nimbus_cap_wasi::{DirGrant, Stdio, WasiAppState, WasiCapability, WasiGrants};
use nimbus_manifest::{Component, ComponentId, FileMount, HostPattern, Limits, Manifest};
use nimbus_runtime::{Capability as _, Compiled, Loader};

/// One component, compiled, with everything it was granted.
pub struct AppComponent {
    /// The component's id in the manifest.
    pub id: ComponentId,
    /// Its compiled code.
    pub compiled: Compiled,
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
    // Files mapped by glob patterns or single-file placements are copied
    // here, as Spin does, and granted read-only at `/`. Removed on drop.
    _staging: Vec<tempfile::TempDir>,
}

impl App {
    /// Checks sources, compiles every component (through `loader`'s cache)
    /// and resolves its grants.
    pub fn load(manifest: Manifest, loader: &Loader) -> anyhow::Result<App> {
        manifest.check_sources()?;
        let mut components = IndexMap::new();
        let mut staging = Vec::new();
        for (id, component) in &manifest.components {
            let source = manifest.resolve(&component.source);
            let compiled = loader
                .load_file(&source)
                .with_context(|| format!("component `{id}`"))?;
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
            _staging: staging,
        })
    }

    /// The manifest the app was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
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
