//! `[[trigger.TYPE]]` tables, kept as data of their type: the manifest reads
//! what every trigger has (`id`, `component`), and each trigger crate reads
//! the rest with its own schema (see [`Section::deserialize`]).

use std::fmt;

use crate::error::{Diagnostic, ManifestError};
use crate::ids::ComponentId;
use crate::manifest::Manifest;
use crate::section::Section;
use crate::suggest::did_you_mean;

/// Keys of a `[[trigger.TYPE]]` table that the manifest reads itself.
pub(crate) const TRIGGER_KEYS: &[&str] = &["id", "component", "components"];

/// One `[[trigger.TYPE]]` table.
#[derive(Clone, PartialEq, Eq)]
pub struct TriggerSection {
    /// `TYPE`, e.g. `"http"`.
    pub trigger_type: String,
    /// `id`, or the id Spin generates: `"<component>-<TYPE>-trigger"` for a
    /// trigger naming a component, else `"<TYPE>-trigger<N>"`.
    pub id: String,
    /// The component to run: the id given (checked to be defined), or the
    /// generated id of an inline `component = { source = ... }` table (see
    /// [`Manifest::components`]). `None` when the table has no `component`.
    pub component: Option<ComponentId>,
    /// The table's other keys, for the trigger type's schema.
    pub config: Section,
    /// `component` is written, but was invalid (already reported).
    pub(crate) component_invalid: bool,
}

impl fmt::Debug for TriggerSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TriggerSection")
            .field("trigger_type", &self.trigger_type)
            .field("id", &self.id)
            .field("component", &self.component)
            .field("config", &self.config)
            .finish()
    }
}

impl TriggerSection {
    /// The component, for trigger types that need one.
    ///
    /// `Err` says `component` is missing (file, line and column of the
    /// table; `example` shows how to add it), unless a key of the table is
    /// a typo of `component` (its "did you mean" says it already). `Ok(None)`
    /// when `component` is written but invalid: parsing reported that.
    pub fn required_component(&self, example: &str) -> Result<Option<&ComponentId>, ManifestError> {
        if let Some(id) = &self.component {
            return Ok(Some(id));
        }
        if self.component_invalid
            || self
                .config
                .keys()
                .any(|k| did_you_mean(k, ["component"]).is_some())
        {
            return Ok(None);
        }
        Err(self.config.error(
            self.config.location(),
            format!(
                "missing required field \"component\" in {}; add e.g. {example}",
                self.config.name()
            ),
        ))
    }
}

impl Manifest {
    /// The `[[trigger.TYPE]]` tables of type `trigger_type`, in file order.
    pub fn trigger_sections<'a>(
        &'a self,
        trigger_type: &'a str,
    ) -> impl Iterator<Item = &'a TriggerSection> + 'a {
        self.triggers
            .iter()
            .filter(move |t| t.trigger_type == trigger_type)
    }

    /// `[application.trigger.TYPE]` of type `trigger_type`, if written.
    pub fn trigger_settings(&self, trigger_type: &str) -> Option<&Section> {
        self.application.trigger_settings.get(trigger_type)
    }

    /// Every trigger type the manifest uses (in `[[trigger.TYPE]]` or
    /// `[application.trigger.TYPE]`), in order of first appearance.
    pub fn trigger_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = Vec::new();
        for (ty, _) in &self.trigger_type_locations {
            if !types.contains(&ty.as_str()) {
                types.push(ty);
            }
        }
        types
    }

    /// Refuses trigger types other than `known` (the types this build
    /// runs): each error points at the type in its `[[trigger.TYPE]]` (or
    /// `[application.trigger.TYPE]`) header, lists the known types and
    /// suggests the closest.
    pub fn check_trigger_types(&self, known: &[&str]) -> Result<(), ManifestError> {
        let supported = match known {
            [] => "this build of Nimbus supports no triggers".to_string(),
            [one] => format!("Nimbus supports only [[trigger.{one}]]"),
            [rest @ .., last] => {
                let rest: Vec<String> = rest.iter().map(|t| format!("[[trigger.{t}]]")).collect();
                format!(
                    "this build of Nimbus supports {} and [[trigger.{last}]]",
                    rest.join(", ")
                )
            }
        };
        let diagnostics: Vec<Diagnostic> = self
            .trigger_type_locations
            .iter()
            .filter(|(ty, _)| !known.contains(&ty.as_str()))
            .map(|(ty, location)| {
                let hint = match did_you_mean(ty, known.iter().copied()) {
                    Some(s) => format!("; did you mean {s:?}?"),
                    None => String::new(),
                };
                Diagnostic::new(
                    *location,
                    format!("trigger type {ty:?} is not supported; {supported}{hint}"),
                )
            })
            .collect();
        if diagnostics.is_empty() {
            Ok(())
        } else {
            Err(ManifestError::from_diagnostics(&self.path, diagnostics))
        }
    }
}
