//! Spin's locked app (`spin.lock`, `LockedApp`): the JSON document an OCI
//! artifact in Spin's format carries as its `application/vnd.fermyon.spin.application.v1+config`
//! layer. Only the fields nimbus reads or writes are typed; unknown fields
//! are ignored on read, as Spin does.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A fully resolved app: every component's Wasm and files referenced by
/// content digest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LockedApp {
    /// 0 or 1; 1 when `must_understand` or `host_requirements` is present.
    pub spin_lock_version: u32,
    /// Fields a host must process if present (values such as
    /// `host_requirements`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_understand: Vec<String>,
    /// `name`, `version`, `description`, `authors`, `triggers` (app-level
    /// trigger settings by type) and, for one-trigger-type apps, `trigger`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Value>,
    /// Features the host must support (e.g. `local_service_chaining`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host_requirements: BTreeMap<String, Value>,
    /// App variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, LockedVariable>,
    /// Every trigger.
    pub triggers: Vec<LockedTrigger>,
    /// Every component.
    pub components: Vec<LockedComponent>,
}

/// An app variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedVariable {
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its default; without one the variable is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Whether its value is a secret (never shown).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// A trigger: its type and its type's settings (`component`, `route`, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockedTrigger {
    /// Unique in the app.
    pub id: String,
    /// `http`, `redis`, `cron`, …
    pub trigger_type: String,
    /// The `[[trigger.TYPE]]` table, with `component` naming a component.
    pub trigger_config: Value,
    /// Middleware and the like (Spin's trigger dependencies).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trigger_dependencies: BTreeMap<String, Value>,
}

/// A component.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockedComponent {
    /// Its id (kebab-case).
    pub id: String,
    /// `description`, `allowed_outbound_hosts`, `key_value_stores`,
    /// `databases`, `ai_models`; nimbus adds `limits`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Value>,
    /// Its Wasm.
    pub source: LockedSource,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Files mounted (read-only) into its filesystem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ContentPath>,
    /// Component variables (templates over the app variables).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Components composed into this one at load (Spin's `dependencies`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, Value>,
    /// Trigger-specific dependencies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trigger_dependencies: BTreeMap<String, Value>,
    /// Features the host must support.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host_requirements: BTreeMap<String, Value>,
}

/// A component's Wasm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockedSource {
    /// `application/wasm`.
    pub content_type: String,
    /// Where the bytes are.
    #[serde(flatten)]
    pub content: ContentRef,
}

/// A file at a path in a component's filesystem.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContentPath {
    /// The file's bytes.
    #[serde(flatten)]
    pub content: ContentRef,
    /// Where the guest sees it, relative to its `/` (`/`-separated).
    pub path: String,
}

/// Content by digest, inline, or by URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRef {
    /// A URL (`file://` on a developer's machine); not used in artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The bytes themselves, base64 (small files).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "inline_base64"
    )]
    pub inline: Option<Vec<u8>>,
    /// `sha256:HEX` of the bytes: a layer of the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

mod inline_base64 {
    use super::BASE64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => s.serialize_str(&BASE64.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| BASE64.decode(t.trim()).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl LockedApp {
    /// Parses a locked app, with the JSON error's line and column.
    pub fn from_json(bytes: &[u8]) -> Result<LockedApp, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The JSON bytes (compact, fields in a fixed order: the same app gives
    /// the same bytes, hence the same digest).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a locked app serializes")
    }

    /// A metadata string.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }
}

/// Encodes bytes the way [`ContentRef::inline`] holds them (for tests and
/// tools building artifacts by hand).
pub fn encode_inline(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}
