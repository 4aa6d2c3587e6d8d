//! An app's per-app settings on a node: variable values (secrets included), a
//! runtime config and SQLite migrations, as `nimbus deploy --variable`,
//! `--runtime-config-file` and `--sqlite` give them.
//!
//! They are not part of a release (a signed bundle is the same everywhere;
//! its settings differ per node): the upload carries them in an extra,
//! unsigned archive member ([`SETTINGS_NAME`]), the node keeps them in the
//! app's record (`app.json`, mode 0600) and applies them on every load.
//! Values are never shown: the admin API and `apps info` list variable
//! names only, and `Debug` prints names only.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The upload's archive member holding the settings (JSON).
pub const SETTINGS_NAME: &str = "nimbus-deploy.json";

/// One app's settings.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    /// App variable values by name (`[variables]` of the manifest).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// A runtime config (TOML text, Spin's `runtime-config.toml` shape);
    /// relative paths in it are below the app's data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_config: Option<String>,
    /// SQL run against the `default` database on every load, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sqlite: Vec<String>,
}

impl fmt::Debug for AppSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSettings")
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .field("runtime_config", &self.runtime_config.is_some())
            .field("sqlite", &self.sqlite.len())
            .finish()
    }
}

/// What the admin API tells about an app's settings: never a value.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SettingsInfo {
    /// The names of the variables given values.
    pub variables: Vec<String>,
    /// Whether a runtime config is set.
    pub runtime_config: bool,
    /// How many SQLite migration statements run on load.
    pub sqlite: usize,
}

impl AppSettings {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &AppSettings::default()
    }

    /// Reads the settings member of an upload.
    pub fn from_json(bytes: &[u8]) -> Result<AppSettings, String> {
        serde_json::from_slice(bytes).map_err(|err| format!("{SETTINGS_NAME} is invalid: {err}"))
    }

    /// The settings as the upload carries them.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("settings serialize")
    }

    /// Names and counts, without values.
    pub fn info(&self) -> SettingsInfo {
        SettingsInfo {
            variables: self.variables.keys().cloned().collect(),
            runtime_config: self.runtime_config.is_some(),
            sqlite: self.sqlite.len(),
        }
    }

    /// Whether variable `name` gets a value here: from `variables`, or from
    /// the runtime config's `[variables]` table.
    pub fn sets_variable(&self, name: &str) -> bool {
        self.variables.contains_key(name)
            || self
                .runtime_config
                .as_deref()
                .and_then(|text| text.parse::<toml::Table>().ok())
                .and_then(|table| table.get("variables").cloned())
                .is_some_and(|vars| vars.get(name).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_info_never_show_values() {
        let settings = AppSettings {
            variables: [("api_key".to_owned(), "s3cr3t-value".to_owned())].into(),
            runtime_config: Some("[variables]\nregion = \"eu-s3cr3t\"\n".into()),
            sqlite: vec!["CREATE TABLE t (x)".into()],
        };
        let shown = format!(
            "{settings:?} {}",
            serde_json::to_string(&settings.info()).unwrap()
        );
        assert!(shown.contains("api_key"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(settings.sets_variable("api_key"));
        assert!(settings.sets_variable("region"));
        assert!(!settings.sets_variable("other"));
        let back = AppSettings::from_json(&settings.to_json()).unwrap();
        assert_eq!(back, settings);
        assert!(AppSettings::from_json(b"{\"variable\": {}}").is_err());
    }
}
