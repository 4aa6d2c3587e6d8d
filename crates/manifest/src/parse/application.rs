//! `[application]` and `[variables]`.

use indexmap::IndexMap;
use toml::de::DeValue;
use toml::Spanned;

use super::walker::{non_empty, toml_key, Tbl};
use super::Parser;
use crate::ids::VariableName;
use crate::manifest::{Application, Variable};
use crate::section::{self, Section};

const APPLICATION_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "authors",
    "trigger",
    "tool",
    "targets",
];
const VARIABLE_KEYS: &[&str] = &["default", "required", "secret", "description"];

impl<'s> Parser<'s> {
    pub(super) fn application(&mut self, top: &Tbl) -> Option<Application> {
        if top.get("application").is_none() {
            if self.has_typo_of(top, "application") {
                return None;
            }
            self.error(
                &(0..0),
                "missing [application] table; add one with at least `name = \"my-app\"`",
            );
            return None;
        }
        let t = self.opt_table(top, "application", "[application]".to_string())?;
        self.check_keys(&t, APPLICATION_KEYS);
        let name = self.req_string(&t, "name", "name = \"my-app\"");
        if let Some(n) = &name {
            if n.get_ref().trim().is_empty() {
                self.error(&n.span(), "the application name must not be empty");
            }
        }
        let version = non_empty(self.opt_string(&t, "version"));
        let description = non_empty(self.opt_string(&t, "description"));
        let authors = self
            .opt_string_list(&t, "authors")
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        // Spin ignores `tool` (settings for other tools) and `targets`
        // (deployment environments); so do we, after checking their shape.
        self.opt_table(&t, "tool", "[application.tool]".to_string());
        self.opt_array(&t, "targets");

        // `[application.trigger.TYPE]`: each type's app-wide settings, kept
        // as data for its trigger crate.
        let mut trigger_settings = IndexMap::new();
        if let Some(triggers) = self.opt_table(&t, "trigger", "[application.trigger]".to_string()) {
            for (key, value) in triggers.table.iter() {
                let kind: &str = key.get_ref();
                self.trigger_types
                    .push((kind.to_string(), self.loc(key.span().start)));
                let name = format!("[application.trigger.{}]", toml_key(kind));
                let DeValue::Table(st) = value.get_ref() else {
                    self.type_error(value, &name, "a table");
                    continue;
                };
                let table = section::table(self.src, st, &[]);
                let location = self.loc(value.span().start);
                trigger_settings.insert(
                    kind.to_string(),
                    Section::new(self.path.clone(), name, location, table, &[]),
                );
            }
        }

        Some(Application {
            name: name?.into_inner(),
            version,
            description,
            authors,
            trigger_settings,
        })
    }

    pub(super) fn variables(&mut self, top: &Tbl) -> IndexMap<VariableName, Variable> {
        let mut out = IndexMap::new();
        let Some(t) = self.opt_table(top, "variables", "[variables]".to_string()) else {
            return out;
        };
        for (key, value) in t.table.iter() {
            let raw: &str = key.get_ref();
            let name = match VariableName::new(raw) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.error(&key.span(), e.to_string());
                    None
                }
            };
            let section = format!("[variables.{}]", toml_key(raw));
            let DeValue::Table(vt) = value.get_ref() else {
                self.type_error(
                    value,
                    &format!("variable {raw:?}"),
                    "a table such as { default = \"value\" } or { required = true }",
                );
                continue;
            };
            let vt = Tbl {
                table: vt,
                name: section,
                span: value.span(),
            };
            self.check_keys(&vt, VARIABLE_KEYS);
            let default = self.opt_string(&vt, "default");
            let required = self.opt_bool(&vt, "required").unwrap_or(false);
            let secret = self.opt_bool(&vt, "secret").unwrap_or(false);
            let description = self.opt_string(&vt, "description").map(Spanned::into_inner);
            match (&default, required) {
                (Some(d), true) => self.error(
                    &d.span(),
                    format!("variable {raw:?} has both a default and `required = true`; remove one (a required variable must be given a value at runtime)"),
                ),
                (None, false) => self.error(
                    &value.span(),
                    format!("variable {raw:?} needs either `default = \"...\"` or `required = true`"),
                ),
                _ => {}
            }
            if let Some(name) = name {
                out.insert(
                    name,
                    Variable {
                        default: default.map(Spanned::into_inner),
                        required,
                        secret,
                        description,
                    },
                );
            }
        }
        out
    }
}
