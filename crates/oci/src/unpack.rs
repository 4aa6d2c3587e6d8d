//! Unpacking a locked app and its content into an app directory nimbus
//! runs: a generated `spin.toml`, each component's Wasm and its files.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::locked::{ContentRef, LockedApp, LockedComponent};
use crate::sha256_digest;

/// The manifest's name among the unpacked files.
pub const MANIFEST_NAME: &str = "spin.toml";

/// An app as files: paths relative to the app directory (`/`-separated) →
/// bytes. [`MANIFEST_NAME`] is the manifest.
#[derive(Debug, Clone, Default)]
pub struct AppFiles {
    /// Every file, by relative path.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl AppFiles {
    /// The manifest's text.
    pub fn manifest(&self) -> Option<&str> {
        self.files
            .get(MANIFEST_NAME)
            .and_then(|b| std::str::from_utf8(b).ok())
    }

    /// Writes every file below `dir` (created if missing).
    pub fn write_to(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        for (path, bytes) in &self.files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&target, bytes)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
        Ok(())
    }
}

/// Why a locked app cannot be unpacked: the artifact is not one nimbus
/// runs, or it is broken.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The app needs something nimbus does not do.
    #[error("{0}")]
    Unsupported(String),
    /// The artifact contradicts itself or is malformed.
    #[error("{0}")]
    Invalid(String),
}

/// Host features nimbus provides (none of Spin's optional ones yet).
const SUPPORTED_HOST_REQUIREMENTS: &[&str] = &[];

/// Unpacks `locked`, taking content by digest from `content` (every layer
/// and every file of an archive layer). Inline content is checked against
/// its digest when it has one.
pub fn unpack(
    locked: &LockedApp,
    content: &BTreeMap<String, Vec<u8>>,
) -> Result<AppFiles, UnpackError> {
    if locked.spin_lock_version > 1 {
        return Err(UnpackError::Unsupported(format!(
            "the app's spin_lock_version is {}; this nimbus reads versions 0 and 1",
            locked.spin_lock_version
        )));
    }
    for field in &locked.must_understand {
        if !matches!(
            field.as_str(),
            "host_requirements" | "component_host_requirements"
        ) {
            return Err(UnpackError::Unsupported(format!(
                "the app requires the host to understand `{field}`, which this nimbus does not"
            )));
        }
    }
    check_host_requirements(&locked.host_requirements, "the app")?;

    let mut out = AppFiles::default();
    let mut doc = toml::Table::new();
    doc.insert("spin_manifest_version".into(), 2.into());

    let mut application = toml::Table::new();
    let name = locked
        .metadata_str("name")
        .ok_or_else(|| UnpackError::Invalid("the locked app has no metadata.name".into()))?;
    application.insert("name".into(), name.into());
    for key in ["version", "description"] {
        if let Some(value) = locked.metadata_str(key) {
            application.insert(key.into(), value.into());
        }
    }
    if let Some(authors) = locked.metadata.get("authors").and_then(to_toml) {
        application.insert("authors".into(), authors);
    }
    // App-level trigger settings: `triggers` by type; older artifacts have
    // only `trigger` (one type, named by its `type`).
    let mut settings = match locked.metadata.get("triggers") {
        Some(Value::Object(map)) => map.clone(),
        _ => serde_json::Map::new(),
    };
    if settings.is_empty() {
        if let Some(Value::Object(single)) = locked.metadata.get("trigger") {
            let mut single = single.clone();
            if let Some(Value::String(kind)) = single.remove("type") {
                // `base` was Spin 1's route prefix; Spin 2 dropped it.
                single.remove("base");
                settings.insert(kind, Value::Object(single));
            }
        }
    }
    let mut trigger_settings = toml::Table::new();
    for (kind, value) in settings {
        if let Some(toml::Value::Table(table)) = to_toml(&value) {
            if !table.is_empty() {
                trigger_settings.insert(kind, toml::Value::Table(table));
            }
        }
    }
    if !trigger_settings.is_empty() {
        application.insert("trigger".into(), toml::Value::Table(trigger_settings));
    }
    doc.insert("application".into(), toml::Value::Table(application));

    if !locked.variables.is_empty() {
        let mut variables = toml::Table::new();
        for (name, v) in &locked.variables {
            let mut table = toml::Table::new();
            match &v.default {
                Some(default) => table.insert("default".into(), default.clone().into()),
                None => table.insert("required".into(), true.into()),
            };
            if v.secret {
                table.insert("secret".into(), true.into());
            }
            if let Some(description) = &v.description {
                table.insert("description".into(), description.clone().into());
            }
            variables.insert(name.clone(), toml::Value::Table(table));
        }
        doc.insert("variables".into(), toml::Value::Table(variables));
    }

    let mut triggers = toml::Table::new();
    for trigger in &locked.triggers {
        if !trigger.trigger_dependencies.is_empty() {
            return Err(UnpackError::Unsupported(format!(
                "trigger `{}` has trigger dependencies (middleware), which nimbus does not compose",
                trigger.id
            )));
        }
        check_id(&trigger.trigger_type, "trigger type")?;
        let Some(toml::Value::Table(mut table)) = to_toml(&trigger.trigger_config) else {
            return Err(UnpackError::Invalid(format!(
                "trigger `{}`: trigger_config is not an object",
                trigger.id
            )));
        };
        if table.contains_key("components") {
            return Err(UnpackError::Unsupported(format!(
                "trigger `{}` names `components` (middleware), which nimbus does not compose",
                trigger.id
            )));
        }
        table.insert("id".into(), trigger.id.clone().into());
        let list = triggers
            .entry(trigger.trigger_type.clone())
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        if let toml::Value::Array(list) = list {
            list.push(toml::Value::Table(table));
        }
    }
    doc.insert("trigger".into(), toml::Value::Table(triggers));

    let mut components = toml::Table::new();
    for component in &locked.components {
        let table = unpack_component(component, content, &mut out)?;
        components.insert(component.id.clone(), toml::Value::Table(table));
    }
    doc.insert("component".into(), toml::Value::Table(components));

    let text = toml::to_string_pretty(&doc)
        .map_err(|err| UnpackError::Invalid(format!("cannot write the manifest: {err}")))?;
    let header = "# Generated by nimbus from an OCI artifact in Spin's format.\n";
    out.files
        .insert(MANIFEST_NAME.into(), format!("{header}{text}").into_bytes());
    Ok(out)
}

fn unpack_component(
    component: &LockedComponent,
    content: &BTreeMap<String, Vec<u8>>,
    out: &mut AppFiles,
) -> Result<toml::Table, UnpackError> {
    let id = &component.id;
    check_id(id, "component id")?;
    if !component.dependencies.is_empty() || !component.trigger_dependencies.is_empty() {
        return Err(UnpackError::Unsupported(format!(
            "component `{id}` has dependencies (components composed at load), which nimbus does \
             not compose yet; push the app with its components composed (`spin registry push` \
             composes them unless told not to)"
        )));
    }
    check_host_requirements(&component.host_requirements, &format!("component `{id}`"))?;

    let mut table = toml::Table::new();
    let wasm = resolve(&component.source.content, content)
        .map_err(|why| UnpackError::Invalid(format!("component `{id}`: its Wasm {why}")))?;
    let source = format!("components/{id}.wasm");
    out.files.insert(source.clone(), wasm.to_vec());
    table.insert("source".into(), source.into());

    if let Some(description) = component
        .metadata
        .get("description")
        .and_then(Value::as_str)
    {
        table.insert("description".into(), description.into());
    }
    for (from, to) in [
        ("allowed_outbound_hosts", "allowed_outbound_hosts"),
        ("key_value_stores", "key_value_stores"),
        ("databases", "sqlite_databases"),
        ("ai_models", "ai_models"),
        ("limits", "limits"),
    ] {
        if let Some(value) = component.metadata.get(from).and_then(to_toml) {
            table.insert(to.into(), value);
        }
    }
    if !component.env.is_empty() {
        let env: toml::Table = component
            .env
            .iter()
            .map(|(k, v)| (k.clone(), toml::Value::from(v.clone())))
            .collect();
        table.insert("environment".into(), toml::Value::Table(env));
    }
    if !component.config.is_empty() {
        let vars: toml::Table = component
            .config
            .iter()
            .map(|(k, v)| (k.clone(), toml::Value::from(v.clone())))
            .collect();
        table.insert("variables".into(), toml::Value::Table(vars));
    }
    if !component.files.is_empty() {
        let root = format!("files/{id}");
        for file in &component.files {
            let guest = guest_path(&file.path).ok_or_else(|| {
                UnpackError::Invalid(format!(
                    "component `{id}`: file path {:?} is not a relative path inside the component's filesystem",
                    file.path
                ))
            })?;
            let bytes = resolve(&file.content, content).map_err(|why| {
                UnpackError::Invalid(format!("component `{id}`: file {guest} {why}"))
            })?;
            out.files.insert(format!("{root}/{guest}"), bytes.to_vec());
        }
        let mut mount = toml::Table::new();
        mount.insert("source".into(), root.into());
        mount.insert("destination".into(), "/".into());
        table.insert(
            "files".into(),
            toml::Value::Array(vec![toml::Value::Table(mount)]),
        );
    }
    Ok(table)
}

fn check_host_requirements(
    requirements: &BTreeMap<String, Value>,
    whose: &str,
) -> Result<(), UnpackError> {
    for (name, value) in requirements {
        if value.as_str() == Some("optional")
            || SUPPORTED_HOST_REQUIREMENTS.contains(&name.as_str())
        {
            continue;
        }
        let what = if name == "local_service_chaining" {
            " (calls to other components of the app through *.spin.internal)"
        } else {
            ""
        };
        return Err(UnpackError::Unsupported(format!(
            "{whose} requires the host feature `{name}`{what}, which nimbus does not provide yet"
        )));
    }
    Ok(())
}

/// Kebab-case ids only: they become file names.
fn check_id(id: &str, what: &str) -> Result<(), UnpackError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !id.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(UnpackError::Invalid(format!(
            "{what} {id:?} is not a valid id (lowercase letters, digits, `-`)"
        )))
    }
}

/// A guest path relative to `/`, `/`-separated, with no `.`/`..` parts.
fn guest_path(path: &str) -> Option<String> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty()
        || parts
            .iter()
            .any(|p| *p == ".." || p.contains('\\') || p.contains('\0'))
    {
        return None;
    }
    Some(parts.join("/"))
}

/// The bytes of a content reference: inline (checked against its digest if
/// it has one), or the layer with its digest.
fn resolve<'a>(
    reference: &'a ContentRef,
    content: &'a BTreeMap<String, Vec<u8>>,
) -> Result<&'a [u8], String> {
    if let Some(inline) = &reference.inline {
        if let Some(digest) = &reference.digest {
            if &sha256_digest(inline) != digest {
                return Err(format!("is inline but does not match its digest {digest}"));
            }
        }
        return Ok(inline);
    }
    let digest = reference
        .digest
        .as_ref()
        .ok_or("has neither a digest nor inline content")?;
    content
        .get(digest)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("({digest}) is not among the artifact's layers"))
}

/// JSON → TOML; `null`s are dropped (TOML has none).
fn to_toml(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => toml::Value::Array(items.iter().filter_map(to_toml).collect()),
        Value::Object(map) => toml::Value::Table(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), to_toml(v)?)))
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locked::{ContentPath, LockedSource, LockedTrigger};

    fn app(path: &str) -> (LockedApp, BTreeMap<String, Vec<u8>>) {
        let wasm = b"\0asm\x01\0\0\0".to_vec();
        let data = b"hello".to_vec();
        let mut content = BTreeMap::new();
        content.insert(sha256_digest(&wasm), wasm.clone());
        content.insert(sha256_digest(&data), data.clone());
        let mut metadata = BTreeMap::new();
        metadata.insert("name".into(), "demo".into());
        let locked = LockedApp {
            metadata,
            triggers: vec![LockedTrigger {
                id: "t".into(),
                trigger_type: "http".into(),
                trigger_config: serde_json::json!({"component": "c", "route": "/..."}),
                trigger_dependencies: BTreeMap::new(),
            }],
            components: vec![LockedComponent {
                id: "c".into(),
                metadata: BTreeMap::new(),
                source: LockedSource {
                    content_type: "application/wasm".into(),
                    content: ContentRef {
                        digest: Some(sha256_digest(&wasm)),
                        ..ContentRef::default()
                    },
                },
                env: BTreeMap::new(),
                files: vec![ContentPath {
                    content: ContentRef {
                        digest: Some(sha256_digest(&data)),
                        ..ContentRef::default()
                    },
                    path: path.into(),
                }],
                config: BTreeMap::new(),
                dependencies: BTreeMap::new(),
                trigger_dependencies: BTreeMap::new(),
                host_requirements: BTreeMap::new(),
            }],
            ..LockedApp::default()
        };
        (locked, content)
    }

    #[test]
    fn files_land_below_the_component_root() {
        let (locked, content) = app("/a/./b.txt");
        let files = unpack(&locked, &content).unwrap();
        assert_eq!(files.files["files/c/a/b.txt"], b"hello");
        assert!(files.manifest().unwrap().contains("[[trigger.http]]"));
    }

    #[test]
    fn paths_that_leave_the_component_are_refused() {
        for path in ["../../etc/passwd", "a/../../b", "/", ""] {
            let (locked, content) = app(path);
            let err = unpack(&locked, &content).unwrap_err().to_string();
            assert!(err.contains("not a relative path"), "{path}: {err}");
        }
    }

    #[test]
    fn ids_that_are_not_file_names_are_refused() {
        let (mut locked, content) = app("x");
        locked.components[0].id = "../evil".into();
        let err = unpack(&locked, &content).unwrap_err().to_string();
        assert!(err.contains("not a valid id"), "{err}");
    }

    #[test]
    fn missing_content_and_unsupported_features_are_named() {
        let (locked, mut content) = app("x");
        content.clear();
        let err = unpack(&locked, &content).unwrap_err().to_string();
        assert!(err.contains("is not among the artifact's layers"), "{err}");

        let (mut locked, content) = app("x");
        locked.components[0]
            .host_requirements
            .insert("local_service_chaining".into(), "required".into());
        let err = unpack(&locked, &content).unwrap_err().to_string();
        assert!(err.contains("local_service_chaining"), "{err}");

        let (mut locked, content) = app("x");
        locked.components[0]
            .dependencies
            .insert("a:b/c".into(), serde_json::json!({}));
        let err = unpack(&locked, &content).unwrap_err().to_string();
        assert!(err.contains("dependencies"), "{err}");
    }

    #[test]
    fn inline_content_must_match_its_digest() {
        let (mut locked, content) = app("x");
        locked.components[0].files[0].content.inline = Some(b"other".to_vec());
        let err = unpack(&locked, &content).unwrap_err().to_string();
        assert!(err.contains("does not match its digest"), "{err}");
    }
}
