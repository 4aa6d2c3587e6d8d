//! `[[trigger.TYPE]]` tables: what every trigger has (`id`, `component`) is
//! read and resolved here, the way Spin does; the rest of each table is kept
//! as a [`Section`] for the trigger type's own schema.

use std::collections::HashSet;
use std::ops::Range;

use indexmap::IndexMap;
use toml::de::DeValue;

use super::components::ComponentNames;
use super::walker::{toml_key, Tbl};
use super::Parser;
use crate::error::Diagnostic;
use crate::ids::{ComponentId, VariableName};
use crate::manifest::{Component, ComponentLocations, Variable};
use crate::section::{self, Section};
use crate::suggest::did_you_mean;
use crate::trigger::{TriggerSection, TRIGGER_KEYS};

enum ComponentRef {
    Id(ComponentId, Range<usize>),
    Inline(Box<(Component, ComponentLocations)>),
    /// Written, but invalid (reported).
    Invalid,
}

pub(super) struct RawTrigger {
    trigger_type: String,
    id: Option<(String, Range<usize>)>,
    component: Option<ComponentRef>,
    config: Section,
}

impl<'s> Parser<'s> {
    pub(super) fn triggers(
        &mut self,
        top: &Tbl,
        app_vars: &IndexMap<VariableName, Variable>,
    ) -> Vec<RawTrigger> {
        let mut out = Vec::new();
        let example = "[[trigger.http]] with route = \"/...\" and component = \"my-component\"";
        if top.get("trigger").is_none() {
            if self.has_typo_of(top, "trigger") {
                return out;
            }
            self.error(&(0..0), format!("no triggers; add a {example}"));
            return out;
        }
        let Some(t) = self.opt_table(top, "trigger", "[trigger]".to_string()) else {
            return out;
        };
        if t.table.is_empty() {
            self.error(&t.span, format!("no triggers; add a {example}"));
        }
        for (key, value) in t.table.iter() {
            let kind: &str = key.get_ref();
            self.trigger_types
                .push((kind.to_string(), self.loc(key.span().start)));
            let header = format!("[[trigger.{}]]", toml_key(kind));
            let DeValue::Array(items) = value.get_ref() else {
                self.error(
                    &value.span(),
                    format!("triggers must be an array of tables: write {header} (double brackets), not [trigger.{}]", toml_key(kind)),
                );
                continue;
            };
            if items.is_empty() {
                self.error(&value.span(), format!("no triggers; add a {example}"));
            }
            for item in items.iter() {
                let DeValue::Table(tt) = item.get_ref() else {
                    self.type_error(item, &format!("each {header} entry"), "a table");
                    continue;
                };
                let tt = Tbl {
                    table: tt,
                    name: header.clone(),
                    span: item.span(),
                };
                out.push(self.trigger(kind, &tt, app_vars));
            }
        }
        out
    }

    fn trigger(
        &mut self,
        kind: &str,
        t: &Tbl,
        app_vars: &IndexMap<VariableName, Variable>,
    ) -> RawTrigger {
        let id = self.opt_string(t, "id").and_then(|id| {
            if id.get_ref().is_empty() {
                self.error(
                    &id.span(),
                    "empty trigger id; remove `id` or give it a value",
                );
                None
            } else {
                let span = id.span();
                Some((id.into_inner(), span))
            }
        });

        let component = t.get("component").map(|(_, v)| match v.get_ref() {
            DeValue::String(s) => match ComponentId::new(s.as_ref()) {
                Ok(id) => ComponentRef::Id(id, v.span()),
                Err(e) => {
                    self.error(&v.span(), e.to_string());
                    ComponentRef::Invalid
                }
            },
            DeValue::Table(ct) => {
                let names = ComponentNames::inline();
                let ct = Tbl {
                    table: ct,
                    name: names.main.clone(),
                    span: v.span(),
                };
                match self.component(&ct, &names, app_vars) {
                    Some(c) => ComponentRef::Inline(Box::new(c)),
                    None => ComponentRef::Invalid,
                }
            }
            _ => {
                self.type_error(
                    v,
                    &t.field("component"),
                    "a component id or an inline component table",
                );
                ComponentRef::Invalid
            }
        });

        if let Some((key, _)) = t.get("components") {
            self.error(
                &key.span(),
                "`components` in a trigger is reserved by Spin and not supported; use `component`",
            );
        }

        let config = Section::new(
            self.path.clone(),
            t.name.clone(),
            self.loc(t.span.start),
            section::table(self.src, t.table, TRIGGER_KEYS),
            &["id", "component"],
        );
        RawTrigger {
            trigger_type: kind.to_string(),
            id,
            component,
            config,
        }
    }

    /// Assigns trigger ids and inline component ids the way Spin does, checks
    /// component references and duplicate ids.
    pub(super) fn resolve_triggers(
        &mut self,
        raw: Vec<RawTrigger>,
        components: &mut IndexMap<ComponentId, Component>,
        locations: &mut IndexMap<ComponentId, ComponentLocations>,
        declared: &HashSet<String>,
    ) -> Vec<TriggerSection> {
        // Explicit ids must be unique, across trigger types.
        let mut seen_ids: IndexMap<String, Range<usize>> = IndexMap::new();
        for t in &raw {
            if let Some((id, span)) = &t.id {
                if let Some(first) = seen_ids.get(id) {
                    let first = self.loc(first.start);
                    let d = Diagnostic::new(
                        self.loc(span.start),
                        format!("duplicate trigger id {id:?}; give each trigger a different id"),
                    )
                    .with_note(first, format!("trigger id {id:?} first used here"));
                    self.diags.push(d);
                } else {
                    seen_ids.insert(id.clone(), span.clone());
                }
            }
        }

        // Spin's `normalize_trigger_ids`: "<component>-<type>-trigger" for a
        // trigger that names a component, else "<type>-trigger<N>", counting
        // per type and avoiding every id already taken.
        let mut taken: HashSet<String> = seen_ids.keys().cloned().collect();
        let mut counters: IndexMap<&str, usize> = IndexMap::new();
        let mut ids = Vec::with_capacity(raw.len());
        for t in &raw {
            if let Some((id, _)) = &t.id {
                ids.push(id.clone());
                continue;
            }
            let kind = t.trigger_type.as_str();
            if let Some(ComponentRef::Id(c, _)) = &t.component {
                let candidate = format!("{c}-{kind}-trigger");
                if taken.insert(candidate.clone()) {
                    ids.push(candidate);
                    continue;
                }
            }
            let counter = counters.entry(kind).or_insert(1);
            let id = loop {
                let id = format!("{kind}-trigger{counter}");
                if taken.insert(id.clone()) {
                    break id;
                }
                *counter += 1;
            };
            ids.push(id);
        }

        let mut triggers = Vec::new();
        for (t, trigger_id) in raw.into_iter().zip(ids) {
            let mut component_invalid = false;
            let component = match t.component {
                Some(ComponentRef::Id(id, span)) => {
                    if !declared.contains(id.as_str()) {
                        self.undefined_component(&id, &span, declared);
                    }
                    Some(id)
                }
                // Spin's `normalize_inline_components`: "<trigger id>-component"
                // if that is a valid, unused id, else "inline-component<N>".
                Some(ComponentRef::Inline(inline)) => {
                    let (component, locs) = *inline;
                    let id = inline_component_id(&trigger_id, components);
                    components.insert(id.clone(), component);
                    locations.insert(id.clone(), locs);
                    Some(id)
                }
                Some(ComponentRef::Invalid) => {
                    component_invalid = true;
                    None
                }
                None => None,
            };
            triggers.push(TriggerSection {
                trigger_type: t.trigger_type,
                id: trigger_id,
                component,
                config: t.config,
                component_invalid,
            });
        }
        triggers
    }

    fn undefined_component(
        &mut self,
        id: &ComponentId,
        span: &Range<usize>,
        declared: &HashSet<String>,
    ) {
        let hint = match did_you_mean(id.as_str(), declared.iter().map(String::as_str)) {
            Some(s) => format!("did you mean {s:?}?"),
            None => format!(
                "define it with [component.{}] or write the component inline, e.g. component = {{ source = \"app.wasm\" }}",
                toml_key(id.as_str())
            ),
        };
        self.error(
            span,
            format!(
                "trigger refers to component {:?}, which is not defined; {hint}",
                id.as_str()
            ),
        );
    }
}

fn inline_component_id(
    trigger_id: &str,
    components: &IndexMap<ComponentId, Component>,
) -> ComponentId {
    let natural = ComponentId::new(format!("{trigger_id}-component"))
        .ok()
        .filter(|id| !components.contains_key(id));
    natural.unwrap_or_else(|| {
        let mut n = 1;
        loop {
            let id = ComponentId::new(format!("inline-component{n}")).expect("valid generated id");
            if !components.contains_key(&id) {
                break id;
            }
            n += 1;
        }
    })
}
