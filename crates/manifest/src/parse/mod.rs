//! Reads the TOML document (with spans) into the validated model, collecting
//! every problem found as a [`Diagnostic`].
//!
//! One file per concern: [`walker`] holds the table-reading helpers, and
//! `application`, `components`, `limits` (limits and build) and `triggers`
//! read their parts of the document.

mod application;
mod components;
mod limits;
mod triggers;
mod walker;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use toml::de::{DeTable, DeValue};

use crate::error::{Diagnostic, Location, ManifestError};
use crate::ids::ComponentId;
use crate::manifest::{Manifest, ManifestVersion};

use components::ComponentNames;
use walker::{Tbl, Val};

const TOP_KEYS: &[&str] = &[
    "spin_manifest_version",
    "nimbus_manifest_version",
    "application",
    "variables",
    "trigger",
    "component",
];

struct Parser<'s> {
    src: &'s str,
    /// The manifest path, shared by every [`Section`](crate::Section).
    path: Arc<Path>,
    diags: Vec<Diagnostic>,
    /// Start offsets of keys already reported as unknown fields.
    unknown_keys: HashSet<usize>,
    /// Where each trigger type is named, in order.
    trigger_types: Vec<(String, Location)>,
}

/// Parses and validates `text`, then runs `check` (e.g. the trigger types'
/// schemas) on the result. When the manifest has errors of its own, `check`
/// still runs on what could be read (components with errors left out), and
/// the error lists both, in file order.
pub(crate) fn parse(
    text: &str,
    path: &Path,
    dir: &Path,
    check: impl FnOnce(&Manifest) -> Result<(), ManifestError>,
) -> Result<Manifest, ManifestError> {
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let location = e
                .span()
                .map_or(Location::START, |s| Location::from_offset(text, s.start));
            let message = format!(
                "TOML syntax error: {}; see https://toml.io for the syntax",
                e.message().trim_end()
            );
            return Err(ManifestError::invalid(
                path,
                vec![Diagnostic::new(location, message)],
            ));
        }
    };
    let mut p = Parser {
        src: text,
        path: crate::section::shared_path(path),
        diags: Vec::new(),
        unknown_keys: HashSet::new(),
        trigger_types: Vec::new(),
    };
    let manifest = p.manifest(root.get_ref(), path, dir);
    if let Some(m) = &manifest {
        if let Err(e) = check(m) {
            p.diags.extend(e.into_diagnostics());
        }
    }
    match manifest {
        Some(m) if p.diags.is_empty() => Ok(m),
        _ => {
            if p.diags.is_empty() {
                // Defensive: never fail without saying why.
                p.diags.push(Diagnostic::new(
                    Location::START,
                    "invalid manifest".to_string(),
                ));
            }
            Err(ManifestError::invalid(path, p.diags))
        }
    }
}

impl<'s> Parser<'s> {
    /// The whole document. `None` when the version or `[application]` is
    /// unusable; otherwise the manifest, which may lack parts with errors.
    fn manifest(&mut self, root: &DeTable, path: &Path, dir: &Path) -> Option<Manifest> {
        let top = Tbl {
            table: root,
            name: String::new(),
            span: 0..0,
        };
        let version = self.version(&top);
        if version.is_none()
            && (top.get("spin_manifest_version").is_some()
                || top.get("spin_version").is_some()
                || top.get("nimbus_manifest_version").is_some())
        {
            // An unsupported version: the rest would only add noise.
            return None;
        }
        self.check_keys(&top, TOP_KEYS);
        let application = self.application(&top);
        let variables = self.variables(&top);

        // Named components.
        let mut components = IndexMap::new();
        let mut locations = IndexMap::new();
        let mut declared: HashSet<String> = HashSet::new();
        if let Some(table) = self.opt_table(&top, "component", "[component]".to_string()) {
            for (key, value) in table.table.iter() {
                let raw_id: &str = key.get_ref();
                let id = match ComponentId::new(raw_id) {
                    Ok(id) => {
                        declared.insert(raw_id.to_string());
                        Some(id)
                    }
                    Err(e) => {
                        self.error(&key.span(), e.to_string());
                        None
                    }
                };
                let names = ComponentNames::named(raw_id);
                let DeValue::Table(ct) = value.get_ref() else {
                    let what = names.main.clone();
                    self.type_error(value, &what, "a table");
                    continue;
                };
                let ct = Tbl {
                    table: ct,
                    name: names.main.clone(),
                    span: value.span(),
                };
                let parsed = self.component(&ct, &names, &variables);
                if let (Some(id), Some((component, locs))) = (id, parsed) {
                    locations.insert(id.clone(), locs);
                    components.insert(id, component);
                }
            }
        }

        let raw_triggers = self.triggers(&top, &variables);
        let triggers =
            self.resolve_triggers(raw_triggers, &mut components, &mut locations, &declared);

        Some(Manifest {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            manifest_version: version?,
            application: application?,
            variables,
            triggers,
            components,
            locations,
            trigger_type_locations: std::mem::take(&mut self.trigger_types),
        })
    }

    fn version(&mut self, top: &Tbl) -> Option<ManifestVersion> {
        let spin = top.get("spin_manifest_version");
        let nimbus = top.get("nimbus_manifest_version");
        let value_text = |v: &Val| -> Option<String> {
            match v.get_ref() {
                DeValue::Integer(i) => Some(i.as_str().to_string()),
                DeValue::String(s) => Some(s.to_string()),
                _ => None,
            }
        };
        match (spin, nimbus) {
            (None, None) if top.get("spin_version").is_some() => {
                let (key, _) = top.get("spin_version").expect("checked above");
                self.error(
                    &key.span(),
                    "this is a Spin 1 manifest (`spin_version`), which is not supported; convert it to version 2 (see https://spinframework.dev/v2/manifest-reference)",
                );
                None
            }
            (None, None) => {
                self.error(
                    &(0..0),
                    "missing manifest version; add `spin_manifest_version = 2` (or `nimbus_manifest_version = 1`) as the first line",
                );
                None
            }
            (Some(_), Some((key, _))) => {
                self.error(
                    &key.span(),
                    "both spin_manifest_version and nimbus_manifest_version are set; keep only one",
                );
                None
            }
            (Some((_, v)), None) => match value_text(v).as_deref() {
                Some("2") => Some(ManifestVersion::Spin2),
                Some("1") => {
                    self.error(
                        &v.span(),
                        "spin_manifest_version 1 (the Spin 1 format) is not supported; convert the manifest to version 2 (see https://spinframework.dev/v2/manifest-reference)",
                    );
                    None
                }
                Some(other) => {
                    self.error(
                        &v.span(),
                        format!("unsupported spin_manifest_version {other}; Nimbus reads version 2, write `spin_manifest_version = 2`"),
                    );
                    None
                }
                None => {
                    self.type_error(v, "spin_manifest_version", "the integer 2");
                    None
                }
            },
            (None, Some((_, v))) => match value_text(v).as_deref() {
                Some("1") => Some(ManifestVersion::Nimbus1),
                Some(other) => {
                    self.error(
                        &v.span(),
                        format!("unsupported nimbus_manifest_version {other}; the only version is 1, write `nimbus_manifest_version = 1`"),
                    );
                    None
                }
                None => {
                    self.type_error(v, "nimbus_manifest_version", "the integer 1");
                    None
                }
            },
        }
    }
}
