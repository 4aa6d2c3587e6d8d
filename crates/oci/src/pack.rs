//! Packing an app (a parsed manifest and the files it names) into the
//! layers of an artifact in Spin's format.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use nimbus_manifest::{Component, ComponentId, FileMount, Manifest};
use serde_json::{json, Map, Value};

use crate::locked::{
    ContentPath, ContentRef, LockedApp, LockedComponent, LockedSource, LockedTrigger,
    LockedVariable,
};
use crate::{sha256_digest, Layer, DATA_MEDIA_TYPE, LOCKED_APP_MEDIA_TYPE, WASM_MEDIA_TYPE};

/// Files this small travel inside the locked app (base64), not as layers,
/// as Spin does: some registries refuse blobs of 0 or 1 bytes.
pub const INLINE_MAX: usize = 128;

/// An app packed for a registry: its layers (Wasm, data, and last the locked
/// app), each content-addressed and present once.
#[derive(Debug, Clone)]
pub struct PackedApp {
    /// The locked app the last layer holds.
    pub locked: LockedApp,
    /// Every layer, deduplicated by digest; the locked app is the last one.
    pub layers: Vec<Layer>,
}

impl PackedApp {
    /// The locked-app layer's digest: it names every other layer's digest,
    /// so it identifies the whole app (what a signature covers).
    pub fn locked_digest(&self) -> &str {
        &self
            .layers
            .last()
            .expect("a packed app has its locked-app layer")
            .digest
    }

    /// The app's name.
    pub fn name(&self) -> Option<&str> {
        self.locked.metadata_str("name")
    }
}

/// Packs the app of a parsed manifest: every component's Wasm and every file
/// its `files` name become layers; the manifest becomes a locked app.
pub fn pack(manifest: &Manifest) -> anyhow::Result<PackedApp> {
    let mut layers = Layers::default();
    let mut components = Vec::new();
    for (id, component) in &manifest.components {
        components.push(
            lock_component(manifest, id, component, &mut layers)
                .with_context(|| format!("component `{id}`"))?,
        );
    }
    let locked = LockedApp {
        spin_lock_version: 0,
        must_understand: Vec::new(),
        metadata: app_metadata(manifest)?,
        host_requirements: BTreeMap::new(),
        variables: manifest
            .variables
            .iter()
            .map(|(name, v)| {
                (
                    name.as_str().to_owned(),
                    LockedVariable {
                        description: v.description.clone(),
                        default: v.default.clone(),
                        secret: v.secret,
                    },
                )
            })
            .collect(),
        triggers: manifest
            .triggers
            .iter()
            .map(|trigger| {
                let mut config = match trigger.config.deserialize::<Value>()? {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                if let Some(component) = &trigger.component {
                    config.insert("component".into(), component.as_str().into());
                }
                Ok(LockedTrigger {
                    id: trigger.id.clone(),
                    trigger_type: trigger.trigger_type.clone(),
                    trigger_config: Value::Object(config),
                    trigger_dependencies: BTreeMap::new(),
                })
            })
            .collect::<Result<_, nimbus_manifest::ManifestError>>()?,
        components,
    };
    layers.add(LOCKED_APP_MEDIA_TYPE, locked.to_json());
    Ok(PackedApp {
        locked,
        layers: layers.list,
    })
}

#[derive(Default)]
struct Layers {
    list: Vec<Layer>,
    seen: BTreeSet<String>,
}

impl Layers {
    /// Adds a layer unless one with the same bytes is there; returns its
    /// digest.
    fn add(&mut self, media_type: &str, data: Vec<u8>) -> String {
        let digest = sha256_digest(&data);
        if self.seen.insert(digest.clone()) {
            self.list.push(Layer {
                media_type: media_type.to_owned(),
                digest: digest.clone(),
                data: data.into(),
            });
        }
        digest
    }
}

fn app_metadata(manifest: &Manifest) -> anyhow::Result<BTreeMap<String, Value>> {
    let app = &manifest.application;
    let mut metadata = BTreeMap::new();
    metadata.insert("name".into(), app.name.clone().into());
    if let Some(version) = &app.version {
        metadata.insert("version".into(), version.clone().into());
    }
    if let Some(description) = &app.description {
        metadata.insert("description".into(), description.clone().into());
    }
    if !app.authors.is_empty() {
        metadata.insert("authors".into(), json!(app.authors));
    }
    let mut settings = Map::new();
    for (trigger_type, section) in &app.trigger_settings {
        settings.insert(trigger_type.clone(), section.deserialize::<Value>()?);
    }
    // As Spin does: the settings by type, and for an app with one trigger
    // type also `trigger` with its `type` (what older hosts read).
    let types: BTreeSet<&str> = manifest
        .triggers
        .iter()
        .map(|t| t.trigger_type.as_str())
        .collect();
    if types.len() == 1 {
        let only = types.into_iter().next().unwrap_or_default();
        let mut single = match settings.get(only) {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        single.insert("type".into(), only.into());
        metadata.insert("trigger".into(), Value::Object(single));
    }
    metadata.insert("triggers".into(), Value::Object(settings));
    Ok(metadata)
}

fn lock_component(
    manifest: &Manifest,
    id: &ComponentId,
    component: &Component,
    layers: &mut Layers,
) -> anyhow::Result<LockedComponent> {
    let source_path = manifest.resolve(&component.source);
    let wasm = std::fs::read(&source_path)
        .with_context(|| format!("cannot read its source {}", source_path.display()))?;
    if !wasm.starts_with(b"\0asm") {
        bail!(
            "its source {} is not a WebAssembly binary (no \\0asm header); build it first (`nimbus build`)",
            source_path.display()
        );
    }
    let source_digest = layers.add(WASM_MEDIA_TYPE, wasm);

    let mut files = Vec::new();
    for (guest_path, host) in component_files(manifest, component)? {
        let bytes =
            std::fs::read(&host).with_context(|| format!("cannot read {}", host.display()))?;
        let content = if bytes.len() <= INLINE_MAX {
            ContentRef {
                digest: Some(sha256_digest(&bytes)),
                inline: Some(bytes),
                source: None,
            }
        } else {
            ContentRef {
                digest: Some(layers.add(DATA_MEDIA_TYPE, bytes)),
                ..ContentRef::default()
            }
        };
        files.push(ContentPath {
            content,
            path: guest_path,
        });
    }

    let mut metadata = BTreeMap::new();
    if let Some(description) = &component.description {
        metadata.insert("description".into(), description.clone().into());
    }
    let strings = |items: Vec<String>| Value::from(items);
    if !component.allowed_outbound_hosts.is_empty() {
        metadata.insert(
            "allowed_outbound_hosts".into(),
            strings(
                component
                    .allowed_outbound_hosts
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
        );
    }
    if !component.key_value_stores.is_empty() {
        metadata.insert(
            "key_value_stores".into(),
            strings(
                component
                    .key_value_stores
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            ),
        );
    }
    if !component.sqlite_databases.is_empty() {
        metadata.insert(
            "databases".into(),
            strings(
                component
                    .sqlite_databases
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            ),
        );
    }
    if !component.ai_models.is_empty() {
        metadata.insert("ai_models".into(), strings(component.ai_models.clone()));
    }
    let limits = limits_json(&component.limits);
    if !limits.is_empty() {
        // nimbus's own: Spin ignores metadata it does not know.
        metadata.insert("limits".into(), Value::Object(limits));
    }

    Ok(LockedComponent {
        id: id.as_str().to_owned(),
        metadata,
        source: LockedSource {
            content_type: "application/wasm".into(),
            content: ContentRef {
                digest: Some(source_digest),
                ..ContentRef::default()
            },
        },
        env: component
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        files,
        config: component
            .variables
            .iter()
            .map(|(name, template)| (name.as_str().to_owned(), template.to_string()))
            .collect(),
        dependencies: BTreeMap::new(),
        trigger_dependencies: BTreeMap::new(),
        host_requirements: BTreeMap::new(),
    })
}

fn limits_json(limits: &nimbus_manifest::Limits) -> Map<String, Value> {
    let mut map = Map::new();
    if let Some(memory) = limits.memory {
        map.insert("memory".into(), memory.into());
    }
    if let Some(timeout) = limits.timeout {
        map.insert(
            "timeout".into(),
            humantime::format_duration(timeout).to_string().into(),
        );
    }
    if let Some(n) = limits.max_concurrency {
        map.insert("max_concurrency".into(), n.into());
    }
    if let Some(n) = limits.max_body_size {
        map.insert("max_body_size".into(), n.into());
    }
    map
}

/// Every file a component's `files` mount, as (path in the guest relative
/// to `/`, file on the host), sorted by guest path; a later mount of the
/// same guest path wins, as when the files are copied in order.
pub fn component_files(
    manifest: &Manifest,
    component: &Component,
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let excludes = component
        .exclude_files
        .iter()
        .map(|pattern| {
            glob::Pattern::new(pattern)
                .with_context(|| format!("invalid exclude_files pattern {pattern:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let dir = manifest.dir();
    let excluded = |host: &Path| {
        let relative = host.strip_prefix(dir).unwrap_or(host);
        excludes.iter().any(|p| p.matches_path(relative))
    };
    let mut files = BTreeMap::new();
    for mount in &component.files {
        match mount {
            FileMount::Placement {
                source,
                destination,
            } => {
                let host = manifest.resolve(source);
                let guest = destination.trim_start_matches('/');
                walk(&host, guest, &mut files)?;
            }
            FileMount::Pattern(pattern) => {
                let full = dir.join(pattern);
                let matches = glob::glob(&full.to_string_lossy())
                    .with_context(|| format!("invalid files pattern {pattern:?}"))?;
                for entry in matches {
                    let host = entry.with_context(|| format!("files {pattern:?}"))?;
                    let relative = host.strip_prefix(dir).unwrap_or(&host);
                    let guest = portable(relative);
                    walk(&host, &guest, &mut files)?;
                }
            }
        }
    }
    files.retain(|_, host| !excluded(host));
    Ok(files.into_iter().collect())
}

/// Adds `host` (a file, or a directory's files recursively) at `guest`.
fn walk(host: &Path, guest: &str, files: &mut BTreeMap<String, PathBuf>) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(host).with_context(|| format!("cannot read {}", host.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(host)
            .with_context(|| format!("cannot read {}", host.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read {}", host.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let child = if guest.is_empty() {
                name.into_owned()
            } else {
                format!("{guest}/{name}")
            };
            walk(&entry.path(), &child, files)?;
        }
    } else if meta.is_file() {
        if guest.is_empty() {
            bail!(
                "{} is a file mounted at `/`: give it a file name",
                host.display()
            );
        }
        files.insert(guest.to_owned(), host.to_path_buf());
    }
    Ok(())
}

fn portable(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
