//! The resolved, validated manifest model.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;

use crate::error::{Diagnostic, Location, ManifestError};
use crate::host::AllowedHostEntry;
use crate::ids::{ComponentId, StoreLabel, VariableName};
use crate::section::Section;
use crate::template::Template;
use crate::trigger::TriggerSection;

/// Which manifest format the file declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestVersion {
    /// `spin_manifest_version = 2`: a Spin 2/3 manifest (`spin.toml`).
    Spin2,
    /// `nimbus_manifest_version = 1`: the same schema, declared as Nimbus's.
    Nimbus1,
}

/// The `[application]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// `name`, required.
    pub name: String,
    /// `version`, e.g. `"0.1.0"`.
    pub version: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `authors`.
    pub authors: Vec<String>,
    /// `[application.trigger.TYPE]` tables: app-wide settings of a trigger
    /// type (e.g. the HTTP trigger's `base`), read by that type's crate.
    pub trigger_settings: IndexMap<String, Section>,
}

/// An application variable, `[variables] NAME = { ... }`.
///
/// Exactly one of `default` and `required = true` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The value used when none is supplied at runtime.
    pub default: Option<String>,
    /// A value must be supplied at runtime.
    pub required: bool,
    /// The value is sensitive (do not log it).
    pub secret: bool,
    /// `description`, for people.
    pub description: Option<String>,
}

/// One `files` entry of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMount {
    /// `"assets/*"`: files matching a glob pattern (relative to the manifest
    /// directory) are mapped to the same relative path under the guest's `/`.
    Pattern(String),
    /// `{ source = "static", destination = "/static" }`: a host file or
    /// directory (relative to the manifest directory) mapped to an absolute
    /// guest path.
    Placement {
        /// Host path, relative to the manifest directory.
        source: PathBuf,
        /// Absolute guest path.
        destination: String,
    },
}

/// `[component.NAME.build]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// The shell commands to run, in order (`command` may be a string or an
    /// array of strings).
    pub command: Vec<String>,
    /// Where to run them, relative to the manifest directory (default: the
    /// manifest directory).
    pub workdir: Option<PathBuf>,
    /// Glob patterns (relative to the build directory) that trigger a rebuild
    /// in watch mode.
    pub watch: Vec<String>,
}

/// `[component.NAME.limits]`, a Nimbus extension. `None` means the runtime's
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// `memory`: the most linear memory an instance may use, in bytes.
    pub memory: Option<u64>,
    /// `timeout`: the longest a request may run.
    pub timeout: Option<Duration>,
    /// `max_concurrency`: the most requests handled at once (at least 1).
    pub max_concurrency: Option<u32>,
    /// `max_body_size`: the largest request body accepted, in bytes.
    pub max_body_size: Option<u64>,
}

/// A component, `[component.NAME]` or an inline `component = { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// `source`: the Wasm file, relative to the manifest directory (use
    /// [`Manifest::resolve`] for a usable path).
    pub source: PathBuf,
    /// `description`.
    pub description: Option<String>,
    /// `files`.
    pub files: Vec<FileMount>,
    /// `exclude_files`: glob patterns removed from `files`.
    pub exclude_files: Vec<String>,
    /// `environment`: environment variables for the guest.
    pub environment: IndexMap<String, String>,
    /// `allowed_outbound_hosts`, as written: literal entries parsed,
    /// templates (`"redis://{{ host }}:6379"`) to be resolved from the app's
    /// variables when the app is loaded. Grants are checked against the
    /// resolved list (`nimbus_outbound_networking::resolve_allowed_hosts`),
    /// never this one.
    pub allowed_outbound_hosts: Vec<AllowedHostEntry>,
    /// `key_value_stores`.
    pub key_value_stores: Vec<StoreLabel>,
    /// `sqlite_databases`.
    pub sqlite_databases: Vec<StoreLabel>,
    /// `variables`: component variables; every reference is to a declared
    /// application variable.
    pub variables: IndexMap<VariableName, Template>,
    /// `ai_models`: kept for Spin compatibility, unused by Nimbus.
    pub ai_models: Vec<String>,
    /// `[component.NAME.build]`.
    pub build: Option<Build>,
    /// `[component.NAME.limits]`.
    pub limits: Limits,
}

/// Where things were written, for [`Manifest::check_sources`] messages.
#[derive(Debug, Clone, Default)]
pub(crate) struct ComponentLocations {
    pub(crate) source: Location,
    /// One per `files` entry, in order.
    pub(crate) files: Vec<Location>,
}

/// A resolved and validated app manifest.
///
/// Inline components appear in [`components`](Manifest::components) under
/// the id Spin generates for them, after the named components.
#[derive(Clone)]
pub struct Manifest {
    pub(crate) path: PathBuf,
    pub(crate) dir: PathBuf,
    /// Which format the file declares.
    pub manifest_version: ManifestVersion,
    /// `[application]`.
    pub application: Application,
    /// `[variables]`, in file order.
    pub variables: IndexMap<VariableName, Variable>,
    /// Every `[[trigger.TYPE]]` table, grouped by type (types in order of
    /// first appearance, as Spin does), each type's in file order. A trigger
    /// crate reads its own with [`Manifest::trigger_sections`].
    pub triggers: Vec<TriggerSection>,
    /// Every component by id, in file order (inline components last).
    pub components: IndexMap<ComponentId, Component>,
    pub(crate) locations: IndexMap<ComponentId, ComponentLocations>,
    /// Where each trigger type is named (`[[trigger.X]]`,
    /// `[application.trigger.X]`), for [`Manifest::check_trigger_types`].
    pub(crate) trigger_type_locations: Vec<(String, Location)>,
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest")
            .field("path", &self.path)
            .field("dir", &self.dir)
            .field("manifest_version", &self.manifest_version)
            .field("application", &self.application)
            .field("variables", &self.variables)
            .field("triggers", &self.triggers)
            .field("components", &self.components)
            .finish()
    }
}

impl Manifest {
    /// Reads, parses and validates the manifest at `path`.
    ///
    /// Relative paths in the manifest are relative to `path`'s directory.
    /// Component sources need not exist yet; see [`Manifest::check_sources`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Manifest, ManifestError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ManifestError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Manifest::from_str(&text, path, manifest_dir(path))
    }

    /// Parses and validates manifest `text`.
    ///
    /// `path` is only used in messages (and returned by [`Manifest::path`]);
    /// `base_dir` is the directory relative paths in the manifest are
    /// resolved against (returned by [`Manifest::dir`]).
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(
        text: &str,
        path: impl AsRef<Path>,
        base_dir: impl AsRef<Path>,
    ) -> Result<Manifest, ManifestError> {
        crate::parse::parse(text, path.as_ref(), base_dir.as_ref(), |_| Ok(()))
    }

    /// As [`Manifest::from_file`], then runs `check` on the manifest: e.g.
    /// [`Manifest::check_trigger_types`] and each trigger type's schema
    /// (combine several with [`ManifestError::combine`]).
    ///
    /// One error lists every problem: when the manifest has errors of its
    /// own, `check` still runs on what could be read (components with
    /// errors are left out; nothing runs when the version or
    /// `[application]` is unusable), and its problems are listed with them,
    /// in file order.
    pub fn from_file_with(
        path: impl AsRef<Path>,
        check: impl FnOnce(&Manifest) -> Result<(), ManifestError>,
    ) -> Result<Manifest, ManifestError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ManifestError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        crate::parse::parse(&text, path, &manifest_dir(path), check)
    }

    /// As [`Manifest::from_str`], with a `check` as in
    /// [`Manifest::from_file_with`].
    pub fn from_str_with(
        text: &str,
        path: impl AsRef<Path>,
        base_dir: impl AsRef<Path>,
        check: impl FnOnce(&Manifest) -> Result<(), ManifestError>,
    ) -> Result<Manifest, ManifestError> {
        crate::parse::parse(text, path.as_ref(), base_dir.as_ref(), check)
    }

    /// The manifest's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The manifest's directory: relative paths in the manifest are relative
    /// to it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The application name.
    pub fn name(&self) -> &str {
        &self.application.name
    }

    /// The application version, if given.
    pub fn version(&self) -> Option<&str> {
        self.application.version.as_deref()
    }

    /// Looks a component up by id.
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.get(id)
    }

    /// Resolves a path from the manifest (e.g. [`Component::source`]) against
    /// the manifest directory.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        self.dir.join(path)
    }

    /// Checks that every component's `source` file exists, and every `files`
    /// source (placements and glob-free patterns; glob patterns may match
    /// nothing).
    ///
    /// This is separate from parsing because `nimbus build` reads the manifest
    /// before the sources exist. Errors point at the `source`/`files` values.
    pub fn check_sources(&self) -> Result<(), ManifestError> {
        let mut diags = Vec::new();
        for (id, component) in &self.components {
            let locs = self.locations.get(id).cloned().unwrap_or_default();
            let source = self.resolve(&component.source);
            let shown = component.source.display();
            if !source.exists() {
                let hint = if component.build.is_some() {
                    "run `nimbus build` first?"
                } else {
                    "check the path (it is relative to the manifest's directory), or build the component"
                };
                diags.push(Diagnostic::new(
                    locs.source,
                    format!("component `{id}`: source {shown} does not exist; {hint}"),
                ));
            } else if source.is_dir() {
                diags.push(Diagnostic::new(
                    locs.source,
                    format!("component `{id}`: source {shown} is a directory; point `source` at the component's .wasm file"),
                ));
            }
            for (i, mount) in component.files.iter().enumerate() {
                let loc = locs.files.get(i).copied().unwrap_or(locs.source);
                let missing = match mount {
                    FileMount::Placement { source, .. } => Some(source.display().to_string()),
                    FileMount::Pattern(p) if !p.contains(['*', '?', '[', '{']) => Some(p.clone()),
                    FileMount::Pattern(_) => None,
                };
                if let Some(rel) = missing {
                    if !self.resolve(&rel).exists() {
                        diags.push(Diagnostic::new(
                            loc,
                            format!(
                                "component `{id}`: files source {rel} does not exist; create it or fix the path (it is relative to the manifest's directory)"
                            ),
                        ));
                    }
                }
            }
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(ManifestError::invalid(&self.path, diags))
        }
    }
}

/// The directory relative paths in the manifest at `path` are relative to.
fn manifest_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Returns the default manifest in `dir`: `nimbus.toml` if it exists, else
/// `spin.toml` if it exists, else `None`.
pub fn find_default(dir: &Path) -> Option<PathBuf> {
    ["nimbus.toml", "spin.toml"]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}
